"""How `convcost sweep` scales: whole processes (start-up included), wall and CPU seconds.

    python benchmarks/bench_sweep.py [--repeat 3] [--profile]

Sweeps of configs/resnet50.yaml (no vars: input sizes and batches) and configs/mobilenet_v2.yaml (width ×
input), 1,000 and 10,000 points, each as one `python -m convcost sweep ... -f csv` process. Targets: 1,000
points in at most 10 s on a 2-core machine (met), 10,000 in at most 10 s (the goal). CPU seconds (user + sys
of the child) are printed beside the wall time: on a shared machine the wall time waits for other jobs.
``--profile`` prints cProfile's top entries for the 10,000-size sweep in-process.

What makes it fast (convcost/costmodel/sweep.py): the spec is read once and built once per set of var
values; other input sizes replay the recorded layers through the ops' shape and cost rules; results are
looked up per layer by input shapes and, after any layer that nothing before it outlives (a *cut*: every
block boundary of ResNet), by that layer's output shape, so a new size stops at the first cut whose shape
was seen before; a batch scales one sample's counts (checked per op).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

CASES = [
    ("resnet50: 1,000 input sizes (64..1063)", "resnet50.yaml", ["--set", "input=64:1063"], 1_000),
    ("resnet50: 100 sizes × 10 batches", "resnet50.yaml", ["--set", "input=64:163", "--set", "batch=1:10"], 1_000),
    ("resnet50: 100 sizes × 100 batches", "resnet50.yaml", ["--set", "input=64:163", "--set", "batch=1:100"], 10_000),
    ("resnet50: 10,000 input sizes (32..10031)", "resnet50.yaml", ["--set", "input=32:10031"], 10_000),
    ("mobilenet_v2: 40 widths × 25 sizes", "mobilenet_v2.yaml",
     ["--set", "width=0.1:4.0:0.1", "--set", "input=32:416:16"], 1_000),
    ("mobilenet_v2: 100 widths × 100 sizes", "mobilenet_v2.yaml",
     ["--set", "width=0.04:4.0:0.04", "--set", "input=32:1616:16"], 10_000),
]


def run(args: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one `python -m convcost sweep ...` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "convcost", "sweep", *args, "-f", "csv", "--no-progress"], check=True,
                   stdout=subprocess.DEVNULL, env=ENV, cwd=ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def profile() -> None:
    import cProfile
    import pstats

    sys.path.insert(0, str(ROOT))
    from convcost.costmodel.roofline import resolve_profile
    from convcost.costmodel.sweep import Axis, run_sweep
    from convcost.frontend.spec import load_spec

    spec = load_spec(ROOT / "configs" / "resnet50.yaml")
    axes = (Axis("input", tuple((s,) for s in range(32, 10_032))),)
    with cProfile.Profile() as prof:
        _, engine = run_sweep(spec, ["resnet50"], axes, resolve_profile("cpu"))
    print(f"builds {engine.builds}, replays {engine.replays}, layers run through their rules {engine.layers:,} "
          f"(of {10_000 * 175:,} in the grid)")
    pstats.Stats(prof).sort_stats("tottime").print_stats(12)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    opts = ap.parse_args()
    run(["configs/resnet50.yaml", "--set", "input=224"])  # warm-up: bytecode cache
    print(f"{'sweep':<44} {'points':>7} {'wall s':>8} {'cpu s':>7}  target")
    for label, spec, args, points in CASES:
        times = [run([f"configs/{spec}", *args]) for _ in range(opts.repeat)]
        wall = statistics.median(t for t, _ in times)
        cpu = statistics.median(c for _, c in times)
        verdict = "ok" if wall <= 10 else ("cpu ok, machine busy" if cpu <= 10 else "OVER 10 s")
        print(f"{label:<44} {points:>7,} {wall:>8.2f} {cpu:>7.2f}  ≤ 10 s: {verdict}")
    if opts.profile:
        profile()


if __name__ == "__main__":
    main()
