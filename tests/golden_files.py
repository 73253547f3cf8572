"""Golden-file comparison: a rendered text must equal its file in tests/golden/, byte for byte.

Nothing read during a test run changes that: no environment variable, no option. The files are written
only by the explicit script ``python tests/update_golden.py`` (docs/testing.md), which records what the
tests render and then runs them again, as they run in CI, against what it wrote.
"""

from __future__ import annotations

import difflib
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE_COMMAND = "python tests/update_golden.py"


class Recorder:
    """Where assert_golden writes instead of comparing; installed only by tests/update_golden.py."""

    def __init__(self) -> None:
        self.written: dict[str, bool] = {}  # golden file name -> whether its content changed

    def record(self, name: str, text: str) -> None:
        path = GOLDEN / name
        changed = not path.exists() or path.read_text(encoding="utf-8") != text
        if changed:
            path.write_text(text, encoding="utf-8")
        self.written[name] = changed or self.written.get(name, False)


_recorder: Recorder | None = None


def assert_golden(name: str, text: str) -> None:
    if _recorder is not None:
        _recorder.record(name, text)
        return
    path = GOLDEN / name
    if not path.exists():
        raise AssertionError(f"missing golden file {path}; `{UPDATE_COMMAND}` creates it")
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(
            difflib.unified_diff(expected.splitlines(True), text.splitlines(True), str(path), "actual", n=2)
        )
        raise AssertionError(f"output differs from {name} (`{UPDATE_COMMAND}` rewrites it, then review the diff):\n{diff}")
