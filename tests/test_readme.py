"""The README shows real output: every `$ convcost analyze ...` console block is re-run and compared."""

from __future__ import annotations

import re
import shlex

import pytest
from conftest import ROOT
from typer.testing import CliRunner

from convcost.cli import app

BLOCK = re.compile(r"```console\n\$ (convcost (?:analyze|ops)[^\n]*)\n(.*?)```", re.S)
BLOCKS = BLOCK.findall((ROOT / "README.md").read_text())


def test_readme_has_analyze_examples() -> None:
    assert any(cmd == "convcost analyze" for cmd, _ in BLOCKS)


@pytest.mark.parametrize("cmd, shown", BLOCKS, ids=[c for c, _ in BLOCKS])
def test_readme_output_is_current(cmd: str, shown: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NO_COLOR", "1")
    result = CliRunner().invoke(app, shlex.split(cmd)[1:])
    assert result.exit_code == 0
    assert result.stdout.rstrip() == shown.rstrip()
