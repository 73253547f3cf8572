"""Sugar layers that expand into registered ops: pointwise, depthwise, depthwise-separable.

A macro needs the input shape (depthwise takes its channel count from it), so it expands
while the graph is built; the expansion is a list of (name hint, op name, typed args).
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from .basic import BatchNormArgs
from .conv import ConvArgs, same_padding
from .registry import (  # noqa: F401  (Expansion, Macro and MACROS: re-exported, the macros' table lives in registry.py)
    MACROS,
    REGISTRY,
    ArgError,
    Dims,
    Expansion,
    Macro,
    Shape,
    _show,
    arg,
    boolean,
    lazy_args,
    lookup,
    macro,
    optional,
    padding,
    per_dim,
    pos_int,
    typed,
)
from .spatial import fit, spatial_input


@lazy_args
class PointwiseArgs:
    """Arguments of the `pointwise` sugar."""

    out: int = field(metadata=arg(pos_int, "output channels"))
    stride: Dims = field(default=1, metadata=arg(per_dim(pos_int), "stride"))
    groups: int = field(default=1, metadata=arg(pos_int, "groups"))
    bias: bool = field(default=True, metadata=arg(boolean, "learnable bias"))


@macro("pointwise", PointwiseArgs, "1×1 convolution (channel mixing).")
def _pointwise(a: PointwiseArgs, shape: Shape) -> Expansion:
    stride = fit(a.stride, "stride", shape)  # checked here, so that a message names the macro
    return [("pointwise", "conv", ConvArgs(out=a.out, kernel=1, stride=stride, groups=a.groups, bias=a.bias))]


@lazy_args
class DepthwiseArgs:
    """Arguments of the `depthwise` sugar."""

    kernel: Dims = field(default=3, metadata=arg(per_dim(pos_int), "kernel size"))
    stride: Dims = field(default=1, metadata=arg(per_dim(pos_int), "stride"))
    padding: Dims | str | None = field(
        default=None,
        metadata=arg(optional(padding), "padding: int, [ph, pw], 'same' or 'valid' (default ⌊d·(k−1)/2⌋ per side)"),
    )
    dilation: Dims = field(default=1, metadata=arg(per_dim(pos_int), "dilation"))
    multiplier: int = field(default=1, metadata=arg(pos_int, "channel multiplier (out = in · multiplier)"))
    bias: bool = field(default=True, metadata=arg(boolean, "learnable bias"))


def _depthwise_conv(a: DepthwiseArgs, shape: Shape, kind: str) -> ConvArgs:
    c, _ = spatial_input(kind, shape)
    kernel, dilation = fit(a.kernel, "kernel", shape), fit(a.dilation, "dilation", shape)
    stride = fit(a.stride, "stride", shape)  # checked here, so that a message names the macro
    if a.padding is None:  # ⌊d·(k−1)/2⌋ per side of each spatial dim
        pad: tuple[int, ...] | str = same_padding(kernel, dilation)
    else:
        pad = a.padding if isinstance(a.padding, str) else fit(a.padding, "padding", shape)
    return ConvArgs(out=c * a.multiplier, kernel=kernel, stride=stride, padding=pad, dilation=dilation, groups=c, bias=a.bias)


@macro(
    "depthwise", DepthwiseArgs, "Depthwise convolution: groups = in_channels.",
    "The default padding keeps the size for odd kernels; an even kernel loses one row and column "
    "(`padding: same` keeps it, as torch does).",
)
def _depthwise(a: DepthwiseArgs, shape: Shape) -> Expansion:
    return [("depthwise", "conv", _depthwise_conv(a, shape, "depthwise"))]


@typed(lambda: {"enum": sorted(name for name, rule in REGISTRY.items() if rule.category == "activation")})
def activation(value: Any) -> str:
    """The name of a registered activation (the ones the definitions register, whatever they are)."""
    found = lookup(value) if isinstance(value, str) else None
    if found is None or found.category != "activation" or found.name != value:
        names = [name for name, rule in REGISTRY.items() if rule.category == "activation"]
        raise ArgError(f"must be one of {', '.join(names)}, got {_show(value)}")
    return str(value)


@lazy_args
class SeparableArgs:
    """Arguments of the `dwsep` sugar."""

    out: int = field(metadata=arg(pos_int, "output channels of the pointwise conv"))
    kernel: Dims = field(default=3, metadata=arg(per_dim(pos_int), "depthwise kernel size"))
    stride: Dims = field(default=1, metadata=arg(per_dim(pos_int), "depthwise stride"))
    padding: Dims | str | None = field(
        default=None, metadata=arg(optional(padding), "depthwise padding (default ⌊d·(k−1)/2⌋ per side)")
    )
    dilation: Dims = field(default=1, metadata=arg(per_dim(pos_int), "depthwise dilation"))
    bias: bool | None = field(default=None, metadata=arg(optional(boolean), "conv biases (default: not bn)"))
    bn: bool = field(default=False, metadata=arg(boolean, "batchnorm after each conv"))
    act: str | None = field(default=None, metadata=arg(optional(activation), "activation after each conv (default: none)"))


@macro(
    "dwsep", SeparableArgs, "Depthwise-separable conv: depthwise k×k then pointwise 1×1 (MobileNet).",
    "Each conv optionally followed by BN and the activation; opens a scope.",
)
def _separable(a: SeparableArgs, shape: Shape) -> Expansion:
    bias = (not a.bn) if a.bias is None else a.bias
    dw = _depthwise_conv(DepthwiseArgs(a.kernel, a.stride, a.padding, a.dilation, 1, bias), shape, "dwsep")
    pw = ConvArgs(out=a.out, kernel=1, bias=bias)
    out: Expansion = []
    for hint, conv in (("depthwise", dw), ("pointwise", pw)):
        out.append((hint, "conv", conv))
        if a.bn:
            out.append(("bn", "batchnorm", BatchNormArgs()))
        if a.act:
            out.append((a.act, a.act, REGISTRY[a.act].args()))
    return out
