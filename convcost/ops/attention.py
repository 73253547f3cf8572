"""Multi-head self-attention over tokens: its cost in five parts, each a row of the table.

For N tokens of width D, ``heads`` heads of width ``head_dim`` (inner width I = heads·head_dim, D by
default), per sample:

- Q/K/V projection: N·D·3I MACs (+ 3I bias per token),
- QKᵀ: heads·N·N·head_dim = N²·I MACs (+ N·I to scale q by 1/√head_dim, non-MAC),
- softmax over each row of the heads·N·N scores: 3 non-MAC ops per score (docs/conventions.md),
- A·V: N²·I MACs,
- output projection: N·I·D MACs (+ D bias per token).

torch: nn.MultiheadAttention(batch_first=True) where it can be one (head_dim = D/heads, one bias
flag), as torchvision's ViT builds it; otherwise an explicit q·kᵀ/softmax/·v module like timm's without
its fused kernel. With ``sdpa: true`` it is timm's Attention on its fused path (what `convcost import` reads
there): two nn.Linear around one F.scaled_dot_product_attention, the same arithmetic, which fvcore and
FlopCounterMode on CPU see only the projections of (neither counts CPU's fused attention kernel).
What the counters see of nn.MultiheadAttention depends on how it runs (ops/counting.py, RUN_ON):
in eval under no_grad on a real device torch takes its fused fast path when the heads are even and the
projections have biases,
and fvcore and FlopCounterMode see none of it; off the fast path both see the projections but not
the attention matmuls of CPU scaled-dot-product attention; on the meta device FlopCounterMode sees all.
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING, Any

from ..cost import Backward, Cost
from .activations import SOFTMAX_OPS  # per score: an exp, its share of the sum, a divide
from .counting import BackwardCounted, Counted, Counting, Prediction, on_cuda, on_meta, with_grad
from .grad import SOFTMAX_BACKWARD_OPS, Need
from .receptive import global_rf
from .registry import (
    NodeLike,
    Part,
    Saves,
    ScorePass,
    Shape,
    ShapeError,
    arg,
    boolean,
    copies,
    fused_score_passes,
    lazy_args,
    op,
    optional,
    pos_int,
    refuse_unless,
    score_passes,
)
from .shapes import Tokens
from .tokens import sequence_check

if TYPE_CHECKING:
    from torch import nn


@lazy_args
class AttentionArgs:
    """Arguments of `attention`."""

    heads: int = field(metadata=arg(pos_int, "attention heads"))
    head_dim: int | None = field(default=None, metadata=arg(optional(pos_int), "width of a head (default D / heads)"))
    qkv_bias: bool = field(default=True, metadata=arg(boolean, "bias of the Q/K/V projection"))
    bias: bool = field(default=True, metadata=arg(boolean, "bias of the output projection"))
    sdpa: bool = field(default=False, metadata=arg(boolean, "built as timm's Attention: q·kᵀ, softmax and a·v in one "
                                                            "F.scaled_dot_product_attention between two nn.Linear (the "
                                                            "same MACs; fvcore sees only the projections)"))


def head_dim(a: AttentionArgs, d: int) -> int:
    return a.head_dim if a.head_dim is not None else d // a.heads


def fused(node: NodeLike) -> bool:
    """Built as torch's nn.MultiheadAttention (else an explicit module, or timm's with `sdpa`)."""
    a: AttentionArgs = node.args
    d = node.in_shapes[0][1]
    return not a.sdpa and head_dim(a, d) * a.heads == d and a.qkv_bias == a.bias


def sdpa_unseen(node: NodeLike) -> bool:
    """Built with F.scaled_dot_product_attention (`sdpa`) where FlopCounterMode sees none of its attention matmuls:
    a real CPU, whose flash kernel for q, k, v [B, heads, N, head_dim] has no formula (the meta device takes the math
    path's bmm; CUDA's kernels have one)."""
    return node.args.sdpa and not on_meta() and not on_cuda()


def fast_path(node: NodeLike) -> bool:
    """nn.MultiheadAttention takes its fused kernel (eval, no_grad, a real device, an even number of heads, and
    projection biases: torch calls aten::_native_multi_head_attention only when in_proj_bias is not None)."""
    return fused(node) and not on_meta() and not with_grad() and node.args.heads % 2 == 0 and node.args.qkv_bias


def attention_score_passes(node: NodeLike, batch: int) -> tuple[ScorePass, ...]:
    """The passes over its batch·heads·N² scores in memory (for the latency model): nn.MultiheadAttention's fast path
    (aten::_native_multi_head_attention: bmm writes them, softmax reads them and writes a new tensor, bmm reads that)
    and the explicit module ((q·scale) @ kᵀ, .softmax, @ v) hold them; F.scaled_dot_product_attention (`sdpa`, and
    nn.MultiheadAttention off its fast path, which calls it with need_weights=False) runs CPU's flash kernel, which
    keeps them in blocks in cache, but computes softmax's exponentials over all of them: a softmax pass only (seen with
    torch.profiler, torch 2.13 on CPU)."""
    a: AttentionArgs = node.args
    n, d = node.in_shapes[0]
    scores, inner = batch * a.heads * n * n, batch * n * a.heads * head_dim(a, d)
    if a.sdpa:  # the heads' output transposed and reshaped for proj
        return fused_score_passes(scores) + copies(inner, 1)
    if fused(node) and not fast_path(node):  # q, k, v transposed to [B·heads, N, hd], the output back
        return fused_score_passes(scores) + copies(inner, 4)
    if fused(node):  # _transform_bias_rescale_qkv: q, k, v from the projection, biased, q scaled
        return score_passes(scores) + copies(inner, 3)
    return score_passes(scores) + copies(inner, 4)  # q scaled, k and v contiguous for @, the output reshaped


def attention_parts(a: AttentionArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> tuple[Part, ...]:
    n, d = inputs[0]
    hd = head_dim(a, d)
    inner = a.heads * hd
    scores = batch * a.heads * n * n
    return (
        Part("qkv", "linear", Tokens(n, 3 * inner),
             Cost(params=d * 3 * inner + (3 * inner if a.qkv_bias else 0), macs=batch * n * d * 3 * inner,
                  bias_ops=batch * n * 3 * inner if a.qkv_bias else 0)),
        Part("q·kᵀ", "matmul", (a.heads, n, n), Cost(macs=scores * hd, elementwise_ops=batch * n * inner)),  # + q scaled by 1/√hd
        Part("softmax", "softmax", (a.heads, n, n), Cost(act_ops=SOFTMAX_OPS * scores)),
        Part("a·v", "matmul", Tokens(n, inner), Cost(macs=scores * hd)),
        Part("out_proj", "linear", Tokens(n, d), Cost(params=inner * d + (d if a.bias else 0), macs=batch * n * inner * d,
                                        bias_ops=batch * n * d if a.bias else 0, activations=batch * n * d)),
    )


def _projection_macs(node: NodeLike, batch: int) -> int:
    n, d = node.in_shapes[0]
    inner = node.args.heads * head_dim(node.args, d)
    return batch * n * d * 4 * inner


def _matmul_macs(node: NodeLike, batch: int) -> int:
    n, d = node.in_shapes[0]
    return 2 * batch * n * n * node.args.heads * head_dim(node.args, d)


def attention_backward(n: int, d: int, inner: int, heads: int, qkv_bias: bool, bias: bool, batch: int,
                       need: Need) -> Backward:
    """Self-attention's backward for N tokens of width D, inner width I = heads·head_dim (per sample, times the batch):

    - output projection: its input's gradient dO = g·W (N·I·D MACs), its weight's Oᵀ·g (N·I·D) and bias Σg (N·D);
    - A·V: dA = dO·Vᵀ and dV = Aᵀ·dO (heads·N²·head_dim = N²·I MACs each);
    - softmax: 4 per score (ops/grad.py); q's scale: 1 per element of q (N·I);
    - QKᵀ: dQ = dS·K and dK = dSᵀ·Q (N²·I each);
    - Q/K/V projection: the input's gradient dQKV·W (N·3I·D), the weight's xᵀ·dQKV (N·D·3I), bias (N·3I).

    Everything between the projections is needed for either gradient (the weights' too: the Q/K/V weight's
    gradient needs dQKV); it is counted with the input's gradient when there is one.
    """
    if not need.anything:
        return Backward()
    scores = batch * heads * n * n
    hd = inner // heads
    internal_macs = batch * n * inner * d + 4 * scores * hd
    internal_ops = SOFTMAX_BACKWARD_OPS * scores + batch * n * inner
    weight_macs = batch * n * inner * d + batch * n * d * 3 * inner if need.weights else 0
    weight_ops = (batch * n * d * bias + batch * n * 3 * inner * qkv_bias) if need.weights else 0
    if need.any_input:
        return Backward(input_macs=internal_macs + batch * n * 3 * inner * d, input_ops=internal_ops,
                        weight_macs=weight_macs, weight_ops=weight_ops)
    return Backward(weight_macs=weight_macs + internal_macs, weight_ops=weight_ops + internal_ops)


def _projection_backward_macs(node: NodeLike, grads: Backward, batch: int) -> int:
    """The backward MACs of the Q/K/V and output projections alone (what F.linear's mm calls compute): dO through
    the output projection, the input's gradient (3 products) where the layer computes it (input MACs), both weights'
    gradients (4 products) where they are trainable (weight MACs)."""
    n, d = node.in_shapes[0]
    proj = batch * n * node.args.heads * head_dim(node.args, d) * d  # one N×I×D product
    return proj + (3 * proj if grads.input_macs else 0) + (4 * proj if grads.weight_macs else 0)


def _flop_counter_backward(node: NodeLike, grads: Backward, batch: int) -> Prediction:
    if not grads.macs:
        return Prediction.unseen("no gradient computed")
    if node.args.sdpa and on_cuda():  # sdpa_backward_flop_count: the fused kernel recomputes q·kᵀ, then dS, dV, dQ, dK
        n, d = node.in_shapes[0]
        hd = head_dim(node.args, d)
        kernel = 2 * batch * node.args.heads * n * n * 5 * hd
        return Prediction.of("aten.mm for the projections; the fused attention backward: q·kᵀ recomputed, dS, dV, dQ, dK",
                             attention=2 * _projection_backward_macs(node, grads, batch) + kernel)
    if (not fused(node) and not sdpa_unseen(node)) or on_meta():
        return Prediction.of("aten.mm/bmm: 2 FLOPs per backward MAC", attention=2 * grads.macs)
    return Prediction.of("aten.mm for the projections; CPU scaled-dot-product attention's backward has no formula",
                         attention=2 * _projection_backward_macs(node, grads, batch))


FAST_PATH = ("torch's fused fast path (aten::_native_multi_head_attention, taken in eval under no_grad "
             "with an even number of heads and projection biases)")


def _fvcore(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    if not fused(node) and not node.args.sdpa:  # aten::linear and aten::matmul
        return Prediction.of(attention=cost.macs)
    if fast_path(node):
        return Prediction.unseen(f"fvcore has no handle for {FAST_PATH}: it sees none of this attention")
    return Prediction.of("aten::linear for the projections; aten::scaled_dot_product_attention unsupported",
                         attention=_projection_macs(node, batch))


def _flop_counter(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    if (not fused(node) and not sdpa_unseen(node)) or on_meta():
        return Prediction.of("aten.addmm/bmm: 2 FLOPs per MAC", attention=2 * cost.macs)
    if fast_path(node):
        return Prediction.unseen(f"FlopCounterMode has no formula for {FAST_PATH}: it sees none of this attention")
    return Prediction.of("aten.addmm for the projections; CPU scaled-dot-product attention has no formula",
                         attention=2 * _projection_macs(node, batch))


def _ptflops(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    if not fused(node):  # the two nn.Linear hooks (MACs + bias); q·kᵀ and ·v are `@` (Tensor.__matmul__, unpatched)
        return Prediction.of(attention=_projection_macs(node, batch), bias=cost.bias_ops)
    # multihead_attention_counter_hook: q scaling N·D, projections, in-projection bias 3·N·D, per head
    # QKᵀ + softmax N² + AV, the output projection with its bias always counted N·D·(D + 1)
    n, d = node.in_shapes[0]
    h = node.args.heads
    hook = n * d + 3 * n * d * d + (3 * n * d if node.args.qkv_bias else 0) + h * (2 * n * n * (d // h) + n * n) + n * d * (d + 1)
    return Prediction.of(attention=batch * hook)


def _thop(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    if not fused(node):  # its two nn.Linear: count_linear, in_features per output element
        n, d = node.in_shapes[0]
        inner = node.args.heads * head_dim(node.args, d)
        return Prediction.of(attention=batch * (n * 3 * inner * d + n * d * inner))
    return Prediction.unseen("thop has no counting method for nn.MultiheadAttention")


def _ptflops_aten(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    if sdpa_unseen(node):  # both nn.Linear as aten.addmm with their biases; CPU's flash attention kernel: no formula
        return Prediction.of(attention=_projection_macs(node, batch), bias=cost.bias_ops)
    if not fused(node):  # both nn.Linear as aten.addmm with their biases, the matmuls as aten.bmm
        return Prediction.of(attention=cost.macs, bias=cost.bias_ops)
    if fast_path(node):
        return Prediction.unseen(f"ptflops' aten backend has no formula for {FAST_PATH}")
    # F.multi_head_attention_forward: the in-projection on q transposed to [N, B, D] (contiguous only at batch 1: an
    # aten.addmm with its bias; else aten.mm), CPU scaled-dot-product attention (no formula), the output projection
    # on a 2-D view (aten.addmm with its bias)
    n, d = node.in_shapes[0]
    bias = batch * n * 3 * d if node.args.qkv_bias and batch == 1 else 0
    return Prediction.of(attention=_projection_macs(node, batch), bias=bias + (batch * n * d if node.args.bias else 0))


def _projection_parts(node: NodeLike, cost: Cost, batch: int, per_mac: int) -> Prediction:
    """What the patched F.linear of calflops sees: both projections; nn.MultiheadAttention's only off its fast path."""
    if fused(node) and fast_path(node):
        return Prediction.unseen(f"calflops patches no function of {FAST_PATH}")
    return Prediction.of(attention=per_mac * _projection_macs(node, batch))


def _torchscan(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    if fused(node):
        return Prediction.unseen("torchscan has no MAC formula for nn.MultiheadAttention")
    return Prediction.of(attention=_projection_macs(node, batch))  # its two nn.Linear leaves


@op("attention", category="linear", args=AttentionArgs)
class Attention:
    """Multi-head self-attention over tokens (torch.nn.MultiheadAttention, batch_first).
    Five rows: Q/K/V projection N·D·3D, QKᵀ N²·D, softmax (3 non-MAC ops per score), A·V N²·D, output
    projection N·D² MACs (D = heads·head_dim)."""

    imports = ("MultiheadAttention",)

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        # the module alone; import checks the call (self-attention x, x, x, no mask) where it sees it (importer/trace.py)
        refuse_unless(m.batch_first, "batch_first=False (tokens laid out [N, B, D]; convcost's are [B, N, D])")
        refuse_unless(m._qkv_same_embed_dim, f"kdim={m.kdim}, vdim={m.vdim} (keys and values of another width)")
        refuse_unless(m.bias_k is None, "add_bias_kv=True (a learned extra key and value)")
        refuse_unless(not m.add_zero_attn, "add_zero_attn=True (an extra zero key and value)")
        bias = m.in_proj_bias is not None  # nn.MultiheadAttention's one `bias` flag: both projections or neither
        return {"heads": m.num_heads, "qkv_bias": bias, "bias": bias}

    saves = Saves.INPUTS
    saves_frozen = Saves.NOTHING  # the input only for the Q/K/V weight's gradient
    rf = global_rf("attention reads every token")
    score_passes = staticmethod(attention_score_passes)

    @staticmethod
    def backward(a: AttentionArgs, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
        n, d = inputs[0]
        return attention_backward(n, d, a.heads * head_dim(a, d), a.heads, a.qkv_bias, a.bias, batch, need)

    counting = Counting(
        "aten::_native_multi_head_attention", "nn.MultiheadAttention", "attention",
        fvcore=Counted(_fvcore, "fvcore: no handle for nn.MultiheadAttention's fused fast path (none of it counted); "
                                "off it and with `sdpa`, aten::scaled_dot_product_attention is unsupported (QKᵀ and A·V "
                                "not counted)"),
        flop_counter=Counted(_flop_counter, "FlopCounterMode: 2 FLOPs per MAC, but nothing of nn.MultiheadAttention's "
                                            "fused fast path under no_grad, and no CPU attention matmuls off it or with "
                                            "`sdpa`"),
        ptflops=Counted(_ptflops, "ptflops' nn.MultiheadAttention hook adds q scaling, softmax and both biases; of an "
                                  "explicit attention it sees the nn.Linear projections, not the `@` matmuls"),
        thop=Counted(_thop, "thop has no counting method for nn.MultiheadAttention"),
        flop_counter_backward=BackwardCounted(
            _flop_counter_backward, "FlopCounterMode sees no CPU scaled-dot-product attention backward (on meta: all)"),
        device_dependent=True,
        ptflops_aten=Counted(
            _ptflops_aten, "ptflops' aten backend: nothing of nn.MultiheadAttention's fast path; off it the projections "
            "(their biases as aten.addmm: the in-projection's only at batch 1), not CPU attention's matmuls", "bias",
        ),
        thop_params=Counted(
            lambda node, cost, batch: Prediction.of(params=cost.params) if not fused(node) else Prediction.unseen(
                "thop hooks no module of nn.MultiheadAttention that runs (its out_proj is a subclass of nn.Linear that "
                "forward never calls): its parameters are not counted"),
            "thop counts no parameter of nn.MultiheadAttention",
        ),
        torchinfo=Counted(
            lambda node, cost, batch: Prediction.of(attention=batch * cost.params) if not fused(node) else
            Prediction.unseen("torchinfo: nn.MultiheadAttention is not a leaf and its out_proj never runs"),
        ),
        torchscan=Counted(_torchscan, "torchscan counts only the nn.Linear projections, not the attention matmuls"),
        calflops=Counted(
            lambda node, cost, batch: _projection_parts(node, cost, batch, 1),
            "calflops sees the projections (its patched F.linear), not the attention matmuls (@, scaled_dot_product_"
            "attention); nothing of nn.MultiheadAttention's fast path",
        ),
        calflops_flops=Counted(
            lambda node, cost, batch: _projection_parts(node, cost, batch, 2),
            "calflops counts 2 FLOPs per projection MAC and nothing of the attention matmuls or softmax",
        ),
    )

    @staticmethod
    def shape(a: AttentionArgs, inputs: tuple[Shape, ...]) -> Shape:
        t = sequence_check("attention", inputs[0])
        if a.head_dim is None and t.d % a.heads:
            raise ShapeError(f"heads={a.heads} must divide the token width {t.d} (or give head_dim)", "heads")
        return Tokens(t.n, t.d)

    @staticmethod
    def cost(a: AttentionArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return sum((p.cost for p in attention_parts(a, inputs, out, batch)), Cost())

    parts = staticmethod(attention_parts)

    @staticmethod
    def saved_extra(node: NodeLike, batch: int, elem: int) -> int:
        # for the backward: q, k, v and the attention probabilities, and the heads' output before out_proj
        n, d = node.in_shapes[0]
        inner = node.args.heads * head_dim(node.args, d)
        if node.args.sdpa:  # CPU's flash kernel keeps q, k, v (one storage), its output (out_proj's input is a view of
            # it: the kernel writes it [B, N, heads, head_dim]) and one fp32 log-sum-exp per query row; no probabilities
            return batch * (3 * n * inner + n * inner) * elem + batch * node.args.heads * n * 4
        return batch * (3 * n * inner + node.args.heads * n * n + n * inner) * elem

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.tokens import ExplicitAttention, SdpaAttention, SelfAttention

        a: AttentionArgs = node.args
        d = node.in_shapes[0][1]
        if a.sdpa:
            return SdpaAttention(d, a.heads, head_dim(a, d), a.qkv_bias, a.bias)
        if fused(node):
            return SelfAttention(d, a.heads, a.bias)
        return ExplicitAttention(d, a.heads, head_dim(a, d), a.qkv_bias, a.bias)
