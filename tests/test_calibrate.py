"""`convcost calibrate`, `profile --layers/--accuracy` and the interleaved timing behind them, with tiny
benchmarks: exit codes, output, files that read back, arithmetic. No assertion on how long anything takes
(timings vary with the machine and its load); only lower bounds set by sleeps."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import pytest
from conftest import CONFIGS, graph_of
from typer.testing import CliRunner

from convcost.cli import app
from convcost.costmodel.roofline import load_profiles

torch = pytest.importorskip("torch")

import convcost.crosscheck.calibrate as calibrate_module  # noqa: E402
from convcost.crosscheck.calibrate import Bench, CalibrateOptions, calibrate, curve_key  # noqa: E402
from convcost.crosscheck.profiling import ProfileOptions, analytic_profile, profile_graphs  # noqa: E402
from convcost.crosscheck.timing import LayerProbe, Timing, time_interleaved  # noqa: E402

runner = CliRunner()
HAS_CUDA = torch.cuda.is_available()

# Two tiny benchmarks: a conv 3×3 4 -> 4 on 8×8 with its batch norm and ReLU, and a GELU after a batch norm.
TINY = [
    Bench(("{conv: {out: 4, kernel: 3, padding: 1, bias: false}}", "bn", "relu"), (4, 8, 8), "conv, bn, relu",
          ("conv_dense", "norm", "elementwise")),
    Bench(("bn", "gelu"), (4, 8, 8), "bn, gelu", ("gelu",)),
    Bench(("{conv: {out: 8, kernel: 3, padding: 1, groups: 4, bias: false}}",), (8, 8, 8), "grouped", ("conv_grouped",)),
]


@pytest.fixture
def tiny_benches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calibrate_module, "cpu_benches", lambda quick=False: TINY)


FAST = ["--min-time", "0.003", "--repeats", "3", "--no-progress"]


def test_calibrate_writes_a_profile_that_reads_back(tmp_path, tiny_benches) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "device.yaml"
    result = runner.invoke(app, ["calibrate", "--threads", "1", *FAST, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "overhead" in result.stderr and "conv_dense" in result.stderr  # the summary
    (device,) = load_profiles(out).values()
    assert device.name == "local-cpu" and device.cores is not None
    (cal,) = device.calibrations
    assert (cal.device, cal.threads, cal.dtype, cal.clock) == ("cpu", 1, "fp32", "wall")
    assert cal.torch == torch.__version__ and cal.date and cal.device_name and cal.repeats == 3
    assert set(cal.compute) == {"conv_dense"} and set(cal.memory) == {"conv_grouped", "norm", "elementwise", "gelu"}
    (conv,) = cal.compute["conv_dense"].points
    assert conv.size == pytest.approx(2 * 8 * 8 * 4 * 36, rel=1e-3)  # 2 · 64 positions · 4 out · 4·3·3 taps
    (bn,) = cal.memory["norm"].points
    # in 4·64·4 = 1,024 B + out 1,024 B + scale, shift, running mean and variance 4 · 4 · 4 = 64 B
    assert bn.size == pytest.approx(2_112, rel=1e-3)
    # rates are net of the overhead after the layer before (5 digits in the file): the conv is first; the batch norm
    # follows the conv's 1,024 + 4·4·9·4 = 576 + 1,024 = 2,624 B; the GELU the batch norm's 2,112 B
    assert cal.overhead_after and all(a.after > 0 and a.time_s > 0 for a in cal.overhead_after)
    for point, after in ((conv, None), (bn, 2_624), *((p, 2_112) for p in cal.memory["gelu"].points)):
        assert point.time_s is not None and point.time_s > 0
        net = max(point.time_s - cal.overhead_at(after), 0.05 * point.time_s)
        assert point.rate == pytest.approx(point.size / net, rel=2e-3)
    (grouped,) = cal.memory["conv_grouped"].points
    # a memory kind: located and rated by its bytes: in 8·64·4 = 2,048 + weights 8·2·9·4 = 576 + out 2,048 = 4,672 B
    assert grouped.size == pytest.approx(4_672, rel=1e-4) and grouped.time_s is not None
    net = max(grouped.time_s - cal.overhead_s, 0.05 * grouped.time_s)
    assert grouped.rate == pytest.approx(4_672 / net, rel=2e-3)
    assert device.peak["fp32"] == pytest.approx(conv.rate, rel=1e-3)  # the best compute rate
    roof = runner.invoke(app, ["roofline", str(CONFIGS / "depthwise_separable.yaml"), "--hw-file", str(out)])
    assert roof.exit_code == 0, roof.output
    assert "calibrated profile 'local-cpu'" in roof.stdout and "predicted" in roof.stdout


def test_calibrate_to_stdout_two_thread_counts(tiny_benches) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["calibrate", "--threads", "1", "--threads", "2", "--name", "box", *FAST])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# convcost device profile")
    from convcost.costmodel.roofline import parse_profiles

    (device,) = parse_profiles(result.stdout, "stdout").values()
    assert device.name == "box" and [c.threads for c in device.calibrations] == [1, 2]


def test_calibrate_cpu_clock(tiny_benches) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["calibrate", "--threads", "1", "--clock", "cpu", *FAST])
    assert result.exit_code == 0, result.output
    assert "clock: cpu" in result.stdout and "thread_time" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dtype", "int8"], "--dtype must be one of fp32, fp16, bf16, got 'int8'"),
        (["--clock", "cpu", "--threads", "2"], "--clock cpu measures the CPU time of one thread"),
        (["--name", "my box"], "--name 'my box' must be letters"),
        (["--threads", "1", "--threads", "1"], "the same thread count twice"),
        (["--device", "cuda", "--threads", "2"], "--threads applies to --device cpu"),
        (["--min-time", "nan"], "--min-time must be a finite number"),
    ],
)
def test_calibrate_usage_errors(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["calibrate", *args, "--no-progress"])
    assert result.exit_code == 2, result.output
    assert message in result.stderr


@pytest.mark.skipif(HAS_CUDA, reason="a CUDA GPU is present: calibrate --device cuda would run")
def test_calibrate_cuda_without_a_gpu() -> None:
    result = runner.invoke(app, ["calibrate", "--device", "cuda", "--no-progress"])
    assert result.exit_code == 2 and "CUDA is not available" in result.stderr


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU (not run where none is present)")
def test_calibrate_on_cuda(tiny_benches) -> None:  # type: ignore[no-untyped-def]
    cal = calibrate(CalibrateOptions(device="cuda", min_time=0.003, repeats=3, warmup=1))
    assert cal.device == "cuda" and cal.threads is None and cal.cudnn_benchmark is True
    assert "torch.cuda.Event" in cal.method and "cudnn.benchmark on" in cal.method
    assert any("batch 32" in p.layer for p in cal.compute["conv_dense"].points)  # each benchmark also at batch 32


def test_the_benchmarks_feed_the_curves_they_say() -> None:
    """Every benchmark's spec builds, and has at least one layer for each curve it claims to feed."""
    from convcost.costmodel.analysis import analyze
    from convcost.costmodel.kinds import VIEW, layer_kind
    from convcost.costmodel.memory import analyze_memory
    from convcost.crosscheck.calibrate import AFTER_BENCHES, _graph, cpu_benches

    for bench in cpu_benches():
        keys = {curve_key(n) for n in _graph(bench.spec(), bench.what).nodes}
        assert set(bench.feeds) <= keys, (bench.what, bench.feeds, keys)
    assert len(cpu_benches(quick=True)) < len(cpu_benches())
    # each overhead_after benchmark ends in a view after a layer that moves bytes, each a different size
    afters = []
    for bench in AFTER_BENCHES:
        *_, before, last = analyze_memory(analyze(_graph(bench.spec(), bench.what)), "fp32").layers
        assert layer_kind(last.node) == VIEW and before.traffic.total > 0, bench.what
        afters.append(before.traffic.total)
    assert len(set(afters)) == len(afters)


