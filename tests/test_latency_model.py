"""The latency model without torch: layer kinds, calibrated device profiles (reading, validation, writing) and
the predicted time of each layer, derived by hand from hand-made profiles."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
from conftest import graph_of
from typer.testing import CliRunner

from convcost.cli import app
from convcost.costmodel.analysis import analyze
from convcost.costmodel.calibration import Curve, Point, calibration_yaml, fmt_quantity
from convcost.costmodel.kinds import curve_bytes, layer_kind, score_passes
from convcost.costmodel.memory import analyze_memory
from convcost.costmodel.roofline import BUILTIN, fit_profile, parse_profiles, roofline
from convcost.crosscheck.accuracy import ErrorStats, percentile
from convcost.errors import SpecError

runner = CliRunner()

# A hand-made profile: dense convs at 1 GFLOP/s at 13,824 FLOPs (the conv of NET below), 4 GFLOP/s at 100× that; the elementwise
# bandwidth 1 GB/s; GELU's own curve 0.5 GB/s; 10 µs per op. Measured at 2 threads on 2 cores.
TOY = """\
devices:
  toy:
    description: hand-made
    peak: {fp32: 4 GFLOP/s}
    bandwidth: 1 GB/s
    cores: 2
    calibrations:
      - device: cpu
        threads: 2
        dtype: fp32
        overhead: 10 us
        compute:
          conv_dense:
            - {size: 13.824 kFLOP, rate: 1 GFLOP/s}
            - {size: 1.3824 MFLOP, rate: 4 GFLOP/s}
        memory:
          elementwise:
            - {size: 1 kB, rate: 1 GB/s}
          gelu:
            - {size: 1 kB, rate: 0.5 GB/s}
"""

NET = """\
input: [3, 8, 8]
layers:
  - conv: {out: 4, kernel: 3, padding: 1, bias: false}
  - relu
  - gelu
  - flatten
  - linear: {out: 2, bias: false}
