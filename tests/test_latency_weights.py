"""Issue 24: what a conv's weights and activations cost beyond its FLOPs (Calibration.weights and activations, fitted by
calibrate.byte_rates), and the speed probe's own spread (a factor within it is not applied). Every number is derived by
hand beside it."""

from __future__ import annotations

import dataclasses
import json

import pytest
from conftest import graph_of
from test_latency_model import NET, TOY, _cal

from convcost.costmodel.analysis import analyze
from convcost.costmodel.calibration import Calibration, Curve, Point, ProbeTimes, calibration_yaml
from convcost.costmodel.memory import analyze_memory
from convcost.costmodel.roofline import Fit, Speed, parse_profiles, predicted_span, roofline
from convcost.crosscheck.calibrate import LayerTime, byte_rates, curves_of, probe_spread
from convcost.errors import SpecError

# TOY's calibration, whose dense convs also pay for weight bytes at 1 GB/s and activation bytes at 2 GB/s beyond those
# of the layers its points measured: 232 B of weights and 792 B of activations at its first point (13.824 kFLOP), 10 kB
# and 100 kB at its second (1.3824 MFLOP)
WEIGHTED = TOY.replace("        overhead: 10 us\n", "        overhead: 10 us\n        weights: {conv_dense: 1 GB/s}\n"
                       "        activations: {conv_dense: 2 GB/s}\n").replace(
    "{size: 13.824 kFLOP, rate: 1 GFLOP/s}", "{size: 13.824 kFLOP, rate: 1 GFLOP/s, weights: 232 B, activations: 792 B}").replace(
    "{size: 1.3824 MFLOP, rate: 4 GFLOP/s}", "{size: 1.3824 MFLOP, rate: 4 GFLOP/s, weights: 10 kB, activations: 100 kB}")


def test_a_conv_pays_for_the_bytes_beyond_its_curves_layers() -> None:
    profile = parse_profiles(WEIGHTED, "toy.yaml")["toy"]
    cal = profile.calibrations[0]
    assert (cal.weights, cal.activations) == ({"conv_dense": 1e9}, {"conv_dense": 2e9})
    roof = roofline(analyze_memory(analyze(graph_of(NET)), "fp32"), profile)
    conv, relu, _, _, linear = roof.layers
    # the conv (13,824 FLOPs: the first point): 13.824 µs of FLOPs at 1 GFLOP/s (compute-bound against its 2,224 B at
    # 1 GB/s) + its weights 4·27·4 = 432 B, 200 B beyond the point's 232, at 1 GB/s = 0.2 µs + its input 3·64·4 = 768 B
    # and output 4·64·4 = 1,024 B, 1,000 B beyond the point's 792, at 2 GB/s = 0.5 µs + the 10 µs overhead
    assert conv.ideal_s == pytest.approx((13.824 + 0.2 + 0.5 + 10) * 1e-6)
    assert conv.memory_bound_s == pytest.approx(0.7e-6)  # the bytes' part is memory-bound time
    assert conv.compute_s == pytest.approx(13.824e-6) and conv.overhead_s == pytest.approx(10e-6)
    # the other layers are as without: relu 2,048 B at 1 GB/s + 10 µs; the linear (no curve, no rates) 13.08 µs
    assert relu.ideal_s == pytest.approx(12.048e-6) and linear.ideal_s == pytest.approx(13.08e-6)
    plain = parse_profiles(TOY, "toy.yaml")["toy"]
    assert roofline(analyze_memory(analyze(graph_of(NET)), "fp32"), plain).layers[0].ideal_s == pytest.approx(23.824e-6)


def test_the_curves_bytes_are_interpolated_log_log() -> None:
    curve = Curve((Point(1e6, 1e9, weights=1e3, activations=0.0), Point(1e8, 1e9, weights=1e5, activations=1e4)))
    # half-way in log(FLOPs) between 1e6 and 1e8: half-way in log(bytes) between 1e3 and 1e5, 1e4; activations from 0
    # (no logarithm): linear, (1e7 − 1e6) / (1e8 − 1e6) · 1e4 = 909.09 B
    weights, activations = curve.bytes_at(1e7)
    assert weights == pytest.approx(1e4) and activations == pytest.approx(1e4 * 9e6 / 99e6)
    assert curve.bytes_at(1e5) == (1e3, 0.0) and curve.bytes_at(1e9) == (1e5, 1e4)  # the nearest point's outside
    assert Curve((Point(1e6, 1e9),)).bytes_at(1e6) == (None, None)  # a curve without bytes


