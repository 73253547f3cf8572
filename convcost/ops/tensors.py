"""What the general tensor ops share (views.py, elementwise.py, reductions.py, matmul.py, and the dims of
concat, chunk, flatten and softmax): torch's dim numbering on per-sample shapes, the layout of a result,
broadcasting, learned tensors, and their argument converters.

A layer's shape has no batch (ops/shapes.py); torch holds it as [B, *dims] with dims = ``torch_dims(shape)``
(a token grid [H, W, D]). The general ops number dims as torch does, the batch at 0 and negative numbers
from the end, so a spec says what the model's code says: ``x.flatten(2)``, ``x.permute(0, 2, 3, 1)``,
``x.mean((2, 3))``, ``softmax(dim=-1)``. Dim 0, the batch, is refused: everything is counted per sample, and
sizes (a reshape's shape, a learned tensor's shape) are per sample too, as ``input`` is written.

The layout of a result (docs/spec.md, *General tensor ops*): a map (channels first), tokens [N, D] or a token
grid [H, W, D] (of any rank: [T, H, W, D] too). Ops that keep their input's dims in place (elementwise ops, slices,
pads, softmax, a reduction with ``keepdim``) keep its layout; ops that rearrange dims take ``layout``: ``auto`` keeps
tokens where the width D stays the last dim (and turns a map whose channels move last into tokens or a grid, as
ConvNeXt's ``permute(0, 2, 3, 1)`` and video Swin's ``permute(0, 2, 3, 4, 1)``), else a map.
"""

from __future__ import annotations

from typing import Any

from .registry import MAX_DIM, ArgError, ShapeError, _show, choice, typed
from .shapes import Shape, TokenGrid, Tokens, fmt_shape, is_tokens, torch_dims

MAX_RANK = 8  # dims per sample (docs/limits.md)
LAYOUTS = ("auto", "map", "tokens", "grid")
LAYOUT_DOC = ("what the result is: map (channels first), tokens ([N, D]), grid ([H, W, D], [T, H, W, D], ...); auto: "
              "tokens where the width D stays last, else a map")
layout_arg = choice(*LAYOUTS)


# ---- converters ------------------------------------------------------------------------------------
INTEGER = {"type": "integer", "minimum": -MAX_DIM, "maximum": MAX_DIM}
INT_LIST = {"type": "array", "items": INTEGER, "minItems": 1, "maxItems": 2 * (MAX_RANK + 1)}


@typed(INTEGER)
def integer(value: Any) -> int:
    """An integer, negative too (a dim counted from the end, a slice bound, a pad that crops)."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_DIM:
            raise ArgError(f"must be an integer, got {value} (write {int(value)})")
        raise ArgError(f"must be an integer, got {_show(value)}")
    if abs(value) > MAX_DIM:
        raise ArgError(f"must be at most {MAX_DIM:,} in size (limit, see docs/limits.md), got {value:,}")
    return value


@typed(INT_LIST)
def int_list(value: Any) -> tuple[int, ...]:
    """A list of integers (negative ones too)."""
    if not isinstance(value, (list, tuple)) or not value:
        raise ArgError(f"must be a list of integers, got {_show(value)}")
    if len(value) > 2 * (MAX_RANK + 1):
        raise ArgError(f"must be a list of at most {2 * (MAX_RANK + 1)} integers, got {len(value)}")
    return tuple(integer(v) for v in value)


@typed({"anyOf": [INTEGER, INT_LIST]})
def dim_list(value: Any) -> tuple[int, ...]:
    """One dim or a list of them."""
    return int_list(value) if isinstance(value, (list, tuple)) else (integer(value),)


@typed({"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": MAX_DIM}, "minItems": 1,
        "maxItems": MAX_RANK + 1})
def tensor_shape(value: Any) -> tuple[int, ...]:
    """A learned tensor's shape as torch holds it: a list of positive sizes ([C, 1, 1], [1, 1, D])."""
    if not isinstance(value, (list, tuple)) or not value:
        raise ArgError(f"must be the tensor's shape, a list of positive integers such as [64, 1, 1], got {_show(value)}")
    if len(value) > MAX_RANK + 1:
        raise ArgError(f"must have at most {MAX_RANK + 1} dims (limit, see docs/limits.md), got {len(value)}")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_DIM:
            raise ArgError(f"must be a list of positive integers (sizes up to {MAX_DIM:,}), got {_show(v)} in it")
        out.append(v)
    return tuple(out)


# ---- dims ------------------------------------------------------------------------------------------
def show_dims(dims: tuple[int, ...]) -> str:
    """[B, 4, 6, 6]: how torch holds a per-sample shape."""
    return "[" + ", ".join(("B", *map(str, dims))) + "]"


