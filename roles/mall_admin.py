"""The mall_admin console."""
from .common import Console

console = Console("mall_admin")
bp = console.bp
