"""`verify --training`'s totals, every field of them (issue 19's mutation sample, tests/mutation_sample_19.txt,
docs/testing.md): a mutant that left the predicted backward total out of an agreeing check (``Check(None, total,
OK)``) kept every status the other tests read. The numbers are derived by hand from FlopCounterMode's formulas
(torch/utils/flop_counter.py: a convolution's backward is 2 FLOPs per MAC for the input's gradient and 2 for the
weight's).
"""

from __future__ import annotations

import pytest
from conftest import graph_of

SPEC = """\
input: [2, 4, 4]
layers:
  - conv: {out: 3, kernel: 1, bias: false}
  - relu
  - conv: {out: 2, kernel: 1, bias: false}
"""
CONV1_MACS = 4 * 4 * 3 * 2  # 96: H·W·C_out·C_in
CONV2_MACS = 4 * 4 * 2 * 3  # 96
# conv1 reads the model's input, which needs no gradient: its weight's only; relu's threshold_backward is not counted
BACKWARD = 2 * CONV1_MACS + 2 * (2 * CONV2_MACS)  # 192 + 384 = 576
TRAINABLE = 3 * 2 + 2 * 3  # 12


def test_verify_training_reports_both_sides_of_its_totals() -> None:
    pytest.importorskip("torch")
    from convcost.crosscheck.counters import Status
    from convcost.crosscheck.verify import BACKWARD as KEY
    from convcost.crosscheck.verify import TRAINABLE as TRAINABLE_KEY
    from convcost.crosscheck.verify import verify_graph

    report = verify_graph(graph_of(SPEC), "cpu", training=True)
    total = report.totals[KEY]
    assert (total.expected, total.actual, total.status, total.reason) == (BACKWARD, BACKWARD, Status.OK, "")
    trainable = report.totals[TRAINABLE_KEY]
    assert (trainable.expected, trainable.actual, trainable.status) == (TRAINABLE, TRAINABLE, Status.OK)
    per_layer = {lr.name: (lr.checks[KEY].expected, lr.checks[KEY].actual) for lr in report.layers if lr.op == "conv"}
    assert per_layer == {"conv1": (2 * CONV1_MACS, 2 * CONV1_MACS), "conv2": (4 * CONV2_MACS, 4 * CONV2_MACS)}
    assert report.measured[KEY] == BACKWARD and report.training is True


def test_a_layers_count_against_a_tools_every_outcome() -> None:
    pytest.importorskip("torch")
    from convcost.crosscheck.counters import Status
    from convcost.crosscheck.verify import _compare_count
    from convcost.ops.counting import Prediction

    def fields(c):  # type: ignore[no-untyped-def]
        return (c.expected, c.actual, c.status, c.reason)

    seen, unseen = Prediction.of("2 FLOPs per MAC", conv=7), Prediction.unseen("no hook")
    assert fields(_compare_count(seen, None, "ptflops")) == (7, None, Status.NOT_COMPARED, "ptflops did not run")
    assert fields(_compare_count(unseen, 0, "fvcore")) == (None, 0, Status.NOT_COMPARED, "no hook")
    assert fields(_compare_count(unseen, 0, "fvcore", ["aten::a", "aten::b"])) == (
        None, 0, Status.NOT_COMPARED, "no hook (fvcore: unsupported aten::a, aten::b)")
    assert fields(_compare_count(unseen, 1234, "fvcore")) == (
        None, 1234, Status.MISMATCH, "convcost predicted fvcore cannot see this layer (no hook), but it reported 1,234")
    assert fields(_compare_count(seen, 7, "fvcore")) == (7, 7, Status.OK, "2 FLOPs per MAC")
    assert fields(_compare_count(seen, 1009, "fvcore")) == (  # 1,009 − 7 = +1,002
        7, 1009, Status.MISMATCH, "convcost predicts 7, fvcore reports 1,009 (+1,002); 2 FLOPs per MAC")
    assert fields(_compare_count(Prediction.of(conv=9), 2, "thop")) == (9, 2, Status.MISMATCH,
                                                                        "convcost predicts 9, thop reports 2 (-7)")
