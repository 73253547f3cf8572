"""MViT's multi-head pooling attention (torchvision's MultiscaleAttention, models/video/mvit.py) on a class token
followed by a T×H×W grid of tokens: N = 1 + T·H·W tokens of width D.

torchvision pools each head's q, k and v as a (T, H, W) map of head_dim channels with the heads moved into the batch
(B·heads), which no per-sample op writes, so `convcost import` keeps the module whole (importer/trace.py) and this
definition reads it. Per sample, for the output width O (torchvision's output_dim, D by default) and `heads` heads
of hd = O / heads:

- qkv: N·D·3O MACs (+ 3O bias per token);
- pool_q, and pool_k and pool_v (each where its kernel or stride is above 1): a depthwise Conv3d of hd channels
  (kernel k, stride s, padding k // 2, no bias: hd·prod(k) params, shared by the heads) on each head's grid tokens,
  O·T'·H'·W'·prod(k) MACs for the pooled T'×H'×W' grid; then, the class token put back, LayerNorm(hd) on every token
  (2·hd params, 5 ops per element: O·(1 + T'·H'·W')). q's grid gives Nq tokens (1 + T'·H'·W'), k's and v's Nk;
- q·kᵀ: heads·Nq·Nk·hd = Nq·Nk·O MACs (+ Nq·O to scale q, non-MAC);
- relative positions (``rel_pos``, MViT v2): tables of hd-vectors, 2S − 1 rows for h and for w (S = max(H, W) over
  the height strides, as torchvision sizes them) and 2T − 1 for t; q's grid tokens times the gathered rows, two einsums
  and a matmul: (Nq − 1)·(kh + kw + kt)·O MACs for k's grid kt×kh×kw; the broadcast sum of the three terms and its add
  into the grid tokens' scores: heads·(Nq − 1)·(kh·kw + 2·(Nk − 1)) adds. Gathering the rows (and interpolating a
  table where the grid is not the size it was made for) reads weights only: not counted;
- softmax: 3 non-MAC ops per score (heads·Nq·Nk scores);
- a·v: Nq·Nk·O MACs;
- residual pooling (``residual_pool``, v2): the pooled q added to the output, O·Nq adds (O·(Nq − 1) without the
  class token: ``residual_cls: false``, torchvision's residual_with_cls_embed);
- project: Nq·O·O MACs (+ O bias per token).

The output is Nq tokens of width O.
"""

from __future__ import annotations

import math
from dataclasses import field
from typing import TYPE_CHECKING, Any, NamedTuple

from ..cost import Backward, Cost
from .activations import SOFTMAX_OPS
from .counting import (
    FVCORE_IGNORED,
    THOP_ZERO,
    TORCHINFO_UNNAMED,
    BackwardCounted,
    Counted,
    Counting,
    Prediction,
    fvcore_einsum,
    numpy_einsum_estimate,
)
from .grad import NORM_INPUT_OPS, NORM_SHARED_OPS, SOFTMAX_BACKWARD_OPS, Need
from .norm import STAT_BYTES, STAT_OPS_AFFINE
from .pool import INDEX_BYTES
from .receptive import POINTWISE, global_rf, unknown
from .registry import (
    NodeLike,
    Part,
    Saves,
    ScorePass,
    Shape,
    ShapeError,
    arg,
    boolean,
    lazy_args,
    nonneg_int,
    op,
    optional,
    pos_float,
    pos_int,
    refuse_unless,
    score_passes,
    spec_dims,
    triple,
)
from .shapes import Tokens
from .tokens import sequence_check

if TYPE_CHECKING:
    from torch import nn

Grid = tuple[int, int, int]
NAME = "pooling_attention"


@lazy_args
class PoolingAttentionArgs:
    """Arguments of `pooling_attention` (those of torchvision's MultiscaleAttention, and the grid its forward is given)."""

    heads: int = field(metadata=arg(pos_int, "attention heads"))
    grid: Grid = field(metadata=arg(triple(pos_int), "the T×H×W grid of the tokens after the class token, [t, h, w] "
                                                     "(N = 1 + t·h·w tokens)"))
    out: int | None = field(default=None, metadata=arg(optional(pos_int), "width of q, k, v and the output "
                                                                          "(torchvision's output_dim; default D)"))
    kernel_q: Grid = field(default=(1, 1, 1), metadata=arg(triple(pos_int), "q's pooling kernel [t, h, w] (1 and stride "
                                                                           "1: q is not pooled)"))
    stride_q: Grid = field(default=(1, 1, 1), metadata=arg(triple(pos_int), "q's pooling stride [t, h, w]"))
    kernel_kv: Grid = field(default=(1, 1, 1), metadata=arg(triple(pos_int), "k's and v's pooling kernel [t, h, w] (1 and "
                                                                             "stride 1: not pooled)"))
    stride_kv: Grid = field(default=(1, 1, 1), metadata=arg(triple(pos_int), "k's and v's pooling stride [t, h, w]"))
    residual_pool: bool = field(default=False, metadata=arg(boolean, "add the pooled q to the output (MViT v2)"))
    residual_cls: bool = field(default=True, metadata=arg(boolean, "the residual pooling adds the class token's q too "
                                                                   "(torchvision's residual_with_cls_embed)"))
    rel_pos: bool = field(default=False, metadata=arg(boolean, "decomposed relative position terms added to the scores "
                                                               "(MViT v2)"))
    eps: float = field(default=1e-6, metadata=arg(pos_float, "epsilon of the pools' LayerNorm(head_dim)", compared=False))