def test_calibrate_chain_runs_every_benchmark_once_per_pass(monkeypatch, tiny_benches) -> None:  # type: ignore[no-untyped-def]
    order: list[int] = []
    real = LayerProbe.__call__

    def spy(self: LayerProbe) -> None:
        order.append(id(self))
        real(self)

    monkeypatch.setattr(LayerProbe, "__call__", spy)
    cal = calibrate(CalibrateOptions(threads=1, min_time=0.0, repeats=2, warmup=1, chain=True))
    probes = list(dict.fromkeys(order))  # each benchmark's probe, in the order first run
    # the overhead benchmarks and the tiny ones: each run once per pass, always in the same order (a chain), never
    # several times in a row as in a loop of its own
    assert len(probes) == len(calibrate_module.OVERHEAD_BENCHES) + len(calibrate_module.AFTER_BENCHES) + len(TINY)
    assert order == probes * (len(order) // len(probes))
    # the warm-up's one timed pass, then 2 rounds of at least 5 passes (PROBE_PASSES: each layer's time a median)
    assert len(order) // len(probes) >= 1 + 2 * 5
    assert "once per pass over all of them" in cal.method
    assert set(cal.compute) == {"conv_dense"} and set(cal.memory) == {"conv_grouped", "norm", "elementwise", "gelu"}
    assert all(p.time_s is not None and p.time_s > 0 for c in cal.memory.values() for p in c.points)
    looped = calibrate(CalibrateOptions(threads=1, min_time=0.0, repeats=2, warmup=1))
    assert "once per pass" not in looped.method


def test_calibrate_chain_option(tmp_path, tiny_benches) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "device.yaml"
    result = runner.invoke(app, ["calibrate", "--threads", "1", "--chain", *FAST, "-o", str(out)])
    assert result.exit_code == 0, result.output
    (device,) = load_profiles(out).values()
    assert "a chain of benchmarks" in device.calibrations[0].method


# ---- timing ----------------------------------------------------------------------------------------------
def test_rounds_are_interleaved_and_min_calls_kept() -> None:
    order: list[tuple[int, int]] = []
    calls = [0, 0]

    def f0() -> None:
        calls[0] += 1

    def f1() -> None:
        calls[1] += 1

    timings = time_interleaved([f0, f1], min_time=0.0, repeats=3, warmup=1, step=lambda i, r: order.append((i, r)),
                               min_calls=[1, 7])
    assert order == [(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2)]  # each round times every unit, in turn
    assert [t.runs for t in timings] == [3, 3]
    assert timings[1].calls_per_run == 7
    assert calls[1] >= 3 * 7  # the rounds alone make 21 calls


def test_layer_probe_times_each_layer_in_the_pass() -> None:
    def slow(x: int) -> int:
        time.sleep(0.002)
        return x + 1

    def fast(x: int) -> int:
        return x + 1

    # step: (output index, module, inputs, inputs freed after it); -1 is the model input
    probe = LayerProbe([(0, slow, (-1,), (-1,)), (1, fast, (0,), (0,)), (2, slow, (1,), ())], {-1: 0})
    for _ in range(3):
        probe()
    first, second, third = probe.take()
    assert first >= 0.002 and third >= 0.002 and second >= 0  # a layer cannot take less than its sleep
    assert probe.take() == [0.0, 0.0, 0.0]  # taken: forgotten


def test_spread_is_the_iqr_over_the_median() -> None:
    t = Timing((1.0, 2.0, 3.0, 4.0, 5.0), 1)
    # quartiles (inclusive) of 1..5: 2 and 4 -> IQR 2, median 3 -> 66.7 %
    assert t.iqr_s == 2.0 and t.spread_pct == pytest.approx(200 / 3)


# ---- profile: layers, blocks, accuracy --------------------------------------------------------------------
def test_profile_layers_time_macros_as_their_parts() -> None:
    result = runner.invoke(app, ["profile", str(CONFIGS / "depthwise_separable.yaml"), "-m", "separable", "--layers",
                                 "--quick", "-f", "json"])
    assert result.exit_code == 0, result.output
    (m,) = json.loads(result.stdout)["models"]
    layers = {x["name"]: x for x in m["layers"]}
    assert list(layers) == ["sep.depthwise1", "sep.pointwise1"]  # dwsep: its two convs, each timed
    assert [x["kind"] for x in layers.values()] == ["conv_depthwise", "conv_1x1"]
    assert all(x["measured"]["median_s"] > 0 for x in layers.values())
    (sep,) = m["blocks"]
    assert sep["kind"] == "macro"
    assert sep["roofline"]["ideal_s"] == pytest.approx(sum(x["ideal_s"] for x in layers.values()))
    assert m["blocks_ratio"] == pytest.approx(sep["measured"]["median_s"] / m["model"]["measured"]["median_s"])
    table = runner.invoke(app, ["profile", str(CONFIGS / "depthwise_separable.yaml"), "-m", "separable", "--layers",
                                "--quick"], terminal_width=200)
    assert table.exit_code == 0, table.output
    assert "sep.pointwise1" in table.stdout and "conv_1x1" in table.stdout
    assert "blocks add up" in table.stdout or "blocks do not add up" in table.stdout


def test_blocks_add_up_arithmetic() -> None:
    m = analytic_profile(graph_of("input: [4, 8, 8]\nlayers: [relu, relu]\n"), "fp32",
                         load_profiles_builtin())
    whole = dataclasses.replace(m.whole, timing=Timing((10.0, 10.0, 10.0), 1))  # median 10 s, spread 0
    b1, b2 = (dataclasses.replace(b, timing=Timing((t,), 1)) for b, t in zip(m.blocks, (6.0, 6.5)))
    added = dataclasses.replace(m, whole=whole, blocks=(b1, b2))
    assert added.blocks_sum_s == 12.5 and added.blocks_ratio == 1.25  # (6 + 6.5) / 10
    assert added.add_up_tolerance == 0.25 and added.blocks_add_up  # |1.25 − 1| ≤ 0.25
    b2_slow = dataclasses.replace(b2, timing=Timing((7.0,), 1))
    assert dataclasses.replace(added, blocks=(b1, b2_slow)).blocks_add_up is False  # 1.3
    noisy = dataclasses.replace(whole, timing=Timing((5.0, 10.0, 15.0), 1))  # IQR 5, median 10: spread 50 %
    assert dataclasses.replace(added, whole=noisy).add_up_tolerance == 1.0  # twice the spread
    assert m.blocks_add_up is None  # nothing measured


def load_profiles_builtin():  # type: ignore[no-untyped-def]
    from convcost.costmodel.roofline import BUILTIN

    return BUILTIN["cpu"]


SLOW_PROFILE = """\
devices:
  slow:
    peak: {fp32: 1 kFLOP/s}
    bandwidth: 1 kB/s
    calibrations:
      - {device: cpu, threads: 1, dtype: fp32, overhead: 1 s, memory: {elementwise: [{size: 1, rate: 1}]}}
"""


def test_profile_accuracy_and_max_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    spec = str(CONFIGS / "depthwise_separable.yaml")
    result = runner.invoke(app, ["profile", spec, "--accuracy", "--quick", "--threads", "1"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "median |error|" in result.stdout and "90th percentile" in result.stdout
    assert "layer errors by kind" in result.stdout
    doc = runner.invoke(app, ["profile", spec, "--accuracy", "--quick", "-f", "json"])
    assert doc.exit_code == 0, doc.output
    acc = json.loads(doc.stdout)["accuracy"]
    assert acc["models"]["count"] == 2 and acc["layers"]["count"] == 3  # standard: 1 conv; separable: 2
    # the nominal 160 GFLOP/s CPU predicts far less than measured: each error is above −100 % and below 0
    assert -100 < acc["models"]["worst_pct"] < 100
    ok = runner.invoke(app, ["profile", spec, "--accuracy", "--quick", "--max-error", "100"])
    assert ok.exit_code == 0, ok.output
    slow = tmp_path / "slow.yaml"
    slow.write_text(SLOW_PROFILE)  # 1 s per op: every model predicted far slower than it runs
    bad = runner.invoke(app, ["profile", spec, "--accuracy", "--quick", "--threads", "1", "--hw-file", str(slow),
                              "--max-error", "50"])
    assert bad.exit_code == 1, bad.output
    assert "above --max-error 50 %" in bad.stderr
    md = runner.invoke(app, ["profile", spec, "--accuracy", "--quick", "-f", "markdown"])
    assert md.exit_code == 0 and "| model | layers |" in md.stdout


def test_profile_accuracy_reports_the_calibration_level(tmp_path, tiny_benches) -> None:  # type: ignore[no-untyped-def]
    device = tmp_path / "device.yaml"
    made = runner.invoke(app, ["calibrate", "--threads", "1", *FAST, "-o", str(device)])
    assert made.exit_code == 0, made.output
    # the first tiny benchmark's conv, batch norm and ReLU, as a model: exactly the work of three calibration points
    spec = tmp_path / "same.yaml"
    spec.write_text("input: [4, 8, 8]\nlayers: [{conv: {out: 4, kernel: 3, padding: 1, bias: false}}, bn, relu, flatten]\n")
    args = ["profile", str(spec), "--accuracy", "--quick", "--threads", "1", "--hw-file", str(device)]
    doc = runner.invoke(app, [*args, "-f", "json"])
    assert doc.exit_code == 0, doc.output
    level = json.loads(doc.stdout)["accuracy"]["calibration_level"]
    assert level["layers"] == 3 and level["ratio"] > 0  # conv, bn, relu; the flatten (a view) has no curve
    table = runner.invoke(app, args, terminal_width=200)
    assert table.exit_code == 0 and "calibration level: 3 layers" in table.stdout
    nominal = runner.invoke(app, ["profile", str(spec), "--accuracy", "--quick", "--threads", "1", "-f", "json"])
    assert json.loads(nominal.stdout)["accuracy"]["calibration_level"] is None  # nominal peaks: nothing to check


def test_profile_usage_errors_of_the_new_options() -> None:
    spec = str(CONFIGS / "depthwise_separable.yaml")
    r = runner.invoke(app, ["profile", spec, "--max-error", "10", "--quick"])
    assert r.exit_code == 2 and "--max-error applies to --accuracy" in r.stderr
    r = runner.invoke(app, ["profile", spec, "--clock", "cpu", "--threads", "2", "--quick"])
    assert r.exit_code == 2 and "add --threads 1" in r.stderr


def test_profile_several_spec_files_and_cpu_clock() -> None:
    files = [str(CONFIGS / "depthwise_separable.yaml"), str(CONFIGS / "grouped_conv.yaml")]
    r = runner.invoke(app, ["profile", *files, "--quick", "--no-blocks", "--threads", "1", "--clock", "cpu", "-f", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [m["name"] for m in doc["models"]] == ["standard", "separable", "grouped", "dense"]
    assert "thread_time" in doc["environment"]["method"] and doc["environment"]["clock"] == "cpu"


def test_compare_profile_with_a_device_profile(tmp_path) -> None:  # type: ignore[no-untyped-def]
    spec = str(CONFIGS / "depthwise_separable.yaml")
    r = runner.invoke(app, ["compare", spec, "--profile", "--hw", "cpu", "-f", "json"])
    assert r.exit_code == 0, r.output
    base, other = json.loads(r.stdout)["latency"]
    roof = json.loads(runner.invoke(app, ["roofline", spec, "-f", "json"]).stdout)  # the same device, analytic
    assert [base["predicted_s"], other["predicted_s"]] == pytest.approx(
        [m["model"]["roofline"]["ideal_s"] for m in roof["models"]]
    )
    assert other["predicted_change_pct"] == pytest.approx(100 * (other["predicted_s"] / base["predicted_s"] - 1))
    table = runner.invoke(app, ["compare", spec, "--profile", "--hw", "cpu"], terminal_width=250)
    assert table.exit_code == 0 and "predicted" in table.stdout
    no = runner.invoke(app, ["compare", spec, "--hw", "cpu"])
    assert no.exit_code == 2 and "they need --profile" in no.stderr


def test_profile_graphs_keeps_the_run_threads_for_the_roofline() -> None:
    run = profile_graphs([graph_of("input: [4, 8, 8]\nlayers: [relu]\n")],
                         ProfileOptions(threads=1, min_time=0.001, repeats=3, warmup=1, blocks=False))
    assert run.fit.scale == 0.5 and run.fit.note == "peak scaled to 1 of 2 cores"  # the built-in cpu: 2 cores


def test_a_calibration_no_layer_matches_has_no_level(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A hand-written file of one point (a 3×3 conv of 1 kFLOP, 1 thread) against a model whose conv is 2·4·9·4·64 =
    18,432 FLOPs: no layer is a calibration point's work, so the level is absent and said so (ratio null, 0 layers),
    never 0 or NaN; and the run's 2 threads against the file's 1 read '1 thread'."""
    device = tmp_path / "one.yaml"
    device.write_text("devices:\n  d:\n    peak: {fp32: 10 GFLOP/s}\n    bandwidth: 10 GB/s\n    cores: 2\n"
                      "    calibrations:\n      - {device: cpu, threads: 1, dtype: fp32, overhead: 4 us,\n"
                      "         compute: {conv_dense: [{size: 1 kFLOP, rate: 1 GFLOP/s, time: 5 us}]}}\n")
    spec = tmp_path / "s.yaml"
    spec.write_text("input: [4, 8, 8]\nlayers: [{conv: {out: 4, kernel: 3, padding: 1, bias: false}}, relu]\n")
    args = ["profile", str(spec), "--accuracy", "--quick", "--threads", "2", "--hw-file", str(device)]
    doc = runner.invoke(app, [*args, "-f", "json"])
    assert doc.exit_code == 0, doc.output
    assert json.loads(doc.stdout)["accuracy"]["calibration_level"] == {"ratio": None, "layers": 0}
    table = runner.invoke(app, args, terminal_width=200)
    assert table.exit_code == 0, table.output
    assert "calibration level: none of the layers that are exactly the work of a calibration point" in table.stdout
    assert "calibrated at 1 thread, run at 2" in table.stdout and "nan" not in table.stdout.lower()
    md = runner.invoke(app, [*args, "-f", "markdown"])
    assert md.exit_code == 0 and "calibration level: none of" in md.stdout, md.output


def test_a_strided_grouped_conv_is_a_point_at_the_bytes_its_time_follows() -> None:
    """calibrate's points sit where the predictor reads the curve (kinds.curve_bytes): a 3×3 /2 grouped conv's input
    is counted at its output map's size (no timing: made-up times)."""
    from convcost.crosscheck.calibrate import layer_times

    bench = Bench(("{conv: {out: 8, kernel: 3, stride: 2, padding: 1, groups: 4, bias: false}}",), (8, 8, 8), "strided",
                  ("conv_grouped",))
    graph = calibrate_module._graph(bench.spec(), "<strided>")
    (lt,) = layer_times(bench, graph, [[1e-6, 2e-6, 3e-6]], "fp32")
    # in 8·8·8·4 = 2,048 B at the output's 4×4 of 8×8: 512; weights 8·2·9·4 = 576; out 8·4·4·4 = 512: 1,600 B
    # (all it moves: 3,136 B)
    assert (lt.key, lt.compute, lt.work, lt.median_s) == ("conv_grouped", False, 1600.0, 2e-6)


def test_probe_times_sum_each_class_of_layers() -> None:
    from convcost.crosscheck.calibrate import probe_times

    graph = graph_of("input: [4, 8, 8]\nlayers: [{conv: {out: 4, kernel: 3, padding: 1}}, bn, relu, flatten]\n")
    times = [[[1.0, 3.0, 2.0], [4.0], [5.0, 7.0, 6.0], [9.0]]]
    # compute: the conv's median 2; memory: the batch norm's 4 + the ReLU's median 6; views: the flatten's 9
    assert probe_times([graph], times, "fp32") == calibrate_module.ProbeTimes(2.0, 10.0, 9.0)


def test_the_probe_benchmarks_are_calibrated_even_quick() -> None:
    for quick in (False, True):
        names = {b.what for b in (*calibrate_module.OVERHEAD_BENCHES, *calibrate_module.cpu_benches(quick))}
        assert set(calibrate_module.PROBE_BENCHES) <= names
    assert calibrate_module.probe_benches(("no such benchmark",)) is None


def test_profile_times_the_speed_probe_beside_each_model(tmp_path, tiny_benches, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(calibrate_module, "PROBE_BENCHES", ("conv, bn, relu", "bn, gelu"))
    device = tmp_path / "device.yaml"
    made = runner.invoke(app, ["calibrate", "--threads", "1", *FAST, "-o", str(device)])
    assert made.exit_code == 0, made.output
    (cal,) = next(iter(load_profiles(device).values())).calibrations
    assert cal.probe is not None and cal.probe.benches == ("conv, bn, relu", "bn, gelu")
    # the probe as calibrated: its benchmarks' points (the conv; bn, relu and bn, gelu) summed by class
    conv = cal.compute["conv_dense"].points[0].time_s
    assert cal.probe.times.compute_s == pytest.approx(conv, rel=1e-3) and cal.probe.times.memory_s > 0
    assert cal.probe.times.overhead_s == 0  # neither benchmark has a view
    assert "speed probe: 2 benchmarks took" in made.stderr  # the summary says it
    spec = str(CONFIGS / "depthwise_separable.yaml")
    args = ["profile", spec, "--quick", "--threads", "1", "--hw-file", str(device), "--layers"]
    probed = runner.invoke(app, [*args, "-f", "json"])
    assert probed.exit_code == 0, probed.output
    doc = json.loads(probed.stdout)
    assert doc["hardware"]["calibration"]["probe"]["benches"] == ["conv, bn, relu", "bn, gelu"]
    from convcost.costmodel.calibration import ProbeTimes
    from convcost.costmodel.roofline import load_profiles as load

    hw = next(iter(load(device).values()))
    for m in doc["models"]:
        speed = m["speed_probe"]
        assert speed is not None and speed["calibrated"]["compute_s"] == pytest.approx(cal.probe.times.compute_s)
        now = speed["now"]
        assert now["compute_s"] > 0 and now["memory_s"] > 0 and now["overhead_s"] == 0
        spread = speed["spread"]  # --quick: 3 rounds, each class's interquartile range / median over them
        assert spread is not None and spread["overhead_s"] == 0

        def factor(field: str, now: dict = now, spread: dict = spread) -> float:  # type: ignore[type-arg]
            ratio = getattr(cal.probe.times, field) / now[field]  # calibrated / now, or 1 within the probe's own spread
            return 1.0 if abs(math.log(ratio)) <= math.log1p(spread[field]) else ratio

        assert speed["compute"] == pytest.approx(factor("compute_s"))
        assert speed["memory"] == pytest.approx(factor("memory_s")) and speed["overhead"] == 1
        # the prediction is the calibration's at the speed measured: the analytic path with the same probe times
        graph = graph_of(Path(spec).read_text(), m["name"])
        again = analytic_profile(graph, "fp32", hw, threads=1,
                                 probe=ProbeTimes(now["compute_s"], now["memory_s"], now["overhead_s"]),
                                 probe_spread=ProbeTimes(spread["compute_s"], spread["memory_s"], spread["overhead_s"]))
        assert m["model"]["roofline"]["ideal_s"] == pytest.approx(again.roofline.total.ideal_s)
        plain = analytic_profile(graph, "fp32", hw, threads=1)
        assert plain.roofline.fit.speed is None
    table = runner.invoke(app, args, terminal_width=200)
    assert table.exit_code == 0 and "speed probe: this run at ×" in table.stdout
    off = runner.invoke(app, [*args, "--no-probe", "-f", "json"])
    assert off.exit_code == 0 and all(m["speed_probe"] is None for m in json.loads(off.stdout)["models"])