def test_a_layer_pays_for_more_bytes_and_saves_nothing_for_fewer() -> None:
    curve = Curve((Point(1e6, 1e9, weights=1e6, activations=0.0),))  # 1 MFLOP at 1 GFLOP/s: 1 ms, with 1 MB of weights
    cal = Calibration("cpu", 1, "fp32", False, 0.0, {"conv_dense": curve}, {}, weights={"conv_dense": 1e9})

    def time(weights: int) -> float:
        span, _ = predicted_span("conv_dense", "conv", 10**6, 0, Fit(cal), 1e12, 1e12, weight_nbytes=weights)
        return span.ideal_s

    assert time(10**6) == pytest.approx(1e-3)  # the point's own bytes: its time
    assert time(3 * 10**6) == pytest.approx(3e-3)  # 2 MB more at 1 GB/s: + 2 ms
    assert time(5 * 10**5) == pytest.approx(1e-3)  # fewer: the curve's rate is already that of its fewest bytes
    assert time(0) == pytest.approx(1e-3)


def test_memory_kinds_pay_nothing_more_for_their_bytes() -> None:
    cal = parse_profiles(WEIGHTED, "toy.yaml")["toy"].calibrations[0]
    # at the first point (13,824 FLOPs): 1 kB of weights is 768 B beyond its 232 (0.768 µs at 1 GB/s), 4 kB of
    # activations 3,208 B beyond its 792 (1.604 µs at 2 GB/s)
    assert cal.bytes_time("conv_dense", "conv", 13_824, 1000, 4000) == pytest.approx(2.372e-6)
    assert cal.bytes_time("conv_dense", "conv", 13_824, 100, 4000) == pytest.approx(1.604e-6)  # fewer weights: nothing
    assert cal.bytes_time("elementwise", "relu", 13_824, 1000, 4000) == 0  # bytes-bound: what its curve measures
    assert cal.bytes_time("conv_1x1", "conv", 13_824, 1000, 4000) == 0  # no curve, no rate for the kind
    # an op with a compute curve of its own takes its own rates: patch_embed's curve has none here, so none
    own = dataclasses.replace(cal, compute={**cal.compute, "patch_embed": cal.compute["conv_dense"]})
    assert own.bytes_time("conv_dense", "patch_embed", 13_824, 1000, 4000) == 0


def test_byte_rates_read_back_what_calibrate_writes() -> None:
    cal = parse_profiles(WEIGHTED, "toy.yaml")["toy"].calibrations[0]
    lines = calibration_yaml(cal, indent="        ")
    assert any(line.strip().startswith("weights: {conv_dense: 1 GB/s}") for line in lines)
    assert any(line.strip().startswith("activations: {conv_dense: 2 GB/s}") for line in lines)
    text = "devices:\n  toy:\n    peak: {fp32: 4 GFLOP/s}\n    bandwidth: 1 GB/s\n    calibrations:\n" + "\n".join(lines)
    again = parse_profiles(text, "again.yaml")["toy"].calibrations[0]
    assert (again.weights, again.activations) == ({"conv_dense": 1e9}, {"conv_dense": 2e9})
    assert again.compute == cal.compute and again.compute["conv_dense"].points[1].activations == 1e5


CONV = "        compute: {conv_dense: [{size: 1 MFLOP, rate: 1 GFLOP/s, weights: 1 kB, activations: 1 kB}]}\n"


