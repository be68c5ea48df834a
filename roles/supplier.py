"""The supplier console."""
from .common import Console

console = Console("supplier")
bp = console.bp
