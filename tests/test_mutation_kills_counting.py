"""Counting conventions of the norms and fvcore's einsum rule, each pinned by a number derived by hand from the tool's
source (issue 19's mutation sample, tests/mutation_sample_19.txt, docs/testing.md).

fvcore 0.1.5's ``norm_flop_counter``: prod(input shape) · (5 if the affine weight is given else 4); calflops' patched
F.layer_norm / F.group_norm / F.instance_norm: input.numel() · (5 with a weight, else 4). fvcore's
``einsum_flop_jit``: letters renamed in order of appearance; 'abc,abd->acd' counts n·c·t·p (p the second operand's
last dim), 'abc,adc->adb' n·t·g·c (c the second operand's dim 1); any other equation numpy's optimized FLOP count,
printed to 4 digits, halved and floored.
"""

from __future__ import annotations

import pytest
from conftest import graph_of

from convcost.ops.counting import fvcore_einsum
from convcost.ops.norm import _calflops_stat, _fvcore

ELEMENTS = 2 * 4 * 3 * 5  # batch 2 of a [4, 3, 5] input: 120


@pytest.mark.parametrize(("layer", "label"), [
    ("layernorm: {affine: AFFINE}", "layer_norm"),
    ("groupnorm: {groups: 2, affine: AFFINE}", "group_norm"),
    ("instancenorm: {affine: AFFINE}", "instance_norm"),
])
@pytest.mark.parametrize("affine", [True, False])
def test_fvcore_and_calflops_count_a_norm_5_per_element_4_without_affine(layer: str, label: str, affine: bool) -> None:
    text = f"input: {{shape: [4, 3, 5], batch: 2}}\nlayers:\n  - {layer.replace('AFFINE', str(affine).lower())}\n"
    node = graph_of(text).nodes[0]
    per = 5 if affine else 4
    counting = node.rule.counting
    # the factories called here too: mutmut switches a mutant of one on only when it is called (not at import)
    assert _fvcore(label).why == counting.fvcore.why and _calflops_stat(label).why == counting.calflops_flops.why
    for made in (_fvcore(label), _calflops_stat(label)):
        assert made.predict(node, None, 2).value == per * ELEMENTS
    fvcore = counting.fvcore.predict(node, None, 2)
    assert (fvcore.value, fvcore.parts, fvcore.reason) == (per * ELEMENTS, ((label, per * ELEMENTS),),
                                                           f"aten::{label}: {per} per element")
    assert counting.fvcore.why == f"fvcore counts {label} 5 per element (4 without affine)"
    calflops = counting.calflops_flops.predict(node, None, 2)
    assert (calflops.value, calflops.parts) == (per * ELEMENTS, ((label, per * ELEMENTS),))
    assert counting.calflops_flops.why == f"calflops counts {label} 5 per element (4 without affine)"


@pytest.mark.parametrize(("equation", "shapes", "count"), [
    # n, c, t = [2, 3, 4]; p = the second operand's last dim, 5 (not its c, 3)
    ("nct,ncp->ntp", [(2, 3, 4), (2, 3, 5)], 2 * 3 * 4 * 5),
    ("b i j , b i k -> b j k", [(2, 3, 4), (2, 3, 5)], 2 * 3 * 4 * 5),  # spaces dropped, letters renamed: the same
    # n, t, g = [2, 3, 4]; c = the second operand's dim 1, 5 (not its last, 4)
    ("ntg,ncg->nct", [(2, 3, 4), (2, 5, 4)], 2 * 3 * 4 * 5),
    # numpy: one contraction over b, i, j, k: 2·3·4·5 = 120, ×2 as j is summed away, + 1 = 241 (2.410e+02); /2 floored
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)], 120),
])
def test_fvcore_einsum(equation: str, shapes: list[tuple[int, ...]], count: int) -> None:
    assert fvcore_einsum(equation, shapes) == count


# ---- ptflops' patched functionals: a layer no module hook sees is counted once per input element -----------------
@pytest.mark.parametrize(("layer", "seen", "reason"), [
    ("relu: {torch: function}", True, ""),  # F.relu is patched
    ("relu6: {torch: function}", True, ""),  # F.relu6 too
    ("relu6: {torch: subclass}", False, "ptflops finds no hook for it and does not patch F.hardtanh"),  # nn.ReLU6 calls it
    ("sigmoid: {torch: function}", False, "ptflops finds no hook for it and does not patch torch.sigmoid"),
])
def test_ptflops_counts_a_patched_activation_function_once_per_element(layer: str, seen: bool, reason: str) -> None:
    from convcost.ops.activations import ACTIVATIONS, _ptflops_functional

    node = graph_of(f"input: {{shape: [4, 3, 5], batch: 2}}\nlayers:\n  - {layer}\n").nodes[0]
    row = next(r for r in ACTIVATIONS if r.name == node.op)
    made = _ptflops_functional(row)  # called here: mutmut switches its mutants on only when it runs
    got = made.predict(node, None, 2)
    assert (got.value, got.reason) == ((ELEMENTS if seen else None), reason)
    assert made.why == f"ptflops counts {row.function} once per element, through its patched function"
    assert node.rule.counting.ptflops_functional.predict(node, None, 2) == got


