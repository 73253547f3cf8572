"""General views and copies of any rank: reshape (view), unflatten, permute, transpose, slice, select, and pad; and
``constant``, a tensor the forward makes from its input's shape alone.

Dims are torch's (the batch 0, negative from the end), sizes per sample (ops/tensors.py). The views do
no arithmetic and move nothing (category reshape: the memory model shares their input's storage); ``pad``
is a copy (category shuffle: its output is a new tensor). ``flatten`` (basic.py), ``chunk`` (resample.py)
and ``concat`` (join.py) take dims too.
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING, Any

from ..cost import Backward, Cost
from .counting import FVCORE_IGNORED, Counted, Counting, Prediction
from .grad import Need, no_backward
from .receptive import IDENTITY, NOTHING, POINTWISE, RF, Taps, per_axis, regroup, spatial_axes, taps
from .registry import (
    FINITE,
    NodeLike,
    Saves,
    Shape,
    ShapeError,
    arg,
    choice,
    lazy_args,
    number,
    op,
    optional,
    refuse_unless,
    typed,
)
from .shapes import is_tokens, numel
from .tensors import (
    LAYOUT_DOC,
    dim_index,
    int_list,
    integer,
    layout_arg,
    like,
    shaped,
    show_dims,
    tensor_shape,
    torch_dims,
)

if TYPE_CHECKING:
    from torch import nn


def _moved(a: object, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
    return Cost(activations=batch * numel(out))  # a view or a copy: no arithmetic


def _width_kept(shape: Shape, last: bool) -> bool:
    """``auto`` layout: tokens stay tokens when their width D stays the last dim."""
    return is_tokens(shape) and last


def positions(shape: Shape) -> tuple[int, ...]:
    """The sizes of a tensor's position dims (ops/receptive.py spatial_axes)."""
    dims = torch_dims(shape)
    return tuple(dims[i] for i in spatial_axes(shape))


def kept_or_moved(what: str) -> Any:
    """A view's receptive-field rule: where the positions keep their dims, pointwise; else each element keeps what
    it reads, but at another position (ops/receptive.py regroup)."""
    moved = regroup(what)

    def rf(a: object, inputs: tuple[Shape, ...], out: Shape) -> RF:
        return POINTWISE if positions(out) == positions(inputs[0]) else moved

    return rf


def permuted_rf(order: tuple[int, ...], shape: Shape, out: Shape) -> RF:
    """A permute keeps positions in place when the result's position dims are the input's, in their order."""
    if [order[k] for k in spatial_axes(out)] == list(spatial_axes(shape)):
        return POINTWISE
    return PERMUTED


PERMUTED = regroup("a permute of position dims")
WRAPPED = regroup("circular padding, which wraps the far end in")


def _unseen_by_ptflops(what: str) -> Counted:
    return Counted(lambda node, cost, batch: Prediction.unseen(f"ptflops sees no module and patches no {what}"))


# ---- reshape / view ----------------------------------------------------------------------------------
@lazy_args
class ReshapeArgs:
    """Arguments of `reshape`."""

    shape: tuple[int, ...] = field(metadata=arg(int_list, "the shape of a sample (no batch, as `input` is written); one "
                                                           "size may be -1: what the others leave"))
    layout: str = field(default="auto", metadata=arg(layout_arg, LAYOUT_DOC))