"""


def toy_roofline(threads: int | None = None, text: str = TOY):  # type: ignore[no-untyped-def]
    profile = parse_profiles(text, "toy.yaml")["toy"]
    return roofline(analyze_memory(analyze(graph_of(NET)), "fp32"), profile, threads=threads)


def test_predicted_time_per_layer_by_hand() -> None:
    roof = toy_roofline()
    conv, relu, gelu, flatten, linear = roof.layers
    # conv: 2 · (8·8 positions · 4 out · 3·3·3 taps) = 13,824 FLOPs, the first point: 1 GFLOP/s -> 13.824 µs;
    # bytes: input 3·64·4 = 768 + weights 4·27·4 = 432 + output 4·64·4 = 1,024 = 2,224 B at 1 GB/s = 2.224 µs;
    # compute-bound: 13.824 + 10 µs overhead
    assert conv.compute_s == pytest.approx(13.824e-6)
    assert conv.memory_s == pytest.approx(2.224e-6)
    assert conv.ideal_s == pytest.approx(23.824e-6)
    assert conv.overhead_s == pytest.approx(10e-6)
    # relu: in 1,024 + out 1,024 = 2,048 B at the elementwise 1 GB/s = 2.048 µs, + 10 µs
    assert relu.ideal_s == pytest.approx(12.048e-6)
    # gelu: its own curve, 0.5 GB/s: 4.096 µs + 10 µs
    assert gelu.ideal_s == pytest.approx(14.096e-6)
    # flatten is a view: the overhead alone
    assert flatten.ideal_s == pytest.approx(10e-6) and flatten.bound == "overhead"
    # linear has no curve: the nominal peak 4 GFLOP/s; 2 · 256 · 2 = 1,024 FLOPs -> 0.256 µs; bytes: 1,024 in +
    # 2,048 weights + 8 out = 3,080 B at 1 GB/s = 3.08 µs: memory-bound; + 10 µs, most of its time
    assert linear.ideal_s == pytest.approx(13.08e-6) and linear.memory_bound_s == pytest.approx(3.08e-6)
    assert linear.bound == "overhead" and conv.bound == "compute"
    assert roof.uncalibrated == ("linear1",)
    assert roof.kinds == ("conv_dense", "elementwise", "elementwise", "view", "linear")
    # the model: the sum of its layers
    assert roof.total.ideal_s == pytest.approx((23.824 + 12.048 + 14.096 + 10 + 13.08) * 1e-6)
    assert roof.total.overhead_s == pytest.approx(50e-6)


def test_thread_count_of_the_run_scales_compute_rates() -> None:
    roof = toy_roofline(threads=1)
    assert roof.fit.scale == 0.5  # 1 of the 2 threads it was calibrated with (2 cores)
    assert "calibrated at 2 threads, run at 1" in roof.fit.note
    # the conv's 13,824 FLOPs at 0.5 GFLOP/s = 27.648 µs, + 10 µs; memory-bound layers do not change
    assert roof.layers[0].ideal_s == pytest.approx(37.648e-6)
    assert roof.layers[1].ideal_s == pytest.approx(12.048e-6)
    # more threads than cores: no faster than the cores
    assert toy_roofline(threads=8).fit.scale == 1.0


def test_builtin_cpu_peak_is_shared_by_threads() -> None:
    g = graph_of(NET)
    mem = analyze_memory(analyze(g), "fp32")
    one, both = roofline(mem, BUILTIN["cpu"], threads=1), roofline(mem, BUILTIN["cpu"])
    # conv: 13,824 FLOPs at 160 GFLOP/s (2 cores) = 86.4 ns; at 80 GFLOP/s (1 of 2 cores) = 172.8 ns
    assert both.layers[0].compute_s == pytest.approx(86.4e-9)
    assert one.layers[0].compute_s == pytest.approx(172.8e-9)
    assert one.fit.note == "peak scaled to 1 of 2 cores"
    assert roofline(mem, BUILTIN["h100"], threads=1).fit.scale == 1.0  # no cores to share


def test_grouped_convs_are_predicted_from_the_bytes_they_move() -> None:
    text = TOY.replace("          gelu:", "          conv_grouped:\n            - {size: 4.352 kB, rate: 1 GB/s}\n"
                       "            - {size: 435.2 kB, rate: 4 GB/s}\n          gelu:")
    profile = parse_profiles(text, "toy.yaml")["toy"]
    g = graph_of("input: [8, 8, 8]\nlayers: [{conv: {out: 8, kernel: 3, padding: 1, groups: 4, bias: false}}]\n")
    (span,) = roofline(analyze_memory(analyze(g), "fp32"), profile).layers
    # in 8·64·4 = 2,048 + weights 8·2·9·4 = 576 + out 2,048 = 4,672 B: 1.54 % of the way from 4.352 kB to 435.2 kB in
    # log(size) (log(4672/4352) / log(100) = 0.01541), so the rate is 1 GB/s · 4^0.01541 = 1.02159 GB/s -> 4.5733 µs
    # (its 2·64·8·2·9 = 18,432 FLOPs play no part)
    assert span.memory_s == pytest.approx(4672 / (1e9 * 4 ** (math.log(4672 / 4352) / math.log(100))))
    assert span.memory_s == pytest.approx(4.5733e-6, rel=1e-4) and span.compute_s == 0.0
    assert span.ideal_s == pytest.approx(14.5733e-6, rel=1e-5)


def test_strided_grouped_convs_count_their_input_at_the_output_maps_size() -> None:
    text = TOY.replace("          gelu:", "          conv_grouped:\n            - {size: 1.216 kB, rate: 1 GB/s}\n"
                       "            - {size: 4.672 kB, rate: 4 GB/s}\n          gelu:")
    profile = parse_profiles(text, "toy.yaml")["toy"]
    g = graph_of("input: [8, 8, 8]\nlayers:\n  - conv: {out: 8, kernel: 3, padding: 1, groups: 4, bias: false}\n"
                 "  - conv: {out: 8, kernel: 3, stride: 2, padding: 1, groups: 4, bias: false}\n")
    mem = analyze_memory(analyze(g), "fp32")
    one, two = roofline(mem, profile).layers
    # stride 1 on 8×8: in 8·64·4 = 2,048 + weights 8·2·9·4 = 576 + out 2,048 = 4,672 B, all of it: the second point,
    # 4 GB/s -> 1.168 µs, + 10 µs
    assert one.memory_s == pytest.approx(1.168e-6) and one.ideal_s == pytest.approx(11.168e-6)
    # stride 2 to 4×4: it moves in 2,048 + 576 + out 8·16·4 = 512 = 3,136 B (reported), but its time follows its
    # input at the output map's size: 2,048·16/64 = 512 + 576 + 512 = 1,600 B, 20.39 % of the way from 1.216 kB to
    # 4.672 kB in log(size) (log(1600/1216) / log(4672/1216) = 0.20389), rate 1 GB/s · 4^0.20389 = 1.32664 GB/s
    # -> 1.2061 µs, + 10 µs
    f = math.log(1600 / 1216) / math.log(4672 / 1216)
    assert two.bytes == 3136 and two.memory_s == pytest.approx(1600 / (1e9 * 4**f))
    assert two.memory_s == pytest.approx(1.2061e-6, rel=1e-4) and two.ideal_s == pytest.approx(11.2061e-6, rel=1e-5)
    assert [curve_bytes(layer_kind(lt.node), lt.node, lt.traffic) for lt in mem.layers] == [4672, 1600]


def test_depthwise_convs_are_predicted_from_the_bytes_they_move() -> None:
    text = TOY.replace("          gelu:", "          conv_depthwise:\n            - {size: 2.848 kB, rate: 0.5 GB/s}\n"
                       "            - {size: 4.384 kB, rate: 1 GB/s}\n          gelu:")
    profile = parse_profiles(text, "toy.yaml")["toy"]
    g = graph_of("input: [8, 8, 8]\nlayers:\n  - conv: {out: 8, kernel: 3, padding: 1, groups: 8, bias: false}\n"
                 "  - conv: {out: 8, kernel: 3, stride: 2, padding: 1, groups: 8, bias: false}\n")
    one, two = roofline(analyze_memory(analyze(g), "fp32"), profile, threads=1).layers
    # stride 1: in 8·64·4 = 2,048 + weights 8·9·4 = 288 + out 2,048 = 4,384 B, the second point: 1 GB/s -> 4.384 µs,
    # + 10 µs; its 2·64·8·9 = 9,216 FLOPs play no part (memory-bound, and the 1-of-2-threads compute scale neither)
    assert one.ideal_s == pytest.approx(14.384e-6) and one.memory_s == pytest.approx(4.384e-6)
    assert one.compute_s == 0.0 and one.memory_bound_s == pytest.approx(4.384e-6)
    # stride 2 on its 8×8 output: in 2,048 + 288 + out 8·4·4·4 = 512 = 2,848 B, the first point: 0.5 GB/s -> 5.696 µs
    # (a quarter of the FLOPs, yet slower: looked up by FLOPs it could never be)
    assert two.ideal_s == pytest.approx(15.696e-6)


AFTER = TOY.replace("        overhead: 10 us\n", "        overhead: 10 us\n        overhead_after:\n"
                    "          - {after: 1 kB, time: 10 us}\n          - {after: 10 kB, time: 20 us}\n")


def test_the_overhead_after_a_layer_follows_the_bytes_it_moved() -> None:
    cal = parse_profiles(AFTER, "toy.yaml")["toy"].calibrations[0]
    assert cal.overhead_at(None) == 10e-6 and cal.overhead_at(0) == 10e-6  # the first layer; after a view
    assert cal.overhead_at(3162.2777) == pytest.approx(15e-6)  # halfway from 1 to 10 kB in log: halfway in time
    assert cal.overhead_at(1e6) == 20e-6  # above the last point: its time
    low = AFTER.replace("{after: 1 kB, time: 10 us}", "{after: 1 kB, time: 2 us}")
    assert parse_profiles(low, "toy.yaml")["toy"].calibrations[0].overhead_at(500) == 10e-6  # never below the overhead
    roof = toy_roofline(text=AFTER)
    conv, relu, gelu, flatten, linear = roof.layers
    assert conv.overhead_s == 10e-6  # the first layer
    # relu after the conv's 2,224 B: log10(2.224) = 0.34713 of the way from 10 to 20 µs = 13.4713 µs, + 2.048 µs
    assert relu.overhead_s == pytest.approx(13.4713e-6, rel=1e-5) and relu.ideal_s == pytest.approx(15.5193e-6, rel=1e-5)
    # gelu after relu's 2,048 B: log10(2.048) = 0.31133 -> 13.1133 µs, + 4.096 µs; the flatten after gelu's 2,048 B
    assert gelu.ideal_s == pytest.approx(17.2093e-6, rel=1e-5) and flatten.ideal_s == pytest.approx(13.1133e-6, rel=1e-5)
    assert linear.overhead_s == 10e-6  # after the flatten, which moved nothing
    # written and read back the same
    lines = calibration_yaml(cal, indent="        ")
    text = "devices:\n  toy:\n    peak: {fp32: 4 GFLOP/s}\n    bandwidth: 1 GB/s\n    calibrations:\n" + "\n".join(lines)
    assert parse_profiles(text, "again.yaml")["toy"].calibrations[0].overhead_after == cal.overhead_after


def test_the_overhead_after_a_layer_never_falls_with_more_bytes_before() -> None:
    # a dip in the measured curve (a view after a big ReLU measured 12 µs where one after a smaller conv took 20 µs) is
    # lifted to the largest time at or below its size: the upper envelope 10, 20, 20 µs at 1, 10, 100 kB
    dip = AFTER.replace("          - {after: 10 kB, time: 20 us}\n",
                        "          - {after: 10 kB, time: 20 us}\n          - {after: 100 kB, time: 12 us}\n")
    cal = parse_profiles(dip, "toy.yaml")["toy"].calibrations[0]
    assert [a.time_s for a in cal.overhead_after] == [10e-6, 20e-6, 12e-6]  # the file keeps what was measured
    assert cal.overhead_at(1e5) == pytest.approx(20e-6)  # the dip's own point: 20 µs, not 12
    assert cal.overhead_at(31622.777) == pytest.approx(20e-6)  # halfway from 10 to 100 kB: 20 µs (the raw curve: 16)
    assert cal.overhead_at(1e7) == pytest.approx(20e-6)  # above the last point: the envelope's last, 20 µs, not 12
    assert cal.overhead_at(3162.2777) == pytest.approx(15e-6)  # below the dip nothing changes: halfway from 10 to 20 µs
    # a rise after the dip is followed again: 30 µs at 1 MB -> halfway from 100 kB (20 µs) to 1 MB in log: 25 µs
    rise = dip.replace("{after: 100 kB, time: 12 us}\n", "{after: 100 kB, time: 12 us}\n          - {after: 1 MB, time: 30 us}\n")
    again = parse_profiles(rise, "toy.yaml")["toy"].calibrations[0]
    assert again.overhead_at(316227.77) == pytest.approx(25e-6)


def test_the_roofline_header_says_the_overhead_after_a_big_layer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "after.yaml").write_text(AFTER)
    (tmp_path / "toy.yaml").write_text(TOY)
    (tmp_path / "net.yaml").write_text(NET)
    net = str(tmp_path / "net.yaml")
    with_after = runner.invoke(app, ["roofline", net, "--hw-file", str(tmp_path / "after.yaml")], terminal_width=200)
    assert with_after.exit_code == 0, with_after.output
    assert "+ 10 µs overhead (up to 20 µs after a big layer)" in with_after.stdout  # the largest point's time
    without = runner.invoke(app, ["roofline", net, "--hw-file", str(tmp_path / "toy.yaml")], terminal_width=200)
    assert "+ 10 µs overhead" in without.stdout and "after a big layer" not in without.stdout


def test_curve_interpolates_log_log_and_clamps() -> None:
    curve = Curve((Point(1e6, 1e9), Point(100e6, 4e9)))
    assert curve.rate_at(10e6) == pytest.approx(2e9)  # halfway in log(size): the geometric mean of 1 and 4
    assert curve.rate_at(1e6) == 1e9 and curve.rate_at(100e6) == 4e9
    # below the smallest size, the smallest's time: 1 MFLOP at 1 GFLOP/s = 1 ms, so 1 kFLOP in 1 ms = 1 MFLOP/s
    assert curve.rate_at(1e3) == pytest.approx(1e6)
    assert curve.rate_at(1e12) == 4e9  # above the largest, its rate


def test_fit_prefers_the_run_conditions() -> None:
    text = TOY.replace("      - device: cpu\n        threads: 2\n", "      - device: cpu\n        threads: 1\n") + (
        "      - device: cpu\n        threads: 2\n        dtype: fp32\n        overhead: 1 us\n"
        "        memory: {elementwise: [{size: 1 kB, rate: 2 GB/s}]}\n"
    )
    profile = parse_profiles(text, "toy.yaml")["toy"]
    assert fit_profile(profile, "fp32", 2).calibration.overhead_s == 1e-6  # type: ignore[union-attr]
    assert fit_profile(profile, "fp32", 1).calibration.overhead_s == 10e-6  # type: ignore[union-attr]
    assert fit_profile(profile, "fp32", 1).scale == 1.0
    assert "calibrated in wall time, measured in CPU time" in fit_profile(profile, "fp32", 1, clock="cpu").note
    assert fit_profile(profile, "fp32", 1, clock="wall").note == ""
    nominal = fit_profile(profile, "bf16", 2)
    assert nominal.calibration is None and "not calibrated for bf16" in nominal.note


def test_layer_kinds() -> None:
    g = graph_of(
        "input: [8, 14, 14]\nlayers:\n"
        "  - conv: {out: 16, kernel: 1}\n"  # 1×1
        "  - conv: {out: 16, kernel: 3, padding: 1, groups: 16}\n"  # depthwise
        "  - conv: {out: 16, kernel: 7, padding: 3, groups: 16}\n"  # depthwise, 49 taps
        "  - conv: {out: 16, kernel: 3, padding: 1, groups: 4}\n"  # grouped
        "  - conv: {out: 16, kernel: 3, padding: 1}\n"  # dense
        "  - bn\n  - silu\n"
        "  - maxpool: {kernel: 2}\n"
        "  - residual: {body: [relu]}\n"
        "  - concat: {branches: [[identity], [identity]]}\n"
        "  - gap\n  - flatten\n  - linear: {out: 4}\n"
    )
    assert [layer_kind(n) for n in g.nodes] == [
        "conv_1x1", "conv_depthwise", "conv_depthwise_large", "conv_grouped", "conv_dense", "norm", "elementwise",
        "pool", "elementwise", "elementwise", "view", "view", "copy", "reduce", "view", "linear",
    ]


def test_attention_is_its_own_kind() -> None:
    g = graph_of("input: [32, 4, 4]\nlayers: [to_tokens, {attention: {heads: 2}}, {linear: {out: 8}}]\n")
    assert [layer_kind(n) for n in g.nodes] == ["view", "attention", "linear"]


# ---- the device profile file --------------------------------------------------------------------------
def test_calibration_reads_back_what_it_writes() -> None:
    cal = parse_profiles(TOY, "toy.yaml")["toy"].calibrations[0]
    lines = calibration_yaml(cal, indent="        ")
    text = "devices:\n  toy:\n    peak: {fp32: 4 GFLOP/s}\n    bandwidth: 1 GB/s\n    calibrations:\n" + "\n".join(lines)
    again = parse_profiles(text, "again.yaml")["toy"].calibrations[0]
    assert again.compute == cal.compute and again.memory == cal.memory
    assert (again.overhead_s, again.threads, again.dtype, again.clock) == (10e-6, 2, "fp32", "wall")


def test_quantities_are_written_with_si_prefixes() -> None:
    assert fmt_quantity(231_200_000, "FLOP") == "231.2 MFLOP"
    assert fmt_quantity(4.1e-6, "s") == "4.1 us"
    assert fmt_quantity(12.85e6, "B") == "12.85 MB"
    assert fmt_quantity(0.5, "s") == "500 ms"


def _cal(body: str) -> str:
    """A device with one calibration whose lines (after '- device: cpu') are ``body``."""
    return (
        "devices:\n  x:\n    peak: {fp32: 1T}\n    bandwidth: 1\n    calibrations:\n      - device: cpu\n" + body
    )


GOOD = "        threads: 1\n        dtype: fp32\n        overhead: 1 us\n"


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (_cal(GOOD + "        compute: {conv_dense: [{size: 2 MFLOP, rate: 1G}, {size: 1 MFLOP, rate: 1G}]}\n"),
         "hw.yaml:10:66", "sizes must increase; 1 MFLOP is not above the previous point's 2 MFLOP"),
        (_cal(GOOD + "        compute: {conv_dens: [{size: 1, rate: 1}]}\n"), "hw.yaml:10:19",
         "unknown compute kind or op 'conv_dens' (did you mean 'conv_dense'?)"),
        (_cal(GOOD + "        compute: {elementwise: [{size: 1, rate: 1}]}\n"), "hw.yaml:10:19",
         "'elementwise' is a memory kind: put it under 'memory'"),
        (_cal(GOOD + "        compute: {conv_depthwise: [{size: 1, rate: 1}]}\n"), "hw.yaml:10:19",
         "'conv_depthwise' is a memory kind: put it under 'memory'; files written before depthwise and grouped convs were "
         "measured by the bytes they move hold it under 'compute', in FLOP/s: run `convcost calibrate` again"),
        (_cal(GOOD + "        overhead_after: [{after: 2 kB, time: 1 us}, {after: 1 kB, time: 1 us}]\n"
                     "        memory: {relu: [{size: 1, rate: 1}]}\n"), "hw.yaml:10:61",
         "'after' must increase; 1 kB is not above the previous point's 2 kB"),
        (_cal(GOOD + "        overhead_after: [{after: 2 kB}]\n        memory: {relu: [{size: 1, rate: 1}]}\n"),
         "hw.yaml:10:26", "overhead_after point 1 needs 'time'"),
        (_cal(GOOD + "        memory: {relu: [{size: 1 kB, rate: fast}]}\n"), "hw.yaml:10:44", "cannot read 'fast'"),
        (_cal(GOOD + "        memory: {relu: [{size: 1 MFLOP, rate: 1 GB/s}]}\n"), "hw.yaml:10:32", "cannot read '1 MFLOP'"),
        (_cal(GOOD + "        memory: {relu: []}\n"), "hw.yaml:10:24", "is empty"),
        (_cal(GOOD + "        memory: {relu: [{rate: 1 GB/s}]}\n"), "hw.yaml:10:25", "needs 'size'"),
        (_cal(GOOD), "hw.yaml:6:9", "has no measured kinds"),
        (_cal("        dtype: fp32\n        overhead: 1 us\n        memory: {relu: [{size: 1, rate: 1}]}\n"),
         "hw.yaml:6:9", "a CPU calibration needs 'threads'"),
        (_cal("        threads: 1\n        dtype: fp32\n        memory: {relu: [{size: 1, rate: 1}]}\n"),
         "hw.yaml:6:9", "needs 'overhead'"),
        (_cal(GOOD.replace("fp32", "fp23") + "        memory: {relu: [{size: 1, rate: 1}]}\n"), "hw.yaml:8:16",
         "did you mean 'fp32'"),
        (_cal(GOOD.replace("1 us", "1 ks") + "        memory: {relu: [{size: 1, rate: 1}]}\n"), "hw.yaml:9:19",
         "cannot read '1 ks'"),
        (_cal(GOOD.replace("threads: 1", "threads: 2") + "        clock: cpu\n        memory: {relu: [{size: 1, rate: 1}]}\n"),
         "hw.yaml:10:16", "'clock: cpu' (one thread's CPU time) needs device cpu and threads 1"),
        (_cal(GOOD + "        memory: {relu: [{size: 1, rate: 1}]}\n" + "      - device: cpu\n" + GOOD
              + "        memory: {relu: [{size: 1, rate: 1}]}\n"),
         "hw.yaml:11:9", "calibration 2 measures the same conditions (cpu, 1 thread, fp32) as calibration 1"),
        (_cal(GOOD + "        memory: {relu: [{size: 1, rate: 1}]}\n        sped: 3\n"), "hw.yaml:11:9",
         "unknown key 'sped'"),
    ],
)
def test_calibration_errors_are_located(text: str, where: str, message: str) -> None:
    with pytest.raises(SpecError) as e:
        parse_profiles(text, "hw.yaml")
    assert str(e.value).startswith(where + ":"), str(e.value)
    assert message in str(e.value), str(e.value)


def test_op_curves_take_canonical_names() -> None:
    text = _cal(GOOD + "        memory: {bn: [{size: 1 kB, rate: 1 GB/s}]}\n")
    assert set(parse_profiles(text, "hw.yaml")["x"].calibrations[0].memory) == {"batchnorm"}


# ---- commands -------------------------------------------------------------------------------------------
@pytest.fixture
def toy_files(tmp_path):  # type: ignore[no-untyped-def]
    (tmp_path / "toy.yaml").write_text(TOY)
    (tmp_path / "net.yaml").write_text(NET)
    return tmp_path


def test_roofline_command_with_a_calibrated_profile(toy_files) -> None:  # type: ignore[no-untyped-def]
    net, toy = str(toy_files / "net.yaml"), str(toy_files / "toy.yaml")
    result = runner.invoke(app, ["roofline", net, "--hw-file", toy, "-f", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    cal = doc["hardware"]["calibration"]
    assert cal["overhead_s"] == pytest.approx(10e-6) and cal["threads"] == 2
    (m,) = doc["models"]
    assert [x["kind"] for x in m["layers"]] == ["conv_dense", "elementwise", "elementwise", "view", "linear"]
    assert m["layers"][0]["ideal_s"] == pytest.approx(23.824e-6)  # as derived in test_predicted_time_per_layer_by_hand
    assert m["layers"][0]["overhead_s"] == pytest.approx(10e-6)
    assert m["uncalibrated_layers"] == ["linear1"]
    table = runner.invoke(app, ["roofline", net, "--hw-file", toy, "--threads", "1"], terminal_width=200)
    assert table.exit_code == 0, table.output
    assert "calibrated profile 'toy'" in table.stdout and "compute rates × 0.5" in table.stdout
    assert "predicted" in table.stdout and "37.6 µs" in table.stdout  # the conv at 1 thread, derived above
    assert "not calibrated: 1 layer of kind linear (linear1)" in table.stdout


def test_roofline_threads_scales_the_builtin_cpu() -> None:
    result = runner.invoke(app, ["roofline", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "peak 0.08 TFLOP/s fp32" in result.stdout and "peak scaled to 1 of 2 cores" in result.stdout


def test_roofline_reports_a_bad_calibration_with_its_location(toy_files) -> None:  # type: ignore[no-untyped-def]
    bad = toy_files / "bad.yaml"
    bad.write_text(TOY.replace("overhead: 10 us", "overhead: ten"))
    result = runner.invoke(app, ["roofline", str(toy_files / "net.yaml"), "--hw-file", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:11:19: device 'toy' calibration 1 overhead: cannot read 'ten'" in result.stderr


# ---- accuracy arithmetic ------------------------------------------------------------------------------------
def test_percentile_interpolates() -> None:
    xs = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]
    assert percentile(xs, 90) == 10.0  # position (11 − 1) · 0.9 = 9: the 10th value
    assert percentile([0.0, 10.0], 90) == 9.0  # 0 + (10 − 0) · 0.9
    assert percentile([5.0], 50) == 5.0


def test_error_stats() -> None:
    stats = ErrorStats.of([("a", -30.0), ("b", 10.0), ("c", 20.0)])
    assert stats is not None
    assert stats.median_abs == 20.0  # |−30|, 10, 20 -> 20
    assert stats.median == 10.0  # −30, 10, 20 -> 10
    assert stats.worst == -30.0 and stats.worst_name == "a"
    assert stats.p90_abs == pytest.approx(28.0)  # sorted 10, 20, 30: position 1.8 -> 20 + 0.8 · 10
    assert ErrorStats.of([]) is None
    assert math.isfinite(stats.p90_abs)


# ---- the general tensor ops (tests/tensor_op_cases.py) each have a kind ---------------------------------------
# What each op is to the latency model, decided by hand from what torch does for it: a matmul/einsum multiplies
# activations by activations but with no softmax between (linear); sdpa does QKᵀ, softmax and A·V (attention);
# reductions over dims read everything once and write little (reduce); math ops read and write every element
# (elementwise); joins that only copy (concat, stack) and pad write a new tensor (copy), as does a constant (new_zeros:
# it fills a tensor, reading nothing); views move nothing.
GENERAL_OP_KINDS = {
    "matmul": "linear", "einsum": "linear", "scaled_dot_product_attention": "attention",
    **dict.fromkeys(("mean", "sum", "amax", "amin", "norm", "var", "std"), "reduce"),
    **dict.fromkeys(("add", "sub", "multiply", "div", "pow", "maximum", "minimum", "sqrt", "rsqrt", "exp", "log", "abs",
                     "neg", "reciprocal", "square", "sin", "cos", "erf", "clamp", "softmax", "log_softmax"), "elementwise"),
    **dict.fromkeys(("concat", "stack", "pad", "constant"), "copy"),
    **dict.fromkeys(("reshape", "flatten", "unflatten", "permute", "transpose", "slice", "select", "chunk"), "view"),
    # issue 20's: comparisons and where read and write every element; topk reads a whole dim and writes little; tile,
    # flip, roll and index_select write a new tensor, grid_sample too (a resampling, as upsample); expand is a view
    **dict.fromkeys(("gt", "lt", "ge", "le", "eq", "ne", "where"), "elementwise"),
    "topk": "reduce",
    **dict.fromkeys(("tile", "flip", "roll", "index_select", "grid_sample"), "copy"),
    "expand": "view",
}


def test_every_general_tensor_op_has_a_latency_kind() -> None:
    from tensor_op_cases import CASES

    seen: dict[str, set[str]] = {}
    for _op, layers, inp, *_ in CASES:
        g = graph_of(f"input: {inp}\nlayers:\n  - {layers}\n")
        for n in g.nodes:
            seen.setdefault(n.rule.name, set()).add(layer_kind(n))
    tested = {str(c[0]) for c in CASES}
    assert tested <= set(GENERAL_OP_KINDS)  # a new general op needs its kind decided here
    assert {op: seen[op] for op in tested} == {op: {GENERAL_OP_KINDS[op]} for op in tested}


def test_general_ops_config_is_predicted_layer_by_layer(toy_files) -> None:  # type: ignore[no-untyped-def]
    from conftest import CONFIGS

    result = runner.invoke(app, ["roofline", str(CONFIGS / "general_ops.yaml"), "--hw-file", str(toy_files / "toy.yaml"),
                                 "-f", "json"])
    assert result.exit_code == 0, result.output
    for m in json.loads(result.stdout)["models"]:
        kinds = {x["name"]: x["kind"] for x in m["layers"]}
        # TOY calibrates conv_dense, elementwise and gelu only: every other layer that moves data is listed as
        # not calibrated (never silently zero); views take the overhead alone
        missing = {name for name, kind in kinds.items() if kind not in ("conv_dense", "elementwise", "view")}
        assert set(m["uncalibrated_layers"]) == missing, m["name"]
        assert all(x["ideal_s"] >= 10e-6 for x in m["layers"])  # at least the 10 µs overhead each


def test_benchmark_figures_are_the_done_whens() -> None:
    """benchmarks/bench_latency.py's two figures from profile --accuracy's JSON (no timing: a made-up run)."""
    import importlib.util

    from conftest import ROOT

    spec = importlib.util.spec_from_file_location("bench_latency", ROOT / "benchmarks" / "bench_latency.py")
    bench = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(bench)  # type: ignore[union-attr]

    def model(error: float, layers: list[float | None]) -> dict[str, object]:
        return {"model": {"error_pct": error}, "layers": [{"error_pct": e} for e in layers]}

    f = bench.figures_of([model(-20.0, [10.0, -40.0, None]), model(30.0, [-5.0, 50.0, 35.0])])
    assert (f.models, f.inside, f.worst_pct) == (2, 1, 30.0)  # |−20| ≤ 25 inside, |30| > 25 outside
    assert (f.layers, f.layer_median_pct) == (5, 35.0)  # |errors| 5, 10, 35, 40, 50: median 35; None not measured
    assert not f.ok  # one model outside, and 35 > 30
    g = bench.figures_of([model(25.0, [30.0, -10.0])])
    assert (g.inside, g.layer_median_pct, g.ok) == (1, 20.0, True)  # both targets met at their bounds: ≤, not <


def test_benchmark_level_compares_the_layers_the_calibration_timed() -> None:
    """bench_latency.level_of: the run's layers of exactly a calibration point's op (or kind) and size, measured
    against that point's time (no timing: a made-up run)."""
    import importlib.util

    from conftest import ROOT

    spec = importlib.util.spec_from_file_location("bench_latency", ROOT / "benchmarks" / "bench_latency.py")
    bench = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(bench)  # type: ignore[union-attr]
    timed = TOY.replace("{size: 13.824 kFLOP, rate: 1 GFLOP/s}", "{size: 13.824 kFLOP, rate: 1 GFLOP/s, time: 20 us}")
    timed = timed.replace("{size: 1 kB, rate: 0.5 GB/s}", "{size: 1 kB, rate: 0.5 GB/s, time: 4 us}")
    cal = parse_profiles(timed, "toy.yaml")["toy"].calibrations[0]

    def layer(op: str, kind: str, flops: int, nbytes: int, measured: float | None) -> dict[str, object]:
        return {"op": op, "kind": kind, "flops": flops, "bytes": nbytes,
                "measured": None if measured is None else {"median_s": measured}}

    models = [{"layers": [
        layer("conv", "conv_dense", 13824, 5000, 30e-6),  # the conv_dense point's 13,824 FLOPs: 30 / 20 µs = 1.5
        layer("conv", "conv_dense", 13823, 5000, 99e-6),  # another size (13.823 kFLOP to 5 digits): not the same work
        layer("gelu", "elementwise", 10, 1000, 10e-6),  # gelu's own point at 1 kB: 10 / 4 µs = 2.5
        layer("relu", "elementwise", 10, 1000, 1e-6),  # elementwise's 1 kB point has no time: not compared
        layer("conv", "conv_dense", 13824, 5000, None),  # not measured
        layer("flatten", "view", 0, 0, 5e-6),  # views have no curve
    ]}]
    level = bench.level_of(models, cal)
    assert level.layers == 2 and level.ratio == pytest.approx(2.0)  # the median of 1.5 and 2.5
    none = bench.level_of([{"layers": []}], cal)
    assert none.ratio is None and none.layers == 0
    # by kind: conv_dense 1.5 (its one matched layer), elementwise 2.5 (gelu's); views and unmatched kinds absent
    by_kind = bench.levels_by_kind(models, cal)
    assert list(by_kind) == ["conv_dense", "elementwise"]
    assert by_kind["conv_dense"].ratio == pytest.approx(1.5) and by_kind["elementwise"].ratio == pytest.approx(2.5)


