"""MaxViT's partition attention on a token grid ([B, H, W, C]), as timm writes it (timm/models/maxxvit.py,
PartitionAttentionCl with AttentionCl on its fused path and the TensorFlow-compatible RelPosBiasTf).

partition_attention, per sample, for a partition p0×p1 (Nw = p0·p1 tokens per window) and `heads` heads of
C/heads, on an H×W grid that the partition divides (timm asserts it: no padding, no shift; nW = H·W / Nw windows):

- the partition: `grid: false` (MaxViT's block attention, timm's window_partition) cuts p0×p1 windows of adjacent
  tokens; `grid: true` (its grid attention, grid_partition) cuts a p0×p1 grid over the map, each window holding the
  tokens H/p0 rows and W/p1 columns apart. Both move data only (views, a permute, a copy),
- qkv: H·W·C·3C MACs (+ 3C bias per token); `head_first` says how timm splits its output into heads (the
  arithmetic is the same),
- the relative position bias (RelPosBiasTf): a table [heads, 2p0−1, 2p1−1] (params) gathered into the mask
  [heads, Nw, Nw] by two torch.einsum with one-hot lookup buffers [p0, p0, 2p0−1] and [p1, p1, 2p1−1]:
  heads·p0²·(2p1−1)·(2p0−1) + heads·p0²·p1²·(2p1−1) MACs, once per forward (they read no sample: not
  times the batch), which FlopCounterMode counts as it counts any einsum,
- F.scaled_dot_product_attention with that mask: q·kᵀ nW·Nw²·C MACs (+ H·W·C to scale q), the mask's add
  per score, softmax (3 non-MAC ops per score), a·v nW·Nw²·C MACs,
- proj: H·W·C² MACs (+ C bias per token).
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING

from ..cost import Backward, Cost
from .activations import SOFTMAX_OPS
from .counting import Counted, Counting, Prediction, fvcore_einsum, numpy_einsum_estimate
from .grad import SOFTMAX_BACKWARD_OPS, Need
from .receptive import RF, Taps, taps
from .registry import NodeLike, Part, Saves, Shape, ShapeError, arg, boolean, lazy_args, op, pair, pos_int
from .shapes import TokenGrid
from .windows import grid_check

if TYPE_CHECKING:
    from torch import nn

# timm's reindex_2d_einsum_lookup: the table [heads, 2p0−1, 2p1−1] by the height lookup [p0, p0, 2p0−1], then by the
# width lookup [p1, p1, 2p1−1]
HEIGHT_EINSUM, WIDTH_EINSUM = "nhw,ixh->nixw", "nixw,jyw->nijxy"


@lazy_args
class PartitionAttentionArgs:
    """Arguments of `partition_attention` (those of timm's PartitionAttentionCl and its AttentionCl)."""

    heads: int = field(metadata=arg(pos_int, "attention heads (C / heads each)"))
    window: tuple[int, int] = field(metadata=arg(pair(pos_int), "partition size p or [p0, p1]: the window (block "
                                                                 "attention) or the grid (grid attention)"))
    grid: bool = field(default=False, metadata=arg(boolean, "grid attention (timm's grid_partition: windows of tokens "
                                                            "H/p0 and W/p1 apart); false: block attention (adjacent "
                                                            "tokens)"))
    head_first: bool = field(default=True, metadata=arg(boolean, "timm's head_first: qkv's output split [heads, 3·C/heads] "
                                                                 "(true) or [3, heads, C/heads] (false, MaxViT's "
                                                                 "TensorFlow weights)"))
    qkv_bias: bool = field(default=True, metadata=arg(boolean, "bias of the Q/K/V projection"))
    bias: bool = field(default=True, metadata=arg(boolean, "bias of the output projection"))


def _grid(a: PartitionAttentionArgs, shape: Shape) -> TokenGrid:
    g = grid_check("partition_attention", shape, 2)
    if g.d % a.heads:
        raise ShapeError(f"heads={a.heads} must divide the token width {g.d}", "heads")
    for dim, size, p in zip(("height", "width"), g.grid, a.window):
        if size % p:
            what = "grid" if a.grid else "window"
            raise ShapeError(f"the {dim} {size} is not a multiple of the {what} {p}: timm's partition needs whole "
                             f"{what}s (it asserts it; nothing is padded)", "window")
    return g


class Cut:
    """The windows of a layer: Np tokens, nW windows of Nw tokens, width C."""

    def __init__(self, a: PartitionAttentionArgs, shape: Shape) -> None:
        g = _grid(a, shape)
        self.c, self.np = g.d, g.n
        self.size = a.window[0] * a.window[1]
        self.count = self.np // self.size

    def scores(self, heads: int, batch: int) -> int:
        return batch * heads * self.count * self.size * self.size


def table(a: PartitionAttentionArgs) -> int:
    """relative_position_bias_table: [heads, 2p0 − 1, 2p1 − 1]."""
    return a.heads * (2 * a.window[0] - 1) * (2 * a.window[1] - 1)


def lookups(a: PartitionAttentionArgs) -> int:
    """height_lookup [p0, p0, 2p0 − 1] and width_lookup [p1, p1, 2p1 − 1]."""
    return sum(p * p * (2 * p - 1) for p in a.window)


def einsum_shapes(a: PartitionAttentionArgs) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """The operands of the bias gather's two einsums (no batch dim: they read the table and the lookups only)."""
    p0, p1 = a.window
    vh, vw = 2 * p0 - 1, 2 * p1 - 1
    return [(a.heads, vh, vw), (p0, p0, vh)], [(a.heads, p0, p0, vw), (p1, p1, vw)]


def gather_macs(a: PartitionAttentionArgs) -> int:
    """The two einsums' MACs: heads·p0·p0·(2p1−1)·(2p0−1), then heads·p0·p0·(2p1−1)·p1·p1."""
    (t, h), (r, w) = einsum_shapes(a)
    return t[0] * h[0] * h[1] * t[2] * t[1] + r[0] * r[1] * r[2] * r[3] * w[0] * w[1]


def partition_attention_parts(a: PartitionAttentionArgs, inputs: tuple[Shape, ...], out: Shape,
                              batch: int) -> tuple[Part, ...]:
    w = Cut(a, inputs[0])
    c, np_ = w.c, w.np
    scores = w.scores(a.heads, batch)
    per_head = (w.count, a.heads, w.size, w.size)
    return (
        Part("qkv", "linear", (w.count, w.size, 3 * c),
             Cost(params=3 * c * c + (3 * c if a.qkv_bias else 0), macs=batch * np_ * c * 3 * c,
                  bias_ops=batch * np_ * 3 * c if a.qkv_bias else 0)),
        Part("rel_pos_bias", "einsum", (a.heads, w.size, w.size),
             Cost(params=table(a), buffers=lookups(a), macs=gather_macs(a))),  # once per forward
        Part("q·kᵀ", "matmul", per_head, Cost(macs=scores * (c // a.heads), elementwise_ops=batch * np_ * c)),
        Part("mask", "add", per_head, Cost(elementwise_ops=scores)),
        Part("softmax", "softmax", per_head, Cost(act_ops=SOFTMAX_OPS * scores)),
        Part("a·v", "matmul", (w.count, w.size, c), Cost(macs=scores * (c // a.heads))),
        Part("proj", "linear", out, Cost(params=c * c + (c if a.bias else 0), macs=batch * np_ * c * c,
                                         bias_ops=batch * np_ * c if a.bias else 0, activations=batch * np_ * c)),
    )


def _projection_macs(node: NodeLike, batch: int) -> int:
    w = Cut(node.args, node.in_shapes[0])
    return 4 * batch * w.np * w.c * w.c


def _fvcore(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    (t, h), (r, w) = einsum_shapes(node.args)
    return Prediction.of("aten::linear for qkv and proj; the bias gather's aten::einsum from numpy's einsum_path "
                         "estimate; aten::scaled_dot_product_attention unsupported",
                         partition_attention=_projection_macs(node, batch),
                         einsum=fvcore_einsum(HEIGHT_EINSUM, [t, h]) + fvcore_einsum(WIDTH_EINSUM, [r, w]))


def _calflops_einsums(node: NodeLike) -> int:
    """What calflops 0.3.2 counts for the two einsums: numpy's einsum_path estimate as FLOPs, no MAC."""
    (t, h), (r, w) = einsum_shapes(node.args)
    return numpy_einsum_estimate(HEIGHT_EINSUM, [t, h]) + numpy_einsum_estimate(WIDTH_EINSUM, [r, w])


def _torchinfo(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # qkv and proj are leaves run on the windows: their weight and bias times output_size[0], the batch·nW windows
    a: PartitionAttentionArgs = node.args
    w = Cut(a, node.in_shapes[0])
    linear = 4 * w.c * w.c + (3 * w.c if a.qkv_bias else 0) + (w.c if a.bias else 0)
    return Prediction.of(partition_attention=batch * w.count * linear)


WHY_LINEARS = "the qkv and proj nn.Linear only: not the einsums or F.scaled_dot_product_attention"


def _grid_taps(g: int, size: int) -> Taps:
    """One dim of grid attention: g windows' worth of tokens size/g apart; output o reads o mod (size/g) + k·size/g."""
    step = size // g
    return Taps(size, size, tuple(tuple(r % step + k * step for k in range(g)) for r in range(size)))


def _block_taps(p: int) -> Taps:
    """One dim of block attention: output o reads the window of p holding it."""
    return Taps(p, p, tuple(tuple(t for t in range(p)) for _ in range(p)))


def _rf(a: PartitionAttentionArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
    g = _grid(a, inputs[0])
    return taps(*(_grid_taps(p, n) if a.grid else _block_taps(p) for p, n in zip(a.window, g.grid)))


def _backward(a: PartitionAttentionArgs, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
    """As window_attention's over the windows: proj's input gradient (Np·C² MACs) and weight (Np·C², bias Np·C); a·v
    and q·kᵀ four products of nW·Nw²·C; softmax 4 per score; q's scale 1 per element; the mask's gradient summed over
    the windows (one add per score) and back through the two einsums to the table (their MACs again); qkv's input
    gradient (Np·3C·C) and weight (Np·C·3C, bias Np·3C)."""
    if not need.anything:
        return Backward()
    w = Cut(a, inputs[0])
    c = w.c
    np_ = batch * w.np
    scores = w.scores(a.heads, batch)
    internal_macs = np_ * c * c + 4 * scores * (c // a.heads)
    internal_ops = SOFTMAX_BACKWARD_OPS * scores + np_ * c
    weight_macs = np_ * c * c + np_ * c * 3 * c + gather_macs(a) if need.weights else 0
    weight_ops = (np_ * c * a.bias + np_ * 3 * c * a.qkv_bias + scores) if need.weights else 0
    if need.any_input:
        return Backward(input_macs=internal_macs + np_ * 3 * c * c, input_ops=internal_ops,
                        weight_macs=weight_macs, weight_ops=weight_ops)
    return Backward(weight_macs=weight_macs + internal_macs, weight_ops=weight_ops + internal_ops)


@op("partition_attention", category="linear", args=PartitionAttentionArgs)
class PartitionAttention:
    """MaxViT's block or grid attention on a token grid, as timm writes it (PartitionAttentionCl: the partition,
    AttentionCl on its fused path with RelPosBiasTf, the reverse; [B, H, W, C]). Rows: qkv Np·C·3C, the relative
    position bias gathered by two einsums (heads·p0²·(2p1−1)·(2p0−1) + heads·p0²·p1²·(2p1−1) MACs once per forward;
    (2p0−1)·(2p1−1)·heads params, the lookups' buffers), q·kᵀ nW·Nw²·C, the mask's add per score, softmax (3 non-MAC
    ops per score), a·v nW·Nw²·C, proj Np·C² MACs; the grid must divide into whole partitions."""

    saves = Saves.NOTHING  # what its backward keeps is in saved_extra
    rf = staticmethod(_rf)
    backward = staticmethod(_backward)
    counting = Counting(
        "aten::scaled_dot_product_attention", "PartitionAttention",
        fvcore=Counted(_fvcore, "fvcore counts the projections (aten::linear) and the bias gather's einsums from "
                                "numpy's rounded einsum_path estimate; it has no handle for "
                                "aten::scaled_dot_product_attention", "einsum"),
        flop_counter=Counted(lambda node, cost, batch: Prediction.of(
            "aten.addmm/bmm: 2 FLOPs per MAC (the 3-D mask keeps CPU on the math path)",
            partition_attention=2 * cost.macs), "FlopCounterMode reports 2 FLOPs per MAC"),
        ptflops=Counted(lambda node, cost, batch: Prediction.of(partition_attention=_projection_macs(node, batch),
                                                                bias=cost.bias_ops),
                        f"ptflops sees {WHY_LINEARS} (its nn.Linear hook adds the biases)"),
        thop=Counted(lambda node, cost, batch: Prediction.of(partition_attention=_projection_macs(node, batch)),
                     f"thop sees {WHY_LINEARS}"),
        ptflops_aten=Counted(lambda node, cost, batch: Prediction.of(partition_attention=cost.macs, bias=cost.bias_ops),
                             "ptflops' aten backend adds the qkv and proj biases (aten.addmm)", "bias"),
        thop_params=Counted(lambda node, cost, batch: Prediction.of(params=cost.params - table(node.args)),
                            "thop counts the parameters of the hooked qkv and proj nn.Linear, not the bias table"),
        torchinfo=Counted(_torchinfo, "torchinfo counts the qkv and proj nn.Linear's weight and bias once per window "
                                      "(output_size[0]: batch·nW), not per token"),
        torchscan=Counted(lambda node, cost, batch: Prediction.of(partition_attention=_projection_macs(node, batch)),
                          f"torchscan counts {WHY_LINEARS}"),
        calflops=Counted(lambda node, cost, batch: Prediction.of(partition_attention=_projection_macs(node, batch)),
                         "calflops counts F.linear's MACs (no bias) and no MAC of torch.einsum; it patches no "
                         "F.scaled_dot_product_attention"),
        calflops_flops=Counted(lambda node, cost, batch: Prediction.of(
            partition_attention=2 * _projection_macs(node, batch), einsum=_calflops_einsums(node)),
            "calflops counts 2 FLOPs per F.linear MAC and the einsums from numpy's einsum_path estimate", "einsum"),
    )

    @staticmethod
    def shape(a: PartitionAttentionArgs, inputs: tuple[Shape, ...]) -> Shape:
        return _grid(a, inputs[0])

    @staticmethod
    def cost(a: PartitionAttentionArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return sum((p.cost for p in partition_attention_parts(a, inputs, out, batch)), Cost())

    parts = staticmethod(partition_attention_parts)

    @staticmethod
    def saved_extra(node: NodeLike, batch: int, elem: int) -> int:
        """For the backward: the windows qkv reads, q, k, v, the attention probabilities and the heads' output before
        proj (the math path of F.scaled_dot_product_attention), and the einsums' operands."""
        w = Cut(node.args, node.in_shapes[0])
        return batch * (5 * w.np * w.c + node.args.heads * w.count * w.size * w.size) * elem

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.partition import PartitionAttention as Module

        a: PartitionAttentionArgs = node.args
        g = _grid(a, node.in_shapes[0])
        return Module(g.d, a.heads, a.window, a.grid, a.head_first, a.qkv_bias, a.bias)

