"""The logistics console."""
from .common import Console

console = Console("logistics")
bp = console.bp
