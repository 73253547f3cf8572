"""Rewrite the golden files in tests/golden/ from what the tests render now, then check them as CI does.

    python tests/update_golden.py [TEST_FILE_OR_NODE ...]

With no argument it runs every test file that calls assert_golden. First pass: in this process, with a
recorder installed in golden_files (the only way to install one), each assert_golden call writes its text
to the golden file instead of comparing; the tests' other assertions still run, and a failure stops the
update with exit 1. Second pass: a fresh `pytest` over the same tests, comparing as in CI. It lists the
files it changed: review them with `git diff tests/golden` before committing.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


SELF_TEST = "test_golden_files.py"  # tests assert_golden itself with texts that are not the golden ones


def golden_test_files() -> list[str]:
    return sorted(
        str(p) for p in TESTS.glob("test_*.py")
        if p.name != SELF_TEST and re.search(r"^\s*assert_golden\(", p.read_text(encoding="utf-8"), re.MULTILINE)
    )


def main(argv: list[str]) -> int:
    targets = argv or golden_test_files()
    if any(Path(t.split("::")[0]).name == SELF_TEST for t in targets):
        print(f"{SELF_TEST} checks assert_golden with wrong texts on purpose: it cannot record golden files", file=sys.stderr)
        return 2
    sys.path.insert(0, str(TESTS))  # the module the tests import as `golden_files`, not a copy of it
    import golden_files
    import pytest

    golden_files._recorder = recorder = golden_files.Recorder()
    try:
        code = pytest.main(["-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT), *targets])
    finally:
        golden_files._recorder = None
    changed = sorted(name for name, yes in recorder.written.items() if yes)
    listed = "".join(f"\n  tests/golden/{n}" for n in changed)
    print(f"\nrecorded {len(recorder.written)} golden files, {len(changed)} changed{listed}")
    if code != 0:
        print("the tests failed while recording: the golden files above were written, the rest were not checked",
              file=sys.stderr)
        return 1
    print("checking them as CI does ...")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *targets], cwd=ROOT,
                          check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
