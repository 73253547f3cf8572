"""Draw a seeded random sample of mutmut's mutants, for the modules a whole run cannot cover in the time there is.

mutmut 3 writes every mutant's name into ``mutants/<module path>.py.meta`` when it generates them (before it runs
any). This script reads those names for the modules given, leaves out the ones given with ``--exclude`` (the
modules run whole), sorts them, and draws ``--size`` of them uniformly without replacement with Python's
``random.Random(seed).sample``: the same seed and the same generated mutants give the same sample. It prints the
names, one a line, for ``mutmut run`` (which takes mutant names) and ``tests/mutation_rerun.py --names``:

    python tests/mutation_sample.py --seed 19 --size 200 convcost.ops --exclude convcost.ops.conv > sample.txt
    mutmut run --max-children 1 $(cat sample.txt)

Afterwards, ``--score sample.txt`` counts the sample's results (mutmut's exit codes in the .meta files, with
``mutants/rerun-results.json`` for the mutants mutation_rerun.py ran again) and prints the killed fraction with its
95 % Wilson interval: the sample's figure, never the whole population's (docs/testing.md).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"
KILLED = {1, 3}  # mutmut: a test failed (1), or pytest was interrupted by the mutant (3)


def all_mutants() -> dict[str, int | None]:
    """mutant name -> mutmut's exit code (None: not run yet)."""
    found: dict[str, int | None] = {}
    for meta in sorted(MUTANTS.glob("convcost/**/*.py.meta")):
        found.update(json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"])
    return found


def in_module(name: str, modules: list[str]) -> bool:
    """'convcost.ops.pool.x__resolver__mutmut_3' is in 'convcost.ops' and 'convcost.ops.pool', not 'convcost.ops.po'."""
    module = name.rsplit(".", 1)[0]
    return any(module == m or module.startswith(m + ".") for m in modules)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval of a proportion k/n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)


def score(sample_file: Path) -> int:
    names = [line.strip() for line in sample_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    codes = all_mutants()
    rerun_file = MUTANTS / "rerun-results.json"
    rerun: dict[str, str] = json.loads(rerun_file.read_text(encoding="utf-8")) if rerun_file.exists() else {}
    killed, survived, not_run = [], [], []
    for name in names:
        if rerun.get(name) in ("killed", "timeout") or codes.get(name) in KILLED:  # a kill by either counts
            killed.append(name)
        elif codes.get(name) is None and name not in rerun:
            not_run.append(name)
        else:
            survived.append(name)
    done = len(killed) + len(survived)
    low, high = wilson(len(killed), done)
    print(f"sample: {len(names)} mutants, run {done}, killed {len(killed)}, survived {len(survived)}, not run {len(not_run)}")
    if done:
        print(f"killed {100 * len(killed) / done:.1f} % of the sample run; "
              f"95 % Wilson interval {100 * low:.1f} to {100 * high:.1f} %")
    for name in survived:
        print(f"  survived {name} (exit code {codes.get(name)}, rerun {rerun.get(name, '-')})")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("modules", nargs="*", help="modules or packages to draw from, e.g. convcost.ops")
    ap.add_argument("--exclude", action="append", default=[], help="a module or package left out (run whole)")
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--score", type=Path, help="count the results of the sample listed in this file")
    opts = ap.parse_args()
    if not MUTANTS.is_dir():
        print("no mutants/ here: run `mutmut run` first (docs/testing.md)", file=sys.stderr)
        return 2
    if opts.score:
        return score(opts.score)
    population = sorted(n for n in all_mutants() if in_module(n, opts.modules) and not in_module(n, opts.exclude))
    if opts.size > len(population):
        print(f"only {len(population)} mutants to draw from", file=sys.stderr)
        return 2
    print(f"{len(population)} mutants, sample of {opts.size}, seed {opts.seed}", file=sys.stderr)
    for name in sorted(random.Random(opts.seed).sample(population, opts.size)):
        print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
