"""Swin's ops on a token grid (H×W tokens of width C, [B, H, W, C]; video Swin's T×H×W): windowed attention and patch
merging.

Both follow torchvision's swin_transformer.py (ShiftedWindowAttention, PatchMerging), and their torch
modules (modules/tokens.py) run the same torch calls, so that the counters see what they see
on torchvision's Swin.

window_attention, per sample, for a window wh×ww (Nw = wh·ww tokens) and `heads` heads of C/heads:
the grid is padded at the bottom and right up to a multiple of the window (Hp×Wp, Np = Hp·Wp tokens,
nW = Np / Nw windows), as torchvision pads it, and every count below is over the padded tokens,
as torchvision computes them:

- qkv: Np·C·3C MACs (+ 3C bias per token),
- q·kᵀ: nW·heads·Nw²·(C/heads) = nW·Nw²·C MACs (+ Np·C to scale q, non-MAC),
- relative position bias: (2wh−1)·(2ww−1)·heads params, its (Nw)² index a buffer; one add per score
  (heads·nW·Nw² scores),
- the shift mask (shifted windows only): one add per score; building the mask (a few compares per
  window pair, the same for every sample) is not counted; with ``mask_buffer`` it is held as a buffer
  [nW, Nw, Nw] made once (timm's SwinTransformerBlock.attn_mask: nW·Nw² buffers),
- softmax: 3 non-MAC ops per score (docs/conventions.md),
- a·v: nW·Nw²·C MACs,
- proj: Np·C² MACs (+ C bias per token).
With ``einsum: true`` q·kᵀ and a·v run as torch.einsum (MaxViT's RelativePositionalMultiHeadAttention): the same
arithmetic, which fvcore counts from numpy's rounded estimate (counting.fvcore_einsum) and ptflops not at all.

Padding, the cyclic shift (torch.roll), window partition and reverse, and the crop back to H×W
move data: no arithmetic. A shift is dropped along a dimension whose padded size is no larger than the
window (one window: nothing to shift), as torchvision drops it.

window_attention_3d is video Swin's (torchvision's video/swin_transformer.py, ShiftedWindowAttention3d) on a T×H×W
grid [B, T, H, W, C], window wt×wh×ww: the same rows over its windows (Nw = wt·wh·ww tokens), with a
(2wt−1)·(2wh−1)·(2ww−1)·heads table and a (wt·wh·ww)² index. It is an op of its own, not window_attention with a
third dim, because torchvision cuts a small grid differently in 3-D: along a dim no larger than the window the
window shrinks to the grid, unshifted (_get_window_and_shift_size), where the 2-D module pads the grid up to the
window (a 4×4 grid, window 7: 3-D attends in 4×4 windows of 16 tokens, 2-D in one 7×7 window of 49). The formulas
are shared (Windowing: each op's cut of the grid, then the same parts, counts, backward and saved bytes).

patch_merging merges the last two grid dims (H, W); a T×H×W grid frame by frame, as video Swin runs torchvision's
PatchMerging on [B, T, H, W, C].
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import field
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

from ..cost import Backward, Cost
from .activations import SOFTMAX_OPS
from .counting import Counted, Counting, Prediction, fvcore_einsum, numpy_einsum_estimate
from .grad import NORM_INPUT_OPS, NORM_SHARED_OPS, SOFTMAX_BACKWARD_OPS, Need
from .norm import STAT_BYTES, STAT_OPS_AFFINE
from .pool import INDEX_BYTES
from .receptive import IDENTITY, RF, WHOLE, Taps, taps, window
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
    lazy_args,
    nonneg_int,
    op,
    pair,
    pos_float,
    pos_int,
    refuse_unless,
    score_passes,
    triple,
)
from .shapes import TokenGrid, fmt_shape, grid_of
from .tokens import token_check

if TYPE_CHECKING:
    from torch import nn


def refuse_shift_not_below_window(m: Any) -> None:
    """torchvision's shifted window attentions (v1, v2, 3-D) run a shift as large as the window (a roll by whole
    windows); the ops here refuse it (shift < window), so import refuses such a module rather than write a spec analyze
    rejects."""
    refuse_unless(all(s < w for s, w in zip(m.shift_size, m.window_size)),
                  f"shift_size {list(m.shift_size)} not smaller than window_size {list(m.window_size)} (convcost's "
                  "shift must be)")


def grid_check(kind: str, shape: Shape, rank: int | None = None) -> TokenGrid:
    """The input of an op that needs a token grid [B, H, W, C] (``rank`` 2) or [B, T, H, W, C] (``rank`` 3); any
    rank where ``rank`` is None."""
    t = token_check(kind, shape)
    grid = grid_of(t)
    if grid is None:
        raise ShapeError(f"{kind} needs a token grid (H×W tokens), got a token sequence {fmt_shape(t)}; make one with "
                         "'patch_embed' or 'to_tokens' and 'grid: true'")
    if rank is not None and len(grid) != rank:
        want, other = ("an H×W", "window_attention_3d") if rank == 2 else ("a T×H×W", "window_attention")
        raise ShapeError(f"{kind} needs {want} token grid, got {fmt_shape(t)} ({len(grid)} grid dims); "
                         f"'{other}' takes {'T×H×W' if rank == 2 else 'H×W'} grids")
    assert isinstance(t, TokenGrid)
    return t


GRID_DIMS = {2: ("height", "width"), 3: ("time", "height", "width")}


def window_attention_grid(name: str, a: Any, x: Shape) -> TokenGrid:
    """The token grid a shifted window attention (v1, v2, 3-D: ``a`` has heads, window and shift) takes and gives: a
    grid with a dim per window dim, its width divided by the heads, and each dim's shift smaller than its window."""
    g = grid_check(name, x, len(a.window))
    if g.d % a.heads:
        raise ShapeError(f"heads={a.heads} must divide the token width {g.d}", "heads")
    for dim, shift, size in zip(GRID_DIMS[len(a.window)], a.shift, a.window):
        if shift >= size:
            raise ShapeError(f"shift {shift} must be smaller than the window {size} ({dim})", "shift")
    return g