@op("reshape", category="reshape", args=ReshapeArgs, aliases=("view",))
class Reshape:
    """Reshapes each sample, x.reshape(B, *shape) (or x.view); a view, no arithmetic.
    `shape` is per sample: `reshape: {shape: [3, 4, 197, 64]}` is torch's x.reshape(B, 3, 4, 197, 64)."""

    saves = Saves.NOTHING
    counting = Counting("aten::reshape", "x.reshape", fvcore=FVCORE_IGNORED, ptflops=_unseen_by_ptflops("reshape"))
    rf = staticmethod(kept_or_moved("a reshape of positions"))
    backward = staticmethod(no_backward)

    @staticmethod
    def shape(a: ReshapeArgs, inputs: tuple[Shape, ...]) -> Shape:
        dims = torch_dims(inputs[0])
        total = numel(dims)
        if sum(1 for s in a.shape if s == -1) > 1:
            raise ShapeError(f"shape {list(a.shape)} has more than one -1; give every size but one", "shape")
        if any(s < 1 and s != -1 for s in a.shape):
            raise ShapeError(f"shape {list(a.shape)} holds a size below 1 (only one -1 is allowed)", "shape")
        known = numel(tuple(s for s in a.shape if s != -1))
        if -1 in a.shape:
            if total % known:
                raise ShapeError(f"{show_dims(dims)} ({total:,} values per sample) does not reshape to "
                                 f"{list(a.shape)}: {known:,} does not divide it", "shape")
            out = tuple(total // known if s == -1 else s for s in a.shape)
        else:
            out = a.shape
            if known != total:
                raise ShapeError(f"{show_dims(dims)} ({total:,} values per sample) does not reshape to "
                                 f"{list(a.shape)} ({known:,})", "shape")
        return shaped(out, a.layout, _width_kept(inputs[0], out[-1] == dims[-1]), "reshape")

    cost = staticmethod(_moved)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.call import Call

        dims = torch_dims(node.shape)
        return Call(lambda x: x.reshape(x.shape[0], *dims), f"x.reshape(B, {', '.join(map(str, dims))})")


# ---- unflatten -----------------------------------------------------------------------------------------
@lazy_args
class UnflattenArgs:
    """Arguments of `unflatten`."""

    dim: int = field(metadata=arg(integer, "the dim to split (torch's numbering: the batch is 0)"))
    sizes: tuple[int, ...] = field(metadata=arg(int_list, "the sizes it splits into (one may be -1)"))
    layout: str = field(default="auto", metadata=arg(layout_arg, LAYOUT_DOC))


@op("unflatten", category="reshape", args=UnflattenArgs)
class Unflatten:
    """Splits one dim into several, x.unflatten(dim, sizes) (torch.nn.Unflatten); a view, no arithmetic."""

    imports = ("Unflatten",)

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        sizes = m.unflattened_size
        refuse_unless(all(isinstance(s, int) for s in sizes), f"unflattened_size={sizes!r} (named sizes)")
        return {"dim": m.dim, "sizes": list(sizes)}

    saves = Saves.NOTHING
    counting = Counting("aten::unflatten", "x.unflatten", ptflops=_unseen_by_ptflops("unflatten"))
    rf = staticmethod(kept_or_moved("an unflatten of positions"))
    backward = staticmethod(no_backward)

    @staticmethod
    def shape(a: UnflattenArgs, inputs: tuple[Shape, ...]) -> Shape:
        dims = torch_dims(inputs[0])
        i = dim_index(a.dim, dims)
        n = dims[i]
        if sum(1 for s in a.sizes if s == -1) > 1 or any(s < 1 and s != -1 for s in a.sizes):
            raise ShapeError(f"sizes {list(a.sizes)}: positive sizes and at most one -1", "sizes")
        known = numel(tuple(s for s in a.sizes if s != -1))
        if (n % known if -1 in a.sizes else n != known):
            raise ShapeError(f"dim {a.dim} of {show_dims(dims)} has {n}, which sizes {list(a.sizes)} do not split", "sizes")
        parts = tuple(n // known if s == -1 else s for s in a.sizes)
        out = (*dims[:i], *parts, *dims[i + 1:])
        last_kept = i < len(dims) - 1 or parts[-1] == n
        return shaped(out, a.layout, _width_kept(inputs[0], last_kept), "unflatten")

    cost = staticmethod(_moved)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.call import Call

        a: UnflattenArgs = node.args
        i = dim_index(a.dim, torch_dims(node.in_shapes[0])) + 1
        sizes = torch_dims(node.shape)[i - 1:i - 1 + len(a.sizes)]
        return Call(lambda x: x.unflatten(i, sizes), f"x.unflatten({i}, {sizes})")


# ---- permute, transpose ----------------------------------------------------------------------------------
@lazy_args
class PermuteArgs:
    """Arguments of `permute`."""

    dims: tuple[int, ...] = field(metadata=arg(int_list, "the new order of all dims, the batch first: [0, 2, 3, 1]"))
    layout: str = field(default="auto", metadata=arg(layout_arg, LAYOUT_DOC))


def _permuted(order: tuple[int, ...], shape: Shape, layout: str, what: str) -> Shape:
    """The shape of [B, *dims] permuted by ``order`` (of the sample's dims, 0-based)."""
    dims = torch_dims(shape)
    out = tuple(dims[i] for i in order)
    last = len(dims) - 1
    if is_tokens(shape):  # tokens stay tokens while their width stays last
        return shaped(out, layout, order[-1] == last, what)
    # a map whose channels move last becomes tokens or a grid (ConvNeXt's permute(0, 2, 3, 1), video Swin's
    # permute(0, 2, 3, 4, 1))
    return shaped(out, layout, len(dims) >= 2 and order[-1] == 0, what)


@op("permute", category="reshape", args=PermuteArgs)
class Permute:
    """Reorders the dims, x.permute(*dims) (the batch stays first); a view, no arithmetic.
    `permute: {dims: [0, 2, 3, 1]}` turns a C×H×W map into an H×W grid of C-wide tokens (ConvNeXt's channels-last)."""

    saves = Saves.NOTHING
    counting = Counting("aten::permute", "x.permute", fvcore=FVCORE_IGNORED, ptflops=_unseen_by_ptflops("permute"))
    backward = staticmethod(no_backward)

    @staticmethod
    def rf(a: PermuteArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
        total = len(torch_dims(inputs[0])) + 1
        return permuted_rf(tuple(d % total - 1 for d in a.dims[1:]), inputs[0], out)

    @staticmethod
    def shape(a: PermuteArgs, inputs: tuple[Shape, ...]) -> Shape:
        dims = torch_dims(inputs[0])
        total = len(dims) + 1
        if len(a.dims) != total:
            raise ShapeError(f"dims {list(a.dims)} must order all {total} dims of {show_dims(dims)}, the batch first", "dims")
        if any(not -total <= d < total for d in a.dims):
            raise ShapeError(f"dims {list(a.dims)}: each must be in {-total}..{total - 1} for {show_dims(dims)}", "dims")
        order = [d % total for d in a.dims]
        if sorted(order) != list(range(total)):
            raise ShapeError(f"dims {list(a.dims)} is not a permutation of the {total} dims of {show_dims(dims)}", "dims")
        if order[0] != 0:
            raise ShapeError(f"dims {list(a.dims)} moves the batch (dim 0); convcost counts per sample: keep 0 first", "dims")
        return _permuted(tuple(d - 1 for d in order[1:]), inputs[0], a.layout, "permute")

    cost = staticmethod(_moved)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.call import Call

        total = len(torch_dims(node.in_shapes[0])) + 1
        order = tuple(d % total for d in node.args.dims)
        return Call(lambda x: x.permute(*order), f"x.permute{order}")


@lazy_args
class TransposeArgs:
    """Arguments of `transpose`."""

    dim0: int = field(metadata=arg(integer, "one dim (torch's numbering: the batch is 0)"))
    dim1: int = field(metadata=arg(integer, "the dim it swaps with"))
    layout: str = field(default="auto", metadata=arg(layout_arg, LAYOUT_DOC))


@op("transpose", category="reshape", args=TransposeArgs)
class Transpose:
    """Swaps two dims, x.transpose(dim0, dim1); a view, no arithmetic."""

    saves = Saves.NOTHING
    counting = Counting("aten::transpose", "x.transpose", fvcore=FVCORE_IGNORED, ptflops=_unseen_by_ptflops("transpose"))
    backward = staticmethod(no_backward)

    @staticmethod
    def rf(a: TransposeArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
        dims = torch_dims(inputs[0])
        i, j = dim_index(a.dim0, dims, "dim0"), dim_index(a.dim1, dims, "dim1")
        order = list(range(len(dims)))
        order[i], order[j] = order[j], order[i]
        return permuted_rf(tuple(order), inputs[0], out)

    @staticmethod
    def shape(a: TransposeArgs, inputs: tuple[Shape, ...]) -> Shape:
        dims = torch_dims(inputs[0])
        i, j = dim_index(a.dim0, dims, "dim0"), dim_index(a.dim1, dims, "dim1")
        order = list(range(len(dims)))
        order[i], order[j] = order[j], order[i]
        return _permuted(tuple(order), inputs[0], a.layout, "transpose")

    cost = staticmethod(_moved)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.call import Call

        a: TransposeArgs = node.args
        return Call(lambda x: x.transpose(a.dim0, a.dim1), f"x.transpose({a.dim0}, {a.dim1})")


# ---- slice, select ----------------------------------------------------------------------------------
@lazy_args
class SliceArgs:
    """Arguments of `slice`."""

    dim: int = field(metadata=arg(integer, "the dim to slice (torch's numbering: the batch is 0)"))
    start: int | None = field(default=None, metadata=arg(optional(integer), "first index (default 0; negative from the end)"))
    stop: int | None = field(default=None, metadata=arg(optional(integer), "index after the last (default: the end)"))
    step: int = field(default=1, metadata=arg(integer, "step (positive)"))


def index_tuple(i: int, item: object) -> tuple[object, ...]:
    """``x[(slice(None),) * i + (item,)]``: ``item`` on torch dim ``i``, as ``x[:, :, 1:]`` is written."""
    return (slice(None),) * i + (item,)


@op("slice", category="reshape", args=SliceArgs)
class Slice:
    """A slice of one dim, x[..., start:stop:step] (Python's rules: negative from the end, bounds clipped); a view,
    no arithmetic. `slice: {dim: 1, start: 1}` is x[:, 1:] (a ViT's tokens without the class token)."""

    saves = Saves.NOTHING
    counting = Counting("aten::slice", "x[:, a:b]", fvcore=FVCORE_IGNORED, ptflops=_unseen_by_ptflops("indexing"))
    backward = staticmethod(no_backward)  # the gradient written into its slice of zeros

    @staticmethod
    def rf(a: SliceArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
        dims = torch_dims(inputs[0])
        i = dim_index(a.dim, dims)
        start, _, step = slice(a.start, a.stop, a.step).indices(dims[i])
        return per_axis(inputs[0], i, Taps(1, step, ((start,),)))  # output o reads start + o·step

    @staticmethod
    def shape(a: SliceArgs, inputs: tuple[Shape, ...]) -> Shape:
        dims = torch_dims(inputs[0])
        i = dim_index(a.dim, dims)
        if a.step < 1:
            raise ShapeError(f"step must be positive (torch's slices are), got {a.step}", "step")
        n = len(range(*slice(a.start, a.stop, a.step).indices(dims[i])))
        if n == 0:
            shown = f"{'' if a.start is None else a.start}:{'' if a.stop is None else a.stop}"
            raise ShapeError(f"{shown} of dim {a.dim} (size {dims[i]}) is empty", "start" if a.start is not None else "stop")
        return like(inputs[0], (*dims[:i], n, *dims[i + 1:]), "slice")

    cost = staticmethod(_moved)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.call import Call

        a: SliceArgs = node.args
        i = dim_index(a.dim, torch_dims(node.in_shapes[0])) + 1
        key = index_tuple(i, slice(a.start, a.stop, a.step))
        shown = f"{'' if a.start is None else a.start}:{'' if a.stop is None else a.stop}" + (f":{a.step}" if a.step != 1 else "")
        return Call(lambda x: x[key], f"x[{':, ' * i}{shown}]")


@lazy_args
class SelectArgs:
    """Arguments of `select`."""

    dim: int = field(metadata=arg(integer, "the dim to index (torch's numbering: the batch is 0)"))
    index: int = field(metadata=arg(integer, "the index (negative from the end)"))
    layout: str = field(default="auto", metadata=arg(layout_arg, LAYOUT_DOC))


@op("select", category="reshape", args=SelectArgs)
class Select:
    """One index of one dim, which goes away: x.select(dim, index), x[:, index]; a view, no arithmetic.
    `select: {dim: 1, index: 0}` is x[:, 0] (a ViT's class token)."""

    saves = Saves.NOTHING
    counting = Counting("aten::select", "x.select", fvcore=FVCORE_IGNORED, ptflops=_unseen_by_ptflops("indexing"))
    backward = staticmethod(no_backward)

    @staticmethod
    def rf(a: SelectArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
        dims = torch_dims(inputs[0])
        i = dim_index(a.dim, dims)
        return per_axis(inputs[0], i, Taps(1, 0, ((a.index % dims[i],),)))  # every output reads that one position

    @staticmethod
    def shape(a: SelectArgs, inputs: tuple[Shape, ...]) -> Shape:
        dims = torch_dims(inputs[0])
        i = dim_index(a.dim, dims)
        if not -dims[i] <= a.index < dims[i]:
            raise ShapeError(f"index {a.index} is out of range for dim {a.dim} of {show_dims(dims)} "
                             f"({-dims[i]} to {dims[i] - 1})", "index")
        out = (*dims[:i], *dims[i + 1:])
        return shaped(out, a.layout, _width_kept(inputs[0], i < len(dims) - 1), "select")

    cost = staticmethod(_moved)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.call import Call

        a: SelectArgs = node.args
        i = dim_index(a.dim, torch_dims(node.in_shapes[0])) + 1
        return Call(lambda x: x.select(i, a.index), f"x.select({i}, {a.index})")


# ---- pad --------------------------------------------------------------------------------------------
PAD_MODES = ("constant", "reflect", "replicate", "circular")
PAD_MODULES = {"Zero": "constant", "Constant": "constant", "Reflection": "reflect", "Replication": "replicate",
               "Circular": "circular"}  # torch.nn's padding modules (ZeroPad2d...) by the word before 'Pad


@typed({"anyOf": [{"type": "number", **FINITE}, {"enum": ["-inf", "inf"]}]})
def fill(value: Any) -> float:
    """Constant padding's fill: a finite number, or '-inf' / 'inf' (a max pool's padding, as timm's pads it)."""
    if value in ("-inf", "inf"):
        return float(value)
    return number(value)


@lazy_args
class PadArgs:
    """Arguments of `pad` (those of torch.nn.functional.pad)."""

    pad: tuple[int, ...] = field(metadata=arg(int_list, "F.pad's list, last dim first: [left, right, top, bottom, ...]; "
                                                       "negative crops (constant mode)"))
    mode: str = field(default="constant", metadata=arg(choice(*PAD_MODES), "constant, reflect, replicate or circular"))
    value: float = field(default=0.0, metadata=arg(fill, "the fill of constant mode: a number, or '-inf' / 'inf' (a max "
                                                         "pool's padding)"))


def _pad_shape(a: PadArgs, inputs: tuple[Shape, ...]) -> Shape:
    dims = torch_dims(inputs[0])
    if len(a.pad) % 2:
        raise ShapeError(f"pad {list(a.pad)} must have two numbers per padded dim (left, right, top, bottom, ...)", "pad")
    k = len(a.pad) // 2
    if k > len(dims):
        raise ShapeError(f"pad {list(a.pad)} pads {k} dims, but a sample of {show_dims(dims)} has {len(dims)}", "pad")
    if a.mode != "constant":
        if k > 3 or len(dims) not in (k, k + 1):
            raise ShapeError(f"{a.mode} padding pads the last 1, 2 or 3 dims of a tensor with one or two more "
                             f"({show_dims(dims)} with {k}), as torch requires; use mode constant", "mode")
        if min(a.pad) < 0:
            raise ShapeError(f"{a.mode} padding cannot be negative, got {list(a.pad)}", "pad")
        if a.value != 0:
            raise ShapeError(f"'value' is the fill of constant padding; mode {a.mode} takes none", "value")
    out = list(dims)
    for j in range(k):
        i = len(dims) - 1 - j
        left, right = a.pad[2 * j], a.pad[2 * j + 1]
        if a.mode == "reflect" and max(left, right) >= dims[i]:
            raise ShapeError(f"reflect padding of dim {i + 1} ({dims[i]}) must be smaller than it, got {left}, {right}", "pad")
        if a.mode == "circular" and max(left, right) > dims[i]:
            raise ShapeError(f"circular padding of dim {i + 1} ({dims[i]}) must be at most its size, got {left}, {right}",
                             "pad")
        out[i] = dims[i] + left + right
    return like(inputs[0], tuple(out), "pad")


def _pad_saves(node: NodeLike) -> Saves:
    """constant_pad_nd's backward slices the gradient and circular's is a sum of slices: sizes only; reflection_pad and
    replication_pad's backwards take the input (derivatives.yaml: `reflection_pad2d_backward(grad, self, padding)`),
    so autograd keeps it (torch 2.13, checked in tests/test_saved_bytes.py)."""
    return Saves.INPUTS if node.args.mode in ("reflect", "replicate") else Saves.NOTHING


@op("pad", category="shuffle", args=PadArgs)
class Pad:
    """Pads (or with negative numbers crops) the last dims, F.pad(x, pad, mode, value): constant, reflect, replicate,
    circular. A copy, no arithmetic (timm's Conv2dSame pads so before its conv)."""

    saves = staticmethod(_pad_saves)
    counting = Counting("aten::pad", "F.pad", ptflops=_unseen_by_ptflops("F.pad"))

    @staticmethod
    def rf(a: PadArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
        """Output o reads input o − left along each padded position dim (a negative pad crops). Reflect and replicate
        padding fill the border with copies of positions near it (a border position reads one of its neighbours', not
        the unbounded input's o − left); circular padding wraps the far end in: its positions moved."""
        dims = torch_dims(inputs[0])
        shift = {len(dims) - 1 - j: a.pad[2 * j] for j in range(len(a.pad) // 2)}
        spatial = spatial_axes(inputs[0])
        if not set(shift) & set(spatial):
            return POINTWISE
        if a.mode == "circular":
            return WRAPPED
        return taps(*(Taps(1, 1, ((-shift[x],),)) if x in shift else IDENTITY for x in spatial))

    @staticmethod
    def backward(a: PadArgs, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
        # constant: a slice of the gradient; reflect, replicate, circular add each padded position's gradient back
        # into the position it copied: one add per padded element
        added = batch * (numel(out) - numel(inputs[0])) if a.mode != "constant" and need.any_input else 0
        return Backward(input_ops=max(0, added))
    imports = tuple(f"{kind}Pad{n}d" for kind in PAD_MODULES for n in (1, 2, 3))

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        mode = PAD_MODULES[type(m).__name__.split("Pad")[0]]
        out: dict[str, Any] = {"pad": [int(p) for p in m.padding], "mode": mode}
        if mode == "constant":
            out["value"] = float(m.value)
        return out

    shape = staticmethod(_pad_shape)
    cost = staticmethod(_moved)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch.nn import functional as F

        from ..modules.call import Call

        a: PadArgs = node.args
        pad, mode = list(a.pad), a.mode
        if mode == "constant":
            value = a.value
            return Call(lambda x: F.pad(x, pad, value=value), f"F.pad(x, {pad}, value={value:g})")
        return Call(lambda x: F.pad(x, pad, mode=mode), f"F.pad(x, {pad}, mode={mode!r})")


# ---- constant ------------------------------------------------------------------------------------------
@lazy_args
class ConstantArgs:
    """Arguments of `constant`."""

    shape: tuple[int, ...] = field(metadata=arg(tensor_shape, "its shape per sample, as torch holds it without the batch "
                                                              "([64, 32, 32] for a [B, 64, 32, 32] grid)"))
    layout: str = field(default="map", metadata=arg(layout_arg, LAYOUT_DOC))


@op("constant", category="shuffle", args=ConstantArgs)
class Constant:
    """A tensor the forward makes per sample from no input, weight or buffer (EdgeNeXt's Fourier position grid, made
    from the map's size): its input gives the batch only, whose values it does not read. No arithmetic, no params, no
    gradient back; what reads it counts (the grid's 1×1 conv: its MACs and weights).
    Built as x.new_zeros(B, *shape): the values do not change a count (fvcore ignores aten::new_zeros)."""

    saves = Saves.NOTHING
    detached = True
    rf = NOTHING
    backward = staticmethod(no_backward)
    counting = Counting("aten::new_zeros", "x.new_zeros", fvcore=FVCORE_IGNORED, ptflops=_unseen_by_ptflops("new_zeros"))

    @staticmethod
    def shape(a: ConstantArgs, inputs: tuple[Shape, ...]) -> Shape:
        return shaped(a.shape, a.layout, False, "constant", "layout")

    cost = staticmethod(_moved)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.call import Call

        dims = torch_dims(node.shape)
        return Call(lambda x: x.new_zeros((x.shape[0], *dims)), f"x.new_zeros(B, {', '.join(map(str, dims))})")
