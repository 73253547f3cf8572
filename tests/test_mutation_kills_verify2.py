"""`convcost verify`'s reconciliation (convcost/crosscheck/verify.py), every field of what it reports: the checks of a
count torch measured or did not, `--training`'s per-layer and total checks when torch's numbers differ, and the one
line a torch failure becomes.

Written for issue 19's mutation run (docs/testing.md): mutants that left a field out of a check (``Check(None, ...)``),
its status or reason, or changed a message's text or its threshold survived the tests that read only statuses. Here
every field is compared. The numbers are derived by hand beside them (FlopCounterMode's formulas,
torch/utils/flop_counter.py: a convolution's backward is 2 FLOPs per MAC for each gradient it computes).
"""

from __future__ import annotations

import pytest
from conftest import graph_of

torch = pytest.importorskip("torch")

from convcost.crosscheck.counters import Status  # noqa: E402
from convcost.crosscheck.verify import _compare_exact, _torch_failure  # noqa: E402


def fields(c):  # type: ignore[no-untyped-def]
    return (c.expected, c.actual, c.status, c.reason)


# ---- one exact comparison: a shape, params, buffers, trainable params -------------------------------------------
def test_an_exact_comparison_in_each_of_its_outcomes() -> None:
    assert fields(_compare_exact(12, None, "trainable params")) == (12, None, Status.NOT_COMPARED,
                                                                   "trainable params not measured")
    assert fields(_compare_exact((2, 3), (2, 3), "shape")) == ((2, 3), (2, 3), Status.OK, "")
    assert fields(_compare_exact(1200, 34567, "params", lambda n: f"{n:,}")) == (
        1200, 34567, Status.MISMATCH, "convcost says 1,200, torch has 34,567")
    assert fields(_compare_exact(5, 7, "buffers")) == (5, 7, Status.MISMATCH, "convcost says 5, torch has 7")  # str()


# ---- a torch failure on a spec analyze accepts: one line, exit 2 ----------------------------------------------------
SPEC = "input: [3, 4, 4]\nlayers:\n  - conv: {out: 2, kernel: 1}\n"
BATCHED = "input: {shape: [3, 4, 4], batch: 2}\nlayers:\n  - conv: {out: 2, kernel: 1}\n"
NEED = 1_234_567  # bytes: human_bytes writes it as 1.23 MB (decimal units)
LOWER = "; lower --max-memory to check shapes and FlopCounterMode on the meta device"


@pytest.mark.parametrize(("spec", "error", "real", "message"), [
    # a MemoryError without text: its type names it; batch 2: lowering the batch is a way out too
    (BATCHED, MemoryError(), True,
     "model 't': torch ran out of memory verifying it on cpu (a real forward needs about 1.23 MB): MemoryError" + LOWER
     + ", or lower --batch"),
    # torch's CPU allocator, the first line of its text only; batch 1: nothing to lower
    (SPEC, RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 bytes.\nsecond line"),
     True, "model 't': torch ran out of memory verifying it on cpu (a real forward needs about 1.23 MB): "
     "DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 bytes." + LOWER),
    (SPEC, RuntimeError("CUDA Out Of Memory. Tried to allocate 2 GiB"), True,  # any case of "out of memory"
     "model 't': torch ran out of memory verifying it on cpu (a real forward needs about 1.23 MB): "
     "CUDA Out Of Memory. Tried to allocate 2 GiB" + LOWER),
    # not a memory failure: torch's version, the model and the device
    (SPEC, RuntimeError("shape '[2, 3]' is invalid"), True,
     f"torch {torch.__version__} cannot run model 't' on cpu: shape '[2, 3]' is invalid"),
    # on the meta device (no real forward) a MemoryError is not the machine's memory: the plain line
    (BATCHED, MemoryError("boom"), False, f"torch {torch.__version__} cannot run model 't' on cpu: boom"),
])
def test_a_torch_failure_is_one_line(spec: str, error: BaseException, real: bool, message: str) -> None:
    assert str(_torch_failure(error, graph_of(spec), "cpu", NEED, real)) == message


