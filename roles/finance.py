"""The finance console."""
from .common import Console

console = Console("finance")
bp = console.bp
