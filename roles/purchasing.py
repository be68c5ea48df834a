"""The purchasing console."""
from .common import Console

console = Console("purchasing")
bp = console.bp