@pytest.mark.parametrize(("length", "shown"), [
    (300, "x" * 300),  # up to 300 characters kept whole
    (301, "x" * 299 + "…"),  # longer: 299 and an ellipsis, 300 in all
    (1000, "x" * 299 + "…"),
])
def test_a_long_torch_message_is_cut_at_300_characters(length: int, shown: str) -> None:
    got = str(_torch_failure(ValueError("x" * length), graph_of(SPEC), "meta", NEED, False))
    assert got == f"torch {torch.__version__} cannot run model 't' on meta: {shown}"


# ---- --training when torch's numbers differ from the prediction ---------------------------------------------------
# the two-conv spec of test_mutation_kills_verify.py and its MACs, derived there by hand
from test_mutation_kills_verify import CONV1_MACS, CONV2_MACS  # noqa: E402
from test_mutation_kills_verify import SPEC as TRAIN_SPEC  # noqa: E402

CONV1_BACKWARD = 2 * CONV1_MACS  # the weight's gradient only: the model's input needs none
CONV2_BACKWARD = 2 * (2 * CONV2_MACS)  # the input's and the weight's gradients: 384
PREDICTED = CONV1_BACKWARD + CONV2_BACKWARD  # 576
RELU_WHY = "no matmul or convolution in its backward (FlopCounterMode counts only those)"
PER_MAC = "aten.convolution_backward: 2 FLOPs per MAC, the weight gradient ×groups"  # conv's own backward convention


