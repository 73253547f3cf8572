"""Copies that rearrange or repeat values, of any rank: tile (x.repeat, torch.tile, x.expand(...).contiguous()),
expand (a view), flip and roll.

Dims are torch's (the batch 0, negative from the end), sizes per sample (ops/tensors.py). None does arithmetic (FLOPs 0
by the conventions); tile, flip and roll make a new tensor (category shuffle: the copy's bytes count in the memory
model), expand is a view of its input (category reshape: nothing moves until something copies it).
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING

from ..cost import Backward, Cost
from .counting import FVCORE_IGNORED, Counted, Counting, Prediction
from .grad import Need, no_backward
from .receptive import POINTWISE, RF, regroup, spatial_axes
from .registry import NodeLike, Saves, Shape, ShapeError, arg, lazy_args, op
from .shapes import numel
from .tensors import dim_indices, dim_list, int_list, like, show_dims, torch_dims

if TYPE_CHECKING:
    from torch import nn


def _copied(a: object, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
    return Cost(activations=batch * numel(out))  # a copy (or a view): no arithmetic


def _unseen(what: str) -> Counted:
    return Counted(lambda node, cost, batch: Prediction.unseen(f"ptflops sees no module and patches no {what}"))


def _moves_positions(shape: Shape, axes: tuple[int, ...], why: str) -> RF:
    """Pointwise where only non-position dims (a map's channels, a token's width) are touched; else the positions
    are rearranged (each output position reads one input position, another one)."""
    return regroup(why) if set(axes) & set(spatial_axes(shape)) else POINTWISE


def _summed_back(a: object, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
    """The gradient of a repeated (or broadcast) element is the sum of its copies' gradients: one add per output
    element beyond the input's (torch's repeat_backward / sum_to_size)."""
    return Backward(input_ops=batch * (numel(out) - numel(inputs[0])) if need.any_input else 0)


# ---- tile (x.repeat) ------------------------------------------------------------------------------------------------
@lazy_args
class RepeatArgs:
    """Arguments of `tile`."""

    sizes: tuple[int, ...] = field(metadata=arg(int_list, "how many times each dim of a sample is repeated, one per dim "
                                                          "(no batch: torch's x.repeat(1, *sizes))"))


def _repeat_dims(a: RepeatArgs, inputs: tuple[Shape, ...]) -> tuple[int, ...]:
    dims = torch_dims(inputs[0])
    if len(a.sizes) != len(dims):
        raise ShapeError(f"sizes {list(a.sizes)} must give one count per dim of a sample {show_dims(dims)} ({len(dims)}; "
                         "the batch's 1 is implied)", "sizes")
    if min(a.sizes) < 1:
        raise ShapeError(f"sizes {list(a.sizes)}: each count must be at least 1 (0 makes an empty tensor)", "sizes")
    return tuple(d * r for d, r in zip(dims, a.sizes))


@op("tile", category="shuffle", args=RepeatArgs)
class Repeat:
    """Repeats each sample along its dims, torch.tile(x, (1, *sizes)) = x.repeat(1, *sizes) (and x.expand(...).contiguous()
    of size-1 dims); a copy, no arithmetic. `tile: {sizes: [1, 2, 2]}` tiles a C×H×W map 2×2 (named `tile`: `repeat` is
    the key that repeats a layer)."""

    saves = Saves.NOTHING  # repeat_backward needs only the sizes
    counting = Counting("aten::repeat", "x.repeat", ptflops=_unseen("repeat"))
    backward = staticmethod(_summed_back)

    @staticmethod
    def rf(a: RepeatArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
        return _moves_positions(inputs[0], tuple(i for i, r in enumerate(a.sizes) if r > 1), "a repeat of positions")

    @staticmethod
    def shape(a: RepeatArgs, inputs: tuple[Shape, ...]) -> Shape:
        return like(inputs[0], _repeat_dims(a, inputs), "tile")

    cost = staticmethod(_copied)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.call import Call

        sizes = tuple(node.args.sizes)
        return Call(lambda x: x.repeat(1, *sizes), f"x.repeat(1, {', '.join(map(str, sizes))})")


# ---- expand ------------------------------------------------------------------------------------------------
@lazy_args
class ExpandArgs:
    """Arguments of `expand`."""

    sizes: tuple[int, ...] = field(metadata=arg(int_list, "the size of each dim of a sample (no batch), -1 to keep it; a "
                                                          "dim of size 1 may take any size"))


@op("expand", category="reshape", args=ExpandArgs)
class Expand:
    """Broadcasts size-1 dims of each sample to a larger size, x.expand(B, *sizes); a view, no arithmetic and no copy
    (copied, as by .contiguous(), it is a `tile`)."""

    saves = Saves.NOTHING
    counting = Counting("aten::expand", "x.expand", fvcore=FVCORE_IGNORED, ptflops=_unseen("expand"))
    backward = staticmethod(_summed_back)

    @staticmethod
    def rf(a: ExpandArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
        dims = torch_dims(inputs[0])
        grown = tuple(i for i, (d, s) in enumerate(zip(dims, a.sizes)) if s not in (-1, d))
        return _moves_positions(inputs[0], grown, "an expand of positions")

    @staticmethod
    def shape(a: ExpandArgs, inputs: tuple[Shape, ...]) -> Shape:
        dims = torch_dims(inputs[0])
        if len(a.sizes) != len(dims):
            raise ShapeError(f"sizes {list(a.sizes)} must give one size per dim of a sample {show_dims(dims)} "
                             f"({len(dims)}; the batch is kept)", "sizes")
        out = []
        for i, (d, s) in enumerate(zip(dims, a.sizes)):
            if s == -1:
                out.append(d)
            elif s < 1 or (d != 1 and s != d):
                raise ShapeError(f"dim {i + 1} of {show_dims(dims)} has {d}: it expands only from 1 (or stays, -1), "
                                 f"got {s}", "sizes")
            else:
                out.append(s)
        return like(inputs[0], tuple(out), "expand")

    cost = staticmethod(_copied)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.call import Call

        sizes = tuple(node.args.sizes)
        return Call(lambda x: x.expand(x.shape[0], *sizes), f"x.expand(B, {', '.join(map(str, sizes))})")


# ---- flip, roll ------------------------------------------------------------------------------------------------
@lazy_args
class FlipArgs:
    """Arguments of `flip`."""

    dims: tuple[int, ...] = field(metadata=arg(dim_list, "the dims to reverse (torch's numbering: the batch is 0)"))


@op("flip", category="shuffle", args=FlipArgs)
class Flip:
    """Reverses the order along dims, torch.flip(x, dims); a copy, no arithmetic."""

    saves = Saves.NOTHING  # its backward flips the gradient
    counting = Counting("aten::flip", "torch.flip", ptflops=_unseen("flip"))
    backward = staticmethod(no_backward)

    @staticmethod
    def rf(a: FlipArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
        return _moves_positions(inputs[0], dim_indices(a.dims, torch_dims(inputs[0])), "a flip of positions")

    @staticmethod
    def shape(a: FlipArgs, inputs: tuple[Shape, ...]) -> Shape:
        dim_indices(a.dims, torch_dims(inputs[0]))
        return inputs[0]

    cost = staticmethod(_copied)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        import torch

        from ..modules.call import Call

        dims = [i + 1 for i in dim_indices(node.args.dims, torch_dims(node.in_shapes[0]))]
        return Call(lambda x: torch.flip(x, dims), f"torch.flip(x, {dims})")


@lazy_args
class RollArgs:
    """Arguments of `roll`."""

    shifts: tuple[int, ...] = field(metadata=arg(dim_list, "how far each dim is rolled (one per dim in 'dims')"))
    dims: tuple[int, ...] = field(metadata=arg(dim_list, "the dims to roll (torch's numbering: the batch is 0)"))


@op("roll", category="shuffle", args=RollArgs)
class Roll:
    """Rolls values along dims, torch.roll(x, shifts, dims): what leaves one end comes in at the other (Swin's shifted
    windows); a copy, no arithmetic."""

    saves = Saves.NOTHING  # its backward rolls the gradient back
    counting = Counting("aten::roll", "torch.roll", fvcore=FVCORE_IGNORED, ptflops=_unseen("roll"))
    backward = staticmethod(no_backward)

    @staticmethod
    def rf(a: RollArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
        return _moves_positions(inputs[0], dim_indices(a.dims, torch_dims(inputs[0])), "a roll of positions")

    @staticmethod
    def shape(a: RollArgs, inputs: tuple[Shape, ...]) -> Shape:
        dim_indices(a.dims, torch_dims(inputs[0]))
        if len(a.shifts) != len(a.dims):
            raise ShapeError(f"shifts {list(a.shifts)} must give one shift per dim in dims {list(a.dims)}", "shifts")
        return inputs[0]

    cost = staticmethod(_copied)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        import torch

        from ..modules.call import Call

        dims = [i + 1 for i in dim_indices(node.args.dims, torch_dims(node.in_shapes[0]))]
        shifts = list(node.args.shifts)
        return Call(lambda x: torch.roll(x, shifts, dims), f"torch.roll(x, {shifts}, {dims})")
