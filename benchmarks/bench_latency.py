"""How well a calibrated device profile predicts latency on this machine (issue 24's measurement).

Runs, as a user would, `convcost calibrate` and then `convcost profile --accuracy` over the configs, with
the same thread count and clock, and prints each model's predicted and measured time, the per-layer errors,
and the targets: every whole-model prediction within ±25 % of the measured median, and the per-layer median
|error| ≤ 30 %. The load average (`uptime`) is printed before and after each step: on a shared machine the
speed drifts with the load, so calibrate and measure in the same conditions: `--group N` calibrates again
before every N spec files (each group measured against the calibration just before it), and `--rounds R`
repeats the whole run.

    python benchmarks/bench_latency.py [--threads 1] [--clock cpu] [--group 3] [--configs configs/*.yaml]

Not a test: timings depend on the machine and its load. Figures go in the closing note of the change.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from convcost.crosscheck.accuracy import percentile  # noqa: E402  (no torch)

WHOLE_TARGET_PCT = 25.0
LAYER_TARGET_PCT = 30.0


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def convcost(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "convcost", *args], capture_output=True, text=True, cwd=ROOT)


def measure_group(specs: list[str], args: argparse.Namespace, device_file: str) -> dict[str, Any]:
    common = (["--threads", str(args.threads)] if args.threads else []) + ["--clock", args.clock, "--no-progress"]
    print(f"  calibrate: load before {load()}", flush=True)
    t0 = time.time()
    cal = convcost(["calibrate", *common, "-o", device_file, *(["--quick"] if args.quick else [])])
    if cal.returncode != 0:
        sys.exit(f"calibrate failed ({cal.returncode}):\n{cal.stderr}")
    print(f"    {time.time() - t0:.0f} s; load after {load()}", flush=True)
    t0 = time.time()
    timing = ["--quick"] if args.quick else ["--min-time", str(args.min_time), "--repeats", str(args.repeats)]
    prof = convcost(["profile", *specs, "--accuracy", "--hw-file", device_file, *common, *timing, "-f", "json"])
    if prof.returncode != 0:
        sys.exit(f"profile --accuracy failed ({prof.returncode}):\n{prof.stderr}")
    names = ", ".join(Path(s).stem for s in specs)
    print(f"  profile --accuracy {names}: {time.time() - t0:.0f} s; load after {load()}", flush=True)
    return json.loads(prof.stdout)


def stats(errors: list[float]) -> str:
    absolute = [abs(e) for e in errors]
    return (f"n={len(errors)}, median |error| {statistics.median(absolute):.1f} %, p90 {percentile(absolute, 90):.1f} %, "
            f"bias {statistics.median(errors):+.1f} %, worst {max(errors, key=abs):+.1f} %")


def report(models: list[dict[str, Any]]) -> bool:
    print(f"  {'model':<26} {'predicted':>11} {'measured':>11} {'spread':>7} {'error':>8}  layers |err| median")
    layer_errors: list[float] = []
    by_kind: dict[str, list[float]] = {}
    ok = True
    for m in models:
        whole = m["model"]
        pred, meas, err = whole["roofline"]["ideal_s"], whole["measured"]["median_s"], whole["error_pct"]
        errs = [x["error_pct"] for x in m["layers"] if x.get("error_pct") is not None]
        layer_errors += errs
        for x in m["layers"]:
            if x.get("error_pct") is not None:
                by_kind.setdefault(x["kind"], []).append(x["error_pct"])
        inside = abs(err) <= WHOLE_TARGET_PCT
        ok &= inside
        print(
            f"  {m['name']:<26} {pred * 1e3:>9.2f}ms {meas * 1e3:>9.2f}ms {whole['measured']['spread_pct']:>6.0f}% "
            f"{err:>+7.1f}%  {statistics.median(abs(e) for e in errs):5.1f} %{'' if inside else '  <-- outside ±25 %'}"
        )
    print(f"  whole models: {stats([m['model']['error_pct'] for m in models])}")
    print(f"  layers: {stats(layer_errors)}")
    print("  layers by kind:")
    for kind, errs in sorted(by_kind.items(), key=lambda kv: -len(kv[1])):
        print(f"    {kind:<21} {stats(errs)}")
    layer_median = statistics.median(abs(e) for e in layer_errors)
    layer_ok = layer_median <= LAYER_TARGET_PCT
    inside = sum(abs(m["model"]["error_pct"]) <= WHOLE_TARGET_PCT for m in models)
    print(f"  target: every model within ±{WHOLE_TARGET_PCT:g} %: {inside} of {len(models)}; per-layer median |error| "
          f"{layer_median:.1f} % ≤ {LAYER_TARGET_PCT:g} %: {'yes' if layer_ok else 'NO'}")
    return inside == len(models) and layer_ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for calibrate and profile (default torch's)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="--clock of calibrate and profile")
    parser.add_argument("--group", type=int, default=0, help="calibrate again before every N spec files (0: once)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the whole run this many times")
    parser.add_argument("--configs", nargs="+", default=sorted(glob.glob(str(ROOT / "configs" / "*.yaml"))))
    parser.add_argument("--min-time", type=float, default=0.05, help="profile --min-time (per model, block, layer pass)")
    parser.add_argument("--repeats", type=int, default=5, help="profile --repeats")
    parser.add_argument("--quick", action="store_true", help="smoke test of this script (numbers meaningless)")
    parser.add_argument("--keep", help="write the last device profile here")
    parser.add_argument("--save-json", help="write the models of the last round (profile's JSON) here")
    args = parser.parse_args()
    size = args.group or len(args.configs)
    groups = [args.configs[k:k + size] for k in range(0, len(args.configs), size)]
    print(f"convcost latency benchmark: {len(args.configs)} spec files in {len(groups)} group(s), threads "
          f"{args.threads or 'default'}, {args.clock} clock, {os.cpu_count()} CPUs; load {load()}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        device_file = str(Path(tmp) / "device.yaml")
        for r in range(1, args.rounds + 1):
            print(f"round {r}:")
            models = [m for g in groups for m in measure_group(g, args, device_file)["models"]]
            results.append(report(models))
            if args.save_json:
                Path(args.save_json).write_text(json.dumps(models))
        if args.keep:
            Path(args.keep).write_text(Path(device_file).read_text())
    print(f"rounds meeting both targets: {sum(results)} of {len(results)}")


if __name__ == "__main__":
    main()