def test_training_checks_say_what_differs_when_torch_reports_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch's side replaced by numbers that differ (run_backward_counter is what measures it): conv2's backward
    +7, relu's missing (FlopCounterMode records nothing for it), conv1's trainable params 1,234 and conv2's not
    measured; the whole backward 1,000 more than predicted."""
    from convcost.crosscheck import verify as v

    measured_total = PREDICTED + 1000  # 1,576

    def fake(graph, per_layer=True):  # type: ignore[no-untyped-def]
        return {"conv1": CONV1_BACKWARD, "conv2": CONV2_BACKWARD + 7}, measured_total, {"conv1": 1234, "relu1": 0}

    monkeypatch.setattr(v, "run_backward_counter", fake)
    report = v.verify_graph(graph_of(TRAIN_SPEC), "cpu", training=True)
    assert report.training is True and report.measured[v.BACKWARD] == measured_total
    assert [(lr.name, lr.op) for lr in report.layers] == [("conv1", "conv"), ("relu1", "relu"), ("conv2", "conv")]
    back = {lr.name: fields(lr.checks[v.BACKWARD]) for lr in report.layers}
    assert back == {
        "conv1": (CONV1_BACKWARD, CONV1_BACKWARD, Status.OK, PER_MAC),
        "relu1": (None, 0, Status.NOT_COMPARED, RELU_WHY),  # nothing recorded reads as 0, as FlopCounterMode says
        "conv2": (CONV2_BACKWARD, CONV2_BACKWARD + 7, Status.MISMATCH,
                  f"convcost predicts 384, FlopCounterMode (backward) reports 391 (+7); {PER_MAC}"),
    }
    trainable = {lr.name: fields(lr.checks[v.TRAINABLE]) for lr in report.layers}
    assert trainable == {
        "conv1": (3 * 2, 1234, Status.MISMATCH, "convcost says 6, torch has 1,234"),  # out 3 · in 2, no bias
        "relu1": (0, 0, Status.OK, ""),
        "conv2": (2 * 3, None, Status.NOT_COMPARED, "trainable params not measured"),
    }
    assert fields(report.totals[v.BACKWARD]) == (
        PREDICTED, measured_total, Status.MISMATCH, "convcost predicts 576 (576), FlopCounterMode (backward) reports 1,576")
    # the spec's 12 trainable against torch's 1,234 + 0
    assert fields(report.totals[v.TRAINABLE]) == (12, 1234, Status.MISMATCH, "convcost says 12, torch has 1,234")
    assert not report.ok and report.mismatches == 4  # conv2's backward, conv1's trainable, both totals
    # the forward's checks are kept beside them
    assert fields(report.layers[0].checks["params"]) == (6, 6, Status.OK, "")


def test_training_totals_agree_when_torch_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    from convcost.crosscheck import verify as v

    def fake(graph, per_layer=True):  # type: ignore[no-untyped-def]
        return {"conv1": CONV1_BACKWARD, "conv2": CONV2_BACKWARD}, PREDICTED, {"conv1": 6, "relu1": 0, "conv2": 6}

    monkeypatch.setattr(v, "run_backward_counter", fake)
    report = v.verify_graph(graph_of(TRAIN_SPEC), "cpu", training=True)
    assert fields(report.totals[v.BACKWARD]) == (PREDICTED, PREDICTED, Status.OK, "")
    assert fields(report.totals[v.TRAINABLE]) == (12, 12, Status.OK, "")
    assert report.ok and report.mismatches == 0


# ---- the forward's report, every field ------------------------------------------------------------------------------
FORWARD_NEED = 4 * (2 * 4 * 4 + (3 * 2 + 2 * 3) + (48 + 48 + 32))  # float32: the input, the weights, the three outputs: 688
FVCORE_MACS = CONV1_MACS + CONV2_MACS  # 192: fvcore counts a conv's MACs and ignores relu


def test_a_forward_report_holds_both_sides_of_every_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """fvcore's side made to differ (run_fvcore is what measures it): conv1 5 more, the whole model 1,000 more."""
    from convcost.crosscheck import verify as v

    real = v.run_fvcore

    def fake(model, xs):  # type: ignore[no-untyped-def]
        shapes, by_module, unsupported, total = real(model, xs)
        return shapes, {**by_module, "conv1": by_module["conv1"] + 5}, unsupported, total + 1000

    monkeypatch.setattr(v, "run_fvcore", fake)
    report = v.verify_graph(graph_of(TRAIN_SPEC), "cpu")
    assert (report.device, report.real_forward, report.estimated_bytes, report.skipped) == ("cpu", True, FORWARD_NEED, {})
    assert report.measured == {"flop_counter": 2 * FVCORE_MACS, "fvcore": FVCORE_MACS + 1000}
    conv1, relu, conv2 = report.layers
    assert (conv1.name, conv1.op, relu.op, conv2.name) == ("conv1", "conv", "relu", "conv2")
    assert fields(conv1.checks["shape"]) == ((1, 3, 4, 4), (1, 3, 4, 4), Status.OK, "")
    assert fields(conv2.checks["params"]) == (6, 6, Status.OK, "") and fields(conv2.checks["buffers"]) == (0, 0, Status.OK, "")
    assert fields(conv2.checks["fvcore"])[:3] == (CONV2_MACS, CONV2_MACS, Status.OK)
    assert fields(conv2.checks["flop_counter"])[:3] == (2 * CONV2_MACS, 2 * CONV2_MACS, Status.OK)
    assert fields(relu.checks["fvcore"])[:3] == (None, 0, Status.NOT_COMPARED)  # on fvcore's ignore list
    assert fields(relu.checks["flop_counter"])[:3] == (None, 0, Status.NOT_COMPARED)
    got = conv1.checks["fvcore"]
    assert fields(got)[:3] == (CONV1_MACS, CONV1_MACS + 5, Status.MISMATCH)
    assert got.reason.startswith("convcost predicts 96, fvcore reports 101 (+5)")
    assert fields(report.totals["fvcore"]) == (FVCORE_MACS, FVCORE_MACS + 1000, Status.MISMATCH,
                                               "convcost predicts 192 (192), fvcore reports 1,192")
    assert fields(report.totals["flop_counter"]) == (2 * FVCORE_MACS, 2 * FVCORE_MACS, Status.OK, "")
    assert fields(report.totals["params"]) == (12, 12, Status.OK, "") and fields(report.totals["buffers"]) == (
        0, 0, Status.OK, "")
    assert report.mismatches == 2 and not report.ok


