"""`verify --reference`'s shape check of one paired layer (convcost/crosscheck/reference.py), on its own.

Checked against a mutant of issue 19's mutation sample (tests/mutation_sample_19.txt, docs/testing.md) that no test
saw: the element count of a shape made its last dim (``n *= d`` made ``n = d``), which let two shapes of one first
and last dim but different sizes pass as "the same values, laid out differently".
"""

from __future__ import annotations

import pytest

from convcost.crosscheck.counters import Status
from convcost.crosscheck.reference import _shape_check
from convcost.ops.shapes import Tokens


@pytest.mark.parametrize(("spec", "model", "status", "reason"), [
    ((4, 6, 5), (4, 6, 5), Status.OK, ""),
    ((4, 6, 5), (4, 3, 5), Status.MISMATCH, "output: spec 4×6×5, model 4×3×5"),  # 120 values against 60
    ((4, 6, 5), (4, 5, 6), Status.OK, "same size, laid out 4×6×5 vs 4×5×6"),  # 120 values each, first dim 4
    ((96, 49), (96, 7, 7), Status.OK, "same size, laid out 96×49 vs 96×7×7"),  # 96·49 = 96·7·7
    (Tokens(49, 96), (49, 2, 48), Status.OK, "same size, laid out 49 tok×96 vs 49×2×48"),  # 49·96 = 49·2·48
    ((96, 49), (96, 7, 8), Status.MISMATCH, "output: spec 96×49, model 96×7×8"),  # 96·49 against 96·56
    # LeViT's bn(x.flatten(0, 1)): the model's first dim holds the batch too: 4·6 = 8·3 values
    ((4, 6), (8, 3), Status.OK, "same size, the model's batch merged with its tokens: 8×3"),
    ((4, 6), (8, 4), Status.MISMATCH, "output: spec 4×6, model 8×4"),  # 24 against 32
    ((4, 6), (6, 4), Status.MISMATCH, "output: spec 4×6, model 6×4"),  # 6 is not a multiple of 4
    (None, (4, 6), Status.NOT_COMPARED, "its shape follows a part convcost cannot read"),
])
def test_a_paired_layers_shapes(spec: tuple | None, model: tuple | None, status: Status, reason: str) -> None:
    check = _shape_check(spec, model)
    assert (check.expected, check.actual, check.status, check.reason) == (spec, model, status, reason)
