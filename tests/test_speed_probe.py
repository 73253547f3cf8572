"""The speed probe: a calibration keeps what three of its benchmarks took, by class of work; `profile` times them again
beside each model and predicts at the speed measured (costmodel/roofline.Speed)."""

from __future__ import annotations

import pytest
from conftest import graph_of
from test_latency_model import NET, TOY
from typer.testing import CliRunner

from convcost.costmodel.analysis import analyze
from convcost.costmodel.calibration import ProbeTimes, calibration_yaml
from convcost.costmodel.memory import analyze_memory
from convcost.costmodel.roofline import parse_profiles, roofline
from convcost.errors import SpecError

runner = CliRunner()

# TOY's calibration with a probe: its layers took 2 ms of compute kinds, 1 ms of memory kinds and 20 µs of views
PROBED = TOY.replace(
    "        overhead: 10 us\n",
    "        overhead: 10 us\n        probe:\n          benches: [\"conv 3×3 on 64×56×56, bn, relu\"]\n"
    "          compute: 2 ms\n          memory: 1 ms\n          overhead: 20 us\n",
)


def probed_roofline(probe: ProbeTimes | None, text: str = PROBED):  # type: ignore[no-untyped-def]
    profile = parse_profiles(text, "toy.yaml")["toy"]
    return roofline(analyze_memory(analyze(graph_of(NET)), "fp32"), profile, probe=probe)


def test_the_probe_brings_each_class_to_the_speed_measured() -> None:
    # now: compute 4 ms (half the calibration's speed), memory 0.5 ms (twice), views 40 µs (half)
    roof = probed_roofline(ProbeTimes(4e-3, 0.5e-3, 40e-6))
    speed = roof.fit.speed
    assert speed is not None and (speed.compute, speed.memory, speed.overhead) == (0.5, 2.0, 0.5)
    conv, relu, gelu, flatten, linear = roof.layers
    # conv: 13,824 FLOPs at 1 GFLOP/s × 0.5 = 27.648 µs; its 2,224 B at 1 GB/s × 2 = 1.112 µs; + 10 µs / 0.5 = 20 µs
    assert conv.compute_s == pytest.approx(27.648e-6) and conv.memory_s == pytest.approx(1.112e-6)
    assert conv.ideal_s == pytest.approx(47.648e-6)
    # relu: 2,048 B at 1 GB/s × 2 = 1.024 µs + 20 µs; gelu: its own 0.5 GB/s × 2: 2.048 µs + 20 µs
    assert relu.ideal_s == pytest.approx(21.024e-6) and gelu.ideal_s == pytest.approx(22.048e-6)
    assert flatten.ideal_s == pytest.approx(20e-6)  # a view: the overhead alone
    # linear, no curve: the nominal 4 GFLOP/s × 0.5: 1,024 FLOPs in 0.512 µs; its 3,080 B at the elementwise
    # 1 GB/s × 2: 1.54 µs, memory-bound; + 20 µs
    assert linear.compute_s == pytest.approx(0.512e-6) and linear.ideal_s == pytest.approx(21.54e-6)
    assert "×0.50 the calibration's compute speed, ×2.00 its memory speed, ×0.50 its per-op speed" in speed.text


def test_no_probe_or_no_probe_in_the_calibration_keeps_the_calibrations_speed() -> None:
    plain = probed_roofline(None)
    assert plain.fit.speed is None
    assert plain.layers[0].ideal_s == pytest.approx(23.824e-6)  # test_latency_model's figure: 13.824 + 10 µs
    # a calibration written before the probe: times from a run are ignored (nothing to compare them with)
    old = probed_roofline(ProbeTimes(4e-3, 0.5e-3, 40e-6), TOY)
    assert old.fit.speed is None and old.layers[0].ideal_s == pytest.approx(23.824e-6)
    # a class the probe timed at 0 keeps its speed
    zero = probed_roofline(ProbeTimes(4e-3, 0.0, 40e-6))
    assert zero.fit.speed is not None and zero.fit.speed.memory == 1.0 and zero.fit.speed.compute == 0.5


def test_the_probe_reads_back_what_it_writes() -> None:
    cal = parse_profiles(PROBED, "toy.yaml")["toy"].calibrations[0]
    assert cal.probe is not None and cal.probe.times == ProbeTimes(2e-3, 1e-3, 20e-6)
    text = ("devices:\n  toy:\n    peak: {fp32: 4 GFLOP/s}\n    bandwidth: 1 GB/s\n    calibrations:\n"
            + "\n".join(calibration_yaml(cal, indent="        ")))
    again = parse_profiles(text, "again.yaml")["toy"].calibrations[0]
    assert again.probe == cal.probe and again.probe.benches == ("conv 3×3 on 64×56×56, bn, relu",)


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        ("          memory: 1 ms\n", "", "toy.yaml:13:11", "probe needs 'memory'"),
        ("benches: [\"conv 3×3 on 64×56×56, bn, relu\"]", "benches: []", "toy.yaml:13:20", "benches is empty"),
        ("compute: 2 ms", "compute: fast", "toy.yaml:14:20", "cannot read 'fast'"),
        ("compute: 2 ms", "compute: 2 ms\n          speed: 3", "toy.yaml:15:11", "unknown key 'speed'"),
    ],
)
def test_probe_errors_are_located(old: str, new: str, where: str, message: str) -> None:
    with pytest.raises(SpecError) as e:
        parse_profiles(PROBED.replace(old, new), "toy.yaml")
    assert str(e.value).startswith(where + ":") and message in str(e.value), str(e.value)
