"""CPU time of the renderers at 2,500 and 10,000 layers (and merged_order on 40,000 names): linear or not.

tests/test_scaling.py bounds the same renderers by their Python calls, which a busy machine cannot change;
this measures time, which also sees quadratic work done inside C (a list scanned for every layer, a tuple
copied), where no call is counted. Each figure is this process's CPU time (other jobs on the machine do not
count), the smaller of ``--repeats`` runs. It exits 1 when 4× the layers take more than 4× the time plus a
second, or the roofline more than 0.4 ms a layer (rich's Table took 0.75 ms, 23 s on 30,000 layers).

    python benchmarks/bench_scaling.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_scaling import LARGE, SMALL, _compare, _mermaid, _roofline, _segments, deep_net, wide_net  # noqa: E402

from convcost.costmodel.analysis import Analysis  # noqa: E402
from convcost.costmodel.compare import merged_order  # noqa: E402

ROOFLINE_S_PER_LAYER = 4e-4  # about 35 µs a layer when this was written


def cpu_seconds(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        started = time.process_time()
        fn()
        best = min(best, time.process_time() - started)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    opts = ap.parse_args()
    nets: dict[int, tuple[Analysis, Analysis]] = {n: (deep_net(n), wide_net(n)) for n in (SMALL, LARGE)}
    failed = 0
    print(f"{'renderer':10s} {SMALL:>8,} layers {LARGE:>8,} layers  ratio")
    for fn in (_compare, _mermaid, _roofline, _segments):
        small = cpu_seconds(lambda fn=fn: fn(*nets[SMALL]), opts.repeats)
        large = cpu_seconds(lambda fn=fn: fn(*nets[LARGE]), opts.repeats)
        ok = large < (LARGE / SMALL) * small + 1.0
        if fn is _roofline:
            ok = ok and large < 2 * LARGE * ROOFLINE_S_PER_LAYER
        failed += not ok
        print(f"{fn.__name__.strip('_'):10s} {small:13.3f} s {large:13.3f} s  {large / max(small, 1e-9):5.1f}"
              f"{'' if ok else '  FAILED'}")
    names = [f"b{k}" for k in range(40_000)]
    merged = cpu_seconds(lambda: merged_order([names[::2], names, names[1::2]]), opts.repeats)
    failed += merged >= 1.0
    print(f"merged_order on 40,000 names: {merged:.3f} s{'' if merged < 1.0 else '  FAILED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
