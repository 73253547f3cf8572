"""Ops facts no test stated, found by the survivors of issue 19's third uniform mutation sample (seed 2107,
tests/mutation_sample_2107.txt; docs/testing.md, "A third uniform sample"). Written after that draw: the kills here
do not count in that sample's score. Each number is derived by hand beside it, from the op's documented formula.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from conftest import analysis_of

from convcost.cost import Backward, Cost
from convcost.ops.grad import Need
from convcost.ops.mvit import grid_from_call
from convcost.ops.registry import ShapeError
from convcost.ops.shapes import is_tokens


def _node(spec: str, k: int = 0) -> Any:
    return analysis_of(spec).layers[k].node


# ---- stack: every branch is compared with the first ------------------------------------------------------------
def test_stack_refuses_a_first_branch_unlike_the_others() -> None:
    node = _node("input: [4, 6]\nlayers:\n  - stack: {from: [input, input]}\n")
    with pytest.raises(ShapeError, match=r"cannot stack branch 1 \(.*8.*\) and branch 2 \(.*6.*\): shapes must be equal"):
        node.rule.shape(node.args, ((4, 8), (4, 6)))  # branch 1 is 4×8, branch 2 4×6
    with pytest.raises(ShapeError, match=r"cannot stack branch 1 .* and branch 3 "):
        node.rule.shape(node.args, ((4, 6), (4, 6), (4, 8)))


# ---- scaled_dot_product_attention: a learned [L, S] mask with heads before it ------------------------------------
def test_sdpa_takes_a_learned_mask_of_the_scores_last_two_dims() -> None:
    # q, k, v [2, 5, 4] per sample: 2 heads, L = S = 5: scores [2, 5, 5]; a [5, 5] mask broadcasts to them, as in torch
    lc = analysis_of("input: [2, 5, 4]\nlayers:\n  - sdpa: {from: [input, input, input], mask: [5, 5]}\n").layers[0]
    assert tuple(lc.node.shape) == (2, 5, 4)
    assert lc.cost.params == 5 * 5  # the learned mask itself


# ---- unflatten: splitting the tokens' width D leaves no tokens ---------------------------------------------------
def test_unflatten_of_the_token_width_is_not_tokens() -> None:
    split = _node("input: {tokens: [5, 8]}\nlayers:\n  - unflatten: {dim: -1, sizes: [2, 4]}\n")
    assert tuple(split.shape) == (5, 2, 4) and not is_tokens(split.shape)  # D = 8 is split: no width D is last


# ---- refusals point at their argument and say what to do -------------------------------------------------------
def test_upsample_of_the_wrong_rank_points_at_mode() -> None:
    node = _node("input: [3, 8]\nlayers:\n  - upsample: {scale: 2, mode: linear}\n")
    with pytest.raises(ShapeError, match="mode 'bilinear' interpolates") as e:
        node.rule.shape(dataclasses.replace(node.args, mode="bilinear"), node.in_shapes)  # a C×L input
    assert e.value.arg == "mode"


def test_to_map_of_a_grid_with_another_height_says_to_leave_both_out() -> None:
    node = _node("input: [4, 4, 4]\nlayers:\n  - to_tokens: {grid: true}\n  - to_map\n", 1)
    with pytest.raises(ShapeError) as e:
        node.rule.shape(dataclasses.replace(node.args, height=2), node.in_shapes)  # the grid is 4×4
    assert e.value.message.endswith("grid makes a 4×4 map; leave 'height' and 'width' out") and e.value.arg == "height"


# ---- MViT -------------------------------------------------------------------------------------------------------
def test_mvit_grid_from_call_takes_three_whole_numbers_only() -> None:
    why = "called without a (T, H, W) grid of three numbers"
    assert grid_from_call([(2, 4, 4)], {}) == {"grid": [2, 4, 4]}
    assert grid_from_call([], {"thw": [1, 7, 7]}) == {"grid": [1, 7, 7]}
    assert grid_from_call([(4, 4)], {}) == why  # two numbers
    assert grid_from_call([(2.0, 4, 4)], {}) == why  # not whole numbers
    assert grid_from_call([], {}) == why  # no grid at all


MVIT_REL = ("input: {tokens: [17, 8], batch: 2}\nlayers:\n  - pooling_attention: {heads: 2, grid: [1, 4, 4], "
            "kernel_q: [1, 3, 3], stride_q: [1, 2, 2], kernel_kv: [1, 3, 3], stride_kv: [1, 2, 2], rel_pos: true}\n")


def test_mvit_counter_predictions_name_their_parts() -> None:
    lc = analysis_of(MVIT_REL).layers[0]
    counting = lc.node.rule.counting
    flops = counting.calflops_flops.predict(lc.node, lc.cost, 2)
    # calflops_flops' `why` explains its part "einsum" (the relative position einsums, numpy's estimate)
    assert counting.calflops_flops.part == "einsum" and [k for k, _ in flops.parts] == ["pooling_attention",
                                                                                      "layer_norm", "einsum"]
    assert dict(flops.parts)["einsum"] > 0
    back = counting.flop_counter_backward.predict(lc.node, Backward(input_macs=10, weight_macs=10), 2)
    # the aten ops FlopCounterMode counts, named as every op's backward prediction names them (ops/counting.py)
    assert back.reason.startswith("aten.mm/bmm/convolution_backward: 2 FLOPs per MAC")


def test_every_layer_and_part_counts_in_whole_numbers() -> None:
    """Counts are integers: a `/` where `//` belongs gives 1,234.0 in the tables and JSON (MViT's q·kᵀ half)."""
    from test_op_invariants import layers

    seen = 0
    for ident, node, cost, batch in layers():
        parts = node.rule.parts(node.args, node.in_shapes, node.shape, batch) if node.rule.parts else ()
        for c in (cost, *(p.cost for p in parts)):
            for f in dataclasses.fields(Cost):
                assert type(getattr(c, f.name)) is int, f"{ident} {f.name} = {getattr(c, f.name)!r}"
        seen += bool(parts)
    assert seen >= 20


# ---- Swin v2's window attention backward, every term -------------------------------------------------------------
def test_window_attention_v2_backward_by_hand() -> None:
    node = _node("input: [4, 4, 4]\nlayers:\n  - to_tokens: {grid: true}\n"
                 "  - window_attention_v2: {heads: 2, window: 2, cpb_hidden: 8}\n", 1)
    # C = 4, heads 2 (2 each), a 4×4 grid in 4 windows of 2×2: Np = 16 tokens, scores 2 heads · 4 windows · 4·4 = 128;
    # T = (2·2 − 1)² = 9 offsets, cpb hidden 8, position biases 2 heads · 4·4 = 32
    internal_macs = 16 * 4 * 4 + 4 * 128 * 2  # proj's input gradient Np·C² + four products of scores · C/heads: 1,280
    internal_ops = 4 * 128 + 128 + 6 * 2 * 16 * 4  # softmax 4 per score, logit scale 1, q and k normalised 6: 1,408
    weight_macs = (16 * 4 * 4 + 16 * 4 * 12  # proj's weight Np·C², qkv's Np·C·3C
                   + 2 * 9 * 8 * 2 + 9 * 2 * 8)  # cpb_mlp: Linear(8 → 2) weight and input T·8·2 each, Linear(2 → 8) T·2·8
    weight_ops = (16 * 4 + 16 * 12  # proj's bias Np·C, qkv's Np·3C
                  + 128 + 2 * 128 + 2 * 2  # the bias summed from the scores, the logit scale's gradient 2 per score, 2 per head
                  + 4 * 32 + 2 * 9 * 8 + 9 * 8)  # 16·sigmoid and gather 4 per bias, ReLU 2 per unit, Linear(2 → 8)'s bias
    assert (internal_ops, weight_macs, weight_ops) == (1_408, 1_456, 988)
    both = node.rule.backward(node.args, node.in_shapes, node.shape, 1, Need((True,), True))
    assert both == Backward(input_macs=internal_macs + 16 * 12 * 4, input_ops=internal_ops,  # + qkv's input Np·3C·C
                            weight_macs=weight_macs, weight_ops=weight_ops)
    weights = node.rule.backward(node.args, node.in_shapes, node.shape, 1, Need((False,), True))
    assert weights == Backward(weight_macs=weight_macs + internal_macs, weight_ops=weight_ops + internal_ops)


# ---- from_torch: what a module holds that the op cannot say is refused ------------------------------------------------
def test_window_attention_v2_refuses_a_biased_cpb_output() -> None:
    pytest.importorskip("torchvision")
    from torch import nn
    from torchvision.models.swin_transformer import ShiftedWindowAttentionV2

    from convcost.ops.registry import REGISTRY, NotImportable

    m = ShiftedWindowAttentionV2(8, [2, 2], [0, 0], 2)
    read = REGISTRY["window_attention_v2"].from_torch
    assert read(m)["cpb_hidden"] == 512 and read(m)["heads"] == 2
    m.cpb_mlp[2] = nn.Linear(512, 2, bias=True)  # the right width, but a bias convcost's cpb_mlp lacks
    with pytest.raises(NotImportable, match="cpb_mlp"):
        read(m)


def test_unflatten_reads_back_and_refuses_named_sizes() -> None:
    torch = pytest.importorskip("torch")
    from convcost.ops.registry import REGISTRY, NotImportable

    read = REGISTRY["unflatten"].from_torch
    assert read(torch.nn.Unflatten(1, (2, 3))) == {"dim": 1, "sizes": [2, 3]}
    named = torch.nn.Unflatten(1, (2, 3))
    named.unflattened_size = (("c", 2), ("h", 3))  # named sizes (older torch built them; 2.x's constructor refuses)
    with pytest.raises(NotImportable, match="named sizes"):
        read(named)


# ---- binary ops ----------------------------------------------------------------------------------------------------
def test_a_learned_operand_of_the_outputs_size_sums_its_gradient_over_the_batch_only() -> None:
    spec = "input: {shape: [2, 3], batch: BATCH}\nlayers:\n  - mul: {param: [2, 3]}\n"
    for batch, weight_ops in ((1, 6), (2, 2 * 6 + 2 * 6)):
        node = _node(spec.replace("BATCH", str(batch)))
        # x·w: w's gradient g·x, 1 per output element (n = batch·6); summed over the batch (1 add per element) only
        # when there is more than one sample: a [2, 3] tensor is the output's size
        assert node.rule.backward(node.args, node.in_shapes, node.shape, batch, Need((False,), True)) == \
            Backward(weight_ops=weight_ops)


def test_a_binary_op_that_cannot_broadcast_says_the_ranks_differ() -> None:
    node = _node("input: [4, 6]\nlayers:\n  - sub: {from: [input, input]}\n")
    with pytest.raises(ShapeError, match=r"shapes do not broadcast \(they differ in rank\)$"):
        node.rule.shape(node.args, ((4, 6), (3, 4, 5)))  # 6 against 5, and 2 dims against 3


def test_binary_ops_are_reported_under_their_aten_ops_name() -> None:
    """Counting.category: the name counters report the layer under, named like the aten op (`--explain` shows it):
    'mul' for multiply, as torch's FlopCounterMode and torchinfo's rows name it."""
    from convcost.ops.registry import REGISTRY

    for name, aten in (("add", "add"), ("multiply", "mul"), ("sub", "sub"), ("div", "div"), ("pow", "pow"),
                       ("maximum", "maximum"), ("minimum", "minimum")):
        assert REGISTRY[name].counting.category == aten, name


def test_linear_over_channels_of_a_one_dim_map() -> None:
    # [C, L] = [4, 6]: per position, 4 → 3 (a 1×1 Conv1d); the least input 'over: channels' takes (C, then a dim)
    lc = analysis_of("input: [4, 6]\nlayers:\n  - linear: {out: 3, over: channels}\n").layers[0]
    assert tuple(lc.node.shape) == (3, 6)
    assert (lc.cost.params, lc.cost.macs) == (4 * 3 + 3, 6 * 4 * 3)  # weight and bias; 6 positions · 4·3


def test_a_layout_the_dims_cannot_take_is_refused_at_layout() -> None:
    from convcost.ops.tensors import shaped

    with pytest.raises(ShapeError, match=r"^layout tokens needs 2 dims per sample \[N, D\], got ") as e:
        shaped((2, 3, 4), "tokens", False, "reshape")  # 3 dims per sample
    assert e.value.arg == "layout"
    with pytest.raises(ShapeError, match=r"^layout grid needs 3 or more dims per sample ") as e:
        shaped((4, 5), "grid", False, "reshape")  # 2 dims
    assert e.value.arg == "layout"


def test_a_constant_operand_that_does_not_broadcast_is_named_const() -> None:
    node = _node("input: [4, 6]\nlayers:\n  - sub: {const: [6]}\n")
    with pytest.raises(ShapeError, match=r"^const \[5\] does not broadcast with the input "):
        node.rule.shape(dataclasses.replace(node.args, const=(5,)), node.in_shapes)  # 5 against the width 6
