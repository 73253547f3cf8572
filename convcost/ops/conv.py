"""Convolution: the one rule behind conv, pointwise and depthwise layers, in 1, 2 or 3 spatial dims.

Like fvcore's handle, MACs come from the weight shape (C_out, C_in/groups, *kernel) times the
number of output positions, so groups, dilation and the input's rank need no special case.

A conv's weight may be standardised in every forward (`weight: standardised`, timm's StdConv2d; `weight: scaled`,
its ScaledStdConv2d of NFNets, times a learned gain per output channel): still a conv, whose params are its
parameters' (the weight, the bias, the gain); the standardisation is a norm over the weight, once per forward
whatever the batch (3 ops per weight element: mean, variance, normalise; 4 with the gain's scale), which fvcore
and calflops count as the training-mode batch norm it runs (5 per weight element with the gain, 4 without). A fixed
filter held as a buffer (`weight: fixed`, timm's BlurPool2d) is a conv whose weight counts as buffers, not params.
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING, Any

from ..cost import Backward, Cost
from .counting import PTFLOPS_BIAS_WHY, BackwardCounted, Counted, Counting, Prediction
from .grad import NORM_INPUT_OPS, NORM_SHARED_OPS, Need, matmul_backward
from .receptive import RF, windows
from .registry import (
    Dims,
    NodeLike,
    Saves,
    Shape,
    ShapeError,
    arg,
    boolean,
    choice,
    lazy_args,
    number,
    op,
    padding,
    per_dim,
    pos_float,
    pos_int,
    refuse_unless,
    spec_dims,
)
from .shapes import numel
from .spatial import AXES, fit, spatial_input

if TYPE_CHECKING:
    from torch import nn


PLAIN, STANDARDISED, SCALED, FIXED = "plain", "standardised", "scaled", "fixed"
WEIGHT_FORMS = (PLAIN, STANDARDISED, SCALED, FIXED)
STD_FORMS = (STANDARDISED, SCALED)
STD_EPS = 1e-6  # timm's StdConv2d and ScaledStdConv2d (NFNets pass 1e-5)
STD_OPS = 3  # a standardised weight, per element: mean, variance, normalise (a layer norm without affine)
SCALED_STD_OPS = 4  # and the gain's scale (a layer norm with a scale and no shift)


@lazy_args
class ConvArgs:
    """Arguments of `conv` (each field's metadata: its converter and doc)."""

    out: int = field(metadata=arg(pos_int, "output channels"))
    kernel: Dims = field(metadata=arg(per_dim(pos_int), "kernel size, k or one per spatial dim ([kh, kw])"))
    stride: Dims = field(default=1, metadata=arg(per_dim(pos_int), "stride"))
    padding: Dims | str = field(
        default=0, metadata=arg(padding, "zero padding per side, [ph, pw], 'same' or 'valid'")
    )
    dilation: Dims = field(default=1, metadata=arg(per_dim(pos_int), "dilation"))
    groups: int = field(default=1, metadata=arg(pos_int, "groups (in and out channels must divide)"))
    bias: bool = field(default=True, metadata=arg(boolean, "learnable bias"))
    weight: str = field(
        default="plain",
        metadata=arg(choice(*WEIGHT_FORMS), "the weight as the forward uses it: 'plain'; 'standardised' in every forward over "
                     "each output channel's fan-in (timm's StdConv2d); 'scaled': standardised, times a learned gain per "
                     "output channel and gamma/√fan-in (timm's ScaledStdConv2d, NFNets; C_out more params); 'fixed': a "
                     "filter held as a buffer, not learned (timm's BlurPool2d): buffers, not params"),
    )
    eps: float = field(default=STD_EPS, metadata=arg(pos_float, "epsilon of a standardised weight's variance"))
    gamma: float = field(
        default=1.0, metadata=arg(number, "a scaled weight's constant factor (timm's gamma): values only", compared=False)
    )


def resolve_conv(a: ConvArgs, inputs: tuple[Shape, ...], kind: str = "conv") -> ConvArgs:
    """The arguments with one value per spatial dim of the input (ops/spatial.py)."""
    shape = inputs[0]
    spatial_input(kind, shape)
    pad = a.padding if isinstance(a.padding, str) else fit(a.padding, "padding", shape)
    # positional, not dataclasses.replace: this runs for every conv layer (analyze's speed)
    return ConvArgs(
        a.out, fit(a.kernel, "kernel", shape), fit(a.stride, "stride", shape), pad, fit(a.dilation, "dilation", shape),
        a.groups, a.bias, a.weight, a.eps, a.gamma,
    )


def weight_form(node: NodeLike) -> str:
    """'plain', 'standardised', 'scaled' or 'fixed' (ops built as a conv without the argument, patch_embed's: 'plain')."""
    return getattr(node.args, "weight", PLAIN)


def weight_numel(a: ConvArgs, c_in: int) -> int:
    return a.out * (c_in // a.groups) * numel(a.kernel)


def weight_norm(node: NodeLike) -> int:
    """What fvcore and calflops count for the standardisation of the weight: the training-mode batch norm over the
    (1, C_out, fan-in) weight, 5 per element with the gain as its weight, 4 without; 0 for a plain weight."""
    form = weight_form(node)
    if form not in STD_FORMS:
        return 0
    return (5 if form == SCALED else 4) * weight_numel(node.args, node.in_shapes[0][0])


_STD_WHY = ("a conv that standardises its weight in its forward (timm's StdConv2d, ScaledStdConv2d) is a subclass of "
            "nn.Conv{n}d, and it patches neither F.conv{n}d nor F.batch_norm")
_FIXED_WHY = ("a conv with a fixed filter (timm's BlurPool2d) is a module of its own calling F.conv{n}d, which it does "
              "not patch")


def _form_unseen(tool: str, fallback: Counted) -> Counted:
    """A module-hook tool (ptflops, thop) on a conv whose weight is standardised (its class is a subclass of nn.ConvNd)
    or fixed (a module of its own, as timm's BlurPool2d): unseen."""

    def predict(node: NodeLike, cost: Cost, batch: int) -> Prediction:
        form = weight_form(node)
        if form != PLAIN:
            why = f"{tool} looks its hooks up by exact type: {_FIXED_WHY if form == FIXED else _STD_WHY}"
            return Prediction.unseen(why.replace("{n}", str(len(node.in_shapes[0]) - 1)))
        return fallback.predict(node, cost, batch)

    return Counted(predict, fallback.why, fallback.part)


def _torchscan(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    if weight_form(node) == FIXED:
        return Prediction.unseen("torchscan has no MAC formula for a module that is not an nn.Conv (timm's BlurPool2d)")
    return Prediction.of(conv=cost.macs)


def _torchinfo(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    if weight_form(node) != FIXED:
        return CONV_TORCHINFO.predict(node, cost, batch)
    if not cost.params:  # its class name holds no 'Conv': the non-conv formula, batch × its parameters (the bias)
        return Prediction.unseen("torchinfo counts mult-adds from a module's parameters; a fixed filter has none")
    return Prediction.of(bias=batch * cost.params)


def conv_out_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool = False) -> int:
    """floor((size + 2p - d(k-1) - 1) / s) + 1, or torch's ceil-mode variant."""
    span = size + 2 * p - d * (k - 1) - 1
    if not ceil_mode:
        return span // s + 1
    out = -(-span // s) + 1
    if (out - 1) * s >= size + p:  # torch: the last window must start inside the input or left padding
        out -= 1
    return out


def same_padding(kernel: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[int, ...]:
    """⌊d(k-1)/2⌋ per side: 'same' padding (stride 1) split as torch does when it is symmetric."""
    return tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))


def explicit_padding(a: ConvArgs) -> tuple[int, ...]:
    """Per-side padding; for 'same' (stride 1) the total d(k-1), split as torch does."""
    if a.padding == "valid":
        return (0,) * len(a.kernel)
    if a.padding == "same":
        return same_padding(a.kernel, a.dilation)
    assert isinstance(a.padding, tuple)
    return a.padding


def torch_padding(a: ConvArgs) -> str | tuple[int, ...]:
    """What the module is built with: the spec's padding as written, 'same' and 'valid' as torch's strings. A
    string-padded conv runs as aten::_convolution_mode, which fvcore cannot see (see _fvcore): a spec that says
    `padding: same` describes a model built so (ConvMixer), and its fvcore count is predicted for that module."""
    return a.padding if isinstance(a.padding, str) else explicit_padding(a)


def _fvcore(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    norm = weight_norm(node)  # aten::batch_norm in training mode over the weight: norm_flop_counter, once per forward
    if isinstance(node.args.padding, str):
        why = (f"padding '{node.args.padding}' runs as aten::_convolution_mode, which fvcore has no handle for "
               "(it reports it as unsupported)")
        return Prediction.of(why, batch_norm=norm) if norm else Prediction.unseen(why)
    return Prediction.of(conv=cost.macs, batch_norm=norm) if norm else Prediction.of(conv=cost.macs)


# How FlopCounterMode, ptflops and thop count an nn.Conv: shared with the ops built as one (patch_embed).
CONV_FLOP_COUNTER = Counted(
    lambda node, cost, batch: Prediction.of("aten.convolution: 2 FLOPs per MAC", conv=2 * cost.macs),
    "FlopCounterMode reports 2 FLOPs per MAC",
)
# conv_flops_counter_hook: MACs, + bias per output element
CONV_PTFLOPS = Counted(lambda node, cost, batch: Prediction.of(conv=cost.macs, bias=cost.bias_ops), PTFLOPS_BIAS_WHY, "bias")
CONV_THOP = Counted(lambda node, cost, batch: Prediction.of(conv=cost.macs))
# ptflops' aten backend (conv_flop): MACs, + bias per output element when the conv has one
CONV_PTFLOPS_ATEN = Counted(
    lambda node, cost, batch: Prediction.of(conv=cost.macs, bias=cost.bias_ops),
    "ptflops' aten backend adds a conv's bias per output element and a linear's per output feature (addmm)", "bias",
)
# torchinfo (a class named Conv*): every weight and bias element once per output position: MACs + the bias adds
CONV_TORCHINFO = Counted(
    lambda node, cost, batch: Prediction.of(conv=cost.macs, bias=cost.bias_ops),
    "torchinfo counts a conv's bias once per output position", "bias",
)
# torchscan (macs_convnd): out.numel() · (C_in / groups) · prod(kernel), the bias inside the accumulation
CONV_TORCHSCAN = Counted(lambda node, cost, batch: Prediction.of(conv=cost.macs))
# calflops' patched F.conv{n}d: MACs; FLOPs 2 per MAC + the bias per output element


def calflops_conv_positions(node: NodeLike, batch: int) -> int:
    """The output positions calflops' _conv_flops_compute works out itself: for padding 'same' it pads ⌊d(k−1)/2⌋
    per side, so an even kernel loses one position per dim (torch pads the extra one on the right)."""
    a: ConvArgs = node.args
    pads = explicit_padding(a)
    positions = batch
    for size, k, s, p, d in zip(node.in_shapes[0][1:], a.kernel, a.stride, pads, a.dilation):
        positions *= (size + 2 * p - d * (k - 1) - 1) // s + 1
    return positions


def _calflops_conv_flops(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    a: ConvArgs = node.args
    weight = a.out * (node.in_shapes[0][0] // a.groups) * numel(a.kernel)
    positions = calflops_conv_positions(node, batch)
    norm = weight_norm(node)  # its patched F.batch_norm in training mode: 5 per element with a weight, 4 without
    parts = {"batch_norm": norm} if norm else {}
    return Prediction.of(conv=2 * positions * weight, bias=positions * a.out if a.bias else 0, **parts)


def _calflops_conv_macs(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    a: ConvArgs = node.args
    return Prediction.of(conv=calflops_conv_positions(node, batch) * a.out * (node.in_shapes[0][0] // a.groups)
                         * numel(a.kernel))


CONV_CALFLOPS = Counted(_calflops_conv_macs, "calflops works out a 'same' conv's output itself (⌊d(k−1)/2⌋ a side)")
CONV_CALFLOPS_FLOPS = Counted(
    _calflops_conv_flops, "calflops counts 2 FLOPs per MAC and a conv's bias per output element (not a linear's)", "bias",
)
_FVCORE_WHY = ("fvcore cannot see convs padded 'same' or 'valid' (aten::_convolution_mode); it counts a standardised "
               "weight's batch norm 5 per weight element with the gain, 4 without, once per forward")


def _conv_flop_counter_backward(node: NodeLike, grads: Backward, batch: int) -> Prediction:
    # torch's conv_backward_flop: the input's gradient at 2 FLOPs per MAC; the weight's as conv_flop_count over
    # the transposed input and gradient ([C_in, N, ...] and [C_out, N, ...]), i.e. C_in·C_out·N·prod(positions)·
    # prod(k)·2: all C_in channels, not C_in/groups, so a grouped or depthwise conv's weight gradient is counted
    # ×groups (exact for groups=1)
    groups = getattr(node.args, "groups", 1)
    if not grads.macs:
        return Prediction.unseen("no gradient computed")
    cat = node.rule.counting.category
    return Prediction.of("aten.convolution_backward: 2 FLOPs per MAC, the weight gradient ×groups",
                         **{cat: 2 * grads.input_macs + 2 * groups * grads.weight_macs})


CONV_FLOP_COUNTER_BACKWARD = BackwardCounted(
    _conv_flop_counter_backward,
    "FlopCounterMode counts a conv's weight gradient over all C_in channels: ×groups for grouped and depthwise convs",
)


@op("conv", category="conv", args=ConvArgs)
class Conv:
    """Convolution (torch.nn.Conv1d / Conv2d / Conv3d on C×L, C×H×W, C×D×H×W).
    `same` needs stride 1, as in torch; `same` and `valid` build torch's padding='same' / 'valid' (as ConvMixer
    writes it), a conv fvcore does not count. `weight: standardised` / `scaled` build timm's StdConv / ScaledStdConv
    (subclasses of nn.Conv{n}d): the weight standardised once per forward, 3 norm ops per weight element (4 scaled);
    `weight: fixed` a filter held as a buffer (timm's BlurPool2d): buffers, not params."""

    imports = ("Conv1d", "Conv2d", "Conv3d")

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        refuse_unless(m.padding_mode == "zeros", f"padding_mode='{m.padding_mode}'")
        pad = m.padding if isinstance(m.padding, str) else spec_dims(m.padding)
        return {"out": m.out_channels, "kernel": spec_dims(m.kernel_size), "stride": spec_dims(m.stride), "padding": pad,
                "dilation": spec_dims(m.dilation), "groups": m.groups, "bias": m.bias is not None}

    @staticmethod
    def saved_extra(node: NodeLike, batch: int, elem: int) -> int:
        """A standardised weight: the conv keeps it (a new tensor, not the parameter); unless the layer is frozen, the
        batch norm over the weight keeps its mean and inverse std per output channel (fp32) and a scaled weight's
        gain · scale (a new C_out tensor)."""
        form = weight_form(node)
        if form not in STD_FORMS:
            return 0
        a: ConvArgs = node.args
        kept = weight_numel(a, node.in_shapes[0][0]) * elem
        if not getattr(node, "frozen", False):
            kept += 2 * a.out * 4 + (a.out * elem if form == SCALED else 0)
        return kept

    # the input, for the weight's gradient; frozen too: torch's convolution_backward is one formula for input, weight
    # and bias, so autograd keeps the input whenever any of them needs a gradient (torch 2.13: a frozen conv after a
    # trainable layer keeps its input)
    saves = Saves.INPUTS
    resolve = staticmethod(resolve_conv)
    counting = Counting(
        "aten::_convolution", "nn.Conv{n}d",
        fvcore=Counted(_fvcore, _FVCORE_WHY),
        flop_counter=CONV_FLOP_COUNTER,
        ptflops=_form_unseen("ptflops", CONV_PTFLOPS),
        thop=_form_unseen("thop", CONV_THOP),
        thop_params=_form_unseen("thop", Counted(lambda node, cost, batch: Prediction.of(params=cost.params))),
        subclass=True,
        ptflops_aten=CONV_PTFLOPS_ATEN,
        torchinfo=Counted(_torchinfo, CONV_TORCHINFO.why, CONV_TORCHINFO.part),
        torchscan=Counted(_torchscan),
        calflops=CONV_CALFLOPS,
        calflops_flops=CONV_CALFLOPS_FLOPS,
        flop_counter_backward=CONV_FLOP_COUNTER_BACKWARD,
    )

    @staticmethod
    def rf(a: ConvArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
        return windows(a.kernel, a.stride, explicit_padding(a), a.dilation)  # 'same': torch's left padding

    @staticmethod
    def backward(a: ConvArgs, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
        # input: a transposed conv of g with the weight; weight: a conv of x with g; bias: Σg (ops/grad.py); a
        # standardised weight's gradient then goes back through its norm (a normalisation's backward per weight element)
        grads = matmul_backward(Conv.cost(a, inputs, out, batch), need)
        if a.weight == FIXED:  # no weight gradient: only the bias's, if any
            return Backward(grads.input_macs, 0, 0, grads.weight_ops, 0)
        if a.weight == PLAIN or not need.weights:
            return grads
        return grads + Backward(weight_ops=(NORM_SHARED_OPS + NORM_INPUT_OPS) * weight_numel(a, inputs[0][0]))

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        a: ConvArgs = node.args
        if a.weight == FIXED:
            from ..modules.conv_weights import FixedFilter

            return FixedFilter(node.in_shapes[0][0], a.out, a.kernel, stride=a.stride, padding=torch_padding(a),
                               dilation=a.dilation, groups=a.groups, bias=a.bias)
        if a.weight != PLAIN:
            from ..modules.conv_weights import std_conv

            return std_conv(len(a.kernel), a.weight == SCALED, node.in_shapes[0][0], a.out, a.kernel, eps=a.eps,
                            gamma=a.gamma, stride=a.stride, padding=torch_padding(a), dilation=a.dilation,
                            groups=a.groups, bias=a.bias)
        cls = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[len(a.kernel) - 1]
        return cls(
            node.in_shapes[0][0], a.out, a.kernel, stride=a.stride, padding=torch_padding(a), dilation=a.dilation,
            groups=a.groups, bias=a.bias,
        )

    @staticmethod
    def shape(a: ConvArgs, inputs: tuple[Shape, ...]) -> Shape:
        c, sizes = spatial_input("conv", inputs[0])
        if c % a.groups:
            raise ShapeError(f"groups={a.groups} must divide in_channels={c}", "groups")
        if a.out % a.groups:
            raise ShapeError(f"groups={a.groups} must divide out={a.out}", "groups")
        if a.padding == "same" and any(s != 1 for s in a.stride):
            raise ShapeError("padding 'same' needs stride 1 (as in torch); give explicit padding", "padding")
        if a.weight != SCALED and a.gamma != 1.0:
            raise ShapeError("gamma scales a `weight: scaled` conv's gain; this conv's weight is " + a.weight, "gamma")
        if a.weight not in STD_FORMS and a.eps != STD_EPS:
            raise ShapeError("eps belongs to a standardised weight (`weight: standardised` or `scaled`); this one is "
                             + a.weight, "eps")
        if a.padding == "same":
            return (a.out, *sizes)
        dims = []
        for size, k, s, p, d, axis in zip(sizes, a.kernel, a.stride, explicit_padding(a), a.dilation, AXES[len(sizes)]):
            eff = d * (k - 1) + 1
            if eff > size + 2 * p:
                dil = f" (dilated to {eff})" if d > 1 else ""
                raise ShapeError(
                    f"kernel {k}{dil} is larger than the padded input {axis}={size + 2 * p} ({size} + 2·{p})",
                    "kernel",
                )
            dims.append(conv_out_size(size, k, s, p, d))
        return (a.out, *dims)

    @staticmethod
    def tensors(a: ConvArgs, inputs: tuple[Shape, ...], out: Shape) -> dict[str, tuple[int, ...]]:
        weight = (a.out, inputs[0][0] // a.groups, *a.kernel)
        held = {"weight": weight, "bias": (a.out,)} if a.bias else {"weight": weight}
        if a.weight == FIXED:  # a buffer: not a parameter it could share (`tied`)
            return {k: v for k, v in held.items() if k != "weight"}
        return {**held, "gain": (a.out, *(1 for _ in weight[1:]))} if a.weight == SCALED else held

    @staticmethod
    def cost(a: ConvArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        c_in = inputs[0][0]
        weight = a.out * (c_in // a.groups) * numel(a.kernel)
        positions = batch * numel(out[1:])
        if a.weight == PLAIN:
            return Cost(
                params=weight + (a.out if a.bias else 0),
                macs=positions * weight,  # = N·prod(out spatial)·Cout·(Cin/groups)·prod(kernel)
                bias_ops=positions * a.out if a.bias else 0,
                activations=positions * out[0],
            )
        if a.weight == FIXED:  # the filter is a buffer
            return Cost(
                params=a.out if a.bias else 0,
                buffers=weight,
                macs=positions * weight,
                bias_ops=positions * a.out if a.bias else 0,
                activations=positions * out[0],
            )
        scaled = a.weight == SCALED
        return Cost(  # the gain's C_out params; the weight's norm once per forward, not per sample
            params=weight + (a.out if a.bias else 0) + (a.out if scaled else 0),
            macs=positions * weight,
            bias_ops=positions * a.out if a.bias else 0,
            norm_ops=(SCALED_STD_OPS if scaled else STD_OPS) * weight,
            activations=positions * out[0],
        )