@pytest.mark.parametrize(
    ("line", "where", "message"),
    [
        ("weights: {linear: 1 GB/s}", "hw.yaml:10:19", "weights: 'linear' has no compute curve here; the compute curves "
         "are: conv_dense"),
        ("activations: {relu: 1 GB/s}", "hw.yaml:10:23", "activations: 'relu' has no compute curve here"),
        ("weights: {conv_dens: 1 GB/s}", "hw.yaml:10:19", "(did you mean 'conv_dense'?)"),
        ("weights: {conv_dense: fast}", "hw.yaml:10:31", "cannot read 'fast'"),
        ("activations: {conv_dense: 0}", "hw.yaml:10:35", "must be positive"),
        ("weights: [1 GB/s]", "hw.yaml:10:18", "'weights'"),
    ],
)
def test_byte_rate_errors_are_located(line: str, where: str, message: str) -> None:
    from test_latency_model import GOOD

    with pytest.raises(SpecError) as e:
        parse_profiles(_cal(GOOD + f"        {line}\n" + CONV), "hw.yaml")
    assert str(e.value).startswith(where + ":"), str(e.value)
    assert message in str(e.value), str(e.value)


def test_byte_rates_need_the_bytes_of_every_point() -> None:
    from test_latency_model import GOOD

    bare = "        compute: {conv_dense: [{size: 1 MFLOP, rate: 1 GFLOP/s, weights: 1 kB}, {size: 2 MFLOP, rate: 1 GFLOP/s}]}\n"
    with pytest.raises(SpecError) as e:
        parse_profiles(_cal(GOOD + "        weights: {conv_dense: 1 GB/s}\n" + bare), "hw.yaml")
    assert str(e.value).startswith("hw.yaml:10:19: ") and "not every point of its curve gives them" in str(e.value)


def _layer(key: str, flops: float, weight_bytes: float, activation_bytes: float, time_s: float) -> LayerTime:
    return LayerTime(key, True, flops, (time_s,) * 3, f"{key} in a benchmark", None, (), weight_bytes, activation_bytes)


def overhead(lt: LayerTime) -> float:
    return 10e-6


# Dense convs at 100 GFLOP/s, whose weights cost 5 GB/s and activations 2 GB/s, + 10 µs of overhead: three of 100
# MFLOP (1 ms) with (weights, activations) of (1, 2), (9, 2) and (1, 6) MB: 1 + 0.2 + 1 = 2.2 ms, 1 + 1.8 + 1 = 3.8 ms,
# 1 + 0.2 + 3 = 4.2 ms (+ 10 µs); one of 200 MFLOP alone at its size (of 201 MFLOP: a bias's adds, within 1 %), (1, 2)
# MB: 2 + 0.2 + 1 = 3.2 ms.
DENSE = [
    _layer("conv_dense", 1e8, 1e6, 2e6, 2.21e-3),
    _layer("conv_dense", 1e8, 9e6, 2e6, 3.81e-3),
    _layer("conv_dense", 1e8, 1e6, 6e6, 4.21e-3),
    _layer("conv_dense", 2e8, 1e6, 2e6, 3.21e-3),
]


def test_byte_rates_are_fitted_from_equal_flop_layers() -> None:
    weights, activations = byte_rates(DENSE, overhead)
    # among the 100 MFLOP three: +8 MB of weights took +1.6 ms (0.2 ns/B: 5 GB/s), +4 MB of activations +2 ms (0.5 ns/B:
    # 2 GB/s); the 200 MFLOP layer is alone at its size
    assert weights == {"conv_dense": pytest.approx(5e9)} and activations == {"conv_dense": pytest.approx(2e9)}
    # a bias's adds do not split a group: the 200 MFLOP layer's twin of 201 MFLOP with 9 MB of weights is 1.6 ms slower
    twin = _layer("conv_dense", 2.01e8, 9e6, 2e6, 4.81e-3)
    assert byte_rates([DENSE[3], twin], overhead) == ({"conv_dense": pytest.approx(5e9)}, {})
    # a curve whose time falls as its weights grow pays nothing for them: 1×1 convs of 100 MFLOP, 4 MB more, 1 ms less
    falling = [_layer("conv_1x1", 1e8, 1e6, 2e6, 2e-3), _layer("conv_1x1", 1e8, 4e6, 2e6, 1e-3)]
    assert byte_rates(falling, overhead) == ({}, {})
    # where both slopes cannot be positive, the one that is alone: (weights, activations, time less the overhead) of
    # (1, 2, 2), (4, 4, 2) and (1, 4, 3) (MB, ms); centred: w = (−1, 2, −1), a = (−4/3, 2/3, 2/3), t = (−1/3, −1/3, 2/3)
    one = [_layer("conv_1x1", 1e8, 1e6, 2e6, 2.01e-3), _layer("conv_1x1", 1e8, 4e6, 4e6, 2.01e-3),
           _layer("conv_1x1", 1e8, 1e6, 4e6, 3.01e-3)]
    # both: Σww = 6, Σaa = 24/9, Σwa = 2, Σwt = −1, Σat = 6/9; det = 6·24/9 − 4 = 12; the weights' slope (Σwt·Σaa −
    # Σat·Σwa) / det = (−24/9 − 12/9) / 12 = −1/3 ms/MB: refused; weights alone: Σwt / Σww = −1/6: refused;
    # activations alone: Σat / Σaa = (6/9) / (24/9) = 0.25 ms/MB: 4 GB/s
    assert byte_rates(one, overhead) == ({}, {"conv_1x1": pytest.approx(4e9)})


