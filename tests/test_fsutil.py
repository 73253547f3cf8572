"""atomic_write_text: the file is either the old one or the new one, never torn; no temp files left."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from workmeter import HANG_GUARD_S

from convcost.errors import ConvcostError
from convcost.util.fsutil import atomic_write_text


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


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real.md"
    real.write_text("old", encoding="utf-8")
    link = tmp_path / "link.md"
    link.symlink_to(real)
    atomic_write_text(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text(encoding="utf-8") == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.md", "real.md"]  # no temp file left


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_streamed_into_not_replaced(tmp_path: Path) -> None:
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text(encoding="utf-8")))
    reader.start()
    atomic_write_text(fifo, "through the pipe\n")
    reader.join(timeout=HANG_GUARD_S)  # the write returned: the reader has its EOF (the guard is for a stuck CI job)
    assert not reader.is_alive()
    assert got == ["through the pipe\n"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # still a FIFO, not a regular file
