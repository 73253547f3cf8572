"""Op definitions. Importing this package registers every built-in op exactly once."""

from . import activations, attention, basic, conv, join, norm, pool, resample, shuffle, tokens, windows  # noqa: F401  (imported for their registrations)
from .registry import ALIASES, REGISTRY, OpRule, Shape, ShapeError, all_names, lookup

__all__ = ["ALIASES", "REGISTRY", "OpRule", "Shape", "ShapeError", "all_names", "lookup"]