def test_over_max_memory_verify_runs_on_the_meta_device_and_says_why_fvcore_did_not() -> None:
    from convcost.crosscheck import verify as v

    report = v.verify_graph(graph_of(TRAIN_SPEC), "cpu", max_bytes=100)
    assert (report.device, report.real_forward, report.estimated_bytes) == ("meta", False, FORWARD_NEED)
    assert report.skipped == {"fvcore": "a real forward needs about 688 B (688 bytes), over the limit of 100 B (100 bytes); "
                                        "shapes, params and FlopCounterMode ran on the meta device; raise --max-memory to "
                                        "run fvcore"}
    assert fields(report.totals["fvcore"]) == (FVCORE_MACS, None, Status.NOT_COMPARED, "fvcore did not run")
    assert fields(report.layers[0].checks["fvcore"])[:3] == (CONV1_MACS, None, Status.NOT_COMPARED)
    assert report.layers[0].checks["fvcore"].reason == "fvcore did not run"
    assert fields(report.totals["flop_counter"]) == (2 * FVCORE_MACS, 2 * FVCORE_MACS, Status.OK, "")
    assert report.measured == {"flop_counter": 2 * FVCORE_MACS} and report.ok


def test_params_and_buffers_that_differ_are_shown_with_separators(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch's parameter and buffer sums made to differ (verify._params is what counts them): 1,000 more of each."""
    from convcost.crosscheck import verify as v

    real = v._params
    monkeypatch.setattr(v, "_params", lambda module: tuple(n + 1000 for n in real(module)))
    report = v.verify_graph(graph_of(TRAIN_SPEC), "cpu")
    assert fields(report.totals["params"]) == (12, 1012, Status.MISMATCH, "convcost says 12, torch has 1,012")
    assert fields(report.totals["buffers"]) == (0, 1000, Status.MISMATCH, "convcost says 0, torch has 1,000")
    assert fields(report.layers[0].checks["buffers"]) == (0, 1000, Status.MISMATCH, "convcost says 0, torch has 1,000")
    assert fields(report.layers[0].checks["params"]) == (6, 6, Status.OK, "")  # a layer's params: its own sum


def test_a_forward_that_fits_max_memory_exactly_is_real_and_cpu_is_the_default() -> None:
    from convcost.crosscheck import verify as v

    report = v.verify_graph(graph_of(TRAIN_SPEC), max_bytes=FORWARD_NEED)  # no device given: the CPU
    assert (report.device, report.real_forward, report.training, report.skipped) == ("cpu", True, False, {})
    assert BACKWARD_KEY not in report.totals and report.ok
    report = v.verify_graph(graph_of(TRAIN_SPEC), max_bytes=FORWARD_NEED - 1)  # one byte short: the meta device
    assert (report.device, report.real_forward) == ("meta", False)


BACKWARD_KEY = "flop_counter_backward"


def test_attention_on_the_meta_device_is_predicted_as_counted_there() -> None:
    """nn.MultiheadAttention's fused path (which FlopCounterMode cannot see) is taken only on a real device: verify
    runs FlopCounterMode there for it; over --max-memory both sides are on the meta device, unfused, and the
    prediction must be the meta device's."""
    from convcost.crosscheck import verify as v

    graph = graph_of("input: [8, 4, 4]\nlayers:\n  - to_tokens\n  - attention: {heads: 2}\n")
    report = v.verify_graph(graph, "cpu", max_bytes=1)
    # 16 tokens of 8, 2 heads of 4: in-projection 16·8·24 = 3,072 MACs, q·kᵀ 2·16·16·4 = 2,048, attention·v 2,048,
    # out-projection 16·8·8 = 1,024: 8,192 MACs, 16,384 FLOPs
    assert (report.device, fields(report.layers[-1].checks["flop_counter"])[:3]) == ("meta", (16384, 16384, Status.OK))
    assert report.ok