@pytest.mark.parametrize(("layer", "functional", "category"), [
    ("maxpool: {kernel: 2}", "F.max_pool{n}d", "max_pool"),
    ("avgpool: {kernel: 2}", "F.avg_pool{n}d", "avg_pool"),
])
def test_ptflops_counts_a_pool_function_once_per_input_element(layer: str, functional: str, category: str) -> None:
    from convcost.ops.pool import _functional_once

    node = graph_of(f"input: {{shape: [4, 6, 6], batch: 2}}\nlayers:\n  - {layer}\n").nodes[0]
    made = _functional_once(functional)
    got = made.predict(node, None, 2)
    assert (got.value, got.parts) == (2 * 4 * 6 * 6, ((category, 2 * 4 * 6 * 6),))  # the input's 288, not the output's 72
    assert made.why == f"ptflops counts {functional} once per input element, through its patched functional"


def test_attention_backward_and_flop_counter_mode_on_it() -> None:
    from convcost.cost import Backward
    from convcost.ops.counting import counters_run_on
    from convcost.ops.grad import Need
    from convcost.ops.matmul import SdpaArgs, _sdpa_flop_counter_backward, sdpa_backward

    # q [B, 4, 6, 8], k [B, 4, 7, 8], v [B, 4, 7, 5], batch 2: 2·4·6·7 = 336 scores
    inputs = ((4, 6, 8), (4, 7, 8), (4, 7, 5))
    every = sdpa_backward(SdpaArgs(), inputs, 2, Need((True, True, True), False))
    # dV = Aᵀ·dO 336·5, dA = dO·Vᵀ 336·5, dQ = dS·K 336·8, dK = dSᵀ·Q 336·8; softmax 4 per score, q's scale 2·4·6·8
    assert (every.input_macs, every.input_ops) == (336 * (5 + 5 + 8 + 8), 4 * 336 + 2 * 4 * 6 * 8)
    only_v = sdpa_backward(SdpaArgs(), inputs, 2, Need((False, False, True), False))
    assert (only_v.input_macs, only_v.input_ops) == (336 * 5, 0)
    node = graph_of("input: {shape: [4, 6, 8], batch: 2}\nlayers:\n  - relu: {name: q}\n"
                    "  - scaled_dot_product_attention: {from: [q, q, q]}\n").nodes[-1]
    with counters_run_on("meta"):
        seen = _sdpa_flop_counter_backward(node, Backward(input_macs=100), 2)
        assert (seen.value, seen.reason) == (200, "aten.bmm: 2 FLOPs per backward MAC")  # the math path's bmm
        none = _sdpa_flop_counter_backward(node, Backward(), 2)
        assert (none.value, none.reason) == (None, "no gradient computed")


@pytest.mark.parametrize(("qkv_bias", "weight_ops"), [
    # a 4×4 grid of 8-wide tokens, 2 heads, 2×2 windows (4 of them), batch 1: Np = 16 tokens, 2·4·4·4 = 128 scores;
    # the weights' ops: proj's bias 16·8, qkv's bias 16·3·8 (when it has one), the position bias table 1 per score
    (True, 16 * 8 + 16 * 3 * 8 + 128),
    (False, 16 * 8 + 128),
])
def test_window_attentions_backward(qkv_bias: bool, weight_ops: int) -> None:
    from convcost.ops.grad import Need
    from convcost.ops.windows import _wa_backward

    node = graph_of("input: [8, 4, 4]\nlayers:\n  - to_tokens: {grid: true}\n"
                    f"  - window_attention: {{heads: 2, window: 2, qkv_bias: {str(qkv_bias).lower()}}}\n").nodes[-1]
    got = _wa_backward(node.args, node.in_shapes, node.shape, 1, Need((True,), True))
    # input: proj 16·8·8, a·v and q·kᵀ 4 products 4·128·4 (C/heads = 4), qkv 16·3·8·8; softmax 4 per score + q's scale
    assert (got.input_macs, got.input_ops) == (16 * 64 + 4 * 128 * 4 + 16 * 3 * 64, 4 * 128 + 16 * 8)
    assert (got.weight_macs, got.weight_ops) == (16 * 64 + 16 * 8 * 3 * 8, weight_ops)
    assert type(got.weight_ops) is int


def test_instance_norm_refuses_tokens_and_counts_its_running_stats_per_channel() -> None:
    from convcost.ops.norm import InstanceNorm, InstanceNormArgs
    from convcost.ops.registry import ShapeError
    from convcost.ops.shapes import Tokens

    with pytest.raises(ShapeError) as e:
        InstanceNorm.shape(InstanceNormArgs(), (Tokens(7, 8),))
    assert e.value.message == "instancenorm needs a C×H×W map, got tokens 7 tok×8; turn them into a map with 'to_map' first"
    assert InstanceNorm.shape(InstanceNormArgs(), ((4, 3, 5),)) == (4, 3, 5)
    # with running stats: a mean and a variance per channel (4) and num_batches_tracked: 2·4 + 1 buffers
    tracked = InstanceNorm.cost(InstanceNormArgs(track_running_stats=True), ((4, 3, 5),), (4, 3, 5), 2)
    assert (tracked.buffers, tracked.activations) == (2 * 4 + 1, 2 * 4 * 3 * 5)
    assert InstanceNorm.cost(InstanceNormArgs(), ((4, 3, 5),), (4, 3, 5), 2).buffers == 0
