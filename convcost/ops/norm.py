"""Norms that compute their statistics at inference (layer, group and instance norm) and layer scale.

Batch norm, whose inference statistics are fixed, is in basic.py. Every op here takes C followed
by any number of spatial dims ([C], [C, L], [C, H, W], [C, D, H, W]), as torch's modules do.

Counting convention (docs/conventions.md): a norm that computes its statistics at inference counts
5 ops per element with affine (mean, variance, normalise, scale, shift) and 3 without (mean,
variance, normalise), 4 for a layer norm with a scale and no shift (nn.LayerNorm(bias=False)); the
per-statistic work (one square root per normalised group) is not counted. Instance norm with running
statistics normalises with them, as batch norm does: a folded scale and shift, 2 per element.
Layer scale is one multiply per element.
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import TYPE_CHECKING, Any

from ..cost import Backward, Cost
from .counting import THOP_NO_RULE, Counted, Counting, PredictFn, Prediction, in_elements
from .grad import Need, normalization, per_output_element
from .receptive import POINTWISE, RF, global_rf
from .registry import (
    NodeLike,
    Saves,
    Shape,
    ShapeError,
    arg,
    boolean,
    lazy_args,
    number,
    op,
    pos_float,
    pos_int,
    probability,
    refuse_unless,
)
from .shapes import fmt_shape, is_tokens, numel
from .spatial import refuse_tokens

if TYPE_CHECKING:
    from torch import nn

STAT_BYTES = 4  # the saved mean and inverse std are fp32
STAT_OPS_AFFINE = 5  # mean, variance, normalise, scale, shift
STAT_OPS = 3  # mean, variance, normalise
STAT_OPS_SCALE = 4  # mean, variance, normalise, scale: a weight and no bias (nn.LayerNorm(bias=False))
FOLDED_OPS = 2  # normalising with known statistics: a folded scale and shift (as batch norm)


def _stat_norm_cost(affine: bool, out: Shape, batch: int, per: int | None = None, bias: bool = True) -> Cost:
    c = out[0]
    n = batch * numel(out)
    if per is None:
        per = (STAT_OPS_AFFINE if bias else STAT_OPS_SCALE) if affine else STAT_OPS
    return Cost(params=(1 + bias) * c if affine else 0, norm_ops=per * n, activations=n)


def _norm_backward(a: Any, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
    """Statistics computed in training (ops/grad.py normalization): x̂, g·x̂ and the two sums, then the input's gradient."""
    return normalization(batch * numel(out), need, a.affine)


def _fvcore(label: str) -> Counted:
    """fvcore's norm_flop_counter: 5 per input element with a weight, 4 without ("a rough estimate"); it looks at the
    weight only, so a weight without a bias (layernorm's `bias: false`) is 5 too."""

    def predict(node: NodeLike, cost: Cost, batch: int) -> Prediction:
        per = 5 if node.args.affine else 4
        return Prediction.of(f"aten::{label}: {per} per element", **{label: per * in_elements(node, batch)})

    return Counted(predict, f"fvcore counts {label} 5 per element (4 without affine)")


def _per_element(label: str, per: int) -> PredictFn:
    """A module hook counting ``per`` per input element, twice that with affine (it reads ``affine``)."""

    def predict(node: NodeLike, cost: Cost, batch: int) -> Prediction:
        return Prediction.of(**{label: per * (2 if node.args.affine else 1) * in_elements(node, batch)})

    return predict


def _calflops_stat(label: str) -> Counted:
    """calflops' patched F.layer_norm / F.group_norm / F.instance_norm: 5 per element, 4 without affine (it looks at
    the weight only: `weight is not None`)."""
    return Counted(
        lambda node, cost, batch: Prediction.of(**{label: (5 if node.args.affine else 4) * in_elements(node, batch)}),
        f"calflops counts {label} 5 per element (4 without affine)",
    )


_CALFLOPS_NO_MACS = Counted(lambda node, cost, batch: Prediction.unseen("calflops counts norms as FLOPs, with 0 MACs"))


# ---- layer norm ------------------------------------------------------------------------------
@lazy_args
class LayerNormArgs:
    """Arguments of `layernorm` (those of torch.nn.LayerNorm)."""

    eps: float = field(default=1e-5, metadata=arg(pos_float, "epsilon"))
    affine: bool = field(default=True, metadata=arg(boolean, "learnable scale and shift (elementwise_affine)"))
    bias: bool = field(
        default=True,
        metadata=arg(boolean, "with affine, the learnable shift; false: the scale alone (nn.LayerNorm(bias=False), timm's "
                     "LayerNormNoBias): C params, 4 ops per element"),
    )
    channels_last: bool = field(
        default=False,
        metadata=arg(
            boolean,
            "build it as nn.LayerNorm between permutes (ConvNeXt's block) instead of torchvision's LayerNorm2d: "
            "the same arithmetic, counted differently by ptflops and thop",
        ),
    )