def test_calibration_level_skips_fallback_curves() -> None:
    from convcost.crosscheck.accuracy import calibration_level

    timed = TOY.replace("{size: 1 kB, rate: 1 GB/s}", "{size: 1 kB, rate: 1 GB/s, time: 2 us}")
    cal = parse_profiles(timed, "toy.yaml")["toy"].calibrations[0]
    # a relu of 1 kB is the elementwise point's work: 6 / 2 µs = 3; a batch norm of 1 kB would be predicted on the
    # elementwise curve too (TOY has no norm curve), but that point timed a ReLU, not a batch norm: not compared
    level = calibration_level([("elementwise", "relu", 250, 1000, 6e-6), ("norm", "batchnorm", 250, 1000, 60e-6)], cal)
    assert (level.ratio, level.layers) == (pytest.approx(3.0), 1)


# ---- attention: its passes over the score matrices (and copies) its torch module holds in memory --------------------
ATTENTION_NET = "input: [32, 4, 4]\nlayers: [to_tokens, {{attention: {{heads: {heads}{sdpa}}}}}]\n"
WINDOW_NET = ("input: [32, 4, 4]\nlayers: [{{to_tokens: {{grid: true}}}}, "
              "{{window_attention: {{heads: 2, window: 2, shift: {shift}}}}}]\n")


