"""Wall time of `convcost analyze` as a whole process (start-up included).

Prints: the ResNet-50-sized spec (target < 0.25 s), generated specs of 2,500 / 5,000 / 10,000 layers
(target < 1 s for 10,000, growing linearly), and whether torch was imported (it must not be).

    python benchmarks/bench_analyze.py [--repeat 5] [--format table]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def generated_spec(layers: int) -> str:
    """A plain stack of `layers` layers: conv 3×3 / bn / relu triples, then fillers."""
    lines = ["input: [16, 16, 16]", "layers:"]
    cycle = ["  - conv: {out: 16, kernel: 3, padding: 1, bias: false}", "  - bn", "  - relu"]
    lines += [cycle[k % 3] for k in range(layers)]
    return "\n".join(lines) + "\n"


# As a user runs it: Python's bytecode cache on (the warm-up run writes it), whatever this shell says.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall(args: list[str], repeat: int) -> float:
    """Median wall seconds of `python -m convcost ...` over `repeat` runs (after one warm-up)."""
    cmd = [sys.executable, "-m", "convcost", *args]
    subprocess.run(cmd, check=True, capture_output=True, env=ENV)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=ENV)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--format", default="table", choices=["table", "json", "csv", "markdown"])
    opts = ap.parse_args()
    fmt = ["--format", opts.format]

    baseline = wall(["--version"], opts.repeat)
    print(f"python + convcost start-up (--version): {baseline:.3f} s")
    resnet = ROOT / "configs" / "resnet50.yaml"
    if resnet.exists():
        t = wall(["analyze", str(resnet), *fmt], opts.repeat)
        verdict = "ok" if t < 0.25 else "OVER the 0.25 s target"
        print(f"analyze configs/resnet50.yaml ({opts.format}): {t:.3f} s  [{verdict}]")
    with tempfile.TemporaryDirectory() as tmp:
        results = []
        for n in (2_500, 5_000, 10_000):
            path = Path(tmp) / f"stack{n}.yaml"
            path.write_text(generated_spec(n))
            t = wall(["analyze", str(path), *fmt], opts.repeat)
            results.append((n, t))
            print(f"analyze generated {n:>6,}-layer spec ({opts.format}): {t:.3f} s   "
                  f"({1e6 * (t - baseline) / n:.1f} µs/layer above start-up)")
        n, t = results[-1]
        print(f"10,000 layers: {'ok' if t < 1.0 else 'OVER the 1 s target'}")
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, convcost.cli, convcost.api; "
         "convcost.api.analyze_file(None); print('torch' in sys.modules)"],
        capture_output=True, text=True, check=True,
    )
    print(f"torch imported by the analytic path: {probe.stdout.strip()}")


if __name__ == "__main__":
    main()
