"""Wall time and peak memory (max RSS) of `convcost` on the worst inputs, one fresh process each.

The hostile cases (tests/hostile.py WORST_CASES) must stop at a limit; the "legal" cases are as big
as the limits allow and must finish. Figures go to docs/limits.md.

    python benchmarks/bench_limits.py [--only NAME] [--command analyze]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from hostile import WORST_CASES  # noqa: E402

# Each run: a fresh interpreter runs the CLI in-process, then reports its own peak RSS.
CHILD = """
import json, resource, sys, time
from typer.testing import CliRunner
from convcost.cli import app
t = time.perf_counter()
r = CliRunner().invoke(app, sys.argv[1:])
print(json.dumps({"seconds": time.perf_counter() - t, "exit": r.exit_code,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "stderr": r.stderr.strip()[:100]}))
"""

LEGAL = {
    # Two models of 40,000 layers each: under MAX_LAYERS per model and MAX_STEPS for the file.
    "two_models_40k_layers": "models:\n  m0: &m\n    input: [3, 8, 8]\n    layers:\n"
    "      - seq: {layers: [relu: {repeat: 10000}], repeat: 4}\n  m1: *m\n",
    "one_model_49k_layers": "input: [3, 8, 8]\nlayers:\n  - seq: {layers: [relu: {repeat: 10000}], repeat: 4}\n"
    "  - seq: {layers: [relu: {repeat: 9000}]}\n",
    # issue #15: 10^4 adaptive pools to 10^9 × 10^9 (closed form), and 30,000 layers with 100-character names
    "adaptive_pool_huge_out": "input: [3, 8, 8]\nlayers:\n  - adaptive_avgpool: {out: [1000000000, 1000000000], "
    "repeat: 10000}\n",
    # every branch output alive until the concat: the roofline's peak-memory walk was quadratic (26 s at 20,000)
    "concat_45k_branches": "input: [1, 2, 2]\nlayers:\n  - concat: [" + ", ".join(["[relu]"] * 45_000) + "]\n",
    "names_30k_at_the_limit": "input: [3, 8, 8]\nlayers:\n"
    + "".join(f"  - relu: {{name: r{k:05d}{'x' * 94}}}\n" for k in range(30_000)),
}


def run(args: list[str]) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, check=False)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", help="one case by name")
    ap.add_argument("--command", nargs="+", default=["analyze"], help="the command(s) to run, e.g. analyze roofline report")
    opts = ap.parse_args()
    print(f"{'case':28s} {'command':9s} {'exit':>4s} {'seconds':>8s} {'max RSS':>9s}  message")
    base = run(["--version"])
    print(f"{'(start-up: --version)':28s} {'':9s} {base['exit']:>4} {base['seconds']:8.2f} {base['max_rss_mb']:7.0f} MB")
    cases = {**{k: v[0] for k, v in WORST_CASES.items()}, **LEGAL}
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in cases.items():
            if opts.only and name != opts.only:
                continue
            path = Path(tmp, f"{name}.yaml")
            path.write_text(text, encoding="utf-8")
            for command in opts.command:
                r = run([command, str(path)])
                print(f"{name:28s} {command:9s} {r['exit']:>4} {r['seconds']:8.2f} {r['max_rss_mb']:7.0f} MB  "
                      f"{str(r['stderr']).replace(str(path), 'spec.yaml')[:70]}")


if __name__ == "__main__":
    main()