def _passes(text: str) -> tuple[tuple[str, int], ...]:
    node = graph_of(text).nodes[-1]
    return score_passes(node, 1, 4)  # fp32: 4 bytes a score


def test_attention_score_passes_come_from_the_op() -> None:
    # 16 tokens of 32, 2 heads: 2·16·16 = 512 scores = 2,048 B; q, k, v and the output 16·32 = 512 elements = 2,048 B.
    # nn.MultiheadAttention's fast path (even heads, biases): bmm writes the scores, softmax reads and writes them
    # (4,096 B), bmm reads them; _transform_bias_rescale_qkv reads and writes q, k and v: 3 copies, 2·3·2,048 B
    assert _passes(ATTENTION_NET.format(heads=2, sdpa="")) == (
        ("matmul", 2048), ("softmax", 4096), ("matmul", 2048), ("contiguous", 12288))
    # timm's fused path (F.scaled_dot_product_attention: CPU's flash kernel): softmax's work over the scores only, and
    # the heads' output reshaped for proj: 2·2,048 B
    assert _passes(ATTENTION_NET.format(heads=2, sdpa=", sdpa: true")) == (("softmax", 4096), ("contiguous", 4096))
    # one head (odd): nn.MultiheadAttention leaves its fast path for F.scaled_dot_product_attention (flash); 1·16·16 =
    # 256 scores: softmax 2·1,024 B; q, k, v transposed for it and the output back: 4 copies, 2·4·2,048 B
    assert _passes(ATTENTION_NET.format(heads=1, sdpa="")) == (("softmax", 2048), ("contiguous", 16384))
    # a 4×4 grid in 2×2 windows: 4 windows of 4 tokens, 2 heads: 2·4·4·4 = 128 scores = 512 B; q·kᵀ writes them,
    # + bias and softmax read and write them (1,024 B each), a·v reads them; the grid (16·32·4 = 2,048 B) copied 7
    # times (pad, partition, q scaled, k, v, the heads' output, reverse): 2·7·2,048 = 28,672 B
    assert _passes(WINDOW_NET.format(shift=0)) == (
        ("matmul", 512), ("add", 1024), ("softmax", 1024), ("matmul", 512), ("contiguous", 28672))
    # shifted: the mask added too, and the two rolls: 2·9·2,048 = 36,864 B
    assert _passes(WINDOW_NET.format(shift=1)) == (
        ("matmul", 512), ("add", 1024), ("add", 1024), ("softmax", 1024), ("matmul", 512), ("contiguous", 36864))
    # any other layer: none
    assert score_passes(graph_of(NET).nodes[0], 1, 4) == ()


