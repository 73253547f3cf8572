"""Golden-file comparison. Regenerate with CONVCOST_UPDATE_GOLDEN=1 pytest tests/test_report.py ..."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("CONVCOST_UPDATE_GOLDEN") == "1"


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"missing golden file {path}; run with CONVCOST_UPDATE_GOLDEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(
            difflib.unified_diff(expected.splitlines(True), text.splitlines(True), str(path), "actual", n=2)
        )
        raise AssertionError(f"output differs from {name} (CONVCOST_UPDATE_GOLDEN=1 regenerates it):\n{diff}")
