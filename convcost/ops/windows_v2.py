"""Swin v2's ops on a token grid ([B, H, W, C]): cosine window attention with a continuous position bias, and patch
merging with the norm after the reduction. Both follow torchvision's swin_transformer.py (ShiftedWindowAttentionV2,
PatchMergingV2); their torch modules (modules/swin_v2.py) run the same torch calls, so that the counters see what
they see on torchvision's swin_v2_t/s/b.

window_attention_v2, for a window wh×ww (Nw = wh·ww tokens), `heads` heads of C/heads, T = (2wh − 1)·(2ww − 1)
relative offsets and a position-bias MLP of `cpb_hidden` (torchvision: 512) units, over the grid padded to whole
windows (Np tokens, nW windows: ops/windows.py, as torchvision pads, shifts and partitions it for v1 and v2 alike):

- qkv: Np·C·3C MACs (+ 3C bias per token; torchvision zeroes the k third of the bias on a clone, but still adds it),
- q and k L2-normalised (F.normalize over each head's C/heads): per element the norm's accumulation and the divide
  (2), per vector the clamp_min (1); the norm's root is not counted (as the `norm` reduction counts it),
- q·kᵀ: nW·Nw²·C MACs (``@``), no 1/√d scale,
- logit scale: one multiply per score, plus a clamp and an exp of each head's scale (heads·1·1 params),
- continuous position bias, once per forward whatever the batch (it reads only a buffer): cpb_mlp Linear(2 → hidden)
  on the T offsets (T·2·hidden MACs + T·hidden bias), ReLU (T·hidden), Linear(hidden → heads, no bias)
  (T·hidden·heads MACs); gathered into heads·Nw² biases by the (Nw²) index, then 16·sigmoid (a sigmoid and a
  multiply per bias); buffers: the [1, 2wh − 1, 2ww − 1, 2] coordinate table and the index,
- the bias added to the scores (one add per score), the shift mask (shifted only: one add per score),
- softmax: 3 non-MAC ops per score, a·v: nW·Nw²·C MACs, proj: Np·C² MACs (+ C bias per token).

patch_merging_v2: the 2×2 gather (4C, odd H or W padded by one), Linear(4C → 2C, no bias), LayerNorm(2C).
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING, Any

from ..cost import Backward, Cost
from .activations import SOFTMAX_OPS
from .counting import Counted, Counting, Prediction
from .grad import ACTIVATION_BACKWARD_OPS, NORM_INPUT_OPS, NORM_SHARED_OPS, SOFTMAX_BACKWARD_OPS, Need
from .norm import STAT_BYTES, STAT_OPS_AFFINE
from .receptive import RF
from .registry import (
    NodeLike,
    Part,
    Saves,
    ScorePass,
    Shape,
    arg,
    boolean,
    copies,
    lazy_args,
    nonneg_int,
    op,
    pair,
    pos_float,
    pos_int,
    refuse_unless,
    score_passes,
)
from .shapes import TokenGrid
from .windows import _merged, _pm_rf, _wa_rf, grid_check, refuse_shift_not_below_window, window_attention_grid, windows

if TYPE_CHECKING:
    from torch import nn

NORMALIZE_ELEMENT_OPS = 2  # F.normalize, per element: |x|² accumulated into the norm, x / norm
NORMALIZE_VECTOR_OPS = 1  # per vector: clamp_min(eps) of its norm (the root is not counted, as the `norm` reduction)
# F.normalize's backward, per element: the divide's two gradients (g/n: 1; −g·x/n² summed into the norm: 3) and the
# norm's (x·g_n/n: 2)
NORMALIZE_BACKWARD_OPS = 6


# ---- cosine window attention with a continuous position bias -----------------------------------------------------
@lazy_args
class WindowAttentionV2Args:
    """Arguments of `window_attention_v2` (those of torchvision's ShiftedWindowAttentionV2)."""

    heads: int = field(metadata=arg(pos_int, "attention heads (C / heads each)"))
    window: tuple[int, int] = field(metadata=arg(pair(pos_int), "window size w or [wh, ww]"))
    shift: tuple[int, int] = field(default=(0, 0), metadata=arg(pair(nonneg_int), "cyclic shift (SW-MSA: window // 2; 0: W-MSA)"))
    qkv_bias: bool = field(default=True, metadata=arg(boolean, "bias of the Q/K/V projection (its k third zeroed)"))
    bias: bool = field(default=True, metadata=arg(boolean, "bias of the output projection (proj_bias)"))
    cpb_hidden: int = field(default=512, metadata=arg(pos_int, "units of the continuous position bias MLP (cpb_mlp)"))


def offsets(a: WindowAttentionV2Args) -> int:
    """T: the relative offsets of a window, (2wh − 1)·(2ww − 1), the rows cpb_mlp runs on."""
    return (2 * a.window[0] - 1) * (2 * a.window[1] - 1)


def cpb_params(a: WindowAttentionV2Args) -> int:
    """cpb_mlp: Linear(2 → hidden) with bias, Linear(hidden → heads) without."""
    return 2 * a.cpb_hidden + a.cpb_hidden + a.cpb_hidden * a.heads


def cpb_macs(a: WindowAttentionV2Args) -> int:
    return offsets(a) * (2 * a.cpb_hidden + a.cpb_hidden * a.heads)


def window_attention_v2_parts(a: WindowAttentionV2Args, inputs: tuple[Shape, ...], out: Shape, batch: int) -> tuple[Part, ...]:
    g = grid_check("window_attention_v2", inputs[0])
    c = g.d
    w = windows(a, g.grid)  # type: ignore[arg-type]  # the same window, shift and padding fields as v1's
    np_, nw, size = w.tokens, w.count, w.size
    scores = batch * a.heads * nw * size * size
    vectors = batch * np_ * a.heads  # the q (or k) vectors of C/heads each
    per_head = (nw, a.heads, size, size)
    t, hidden = offsets(a), a.cpb_hidden
    biases = a.heads * size * size  # the gathered position biases, once per forward
    parts = [
        Part("qkv", "linear", (nw, size, 3 * c),
             Cost(params=3 * c * c + (3 * c if a.qkv_bias else 0), macs=batch * np_ * c * 3 * c,
                  bias_ops=batch * np_ * 3 * c if a.qkv_bias else 0)),
        Part("normalize", "normalize", (nw, a.heads, size, c // a.heads),
             Cost(norm_ops=2 * (NORMALIZE_ELEMENT_OPS * batch * np_ * c + NORMALIZE_VECTOR_OPS * vectors))),  # q and k
        Part("q·kᵀ", "matmul", per_head, Cost(macs=scores * (c // a.heads))),
        Part("logit_scale", "multiply", per_head, Cost(params=a.heads, elementwise_ops=scores + 2 * a.heads)),
        Part("cpb_mlp", "linear", (t, a.heads), Cost(params=cpb_params(a), buffers=2 * t, macs=cpb_macs(a), bias_ops=t * hidden,
                                                     act_ops=t * hidden)),
        Part("rel_pos_bias", "add", per_head, Cost(buffers=size * size, act_ops=biases, elementwise_ops=biases + scores)),
    ]
    if w.shifted:
        parts.append(Part("shift_mask", "add", per_head, Cost(elementwise_ops=scores)))
    parts += [
        Part("softmax", "softmax", per_head, Cost(act_ops=SOFTMAX_OPS * scores)),
        Part("a·v", "matmul", (nw, size, c), Cost(macs=scores * (c // a.heads))),
        Part("proj", "linear", out, Cost(params=c * c + (c if a.bias else 0), macs=batch * np_ * c * c,
                                         bias_ops=batch * np_ * c if a.bias else 0, activations=batch * g.n * c)),
    ]
    return tuple(parts)


def _score_passes(node: NodeLike, batch: int) -> tuple[ScorePass, ...]:
    """The passes over its scores in memory (for the latency model), as modules/tokens.py's cosine attention makes
    them: q·kᵀ writes them, `· exp(logit_scale)` reads them and writes a new tensor, so do `+ bias` and, when shifted,
    `+ mask`, F.softmax too; a·v reads them. Building the shift mask is not counted. And the copies of its Np·C
    tokens: v1's 7 (9 shifted), q's scaling replaced by q and k normalised (2 passes each): 8 (10)."""
    a, c, nw, size = _v2(node)
    w = windows(a, grid_check("window_attention_v2", node.in_shapes[0]).grid)  # type: ignore[arg-type]
    passes = score_passes(batch * a.heads * nw * size * size, "multiply", *(("add", "add") if w.shifted else ("add",)))
    return passes + copies(batch * w.tokens * c, 10 if w.shifted else 8)


def _v2(node: NodeLike) -> tuple[WindowAttentionV2Args, int, int, int]:
    """(args, C, nW, Nw) of a window_attention_v2 layer."""
    a: WindowAttentionV2Args = node.args
    g = grid_check("window_attention_v2", node.in_shapes[0])
    w = windows(a, g.grid)  # type: ignore[arg-type]
    return a, g.d, w.count, w.size


def _av_macs(node: NodeLike, batch: int) -> int:
    """a·v alone: nW·Nw²·C MACs per sample (tensor.matmul; q·kᵀ is the same count, written ``@``)."""
    _, c, nw, size = _v2(node)
    return batch * nw * size * size * c


def _scores(node: NodeLike, batch: int) -> int:
    a, _, nw, size = _v2(node)
    return batch * a.heads * nw * size * size


def _ptflops(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # module hooks, once per forward (cpb_mlp reads a buffer; ptflops' totals are over the batch): cpb_mlp's
    # Linear(2 → hidden) (2·hidden + hidden bias per offset), its nn.ReLU twice (its hook and the patched F.relu it
    # calls), Linear(hidden → heads); patched functions: a·v's tensor.matmul and F.softmax. Not q·kᵀ (``@`` is
    # Tensor.__matmul__, not the patched Tensor.matmul), not F.linear (left unpatched: the qkv and proj hooks never
    # fire), not the multiplies written with ``*``.
    a = node.args
    t, hidden = offsets(a), a.cpb_hidden
    hooks = t * (2 * hidden + hidden) + 2 * t * hidden + t * hidden * a.heads
    return Prediction.of(cpb_mlp=hooks, window_attention_v2=_av_macs(node, batch) + _scores(node, batch))


def _thop(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # its hooks on cpb_mlp's two nn.Linear (in_features per output element; nn.ReLU is a zero-op): qkv and proj never run
    a = node.args
    t, hidden = offsets(a), a.cpb_hidden
    return Prediction.of(cpb_mlp=2 * t * hidden + hidden * t * a.heads)


def _calflops(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # its patched F.linear (qkv, proj, and cpb_mlp's two nn.Linear call it) and Tensor.matmul (a·v); not q·kᵀ, written
    # ``@`` (Tensor.__matmul__, not the patched Tensor.matmul), whose MACs are a·v's count
    return Prediction.of(window_attention_v2=cost.macs - _av_macs(node, batch))


def _calflops_flops(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    a = node.args
    return Prediction.of(window_attention_v2=2 * (cost.macs - _av_macs(node, batch)), softmax=_scores(node, batch),
                         relu=offsets(a) * a.cpb_hidden)


def _backward(a: WindowAttentionV2Args, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
    """As window_attention's (ops/windows.py) over the padded tokens: proj's input gradient (Np·C² MACs) and weight's
    (Np·C², bias Np·C); a·v and q·kᵀ four products of nW·Nw²·C; softmax 4 per score; the logit scale's multiply
    1 per score (its own gradient 2 per score and 2 per head); q's and k's normalisation 6 per element; the position
    bias' gradient summed from the scores (1 per score), through 16·sigmoid and the gather (4 per bias) into cpb_mlp:
    Linear(hidden → heads) weight and input gradients (T·hidden·heads MACs each), ReLU (2 per unit), Linear(2 →
    hidden) weight (T·2·hidden MACs, its bias T·hidden); qkv's input gradient (Np·3C·C) and weight (Np·C·3C, bias
    Np·3C). The shift mask, the padding and the coordinate table have no gradient to compute."""
    if not need.anything:
        return Backward()
    g = grid_check("window_attention_v2", inputs[0])
    c = g.d
    w = windows(a, g.grid)  # type: ignore[arg-type]
    np_ = batch * w.tokens
    scores = batch * a.heads * w.count * w.size * w.size
    t, hidden, biases = offsets(a), a.cpb_hidden, a.heads * w.size * w.size
    internal_macs = np_ * c * c + 4 * scores * (c // a.heads)
    internal_ops = SOFTMAX_BACKWARD_OPS * scores + scores + NORMALIZE_BACKWARD_OPS * 2 * np_ * c
    weight_macs = weight_ops = 0
    if need.weights:
        weight_macs = np_ * c * c + np_ * c * 3 * c + 2 * t * hidden * a.heads + t * 2 * hidden
        weight_ops = (np_ * c * a.bias + np_ * 3 * c * a.qkv_bias + scores + 2 * scores + 2 * a.heads + 4 * biases
                      + ACTIVATION_BACKWARD_OPS * t * hidden + t * hidden)
    if need.any_input:
        return Backward(input_macs=internal_macs + np_ * 3 * c * c, input_ops=internal_ops,
                        weight_macs=weight_macs, weight_ops=weight_ops)
    return Backward(weight_macs=weight_macs + internal_macs, weight_ops=weight_ops + internal_ops)


WA2_THOP_PARAMS = ("thop counts the parameters of hooked modules that run: cpb_mlp's two nn.Linear; not qkv and proj "
                   "(never called) nor logit_scale (held by no hooked module)")


@op("window_attention_v2", category="linear", args=WindowAttentionV2Args)
class WindowAttentionV2:
    """Swin v2's (shifted) cosine window attention on a token grid (torchvision's ShiftedWindowAttentionV2, [B, H, W,
    C]). Rows: qkv Np·C·3C, q and k L2-normalised, q·kᵀ nW·Nw²·C, the logit scale (heads params, a multiply per score),
    the continuous position bias MLP on the T = (2wh−1)·(2ww−1) offsets once per forward (Linear(2 → cpb_hidden),
    ReLU, Linear(cpb_hidden → heads): T·cpb_hidden·(2 + heads) MACs), 16·sigmoid of the gathered biases and an add
    per score, the shift mask's add per score (shifted only), softmax, a·v nW·Nw²·C, proj Np·C² MACs; Np, nW over the
    grid padded to a multiple of the window, as torchvision computes it."""

    imports = ("ShiftedWindowAttentionV2",)  # torchvision's: `convcost import` keeps it whole (importer/trace.py)

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        mlp = list(m.cpb_mlp)
        kinds = [type(x).__name__ for x in mlp]
        refuse_unless(kinds == ["Linear", "ReLU", "Linear"] and mlp[0].in_features == 2 and mlp[0].bias is not None
                      and mlp[2].bias is None and mlp[2].out_features == m.num_heads,
                      f"cpb_mlp {kinds} (convcost's is Linear(2 → hidden), ReLU, Linear(hidden → heads, no bias))")
        refuse_shift_not_below_window(m)
        return {"heads": m.num_heads, "window": list(m.window_size), "shift": list(m.shift_size),
                "qkv_bias": m.qkv.bias is not None, "bias": m.proj.bias is not None, "cpb_hidden": mlp[0].out_features}

    saves = Saves.NOTHING  # what its backward keeps is in saved_extra
    rf = staticmethod(_wa_rf)  # each position reads its window, as v1's
    backward = staticmethod(_backward)
    score_passes = staticmethod(_score_passes)
    counting = Counting(
        "aten::matmul", "ShiftedWindowAttentionV2", "window_attention_v2",
        fvcore=Counted(lambda node, cost, batch: Prediction.of(
            "aten::linear (qkv, proj, cpb_mlp) and aten::matmul", window_attention_v2=cost.macs)),
        flop_counter=Counted(lambda node, cost, batch: Prediction.of("aten.addmm/mm/bmm: 2 FLOPs per MAC",
                                                                     window_attention_v2=2 * cost.macs),
                             "FlopCounterMode reports 2 FLOPs per MAC"),
        ptflops=Counted(_ptflops, "ptflops counts cpb_mlp's modules (its Linear biases, its ReLU twice), a·v's "
                                  "tensor.matmul and the softmax (one per score); not q·kᵀ (written @), not qkv or proj "
                                  "(F.linear is not patched)"),
        thop=Counted(_thop, "thop sees only cpb_mlp's nn.Linear modules run: qkv and proj go through F.linear"),
        ptflops_aten=Counted(  # aten.addmm with the qkv, proj and cpb_mlp[0] biases; aten.mm, aten.bmm
            lambda node, cost, batch: Prediction.of(window_attention_v2=cost.macs, bias=cost.bias_ops),
            "ptflops' aten backend adds the qkv, proj and cpb_mlp biases (aten.addmm)", "bias",
        ),
        thop_params=Counted(lambda node, cost, batch: Prediction.of(params=cpb_params(node.args)), WA2_THOP_PARAMS),
        torchinfo=Counted(  # leaves that run with weights: cpb_mlp's Linears, output [1, 2wh−1, 2ww−1, ·]: 1 × params
            lambda node, cost, batch: Prediction.of(cpb_mlp=cpb_params(node.args)),
            "torchinfo counts only cpb_mlp's nn.Linear leaves (qkv and proj never run), their params once (output size[0] "
            "is 1: the coordinate table, not the batch)"),
        torchscan=Counted(lambda node, cost, batch: Prediction.of(cpb_mlp=cpb_macs(node.args)),
                          "torchscan sees only cpb_mlp's nn.Linear leaves run"),
        calflops=Counted(_calflops, "calflops misses q·kᵀ (written @; it patches Tensor.matmul)"),
        calflops_flops=Counted(_calflops_flops, "calflops counts 2 FLOPs per MAC it sees (not q·kᵀ, written @), 1 per "
                                                "softmax score and 1 per cpb_mlp ReLU output", "softmax"),
    )

    @staticmethod
    def shape(a: WindowAttentionV2Args, inputs: tuple[Shape, ...]) -> Shape:
        return window_attention_grid("window_attention_v2", a, inputs[0])

    @staticmethod
    def cost(a: WindowAttentionV2Args, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return sum((p.cost for p in window_attention_v2_parts(a, inputs, out, batch)), Cost())

    parts = staticmethod(window_attention_v2_parts)

    @staticmethod
    def saved_extra(node: NodeLike, batch: int, elem: int) -> int:
        # for the backward, per sample: qkv's (windowed) input, its whole output (F.normalize keeps q and k, views of
        # it), the normalised q and k (q·kᵀ's operands), v (a·v's, copied out of the heads' layout), the heads' output
        # before proj; each q and k vector's norm and its clamp (4 per token and head); the cosine scores (the logit
        # scale's operand) and the probabilities. Once per forward: cpb_mlp's ReLU output, the sigmoid's output, the
        # exp of the logit scale. The layer's input itself is not kept (pad and roll save nothing).
        a, c, nw, size = _v2(node)
        w = windows(a, grid_check("window_attention_v2", node.in_shapes[0]).grid)  # type: ignore[arg-type]
        per_sample = 8 * w.tokens * c + 4 * w.tokens * a.heads + 2 * a.heads * nw * size * size
        once = offsets(a) * a.cpb_hidden + a.heads * size * size + a.heads
        return (batch * per_sample + once) * elem

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.swin_v2 import ShiftedWindowAttentionV2

        a: WindowAttentionV2Args = node.args
        return ShiftedWindowAttentionV2(node.in_shapes[0][1], a.window, a.shift, a.heads, a.qkv_bias, a.bias, a.cpb_hidden)


# ---- patch merging, norm after the reduction -----------------------------------------------------------------------
@lazy_args
class PatchMergingV2Args:
    """Arguments of `patch_merging_v2`."""

    eps: float = field(default=1e-5, metadata=arg(pos_float, "epsilon of its LayerNorm(2C)"))


def patch_merging_v2_parts(a: PatchMergingV2Args, inputs: tuple[Shape, ...], out: Shape, batch: int) -> tuple[Part, ...]:
    merged = _merged(inputs[0])  # ⌈H/2⌉×⌈W/2⌉ tokens of 4C
    n, c4, c2 = merged.n, merged.d, out[1]
    return (
        Part("reduction", "linear", out, Cost(params=c4 * c2, macs=batch * n * c4 * c2)),
        Part("norm", "layernorm", out,
             Cost(params=2 * c2, norm_ops=STAT_OPS_AFFINE * batch * n * c2, activations=batch * n * c2)),
    )


def _pm2_elements(node: NodeLike, batch: int) -> int:
    """Elements of the reduced 2C grid (the norm's input and output)."""
    return batch * _merged(node.in_shapes[0]).n * node.shape[1]


def _pm2_backward(a: PatchMergingV2Args, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
    """The LayerNorm(2C) last: its parameters' gradients share the normalisation's ops (ops/grad.py), its input's
    gradient (4 more per element) serves both the reduction's weight and the layer's input; the reduction
    Linear(4C → 2C, no bias): its input's gradient (N'·4C·2C MACs) and weight's (the same); the gather and pad: slices."""
    if not need.anything:
        return Backward()
    merged = _merged(inputs[0])
    elements = batch * merged.n * out[1]
    macs = batch * merged.n * merged.d * out[1]
    ops = (NORM_SHARED_OPS + NORM_INPUT_OPS) * elements
    weight = Backward(weight_macs=macs) if need.weights else Backward()
    if need.any_input:
        return weight + Backward(input_macs=macs, input_ops=ops)
    return weight + Backward(weight_ops=ops)


def _pm2_rf(a: PatchMergingV2Args, inputs: tuple[Shape, ...], out: Shape) -> RF:
    return _pm_rf(a, inputs, out)  # type: ignore[arg-type]  # the same 2×2 gather as v1's


@op("patch_merging_v2", category="linear", args=PatchMergingV2Args)
class PatchMergingV2:
    """Swin v2's patch merging (torchvision's PatchMergingV2): each 2×2 neighbourhood of an H×W×C token grid concatenated
    (4C, padded to even H and W), Linear(4C → 2C, no bias): N'·4C·2C MACs for N' = ⌈H/2⌉·⌈W/2⌉ tokens, then
    LayerNorm(2C) (5 ops per element). Two rows: reduction, norm."""

    saves = Saves.NOTHING  # what its backward keeps is in saved_extra
    rf = staticmethod(_pm2_rf)
    backward = staticmethod(_pm2_backward)
    counting = Counting(
        "aten::linear", "PatchMergingV2", "patch_merging_v2",
        fvcore=Counted(lambda node, cost, batch: Prediction.of(
            "aten::linear; aten::layer_norm 5 per element", layer_norm=5 * _pm2_elements(node, batch),
            patch_merging_v2=cost.macs), "fvcore counts the LayerNorm(2C) 5 per element", "layer_norm"),
        flop_counter=Counted(lambda node, cost, batch: Prediction.of("aten.mm: 2 FLOPs per MAC", patch_merging_v2=2 * cost.macs),
                             "FlopCounterMode reports 2 FLOPs per MAC"),
        ptflops=Counted(lambda node, cost, batch: Prediction.of(layer_norm=_pm2_elements(node, batch),
                                                                patch_merging_v2=cost.macs),
                        "ptflops counts the nn.LayerNorm(2C) 1 per input element", "layer_norm"),
        thop=Counted(lambda node, cost, batch: Prediction.of(layer_norm=4 * _pm2_elements(node, batch),
                                                             patch_merging_v2=cost.macs),
                     "thop counts the nn.LayerNorm(2C) 4 per element", "layer_norm"),
        torchscan=Counted(lambda node, cost, batch: Prediction.of(patch_merging_v2=cost.macs),  # its nn.Linear leaf
                          "torchscan has no MAC formula for nn.LayerNorm"),
        calflops=Counted(lambda node, cost, batch: Prediction.of(patch_merging_v2=cost.macs)),
        calflops_flops=Counted(
            lambda node, cost, batch: Prediction.of(layer_norm=5 * _pm2_elements(node, batch), patch_merging_v2=2 * cost.macs),
            "calflops counts the LayerNorm(2C) 5 per element", "layer_norm",
        ),
    )

    imports = ("PatchMergingV2",)  # torchvision's: `convcost import` keeps it whole (importer/trace.py)

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        norm = m.norm
        refuse_unless(type(norm).__name__ == "LayerNorm" and norm.elementwise_affine and norm.bias is not None,
                      f"norm_layer {type(norm).__name__} (convcost's is a LayerNorm(2C) with weight and bias)")
        refuse_unless(m.reduction.bias is None, "a bias in the reduction")
        return {"eps": norm.eps}

    @staticmethod
    def shape(a: PatchMergingV2Args, inputs: tuple[Shape, ...]) -> Shape:
        grid_check("patch_merging_v2", inputs[0])  # its error names this op (v1's helper below names v1's)
        merged: TokenGrid = _merged(inputs[0])
        return merged.with_width(2 * inputs[0][1])

    @staticmethod
    def cost(a: PatchMergingV2Args, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return sum((p.cost for p in patch_merging_v2_parts(a, inputs, out, batch)), Cost())

    parts = staticmethod(patch_merging_v2_parts)

    @staticmethod
    def saved_extra(node: NodeLike, batch: int, elem: int) -> int:
        # the merged 4C grid (the reduction's input), the reduced 2C grid (the norm's input), the norm's per-token mean
        # and inverse std; the layer's input itself is not kept (pad, slices and cat save nothing)
        n = _merged(node.in_shapes[0]).n
        return batch * n * (4 + 2) * node.in_shapes[0][1] * elem + 2 * batch * n * STAT_BYTES

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.swin_v2 import PatchMergingV2 as Module

        return Module(node.in_shapes[0][1], node.args.eps)