# attention at 1 GFLOP/s from 1 kFLOP up; elementwise 1 GB/s, add 0.5 GB/s, softmax 0.25 GB/s from 100 B up; 10 µs per op
ATTENTION_TOY = """\
devices:
  toy:
    peak: {fp32: 4 GFLOP/s}
    bandwidth: 1 GB/s
    calibrations:
      - device: cpu
        threads: 1
        dtype: fp32
        overhead: 10 us
        compute:
          attention:
            - {size: 1 kFLOP, rate: 1 GFLOP/s}
        memory:
          elementwise:
            - {size: 100 B, rate: 1 GB/s}
          add:
            - {size: 100 B, rate: 0.5 GB/s}
          softmax:
            - {size: 100 B, rate: 0.25 GB/s}
"""


def test_attention_time_adds_its_score_passes_at_their_curves() -> None:
    profile = parse_profiles(ATTENTION_TOY, "toy.yaml")["toy"]
    roof = roofline(analyze_memory(analyze(graph_of(WINDOW_NET.format(shift=0))), "fp32"), profile)
    span = roof.layers[-1]
    # the passes above: q·kᵀ's write 512 B at 1 GB/s = 0.512 µs, + bias 1,024 B at add's 0.5 GB/s = 2.048 µs, softmax
    # 1,024 B at 0.25 GB/s = 4.096 µs, a·v's read 0.512 µs, the copies 28,672 B at 1 GB/s = 28.672 µs: 35.84 µs, on top
    # of its FLOPs' time (compute-bound: over 2·69,632 MACs at 1 GFLOP/s, against ~21 kB moved at 1 GB/s) and the 10 µs
    extra = 0.512e-6 + 2.048e-6 + 4.096e-6 + 0.512e-6 + 28.672e-6
    assert span.ideal_s - span.compute_s - span.overhead_s == pytest.approx(extra)
    assert span.memory_bound_s == pytest.approx(extra) and span.overhead_s == pytest.approx(10e-6)


