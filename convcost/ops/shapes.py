"""Shapes: the tuple type, element counts, and how messages show them ('3×224×224')."""

from __future__ import annotations

Shape = tuple[int, ...]


def numel(shape: Shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def fmt_shape(shape: Shape) -> str:
    return "×".join(map(str, shape))
