"""Ops that join parallel branches: concat (and stack), elementwise add and multiply.

torch has no nn.Module for them: each builds a ``Call`` of its function (modules/call.py). ``add`` and
``multiply`` are the binary ops of elementwise.py: they also take a number or a learned tensor.
"""

from __future__ import annotations

import operator
from dataclasses import field
from typing import TYPE_CHECKING

from ..cost import Cost
from .counting import FVCORE_IGNORED, Counting
from .elementwise import (
    Binary,
    BinaryArgs,
    _one_layout,
    binary_backward,
    binary_build,
    binary_cost,
    binary_counting,
    binary_saves,
    binary_shape,
)
from .grad import no_backward
from .receptive import POINTWISE, RF, regroup, spatial_axes
from .registry import MANY, NodeLike, Saves, Shape, ShapeError, arg, lazy_args, op, optional
from .shapes import Tokens, fmt_shape, grid_of, is_tokens, numel
from .tensors import LAYOUT_DOC, dim_index, integer, layout_arg, like, shaped, show_dims, torch_dims

if TYPE_CHECKING:
    from torch import nn


@lazy_args
class ConcatArgs:
    """Arguments of `concat`."""

    dim: int | None = field(
        default=None, metadata=arg(optional(integer), "the dim joined (torch's numbering: the batch is 0; default the "
                                                      "channels of maps, the tokens of sequences: dim 1)")
    )


def _concat_any(a: ConcatArgs, inputs: tuple[Shape, ...]) -> Shape:
    """torch.cat along ``dim`` of any rank: every other dim equal."""
    assert a.dim is not None
    _one_layout("concat", inputs)
    first = torch_dims(inputs[0])
    i = dim_index(a.dim, first)
    for k, s in enumerate(inputs[1:], start=2):
        dims = torch_dims(s)
        if len(dims) != len(first) or dims[:i] + dims[i + 1:] != first[:i] + first[i + 1:]:
            raise ShapeError(f"cannot concat branch 1 ({fmt_shape(inputs[0])}) with branch {k} ({fmt_shape(s)}) along "
                             f"dim {a.dim}: the other dims must be equal")
    return like(inputs[0], (*first[:i], sum(torch_dims(s)[i] for s in inputs), *first[i + 1:]), "concat")


CONCAT_ALONG = regroup("a concat along positions")
STACK = regroup("a stack adds a dim")


