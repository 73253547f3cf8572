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
