"""Convert a device profile written before attention's score passes were modelled (costmodel/kinds.py score_passes):
its attention points' rates made net of the score part, as `convcost calibrate` now derives them, so that a saved
measurement can be predicted again offline with the current model (bench_latency.py --measurements ... --device OUT).

    python benchmarks/attention_net_of_scores.py d4.yaml d4_net.yaml

Each attention point's rate was FLOPs / (time − overhead); now it is FLOPs / (time − overhead − score time), the
score time of its benchmark's attention layer (crosscheck/calibrate.py token_benches, found by the point's `layer`
text) at the file's own memory curves (Calibration.score_time). Only the calibration's compute attention curve
changes. No torch, seconds.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from convcost.costmodel.analysis import analyze  # noqa: E402
from convcost.costmodel.calibration import Calibration, Curve, calibration_yaml  # noqa: E402
from convcost.costmodel.kinds import layer_kind, score_passes  # noqa: E402
from convcost.costmodel.memory import analyze_memory, dtype_bytes  # noqa: E402
from convcost.costmodel.roofline import load_profiles  # noqa: E402
from convcost.crosscheck.calibrate import MIN_NET_SHARE, _graph, token_benches  # noqa: E402


def bench_scores(what: str, dtype: str) -> tuple[tuple[str, int], ...]:
    """The score passes of the attention layer of the benchmark described as ``what``."""
    for bench in token_benches():
        if bench.what == what:
            mem = analyze_memory(analyze(_graph(bench.spec(), what)), dtype)
            passes = [score_passes(lt.node, 1, dtype_bytes(dtype)) for lt in mem.layers if layer_kind(lt.node) == "attention"]
            return passes[0]
    raise SystemExit(f"no calibration benchmark '{what}'")


def net_of_scores(cal: Calibration) -> Calibration:
    curve = cal.compute.get("attention")
    if curve is None:
        return cal
    points = []
    for p in curve.points:
        what = p.layer.split("; ")[0].removeprefix("attention in ")
        score_s = cal.score_time(bench_scores(what, cal.dtype))
        net_s = p.size / p.rate  # the time the rate was measured over: time − overhead
        time_s = p.time_s if p.time_s is not None else net_s
        rate = p.size / max(net_s - score_s, MIN_NET_SHARE * time_s)
        print(f"  {p.layer}: {p.rate / 1e9:.2f} → {rate / 1e9:.2f} GFLOP/s (score passes {score_s * 1e6:.1f} us of "
              f"{time_s * 1e6:.1f} us)")
        points.append(replace(p, rate=rate))
    return replace(cal, compute={**cal.compute, "attention": Curve(tuple(points))})


def main() -> None:
    src, dst = sys.argv[1:3]
    (device,) = load_profiles(src).values()
    text = Path(src).read_text()
    head = text[: text.index("    calibrations:")]
    lines = [head.rstrip("\n"), "    calibrations:"]
    for cal in device.calibrations:
        lines += calibration_yaml(net_of_scores(cal))
    Path(dst).write_text("\n".join(lines) + "\n")
    print(f"wrote {dst}")


if __name__ == "__main__":
    main()
