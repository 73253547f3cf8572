"""How well a calibrated device profile predicts latency on this machine (issue 24's measurement).

Runs, as a user would, `convcost calibrate` and then `convcost profile --accuracy` over the configs, with
the same thread count and clock, and prints each model's predicted and measured time, the per-layer errors,
and the two figures of issue 24's done-when: the worst whole-model |error| (target: every model within ±25 %
of its measured median) and the per-layer median |error| (target ≤ 30 %). Exit status 0 when every round meets
both targets, 1 otherwise.

The load average (`uptime`) is printed before and after each step, and a warning when the machine is not
quiet: on a shared machine the speed drifts with the load, so calibrate and measure in the same conditions:
`--group N` calibrates again before every N spec files (each group measured against the calibration just
before it), and `--rounds R` repeats the whole run.

    python benchmarks/bench_latency.py                   # the done-when: every configs/*.yaml (~15-25 min quiet)
    python benchmarks/bench_latency.py --subset          # 7 configs, one of each family, full timings (~5 min)
    python benchmarks/bench_latency.py --quick           # smoke test: 3 small configs, --quick timings (~2 min)
    python benchmarks/bench_latency.py [--threads 1] [--clock cpu] [--group 3] [--configs configs/a.yaml ...]

Measure once, then iterate on the model offline (seconds, no torch): `--save-measurements M.json --keep device.yaml`
keep the measured times and the calibration; `--measurements M.json --device device.yaml` predicts every model and
layer again from that calibration with the current model (convcost's analytic path) and reports the same figures:

    python benchmarks/bench_latency.py --threads 1 --clock cpu --save-measurements m.json --keep device.yaml
    python benchmarks/bench_latency.py --measurements m.json --device device.yaml --threads 1

Each round also prints the calibration's *level*: the run's layers of exactly a calibration point's op and size,
measured against that point's time (median; 1.00 when the calibration ran at the models' speed).

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
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from convcost.crosscheck.accuracy import percentile  # noqa: E402  (no torch)

WHOLE_TARGET_PCT = 25.0
LAYER_TARGET_PCT = 30.0
# --subset: one config of each family the latency model must get right (dense/bottleneck convs, depthwise,
# grouped, branches with pooling, attention, the general tensor ops); --quick: small ones only
SUBSET = ("resnet18", "resnet_bottleneck", "mobilenet_v2", "grouped_conv", "inception_a", "conv_vs_attention",
          "general_ops")
QUICK = ("resnet_bottleneck", "depthwise_separable", "general_ops")


class Figures(NamedTuple):
    """One round's figures against the done-when."""

    models: int
    inside: int  # whole models within ±WHOLE_TARGET_PCT
    worst_pct: float  # the largest whole-model |error|
    layers: int
    layer_median_pct: float  # median per-layer |error|

    @property
    def ok(self) -> bool:
        return self.inside == self.models and self.layer_median_pct <= LAYER_TARGET_PCT


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
    chain = ["--chain"] if args.chain else []
    cal = convcost(["calibrate", *common, *chain, "-o", device_file, *(["--quick"] if args.quick else [])])
    if cal.returncode != 0:
        sys.exit(f"calibrate failed ({cal.returncode}):\n{cal.stderr}")
    print(f"    {time.time() - t0:.0f} s; load after {load()}", flush=True)
    t0 = time.time()
    timing = ["--quick"] if args.quick else ["--min-time", str(args.min_time), "--repeats", str(args.repeats)]
    memory = ["--max-memory", args.max_memory] if args.max_memory else []
    probe = [] if args.probe else ["--no-probe"]
    prof = convcost(["profile", *specs, "--accuracy", "--hw-file", device_file, *common, *timing, *memory, *probe,
                     "-f", "json"])
    if prof.returncode != 0:
        sys.exit(f"profile --accuracy failed ({prof.returncode}):\n{prof.stderr}")
    names = ", ".join(Path(s).stem for s in specs)
    print(f"  profile --accuracy {names}: {time.time() - t0:.0f} s; load after {load()}", flush=True)
    return json.loads(prof.stdout)


