"""Apply each of the 13 mutations issue 19 lists as survivors, one at a time, to a copy of the committed tree
(``git archive HEAD``) and run the test file of its area against it: each must make a test fail.

    python tests/mutation_issue19.py        # prints KILLED or SURVIVED per mutation; exit 1 if any survives
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
# (what, file, the test file that must fail, the original text, the mutated text)
VERIFY_T = "tests/test_verify_totals.py"
BUDGET_T = "tests/test_budget_rules.py"
IMPORT_T = "tests/test_import_args.py"
EDGES_T = "tests/test_op_edges.py"
MUTATIONS = [
    ('verify totals always OK', 'convcost/crosscheck/verify.py', VERIFY_T,
     'return Check(pred, actual, Status.MISMATCH, f"convcost predicts',
     'return Check(pred, actual, Status.OK, f"convcost predicts'),
    ('mismatches ignoring totals', 'convcost/crosscheck/verify.py', VERIFY_T,
     '1 for c in self.totals.values() if c.status == Status.MISMATCH',
     '0 for c in self.totals.values() if c.status == Status.MISMATCH'),
    ('memory limit <= -> <', 'convcost/crosscheck/verify.py', VERIFY_T,
     'real = need <= max_bytes',
     'real = need < max_bytes'),
    ('equal rules pick looser', 'convcost/ci/budget.py', BUDGET_T,
     'and g.pct < cur.pct)',
     'and g.pct > cur.pct)'),
    ('Target.matches ignores file', 'convcost/ci/budget.py', BUDGET_T,
     'and (self.file is None or self.file == a.graph.file)',
     'and True'),
    ('negative max_growth accepted', 'convcost/ci/budget.py', BUDGET_T,
     '    if pct < 0:\n',
     '    if pct < -10**9:\n'),
    ('allowed rounds up', 'convcost/ci/budget.py', BUDGET_T,
     'allowed = int(b * (100 + rule.pct) // 100)',
     'allowed = int(-(-(b * (100 + rule.pct)) // 100))'),
    ('padding_mode reflect accepted', 'convcost/ops/conv.py', IMPORT_T,
     'refuse_unless(m.padding_mode == "zeros"',
     'refuse_unless(True'),
    ('hardtanh min/max reversed', 'convcost/ops/activations.py', IMPORT_T,
     'torch_attrs=("min_val", "max_val")',
     'torch_attrs=("max_val", "min_val")'),
    ('spec_dims all -> any', 'convcost/ops/registry.py', IMPORT_T,
     'values and all(v == values[0]',
     'values and any(v == values[0]'),
    ('linear bias always true', 'convcost/ops/basic.py', IMPORT_T,
     '"bias": m.bias is not None}',
     '"bias": True}'),
    ('same_padding ignores dilation', 'convcost/ops/conv.py', EDGES_T,
     'tuple(d * (k - 1) // 2 for',
     'tuple((k - 1) // 2 for'),
    ('MAX_DIM > -> >=', 'convcost/ops/registry.py', EDGES_T,
     '    if value > MAX_DIM:',
     '    if value >= MAX_DIM:'),
    ('MAX_DIM + 1', 'convcost/ops/registry.py', EDGES_T,
     'MAX_DIM = 10**9\n',
     'MAX_DIM = 10**9 + 1\n'),
]


def main() -> int:
    survived = 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=HERE, capture_output=True, check=True).stdout
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(root, filter="data")
        for what, file, test, old, new in MUTATIONS:
            path = root / file
            src = path.read_text(encoding="utf-8")
            if src.count(old) != 1:
                print(f"STALE   {what}: {file} no longer has the text mutated once")
                survived += 1
                continue
            path.write_text(src.replace(old, new), encoding="utf-8")
            try:
                r = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", test], cwd=root,
                                   capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(root)})
            finally:
                path.write_text(src, encoding="utf-8")
            killed = r.returncode == 1  # a test failed (2 and more: pytest itself failed, not a kill)
            survived += not killed
            print(f"{'KILLED  ' if killed else f'SURVIVED (pytest exit {r.returncode})'} {what} ({file}; {test})", flush=True)
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
