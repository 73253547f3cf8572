"""Golden files change only through tests/update_golden.py: nothing read during a test run (the old
CONVCOST_UPDATE_GOLDEN=1 turned every golden test green by rewriting its file) makes assert_golden write."""

from __future__ import annotations

import inspect
from pathlib import Path

import golden_files
import pytest
from golden_files import assert_golden

NAME = "check_summary.md"  # an existing golden file (tests/test_check.py)


def test_the_old_environment_variable_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVCOST_UPDATE_GOLDEN", "1")
    before = (golden_files.GOLDEN / NAME).read_bytes()
    with pytest.raises(AssertionError, match=rf"output differs from {NAME} \(`python tests/update_golden\.py` rewrites it"):
        assert_golden(NAME, "not what the file holds\n")
    assert (golden_files.GOLDEN / NAME).read_bytes() == before
    assert_golden(NAME, before.decode("utf-8"))  # the same text passes


def test_a_missing_golden_file_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVCOST_UPDATE_GOLDEN", "1")
    with pytest.raises(AssertionError, match=r"missing golden file .*no_such\.md; `python tests/update_golden\.py` creates it"):
        assert_golden("no_such.md", "x")
    assert not (golden_files.GOLDEN / "no_such.md").exists()


def test_the_module_reads_no_environment() -> None:
    source = inspect.getsource(golden_files)
    assert "os.environ" not in source and "getenv" not in source and "import os" not in source
    assert golden_files._recorder is None  # installed only by the update script, never during a test run


def test_the_recorder_writes_and_reports_what_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(golden_files, "GOLDEN", tmp_path)
    (tmp_path / "same.md").write_text("kept\n", encoding="utf-8")
    (tmp_path / "old.md").write_text("old\n", encoding="utf-8")
    recorder = golden_files.Recorder()
    monkeypatch.setattr(golden_files, "_recorder", recorder)
    assert_golden("same.md", "kept\n")
    assert_golden("old.md", "new\n")
    assert_golden("created.md", "made\n")
    assert recorder.written == {"same.md": False, "old.md": True, "created.md": True}
    texts = [(tmp_path / n).read_text(encoding="utf-8") for n in ("same.md", "old.md", "created.md")]
    assert texts == ["kept\n", "new\n", "made\n"]


def test_the_update_script_finds_every_file_that_compares_with_a_golden_one() -> None:
    from update_golden import golden_test_files

    names = sorted(Path(p).name for p in golden_test_files())
    assert names == ["test_check.py", "test_compare.py", "test_import.py", "test_report.py"]
