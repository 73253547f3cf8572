"""Linear, batch norm, and the ops that only move or reshape data (activations: activations.py)."""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING, Any

from ..cost import Backward, Cost
from .counting import (
    FUNCTION,
    FVCORE_IGNORED,
    PTFLOPS_BIAS_WHY,
    THOP_PARAMS,
    THOP_ZERO,
    Counted,
    Counting,
    Prediction,
    form_of,
    in_elements,
    out_elements,
)
from .grad import Need, matmul_backward, no_backward, normalization, per_output_element
from .receptive import POINTWISE, RF, global_rf
from .registry import (
    NodeLike,
    Saves,
    Shape,
    ShapeError,
    arg,
    boolean,
    choice,
    lazy_args,
    op,
    pos_float,
    pos_int,
    probability,
    refuse_unless,
)
from .shapes import fmt_shape, is_tokens, numel, with_width
from .spatial import refuse_tokens
from .tensors import LAYOUT_DOC, dim_index, integer, layout_arg, shaped, show_dims, torch_dims

if TYPE_CHECKING:
    from torch import nn

STAT_BYTES = 4  # batch norm saves its batch mean and inverse std in fp32


@lazy_args
class LinearArgs:
    """Arguments of `linear`."""

    out: int = field(metadata=arg(pos_int, "output features"))
    bias: bool = field(default=True, metadata=arg(boolean, "learnable bias"))
    over: str = field(
        default="features",
        metadata=arg(choice("features", "channels"), "features: a flat input; channels: at every position of C×H×W"),
    )