def test_compute_rates_are_those_of_the_points_fewest_bytes() -> None:
    weights, activations = {"conv_dense": 5e9}, {"conv_dense": 2e9}
    curves = curves_of(DENSE, lambda after: 10e-6, compute=True, weights=weights, activations=activations)
    small, large = curves["conv_dense"].points
    # the 100 MFLOP point's layers hold at least 1 MB of weights and 2 MB of activations; each layer's time brought down
    # to those at 0.2 ms/MB and 0.5 ms/MB: 2.21, 3.81 − 8·0.2, 4.21 − 4·0.5: 2.21 ms each (1 ms of FLOPs + 1 MB at
    # 5 GB/s + 2 MB at 2 GB/s + 10 µs); net of the overhead, 100 MFLOP / 2.2 ms
    assert (small.size, small.rate) == (1e8, pytest.approx(1e8 / 2.2e-3))
    assert (small.weights, small.activations) == (1e6, 2e6)
    # the 200 MFLOP point is its one layer: its own bytes, 200 MFLOP / (3.21 − 0.01) ms
    assert (large.size, large.rate, large.weights, large.activations) == (2e8, pytest.approx(2e8 / 3.2e-3), 1e6, 2e6)
    # without byte rates: each layer at its measured time, the three merged as the geometric mean of their rates
    (plain, _) = curves_of(DENSE, lambda after: 10e-6, compute=True)["conv_dense"].points
    assert plain.rate == pytest.approx((1e8 / 2.2e-3 * 1e8 / 3.8e-3 * 1e8 / 4.2e-3) ** (1 / 3))
    assert (plain.weights, plain.activations) == (None, None)
    # and the prediction gives back each layer's measured time: e.g. the second, 2.2 ms at the point's rate + 8 MB of
    # weights beyond the point's at 5 GB/s + 10 µs = 3.81 ms
    cal = Calibration("cpu", 1, "fp32", False, 10e-6, curves, {}, weights=weights, activations=activations)
    for lt in DENSE:
        span, own = predicted_span("conv_dense", "conv", int(lt.work), 0, Fit(cal), 1e12, 1e12,
                                   weight_nbytes=int(lt.weight_bytes), activation_nbytes=int(lt.activation_bytes))
        assert own and span.ideal_s == pytest.approx(lt.median_s)


def test_a_probe_factor_within_its_spread_is_not_applied() -> None:
    calibrated, now = ProbeTimes(1e-3, 1e-3, 1e-3), ProbeTimes(1.2e-3, 1.05e-3, 1e-3)
    spread = ProbeTimes(0.1, 0.1, 0.0)
    gated = Speed(calibrated, now, spread)
    # compute: 1/1.2 = ×0.833, |ln 0.833| = 0.182 beyond ln 1.1 = 0.095: applied
    assert gated.compute == pytest.approx(1 / 1.2)
    # memory: 1/1.05 = ×0.952, |ln| = 0.049 within ln 1.1: not applied
    assert gated.memory == 1.0
    assert gated.overhead == 1.0
    assert "×1.00 where its ratio was within the probe's own spread" in gated.text
    plain = Speed(calibrated, now)  # no spread measured: every ratio applies
    assert plain.memory == pytest.approx(1 / 1.05) and "spread" not in plain.text
    # a zero spread applies any ratio but 1
    assert Speed(calibrated, now, ProbeTimes(0.0, 0.0, 0.0)).memory == pytest.approx(1 / 1.05)


