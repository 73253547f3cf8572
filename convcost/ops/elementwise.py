"""Elementwise arithmetic of any rank: binary ops with broadcasting, and unary math.

A binary op (``add`` and ``multiply`` in join.py; ``sub``, ``div``, ``pow``, ``maximum``, ``minimum`` here)
combines its input with a second operand: another layer's output (``from: [a, b]``; both of one rank, torch's
broadcasting), a number (``scalar``) or a learned tensor (``param``: its shape as torch holds it, broadcast
against the input, its elements counted as params: timm's layer-scale gamma ``[C]`` on a channels-last grid,
a ``[1, 197, 768]`` position embedding). ``reverse`` puts the number or tensor on the left (1 − x, 2 / x).
One non-MAC op per output element (``elementwise_ops``), as the residual add.

Unary math (``sqrt``, ``rsqrt``, ``exp``, ``log``, ``abs``, ``neg``, ``reciprocal``, ``square``, ``sin``,
``cos``, ``erf``, ``clamp``): category math, one op per element (``elementwise_ops``), built as the torch
function of the same name. None of these is counted by fvcore, FlopCounterMode or thop; ptflops patches
``torch.add``/``torch.mul`` and ``Tensor.add``/``Tensor.mul`` but not the operators (``x + y``, ``x * y``)
these are built with, as models write them.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import field
from typing import TYPE_CHECKING, Any, NamedTuple

from ..cost import Backward, Cost
from .counting import FVCORE_IGNORED, Counted, Counting, Prediction
from .grad import ACTIVATION_BACKWARD_OPS, BackwardFn, Need, per_output_element
from .receptive import POINTWISE
from .registry import (
    NoArgs,
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
    register,
)
from .shapes import fmt_shape, grid_of, is_tokens, numel
from .tensors import broadcast, like, tensor_shape, torch_dims, with_tensor

if TYPE_CHECKING:
    from torch import Tensor, nn


# ---- binary ops ------------------------------------------------------------------------------------------
@lazy_args
class BinaryArgs:
    """Arguments of the elementwise binary ops (`add`, `multiply`, `sub`, `div`, `pow`, `maximum`, `minimum`)."""

    scalar: float | None = field(default=None, metadata=arg(optional(number), "a number as the second operand (x − 1)"))
    param: tuple[int, ...] | None = field(
        default=None, metadata=arg(optional(tensor_shape), "a learned tensor as the second operand: its shape as torch holds "
                                                           "it ([C, 1, 1], [1, 1, D]), broadcast; its elements are params")
    )
    const: tuple[int, ...] | None = field(
        default=None, metadata=arg(optional(tensor_shape), "a tensor the forward makes from no input, weight or buffer "
                                                           "(YOLO's anchor points and strides, built from the map's size) as "
                                                           "the second operand: its shape, broadcast; no params")
    )
    buffer: tuple[int, ...] | None = field(
        default=None, metadata=arg(optional(tensor_shape), "a tensor the model holds as a buffer (an input normalisation's "
                                                           "mean and std, [1, 3, 1, 1]) as the second operand: its shape as "
                                                           "torch holds it, broadcast; its elements are buffers, not params")
    )
    table: tuple[int, ...] | None = field(
        default=None, metadata=arg(optional(tensor_shape), "with 'param': the learned tensor is gathered in the forward "
                                                           "from a table of this shape by a fixed index (a relative "
                                                           "position bias): the table's elements are the params")
    )
    index: tuple[int, ...] | None = field(
        default=None, metadata=arg(optional(tensor_shape), "with 'table': the shape of the index buffer it is gathered "
                                                           "by (its elements are buffers)")
    )
    reverse: bool = field(default=False, metadata=arg(boolean, "the number or tensor is the left operand (1 − x, 2 / x)"))


class Binary(NamedTuple):
    """One binary op: its name, verb (messages), function, the torch call as written, and its aten op."""

    name: str
    verb: str
    fn: Callable[[Any, Any], Any]
    written: str  # 'x - y'
    aten: str
    reverse_aten: str = ""  # the aten op of the number on the left ('1 - x': aten::rsub), if another


def _one_layout(kind: str, inputs: tuple[Shape, ...], grids: bool = True) -> None:
    """Tokens join tokens and maps join maps: a 197×768 token sequence is not a 197×768 map, nor is a token grid a
    sequence. ``grids``: a grid joins only grids of its H×W (else two grids broadcast: [H, W, D] with [1, 1, D])."""
    first = inputs[0]
    for i, s in enumerate(inputs[1:], start=2):
        if is_tokens(s) != is_tokens(first):
            raise ShapeError(f"cannot {kind} branch 1 ({fmt_shape(first)}) and branch {i} ({fmt_shape(s)}): "
                             "one is tokens, the other a map; convert with 'to_tokens' or 'to_map'")
        # [B, H, W, D] and [B, N, D] (or another H×W) are different tensors
        if (grid_of(s) != grid_of(first)) if grids else ((grid_of(s) is None) != (grid_of(first) is None)):
            raise ShapeError(f"cannot {kind} branch 1 ({fmt_shape(first)}) and branch {i} ({fmt_shape(s)}): "
                             "their tokens are arranged differently (a grid and a sequence, or two grids)")


OPERANDS = ("scalar", "param", "buffer", "const")  # what a binary op of one input takes as its second operand


def operand_problem(a: BinaryArgs, inputs: tuple[Shape, ...], name: str) -> None:
    """One input takes a number or a learned tensor as its second operand; several take neither."""
    given = [k for k in OPERANDS if getattr(a, k) is not None]
    if len(inputs) > 1:
        if given:
            raise ShapeError(f"takes no '{given[0]}' with {len(inputs)} inputs: its operands are the inputs", given[0])
        if a.reverse:
            raise ShapeError(f"'reverse' puts a scalar or param on the left; {len(inputs)} inputs are taken in the "
                             "order of 'from'", "reverse")
        return
    if (a.table is None) != (a.index is None) or (a.table is not None and a.param is None):
        raise ShapeError("'table' and 'index' go together, with 'param' (the shape of the gathered tensor)", "table")
    if len(given) > 1:
        raise ShapeError(f"takes one second operand: '{given[0]}' or '{given[1]}', not both", given[1])
    if not given:
        raise ShapeError("needs a second operand: another output ('from: [a, b]'), a number ('scalar'), a "
                         "learned tensor ('param') or a buffer ('buffer')")


def binary_shape(a: BinaryArgs, inputs: tuple[Shape, ...], name: str, mismatch: Callable[[Shape, int, Shape], str]) -> Shape:
    """The result of a binary op; ``mismatch(so_far, i, shape)`` says why input ``i`` does not fit."""
    operand_problem(a, inputs, name)
    first = inputs[0]
    if len(inputs) == 1:
        dims = torch_dims(first)
        if a.param is not None:
            return like(first, with_tensor(dims, a.param, "param"), name)
        for key in ("buffer", "const"):
            held = getattr(a, key)
            if held is not None:
                return like(first, with_tensor(dims, held, key), name)
        return first
    _one_layout(name, inputs, grids=False)  # two grids broadcast as torch holds them ([H, W, D] and [1, 1, D])
    out = torch_dims(first)
    for i, s in enumerate(inputs[1:], start=2):
        other = torch_dims(s)
        joined = broadcast(out, other) if len(other) == len(out) else None
        if joined is None:
            raise ShapeError(mismatch(like(first, out, name), i, s))
        out = joined
    return like(first, out, name)


def binary_cost(a: BinaryArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
    n = batch * numel(out)
    held = a.table if a.table is not None else a.param
    buffers = (numel(a.index) if a.index is not None else 0) + (numel(a.buffer) if a.buffer is not None else 0)
    return Cost(params=numel(held) if held is not None else 0, buffers=buffers,
                elementwise_ops=max(1, len(inputs) - 1) * n, activations=n)


# Per output element, the ops of the left operand's gradient and of the right one's (torch's derivatives.yaml):
# add g and g; sub g and −g; multiply g·y and g·x; div g/y and −g·x/y² (3); pow g·y·x^(y−1) and g·xʸ·ln x (3 each);
# maximum and minimum g where each operand is the larger (smaller): a select each.
GRAD_OPS = {"add": (0, 0), "sub": (0, 1), "multiply": (1, 1), "div": (1, 3), "pow": (3, 3), "maximum": (1, 1),
            "minimum": (1, 1)}


def binary_backward(name: str) -> BackwardFn:
    """The gradients of a binary op. Outputs folded ((x1 ∘ x2) ∘ x3)...: going back from the last, x_j's gradient (the
    right operand's ops) and the gradient passed on to the partial result (the left operand's), each where needed. An
    operand smaller than the output (broadcast: a C×1×1 gate, a learned [C] scale) sums its gradient back: one add
    per output element. A learned tensor's gradient is the weight gradient."""
    left, right = GRAD_OPS[name]

    def backward(a: BinaryArgs, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
        n = batch * numel(out)

        def spread(shape: Shape) -> int:  # summed back over the positions it was broadcast to
            return n if numel(shape) < numel(out) else 0

        if len(inputs) == 1:  # x with a number or a learned tensor, x on the left unless 'reverse'
            mine, theirs = (right, left) if a.reverse else (left, right)
            x = mine * n + spread(inputs[0]) if need.any_input else 0
            w = theirs * n + (n if a.param is not None and numel(a.param) < n else 0) if need.weights else 0
            return Backward(input_ops=x, weight_ops=w)
        ops = 0
        for j in range(len(inputs) - 1, 0, -1):
            if need.inputs[j]:
                ops += right * n + spread(inputs[j])
            if any(need.inputs[:j]):
                ops += left * n
        if need.inputs[0]:
            ops += spread(inputs[0])
        return Backward(input_ops=ops)

    return backward


def binary_build(row: Binary) -> Callable[[NodeLike], nn.Module]:
    def build(node: NodeLike) -> nn.Module:
        from ..modules.call import Call

        a: BinaryArgs = node.args
        fn = row.fn
        if len(node.in_shapes) > 1:  # ((x1 ∘ x2) ∘ x3)...
            return Call(lambda *xs: functools.reduce(fn, xs), row.written)
        if a.table is not None and a.param is not None and a.index is not None:
            from ..modules.tensors import WithGathered

            return WithGathered(a.param, a.table, a.index, fn, row.written.replace("y", "table[index]"), a.reverse)
        if a.param is not None:
            from ..modules.tensors import WithTensor

            return WithTensor(a.param, fn, row.written.replace("y", "weight"), a.reverse)
        if a.buffer is not None:
            from ..modules.tensors import WithTensor

            return WithTensor(a.buffer, fn, row.written.replace("y", "buffer"), a.reverse, buffer=True)
        if a.const is not None:
            from ..modules.tensors import WithConstant

            return WithConstant(a.const, fn, row.written.replace("y", "const"), a.reverse)
        s = a.scalar
        if a.reverse:
            return Call(lambda x: fn(s, x), row.written.replace("y", "x").replace("x", f"{s:g}", 1))
        return Call(lambda x: fn(x, s), row.written.replace("y", f"{s:g}"))

    return build


def binary_aten(row: Binary, node: NodeLike) -> str:
    a: BinaryArgs = node.args
    return row.reverse_aten if a.reverse and a.scalar is not None and row.reverse_aten else row.aten


def binary_saves(node: NodeLike) -> Saves:
    """What the backward of a product-like op keeps: the inputs, or nothing for a number on the right; of a product or
    quotient with a buffer, nothing of the activations (torch keeps the buffer, which needs no gradient, for the
    input's; the model holds it: measured with saved_tensors_hooks, tests/test_saved_bytes.py)."""
    a: BinaryArgs = node.args
    if len(node.in_shapes) == 1 and a.buffer is not None and (node.op == "multiply" or (node.op == "div" and not a.reverse)):
        return Saves.NOTHING
    return Saves.NOTHING if len(node.in_shapes) == 1 and a.scalar is not None and not a.reverse else Saves.INPUTS


def binary_counting(row: Binary, module: str) -> Counting:
    def fvcore(node: NodeLike, cost: Cost, batch: int) -> Prediction:
        return Prediction.unseen(f"fvcore has no handle for {binary_aten(row, node)} (reports it as unsupported)")

    patched = row.name in ("add", "multiply")
    why = ("ptflops patches torch.add/mul and Tensor.add/mul, not the operators the model uses" if patched
           else f"ptflops patches no {row.written}")
    return Counting(
        row.aten, module, row.aten.removeprefix("aten::"),
        fvcore=Counted(fvcore),
        ptflops=Counted(lambda node, cost, batch: Prediction.unseen(why)),
    )


def _maximum(x: Tensor, y: Tensor) -> Tensor:
    import torch

    return torch.maximum(x, y)


def _minimum(x: Tensor, y: Tensor) -> Tensor:
    import torch

    return torch.minimum(x, y)


BINARY = (
    Binary("sub", "subtract", operator.sub, "x - y", "aten::sub", "aten::rsub"),
    Binary("div", "divide", operator.truediv, "x / y", "aten::div", "aten::reciprocal"),
    Binary("pow", "raise", operator.pow, "x ** y", "aten::pow"),
    Binary("maximum", "take the maximum of", _maximum, "torch.maximum(x, y)", "aten::maximum"),
    Binary("minimum", "take the minimum of", _minimum, "torch.minimum(x, y)", "aten::minimum"),
)
SUMMARIES = {
    "sub": "Elementwise difference x − y (the operator -), broadcasting.",
    "div": "Elementwise quotient x / y (the operator /), broadcasting.",
    "pow": "Elementwise power x ** y (the operator **; `scalar: 2` squares), broadcasting.",
    "maximum": "Elementwise maximum, torch.maximum(x, y), broadcasting (of a number: `clamp: {min: ...}`).",
    "minimum": "Elementwise minimum, torch.minimum(x, y), broadcasting (of a number: `clamp: {max: ...}`).",
}
NOTES = ("The second operand: another output (`from: [x, y]`), `scalar`, `param` (a learned tensor, its "
         "shape as torch holds it) or `const` (a tensor the forward makes from no weight: no params). One op per output "
         "element.")


def _binary_shape(row: Binary) -> Callable[[BinaryArgs, tuple[Shape, ...]], Shape]:
    def shape(a: BinaryArgs, inputs: tuple[Shape, ...]) -> Shape:
        if row.name in ("maximum", "minimum") and len(inputs) == 1 and a.scalar is not None:
            raise ShapeError(f"torch.{row.name} takes tensors; for a number write "
                             f"'clamp: {{{'min' if row.name == 'maximum' else 'max'}: {a.scalar:g}}}'", "scalar")
        return binary_shape(a, inputs, row.name, lambda so_far, i, s: (
            f"cannot {row.verb} {fmt_shape(so_far)} and branch {i} ({fmt_shape(s)}): shapes do not broadcast"
            + ("" if len(torch_dims(so_far)) == len(torch_dims(s)) else " (they differ in rank)")))

    return shape


for _row in BINARY:
    register(OpRule(
        _row.name, BinaryArgs, "join", _binary_shape(_row), binary_cost, SUMMARIES[_row.name],
        build=binary_build(_row),
        saves=Saves.NOTHING if _row.name == "sub" else binary_saves,
        counting=binary_counting(_row, _row.written),
        backward=binary_backward(_row.name),
        rf=POINTWISE,  # a broadcast operand is read at every position: costmodel/receptive.py
        notes=NOTES,
        inputs=(1, 2),
    ))


# ---- unary math -------------------------------------------------------------------------------------------
class Unary(NamedTuple):
    name: str
    summary: str
    saves: Saves  # OUTPUT where torch's derivative uses the result (derivatives.yaml)


UNARY = (
    Unary("sqrt", "Square root, torch.sqrt.", Saves.OUTPUT),
    Unary("rsqrt", "Reciprocal square root 1/√x, torch.rsqrt.", Saves.OUTPUT),
    Unary("exp", "Exponential, torch.exp.", Saves.OUTPUT),
    Unary("log", "Natural logarithm, torch.log.", Saves.INPUTS),
    Unary("abs", "Absolute value, torch.abs.", Saves.INPUTS),
    Unary("neg", "Negation −x, torch.neg.", Saves.NOTHING),
    Unary("reciprocal", "Reciprocal 1/x, torch.reciprocal.", Saves.OUTPUT),
    Unary("square", "Square x², torch.square.", Saves.INPUTS),
    Unary("sin", "Sine, torch.sin.", Saves.INPUTS),
    Unary("cos", "Cosine, torch.cos.", Saves.INPUTS),
    Unary("erf", "Error function, torch.erf (GELU written out).", Saves.INPUTS),
)


def _same(a: object, inputs: tuple[Shape, ...]) -> Shape:
    return inputs[0]


def _per_element(a: object, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
    n = batch * numel(out)
    return Cost(elementwise_ops=n, activations=n)


def _unary_build(name: str) -> Callable[[NodeLike], nn.Module]:
    def build(node: NodeLike) -> nn.Module:
        import torch

        from ..modules.call import Call

        return Call(lambda x: getattr(torch, name)(x), f"torch.{name}")  # looked up at each call, as code does

    return build


for _u in UNARY:
    register(OpRule(
        _u.name, NoArgs, "math", _same, _per_element, _u.summary,
        build=_unary_build(_u.name),
        saves=_u.saves,
        # the derivative and the multiply by the gradient, 2 per element; negation's derivative is a sign: 1
        backward=per_output_element(1 if _u.name == "neg" else ACTIVATION_BACKWARD_OPS),
        rf=POINTWISE,
        counting=Counting(f"aten::{_u.name}", f"torch.{_u.name}",
                          ptflops=Counted(lambda node, cost, batch: Prediction.unseen("ptflops patches no torch math function"))),
        notes="One op per element.",
    ))


@lazy_args
class ClampArgs:
    """Arguments of `clamp`."""

    min: float | None = field(default=None, metadata=arg(optional(number), "lower bound"))
    max: float | None = field(default=None, metadata=arg(optional(number), "upper bound"))


@op("clamp", category="math", args=ClampArgs)
class Clamp:
    """Clamps to [min, max], x.clamp(min, max) (either bound may be left out). One op per element."""

    saves = Saves.INPUTS
    rf = POINTWISE
    backward = staticmethod(per_output_element(1))  # g where min ≤ x ≤ max: a select per element
    counting = Counting("aten::clamp", "x.clamp", fvcore=FVCORE_IGNORED,
                        ptflops=Counted(lambda node, cost, batch: Prediction.unseen("ptflops patches no clamp")))

    @staticmethod
    def shape(a: ClampArgs, inputs: tuple[Shape, ...]) -> Shape:
        if a.min is None and a.max is None:
            raise ShapeError("clamp needs 'min', 'max' or both")
        if a.min is not None and a.max is not None and a.min > a.max:
            raise ShapeError(f"min={a.min:g} is more than max={a.max:g}", "min")
        return inputs[0]

    cost = staticmethod(_per_element)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.call import Call

        lo, hi = node.args.min, node.args.max
        return Call(lambda x: x.clamp(lo, hi), f"x.clamp({lo}, {hi})")
