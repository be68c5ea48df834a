"""The warehouse console."""
from .common import Console

console = Console("warehouse")
bp = console.bp
