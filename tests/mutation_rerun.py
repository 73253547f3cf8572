"""Run again, each in a fresh interpreter, the mutants mutmut could not test: those in functions that run only
while convcost is imported, and those its worker ended with exit code 255 (reported as "timeout").

mutmut 3 switches mutants at call time, through a trampoline that reads MUTANT_UNDER_TEST. A function that runs
only at import (an op's registration, a factory such as ops/pool.py's ``_resolver`` or ops/registry.py's
``per_dim`` that builds the closure the op uses later) has run with the original code before any mutant is
active, so every one of its mutants "survives" mutmut, and mutmut ties them all to the first test of the run.

This script runs each of those mutants (mutmut's own generated code in ``mutants/``) in a fresh interpreter with
MUTANT_UNDER_TEST set before convcost is imported, so the mutated function runs at import as the real one does,
against the area's tests: first the fast ones, then, for a mutant they leave alive, the whole selection of
pyproject's [tool.mutmut].

mutmut also reports exit code 255 as a timeout, and its forked worker returns it at once (0.0 s) for some
mutants of static methods on the op classes (``xǁPReLUǁshape``): those are run again here with the tests mutmut
tied to their function, fastest first; a run past the hang guard is a real timeout.

Results go to mutants/rerun-results.json (a mutant already run is not run again). Run it from the
repository root after `mutmut run` (docs/testing.md):

    python tests/mutation_rerun.py [--module convcost.ops.pool] [--names sample.txt] [--list]
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
RESULTS = MUTANTS / "rerun-results.json"
MODULES = ("convcost.ops", "convcost.ci.budget", "convcost.crosscheck.verify", "convcost.crosscheck.reference")
FAST = ["tests/test_mutation_kills_registry.py", "tests/test_mutation_kills_counting.py", "tests/test_mutation_kills_build.py",
        "tests/test_op_edges.py", "tests/test_import_args.py", "tests/test_ops.py", "tests/test_op_definitions.py",
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
from convcost.ops import load_all
load_all()  # op modules load on demand: register every one, as mutmut's warm-up (collecting the tests) does
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


def exit_255(module: str | None) -> dict[str, list[str]]:
    """mutant name -> the tests mutmut tied to its function, fastest first, for the mutants it ended with 255."""
    stats = json.loads((MUTANTS / "mutmut-stats.json").read_text(encoding="utf-8"))
    tests, durations = stats["tests_by_mangled_function_name"], stats["duration_by_test"]
    found: dict[str, list[str]] = {}
    for meta in sorted(MUTANTS.glob("convcost/**/*.py.meta")):
        for key, code in json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"].items():
            if code == 255 and (module is None or key.startswith(module + ".")):
                found[key] = sorted(tests.get(key.rsplit("__mutmut_", 1)[0], []), key=lambda t: durations.get(t, 0))
    return found


def run(mutant: str, tests: list[str]) -> int:
    """pytest's exit code; -1 past the hang guard."""
    env = {**os.environ, "MUTANT_UNDER_TEST": mutant, "PYTHONPATH": str(MUTANTS), "OMP_NUM_THREADS": "1"}
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--rootdir", ".",
                               *tests], cwd=MUTANTS, env=env, capture_output=True, text=True, timeout=HANG_GUARD_S,
                              check=False)
    except subprocess.TimeoutExpired:
        return -1
    return done.returncode


def verdict(code: int) -> str:
    return "timeout" if code == -1 else "survived" if code in (0, 5) else "killed"


def against(names: Path | None, tests: list[str], results: dict[str, str]) -> int:
    """Each named mutant that mutmut did not kill (and no earlier rerun did), run against ``tests``."""
    if names is None:
        print("--against needs --names", file=sys.stderr)
        return 2
    missing = [t for t in tests if not (MUTANTS / t).is_file()]
    if missing:  # pytest would exit 4, read as a kill: copy them into mutants/ first (mutmut copies tests/ per run)
        print(f"not in mutants/: {', '.join(missing)}", file=sys.stderr)
        return 2
    codes: dict[str, int | None] = {}
    for meta in sorted(MUTANTS.glob("convcost/**/*.py.meta")):
        codes.update(json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"])
    todo = [m for m in names.read_text(encoding="utf-8").split()
            if codes.get(m) not in (1, 3) and results.get(m) not in ("killed", "timeout")]
    for k, mutant in enumerate(todo):
        results[mutant] = verdict(run(mutant, tests))
        RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True), encoding="utf-8")
        print(f"{k + 1}/{len(todo)} {results[mutant]:8s} {mutant}", flush=True)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--module", help="only the mutants of this module (or package), e.g. convcost.ops.pool")
    ap.add_argument("--names", type=Path, help="only the mutants named in this file, one a line (mutation_sample.py's sample)")
    ap.add_argument("--list", action="store_true", help="list the import-time mutants and their results, run nothing")
    ap.add_argument("--against", nargs="+", metavar="TEST_FILE",
                    help="instead: run each named mutant mutmut has not killed (survived, no tests, not run) against "
                         "these test files, in a fresh interpreter, and record the verdict (a kill checked by hand)")
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
    if opts.against:
        return against(opts.names, opts.against, results)
    at_import = mutants_of(import_time_functions(), opts.module)
    crashed = {m: t for m, t in exit_255(opts.module).items() if m not in at_import}
    if opts.names:
        wanted = set(opts.names.read_text(encoding="utf-8").split())
        at_import = {m: c for m, c in at_import.items() if m in wanted}
        crashed = {m: t for m, t in crashed.items() if m in wanted}
    todo = sorted([*at_import, *crashed])
    for k, mutant in enumerate(todo):
        if opts.list or mutant in results:
            continue
        if at_import.get(mutant) in (1, 3):  # mutmut killed it after all (a function that also runs later)
            results[mutant] = "killed"
        elif mutant in crashed:
            results[mutant] = verdict(run(mutant, crashed[mutant]) if crashed[mutant] else 0)
        else:
            code = run(mutant, fast)
            results[mutant] = verdict(code if code != 0 else run(mutant, fast + rest))
        RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True), encoding="utf-8")
        print(f"{k + 1}/{len(todo)} {results[mutant]:8s} {mutant}", flush=True)
    for what, group in (("import-time", at_import), ("exit 255", crashed)):
        mine = {m: results.get(m, "not run") for m in group}
        counts = {r: sum(1 for v in mine.values() if v == r) for r in ("killed", "timeout", "survived", "not run")}
        print(f"{what} mutants: {len(mine)}, " + ", ".join(f"{r} {n}" for r, n in counts.items()))
        for mutant, result in sorted(mine.items()):
            if result not in ("killed", "timeout"):
                print(f"  {result:8s} {mutant}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
