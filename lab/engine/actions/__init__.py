"""Importing this package declares every action in the registry."""
from . import admin, b2b, inject, purchasing, returns, sales  # noqa: F401
