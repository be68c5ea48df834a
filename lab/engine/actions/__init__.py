"""Importing this package declares every action in the registry."""
from . import admin, b2b, purchasing, returns, sales  # noqa: F401
