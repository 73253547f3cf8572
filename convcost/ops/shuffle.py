"""Permutations: channel shuffle (ShuffleNet) and pixel shuffle/unshuffle (sub-pixel convolution).

Each moves every element to a new place and does no arithmetic: 0 non-MAC ops, listed with their
category. They are copies, not views (torch makes the permuted tensor contiguous), so the memory
model counts their traffic (read the input, write the output) and their output as a new tensor;
their backward is the inverse permutation of the gradient and saves nothing.
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING

from ..cost import Cost
from .counting import THOP_ZERO, Counted, Counting, Prediction
from .grad import no_backward
from .receptive import POINTWISE, RF, Taps, taps, window
from .registry import MAX_DIM, NodeLike, Saves, Shape, ShapeError, arg, lazy_args, op, pos_int
from .shapes import fmt_shape, numel
from .spatial import refuse_tokens, spatial_check

if TYPE_CHECKING:
    from torch import Tensor, nn


def _moved(a: object, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
    return Cost(activations=batch * numel(out))  # data movement only


@lazy_args
class ShuffleArgs:
    """Arguments of `channel_shuffle`."""

    groups: int = field(metadata=arg(pos_int, "groups the channels are interleaved from (must divide them)"))


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """torchvision's channel_shuffle (shufflenetv2.py), for any rank: view, transpose, contiguous, view."""
    n, c, *rest = x.size()
    x = x.view(n, groups, c // groups, *rest).transpose(1, 2).contiguous()
    return x.view(n, -1, *rest)


@op("channel_shuffle", category="shuffle", args=ShuffleArgs)
class ChannelShuffle:
    """Interleaves the channels of `groups` groups (ShuffleNet; torchvision's view/transpose/contiguous/view).
    A copy, no arithmetic. Built as torchvision writes it; torch's nn.ChannelShuffle would run
    aten::channel_shuffle, which fvcore does not know."""

    saves = Saves.NOTHING
    backward = staticmethod(no_backward)  # the inverse permutation of the gradient
    rf = POINTWISE
    counting = Counting(
        "aten::transpose", "view/transpose/contiguous",
        fvcore=Counted(
            lambda node, cost, batch: Prediction.unseen("aten::view, transpose and contiguous are on fvcore's ignore list")
        ),
        ptflops=Counted(lambda node, cost, batch: Prediction.unseen("ptflops sees no module and patches no view/transpose")),
    )

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.call import Call

        groups = node.args.groups
        return Call(lambda x: channel_shuffle(x, groups), f"channel_shuffle(groups={groups})")

    @staticmethod
    def shape(a: ShuffleArgs, inputs: tuple[Shape, ...]) -> Shape:
        refuse_tokens("channel_shuffle", inputs[0])
        c = inputs[0][0]
        if c % a.groups:
            raise ShapeError(f"groups={a.groups} must divide the {c} input channels", "groups")
        return inputs[0]

    cost = staticmethod(_moved)


@lazy_args
class FactorArgs:
    """Arguments of `pixel_shuffle` and `pixel_unshuffle`."""

    factor: int = field(metadata=arg(pos_int, "upscale (shuffle) or downscale (unshuffle) factor r"))


def _shuffle_rf(a: FactorArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
    """Pixel shuffle: output row (column) o comes from input row o // r (of the channel group o mod r)."""
    r = a.factor
    return taps(Taps(r, 1, ((0,),) * r), Taps(r, 1, ((0,),) * r))


def _unshuffle_rf(a: FactorArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
    """Pixel unshuffle: output position o gathers the r×r block at o·r (one input element per channel)."""
    return taps(window(a.factor, a.factor, 0), window(a.factor, a.factor, 0))


@op("pixel_shuffle", category="shuffle", args=FactorArgs)
class PixelShuffle:
    """Rearranges C·r²×H×W into C×rH×rW (torch.nn.PixelShuffle); a copy, no arithmetic."""

    spellings = ("pixelshuffle",)

    saves = Saves.NOTHING
    backward = staticmethod(no_backward)  # the inverse permutation of the gradient
    rf = staticmethod(_shuffle_rf)
    counting = Counting("aten::pixel_shuffle", "nn.PixelShuffle", thop=THOP_ZERO)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        return nn.PixelShuffle(node.args.factor)

    @staticmethod
    def shape(a: FactorArgs, inputs: tuple[Shape, ...]) -> Shape:
        c, h, w = spatial_check("pixel_shuffle", inputs[0])
        r2 = a.factor * a.factor
        if c % r2:
            raise ShapeError(f"the {c} input channels must be a multiple of factor² = {r2}", "factor")
        if max(h, w) * a.factor > MAX_DIM:
            raise ShapeError(f"{fmt_shape((h, w))} times {a.factor} is more than the limit of {MAX_DIM:,}", "factor")
        return (c // r2, h * a.factor, w * a.factor)

    cost = staticmethod(_moved)


@op("pixel_unshuffle", category="shuffle", args=FactorArgs)
class PixelUnshuffle:
    """Rearranges C×rH×rW into C·r²×H×W (torch.nn.PixelUnshuffle); a copy, no arithmetic."""

    saves = Saves.NOTHING
    backward = staticmethod(no_backward)  # the inverse permutation of the gradient
    rf = staticmethod(_unshuffle_rf)
    counting = Counting("aten::pixel_unshuffle", "nn.PixelUnshuffle")

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        return nn.PixelUnshuffle(node.args.factor)

    @staticmethod
    def shape(a: FactorArgs, inputs: tuple[Shape, ...]) -> Shape:
        c, h, w = spatial_check("pixel_unshuffle", inputs[0])
        if h % a.factor or w % a.factor:
            raise ShapeError(f"factor {a.factor} must divide H×W = {fmt_shape((h, w))}", "factor")
        if c * a.factor * a.factor > MAX_DIM:
            raise ShapeError(f"{c} channels times {a.factor}² is more than the limit of {MAX_DIM:,} (docs/limits.md)", "factor")
        return (c * a.factor * a.factor, h // a.factor, w // a.factor)

    cost = staticmethod(_moved)