def stats(errors: list[float]) -> str:
    absolute = [abs(e) for e in errors]
    return (f"n={len(errors)}, median |error| {statistics.median(absolute):.1f} %, p90 {percentile(absolute, 90):.1f} %, "
            f"bias {statistics.median(errors):+.1f} %, worst {max(errors, key=abs):+.1f} %")


def report(models: list[dict[str, Any]]) -> Figures:
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
            f"  {m['name']:<26} {pred * 1e3:>9.2f}ms {meas * 1e3:>9.2f}ms {whole['measured'].get('spread_pct') or 0:>6.0f}% "
            f"{err:>+7.1f}%  {statistics.median(abs(e) for e in errs) if errs else float('nan'):5.1f} %"
            f"{'' if inside else '  <-- outside ±25 %'}"
        )
    print(f"  whole models: {stats([m['model']['error_pct'] for m in models])}")
    print(f"  layers: {stats(layer_errors)}")
    print("  layers by kind:")
    for kind, errs in sorted(by_kind.items(), key=lambda kv: -len(kv[1])):
        print(f"    {kind:<21} {stats(errs)}")
    figures = figures_of(models)
    print(f"  target: every model within ±{WHOLE_TARGET_PCT:g} %: {figures.inside} of {figures.models}; per-layer median "
          f"|error| {figures.layer_median_pct:.1f} % ≤ {LAYER_TARGET_PCT:g} %: "
          f"{'yes' if figures.layer_median_pct <= LAYER_TARGET_PCT else 'NO'}")
    return figures


def figures_of(models: list[dict[str, Any]]) -> Figures:
    """The done-when's figures from profile --accuracy's JSON models (each whole model's error_pct, each layer's)."""
    whole = [abs(m["model"]["error_pct"]) for m in models]
    layers = [abs(x["error_pct"]) for m in models for x in m["layers"] if x.get("error_pct") is not None]
    return Figures(
        models=len(whole),
        inside=sum(e <= WHOLE_TARGET_PCT for e in whole),
        worst_pct=max(whole, default=float("nan")),
        layers=len(layers),
        layer_median_pct=statistics.median(layers) if layers else float("nan"),
    )


def level_of(models: list[dict[str, Any]], cal: Any) -> Any:
    """The calibration's level against the run (crosscheck/accuracy.calibration_level) from profile's JSON models:
    the layers of exactly a calibration point's op and size, measured / calibrated time (1.00: calibrated at the
    run's speed). A check of the calibration, not part of any prediction."""
    from convcost.crosscheck.accuracy import calibration_level

    return calibration_level(
        ((x["kind"], x["op"], x["flops"], x["bytes"], (x.get("measured") or {}).get("median_s") or 0.0)
         for m in models for x in m["layers"]), cal)


def levels_by_kind(models: list[dict[str, Any]], cal: Any) -> dict[str, Any]:
    """The level of each kind apart (level_of over that kind's layers), kinds with a matched layer only, the most
    matched first. Where a calibration and a run differ, this says how: every kind alike (a slower or faster machine),
    or only the memory-bound kinds while compute-bound dense convs agree (the memory system, not the CPU, changed)."""
    kinds = dict.fromkeys(x["kind"] for m in models for x in m["layers"])
    levels = {k: level_of([{"layers": [x for m in models for x in m["layers"] if x["kind"] == k]}], cal) for k in kinds}
    return dict(sorted(((k, v) for k, v in levels.items() if v.layers), key=lambda kv: -kv[1].layers))


def calibration_of(device_file: str, models: list[dict[str, Any]], threads: int | None) -> Any:
    from convcost.costmodel.roofline import fit_profile, resolve_profile

    dtype = models[0]["memory"]["dtype"] if models else "fp32"
    return fit_profile(resolve_profile(None, device_file), dtype, threads).calibration


def print_level(models: list[dict[str, Any]], device_file: str, threads: int | None) -> None:
    if "{group}" in device_file:  # each group against its own calibration
        groups = sorted({m.get("calibration_group", 1) for m in models})
        for k in groups:
            print(f"  group {k}:")
            print_level([m for m in models if m.get("calibration_group", 1) == k], device_file.replace("{group}", str(k)),
                        threads)
        return
    cal = calibration_of(device_file, models, threads)
    if cal is None:
        return
    level = level_of(models, cal)
    ratio = "–" if level.ratio is None else f"×{level.ratio:.2f}"
    print(f"  calibration level: {level.layers} layers of the same op and size as a calibration point measured "
          f"{ratio} its time (median; 1.00: calibrated at this run's speed, above 1: the calibration ran "
          "faster than the models, and every prediction is that much too fast)")
    kinds = levels_by_kind(models, cal)
    if kinds:
        print("    by kind: " + ", ".join(f"{k} ×{v.ratio:.2f} ({v.layers})" for k, v in kinds.items()))


