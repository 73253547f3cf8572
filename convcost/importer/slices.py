"""`convcost import`'s channel slices and shuffles (ShuffleNetV2, YOLOv8's C2f): each used part of
``x.chunk(n, dim=1)`` / ``x.split(sizes, dim=1)`` → a `chunk` layer (and a tracer that iterates them,
``list(x.chunk(2, 1))``); torchvision's view/transpose/contiguous/view channel shuffle → `channel_shuffle`."""

from __future__ import annotations

import operator
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .fx_nodes import fx_name, int_dims, is_reshape, node_shape

if TYPE_CHECKING:
    from torch import fx


# ---- channel slices: x.chunk(n, dim=1)[k], x.split(sizes, dim=1)[k] (ShuffleNetV2, YOLOv8's C2f) ------------------
def slicing(node: Any) -> bool:
    """``x.chunk(n, dim)`` / ``torch.chunk`` / ``x.split(size_or_sizes, dim)`` / ``torch.split``: a tuple of slices."""
    return getattr(node, "op", None) in ("call_function", "call_method") and fx_name(node) in ("chunk", "split")


def slices_source(node: fx.Node, inputs: tuple[str, ...]) -> str | None:
    """The key a chunk/split node passes to its parts (``getitem`` nodes, each a `chunk` layer): its input's."""
    return inputs[0] if slicing(node) and inputs and all(u.target is operator.getitem for u in node.users) else None


def part_op(node: fx.Node) -> tuple[str, dict[str, Any]] | str | None:
    """``x.chunk(n, dim=1)[k]`` / ``x.split(size_or_sizes, dim=1)[k]``: `chunk` (index k; ``parts`` when the parts are
    equal and the user did not list sizes, else ``sizes``); a part never used is no layer (None); "" where the
    indexed tensor is no chunk/split."""
    src, index = node.args[0], node.args[1]
    if not slicing(src):
        return ""
    if not node.users:
        return None
    name = fx_name(src)
    x = src.args[0] if src.args else src.kwargs.get("input", src.kwargs.get("tensor"))
    ins = node_shape(x) if hasattr(x, "op") else None  # type: ignore[arg-type]
    dim = src.kwargs.get("dim", src.args[2] if len(src.args) > 2 else 0)
    metas = src.meta.get("tensor_meta")
    if ins is None or not isinstance(dim, int) or not isinstance(metas, (list, tuple)):
        return f"{name} of something other than a tensor: convcost slices a map's channels only"
    if len(ins) < 2 or dim % len(ins) != 1:
        return f"{name} along dim {dim}: convcost's chunk slices the channels (dim=1) only"
    if not isinstance(index, int) or not -len(metas) <= index < len(metas):
        return f"indexing x.{name}(...)[{index}]: convcost takes one part (x.{name}(...)[k]) at a time"
    sizes = [int(m.shape[1]) for m in metas]
    amount = src.args[1] if len(src.args) > 1 else \
        next((src.kwargs[k] for k in ("chunks", "split_size_or_sections", "split_size") if k in src.kwargs), None)
    args: dict[str, Any] = {"index": index % len(sizes)}
    if isinstance(amount, (list, tuple)) or len(set(sizes)) > 1:
        args["sizes"] = sizes
    elif len(sizes) != 2:
        args["parts"] = len(sizes)
    return "chunk", args


# ---- channel shuffle: x.view(B, g, C // g, H, W).transpose(1, 2).contiguous().view(B, C, H, W) ---------------------
def _groups_of(node: Any) -> int | None:
    """g, where ``node`` reshapes a [B, C, *S] map to [B, g, C/g, *S] (``view``, ``reshape``, ``unflatten(1, ...)``)."""
    calls = getattr(node, "op", None) in ("call_function", "call_method")
    if not calls or fx_name(node) not in ("view", "reshape", "unflatten"):
        return None
    src = node.args[0] if node.args else None
    shape, ins = node_shape(node), node_shape(src) if hasattr(src, "op") else None  # type: ignore[arg-type]
    if shape is None or ins is None or len(ins) < 3 or len(shape) != len(ins) + 1:
        return None
    return shape[1] if shape[0] == ins[0] and shape[1] * shape[2] == ins[1] and shape[3:] == ins[2:] else None


