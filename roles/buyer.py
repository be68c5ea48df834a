"""The buyer console."""
from .common import Console

console = Console("buyer")
bp = console.bp
