"""Selection of any rank: comparisons (``gt``, ``lt``, ``ge``, ``le``, ``eq``, ``ne``), ``where`` (torch.where(cond,
a, b) of a comparison's mask), ``index_select`` (x.index_select(dim, index), x[:, [2, 0, 1]]) and ``topk``'s values.

Dims are torch's (the batch 0, negative from the end), sizes per sample (ops/tensors.py). A comparison is one op per
output element (``elementwise_ops``), as every elementwise binary op; its result is a mask (torch's bool), which carries
no gradient. ``where`` picks one operand per output element: 1 op each. ``index_select`` is a copy (no arithmetic);
its index (k positions) is a constant the forward makes, or a buffer the model holds (its k elements are buffers).
``topk`` reads every element along its dim, 1 ``pool_op`` each, as ``amax`` does (the comparisons that keep the k
largest are not counted further). fvcore ignores aten::gt, ge and eq and has no handle for the others; FlopCounterMode,
ptflops and thop count none of them.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import field
from typing import TYPE_CHECKING, Any

from ..cost import Backward, Cost
from .counting import FVCORE_IGNORED, Counted, Counting, Prediction
from .elementwise import Binary, BinaryArgs, binary_build, binary_cost, binary_shape
from .grad import Need, no_backward
from .pool import INDEX_BYTES
from .receptive import POINTWISE, RF, regroup, spatial_axes, whole_along
from .registry import (
    NodeLike,
    OpRule,
    Saves,
    Shape,
    ShapeError,
    arg,
    boolean,
    lazy_args,
    number,
    op,
    optional,
    pos_int,
    register,
)
from .shapes import fmt_shape, numel
from .tensors import broadcast, dim_index, integer, like, show_dims, tensor_shape, torch_dims, with_tensor

if TYPE_CHECKING:
    from torch import nn


def _unseen(what: str) -> Counted:
    return Counted(lambda node, cost, batch: Prediction.unseen(f"ptflops sees no module and patches no {what}"))


# ---- comparisons ---------------------------------------------------------------------------------------------
COMPARISONS = (
    Binary("gt", "compare", operator.gt, "x > y", "aten::gt"),
    Binary("lt", "compare", operator.lt, "x < y", "aten::lt"),
    Binary("ge", "compare", operator.ge, "x >= y", "aten::ge"),
    Binary("le", "compare", operator.le, "x <= y", "aten::le"),
    Binary("eq", "compare", operator.eq, "x == y", "aten::eq"),
    Binary("ne", "compare", operator.ne, "x != y", "aten::ne"),
)
FVCORE_IGNORES = ("gt", "ge", "eq")  # in fvcore's _IGNORED_OPS; lt, le, ne it reports as unsupported


def _comparison_shape(row: Binary) -> Callable[[BinaryArgs, tuple[Shape, ...]], Shape]:
    def shape(a: BinaryArgs, inputs: tuple[Shape, ...]) -> Shape:
        for key in ("param", "table", "reverse"):
            if getattr(a, key) not in (None, False):
                raise ShapeError(f"a comparison takes another output, a number ('scalar'), a buffer or a constant, not "
                                 f"'{key}' (a mask has no gradient to learn from; write 'reverse' as the opposite "
                                 "comparison)", key)
        return binary_shape(a, inputs, row.name, lambda so_far, i, s: (
            f"cannot compare {fmt_shape(so_far)} and branch {i} ({fmt_shape(s)}): shapes do not broadcast"))

    return shape


for _row in COMPARISONS:
    register(OpRule(
        _row.name, BinaryArgs, "math", _comparison_shape(_row), binary_cost,
        f"Elementwise comparison {_row.written} (torch's bool mask), broadcasting.",
        build=binary_build(_row),
        saves=Saves.NOTHING,  # a mask has no gradient: nothing kept
        counting=Counting(_row.aten, _row.written, _row.name,
                          fvcore=FVCORE_IGNORED if _row.name in FVCORE_IGNORES else Counted(
                              lambda node, cost, batch, a=_row.aten: Prediction.unseen(f"fvcore has no handle for {a}")),
                          ptflops=_unseen(f"the operator {_row.written.split()[1]}")),
        backward=no_backward,
        rf=POINTWISE,
        notes="The second operand: another output (`from: [x, y]`), `scalar`, `buffer` or `const`. One op per output "
              "element; the mask carries no gradient (for torch.where).",
        inputs=(1, 2),
        detached=True,
    ))


# ---- where -------------------------------------------------------------------------------------------------
@lazy_args
class WhereArgs:
    """Arguments of `where`."""

    scalar: float | None = field(default=None, metadata=arg(optional(number), "a number as the value where the mask is "
                                                                              "false (torch.where(mask, x, 0.0))"))
    const: tuple[int, ...] | None = field(default=None, metadata=arg(optional(tensor_shape), "a tensor the forward makes "
                                                                     "from no input or weight as that value: its shape, "
                                                                     "broadcast"))
    reverse: bool = field(default=False, metadata=arg(boolean, "the number or constant is the value where the mask is "
                                                               "true (torch.where(mask, 0.0, x))"))


def _where_dims(a: WhereArgs, inputs: tuple[Shape, ...]) -> tuple[int, ...]:
    if a.scalar is not None and a.const is not None:
        raise ShapeError("takes one of 'scalar' and 'const', not both", "const")
    given = a.scalar is not None or a.const is not None
    if len(inputs) != (2 if given else 3):
        raise ShapeError(f"where reads the mask and {'one value' if given else 'two values'} ('from: [mask, x"
                         f"{'' if given else ', y'}]'{'' if given else ', or a scalar or const for y'}), got "
                         f"{len(inputs)} input{'s' * (len(inputs) != 1)}")
    if a.reverse and not given:
        raise ShapeError("'reverse' puts a scalar or const in the first value's place; give one", "reverse")
    out = torch_dims(inputs[0])
    for k, s in enumerate(inputs[1:], start=1):
        dims = torch_dims(s)
        joined = broadcast(out, dims) if len(dims) == len(out) else None
        if joined is None:
            raise ShapeError(f"the mask {show_dims(out)} and value {k} {show_dims(dims)} do not broadcast (of one rank, "
                             "as two outputs are)")
        out = joined
    return with_tensor(out, a.const, "const") if a.const is not None else out


def _where_backward(a: WhereArgs, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
    """Each value's gradient is the output's where it was picked, else 0 (a select per output element), summed back
    where it was broadcast; the mask has none."""
    n = batch * numel(out)
    ops = sum(n + (n if numel(inputs[i]) < numel(out) else 0) for i in range(1, len(inputs)) if need.inputs[i])
    return Backward(input_ops=ops)


@op("where", category="math", args=WhereArgs)
class Where:
    """Picks, per element, the first value where the mask is true, else the second: torch.where(mask, x, y) (the mask
    a comparison's output: `from: [mask, x, y]`), broadcasting; y may be a number (`scalar`) or a constant. One op per
    output element."""

    inputs = (2, 3)
    saves = Saves.INPUTS  # its backward reads the mask
    counting = Counting("aten::where", "torch.where", ptflops=_unseen("torch.where"))
    backward = staticmethod(_where_backward)
    rf = POINTWISE

    @staticmethod
    def shape(a: WhereArgs, inputs: tuple[Shape, ...]) -> Shape:
        return like(inputs[0], _where_dims(a, inputs), "where")

    @staticmethod
    def cost(a: WhereArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        n = batch * numel(out)
        return Cost(elementwise_ops=n, activations=n)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        import torch

        from ..modules.call import Call

        a: WhereArgs = node.args
        if a.const is not None:
            shape = tuple(a.const)

            def pick(m: Any, x: Any) -> Any:
                c = torch.zeros(shape, dtype=x.dtype, device=x.device)
                return torch.where(m, c, x) if a.reverse else torch.where(m, x, c)

            return Call(pick, "torch.where(mask, x, const)")
        if a.scalar is not None:
            s = a.scalar
            if a.reverse:
                return Call(lambda m, x: torch.where(m, s, x), f"torch.where(mask, {s:g}, x)")
            return Call(lambda m, x: torch.where(m, x, s), f"torch.where(mask, x, {s:g})")
        return Call(lambda m, x, y: torch.where(m, x, y), "torch.where(mask, x, y)")


# ---- index_select -----------------------------------------------------------------------------------------------
@lazy_args
class IndexSelectArgs:
    """Arguments of `index_select`."""

    dim: int = field(metadata=arg(integer, "the dim to select along (torch's numbering: the batch is 0)"))
    index: int = field(metadata=arg(pos_int, "how many positions the index holds (the length of the 1-D index)"))
    buffer: bool = field(default=False, metadata=arg(boolean, "the model holds the index as a buffer (its elements are "
                                                              "buffers); else the forward makes it"))


@op("index_select", category="shuffle", args=IndexSelectArgs)
class IndexSelect:
    """Picks positions along one dim by a 1-D index, x.index_select(dim, index) or x[:, index]; a copy, no arithmetic.
    `index` is how many positions (they may repeat); the values do not change a count."""

    saves = Saves.NOTHING  # index_select_backward reads the index (saved_extra) and the sizes
    counting = Counting("aten::index_select", "x.index_select", ptflops=_unseen("index_select"))
    # the gradient added into zeros at the index (index_add): one add per output element
    backward = staticmethod(lambda a, inputs, out, batch, need: Backward(
        input_ops=batch * numel(out) if need.any_input else 0))

    @staticmethod
    def rf(a: IndexSelectArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
        i = dim_index(a.dim, torch_dims(inputs[0]))
        if i in spatial_axes(inputs[0]):
            return regroup("a selection of positions by an index")
        return POINTWISE

    @staticmethod
    def shape(a: IndexSelectArgs, inputs: tuple[Shape, ...]) -> Shape:
        dims = torch_dims(inputs[0])
        i = dim_index(a.dim, dims)
        return like(inputs[0], (*dims[:i], a.index, *dims[i + 1:]), "index_select")

    @staticmethod
    def cost(a: IndexSelectArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return Cost(buffers=a.index if a.buffer else 0, activations=batch * numel(out))

    @staticmethod
    def saved_extra(node: NodeLike, batch: int, elem: int) -> int:
        return node.args.index * INDEX_BYTES

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.tensors import IndexSelect as Module

        a: IndexSelectArgs = node.args
        dims = torch_dims(node.in_shapes[0])
        i = dim_index(a.dim, dims)
        return Module(i + 1, a.index, dims[i], a.buffer)


# ---- topk ---------------------------------------------------------------------------------------------------------
@lazy_args
class TopkArgs:
    """Arguments of `topk`."""

    k: int = field(metadata=arg(pos_int, "how many values to keep"))
    dim: int = field(default=-1, metadata=arg(integer, "the dim (torch's numbering: the batch is 0; default the last)"))
    largest: bool = field(default=True, metadata=arg(boolean, "the largest values (false: the smallest)", compared=False))


@op("topk", category="pool", args=TopkArgs)
class Topk:
    """The k largest (or smallest) values along a dim, torch.topk(x, k, dim).values (the indices are not an output).
    Reads every element along the dim: 1 pool op per input element, as `amax`."""

    saves = Saves.NOTHING  # its backward scatters the gradient by the indices (saved_extra)
    counting = Counting("aten::topk", "torch.topk", ptflops=_unseen("torch.topk"))
    # the gradient written into zeros at the indices: one per output element, as a max pool's
    backward = staticmethod(lambda a, inputs, out, batch, need: Backward(
        input_ops=batch * numel(out) if need.any_input else 0))

    @staticmethod
    def rf(a: TopkArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
        return whole_along(inputs[0], (dim_index(a.dim, torch_dims(inputs[0])),), "topk reads the whole dim")

    @staticmethod
    def shape(a: TopkArgs, inputs: tuple[Shape, ...]) -> Shape:
        dims = torch_dims(inputs[0])
        i = dim_index(a.dim, dims)
        if a.k > dims[i]:
            raise ShapeError(f"k={a.k} is more than dim {a.dim} of {show_dims(dims)} holds ({dims[i]})", "k")
        return like(inputs[0], (*dims[:i], a.k, *dims[i + 1:]), "topk")

    @staticmethod
    def cost(a: TopkArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return Cost(pool_ops=batch * numel(inputs[0]), activations=batch * numel(out))

    @staticmethod
    def saved_extra(node: NodeLike, batch: int, elem: int) -> int:
        return batch * numel(node.shape) * INDEX_BYTES

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        import torch

        from ..modules.call import Call

        a: TopkArgs = node.args
        i = dim_index(a.dim, torch_dims(node.in_shapes[0])) + 1
        return Call(lambda x: torch.topk(x, a.k, i, a.largest).values, f"torch.topk(x, {a.k}, {i}, {a.largest}).values")

