"""Op definitions. Importing this package registers every built-in op exactly once."""

from . import (  # noqa: F401  (imported for their registrations)
    activations,
    attention,
    basic,
    conv,
    conv_transpose,
    elementwise,
    join,
    matmul,
    norm,
    pool,
    reductions,
    resample,
    shuffle,
    tokens,
    views,
    windows,
)
from .registry import ALIASES, REGISTRY, OpRule, Shape, ShapeError, all_names, lookup

__all__ = ["ALIASES", "REGISTRY", "OpRule", "Shape", "ShapeError", "all_names", "lookup"]
