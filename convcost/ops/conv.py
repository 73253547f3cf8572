"""Convolution: the one rule behind conv, pointwise and depthwise layers.

Like fvcore's handle, MACs come from the weight shape (C_out, C_in/groups, kh, kw) times the
number of output positions, so groups and dilation need no special case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..costmodel.cost import Cost
from .counting import PTFLOPS_BIAS_WHY, Counted, Counting, Prediction
from .registry import NodeLike, Saves, Shape, ShapeError, arg, boolean, op, padding, pair, pos_int
from .shapes import fmt_shape, is_tokens

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ConvArgs:
    """Arguments of `conv` (each field's metadata: its converter and doc)."""

    out: int = field(metadata=arg(pos_int, "output channels"))
    kernel: tuple[int, int] = field(metadata=arg(pair(pos_int), "kernel size, k or [kh, kw]"))
    stride: tuple[int, int] = field(default=(1, 1), metadata=arg(pair(pos_int), "stride"))
    padding: tuple[int, int] | str = field(
        default=(0, 0), metadata=arg(padding, "zero padding per side, [ph, pw], 'same' or 'valid'")
    )
    dilation: tuple[int, int] = field(default=(1, 1), metadata=arg(pair(pos_int), "dilation"))
    groups: int = field(default=1, metadata=arg(pos_int, "groups (in and out channels must divide)"))
    bias: bool = field(default=True, metadata=arg(boolean, "learnable bias"))


def conv_out_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool = False) -> int:
    """floor((size + 2p - d(k-1) - 1) / s) + 1, or torch's ceil-mode variant."""
    span = size + 2 * p - d * (k - 1) - 1
    if not ceil_mode:
        return span // s + 1
    out = -(-span // s) + 1
    if (out - 1) * s >= size + p:  # torch: the last window must start inside the input or left padding
        out -= 1
    return out


def same_padding(kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int]:
    """⌊d(k-1)/2⌋ per side: 'same' padding (stride 1) split as torch does when it is symmetric."""
    return (dilation[0] * (kernel[0] - 1) // 2, dilation[1] * (kernel[1] - 1) // 2)


def explicit_padding(a: ConvArgs) -> tuple[int, int]:
    """Per-side padding; for 'same' (stride 1) the total d(k-1), split as torch does."""
    if a.padding == "valid":
        return (0, 0)
    if a.padding == "same":
        return same_padding(a.kernel, a.dilation)
    assert isinstance(a.padding, tuple)
    return a.padding


def needs_asymmetric_same(a: ConvArgs) -> bool:
    """padding 'same' with an even effective kernel: torch pads one more on the right/bottom."""
    return a.padding == "same" and any(d * (k - 1) % 2 for k, d in zip(a.kernel, a.dilation))


def spatial_check(kind: str, shape: Shape) -> tuple[int, int, int]:
    refuse_tokens(kind, shape)
    if len(shape) != 3:
        raise ShapeError(f"{kind} needs a C×H×W input, got {fmt_shape(shape) or 'a scalar'}")
    return shape[0], shape[1], shape[2]


def refuse_tokens(kind: str, shape: Shape) -> None:
    """A map-only op given tokens: say how to turn them back into a map."""
    if is_tokens(shape):
        raise ShapeError(
            f"{kind} needs a C×H×W map, got tokens {fmt_shape(shape)}; turn them into a map with 'to_map' first"
        )


def torch_padding(a: ConvArgs) -> str | tuple[int, int]:
    """Explicit per-side padding where torch's would be symmetric; the string 'same' only where torch
    pads asymmetrically (even dilated kernel). The two build the same computation, but fvcore cannot
    see a string-padded conv (it is traced as aten::_convolution_mode), so ints are used where possible."""
    return "same" if needs_asymmetric_same(a) else explicit_padding(a)


def _fvcore(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    if needs_asymmetric_same(node.args):
        return Prediction.unseen(
            "padding 'same' with an even kernel runs as aten::_convolution_mode, which fvcore has no handle for"
        )
    return Prediction.of(conv=cost.macs)


@op("conv", category="conv", args=ConvArgs)
class Conv:
    """2-D convolution (torch.nn.Conv2d).
    `same` needs stride 1, as in torch."""

    saves = Saves.INPUTS
    counting = Counting(
        "aten::_convolution", "nn.Conv2d",
        fvcore=Counted(_fvcore, "fvcore cannot see string-padded convs (aten::_convolution_mode)"),
        flop_counter=Counted(
            lambda node, cost, batch: Prediction.of("aten.convolution: 2 FLOPs per MAC", conv=2 * cost.macs),
            "FlopCounterMode reports 2 FLOPs per MAC",
        ),
        # conv_flops_counter_hook: MACs, + bias per output element
        ptflops=Counted(lambda node, cost, batch: Prediction.of(conv=cost.macs, bias=cost.bias_ops), PTFLOPS_BIAS_WHY, "bias"),
        thop=Counted(lambda node, cost, batch: Prediction.of(conv=cost.macs)),
    )

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        a: ConvArgs = node.args
        return nn.Conv2d(
            node.in_shapes[0][0], a.out, a.kernel, stride=a.stride, padding=torch_padding(a), dilation=a.dilation,
            groups=a.groups, bias=a.bias,
        )

    @staticmethod
    def shape(a: ConvArgs, inputs: tuple[Shape, ...]) -> Shape:
        c, h, w = spatial_check("conv", inputs[0])
        if c % a.groups:
            raise ShapeError(f"groups={a.groups} must divide in_channels={c}", "groups")
        if a.out % a.groups:
            raise ShapeError(f"groups={a.groups} must divide out={a.out}", "groups")
        if a.padding == "same" and a.stride != (1, 1):
            raise ShapeError("padding 'same' needs stride 1 (as in torch); give explicit padding", "padding")
        ph, pw = explicit_padding(a)
        if a.padding == "same":
            return (a.out, h, w)
        dims = []
        for size, k, s, p, d, axis in zip((h, w), a.kernel, a.stride, (ph, pw), a.dilation, "HW"):
            eff = d * (k - 1) + 1
            if eff > size + 2 * p:
                dil = f" (dilated to {eff})" if d > 1 else ""
                raise ShapeError(
                    f"kernel {k}{dil} is larger than the padded input {axis}={size + 2 * p} ({size} + 2·{p})",
                    "kernel",
                )
            dims.append(conv_out_size(size, k, s, p, d))
        return (a.out, dims[0], dims[1])

    @staticmethod
    def cost(a: ConvArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        c_in = inputs[0][0]
        weight = a.out * (c_in // a.groups) * a.kernel[0] * a.kernel[1]
        positions = batch * out[1] * out[2]
        return Cost(
            params=weight + (a.out if a.bias else 0),
            macs=positions * weight,  # = N·Ho·Wo·Cout·(Cin/groups)·kh·kw
            bias_ops=positions * a.out if a.bias else 0,
            activations=batch * out[0] * out[1] * out[2],
        )
