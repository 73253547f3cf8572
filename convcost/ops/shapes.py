"""Shapes: the tuple types, element counts, and how messages show them ('3×224×224', '197 tok×768').

A shape is a tuple of ints without the batch: [C, H, W] or [F] (channels first), or a sequence of
N tokens of width D, :class:`Tokens` (N, D). Tokens are a distinct type so that a token sequence is
never taken for a 1-D feature map [C, L]: torch lays them out [B, N, D] (the width last, what
`linear` and `layernorm` act on), a [C, L] map [B, C, L]. Ops that need a map (conv, pools, batch
norm) refuse tokens; ops that work per token say so in their definitions.

A :class:`TokenGrid` is tokens that keep their arrangement, H×W as Swin's stages carry them, or T×H×W as video
Swin's do: torch lays them out channels-last [B, H, W, D] ([B, T, H, W, D]; torchvision's swin_transformer.py and
video/swin_transformer.py), and as a shape it is still (N = H·W, or T·H·W, D), so every per-token op works on it
unchanged; windowed attention and patch merging need the grid.
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


class TokenGrid(Tokens):
    """H×W (or T×H×W, any rank of two or more) tokens of width D, laid out [B, H, W, D] ([B, T, H, W, D]) in torch:
    as a shape (H·W, D), with ``grid`` (H, W) ((T, H, W)). Made as ``TokenGrid(*grid, d)``."""

    def __new__(cls, *dims: int) -> TokenGrid:
        if len(dims) < 3:
            raise ValueError(f"a token grid has two or more grid dims and a width, got {dims}")
        *grid, d = dims
        n = 1
        for g in grid:
            n *= g
        t = tuple.__new__(cls, (n, d))
        t.__dict__["grid"] = tuple(grid)  # set once: a shape is immutable like the tuple it is
        return t  # type: ignore[return-value]

    def __getnewargs__(self) -> tuple[int, ...]:  # type: ignore[override]
        return (*self.grid, self[1])

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("TokenGrid is immutable")

    grid: tuple[int, ...]

    def with_width(self, d: int) -> TokenGrid:
        return TokenGrid(*self.grid, d)


def is_tokens(shape: Shape) -> bool:
    return isinstance(shape, Tokens)


def grid_of(shape: Shape) -> tuple[int, ...] | None:
    """The H×W (T×H×W) arrangement of a token grid; None for a token sequence or a map."""
    return shape.grid if isinstance(shape, TokenGrid) else None


def with_width(shape: Shape, d: int) -> Tokens:
    """Tokens of ``shape`` (a sequence or a grid, kept) with the width ``d`` (a per-token linear's output)."""
    return shape.with_width(d) if isinstance(shape, TokenGrid) else Tokens(shape[0], d)


def layout(shape: Shape) -> str:
    """'map' (channels first), 'tokens' ([N, D]) or 'token_grid' ([H, W, D] or [T, H, W, D], channels last)."""
    return "token_grid" if isinstance(shape, TokenGrid) else "tokens" if isinstance(shape, Tokens) else "map"


def torch_dims(shape: Shape) -> tuple[int, ...]:
    """The dims of one sample as torch holds it: a token grid is [H, W, D] ([T, H, W, D]), everything else as it is."""
    return (*shape.grid, shape[1]) if isinstance(shape, TokenGrid) else tuple(shape)


def same_kind(a: Shape, b: Shape) -> bool:
    """Equal shapes of the same layout (tokens 197×768 are not a 197×768 map, nor 14×14 grid tokens)."""
    return a == b and layout(a) == layout(b) and grid_of(a) == grid_of(b)


def numel(shape: Shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def fmt_shape(shape: Shape) -> str:
    if isinstance(shape, TokenGrid):
        return f"{'×'.join(map(str, shape.grid))} tok×{shape[1]}"
    if isinstance(shape, Tokens):
        return f"{shape[0]} tok×{shape[1]}"
    return "×".join(map(str, shape))