def dim_index(dim: int, dims: tuple[int, ...], arg: str = "dim") -> int:
    """torch's ``dim`` of a [B, *dims] tensor (the batch 0, negative from the end) as an index into ``dims``."""
    total = len(dims) + 1
    if not -total <= dim < total:
        raise ShapeError(f"{arg}={dim} is out of range for {show_dims(dims)} ({-total} to {total - 1})", arg)
    d = dim % total
    if d == 0:
        raise ShapeError(f"{arg}={dim} is the batch dim of {show_dims(dims)}; convcost counts per sample: "
                         f"the sample's dims are 1 to {total - 1} (or -1 to {-(total - 1)})", arg)
    return d - 1


def dim_indices(dims_arg: tuple[int, ...], dims: tuple[int, ...], arg: str = "dims") -> tuple[int, ...]:
    """Several dims (distinct), as indices into ``dims``, in the order given."""
    out = tuple(dim_index(d, dims, arg) for d in dims_arg)
    if len(set(out)) != len(out):
        raise ShapeError(f"{arg} names a dim twice: {list(dims_arg)} of {show_dims(dims)}", arg)
    return out


def checked(dims: tuple[int, ...], what: str) -> tuple[int, ...]:
    """A result's per-sample dims, within the limits: at least one, at most MAX_RANK, none empty. (Sizes from
    arguments are at most MAX_DIM; one made of the input's, as a flatten's, may be larger, as before.)"""
    if not dims:
        raise ShapeError(f"{what} leaves no dim per sample (a [B] tensor); keep one (keepdim: true, or a slice)")
    if len(dims) > MAX_RANK:
        raise ShapeError(f"{what} makes {len(dims)} dims per sample, more than the limit of {MAX_RANK} (see docs/limits.md)")
    for n in dims:
        if n < 1:
            raise ShapeError(f"{what} leaves a dim of size {n} ({show_dims(dims)}); torch's empty tensors are not layers")
    return dims


def shaped(dims: tuple[int, ...], layout: str, tokens: bool, what: str, arg: str = "layout") -> Shape:
    """The shape of a result with per-sample ``dims``: ``layout`` as written, or for 'auto' tokens (rank 2) or a
    token grid (rank 3 or more: [H, W, D], [T, H, W, D]) when ``tokens`` (the width D stays last), else a map."""
    checked(dims, what)
    if layout == "auto":
        layout = ("tokens" if len(dims) == 2 else "grid" if len(dims) >= 3 else "map") if tokens else "map"
    if layout == "tokens":
        if len(dims) != 2:
            raise ShapeError(f"layout tokens needs 2 dims per sample [N, D], got {show_dims(dims)}", arg)
        return Tokens(*dims)
    if layout == "grid":
        if len(dims) < 3:
            raise ShapeError(f"layout grid needs 3 or more dims per sample [H, W, D] ([T, H, W, D], ...), got "
                             f"{show_dims(dims)}", arg)
        return TokenGrid(*dims)
    return dims


def like(shape: Shape, dims: tuple[int, ...], what: str) -> Shape:
    """``dims`` in the layout of ``shape`` (an op that keeps its input's dims in place: tokens stay tokens)."""
    return shaped(dims, "auto", is_tokens(shape), what)


def describe(shape: Shape) -> str:
    return fmt_shape(shape) or "a scalar"


# ---- broadcasting -------------------------------------------------------------------------------------
def broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    """torch's broadcasting of two shapes (aligned at the right; a size 1 stretches); None when they do not."""
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            return None
        out.append(max(x, y))
    return tuple(out)


def with_tensor(dims: tuple[int, ...], tensor: tuple[int, ...], what: str) -> tuple[int, ...]:
    """The per-sample dims of [B, *dims] broadcast with a tensor of shape ``tensor`` (a learned one, a buffer, a
    constant: no batch): it may not reach the batch with a size other than 1. ``what`` is the argument it was given
    as ('param', 'buffer', 'const'), which an error points at."""
    joined = broadcast((1, *dims), tensor)
    if joined is None:
        raise ShapeError(f"{what} {list(tensor)} does not broadcast with the input {show_dims(dims)}", what)
    if len(tensor) > len(dims) + 1 or (len(tensor) == len(dims) + 1 and tensor[0] != 1):
        raise ShapeError(f"{what} {list(tensor)} reaches past the sample's dims {show_dims(dims)} into the batch; "
                         f"give at most {len(dims)} dims (or a leading 1)", what)
    return joined[1:]


def numel_of(dims: tuple[int, ...]) -> int:
    n = 1
    for d in dims:
        n *= d
    return n


__all__ = [
    "LAYOUTS", "LAYOUT_DOC", "MAX_RANK", "broadcast", "checked", "describe", "dim_index", "dim_indices", "dim_list",
    "int_list", "integer", "layout_arg", "like", "numel_of", "shaped", "show_dims", "tensor_shape", "torch_dims",
    "with_tensor",
]