def repredict(models: list[dict[str, Any]], device_file: str, threads: int | None, probe: bool = True) -> list[dict[str, Any]]:
    """``models`` (profile's JSON, as saved) with every prediction of the whole model and of each layer made again
    from ``device_file`` by the current latency model: the analytic path alone (no torch), seconds for all configs.
    ``probe``: at the speed the speed probe measured beside each model (where it ran and the calibration holds one),
    else at the calibration's. ``device_file`` may hold '{group}': each model's calibration group (--group, --keep)."""
    from convcost.commands.profile import load_many
    from convcost.costmodel.calibration import ProbeTimes
    from convcost.costmodel.roofline import resolve_profile
    from convcost.crosscheck.profiling import analytic_profile

    out = []
    for m in models:
        hw = resolve_profile(None, device_file.replace("{group}", str(m.get("calibration_group", 1))))
        (graph,) = load_many([m["file"]], [m["name"]], m["batch"])
        saved = m.get("speed_probe") or {}
        now, spread = (saved.get("now"), saved.get("spread")) if probe else (None, None)
        times = ProbeTimes(now["compute_s"], now["memory_s"], now["overhead_s"]) if now else None
        spreads = ProbeTimes(spread["compute_s"], spread["memory_s"], spread["overhead_s"]) if spread else None
        prof = analytic_profile(graph, m["memory"]["dtype"], hw, threads=threads, probe=times, probe_spread=spreads)
        roof = prof.roofline
        names = [lt.node.name for lt in roof.memory.layers]
        if names != [x["name"] for x in m["layers"]]:
            sys.exit(f"{m['file']} {m['name']}: its layers changed since it was measured; measure it again")
        new = json.loads(json.dumps(m))
        new["model"]["roofline"]["ideal_s"] = roof.total.ideal_s
        _error(new["model"], roof.total.ideal_s)
        for x, span, kind in zip(new["layers"], roof.layers, roof.kinds):
            x["kind"], x["ideal_s"] = kind, span.ideal_s  # a layer's roofline fields are its own
            _error(x, span.ideal_s)
        out.append(new)
    return out


def _error(unit: dict[str, Any], predicted_s: float) -> None:
    measured = (unit.get("measured") or {}).get("median_s")
    unit["error_pct"] = 100 * (predicted_s - measured) / measured if measured else None