def test_probe_spread_is_the_interquartile_range_of_each_class_per_round() -> None:
    graph = graph_of("input: [3, 8, 8]\nlayers: [{conv: {out: 4, kernel: 3}}, relu, flatten]\n")
    ms = 1e-3
    times = [[[1 * ms, 2 * ms, 3 * ms, 4 * ms, 5 * ms], [1 * ms] * 5, [0.0] * 5]]
    spread = probe_spread([graph], times)
    # compute (the conv) over the rounds: 1..5 ms: quartiles 2 and 4 ms around a median of 3 ms: 2/3; memory (the relu)
    # the same every round: 0; overhead (the flatten) 0 s every round: no spread to speak of, 0
    assert spread == ProbeTimes(pytest.approx(2 / 3), 0.0, 0.0)
    # the class sums are per round: a second benchmark's conv adds 5..1 ms to the same rounds: 6 ms each, no spread
    times2 = [*times, [[5 * ms, 4 * ms, 3 * ms, 2 * ms, 1 * ms], [1 * ms] * 5, [0.0] * 5]]
    assert probe_spread([graph, graph], times2).compute_s == pytest.approx(0.0)
    assert probe_spread([graph], [[[ms], [ms], [0.0]]]) is None  # one round: no spread


def test_a_curve_without_byte_rates_prices_no_bytes() -> None:
    cal = Calibration("cpu", 1, "fp32", False, 0.0, {"conv_dense": Curve((Point(1e6, 1e9),))}, {})
    span, _ = predicted_span("conv_dense", "conv", 10**6, 0, Fit(cal), 1e12, 1e12, weight_nbytes=10**9,
                             activation_nbytes=10**9)
    assert span.ideal_s == pytest.approx(1e-3)  # 1 MFLOP at 1 GFLOP/s; the GBs cost nothing without rates


def test_points_merge_the_layers_within_one_percent_of_a_size() -> None:
    # two linears of 100 and 100.5 MFLOP (a bias's adds apart) at 1 ms each, and one of 102 MFLOP, 2 % further
    layers = [LayerTime("linear", True, w, (1e-3,) * 3, "linear in a benchmark") for w in (1e8, 1.005e8, 1.02e8)]
    merged, alone = curves_of(layers, lambda after: 0.0, compute=True)["linear"].points
    # one point at their mean size, 100.25 MFLOP, at the geometric mean of 100 and 100.5 GFLOP/s
    assert merged.size == pytest.approx(1.0025e8) and merged.rate == pytest.approx((1e11 * 1.005e11) ** 0.5)
    assert alone.size == pytest.approx(1.02e8)


def test_the_roofline_says_what_bytes_it_charges(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from convcost.cli import app

    (tmp_path / "toy.yaml").write_text(WEIGHTED)
    (tmp_path / "net.yaml").write_text(NET)
    args = ["roofline", str(tmp_path / "net.yaml"), "--hw-file", str(tmp_path / "toy.yaml")]
    table = CliRunner().invoke(app, args, terminal_width=250)
    assert table.exit_code == 0, table.output
    words = " ".join(table.stdout.split())  # the header is wrapped
    assert "+ weight and activation bytes beyond the calibrated layers' (convs, linears) + 10 µs overhead" in words
    doc = CliRunner().invoke(app, [*args, "-f", "json"])
    # the conv as derived in test_a_conv_pays_for_the_bytes_beyond_its_curves_layers
    assert json.loads(doc.stdout)["models"][0]["layers"][0]["ideal_s"] == pytest.approx(24.524e-6)
    (tmp_path / "plain.yaml").write_text(TOY)  # no byte rates: the header says nothing of bytes
    plain = CliRunner().invoke(app, [*args[:3], str(tmp_path / "plain.yaml")], terminal_width=250)
    assert plain.exit_code == 0 and "bytes beyond" not in plain.stdout