def _ln_is_2d(node: NodeLike) -> bool:
    """Built as torchvision's LayerNorm2d (a subclass module hooks do not know)."""
    return len(node.shape) > 1 and not node.args.channels_last and not is_tokens(node.shape)


def _ln_ptflops(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    if _ln_is_2d(node):
        return Prediction.unseen("ptflops has no module hook for LayerNorm2d (it matches exact module types): a zero-op")
    return Prediction.of(layer_norm=in_elements(node, batch))  # bn_flops_counter_hook: doubles only with `affine`


def _ln_thop(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    if _ln_is_2d(node):
        return Prediction.unseen("thop has no counting method for LayerNorm2d (it matches exact module types)")
    per = 4 if node.args.affine else 2  # count_normalization: 2 per element, ×2 with elementwise_affine (bias or not)
    return Prediction.of(layer_norm=per * in_elements(node, batch))


def _ln_thop_params(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    if _ln_is_2d(node):
        return Prediction.unseen("thop has no rule for LayerNorm2d (a subclass of nn.LayerNorm): its parameters are "
                                 "not counted")
    return Prediction.of(params=cost.params)


@op("layernorm", category="norm", args=LayerNormArgs)
class LayerNorm:
    """Layer normalisation over channels at every position (torchvision's LayerNorm2d; nn.LayerNorm on flat input),
    or of each token over its width D. Statistics computed at inference: 5 ops per element (3 without affine, 4 with
    `bias: false`: a scale and no shift, as nn.LayerNorm(bias=False) and timm's LayerNormNoBias). On
    C×H×W (any spatial rank) it is torchvision's LayerNorm2d (permute, F.layer_norm, permute back), or with
    `channels_last: true` nn.LayerNorm between permutes as in ConvNeXt's block; on tokens nn.LayerNorm(D)."""

    spellings = ("layer_norm",)

    imports = ("LayerNorm",)

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        refuse_unless(len(m.normalized_shape) == 1, f"normalized_shape={list(m.normalized_shape)} (only the last dim)")
        affine = m.weight is not None
        refuse_unless(affine or m.bias is None, "a bias without a weight")
        return {"eps": m.eps, "affine": affine, **({"bias": False} if affine and m.bias is None else {})}

    saves = Saves.INPUTS
    rf = POINTWISE  # over the channels of one position (the width of one token)
    backward = staticmethod(_norm_backward)
    counting = Counting(
        "aten::layer_norm", "nn.LayerNorm", "layer_norm",
        fvcore=_fvcore("layer_norm"),
        ptflops=Counted(
            _ln_ptflops, "ptflops counts nn.LayerNorm 1 per input element (it doubles only for modules with an "
            "`affine` attribute); it has no hook for LayerNorm2d",
        ),
        thop=Counted(_ln_thop, "thop counts nn.LayerNorm 4 per element (2 without affine); LayerNorm2d not at all"),
        subclass=True,
        thop_params=Counted(_ln_thop_params, "thop has no rule for LayerNorm2d: its parameters are not counted"),
        calflops=_CALFLOPS_NO_MACS,
        calflops_flops=_calflops_stat("layer_norm"),
    )

    @staticmethod
    def shape(a: LayerNormArgs, inputs: tuple[Shape, ...]) -> Shape:
        if not a.bias and not a.affine:
            raise ShapeError("'bias: false' drops the shift of affine; without affine there is none: leave it out", "bias")
        if a.channels_last and is_tokens(inputs[0]):
            raise ShapeError("tokens are channels-last already (normalised over D); leave 'channels_last' out",
                             "channels_last")
        if a.channels_last and len(inputs[0]) == 1:
            raise ShapeError("channels_last needs C followed by spatial dims; a flat input is already channels-last",
                             "channels_last")
        return inputs[0]

    @staticmethod
    def tensors(a: LayerNormArgs, inputs: tuple[Shape, ...], out: Shape) -> dict[str, tuple[int, ...]]:
        c = (out[1] if is_tokens(out) else out[0])
        return ({"weight": (c,), "bias": (c,)} if a.bias else {"weight": (c,)}) if a.affine else {}

    @staticmethod
    def cost(a: LayerNormArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        cost = _stat_norm_cost(a.affine, out, batch, bias=a.bias)
        if is_tokens(out):  # normalised over D: 2·D params (D without the bias), not 2·N
            return dataclasses.replace(cost, params=(1 + a.bias) * out[1] if a.affine else 0)
        return cost

    @staticmethod
    def saved_extra(node: NodeLike, batch: int, elem: int) -> int:
        positions = node.shape[0] if is_tokens(node.shape) else numel(node.shape[1:])  # tokens: one per token
        return 2 * batch * positions * STAT_BYTES  # mean and inverse std per position

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        from ..modules.layers import ChannelsLast, LayerNorm2d

        a: LayerNormArgs = node.args
        kw = {"eps": a.eps, "elementwise_affine": a.affine, "bias": a.bias}
        if is_tokens(node.shape):
            return nn.LayerNorm(node.shape[1], **kw)
        c = node.shape[0]
        if len(node.shape) == 1:
            return nn.LayerNorm(c, **kw)
        if a.channels_last:
            return ChannelsLast(nn.LayerNorm(c, **kw))
        return LayerNorm2d(c, **kw)


# ---- group norm ------------------------------------------------------------------------------
@lazy_args
class GroupNormArgs:
    """Arguments of `groupnorm` (those of torch.nn.GroupNorm)."""

    groups: int = field(metadata=arg(pos_int, "groups of channels normalised together (must divide C)"))
    eps: float = field(default=1e-5, metadata=arg(pos_float, "epsilon"))
    affine: bool = field(default=True, metadata=arg(boolean, "learnable per-channel scale and shift"))


@op("groupnorm", category="norm", args=GroupNormArgs)
class GroupNorm:
    """Group normalisation (torch.nn.GroupNorm): statistics per sample and group of channels.
    5 ops per element (3 without affine)."""

    spellings = ("group_norm",)

    imports = ("GroupNorm",)

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        return {"groups": m.num_groups, "eps": m.eps, "affine": m.affine}

    saves = Saves.INPUTS
    rf = global_rf("group norm's statistics span every position")
    backward = staticmethod(_norm_backward)
    counting = Counting(
        "aten::group_norm", "nn.GroupNorm", "group_norm",
        fvcore=_fvcore("group_norm"),
        ptflops=Counted(
            _per_element("group_norm", 1),
            "ptflops counts group norm 1 per input element, 2 with affine",
        ),
        thop=THOP_NO_RULE,
        subclass=True,
        calflops=_CALFLOPS_NO_MACS,
        calflops_flops=_calflops_stat("group_norm"),
    )

    @staticmethod
    def shape(a: GroupNormArgs, inputs: tuple[Shape, ...]) -> Shape:
        refuse_tokens("groupnorm", inputs[0])
        c = inputs[0][0]
        if c % a.groups:
            raise ShapeError(f"groups={a.groups} must divide channels={c}", "groups")
        return inputs[0]

    @staticmethod
    def tensors(a: GroupNormArgs, inputs: tuple[Shape, ...], out: Shape) -> dict[str, tuple[int, ...]]:
        c = out[0]
        return {"weight": (c,), "bias": (c,)} if a.affine else {}

    @staticmethod
    def cost(a: GroupNormArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return _stat_norm_cost(a.affine, out, batch)

    @staticmethod
    def saved_extra(node: NodeLike, batch: int, elem: int) -> int:
        return 2 * batch * node.args.groups * STAT_BYTES  # mean and inverse std per sample and group

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        a: GroupNormArgs = node.args
        return nn.GroupNorm(a.groups, node.shape[0], eps=a.eps, affine=a.affine)


# ---- instance norm ---------------------------------------------------------------------------
@lazy_args
class InstanceNormArgs:
    """Arguments of `instancenorm` (those of torch.nn.InstanceNorm2d, with its defaults)."""

    eps: float = field(default=1e-5, metadata=arg(pos_float, "epsilon"))
    momentum: float = field(default=0.1, metadata=arg(probability, "running-stats momentum", compared=False))
    affine: bool = field(default=False, metadata=arg(boolean, "learnable scale and shift"))
    track_running_stats: bool = field(
        default=False, metadata=arg(boolean, "keep running statistics and normalise with them at inference")
    )


@op("instancenorm", category="norm", args=InstanceNormArgs)
class InstanceNorm:
    """Instance normalisation (torch.nn.InstanceNorm1d/2d/3d by the input's rank): statistics per sample and channel.
    5 ops per element (3 without affine, torch's default); with `track_running_stats` it normalises
    with the running statistics at inference, 2 per element as batch norm."""

    spellings = ("instance_norm",)

    imports = ("InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d")

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        return {"eps": m.eps, "momentum": m.momentum, "affine": m.affine, "track_running_stats": m.track_running_stats}

    saves = Saves.INPUTS
    backward = staticmethod(_norm_backward)  # training normalises with each instance's statistics

    @staticmethod
    def rf(a: InstanceNormArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
        # at inference: the running statistics (a per-channel scale), else each instance's, over every position
        return POINTWISE if a.track_running_stats else INSTANCE_RF
    counting = Counting(
        "aten::instance_norm", "nn.InstanceNorm2d", "instance_norm",
        fvcore=_fvcore("instance_norm"),
        ptflops=Counted(
            _per_element("instance_norm", 1),
            "ptflops counts instance norm 1 per input element, 2 with affine",
        ),
        thop=Counted(
            _per_element("instance_norm", 2),
            "thop counts instance norm 2 per element, ×2 again with affine",
        ),
        subclass=True,
        calflops=_CALFLOPS_NO_MACS,
        calflops_flops=_calflops_stat("instance_norm"),
    )

    @staticmethod
    def unread_buffers(node: NodeLike) -> int:
        return 1 if node.args.track_running_stats else 0  # num_batches_tracked

    @staticmethod
    def shape(a: InstanceNormArgs, inputs: tuple[Shape, ...]) -> Shape:
        refuse_tokens("instancenorm", inputs[0])
        if not 2 <= len(inputs[0]) <= 4:  # nn.InstanceNorm1d/2d/3d
            raise ShapeError(f"instancenorm needs C followed by 1 to 3 spatial dims, got {fmt_shape(inputs[0])}")
        return inputs[0]

    @staticmethod
    def cost(a: InstanceNormArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        cost = _stat_norm_cost(a.affine, out, batch, FOLDED_OPS if a.track_running_stats else None)
        if a.track_running_stats:
            return Cost(params=cost.params, buffers=2 * out[0] + 1, norm_ops=cost.norm_ops, activations=cost.activations)
        return cost

    @staticmethod
    def saved_extra(node: NodeLike, batch: int, elem: int) -> int:
        # torch runs it as batch norm on a 1×(N·C)×… view: it saves the mean and inverse std per sample and
        # channel, and the weight and running stats repeated N times (new tensors, not the parameters)
        a: InstanceNormArgs = node.args
        return (2 + a.affine + 2 * a.track_running_stats) * batch * node.shape[0] * STAT_BYTES

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        a: InstanceNormArgs = node.args
        cls = {2: nn.InstanceNorm1d, 3: nn.InstanceNorm2d, 4: nn.InstanceNorm3d}[len(node.shape)]
        return cls(node.shape[0], eps=a.eps, momentum=a.momentum, affine=a.affine,
                   track_running_stats=a.track_running_stats)


INSTANCE_RF = global_rf("instance norm's statistics span every position")


# ---- layer scale -----------------------------------------------------------------------------
@lazy_args
class LayerScaleArgs:
    """Arguments of `layer_scale`."""

    init: float = field(default=1e-6, metadata=arg(number, "initial value of the scale (torchvision: 1e-6)", compared=False))


@op("layer_scale", category="norm", args=LayerScaleArgs)
class LayerScale:
    """Learnable per-channel scale, C params, 1 multiply per element (ConvNeXt's layer scale).
    Built as torchvision's CNBlock does it: a (C, 1, 1) parameter times the input (aten::mul)."""

    saves = Saves.INPUTS  # d(scale)/… needs the input
    saves_frozen = Saves.NOTHING  # the input's gradient is g·scale
    counting = Counting(
        "aten::mul", "LayerScale",
        # torchvision's layer_scale is a parameter of CNBlock (not a leaf); convcost's LayerScale calls it 'scale':
        # torchinfo reads only parameters named weight or bias
        torchinfo=Counted(lambda node, cost, batch: Prediction.unseen(
            "torchinfo counts mult-adds only for parameters named weight or bias (layer scale's is not)"
        )),
    )
    rf = POINTWISE
    backward = staticmethod(per_output_element(1, 2))  # input: g·scale; scale: Σ g·x (a multiply and an add)

    @staticmethod
    def shape(a: LayerScaleArgs, inputs: tuple[Shape, ...]) -> Shape:
        refuse_tokens("layer_scale", inputs[0])  # its (C, 1, 1) scale is per channel of a map
        return inputs[0]

    @staticmethod
    def cost(a: LayerScaleArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        n = batch * numel(out)
        return Cost(params=out[0], elementwise_ops=n, activations=n)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.layers import LayerScale as Module

        return Module((node.shape[0], *(1 for _ in node.shape[1:])), node.args.init)
