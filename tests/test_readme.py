"""The README shows real output: every deterministic `$ convcost ...` console block (analyze, ops,
roofline, sweep, verify) is re-run and compared. profile's timings vary run to run and are not re-run."""

from __future__ import annotations

import re
import shlex

import pytest
from conftest import ROOT
from typer.testing import CliRunner

from convcost.cli import app

BLOCK = re.compile(r"```console\n\$ (convcost (?:analyze|ops|roofline|sweep|verify)[^\n]*)\n(.*?)```", re.S)
BLOCKS = BLOCK.findall((ROOT / "README.md").read_text())


def test_readme_has_analyze_examples() -> None:
    assert any(cmd == "convcost analyze" for cmd, _ in BLOCKS)


@pytest.mark.parametrize("cmd, shown", BLOCKS, ids=[c for c, _ in BLOCKS])
def test_readme_output_is_current(cmd: str, shown: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NO_COLOR", "1")
    result = CliRunner().invoke(app, shlex.split(cmd)[1:])
    assert result.exit_code == 0, result.output
    assert _lines(result.stdout) == _lines(shown)


def _lines(text: str) -> list[str]:
    """Lines without trailing blanks (rich pads table titles to the table width)."""
    return [line.rstrip() for line in text.rstrip().splitlines()]