def _ceil_to(n: int, k: int) -> int:
    return -(-n // k) * k


# ---- windowed attention ------------------------------------------------------------------------
@lazy_args
class WindowAttentionArgs:
    """Arguments of `window_attention` (those of torchvision's ShiftedWindowAttention)."""

    heads: int = field(metadata=arg(pos_int, "attention heads (C / heads each)"))
    window: tuple[int, int] = field(metadata=arg(pair(pos_int), "window size w or [wh, ww]"))
    shift: tuple[int, int] = field(default=(0, 0), metadata=arg(pair(nonneg_int), "cyclic shift (SW-MSA: window // 2; 0: W-MSA)"))
    qkv_bias: bool = field(default=True, metadata=arg(boolean, "bias of the Q/K/V projection"))
    bias: bool = field(default=True, metadata=arg(boolean, "bias of the output projection (proj_bias)"))
    einsum: bool = field(default=False, metadata=arg(boolean, "q·kᵀ and a·v with torch.einsum, as MaxViT's attention "
                                                                "(the same MACs; fvcore rounds an einsum's count)"))
    mask_buffer: bool = field(default=False, metadata=arg(boolean, "the shift mask held as a buffer [nW, Nw, Nw] made "
                                                                     "once (timm's SwinTransformerBlock.attn_mask), not "
                                                                     "built in the forward: nW·Nw² buffers when shifted"))


@lazy_args
class WindowAttention3dArgs:
    """Arguments of `window_attention_3d` (those of torchvision's ShiftedWindowAttention3d)."""

    heads: int = field(metadata=arg(pos_int, "attention heads (C / heads each)"))
    window: tuple[int, int, int] = field(metadata=arg(triple(pos_int), "window size w or [wt, wh, ww] (T, H, W)"))
    shift: tuple[int, int, int] = field(default=(0, 0, 0), metadata=arg(
        triple(nonneg_int), "cyclic shift s or [st, sh, sw] (SW-MSA: window // 2; 0: W-MSA)"))
    qkv_bias: bool = field(default=True, metadata=arg(boolean, "bias of the Q/K/V projection"))
    bias: bool = field(default=True, metadata=arg(boolean, "bias of the output projection (proj_bias)"))


class Windows(NamedTuple):
    """How a grid is cut into windows (2 or 3 dims): the padded size, the window, the shift torchvision applies."""

    padded: tuple[int, ...]  # Hp, Wp (Tp, Hp, Wp)
    window: tuple[int, ...]  # the window torchvision uses (3-D: no larger than the grid)
    shift: tuple[int, ...]  # 0 where torchvision drops it

    @property
    def size(self) -> int:  # Nw: tokens per window
        return math.prod(self.window)

    @property
    def count(self) -> int:  # nW
        return math.prod(p // w for p, w in zip(self.padded, self.window))

    @property
    def tokens(self) -> int:  # Np: padded tokens
        return math.prod(self.padded)

    @property
    def shifted(self) -> bool:
        return sum(self.shift) > 0


def windows(a: WindowAttentionArgs, grid: tuple[int, ...]) -> Windows:
    """torchvision's 2-D cut (swin_transformer.py, v1 and v2): the grid padded to whole windows, a window larger than
    the grid too (a 4×4 grid, window 7: one 7×7 window of 49 tokens); the shift dropped along a dim whose padded size
    is no larger than the window."""
    padded = tuple(_ceil_to(g, w) for g, w in zip(grid, a.window))
    shift = tuple(0 if w >= p else s for w, p, s in zip(a.window, padded, a.shift))
    return Windows(padded, tuple(a.window), shift)


def windows_3d(a: WindowAttention3dArgs, grid: tuple[int, ...]) -> Windows:
    """torchvision's 3-D cut (video/swin_transformer.py, _get_window_and_shift_size): along a dim no larger than the
    window the window shrinks to the grid, unshifted (a 4-frame grid, window 8: one window of 4 frames, nothing
    padded); the other dims padded to whole windows."""
    window = tuple(min(g, w) for g, w in zip(grid, a.window))
    shift = tuple(0 if g <= w else s for g, w, s in zip(grid, a.window, a.shift))
    return Windows(tuple(_ceil_to(g, w) for g, w in zip(grid, window)), window, shift)


class Windowing(NamedTuple):
    """An op's windowed attention: its name (for messages), how it cuts a grid, and its relative position bias (the
    table's rows, the index's elements): window_attention's and window_attention_3d's counts are the same formulas
    over the windows each cuts."""

    name: str
    cut: Callable[[Any, tuple[int, ...]], Windows]

    def of(self, a: Any, shape: Shape) -> tuple[TokenGrid, Windows]:
        g = grid_check(self.name, shape, len(a.window))
        return g, self.cut(a, g.grid)

    def node(self, node: NodeLike) -> tuple[TokenGrid, Windows]:
        return self.of(node.args, node.in_shapes[0])


PLANE = Windowing("window_attention", windows)
VOLUME = Windowing("window_attention_3d", windows_3d)


def bias_table(a: WindowAttentionArgs | WindowAttention3dArgs) -> int:
    """relative_position_bias_table: (2wh − 1)·(2ww − 1) ((2wt − 1)·(2wh − 1)·(2ww − 1)) rows of one bias per head, of
    the window as configured (torchvision sizes it so, whatever window a smaller 3-D grid uses)."""
    return math.prod(2 * w - 1 for w in a.window) * a.heads


def bias_index(a: WindowAttentionArgs | WindowAttention3dArgs) -> int:
    """relative_position_index: one row of the table per pair of a configured window's tokens, (wh·ww)² ((wt·wh·ww)²);
    3-D reads its top-left (Nw)² corner when its window shrinks."""
    return math.prod(a.window) ** 2


def attention_parts(cut: Windowing, a: Any, inputs: tuple[Shape, ...], out: Shape, batch: int,
                    mask_buffer: bool = False) -> tuple[Part, ...]:
    """The rows of a (shifted) window attention over the windows ``cut`` makes; ``mask_buffer``: the shift mask is held
    as a buffer (timm's, window_attention's `mask_buffer`), else built in the forward (torchvision's: not counted)."""
    g, w = cut.of(a, inputs[0])
    c = g.d
    np_, nw, size = w.tokens, w.count, w.size
    scores = batch * a.heads * nw * size * size
    per_head = (nw, a.heads, size, size)
    parts = [
        Part("qkv", "linear", (nw, size, 3 * c),
             Cost(params=3 * c * c + (3 * c if a.qkv_bias else 0), macs=batch * np_ * c * 3 * c,
                  bias_ops=batch * np_ * 3 * c if a.qkv_bias else 0)),
        Part("q·kᵀ", "matmul", per_head, Cost(macs=scores * (c // a.heads), elementwise_ops=batch * np_ * c)),  # + q scaled
        Part("rel_pos_bias", "add", per_head, Cost(params=bias_table(a), buffers=bias_index(a), elementwise_ops=scores)),
    ]
    if w.shifted:  # held as a buffer (timm's), or built in the forward (torchvision's: not counted)
        held = nw * size * size if mask_buffer else 0
        parts.append(Part("shift_mask", "add", per_head, Cost(buffers=held, elementwise_ops=scores)))
    parts += [
        Part("softmax", "softmax", per_head, Cost(act_ops=SOFTMAX_OPS * scores)),
        Part("a·v", "matmul", (nw, size, c), Cost(macs=scores * (c // a.heads))),
        Part("proj", "linear", out, Cost(params=c * c + (c if a.bias else 0), macs=batch * np_ * c * c,
                                         bias_ops=batch * np_ * c if a.bias else 0, activations=batch * g.n * c)),
    ]
    return tuple(parts)


def window_attention_parts(a: WindowAttentionArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> tuple[Part, ...]:
    return attention_parts(PLANE, a, inputs, out, batch, a.mask_buffer)


def window_attention_3d_parts(a: WindowAttention3dArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> tuple[Part, ...]:
    return attention_parts(VOLUME, a, inputs, out, batch)


def _matmuls(cut: Windowing, node: NodeLike, batch: int) -> int:
    """q·kᵀ and a·v MACs (what tensor.matmul computes)."""
    g, w = cut.node(node)
    return 2 * batch * w.count * w.size * w.size * g.d


def _wa_matmuls(node: NodeLike, batch: int) -> int:
    return _matmuls(PLANE, node, batch)


def einsum_shapes(node: NodeLike, batch: int) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """The operands of the two einsums ``einsum: true`` runs ((b·nW, heads, Nw, C/heads) for q and k; the scores
    (b·nW, heads, Nw, Nw) and v for a·v): each `bhid,bhjd->bhij` / `bhij,bhjd->bhid` over b·nW·heads·Nw²·(C/heads)."""
    a: WindowAttentionArgs = node.args
    g, w = PLANE.node(node)
    head = (batch * w.count, a.heads, w.size, g.d // a.heads)
    return head, (batch * w.count, a.heads, w.size, w.size)


QK_EINSUM, AV_EINSUM = "bhid,bhjd->bhij", "bhij,bhjd->bhid"


def _wa_fvcore(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # aten::linear (qkv, proj) and aten::matmul exactly; an aten::einsum from numpy's rounded estimate
    if not node.args.einsum:
        return Prediction.of("aten::linear and aten::matmul", window_attention=cost.macs)
    head, scores = einsum_shapes(node, batch)
    exact = _wa_matmuls(node, batch)
    counted = fvcore_einsum(QK_EINSUM, [head, head]) + fvcore_einsum(AV_EINSUM, [scores, head])
    return Prediction.of("aten::linear, and aten::einsum from numpy's einsum_path estimate (4 significant digits)",
                         window_attention=cost.macs - exact, einsum=counted)


def _scores(cut: Windowing, node: NodeLike, batch: int) -> int:
    _, w = cut.node(node)
    return batch * node.args.heads * w.count * w.size * w.size


def _wa_scores(node: NodeLike, batch: int) -> int:
    return _scores(PLANE, node, batch)


def _score_passes(cut: Windowing, node: NodeLike, batch: int) -> tuple[ScorePass, ...]:
    """The passes over its scores in memory (for the latency model), as torchvision's (and modules/tokens.py's,
    swin3d.py's) forward makes them: q·kᵀ writes them (tensor.matmul or einsum), `attn + bias` reads them and writes a
    new tensor, so does `+ mask` when shifted, F.softmax too, a·v reads them. Building the shift mask (nW·Nw² per
    window pair, not per head) is not counted. And the copies of its Np·C tokens: pad, the window partition, q scaled,
    k and v made contiguous for the matmuls, the heads' output and the window reverse reshaped, and when shifted the
    two rolls: 7 (9)."""
    g, w = cut.node(node)
    passes = score_passes(_scores(cut, node, batch), *(("add", "add") if w.shifted else ("add",)))
    return passes + copies(batch * w.tokens * g.d, 9 if w.shifted else 7)


def _wa_ptflops(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # its patched tensor.matmul (q·kᵀ, a·v; torch.einsum is not patched) and F.softmax (one per score); not F.linear
    # (left unpatched), and the qkv/proj nn.Linear hooks never fire: the module calls F.linear with their weights
    matmuls = 0 if node.args.einsum else _wa_matmuls(node, batch)
    return Prediction.of(window_attention=matmuls + _wa_scores(node, batch))


def _calflops_einsums(node: NodeLike, batch: int) -> tuple[int, int]:
    """(the MACs of q·kᵀ and a·v written as torch.einsum, what calflops 0.3.2 counts for them): its einsum handler
    (_einsum_flops_compute) returns numpy's einsum_path "Optimized FLOP count" as FLOPs and 0 MACs; (0, 0) where they
    are tensor.matmul (`einsum: false`, and window_attention_3d)."""
    if not getattr(node.args, "einsum", False):
        return 0, 0
    head, scores = einsum_shapes(node, batch)
    return _wa_matmuls(node, batch), numpy_einsum_estimate(QK_EINSUM, [head, head]) + numpy_einsum_estimate(
        AV_EINSUM, [scores, head])


def _calflops_macs(op_name: str) -> Counted:
    def predict(node: NodeLike, cost: Cost, batch: int) -> Prediction:  # F.linear and Tensor.matmul; an einsum 0
        return Prediction.of(**{op_name: cost.macs - _calflops_einsums(node, batch)[0]})

    return Counted(predict, "calflops counts no MAC of torch.einsum (`einsum: true`)")


def _calflops_flops(cut: Windowing, op_name: str) -> Counted:
    def predict(node: NodeLike, cost: Cost, batch: int) -> Prediction:
        einsum_macs, einsum_flops = _calflops_einsums(node, batch)
        return Prediction.of(**{op_name: 2 * (cost.macs - einsum_macs), "softmax": _scores(cut, node, batch)},
                             **({"einsum": einsum_flops} if einsum_macs else {}))

    return Counted(predict, "calflops counts 2 FLOPs per MAC (F.linear without its bias, Tensor.matmul), 1 per softmax "
                            "score, and an einsum (`einsum: true`) from numpy's einsum_path estimate", "softmax")


WA_PARAMS = ("thop counts the parameters of hooked modules that run: ShiftedWindowAttention's qkv and proj never "
             "run and its relative position bias table belongs to no hooked module")


def _window_taps(window_: int, shift: int, padded: int) -> Taps:
    """One grid dim of windowed attention: a position attends to the window holding it. torchvision rolls the grid by
    −shift and cuts windows from 0, so the windows start at shift, shift + w, ... of the original grid: position o's
    window starts at o − ((o − shift) mod w). (The window that wraps around the end is masked into its two parts, which
    on a bounded grid are these same windows.) A dim that is one window (w ≥ the padded size) is read whole."""
    if window_ >= padded:
        return WHOLE
    return Taps(window_, window_, tuple(
        tuple(r - (r - shift) % window_ + t for t in range(window_)) for r in range(window_)))


def _rf(cut: Windowing, a: Any, inputs: tuple[Shape, ...], out: Shape) -> RF:
    _, w = cut.of(a, inputs[0])
    return taps(*(_window_taps(k, s, p) for k, s, p in zip(w.window, w.shift, w.padded)))


def _wa_rf(a: WindowAttentionArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
    return _rf(PLANE, a, inputs, out)


def _backward(cut: Windowing, a: Any, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
    """As attention's (ops/attention.py attention_backward) over the padded tokens, window by window: proj's input
    gradient (Np·C² MACs) and weight (Np·C², bias Np·C); a·v and q·kᵀ four products of nW·Nw²·C; softmax 4 per
    score; q's scale 1 per element; the relative position bias table's gradient, the scores' gradient summed into
    it (one add per score); qkv's input gradient (Np·3C·C) and weight (Np·C·3C, bias Np·3C). The shift mask and
    the padding have no gradient to compute."""
    if not need.anything:
        return Backward()
    g, w = cut.of(a, inputs[0])
    c = g.d
    np_ = batch * w.tokens
    scores = batch * a.heads * w.count * w.size * w.size
    internal_macs = np_ * c * c + 4 * scores * (c // a.heads)
    internal_ops = SOFTMAX_BACKWARD_OPS * scores + np_ * c
    weight_macs = np_ * c * c + np_ * c * 3 * c if need.weights else 0
    weight_ops = (np_ * c * a.bias + np_ * 3 * c * a.qkv_bias + scores) if need.weights else 0
    if need.any_input:
        return Backward(input_macs=internal_macs + np_ * 3 * c * c, input_ops=internal_ops,
                        weight_macs=weight_macs, weight_ops=weight_ops)
    return Backward(weight_macs=weight_macs + internal_macs, weight_ops=weight_ops + internal_ops)


def _wa_backward(a: WindowAttentionArgs, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
    return _backward(PLANE, a, inputs, out, batch, need)


def _saved(cut: Windowing, node: NodeLike, batch: int, elem: int) -> int:
    """For the backward: the windowed (padded, shifted) input of qkv, q, k, v, the attention probabilities and the
    heads' output before proj; the layer's input itself is not kept (pad and roll save nothing)."""
    g, w = cut.node(node)
    return batch * (5 * w.tokens * g.d + node.args.heads * w.count * w.size * w.size) * elem


WA_THOP = ("thop's hooks sit on the qkv and proj nn.Linear modules, which ShiftedWindowAttention never calls "
           "(it calls F.linear with their weights): none of it counted")


def _counting(cut: Windowing, module: str, ptflops: Callable[[NodeLike, Cost, int], Prediction],
              fvcore: Counted) -> Counting:
    """How counters see torchvision's (shifted) window attention, 2-D or 3-D: the same calls (F.linear with the qkv and
    proj weights, tensor.matmul, F.softmax) on the windows each cuts."""
    op_name = cut.name
    return Counting(
        "aten::matmul", module, op_name,
        fvcore=fvcore,
        flop_counter=Counted(lambda node, cost, batch: Prediction.of("aten.addmm/bmm: 2 FLOPs per MAC",
                                                                     **{op_name: 2 * cost.macs}),
                             "FlopCounterMode reports 2 FLOPs per MAC"),
        ptflops=Counted(ptflops, "ptflops counts only the q·kᵀ and a·v tensor.matmul (not an einsum) and the "
                                 "softmax (one per score): F.linear is not patched and the qkv/proj nn.Linear hooks "
                                 "never fire"),
        thop=Counted(lambda node, cost, batch: Prediction.unseen(WA_THOP), WA_THOP),
        ptflops_aten=Counted(  # F.linear on contiguous windows: aten.addmm with the biases; q·kᵀ, a·v: aten.bmm
            lambda node, cost, batch: Prediction.of(**{op_name: cost.macs, "bias": cost.bias_ops}),
            "ptflops' aten backend adds the qkv and proj biases (aten.addmm)", "bias",
        ),
        thop_params=Counted(lambda node, cost, batch: Prediction.unseen(WA_PARAMS), WA_PARAMS),
        torchinfo=Counted(lambda node, cost, batch: Prediction.unseen(
            f"torchinfo: {module} is not a leaf, and its qkv and proj nn.Linear never run")),
        torchscan=Counted(lambda node, cost, batch: Prediction.unseen(
            f"torchscan: {module} is not a leaf, and its qkv and proj nn.Linear never run")),
        calflops=_calflops_macs(op_name),  # F.linear, Tensor.matmul; torch.einsum: no MACs
        calflops_flops=_calflops_flops(cut, op_name),
    )


@op("window_attention", category="linear", args=WindowAttentionArgs)
class WindowAttention:
    """Swin's (shifted) window self-attention on a token grid (torchvision's ShiftedWindowAttention, [B, H, W, C]).
    Rows: qkv Np·C·3C, q·kᵀ nW·Nw²·C, relative position bias (2w−1)²·heads params and an add per score, the shift
    mask's add per score (shifted only), softmax (3 non-MAC ops per score), a·v nW·Nw²·C, proj Np·C² MACs; Np, nW
    over the grid padded to a multiple of the window, as torchvision computes it; the mask's construction is not
    counted."""

    imports = ("ShiftedWindowAttention",)  # torchvision's (v1): `convcost import` keeps it whole (importer/trace.py)

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        refuse_shift_not_below_window(m)
        return {"heads": m.num_heads, "window": list(m.window_size), "shift": list(m.shift_size),
                "qkv_bias": m.qkv.bias is not None, "bias": m.proj.bias is not None}

    saves = Saves.NOTHING  # what its backward keeps is in saved_extra
    rf = staticmethod(_wa_rf)
    backward = staticmethod(_wa_backward)
    score_passes = staticmethod(partial(_score_passes, PLANE))
    counting = _counting(
        PLANE, "ShiftedWindowAttention", _wa_ptflops,
        Counted(_wa_fvcore, "fvcore counts an einsum (`einsum: true`) from numpy's einsum_path estimate, which numpy "
                            "rounds to 4 significant digits", "einsum"))

    @staticmethod
    def shape(a: WindowAttentionArgs, inputs: tuple[Shape, ...]) -> Shape:
        return window_attention_grid("window_attention", a, inputs[0])

    @staticmethod
    def cost(a: WindowAttentionArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return sum((p.cost for p in window_attention_parts(a, inputs, out, batch)), Cost())

    parts = staticmethod(window_attention_parts)

    @staticmethod
    def saved_extra(node: NodeLike, batch: int, elem: int) -> int:
        return _saved(PLANE, node, batch, elem)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.tokens import ShiftedWindowAttention

        a: WindowAttentionArgs = node.args
        held = windows(a, grid_check("window_attention", node.in_shapes[0]).grid) if a.mask_buffer else None
        return ShiftedWindowAttention(node.in_shapes[0][1], a.window, a.shift, a.heads, a.qkv_bias, a.bias, a.einsum,
                                      held.padded if held is not None and held.shifted else None)


def _wa3_ptflops(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # as window_attention's (the same calls): the patched tensor.matmul (q·kᵀ, a·v) and F.softmax, one per score
    return Prediction.of(window_attention_3d=_matmuls(VOLUME, node, batch) + _scores(VOLUME, node, batch))


@op("window_attention_3d", category="linear", args=WindowAttention3dArgs)
class WindowAttention3d:
    """Video Swin's (shifted) 3-D window self-attention on a T×H×W token grid (torchvision's ShiftedWindowAttention3d,
    [B, T, H, W, C]). Along a dim no larger than the window, the window is the whole dim, unshifted (torchvision's
    _get_window_and_shift_size); the other dims are padded to whole windows. Rows as window_attention's over those
    windows: qkv Np·C·3C, q·kᵀ nW·Nw²·C, relative position bias (2wt−1)·(2wh−1)·(2ww−1)·heads params (of the window as
    given) and an add per score, the shift mask's add per score (shifted only), softmax (3 non-MAC ops per score),
    a·v nW·Nw²·C, proj Np·C² MACs; the mask's construction is not counted."""

    imports = ("ShiftedWindowAttention3d",)  # torchvision's (video): `convcost import` keeps it whole (importer/trace.py)

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        refuse_shift_not_below_window(m)
        return {"heads": m.num_heads, "window": list(m.window_size), "shift": list(m.shift_size),
                "qkv_bias": m.qkv.bias is not None, "bias": m.proj.bias is not None}

    saves = Saves.NOTHING  # what its backward keeps is in saved_extra
    rf = staticmethod(partial(_rf, VOLUME))
    backward = staticmethod(partial(_backward, VOLUME))
    score_passes = staticmethod(partial(_score_passes, VOLUME))
    counting = _counting(VOLUME, "ShiftedWindowAttention3d", _wa3_ptflops,
                         Counted(lambda node, cost, batch: Prediction.of("aten::linear and aten::matmul",
                                                                         window_attention_3d=cost.macs)))

    @staticmethod
    def shape(a: WindowAttention3dArgs, inputs: tuple[Shape, ...]) -> Shape:
        return window_attention_grid("window_attention_3d", a, inputs[0])

    @staticmethod
    def cost(a: WindowAttention3dArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return sum((p.cost for p in window_attention_3d_parts(a, inputs, out, batch)), Cost())

    parts = staticmethod(window_attention_3d_parts)

    @staticmethod
    def saved_extra(node: NodeLike, batch: int, elem: int) -> int:
        # as window_attention's; and where the window shrank, the bias gather's index, once per forward: torchvision
        # flattens the index's top-left (Nw)² corner, a copy (int64) that the gather keeps for its backward (the whole
        # index flattens to a view of the buffer, which is not an activation)
        _, w = VOLUME.node(node)
        shrunk = w.size < math.prod(node.args.window)
        return _saved(VOLUME, node, batch, elem) + (w.size * w.size * INDEX_BYTES if shrunk else 0)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.swin3d import ShiftedWindowAttention3d

        a: WindowAttention3dArgs = node.args
        return ShiftedWindowAttention3d(node.in_shapes[0][1], a.window, a.shift, a.heads, a.qkv_bias, a.bias)


# ---- patch merging -----------------------------------------------------------------------------
@lazy_args
class PatchMergingArgs:
    """Arguments of `patch_merging`."""

    eps: float = field(default=1e-5, metadata=arg(pos_float, "epsilon of its LayerNorm(4C)"))


def _merged(shape: Shape) -> TokenGrid:
    """The 4C grid of each 2×2 neighbourhood of the last two grid dims (H, W), padded to even by one row/column, as
    torchvision does; a T×H×W grid is merged frame by frame (video Swin runs torchvision's PatchMerging on [..., H, W,
    C]): T×⌈H/2⌉×⌈W/2⌉."""
    g = grid_check("patch_merging", shape)
    *lead, h, w = g.grid
    return TokenGrid(*lead, (h + 1) // 2, (w + 1) // 2, 4 * g.d)


def patch_merging_parts(a: PatchMergingArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> tuple[Part, ...]:
    merged = _merged(inputs[0])
    n, c4 = merged.n, merged.d
    return (
        Part("norm", "layernorm", merged, Cost(params=2 * c4, norm_ops=STAT_OPS_AFFINE * batch * n * c4)),
        Part("reduction", "linear", out, Cost(params=c4 * out[1], macs=batch * n * c4 * out[1], activations=batch * n * out[1])),
    )


def _pm_elements(node: NodeLike, batch: int) -> int:
    """Elements of the merged 4C grid (the norm's input)."""
    return batch * _merged(node.in_shapes[0]).n * 4 * node.in_shapes[0][1]


def _pm_backward(a: PatchMergingArgs, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
    """The reduction Linear(4C → 2C, no bias): its input's gradient (N'·4C·2C MACs) and weight's (the same); the
    LayerNorm(4C) before it: normalisation's ops (ops/grad.py); the 2×2 gather and pad: slices of the gradient.
    The norm's parameters need the reduction's input gradient too."""
    if not need.anything:
        return Backward()
    merged = _merged(inputs[0])
    elements = batch * merged.n * merged.d
    macs = batch * merged.n * merged.d * out[1]
    weight = Backward(weight_macs=macs) if need.weights else Backward()
    if need.any_input:
        return weight + Backward(input_macs=macs, input_ops=(NORM_SHARED_OPS + NORM_INPUT_OPS) * elements)
    return weight + Backward(weight_macs=macs, weight_ops=NORM_SHARED_OPS * elements)


def _pm_rf(a: PatchMergingArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
    # each token gathers a 2×2 neighbourhood of H and W; a T×H×W grid keeps its frames
    lead = len(grid_check("patch_merging", inputs[0]).grid) - 2
    return taps(*(IDENTITY,) * lead, window(2, 2, 0), window(2, 2, 0))


@op("patch_merging", category="linear", args=PatchMergingArgs)
class PatchMerging:
    """Swin's patch merging (torchvision's PatchMerging): each 2×2 neighbourhood of an H×W×C token grid concatenated
    (4C, padded to even H and W), LayerNorm(4C) (5 ops per element), Linear(4C → 2C, no bias): N'·4C·2C MACs for
    N' = ⌈H/2⌉·⌈W/2⌉ tokens (T·⌈H/2⌉·⌈W/2⌉ on a T×H×W grid, merged frame by frame as video Swin does). Two rows:
    norm, reduction."""

    saves = Saves.NOTHING  # what its backward keeps is in saved_extra
    rf = staticmethod(_pm_rf)
    backward = staticmethod(_pm_backward)
    counting = Counting(
        "aten::linear", "PatchMerging", "patch_merging",
        fvcore=Counted(lambda node, cost, batch: Prediction.of(
            "aten::layer_norm 5 per element; aten::linear", layer_norm=5 * _pm_elements(node, batch), patch_merging=cost.macs),
            "fvcore counts the LayerNorm(4C) 5 per element", "layer_norm"),
        flop_counter=Counted(lambda node, cost, batch: Prediction.of("aten.mm: 2 FLOPs per MAC", patch_merging=2 * cost.macs),
                             "FlopCounterMode reports 2 FLOPs per MAC"),
        ptflops=Counted(lambda node, cost, batch: Prediction.of(layer_norm=_pm_elements(node, batch), patch_merging=cost.macs),
                        "ptflops counts the nn.LayerNorm(4C) 1 per input element", "layer_norm"),
        thop=Counted(lambda node, cost, batch: Prediction.of(layer_norm=4 * _pm_elements(node, batch), patch_merging=cost.macs),
                     "thop counts the nn.LayerNorm(4C) 4 per element", "layer_norm"),
        torchscan=Counted(lambda node, cost, batch: Prediction.of(patch_merging=cost.macs),  # its nn.Linear leaf
                          "torchscan has no MAC formula for nn.LayerNorm"),
        calflops=Counted(lambda node, cost, batch: Prediction.of(patch_merging=cost.macs)),
        calflops_flops=Counted(
            lambda node, cost, batch: Prediction.of(layer_norm=5 * _pm_elements(node, batch), patch_merging=2 * cost.macs),
            "calflops counts the LayerNorm(4C) 5 per element", "layer_norm",
        ),
    )

    imports = ("PatchMerging",)  # torchvision's (v1): `convcost import` keeps it whole (importer/trace.py)

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        norm = m.norm
        refuse_unless(type(norm).__name__ == "LayerNorm" and norm.elementwise_affine and norm.bias is not None,
                      f"norm_layer {type(norm).__name__} (convcost's is a LayerNorm(4C) with weight and bias)")
        refuse_unless(m.reduction.bias is None, "a bias in the reduction")
        return {"eps": norm.eps}

    @staticmethod
    def shape(a: PatchMergingArgs, inputs: tuple[Shape, ...]) -> Shape:
        return _merged(inputs[0]).with_width(2 * inputs[0][1])

    @staticmethod
    def cost(a: PatchMergingArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return sum((p.cost for p in patch_merging_parts(a, inputs, out, batch)), Cost())

    parts = staticmethod(patch_merging_parts)

    @staticmethod
    def saved_extra(node: NodeLike, batch: int, elem: int) -> int:
        # the merged 4C grid (the norm's input), its per-token mean and inverse std, and the norm's output
        # (the linear's input); the layer's input itself is not kept (pad, slices and cat save nothing)
        n = _merged(node.in_shapes[0]).n
        return 2 * _pm_elements(node, batch) * elem + 2 * batch * n * STAT_BYTES

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.tokens import PatchMerging as Module

        return Module(node.in_shapes[0][1], node.args.eps)
