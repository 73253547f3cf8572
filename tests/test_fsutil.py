"""atomic_write_text: the file is either the old one or the new one, never torn; no temp files left."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from convcost.errors import ConvcostError
from convcost.fsutil import atomic_write_text


def test_replaces_and_keeps_the_mode(tmp_path: Path) -> None:
    p = tmp_path / "r.md"
    p.write_text("old", encoding="utf-8")
    p.chmod(0o640)
    atomic_write_text(p, "new ✓\n")
    assert p.read_text(encoding="utf-8") == "new ✓\n"
    assert stat.S_IMODE(p.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["r.md"]


def test_failure_leaves_the_old_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "r.md"
    p.write_text("old", encoding="utf-8")

    def boom(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(ConvcostError, match="No space left on device"):
        atomic_write_text(p, "new")
    assert p.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["r.md"]


def test_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConvcostError) as e:
        atomic_write_text(tmp_path / "missing" / "r.md", "x")
    assert str(e.value).startswith(str(tmp_path / "missing" / "r.md"))
    with pytest.raises(ConvcostError, match="is a directory"):
        atomic_write_text(tmp_path, "x")
