"""Op definitions. Importing this package registers every built-in op exactly once."""

from . import activations, basic, conv, conv_transpose, join, pool  # noqa: F401  (imported for their registrations)
from .registry import ALIASES, REGISTRY, OpRule, Shape, ShapeError, all_names, lookup

__all__ = ["ALIASES", "REGISTRY", "OpRule", "Shape", "ShapeError", "all_names", "lookup"]
