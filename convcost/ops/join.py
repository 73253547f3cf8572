"""Ops that join parallel branches: channel concat, elementwise add and multiply.

torch has no nn.Module for them: each builds a ``Call`` of its function (crosscheck/torch_build.py).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..cost import Backward, Cost
from .counting import FVCORE_IGNORED, Counting
from .grad import Need, no_backward
from .receptive import POINTWISE
from .registry import NoArgs, NodeLike, Saves, Shape, ShapeError, op
from .shapes import TokenGrid, Tokens, fmt_shape, grid_of, is_tokens, numel

if TYPE_CHECKING:
    from torch import nn


def _fold(combine: Callable[[Any, Any], Any], label: str) -> nn.Module:
    """A module combining its inputs left to right: ((x1 ∘ x2) ∘ x3)..."""
    from ..modules.call import Call

    return Call(lambda *xs: functools.reduce(combine, xs), label)


@op("concat", category="join")
class Concat:
    """Concatenates branch outputs along channels (torch.cat(dim=1)); a copy, no arithmetic."""

    saves = Saves.NOTHING
    counting = Counting("aten::cat", "torch.cat", "cat", fvcore=FVCORE_IGNORED)
    rf = POINTWISE
    backward = staticmethod(no_backward)  # each input's gradient is its slice of the output's

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        import torch

        from ..modules.call import Call

        return Call(lambda *xs: torch.cat(xs, dim=1), "torch.cat(dim=1)")

    @staticmethod
    def shape(a: NoArgs, inputs: tuple[Shape, ...]) -> Shape:
        first = inputs[0]
        _one_layout("concat", inputs)
        if grid_of(first) is not None:
            raise ShapeError(f"cannot concat token grids ({fmt_shape(first)}): torch.cat(dim=1) of [B, H, W, D] would "
                             "join rows; turn them into a map with 'to_map' or a sequence first")
        if is_tokens(first):  # torch.cat(dim=1) of [B, N, D] sequences: more tokens of one width
            for i, s in enumerate(inputs[1:], start=2):
                if s[1] != first[1]:
                    raise ShapeError(f"cannot concat branch 1 ({fmt_shape(first)}) with branch {i} ({fmt_shape(s)}): "
                                     "tokens must have the same width")
            return Tokens(sum(s[0] for s in inputs), first[1])
        for i, s in enumerate(inputs[1:], start=2):
            if len(s) != len(first) or s[1:] != first[1:]:
                raise ShapeError(
                    f"cannot concat branch 1 ({fmt_shape(first)}) with branch {i} ({fmt_shape(s)}): "
                    "all branches must have the same H×W"
                )
        return (sum(s[0] for s in inputs), *first[1:])

    @staticmethod
    def cost(a: NoArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return Cost(activations=batch * numel(out))


@op("add", category="join")
class Add:
    """Elementwise sum of branches of equal shape (the residual add); maps or tokens."""

    saves = Saves.NOTHING
    counting = Counting("aten::add", "tensor +")
    rf = POINTWISE
    backward = staticmethod(no_backward)  # every input's gradient is the output's (shapes are equal)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        return _fold(operator.add, "+")

    @staticmethod
    def shape(a: NoArgs, inputs: tuple[Shape, ...]) -> Shape:
        first = inputs[0]
        _one_layout("add", inputs)
        for i, s in enumerate(inputs[1:], start=2):
            if s != first:
                raise ShapeError(
                    f"cannot add branch 1 ({fmt_shape(first)}) and branch {i} ({fmt_shape(s)}): shapes must be equal"
                    + ("; add a projection shortcut" if len(s) == len(first) else "")
                )
        return first

    @staticmethod
    def cost(a: NoArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        n = batch * numel(out)
        return Cost(elementwise_ops=(len(inputs) - 1) * n, activations=n)


def _one_layout(kind: str, inputs: tuple[Shape, ...]) -> None:
    """Tokens join tokens and maps join maps: a 197×768 token sequence is not a 197×768 map."""
    first = inputs[0]
    for i, s in enumerate(inputs[1:], start=2):
        if is_tokens(s) != is_tokens(first):
            raise ShapeError(f"cannot {kind} branch 1 ({fmt_shape(first)}) and branch {i} ({fmt_shape(s)}): "
                             "one is tokens, the other a map; convert with 'to_tokens' or 'to_map'")
        if grid_of(s) != grid_of(first):  # [B, H, W, D] and [B, N, D] (or another H×W) are different tensors
            raise ShapeError(f"cannot {kind} branch 1 ({fmt_shape(first)}) and branch {i} ({fmt_shape(s)}): "
                             "their tokens are arranged differently (a grid and a sequence, or two grids)")


def broadcast(a: Shape, b: Shape) -> Shape | None:
    if len(a) != len(b):
        return None
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            return None
        out.append(max(x, y))
    return tuple(out)


@op("multiply", category="join", aliases=("mul",))
class Multiply:
    """Elementwise product with broadcasting (squeeze-excite gating: C×H×W · C×1×1)."""

    saves = Saves.INPUTS  # d(a·b)/da = b
    counting = Counting("aten::mul", "tensor *", "mul")
    rf = POINTWISE  # a broadcast operand (a C×1×1 gate) is read at every position: costmodel/receptive.py

    @staticmethod
    def backward(a: NoArgs, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
        # torch folds ((x1·x2)·x3)...: going back from the last product, x_j's gradient is g_j · (x1···x_{j−1}) and
        # the gradient passed on is g_j · x_j, each one multiply per output element where it is needed; an operand
        # that was broadcast (a C×1×1 gate) sums its gradient over the positions: one add per output element
        n = batch * numel(out)
        ops = 0
        for j in range(len(inputs) - 1, 0, -1):
            if need.inputs[j]:
                ops += n + (n if numel(inputs[j]) < numel(out) else 0)
            if any(need.inputs[:j]):
                ops += n
        if need.inputs[0] and numel(inputs[0]) < numel(out):
            ops += n
        return Backward(input_ops=ops)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        return _fold(operator.mul, "*")

    @staticmethod
    def shape(a: NoArgs, inputs: tuple[Shape, ...]) -> Shape:
        _one_layout("multiply", inputs)
        out: Shape | None = inputs[0]
        for i, s in enumerate(inputs[1:], start=2):
            assert out is not None
            joined = broadcast(out, s)
            if joined is None:
                raise ShapeError(f"cannot multiply {fmt_shape(out)} by branch {i} ({fmt_shape(s)}): shapes do not broadcast")
            out = joined
        assert out is not None
        grid = grid_of(inputs[0])
        if grid is not None:
            return TokenGrid(*grid, out[1])
        return Tokens(*out) if is_tokens(inputs[0]) else out

    @staticmethod
    def cost(a: NoArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        n = batch * numel(out)
        return Cost(elementwise_ops=(len(inputs) - 1) * n, activations=n)