def _swaps_groups(node: Any) -> bool:
    """[B, g, C/g, *S] -> [B, C/g, g, *S]: ``transpose(1, 2)`` (swapaxes, swapdims, any sign) or
    ``permute(0, 2, 1, 3, ...)`` of a tensor of rank 4 or more."""
    shape = node_shape(node) if getattr(node, "op", None) in ("call_function", "call_method") else None
    dims = int_dims(node) if shape is not None else None
    if shape is None or dims is None or len(shape) < 4:
        return False
    rank, name = len(shape), fx_name(node)
    if name in ("transpose", "swapaxes", "swapdims"):
        return len(dims) == 2 and {d % rank for d in dims} == {1, 2}
    return name == "permute" and tuple(d % rank for d in dims) == (0, 2, 1, *range(3, rank))


def _merges_groups(node: Any) -> bool:
    """[B, a, b, *S] reshaped to [B, a·b, *S] (``view``, ``reshape``, ``flatten(1, 2)``): a channel shuffle's last step."""
    src = node.args[0] if getattr(node, "op", None) in ("call_function", "call_method") and node.args else None
    shape, ins = node_shape(node) if src is not None else None, node_shape(src) if hasattr(src, "op") else None  # type: ignore[arg-type]
    return (is_reshape(node) and shape is not None and ins is not None and len(ins) >= 4 and len(shape) == len(ins) - 1
            and shape[0] == ins[0] and shape[1] == ins[1] * ins[2] and shape[2:] == ins[3:])


def _copies(node: Any) -> bool:
    return getattr(node, "op", None) in ("call_function", "call_method") and fx_name(node) in ("contiguous", "clone")


def _shuffle_end(swap: fx.Node) -> bool:
    """Whether the swapped groups are only merged back into channels (through ``contiguous()``)."""
    users = list(swap.users)
    while len(users) == 1 and _copies(users[0]):
        users = list(users[0].users)
    return bool(users) and all(_merges_groups(u) for u in users)


def _shuffle_swap(node: fx.Node) -> bool:
    """A swap of the groups of a grouped view that is merged back: the middle of a channel shuffle."""
    return _swaps_groups(node) and _groups_of(node.args[0]) is not None and _shuffle_end(node)


def shuffle_op(node: fx.Node, name: str) -> tuple[str, dict[str, Any]] | str | None:
    """torchvision's channel_shuffle: the view to [B, g, C/g, H, W] and the view back pass through, the
    ``transpose(1, 2)`` (or ``permute(0, 2, 1, 3, 4)``) is `channel_shuffle: {groups: g}`; "" where none of them."""
    groups = _groups_of(node)
    if groups is not None:
        if node.users and all(_shuffle_swap(u) for u in node.users):
            return None
        return f"{name} to {list(node_shape(node) or ())}: convcost splits the channels into groups only in a channel " \
            "shuffle (x.view(B, g, C // g, H, W).transpose(1, 2).contiguous().view(B, C, H, W))"
    if _swaps_groups(node):
        if _shuffle_swap(node):
            return "channel_shuffle", {"groups": _groups_of(node.args[0])}
        return f"{name} of dims 1 and 2 of a {len(node_shape(node) or ())}-D tensor: convcost swaps them only in a channel " \
            "shuffle (x.view(B, g, C // g, H, W).transpose(1, 2).contiguous().view(B, C, H, W))"
    if _merges_groups(node):
        src = node.args[0]
        while _copies(src):
            src = src.args[0]  # type: ignore[union-attr]
        if _shuffle_swap(src):  # type: ignore[arg-type]
            return None
    return ""


def count_parts(node: fx.Node) -> int | None:
    """How many parts ``x.chunk(n, ...)`` (n) or ``x.split([a, b], ...)`` (one per size) makes, as written; None where
    only the shapes tell (``x.split(size, ...)``) or for any other node."""
    amount = node.args[1] if slicing(node) and len(node.args) > 1 else None
    if isinstance(amount, (list, tuple)):
        return len(amount)
    return amount if isinstance(amount, int) and fx_name(node) == "chunk" else None


def tracer_class() -> type:
    """torch.fx's Tracer whose proxies of ``x.chunk(n, dim)`` and ``x.split([a, b], dim)`` have a length and iterate
    their parts: YOLOv8's C2f writes ``list(self.cv1(x).chunk(2, 1))``, which plain symbolic_trace refuses (``len``)."""
    from torch import fx

    class Parts(fx.Proxy):
        def __init__(self, node: fx.Node, tracer: fx.Tracer, n: int) -> None:
            super().__init__(node, tracer)
            self.n = n

        def __len__(self) -> int:
            return self.n

        def __iter__(self) -> Iterator[fx.Proxy]:
            return iter([self[i] for i in range(self.n)])

    class Tracer(fx.Tracer):
        def proxy(self, node: fx.Node) -> fx.Proxy:
            n = count_parts(node)
            return Parts(node, self, n) if n is not None else super().proxy(node)

    return Tracer
