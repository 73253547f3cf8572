"""Shapes as messages show them: '3×224×224'."""

from __future__ import annotations

from .registry import Shape


def fmt_shape(shape: Shape) -> str:
    return "×".join(map(str, shape))
