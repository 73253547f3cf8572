"""Inputs of any rank: C×L, C×H×W and C×D×H×W, and arguments that follow the input's rank.

conv, the pools and batch norm work on 1, 2 or 3 spatial dims like torch's Conv1d/2d/3d. An argument
such as ``kernel: 3`` applies to every spatial dim; a list needs one value per spatial dim. An op's
``resolve`` step (run before its shape rule) turns both into a tuple of the input's rank, so shape
rules, costs and torch builds only ever see tuples, and a 2-D layer's arguments are what they always were.
"""

from __future__ import annotations

from .registry import Dims, ShapeError
from .shapes import Shape, fmt_shape, is_tokens

MIN_SPATIAL, MAX_SPATIAL = 1, 3
AXES = {1: "L", 2: "HW", 3: "DHW"}  # how messages name each axis


def refuse_tokens(kind: str, shape: Shape) -> None:
    """A map-only op given tokens (ops/tokens.py): say how to turn them back into a map."""
    if is_tokens(shape):
        raise ShapeError(
            f"{kind} needs a C×H×W map, got tokens {fmt_shape(shape)}; turn them into a map with 'to_map' first"
        )


def spatial_check(kind: str, shape: Shape) -> tuple[int, int, int]:
    """(C, H, W) of a C×H×W input (ops that exist in 2-D only); a ShapeError for any other."""
    refuse_tokens(kind, shape)
    if len(shape) != 3:
        raise ShapeError(f"{kind} needs a C×H×W input, got {fmt_shape(shape) or 'a scalar'}")
    return shape[0], shape[1], shape[2]


def spatial_input(kind: str, shape: Shape) -> tuple[int, Shape]:
    """(channels, spatial dims) of a C×L, C×H×W or C×D×H×W input; a ShapeError for any other."""
    refuse_tokens(kind, shape)
    if not MIN_SPATIAL + 1 <= len(shape) <= MAX_SPATIAL + 1:
        raise ShapeError(f"{kind} needs a C×L, C×H×W or C×D×H×W input, got {fmt_shape(shape) or 'a scalar'}")
    return shape[0], shape[1:]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def fit(value: Dims, name: str, shape: Shape) -> tuple[int, ...]:
    """An argument for each of ``shape``'s spatial dims: an int for all of them, or a list of one per dim."""
    n = len(shape) - 1
    if isinstance(value, tuple):
        if len(value) != n:
            raise ShapeError(
                f"{name} has {_plural(len(value), 'value')} but the input {fmt_shape(shape)} has "
                f"{_plural(n, 'spatial dim')}",
                name,
            )
        return value
    return (value,) * n
