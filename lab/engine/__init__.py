"""The action engine: the registry of actions, perform(), the planner."""
from . import actions  # noqa: F401  (declares every action)
from .core import Actor, check, perform, redo, trial
from .registry import REGISTRY

__all__ = ["Actor", "check", "perform", "redo", "trial", "REGISTRY"]
