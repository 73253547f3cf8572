"""Shapes: the tuple types, element counts, and how messages show them ('3×224×224', '197 tok×768').

A shape is a tuple of ints without the batch: [C, H, W] or [F] (channels first), or a sequence of
N tokens of width D, :class:`Tokens` (N, D). Tokens are a distinct type so that a token sequence is
never taken for a 1-D feature map [C, L]: torch lays them out [B, N, D] (the width last, what
`linear` and `layernorm` act on), a [C, L] map [B, C, L]. Ops that need a map (conv, pools, batch
norm) refuse tokens; ops that work per token say so in their definitions.
"""

from __future__ import annotations

Shape = tuple[int, ...]


class Tokens(tuple[int, ...]):
    """N tokens of width D: (N, D). Compares equal to the plain tuple; ``is_tokens`` tells them apart."""

    __slots__ = ()

    def __new__(cls, n: int, d: int) -> Tokens:
        return super().__new__(cls, (n, d))

    def __getnewargs__(self) -> tuple[int, int]:  # copy/pickle
        return (self[0], self[1])

    @property
    def n(self) -> int:
        return self[0]

    @property
    def d(self) -> int:
        return self[1]


def is_tokens(shape: Shape) -> bool:
    return isinstance(shape, Tokens)


def same_kind(a: Shape, b: Shape) -> bool:
    """Equal shapes of the same layout (tokens 197×768 are not a 197×768 map)."""
    return a == b and is_tokens(a) == is_tokens(b)


def numel(shape: Shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def fmt_shape(shape: Shape) -> str:
    if isinstance(shape, Tokens):
        return f"{shape[0]} tok×{shape[1]}"
    return "×".join(map(str, shape))
