"""Run the mutants mutmut cannot activate: those in functions that run only while convcost is imported.

mutmut 3 switches mutants at call time, through a trampoline that reads MUTANT_UNDER_TEST. A function that runs
only at import (an op's registration, a factory such as ops/pool.py's ``_resolver`` or ops/registry.py's
``per_dim`` that builds the closure the op uses later) has run with the original code before any mutant is
active, so every one of its mutants "survives" mutmut, and mutmut ties them all to the first test of the run.

This script runs each of those mutants (mutmut's own generated code in ``mutants/``) in a fresh interpreter with
MUTANT_UNDER_TEST set before convcost is imported, so the mutated function runs at import as the real one does,
against the area's tests: first the fast ones, then, for a mutant they leave alive, the whole selection of
pyproject's [tool.mutmut]. Results go to mutants/import-time-results.json (a mutant already run is not run
again). Run it from the repository root after `mutmut run` (docs/testing.md):

    python tests/mutation_import_time.py [--module convcost.ops.pool] [--list]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"
RESULTS = MUTANTS / "import-time-results.json"
MODULES = ("convcost.ops", "convcost.ci.budget", "convcost.crosscheck.verify", "convcost.crosscheck.reference")
FAST = ["tests/test_op_edges.py", "tests/test_import_args.py", "tests/test_ops.py", "tests/test_op_definitions.py",
        "tests/test_budget_rules.py", "tests/test_verify_totals.py", "tests/test_torch_build.py", "tests/test_bad_specs.py"]
HANG_GUARD_S = 3600

# Lists (file, qualified name) of every function of the mutated modules that runs while they are imported.
PROFILE = r"""
import json, sys
called = set()
def prof(frame, event, arg):
    if event == "call" and "/convcost/" in frame.f_code.co_filename:
        called.add((frame.f_code.co_filename.split("/convcost/")[1], frame.f_code.co_qualname))
sys.setprofile(prof)
import importlib
for m in sys.argv[1:]:
    importlib.import_module(m)
import convcost.ops.macros
sys.setprofile(None)
print(json.dumps(sorted(called)))
"""


def import_time_functions() -> set[str]:
    """mutmut's mangled names ('convcost.ops.pool.x__resolver', 'convcost.ops.basic.xǁLinearǁcost') of them."""
    out = subprocess.run([sys.executable, "-c", PROFILE, *MODULES], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    names = set()
    for file, qualname in json.loads(out.stdout):
        if "<" in qualname:  # a closure or comprehension: its mutants are its enclosing function's
            continue
        module = "convcost." + file[:-3].replace("/", ".")
        parts = qualname.split(".")
        names.add(f"{module}.x_{qualname}" if len(parts) == 1 else f"{module}.xǁ{'ǁ'.join(parts)}")
    return names


def mutants_of(functions: set[str], module: str | None) -> dict[str, int | None]:
    """mutant name -> mutmut's exit code for it (None: mutmut has not run it)."""
    found: dict[str, int | None] = {}
    for meta in sorted(MUTANTS.glob("convcost/**/*.py.meta")):
        for key, code in json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"].items():
            if key.rsplit("__mutmut_", 1)[0] in functions and (module is None or key.startswith(module + ".")):
                found[key] = code
    return found


def run(mutant: str, tests: list[str]) -> int:
    env = {**os.environ, "MUTANT_UNDER_TEST": mutant, "PYTHONPATH": str(MUTANTS), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--rootdir", ".",
                           *tests], cwd=MUTANTS, env=env, capture_output=True, text=True, timeout=HANG_GUARD_S,
                          check=False)
    return done.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--module", help="only the mutants of this module (or package), e.g. convcost.ops.pool")
    ap.add_argument("--list", action="store_true", help="list the import-time mutants and their results, run nothing")
    opts = ap.parse_args()
    if not MUTANTS.is_dir():
        print("no mutants/ here: run `mutmut run` first (docs/testing.md)", file=sys.stderr)
        return 2
    import tomllib  # Python 3.11+, as mutmut 3 needs

    selection = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mutmut"][
        "pytest_add_cli_args_test_selection"]
    fast = [t for t in FAST if t in selection]
    rest = [t for t in selection if t not in fast]
    results: dict[str, str] = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() else {}
    todo = mutants_of(import_time_functions(), opts.module)
    for k, (mutant, mutmut_code) in enumerate(sorted(todo.items())):
        if opts.list or mutant in results:
            continue
        if mutmut_code in (1, 3):  # mutmut killed it after all (a function that also runs later)
            results[mutant] = "killed"
        else:
            code = run(mutant, fast)
            if code == 0:
                code = run(mutant, fast + rest)
            results[mutant] = "killed" if code not in (0, 5) else "survived"
        RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True), encoding="utf-8")
        print(f"{k + 1}/{len(todo)} {results[mutant]:8s} {mutant}", flush=True)
    mine = {m: results.get(m, "not run") for m in todo}
    killed = sum(1 for r in mine.values() if r == "killed")
    print(f"import-time mutants: {len(mine)}, killed {killed}, survived "
          f"{sum(1 for r in mine.values() if r == 'survived')}, not run {sum(1 for r in mine.values() if r == 'not run')}")
    for mutant, result in sorted(mine.items()):
        if result != "killed":
            print(f"  {result:8s} {mutant}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