@op("concat", category="join", args=ConcatArgs)
class Concat:
    """Concatenates branch outputs along channels (torch.cat(dim=1)), or with `dim` along any dim; a copy, no arithmetic."""

    saves = Saves.NOTHING
    counting = Counting("aten::cat", "torch.cat", "cat", fvcore=FVCORE_IGNORED)
    inputs = (2, MANY)
    backward = staticmethod(no_backward)  # each input's gradient is its slice of the output's

    @staticmethod
    def rf(a: ConcatArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
        """Along the channels: pointwise. Along positions (a sequence's tokens, a map's rows), each input's elements
        keep their fields, at positions shifted past the inputs before them."""
        axis = dim_index(1 if a.dim is None else a.dim, torch_dims(inputs[0]))
        return CONCAT_ALONG if axis in spatial_axes(inputs[0]) else POINTWISE

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        import torch

        from ..modules.call import Call

        dim = 1 if node.args.dim is None else node.args.dim
        return Call(lambda *xs: torch.cat(xs, dim=dim), f"torch.cat(dim={dim})")

    @staticmethod
    def shape(a: ConcatArgs, inputs: tuple[Shape, ...]) -> Shape:
        if len(inputs) < 2:
            raise ShapeError("concat joins two or more outputs ('from: [a, b]' or branches)")
        if a.dim is not None:
            return _concat_any(a, inputs)
        first = inputs[0]
        _one_layout("concat", inputs)
        if grid_of(first) is not None:
            raise ShapeError(f"cannot concat token grids ({fmt_shape(first)}): torch.cat(dim=1) of [B, H, W, D] would "
                             "join rows; turn them into a map with 'to_map' or a sequence first, or give 'dim'")
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
    def cost(a: ConcatArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return Cost(activations=batch * numel(out))


@lazy_args
class StackArgs:
    """Arguments of `stack`."""

    dim: int = field(default=1, metadata=arg(integer, "where the new dim goes (torch's numbering: the batch is 0)"))
    layout: str = field(default="auto", metadata=arg(layout_arg, LAYOUT_DOC))


@op("stack", category="join", args=StackArgs)
class Stack:
    """Stacks outputs of one shape along a new dim, torch.stack(xs, dim) (`from: [a, b, ...]`); a copy, no arithmetic."""

    saves = Saves.NOTHING
    counting = Counting("aten::stack", "torch.stack", fvcore=FVCORE_IGNORED)
    inputs = (2, MANY)
    rf = STACK
    backward = staticmethod(no_backward)  # each input's gradient is its slice

    @staticmethod
    def shape(a: StackArgs, inputs: tuple[Shape, ...]) -> Shape:
        if len(inputs) < 2:
            raise ShapeError("stack joins two or more outputs ('from: [a, b]')")
        _one_layout("stack", inputs)
        first = torch_dims(inputs[0])
        for k, s in enumerate(inputs[1:], start=2):
            if torch_dims(s) != first:
                raise ShapeError(f"cannot stack branch 1 ({fmt_shape(inputs[0])}) and branch {k} ({fmt_shape(s)}): "
                                 "shapes must be equal")
        total = len(first) + 2  # the result's dims, the batch included
        if not -total <= a.dim < total or a.dim % total == 0:
            raise ShapeError(f"dim={a.dim} must be a dim of the result {show_dims((*first, len(inputs)))}, not the batch: "
                             f"1 to {total - 1} (or -1 to {-(total - 1)})", "dim")
        i = a.dim % total - 1
        out = (*first[:i], len(inputs), *first[i:])
        return shaped(out, a.layout, is_tokens(inputs[0]) and i < len(first), "stack")

    @staticmethod
    def cost(a: StackArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return Cost(activations=batch * numel(out))

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        import torch

        from ..modules.call import Call

        dim = node.args.dim
        return Call(lambda *xs: torch.stack(xs, dim=dim), f"torch.stack(dim={dim})")


ADD = Binary("add", "add", operator.add, "x + y", "aten::add")
MULTIPLY = Binary("multiply", "multiply", operator.mul, "x * y", "aten::mul")


def _add_mismatch(so_far: Shape, i: int, s: Shape) -> str:
    return (f"cannot add branch 1 ({fmt_shape(so_far)}) and branch {i} ({fmt_shape(s)}): shapes must be equal"
            + ("; add a projection shortcut" if len(s) == len(so_far) else ""))


@op("add", category="join", args=BinaryArgs)
class Add:
    """Elementwise sum of branches (the residual add), of a number (`scalar`) or a learned tensor (`param`: a position
    embedding [1, N, D]); torch's broadcasting; maps or tokens. One op per output element and extra input."""

    saves = Saves.NOTHING
    counting = binary_counting(ADD, "tensor +")
    inputs = (1, MANY)
    build = staticmethod(binary_build(ADD))
    rf = POINTWISE
    backward = staticmethod(binary_backward("add"))  # the output's gradient, summed back where broadcast

    @staticmethod
    def shape(a: BinaryArgs, inputs: tuple[Shape, ...]) -> Shape:
        return binary_shape(a, inputs, "add", _add_mismatch)

    cost = staticmethod(binary_cost)


def _multiply_mismatch(so_far: Shape, i: int, s: Shape) -> str:
    return f"cannot multiply {fmt_shape(so_far)} by branch {i} ({fmt_shape(s)}): shapes do not broadcast"


@op("multiply", category="join", args=BinaryArgs, aliases=("mul",))
class Multiply:
    """Elementwise product with broadcasting (squeeze-excite gating: C×H×W · C×1×1), of a number (`scalar`) or a
    learned tensor (`param`: timm's layer-scale gamma [C] on a channels-last grid). One op per output element."""

    saves = staticmethod(binary_saves)  # d(a·b)/da = b
    counting = binary_counting(MULTIPLY, "tensor *")
    inputs = (1, MANY)
    build = staticmethod(binary_build(MULTIPLY))
    rf = POINTWISE  # a broadcast operand (a C×1×1 gate) is read at every position: costmodel/receptive.py
    backward = staticmethod(binary_backward("multiply"))

    @staticmethod
    def shape(a: BinaryArgs, inputs: tuple[Shape, ...]) -> Shape:
        return binary_shape(a, inputs, "multiply", _multiply_mismatch)

    cost = staticmethod(binary_cost)
