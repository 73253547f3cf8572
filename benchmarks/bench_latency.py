"""How well a calibrated device profile predicts latency on this machine (issue 24's measurement).

Runs, as a user would, `convcost calibrate` and then `convcost profile --accuracy` over the configs, with
the same thread count, and prints each model's predicted and measured time, the per-layer errors, and the
targets: every whole-model prediction within ±25 % of the measured median, and the per-layer median
|error| ≤ 30 %. The load average (`uptime`) is printed before and after each step: on a shared machine,
calibrate and measure in the same conditions; with --rounds N the calibration and the measurement
alternate N times (each measurement against the calibration just before it) and every round is reported.

    python benchmarks/bench_latency.py [--threads 1] [--rounds 1] [--configs configs/*.yaml] [--quick]

Not a test: timings depend on the machine and its load. Figures go in the closing note of the change.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WHOLE_TARGET_PCT = 25.0
LAYER_TARGET_PCT = 30.0


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def convcost(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "convcost", *args], capture_output=True, text=True, cwd=ROOT)


def run_round(k: int, args: argparse.Namespace, device_file: str) -> dict[str, object]:
    threads = ["--threads", str(args.threads)] if args.threads else []
    threads += ["--clock", args.clock]
    print(f"round {k}: load before calibrate {load()}", flush=True)
    t0 = time.time()
    cal = convcost(["calibrate", *threads, "--no-progress", "-o", device_file, *(["--quick"] if args.quick else [])])
    if cal.returncode != 0:
        sys.exit(f"calibrate failed ({cal.returncode}):\n{cal.stderr}")
    print(f"  calibrate: {time.time() - t0:.0f} s; load after {load()}", flush=True)
    t0 = time.time()
    timing = ["--quick"] if args.quick else ["--min-time", str(args.min_time), "--repeats", str(args.repeats)]
    prof = convcost(
        ["profile", *args.configs, "--accuracy", "--hw-file", device_file, *threads, *timing, "--no-progress", "-f", "json"]
    )
    if prof.returncode != 0:
        sys.exit(f"profile --accuracy failed ({prof.returncode}):\n{prof.stderr}")
    print(f"  profile --accuracy: {time.time() - t0:.0f} s; load after {load()}", flush=True)
    return json.loads(prof.stdout)


def report(doc: dict[str, object]) -> bool:
    models = doc["models"]
    assert isinstance(models, list)
    print(f"  {'model':<28} {'predicted':>10} {'measured':>10} {'spread':>7} {'error':>8}  layers |err| median")
    ok = True
    for m in models:
        whole = m["model"]
        pred, meas = whole["roofline"]["ideal_s"], whole["measured"]["median_s"]
        err = whole["error_pct"]
        errs = sorted(abs(x["error_pct"]) for x in m["layers"] if x.get("error_pct") is not None)
        med = errs[len(errs) // 2] if len(errs) % 2 else (errs[len(errs) // 2 - 1] + errs[len(errs) // 2]) / 2
        flag = "" if abs(err) <= WHOLE_TARGET_PCT else "  <-- outside ±25 %"
        ok &= abs(err) <= WHOLE_TARGET_PCT
        print(
            f"  {m['name']:<28} {pred * 1e3:>8.2f}ms {meas * 1e3:>8.2f}ms {whole['measured']['spread_pct']:>6.0f}% "
            f"{err:>+7.1f}%  {med:5.1f} %{flag}"
        )
    acc = doc["accuracy"]
    assert isinstance(acc, dict)
    for what in ("models", "blocks", "layers"):
        s = acc[what]
        if s:
            print(
                f"  {what}: n={s['count']}, median |error| {s['median_abs_pct']:.1f} %, p90 {s['p90_abs_pct']:.1f} %, "
                f"bias {s['median_pct']:+.1f} %, worst {s['worst_pct']:+.1f} % ({s['worst']})"
            )
    print("  layer errors by kind:")
    for k in acc["kinds"]:
        print(
            f"    {k['kind']:<15} n={k['count']:<4} {k['predicted_share_pct']:5.1f} % of predicted time, "
            f"median error {k['median_pct']:+6.1f} %, median |error| {k['median_abs_pct']:5.1f} %, p90 {k['p90_abs_pct']:6.1f} %"
        )
    layer_ok = acc["layers"]["median_abs_pct"] <= LAYER_TARGET_PCT
    print(
        f"  target: every model within ±{WHOLE_TARGET_PCT:g} %: {'yes' if ok else 'NO'}; per-layer median |error| "
        f"{acc['layers']['median_abs_pct']:.1f} % ≤ {LAYER_TARGET_PCT:g} %: {'yes' if layer_ok else 'NO'}"
    )
    return ok and layer_ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for calibrate and profile (default torch's)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="--clock of calibrate and profile")
    parser.add_argument("--rounds", type=int, default=1, help="calibrate + measure this many times, alternating")
    parser.add_argument("--configs", nargs="+", default=sorted(glob.glob(str(ROOT / "configs" / "*.yaml"))))
    parser.add_argument("--min-time", type=float, default=0.05, help="profile --min-time (per model, block, layer)")
    parser.add_argument("--repeats", type=int, default=5, help="profile --repeats")
    parser.add_argument("--quick", action="store_true", help="smoke test of this script (numbers meaningless)")
    parser.add_argument("--keep", help="write the last device profile here")
    args = parser.parse_args()
    print(f"convcost latency benchmark: {len(args.configs)} spec files, threads {args.threads or 'default'}, {args.clock} clock, "
          f"{os.cpu_count()} CPUs; load {load()}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        device_file = str(Path(tmp) / "device.yaml")
        for k in range(1, args.rounds + 1):
            doc = run_round(k, args, device_file)
            results.append(report(doc))
        if args.keep:
            Path(args.keep).write_text(Path(device_file).read_text())
    print(f"rounds meeting both targets: {sum(results)} of {len(results)}")


if __name__ == "__main__":
    main()