def _linear_ptflops(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # linear_flops_counter_hook: (in·out + out) per sample and position (or token)
    return Prediction.of(linear=cost.macs, bias=cost.bias_ops)


FLAT_LINEAR_RF = global_rf("a linear layer on a flat vector reads every feature")


@op("linear", category="linear", args=LinearArgs, aliases=("fc",))
class Linear:
    """Fully connected layer (torch.nn.Linear) on a flat feature vector, per token over the width D, or with
    `over: channels` at every position. A flat input needs `flatten` first. On N tokens of width D it is
    N·D·out MACs. `over: channels` mixes the C channels of a C×H×W map (any spatial rank)
    at each position, built as ConvNeXt's pointwise linears are: permute to channels-last, nn.Linear, permute
    back; N·positions·C_in·C_out MACs."""

    imports = ("Linear",)

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        return {"out": m.out_features, "bias": m.bias is not None}

    saves = Saves.INPUTS  # the input, for the weight's gradient (xᵀ·g); the input's gradient needs only the weight
    saves_frozen = Saves.NOTHING
    counting = Counting(
        "aten::linear", "nn.Linear",
        fvcore=Counted(lambda node, cost, batch: Prediction.of(linear=cost.macs)),
        flop_counter=Counted(
            lambda node, cost, batch: Prediction.of("aten.addmm/mm: 2 FLOPs per MAC", linear=2 * cost.macs),
            "FlopCounterMode reports 2 FLOPs per MAC",
        ),
        ptflops=Counted(_linear_ptflops, PTFLOPS_BIAS_WHY, "bias"),
        thop=Counted(lambda node, cost, batch: Prediction.of(linear=cost.macs)),
        subclass=True,
        # aten.addmm with its bias: a 2-D input, a contiguous token sequence (after a norm, as in ViT and Swin),
        # and `over: channels`, whose channels-last input is made contiguous (torchvision's permute, LayerNorm, Linear)
        ptflops_aten=Counted(
            lambda node, cost, batch: Prediction.of(linear=cost.macs, bias=cost.bias_ops),
            "ptflops' aten backend adds a linear's bias per output feature and row (aten.addmm)", "bias",
        ),
        # torchscan's macs_linear: in_features · out.numel()
        torchscan=Counted(lambda node, cost, batch: Prediction.of(linear=cost.macs)),
        # calflops' patched F.linear: input.numel() · out_features MACs; FLOPs 2 per MAC, the bias not counted
        calflops=Counted(lambda node, cost, batch: Prediction.of(linear=cost.macs)),
        calflops_flops=Counted(lambda node, cost, batch: Prediction.of(linear=2 * cost.macs),
                               "calflops counts 2 FLOPs per MAC and no linear bias"),
    )

    @staticmethod
    def shape(a: LinearArgs, inputs: tuple[Shape, ...]) -> Shape:
        if is_tokens(inputs[0]):
            if a.over == "channels":
                raise ShapeError("on tokens linear acts per token over their width D already; leave 'over' out", "over")
            return with_width(inputs[0], a.out)  # per token, over the width D (a grid stays a grid)
        if a.over == "channels":
            if len(inputs[0]) < 2:
                raise ShapeError(
                    f"linear over channels needs C followed by spatial dims, got {fmt_shape(inputs[0]) or 'a scalar'}; "
                    "leave 'over' out for a flat input", "over"
                )
            return (a.out, *inputs[0][1:])
        if len(inputs[0]) != 1:
            raise ShapeError(f"linear needs a flat input, got {fmt_shape(inputs[0])}; add 'flatten' (or a global pool) before it")
        return (a.out,)

    @staticmethod
    def tensors(a: LinearArgs, inputs: tuple[Shape, ...], out: Shape) -> dict[str, tuple[int, ...]]:
        f_in = inputs[0][1] if is_tokens(inputs[0]) else inputs[0][0]
        return {"weight": (a.out, f_in), "bias": (a.out,)} if a.bias else {"weight": (a.out, f_in)}

    @staticmethod
    def rf(a: LinearArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
        if is_tokens(inputs[0]) or a.over == "channels":
            return POINTWISE  # per token, per position
        return FLAT_LINEAR_RF

    @staticmethod
    def backward(a: LinearArgs, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
        return matmul_backward(Linear.cost(a, inputs, out, batch), need)  # g·W, xᵀ·g, Σg

    @staticmethod
    def cost(a: LinearArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        if is_tokens(inputs[0]):
            f_in, rows = inputs[0][1], batch * inputs[0][0]  # over D, for each of the N tokens
        else:
            f_in = inputs[0][0]
            rows = batch * numel(out[1:])  # the samples, times the positions when over channels
        return Cost(
            params=f_in * a.out + (a.out if a.bias else 0),
            macs=rows * f_in * a.out,
            bias_ops=rows * a.out if a.bias else 0,
            activations=rows * a.out,
        )

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        a: LinearArgs = node.args
        f_in = node.in_shapes[0][1] if is_tokens(node.in_shapes[0]) else node.in_shapes[0][0]  # tokens: over D
        linear = nn.Linear(f_in, a.out, bias=a.bias)
        if a.over == "channels":
            from ..modules.layers import ChannelsLast

            return ChannelsLast(linear, contiguous=True)
        return linear


@lazy_args
class BatchNormArgs:
    """Arguments of `batchnorm` (those of torch.nn.BatchNorm2d)."""

    eps: float = field(default=1e-5, metadata=arg(pos_float, "epsilon"))
    momentum: float = field(default=0.1, metadata=arg(probability, "running-stats momentum", compared=False))
    affine: bool = field(default=True, metadata=arg(boolean, "learnable scale and shift"))
    fixed: bool = field(
        default=False,
        metadata=arg(boolean, "scale, shift and statistics held as buffers, run as elementwise ops (torchvision's "
                     "FrozenBatchNorm2d: x * scale + bias): 0 params, 4·C buffers, no num_batches_tracked; needs affine"),
    )
    track_running_stats: bool = field(
        default=True,
        metadata=arg(boolean, "keep running statistics and normalise with them at inference; false: no buffers, the "
                     "batch's own statistics in eval too (torch's track_running_stats=False), 5 ops per element (3 "
                     "without affine)"),
    )


# normalising with the batch's own statistics (track_running_stats: false), as the norms of norm.py count theirs: mean,
# variance, normalise, scale, shift (3 without affine: no scale, no shift)
BATCH_STAT_OPS_AFFINE, BATCH_STAT_OPS = 5, 3


# torchvision's FrozenBatchNorm2d runs mul, add, rsqrt and sub on its buffers: no counter sees a batch norm there
_FROZEN_UNSEEN = {
    "fvcore": "fvcore has no handle for the mul, add, rsqrt and sub a FrozenBatchNorm2d runs (it lists them as unsupported)",
    "ptflops": "ptflops has no module hook for FrozenBatchNorm2d, and its `*` and `+` are not the patched torch.mul/add",
    "thop": "thop has no counting method for FrozenBatchNorm2d",
    "thop_params": "thop has no rule for FrozenBatchNorm2d; it holds buffers only",
    "torchscan": "torchscan has no MAC formula for FrozenBatchNorm2d (not a _BatchNorm)",
    "calflops": "calflops sees no F.batch_norm in FrozenBatchNorm2d (elementwise operators on buffers)",
}


def _unless_fixed(counter: str, counted: Counted) -> Counted:
    """``counted`` for a batch norm, and for a fixed one what ``counter`` sees of torchvision's FrozenBatchNorm2d:
    nothing (measured on the real module: fvcore, FlopCounterMode, ptflops and thop all report 0)."""

    def predict(node: NodeLike, cost: Cost, batch: int) -> Prediction:
        if node.args.fixed:
            return Prediction.unseen(_FROZEN_UNSEEN[counter])
        return counted.predict(node, cost, batch)

    return Counted(predict, counted.why, counted.part)


def _bn_fvcore(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    if not node.args.track_running_stats:  # aten::batch_norm called with training=True: norm_flop_counter's estimate
        per = 5 if node.args.affine else 4
        return Prediction.of(f"aten::batch_norm with the batch's statistics: {per} per element",
                             batch_norm=per * out_elements(node, batch))
    per = 2 if node.args.affine else 1
    return Prediction.of(f"aten::batch_norm in eval: {per} per element", batch_norm=per * out_elements(node, batch))


def _bn_calflops(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # the patched F.batch_norm: training=True (no running statistics) is its estimate, 5 per element (4 without a weight)
    per = (5 if node.args.affine else 4) if not node.args.track_running_stats else 2 if node.args.affine else 1
    return Prediction.of(batch_norm=per * in_elements(node, batch))


@op("batchnorm", category="norm", args=BatchNormArgs, aliases=("bn",))
class BatchNorm:
    """Batch normalisation over channels (torch.nn.BatchNorm1d / 2d / 3d), inference mode.
    1-D on flat and C×L inputs, 2-D on C×H×W, 3-D on C×D×H×W. With `track_running_stats: false` it has no running
    statistics and normalises with the batch's own in eval too: 5 ops per element (3 without affine), no buffers."""

    imports = ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d")

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        if not m.track_running_stats:  # no running statistics: the momentum is never used
            return {"eps": m.eps, "momentum": m.momentum or 0.1, "affine": m.affine, "track_running_stats": False}
        refuse_unless(m.momentum is not None, "momentum=None (a cumulative average)")
        return {"eps": m.eps, "momentum": m.momentum, "affine": m.affine}

    @staticmethod
    def saves(node: NodeLike) -> Saves:
        # fixed: x * scale + bias keeps only the per-channel scale (saved_extra), not the activation
        return Saves.NOTHING if node.args.fixed else Saves.INPUTS

    @staticmethod
    def unread_buffers(node: NodeLike) -> int:
        # num_batches_tracked (FrozenBatchNorm2d has none, nor a batch norm without running statistics)
        return 0 if node.args.fixed or not node.args.track_running_stats else 1

    @staticmethod
    def rf(a: BatchNormArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
        # at inference: a per-channel scale and shift; without running statistics the batch's, over every position
        return POINTWISE if a.track_running_stats else BATCH_STATS_RF

    @staticmethod
    def backward(a: BatchNormArgs, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
        if a.fixed:  # the input's gradient g · scale, 1 per element; its buffers get none
            return Backward(input_ops=batch * numel(out) if need.any_input else 0)
        # in training mode, with the batch's statistics (ops/grad.py normalization)
        return normalization(batch * numel(out), need, a.affine)

    counting = Counting(
        "aten::batch_norm", "nn.BatchNorm{n}d", "batch_norm",
        fvcore=_unless_fixed("fvcore", Counted(_bn_fvcore, "fvcore counts eval batch_norm, 2 per element (1 without affine)")),
        ptflops=_unless_fixed("ptflops", Counted(
            lambda node, cost, batch: Prediction.of(batch_norm=(2 if node.args.affine else 1) * in_elements(node, batch)),
            "ptflops counts batch norm, 2 per input element (1 without affine)",
        )),
        thop=_unless_fixed("thop", Counted(  # calculate_norm: 2 per element, doubled again when affine
            lambda node, cost, batch: Prediction.of(batch_norm=(4 if node.args.affine else 2) * in_elements(node, batch)),
            "thop counts batch norm 2 per element, ×2 again when affine",
        )),
        thop_params=_unless_fixed("thop_params", THOP_PARAMS),
        subclass=True,
        torchscan=_unless_fixed("torchscan", Counted(  # macs_bn in eval: 1 per element, + 1 when affine
            lambda node, cost, batch: Prediction.of(batch_norm=(2 if node.args.affine else 1) * in_elements(node, batch)),
            "torchscan counts batch norm 2 per element (1 without affine)",
        )),
        calflops=Counted(lambda node, cost, batch: Prediction.unseen("calflops counts batch norm as FLOPs, with 0 MACs")),
        calflops_flops=_unless_fixed("calflops", Counted(  # the patched F.batch_norm in eval
            _bn_calflops, "calflops counts eval batch norm 2 per element (1 without affine; 5 and 4 with the batch's "
            "statistics)",
        )),
    )

    @staticmethod
    def shape(a: BatchNormArgs, inputs: tuple[Shape, ...]) -> Shape:
        refuse_tokens("batchnorm", inputs[0])
        if not 1 <= len(inputs[0]) <= 4:
            raise ShapeError("batchnorm needs a flat, C×L, C×H×W or C×D×H×W input")
        if a.fixed and not a.affine:
            raise ShapeError("a fixed batchnorm holds its scale and shift as buffers (torchvision's FrozenBatchNorm2d): "
                             "it needs affine: true")
        if a.fixed and not a.track_running_stats:
            raise ShapeError("a fixed batchnorm normalises with the statistics it holds; 'track_running_stats: false' "
                             "holds none: leave one out", "track_running_stats")
        return inputs[0]

    @staticmethod
    def tensors(a: BatchNormArgs, inputs: tuple[Shape, ...], out: Shape) -> dict[str, tuple[int, ...]]:
        return {"weight": (out[0],), "bias": (out[0],)} if a.affine and not a.fixed else {}

    @staticmethod
    def cost(a: BatchNormArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        c = out[0]
        n = batch * numel(out)
        if not a.track_running_stats:  # the batch's statistics: no buffers, mean and variance computed
            return Cost(params=2 * c if a.affine else 0, norm_ops=(BATCH_STAT_OPS_AFFINE if a.affine else BATCH_STAT_OPS) * n,
                        activations=n)
        return Cost(
            params=2 * c if a.affine and not a.fixed else 0,
            # running_mean, running_var, num_batches_tracked; fixed: weight, bias, running_mean, running_var
            buffers=4 * c if a.fixed else 2 * c + 1,
            norm_ops=2 * n,  # folded scale and shift per element
            activations=n,
        )

    @staticmethod
    def saved_extra(node: NodeLike, batch: int, elem: int) -> int:
        if node.args.fixed:
            return node.shape[0] * elem  # mul keeps the per-channel scale for the input's gradient
        return 2 * node.shape[0] * STAT_BYTES  # the batch mean and inverse std per channel

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        a: BatchNormArgs = node.args
        if a.fixed:
            from ..modules.layers import FrozenBatchNorm

            return FrozenBatchNorm(node.shape[0], eps=a.eps)
        cls = (nn.BatchNorm1d, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[len(node.shape) - 1]
        return cls(node.shape[0], eps=a.eps, momentum=a.momentum, affine=a.affine, track_running_stats=a.track_running_stats)


BATCH_STATS_RF = global_rf("batch norm without running statistics normalises with the batch's, over every position")


class _PassThrough:
    saves = Saves.NOTHING
    rf = POINTWISE
    backward = staticmethod(no_backward)

    @staticmethod
    def shape(a: object, inputs: tuple[Shape, ...]) -> Shape:
        return inputs[0]

    @staticmethod
    def cost(a: object, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return Cost(activations=batch * numel(out))


@lazy_args
class DropoutArgs:
    """Arguments of `dropout`."""

    p: float = field(default=0.5, metadata=arg(probability, "drop probability (training only)"))


@op("dropout", category="identity", args=DropoutArgs)
class Dropout(_PassThrough):
    """Dropout; the identity at inference, so no arithmetic."""

    imports = ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout")

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        return {"p": m.p}

    counting = Counting("aten::dropout", "nn.Dropout", fvcore=FVCORE_IGNORED, thop=THOP_ZERO, subclass=True,
                        torchscan=Counted(lambda node, cost, batch: Prediction.of(dropout=0)))
    backward = staticmethod(per_output_element(1))  # in training: g times the scaled mask, 1 per element

    @staticmethod
    def saved_extra(node: NodeLike, batch: int, elem: int) -> int:
        # torch's CPU dropout multiplies by a noise tensor of the activation dtype (CUDA keeps a 1-byte mask)
        return batch * numel(node.shape) * elem

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        return nn.Dropout(node.args.p)


@op("identity", category="identity")
class Identity(_PassThrough):
    """Passes its input through unchanged."""

    imports = ("Identity",)

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        return {}

    counting = Counting(None, "nn.Identity", subclass=True,
                        torchscan=Counted(lambda node, cost, batch: Prediction.of(identity=0)))

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        return nn.Identity()


@lazy_args
class FlattenArgs:
    """Arguments of `flatten` (those of torch.nn.Flatten)."""

    start: int = field(default=1, metadata=arg(integer, "first dim flattened (torch's numbering: the batch is 0)"))
    end: int = field(default=-1, metadata=arg(integer, "last dim flattened"))
    layout: str = field(default="auto", metadata=arg(layout_arg, LAYOUT_DOC))


def _flatten_rf(a: Any, inputs: tuple[Shape, ...], out: Shape) -> RF:
    from .views import kept_or_moved  # views.py imports this module's neighbours: read it when the rule runs

    return kept_or_moved("a flatten of positions")(a, inputs, out)


@op("flatten", category="reshape", args=FlattenArgs)
class Flatten:
    """Flattens dims `start` to `end` into one (torch.nn.Flatten; by default all of C×H×W to one feature vector);
    a view, no arithmetic. `flatten: {start: 2}` on C×H×W is C×(H·W), x.flatten(2)."""

    imports = ("Flatten",)

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        return {"start": m.start_dim, "end": m.end_dim}

    saves = Saves.NOTHING
    counting = Counting("aten::flatten", "nn.Flatten", fvcore=FVCORE_IGNORED, function="torch.flatten", subclass=True,
                        torchscan=Counted(lambda node, cost, batch: Prediction.of(flatten=0)))
    rf = staticmethod(_flatten_rf)  # positions merged into one dim: each element keeps its field, moved
    backward = staticmethod(no_backward)

    @staticmethod
    def shape(a: FlattenArgs, inputs: tuple[Shape, ...]) -> Shape:
        dims = torch_dims(inputs[0])
        s, e = dim_index(a.start, dims, "start"), dim_index(a.end, dims, "end")
        if s > e:
            raise ShapeError(f"start={a.start} comes after end={a.end} in {show_dims(dims)}", "start")
        out = (*dims[:s], numel(dims[s:e + 1]), *dims[e + 1:])
        return shaped(out, a.layout, is_tokens(inputs[0]) and e < len(dims) - 1, "flatten")

    @staticmethod
    def cost(a: FlattenArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return Cost(activations=batch * numel(out))

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        if form_of(node) == FUNCTION:  # torchvision's torch.flatten(x, 1)
            from ..modules.call import Functional

            return Functional("torch.flatten", node.args.start, node.args.end)
        return nn.Flatten(node.args.start, node.args.end)