def test_calibrated_attention_rates_are_net_of_their_score_passes() -> None:
    from convcost.costmodel.calibration import Calibration
    from convcost.costmodel.roofline import Fit, predicted_span
    from convcost.crosscheck.calibrate import LayerTime, curves_of

    memory = {"softmax": Curve((Point(100, 1e9),))}  # 1 GB/s from 100 B up
    cal = Calibration("cpu", 1, "fp32", False, 10e-6, {}, memory)
    # an attention layer of 1 MFLOP timed at 1 ms, after 10 µs of overhead, whose softmax moves 100 kB: 100 µs at 1 GB/s
    passes = (("softmax", 100_000),)
    layer = LayerTime("attention", True, 1e6, (1e-3, 1e-3, 1e-3), "attention in a benchmark", None, passes)
    curves = curves_of([layer], cal.overhead_at, compute=True, score_time=cal.score_time)
    # its rate: 1 MFLOP / (1,000 − 10 − 100 µs) = 1.1236 GFLOP/s (not 1 MFLOP / 990 µs)
    (point,) = curves["attention"].points
    assert point.rate == pytest.approx(1e6 / 890e-6)
    # and the prediction at that point gives back the 1 ms measured: 890 µs of FLOPs + 100 µs of softmax + 10 µs
    calibrated = dataclasses.replace(cal, compute=curves)
    span, own = predicted_span("attention", "attention", 1_000_000, 0, Fit(calibrated), 1e12, 1e9, None, None, passes)
    assert own and span.ideal_s == pytest.approx(1e-3)
