"""Wall time of `convcost import` on a ~500-layer model (issue 14's target: under 5 s on a 2-core machine).

The model is tests/reference_factories.py's ResNet (torchvision's layout, plain torch.nn modules) with
ResNet-152's stages (bottleneck blocks 3, 8, 36, 3), traced by torch.fx into 500+ layers. Prints the traced
layer count, the end-to-end time of the command (a fresh process each run, median), the command's phases
timed in-process, and whether the imported spec analyzes to exactly the module's params and FlopCounterMode
FLOPs / 2.

    python benchmarks/bench_import.py [--repeat 5] [--input 3,224,224] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
# tests/reference_factories.py's torchvision-layout ResNet with ResNet-152's stages (bottlenecks 3, 8, 36, 3)
TARGET = f"{ROOT / 'tests' / 'reference_factories.py'}:ResNet"
ARGS = ["layers=[3, 8, 36, 3]"]


# As a user runs it: Python's bytecode cache on (the warm-up run writes it), whatever this shell says.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall(cmd: list[str], repeat: int) -> float:
    """Median wall seconds of a command over `repeat` runs (after one warm-up)."""
    subprocess.run(cmd, check=True, capture_output=True, env=ENV, cwd=ROOT)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=ENV, cwd=ROOT)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def timed(what: str, fn: Callable[[], Any], repeat: int) -> Any:
    """fn()'s result; prints its median seconds over `repeat` calls."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    print(f"  {what:42s} {statistics.median(times):6.3f} s")
    return out


def phases(shape: tuple[int, ...], repeat: int) -> None:
    """The command's steps in-process (importer/placement.py import_target, then importer/write.py)."""
    from convcost.crosscheck.target import load_model, parse_target
    from convcost.importer.placement import forward_estimate, one_thread
    from convcost.importer.trace import import_model
    from convcost.importer.write import write_spec

    t = parse_target(TARGET, ARGS)
    print("phases (in-process, median):")
    meta_model = timed("load on meta (factory under meta device)", lambda: load_model(t, "meta"), repeat)
    meta = timed("trace on meta (fx + ShapeProp)", lambda: import_model(meta_model, shape, False, "meta"), repeat)
    need = timed("estimate (spec written, parsed, analyzed)", lambda: forward_estimate(meta, shape), repeat)
    model = timed("load on cpu (factory, real weights)", lambda: load_model(t), repeat)
    with one_thread():  # as import_target runs it
        real = timed("trace on cpu (fx + ShapeProp, real forward)", lambda: import_model(model, shape, False), repeat)
    timed(f"  the same on {torch.get_num_threads()} threads (torch's default)", lambda: import_model(model, shape, False),
          repeat)
    text = timed("write spec (importer/write.py)", lambda: write_spec(real.layers, shape, real.outputs, []), repeat)
    print(f"traced layers: {len(real.layers)} (meta: {len(meta.layers)}); estimated real forward: {need / 1e6:.1f} MB; "
          f"spec: {len(text.splitlines())} lines")
    check_counts(text, model, shape)


def check_counts(text: str, model: nn.Module, shape: tuple[int, ...]) -> None:
    """The imported spec's totals against the module's own: params, buffers, FlopCounterMode FLOPs / 2."""
    from torch.utils.flop_counter import FlopCounterMode

    from convcost.costmodel.analysis import analyze
    from convcost.frontend.spec import parse_spec
    from convcost.graph.build import build_graph

    spec = parse_spec(text, "<imported>")
    total = analyze(build_graph(spec, next(iter(spec.models)))).total
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(torch.zeros(1, *shape))
    torch_counts = (sum(p.numel() for p in model.parameters()), sum(b.numel() for b in model.buffers()),
                    fc.get_total_flops() // 2)
    same = (total.params, total.buffers, total.macs) == torch_counts
    print(f"spec params/buffers/MACs {total.params:,} / {total.buffers:,} / {total.macs:,}; torch "
          f"{torch_counts[0]:,} / {torch_counts[1]:,} / {torch_counts[2]:,}  [{'exact' if same else 'DIFFERENT'}]")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--input", default="3,224,224")
    ap.add_argument("--profile", action="store_true", help="also cProfile the command in-process (top 25 by cumulative)")
    opts = ap.parse_args()
    shape = tuple(int(d) for d in opts.input.split(","))
    sys.path.insert(0, str(ROOT))

    print(f"python -c 'import torch': {wall([sys.executable, '-c', 'import torch'], opts.repeat):.3f} s")
    print(f"convcost --version: {wall([sys.executable, '-m', 'convcost', '--version'], opts.repeat):.3f} s")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "convcost", "import", TARGET, *(f"--reference-arg={a}" for a in ARGS), "--input",
               opts.input, "-o", str(Path(tmp, "s.yaml"))]
        for label, more in (("real forward", []), ("meta device, --max-memory 1k", ["--max-memory", "1k"])):
            t = wall(cmd + more, opts.repeat)
            print(f"convcost import (500-layer ResNet, {opts.input}, {label}): {t:.3f} s  "
                  f"[{'ok' if t < 5 else 'OVER the 5 s target'}]")
    phases(shape, opts.repeat)
    if opts.profile:
        from typer.testing import CliRunner

        from convcost.cli import app

        with tempfile.TemporaryDirectory() as tmp:
            prof = cProfile.Profile()
            prof.runcall(CliRunner().invoke, app, ["import", TARGET, *(f"--reference-arg={a}" for a in ARGS), "--input",
                                                   opts.input, "-o", str(Path(tmp, "s.yaml"))])
            pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