def quiet_warning() -> str | None:
    """A warning when the 1-minute load average exceeds half the CPUs: the figures then measure the load."""
    try:
        one = os.getloadavg()[0]
    except OSError:
        return None
    cpus = os.cpu_count() or 1
    if one <= cpus / 2:
        return None
    return (f"warning: load average {one:.2f} on {cpus} CPUs: this machine is not quiet, the figures will measure "
            "the other jobs as much as convcost's model")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for calibrate and profile (default torch's)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="--clock of calibrate and profile")
    parser.add_argument("--group", type=int, default=0, help="calibrate again before every N spec files (0: once)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the whole run this many times")
    parser.add_argument("--configs", nargs="+", help="spec files (default: every configs/*.yaml)")
    parser.add_argument("--subset", action="store_true", help=f"only {', '.join(SUBSET)} (full timings)")
    parser.add_argument("--min-time", type=float, default=0.05, help="profile --min-time (per model, block, layer pass)")
    parser.add_argument("--repeats", type=int, default=5, help="profile --repeats")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke test: calibrate/profile --quick on {', '.join(QUICK)} (figures meaningless)")
    parser.add_argument("--max-memory", default="8G",
                        help="profile --max-memory (DeepLabV3 at 520×520 needs about 4.1 GB kept outputs; default 8G)")
    parser.add_argument("--chain", action="store_true",
                        help="calibrate --chain: every micro-benchmark once per pass over all of them (caches as cold "
                        "as in a network), instead of each in a loop of its own")
    parser.add_argument("--keep", help="write the last device profile here")
    parser.add_argument("--save-json", "--save-measurements", dest="save_json",
                        help="write the models of the last round (profile's JSON: each model's and layer's measured times) here")
    parser.add_argument("--measurements", help="measure nothing: predict the models saved by --save-measurements again "
                        "from --device with the current latency model (no torch; seconds)")
    parser.add_argument("--device", help="with --measurements: the device profile (as written by --keep; with --group, "
                        "'X.g{group}.yaml' gives each model its own group's)")
    parser.add_argument("--no-probe", dest="probe", action="store_false",
                        help="predict at the calibration's speed, not at the speed its probe measured beside each model "
                        "(profile --no-probe; offline: ignore the probe's saved times)")
    args = parser.parse_args()
    if args.measurements:
        if not args.device:
            parser.error("--measurements needs --device (the device profile the prediction uses)")
        models = repredict(json.loads(Path(args.measurements).read_text()), args.device, args.threads, args.probe)
        figures = report(models)
        print_level(models, args.device, args.threads)
        print(f"offline: {args.measurements} predicted from {args.device}: worst {figures.worst_pct:.1f} % "
              f"({figures.inside} of {figures.models} inside) / layers {figures.layer_median_pct:.1f} %")
        sys.exit(0 if figures.ok else 1)
    if not args.configs:
        names = QUICK if args.quick else SUBSET if args.subset else None
        every = sorted(glob.glob(str(ROOT / "configs" / "*.yaml")))
        args.configs = [p for p in every if names is None or Path(p).stem in names]
    started = time.time()
    size = args.group or len(args.configs)
    groups = [args.configs[k:k + size] for k in range(0, len(args.configs), size)]
    if warning := quiet_warning():
        print(warning)
    print(f"convcost latency benchmark: {len(args.configs)} spec files in {len(groups)} group(s), threads "
          f"{args.threads or 'default'}, {args.clock} clock, {os.cpu_count()} CPUs; load {load()}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        device_file = str(Path(tmp) / "device.yaml")
        for r in range(1, args.rounds + 1):
            print(f"round {r}:")
            models, unprobed = [], []
            for k, g in enumerate(groups, 1):
                got = measure_group(g, args, device_file)["models"]
                for m in got:
                    m["calibration_group"] = k
                models += got
                unprobed += repredict(got, device_file, args.threads, probe=False)
                if args.keep and len(groups) > 1:  # each group's calibration, for --measurements --device X.g{group}.yaml
                    keep = Path(args.keep)
                    keep.with_name(f"{keep.stem}.g{k}{keep.suffix}").write_text(Path(device_file).read_text())
            results.append(report(models))
            if any(m.get("speed_probe") for m in models):
                f = figures_of(unprobed)
                print(f"  the same measurement at the calibration's speed (no speed probe): {f.inside} of {f.models} "
                      f"models inside ±{WHOLE_TARGET_PCT:g} % (worst {f.worst_pct:.1f} %), layers {f.layer_median_pct:.1f} %")
            print_level(models, device_file, args.threads)
            if args.save_json:
                Path(args.save_json).write_text(json.dumps(models))
        if args.keep:
            Path(args.keep).write_text(Path(device_file).read_text())
    print(f"done-when, per round: worst whole-model |error| (target ≤ {WHOLE_TARGET_PCT:g} %) / per-layer median "
          f"|error| (target ≤ {LAYER_TARGET_PCT:g} %):")
    for r, f in enumerate(results, 1):
        print(f"  round {r}: {f.worst_pct:.1f} % ({f.inside} of {f.models} models inside) / {f.layer_median_pct:.1f} % "
              f"over {f.layers} layers: {'met' if f.ok else 'NOT met'}")
    print(f"rounds meeting both targets: {sum(f.ok for f in results)} of {len(results)}; "
          f"{time.time() - started:.0f} s in all{'; --quick: the figures mean nothing' if args.quick else ''}")
    if warning := quiet_warning():
        print(warning)
    sys.exit(0 if all(f.ok for f in results) else 1)


if __name__ == "__main__":
    main()