def pooled(grid: Grid, kernel: Grid, stride: Grid) -> Grid:
    """A Conv3d's output grid with padding k // 2 (torchvision's padding_q and padding_kv)."""
    t, h, w = ((n + 2 * (k // 2) - k) // s + 1 for n, k, s in zip(grid, kernel, stride))
    return t, h, w


def pools(kernel: Grid, stride: Grid) -> bool:
    """torchvision builds a pool where the kernel or the stride is above 1."""
    return math.prod(kernel) > 1 or math.prod(stride) > 1


def rel_pos_sizes(grid: Grid, stride_q: Grid, stride_kv: Grid) -> tuple[int, int]:
    """Rows of the spatial (h and w, each) and the temporal relative position tables, as torchvision sizes them from
    the block's input size: 2·max(S // q's height stride, S // kv's height stride) − 1 for S = max(H, W), and 2T − 1."""
    size = max(grid[1:])
    return 2 * max(size // stride_q[1], size // stride_kv[1]) - 1, 2 * grid[0] - 1


class Geometry(NamedTuple):
    """The sizes one layer computes with."""

    d: int  # input width D
    o: int  # output width O
    heads: int
    grid: Grid  # the input's grid
    q: Grid  # q's grid after its pool (the input's where q is not pooled)
    kv: Grid  # k's and v's
    pool_q: bool
    pool_kv: bool

    @property
    def hd(self) -> int:
        return self.o // self.heads

    @property
    def n(self) -> int:
        return 1 + math.prod(self.grid)

    @property
    def nq(self) -> int:
        return 1 + math.prod(self.q)

    @property
    def nk(self) -> int:
        return 1 + math.prod(self.kv)


def geometry(a: PoolingAttentionArgs, inputs: tuple[Shape, ...]) -> Geometry:
    t = sequence_check(NAME, inputs[0])
    pq, pkv = pools(a.kernel_q, a.stride_q), pools(a.kernel_kv, a.stride_kv)
    return Geometry(t.d, a.out if a.out is not None else t.d, a.heads, a.grid,
                    pooled(a.grid, a.kernel_q, a.stride_q) if pq else a.grid,
                    pooled(a.grid, a.kernel_kv, a.stride_kv) if pkv else a.grid, pq, pkv)


def rel_tables(a: PoolingAttentionArgs, g: Geometry) -> int:
    """The relative position tables' parameters: (2·spatial + temporal rows)·hd."""
    if not a.rel_pos:
        return 0
    spatial, temporal = rel_pos_sizes(a.grid, a.stride_q, a.stride_kv)
    return (2 * spatial + temporal) * g.hd


class Counts(NamedTuple):
    """MACs and ops of one layer's pieces (the whole batch), as the counters see them piece by piece."""

    qkv: int  # MACs
    qkv_bias: int
    project: int
    project_bias: int
    pool: int  # MACs of the three depthwise Conv3d
    norm: int  # elements the pools' LayerNorms normalise
    matmuls: int  # q·kᵀ and a·v MACs
    rel_einsum: int  # the two relative position einsums' MACs
    rel_matmul: int  # the temporal term's matmul MACs
    rel_adds: int
    scale: int  # q times 1/√hd
    scores: int
    residual: int


def counts(a: PoolingAttentionArgs, inputs: tuple[Shape, ...], batch: int) -> Counts:
    g = geometry(a, inputs)
    b, o = batch, g.o
    pool_q = b * o * (g.nq - 1) * math.prod(a.kernel_q) if g.pool_q else 0
    pool_kv = 2 * b * o * (g.nk - 1) * math.prod(a.kernel_kv) if g.pool_kv else 0
    norm = b * o * ((g.nq if g.pool_q else 0) + (2 * g.nk if g.pool_kv else 0))
    kt, kh, kw = g.kv
    rel_q = b * o * (g.nq - 1)  # q's grid elements, each times a row per k position of one dim
    return Counts(
        qkv=b * g.n * g.d * 3 * o, qkv_bias=b * g.n * 3 * o, project=b * g.nq * o * o, project_bias=b * g.nq * o,
        pool=pool_q + pool_kv, norm=norm, matmuls=2 * b * g.nq * g.nk * o,
        rel_einsum=rel_q * (kh + kw) if a.rel_pos else 0, rel_matmul=rel_q * kt if a.rel_pos else 0,
        rel_adds=b * g.heads * (g.nq - 1) * (kh * kw + 2 * (g.nk - 1)) if a.rel_pos else 0,
        scale=b * g.nq * o, scores=b * g.heads * g.nq * g.nk,
        residual=(b * o * (g.nq if a.residual_cls else g.nq - 1)) if a.residual_pool else 0,
    )


def _pool_params(hd: int, kernel: Grid) -> int:
    return hd * math.prod(kernel) + 2 * hd  # the depthwise Conv3d's weight; the LayerNorm's weight and bias


def pooling_attention_parts(a: PoolingAttentionArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> tuple[Part, ...]:
    g = geometry(a, inputs)
    c = counts(a, inputs, batch)
    o, hd, heads = g.o, g.hd, g.heads
    parts = [Part("qkv", "linear", Tokens(g.n, 3 * o),
                  Cost(params=g.d * 3 * o + 3 * o, macs=c.qkv, bias_ops=c.qkv_bias))]
    if g.pool_kv:
        conv = batch * o * (g.nk - 1) * math.prod(a.kernel_kv)
        for name in ("pool_k", "pool_v"):
            parts.append(Part(name, "conv", (heads, g.nk, hd), Cost(params=_pool_params(hd, a.kernel_kv), macs=conv,
                                                                     norm_ops=STAT_OPS_AFFINE * batch * o * g.nk)))
    if g.pool_q:
        parts.append(Part("pool_q", "conv", (heads, g.nq, hd),
                          Cost(params=_pool_params(hd, a.kernel_q), macs=batch * o * (g.nq - 1) * math.prod(a.kernel_q),
                               norm_ops=STAT_OPS_AFFINE * batch * o * g.nq)))
    parts.append(Part("q·kᵀ", "matmul", (heads, g.nq, g.nk), Cost(macs=c.matmuls // 2, elementwise_ops=c.scale)))
    if a.rel_pos:
        parts.append(Part("rel_pos", "einsum", (heads, g.nq, g.nk),
                          Cost(params=rel_tables(a, g), macs=c.rel_einsum + c.rel_matmul, elementwise_ops=c.rel_adds)))
    parts += [
        Part("softmax", "softmax", (heads, g.nq, g.nk), Cost(act_ops=SOFTMAX_OPS * c.scores)),
        Part("a·v", "matmul", (heads, g.nq, hd), Cost(macs=c.matmuls // 2, elementwise_ops=c.residual)),
        Part("project", "linear", Tokens(g.nq, o), Cost(params=o * o + o, macs=c.project, bias_ops=c.project_bias,
                                                       activations=batch * g.nq * o)),
    ]
    return tuple(parts)


# ---- how the counters see it: torchvision's modules and calls (modules/mvit.py runs the same) ----------------------
def _score_passes(node: NodeLike, batch: int) -> tuple[ScorePass, ...]:
    """The passes over its scores in memory (for the latency model), as modules/mvit.py's forward makes them: q·kᵀ
    writes them; with rel_pos the decomposed terms are summed into a tensor of the grid tokens' scores (written) and
    added in place (it and the scores read, the scores written): counted as two adds; softmax reads them and writes a
    new tensor; a·v reads that."""
    return score_passes(_counts(node, batch).scores, *(("add", "add") if node.args.rel_pos else ()))


def _counts(node: NodeLike, batch: int) -> Counts:
    return counts(node.args, node.in_shapes, batch)


def _einsum_shapes(node: NodeLike, batch: int) -> list[tuple[str, list[tuple[int, ...]]]]:
    """The two relative position einsums and their operands: q's grid tokens (b, heads, qt, qh, qw, hd) with the
    gathered h rows (qh, kh, hd) and w rows (qw, kw, hd)."""
    if not node.args.rel_pos:
        return []
    g = geometry(node.args, node.in_shapes)
    r_q = (batch, g.heads, *g.q, g.hd)
    return [("bythwc,hkc->bythwk", [r_q, (g.q[1], g.kv[1], g.hd)]),
            ("bythwc,wkc->bythwk", [r_q, (g.q[2], g.kv[2], g.hd)])]


def _exact(c: Counts) -> int:
    """The MACs counted exactly wherever a tool sees linear, conv and matmul: all but the einsums."""
    return c.qkv + c.project + c.pool + c.matmuls + c.rel_matmul


def _fvcore(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    c = _counts(node, batch)
    einsum = sum(fvcore_einsum(eq, shapes) for eq, shapes in _einsum_shapes(node, batch))
    return Prediction.of("aten::linear, aten::_convolution and aten::matmul exactly; aten::layer_norm 5 per element; "
                         "aten::einsum from numpy's einsum_path estimate", pooling_attention=_exact(c),
                         layer_norm=5 * c.norm, **({"einsum": einsum} if node.args.rel_pos else {}))


def _ptflops(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # the nn.Linear hooks (MACs + bias per token), the nn.Conv3d hooks, nn.LayerNorm 1 per element, the patched
    # torch.matmul (q·kᵀ, a·v, the temporal term); torch.einsum, Tensor.softmax and the in-place adds are not patched
    c = _counts(node, batch)
    return Prediction.of(pooling_attention=_exact(c), bias=c.qkv_bias + c.project_bias, layer_norm=c.norm)


def _thop(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # thop hooks modules only: the nn.Linear (in_features per output element), nn.Conv3d, nn.LayerNorm 4 per element
    c = _counts(node, batch)
    return Prediction.of(pooling_attention=c.qkv + c.project + c.pool, layer_norm=4 * c.norm)


def _torchinfo(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # leaf modules: a Linear's or LayerNorm's weight and bias once per sample, a Conv's weight per output position
    g = geometry(node.args, node.in_shapes)
    c = _counts(node, batch)
    linears = g.d * 3 * g.o + 3 * g.o + g.o * g.o + g.o
    norms = 2 * g.hd * (int(g.pool_q) + 2 * int(g.pool_kv))
    return Prediction.of(pooling_attention=batch * (linears + norms) + c.pool)


def _calflops_flops(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # F.linear and torch.matmul 2 per MAC (no linear bias), F.conv3d 2 per MAC, F.layer_norm 5 per element, torch.einsum
    # numpy's estimate (not halved)
    c = _counts(node, batch)
    einsum = sum(numpy_einsum_estimate(eq, shapes) for eq, shapes in _einsum_shapes(node, batch))
    return Prediction.of(pooling_attention=2 * _exact(c), layer_norm=5 * c.norm,
                         **({"einsum": einsum} if node.args.rel_pos else {}))


def _backward_pieces(a: PoolingAttentionArgs, inputs: tuple[Shape, ...], batch: int) -> tuple[int, int, int, int]:
    """(MACs every gradient needs, their non-MAC ops, MACs of the weights' own gradients, MACs of the input's)."""
    c = counts(a, inputs, batch)
    internal = c.project + 2 * c.matmuls + c.rel_einsum + c.rel_matmul + c.pool
    ops = SOFTMAX_BACKWARD_OPS * c.scores + c.scale + c.rel_adds + (NORM_SHARED_OPS + NORM_INPUT_OPS) * c.norm
    return internal, ops, c.project + c.qkv + c.pool + c.rel_einsum + c.rel_matmul, c.qkv


def _backward(a: PoolingAttentionArgs, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
    """As attention's (ops/attention.py): project's input gradient (Nq·O² MACs); a·v and q·kᵀ, two products each
    (Nq·Nk·O); softmax 4 per score, q's scale 1 per element, one per relative position add; the relative terms' q
    gradient (their forward MACs) and the pools' input gradients (their forward MACs, transposed convolutions) with the
    LayerNorms' 9 per element; then the weights' gradients: project and qkv (their forward MACs, bias one per output
    element), the pools' convs and the relative position tables (their forward MACs again); the input's gradient
    through qkv (N·3O·D). Everything between the projections is needed for either gradient."""
    if not need.anything:
        return Backward()
    c = counts(a, inputs, batch)
    internal, ops, weights, into = _backward_pieces(a, inputs, batch)
    weight_macs = weights if need.weights else 0
    weight_ops = c.qkv_bias + c.project_bias if need.weights else 0
    if need.any_input:
        return Backward(input_macs=internal + into, input_ops=ops, weight_macs=weight_macs, weight_ops=weight_ops)
    return Backward(weight_macs=weight_macs + internal, weight_ops=weight_ops + ops)


def _flop_counter_backward(node: NodeLike, grads: Backward, batch: int) -> Prediction:
    # aten.mm/bmm/convolution_backward at 2 FLOPs per MAC; a depthwise conv's weight gradient ×groups (hd, as conv's)
    if not grads.macs:
        return Prediction.unseen("no gradient computed")
    c = _counts(node, batch)
    hd = geometry(node.args, node.in_shapes).hd
    extra = (hd - 1) * c.pool if grads.weight_macs else 0
    return Prediction.of("aten.mm/bmm/convolution_backward: 2 FLOPs per MAC, the pools' weight gradients ×head_dim",
                         pooling_attention=2 * (grads.macs + extra))


def _pool_args(pool: Any, head_dim: int) -> tuple[list[int], list[int], float]:
    """(kernel, stride, eps) of a torchvision Pool as MultiscaleAttention builds it, or NotImportable."""
    conv = pool.pool
    refuse_unless(type(conv).__name__ == "Conv3d", f"a {type(conv).__name__} pool (convcost's is torchvision's Conv3d)")
    refuse_unless(conv.groups == head_dim and conv.in_channels == conv.out_channels == head_dim and conv.bias is None,
                  "a pool that is not a depthwise Conv3d of head_dim channels without bias")
    refuse_unless(list(conv.padding) == [k // 2 for k in conv.kernel_size] and list(conv.dilation) == [1, 1, 1],
                  "a pool padded other than kernel // 2, or dilated")
    norms = list(pool.norm_act) if pool.norm_act is not None else []
    refuse_unless(not pool.norm_before_pool and [type(n).__name__ for n in norms] == ["LayerNorm"],
                  "a pool without a LayerNorm after it (convcost's is torchvision's pool then LayerNorm(head_dim))")
    norm = norms[0]
    refuse_unless(norm.elementwise_affine and norm.bias is not None, "a LayerNorm without weight and bias in a pool")
    return list(conv.kernel_size), list(conv.stride), float(norm.eps)


def grid_from_call(args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any] | str:
    """The grid torchvision's MViT modules are given with their input (``forward(x, thw)``), or why not."""
    thw = args[0] if args else kwargs.get("thw")
    if not (isinstance(thw, (list, tuple)) and len(thw) == 3 and all(isinstance(v, int) for v in thw)):
        return "called without a (T, H, W) grid of three numbers"
    return {"grid": list(thw)}


@op(NAME, category="linear", args=PoolingAttentionArgs)
class PoolingAttention:
    """MViT's multi-head pooling attention on a class token and a T×H×W token grid (torchvision's MultiscaleAttention).
    Rows: qkv N·D·3O; pool_k, pool_v, pool_q (depthwise Conv3d of head_dim, padding k // 2, then LayerNorm(head_dim),
    where kernel or stride > 1); q·kᵀ Nq·Nk·O; relative positions (rel_pos) (Nq − 1)·(kh + kw + kt)·O and their adds;
    softmax (3 non-MAC ops per score); a·v Nq·Nk·O (+ the residual pooling's adds); project Nq·O² MACs. N = 1 + t·h·w
    tokens in, Nq = 1 + q's pooled grid out."""

    imports = ("MultiscaleAttention",)  # torchvision's (models/video/mvit.py): `convcost import` keeps it whole

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        refuse_unless(m.qkv.bias is not None, "a qkv Linear without bias")
        layers = [type(x).__name__ for x in m.project]
        refuse_unless(layers[:1] == ["Linear"] and set(layers[1:]) <= {"Dropout"} and m.project[0].bias is not None,
                      f"a projection of {', '.join(layers)} (convcost's is a Linear with bias, then dropout)")
        args: dict[str, Any] = {"heads": m.num_heads}
        if m.output_dim != m.embed_dim:
            args["out"] = m.output_dim
        eps = []
        if m.pool_q is not None:
            kernel, stride, e = _pool_args(m.pool_q, m.head_dim)
            args.update(kernel_q=spec_dims(kernel), stride_q=spec_dims(stride))
            eps.append(e)
        refuse_unless((m.pool_k is None) == (m.pool_v is None), "k pooled and v not, or v and not k")
        if m.pool_k is not None:
            kv = [_pool_args(p, m.head_dim) for p in (m.pool_k, m.pool_v)]
            refuse_unless(kv[0] == kv[1], "k and v pooled differently")
            args.update(kernel_kv=spec_dims(kv[0][0]), stride_kv=spec_dims(kv[0][1]))
            eps.append(kv[0][2])
        refuse_unless(len(set(eps)) <= 1, "pools whose LayerNorms differ in eps")
        if eps and eps[0] != 1e-6:
            args["eps"] = eps[0]
        if m.residual_pool:
            args["residual_pool"] = True
            if not m.residual_with_cls_embed:
                args["residual_cls"] = False
        if m.rel_pos_h is not None:
            args["rel_pos"] = True
        return args

    from_call = staticmethod(grid_from_call)

    saves = Saves.INPUTS  # qkv's input; what else its backward keeps is in saved_extra
    saves_frozen = Saves.NOTHING  # the input only for qkv's weight gradient
    rf = global_rf("pooling attention: every token reads the pooled keys and values of every token")
    backward = staticmethod(_backward)
    score_passes = staticmethod(_score_passes)
    counting = Counting(
        "aten::matmul", "MultiscaleAttention", NAME,
        fvcore=Counted(_fvcore, "fvcore counts the pools' LayerNorms 5 per element and the relative position einsums "
                                "from numpy's einsum_path estimate (4 significant digits)", "einsum"),
        flop_counter=Counted(lambda node, cost, batch: Prediction.of("aten.addmm/convolution/bmm: 2 FLOPs per MAC",
                                                                     pooling_attention=2 * cost.macs),
                             "FlopCounterMode reports 2 FLOPs per MAC"),
        flop_counter_backward=BackwardCounted(_flop_counter_backward, "FlopCounterMode counts a depthwise conv's weight "
                                                                      "gradient over all channels: the pools' ×head_dim"),
        ptflops=Counted(_ptflops, "ptflops adds the linear biases and the pools' LayerNorms (1 per element), and misses "
                                  "the relative position einsums (torch.einsum is not patched)", "bias"),
        thop=Counted(_thop, "thop hooks modules: the linears and pools (LayerNorm 4 per element), not q·kᵀ, a·v or the "
                            "relative position terms", "layer_norm"),
        thop_params=Counted(lambda node, cost, batch: Prediction.of(
            params=cost.params - rel_tables(node.args, geometry(node.args, node.in_shapes))),
            "thop counts the parameters of leaf modules: not MultiscaleAttention's own relative position tables"),
        ptflops_aten=Counted(lambda node, cost, batch: Prediction.of(pooling_attention=cost.macs, bias=cost.bias_ops),
                             "ptflops' aten backend adds the qkv and project biases (aten.addmm)", "bias"),
        torchinfo=Counted(_torchinfo, "torchinfo counts the linears' and LayerNorms' weights once per sample and the "
                                      "pools' Conv3d per position; nothing of the matmuls"),
        torchscan=Counted(lambda node, cost, batch: Prediction.of(pooling_attention=(c := _counts(node, batch)).qkv
                                                                  + c.project + c.pool),
                          "torchscan counts the Linear and Conv3d leaves, not the matmuls or LayerNorms"),
        calflops=Counted(lambda node, cost, batch: Prediction.of(pooling_attention=_exact(_counts(node, batch))),
                         "calflops counts torch.einsum as FLOPs with 0 MACs"),
        calflops_flops=Counted(_calflops_flops, "calflops counts 2 FLOPs per MAC, LayerNorm 5 per element and an "
                                                "einsum from numpy's estimate", "einsum"),
    )

    @staticmethod
    def shape(a: PoolingAttentionArgs, inputs: tuple[Shape, ...]) -> Shape:
        g = geometry(a, inputs)
        n = sequence_check(NAME, inputs[0]).n
        if n != g.n:
            t, h, w = a.grid
            raise ShapeError(f"grid [{t}, {h}, {w}] needs 1 + {t}·{h}·{w} = {g.n} tokens (a class token, then the grid), "
                             f"got {n}", "grid")
        if g.o % a.heads:
            raise ShapeError(f"heads={a.heads} must divide the width {g.o}", "heads")
        return Tokens(g.nq, g.o)

    @staticmethod
    def cost(a: PoolingAttentionArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return sum((p.cost for p in pooling_attention_parts(a, inputs, out, batch)), Cost())

    parts = staticmethod(pooling_attention_parts)

    @staticmethod
    def saved_extra(node: NodeLike, batch: int, elem: int) -> int:
        # besides its input (qkv's, ``saves``), as torch's autograd keeps them: each pool's Conv3d input (the grid
        # tokens of a head copied into a map, O·(N − 1)), its LayerNorm's input (O per pooled token) and statistics
        # (a mean and an inverse std per head and token, fp32); q scaled (O·Nq) and k for q·kᵀ, the probabilities and
        # v for a·v; k and v are the pools' outputs (O·Nk each) or, not pooled, views of qkv's whole output (3O·N);
        # project's input (O·Nq); relative positions: q's grid tokens copied for each of the two einsums and the
        # matmul (3·O·(Nq − 1)), and, once for the batch, the rows gathered from each table (q·k positions of one dim,
        # hd each) and their int64 indices
        g = geometry(node.args, node.in_shapes)
        rel = 0
        if node.args.rel_pos:
            pairs = sum(q * k for q, k in zip(g.q, g.kv))
            rel = batch * 3 * g.o * (g.nq - 1) * elem + pairs * (g.hd * elem + INDEX_BYTES)
        pooled_ = [g.nq] * g.pool_q + [g.nk] * (2 * g.pool_kv)
        pools_ = sum(g.o * (g.n - 1) + g.o * n for n in pooled_) * elem + sum(2 * g.heads * n * STAT_BYTES for n in pooled_)
        kv = 2 * g.o * g.nk if g.pool_kv else 3 * g.o * g.n
        elements = g.o * g.nq + kv + g.heads * g.nq * g.nk + g.o * g.nq
        return batch * (elements * elem + pools_) + rel

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.mvit import PoolingAttention as Module

        a: PoolingAttentionArgs = node.args
        g = geometry(a, node.in_shapes)
        tables = rel_pos_sizes(a.grid, a.stride_q, a.stride_kv) if a.rel_pos else None
        return Module(a.grid, g.d, g.o, a.heads, a.kernel_q, a.stride_q, a.kernel_kv, a.stride_kv, a.residual_pool,
                      a.residual_cls, tables, a.eps)


# ---- the class token and MViT v1's separable position embedding ------------------------------------------------------
@lazy_args
class SpacetimeEmbedArgs:
    """Arguments of `spacetime_embed` (those of torchvision's PositionalEncoding)."""

    grid: Grid = field(metadata=arg(triple(pos_int), "the T×H×W grid of the tokens, [t, h, w] (N = t·h·w tokens)"))
    pos: bool = field(default=True, metadata=arg(boolean, "add the separable position embedding (MViT v1; false: the "
                                                          "class token alone, as MViT v2 with relative positions)"))


def _embed_params(a: SpacetimeEmbedArgs, d: int) -> int:
    """The class token (D); with ``pos``, per-frame rows T·D, per-position rows H·W·D and the class token's row D."""
    t, h, w = a.grid
    return d + ((t + h * w + 1) * d if a.pos else 0)


def _embed_backward(a: SpacetimeEmbedArgs, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
    """The input's gradient is a slice of the output's; the class token's sums it over the batch (B·D adds); the
    embedding's (``pos``) sums it over the batch ((N + 1)·D per sample), then each table's rows over what they were
    repeated across (the per-frame rows over H·W, the per-position rows over T: N·D each)."""
    if not need.weights:
        return Backward()
    n, d = out
    return Backward(weight_ops=batch * d + ((batch * n * d + 2 * (n - 1) * d) if a.pos else 0))


@op("spacetime_embed", category="join", args=SpacetimeEmbedArgs)
class SpacetimeEmbed:
    """MViT's class token and position embedding (torchvision's PositionalEncoding) on T·H·W tokens: a learned class
    token prepended (D params), and with `pos` (MViT v1) a position embedding added to every token (N + 1 adds of D),
    summed from per-frame rows (T·D params), per-position rows (H·W·D) and the class token's row (D). Summing the rows
    into the embedding reads weights only: not counted."""

    imports = ("PositionalEncoding",)  # torchvision's (models/video/mvit.py): `convcost import` keeps it whole

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        t, (h, w) = m.temporal_size, m.spatial_size
        pos = m.spatial_pos is not None
        refuse_unless(pos == (m.temporal_pos is not None) == (m.class_pos is not None), "a position embedding in part")
        return {"grid": [t, h, w], **({} if pos else {"pos": False})}

    saves = Saves.NOTHING
    rf = POINTWISE  # the tokens keep their fields; the class token reads no input until attention mixes it
    backward = staticmethod(_embed_backward)
    counting = Counting("aten::cat", "PositionalEncoding", "cat", fvcore=FVCORE_IGNORED, torchinfo=TORCHINFO_UNNAMED)

    @staticmethod
    def shape(a: SpacetimeEmbedArgs, inputs: tuple[Shape, ...]) -> Shape:
        x = sequence_check("spacetime_embed", inputs[0])
        if x.n != math.prod(a.grid):
            t, h, w = a.grid
            raise ShapeError(f"grid [{t}, {h}, {w}] is {t}·{h}·{w} = {math.prod(a.grid)} tokens, got {x.n}", "grid")
        return Tokens(x.n + 1, x.d)

    @staticmethod
    def cost(a: SpacetimeEmbedArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        n = batch * out[0] * out[1]
        return Cost(params=_embed_params(a, out[1]), elementwise_ops=n if a.pos else 0, activations=n)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.mvit import PositionalEncoding

        return PositionalEncoding(node.shape[1], node.args.grid, node.args.pos)


# ---- the skip connection's pooling -------------------------------------------------------------------------------
@lazy_args
class GridPoolArgs:
    """Arguments of `grid_pool` (torchvision's Pool of an nn.MaxPool3d, as MultiscaleBlock pools its skip)."""

    grid: Grid = field(metadata=arg(triple(pos_int), "the T×H×W grid of the tokens after the class token, [t, h, w] "
                                                     "(N = 1 + t·h·w tokens)"))
    kernel: Grid = field(metadata=arg(triple(pos_int), "the max pool's kernel [t, h, w]"))
    stride: Grid = field(default=(1, 1, 1), metadata=arg(triple(pos_int), "its stride [t, h, w]"))
    padding: Grid = field(default=(0, 0, 0), metadata=arg(triple(nonneg_int), "its padding [t, h, w]"))


def _grid_pooled(a: GridPoolArgs) -> Grid:
    t, h, w = ((n + 2 * p - k) // s + 1 for n, k, s, p in zip(a.grid, a.kernel, a.stride, a.padding))
    return t, h, w


def _grid_in(node: NodeLike, batch: int) -> int:
    """Elements the max pool reads: the grid tokens as a D×T×H×W map."""
    return batch * node.in_shapes[0][1] * math.prod(node.args.grid)


@op("grid_pool", category="pool", args=GridPoolArgs)
class GridPool:
    """Max pooling of the T×H×W grid of tokens after a class token (torchvision MViT's Pool of an nn.MaxPool3d, the
    block's skip): the class token kept, the grid tokens pooled as a D×T×H×W map, 1 + T'·H'·W' tokens out; one op
    per element of every window (padding included), as maxpool counts."""

    imports = ("Pool",)  # torchvision's (models/video/mvit.py): `convcost import` keeps it whole

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        pool = m.pool
        refuse_unless(type(pool).__name__ == "MaxPool3d" and m.norm_act is None,
                      f"a Pool of {type(pool).__name__}{' with a norm' if m.norm_act is not None else ''} (convcost's "
                      "grid_pool is an nn.MaxPool3d alone, as MultiscaleBlock's pool_skip)")
        refuse_unless(spec_dims(pool.dilation) == 1 and not pool.ceil_mode and not pool.return_indices,
                      "a dilated or ceil-mode max pool")
        return {"kernel": spec_dims(pool.kernel_size), "stride": spec_dims(pool.stride), "padding": spec_dims(pool.padding)}

    from_call = staticmethod(grid_from_call)

    saves = Saves.NOTHING  # the grid tokens are copied into a map first: saved_extra keeps that and the indices
    rf = unknown("the grid of a class token's sequence: fields of tokens are not followed")

    @staticmethod
    def backward(a: GridPoolArgs, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
        # each pooled position's gradient added into its window's maximum: 1 per pooled grid element, as maxpool's
        return Backward(input_ops=batch * out[1] * (out[0] - 1) if need.any_input else 0)

    counting = Counting(
        "aten::max_pool3d", "nn.MaxPool3d", "max_pool", thop=THOP_ZERO,
        ptflops=Counted(lambda node, cost, batch: Prediction.of(max_pool=2 * _grid_in(node, batch)),
                        "ptflops counts max-pool input elements twice: its module hook and the patched F.max_pool3d"),
        torchscan=Counted(lambda node, cost, batch: Prediction.of(
            max_pool=batch * node.shape[1] * (node.shape[0] - 1) * (math.prod(node.args.kernel) - 1)),
            "torchscan counts kernel − 1 per pooled element"),
        calflops=Counted(lambda node, cost, batch: Prediction.unseen("calflops counts pooling as FLOPs, with 0 MACs")),
        calflops_flops=Counted(lambda node, cost, batch: Prediction.of(max_pool=_grid_in(node, batch)),
                               "calflops counts 1 FLOP per pooled input element (its patched F.max_pool3d)"),
    )

    @staticmethod
    def shape(a: GridPoolArgs, inputs: tuple[Shape, ...]) -> Shape:
        x = sequence_check("grid_pool", inputs[0])
        t, h, w = a.grid
        if x.n != 1 + t * h * w:
            raise ShapeError(f"grid [{t}, {h}, {w}] needs 1 + {t}·{h}·{w} = {1 + t * h * w} tokens (a class token, then "
                             f"the grid), got {x.n}", "grid")
        for k, p in zip(a.kernel, a.padding):
            if 2 * p > k:
                raise ShapeError(f"padding {p} must be at most half the kernel {k} (as in torch)", "padding")
        out = _grid_pooled(a)
        if min(out) < 1:
            raise ShapeError(f"kernel {list(a.kernel)} is larger than the padded grid", "kernel")
        return Tokens(1 + math.prod(out), x.d)

    @staticmethod
    def cost(a: GridPoolArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        pooled_ = batch * out[1] * (out[0] - 1)
        return Cost(pool_ops=pooled_ * math.prod(a.kernel), activations=batch * out[0] * out[1])

    @staticmethod
    def saved_extra(node: NodeLike, batch: int, elem: int) -> int:
        # max_pool3d keeps its input (the grid tokens copied into a map) and its indices (int64)
        return _grid_in(node, batch) * elem + batch * node.shape[1] * (node.shape[0] - 1) * INDEX_BYTES

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.mvit import SkipPool

        a: GridPoolArgs = node.args
        return SkipPool(a.grid, a.kernel, a.stride, a.padding)
