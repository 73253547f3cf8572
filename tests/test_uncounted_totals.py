"""Issue 20, "no spec that lies": a spec with `unsupported` rows (import --allow-unsupported) has parts in none of its
totals, and every total says so: analyze did; `check` (a budget passed on the counted parts alone, silently) and
`compare` (its table, markdown and JSON) did not (review rev20)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convcost.cli import app

runner = CliRunner()

# conv c 3→4, 3×3, padding 1 on 8×8: 8·8·4·3·3·3 = 6,912 MACs, 4·3·9 + 4 = 112 params; the unsupported part (a
# torch.cumsum, traced [4, 8, 8]) counts nothing; conv d 4→2, 1×1: 8·8·2·4 = 512 MACs, 2·4 + 2 = 10 params
PARTIAL = """\
input: [3, 8, 8]
budget: {macs: 10K}
layers:
  - conv: {name: c, out: 4, kernel: 3, padding: 1}
  - unsupported: {name: u, shape: [4, 8, 8], what: 'cumsum is not a convcost op'}
  - conv: {name: d, out: 2, kernel: 1}
"""
MACS = 6_912 + 512  # 7,424: within the 10K budget, with the cumsum left out
WHOLE = """\
input: [3, 8, 8]
layers:
  - conv: {name: c, out: 4, kernel: 3, padding: 1}
  - conv: {name: d, out: 2, kernel: 1}
"""
NOTE = "not counted: 1 unsupported part (u): their params, MACs and other ops are missing from these totals"


@pytest.fixture
def specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "partial.yaml").write_text(PARTIAL, encoding="utf-8")
    (tmp_path / "whole.yaml").write_text(WHOLE, encoding="utf-8")
    return tmp_path


def _run(args: list[str]) -> tuple[int, str]:
    r = runner.invoke(app, args, env={"GITHUB_ACTIONS": "", "GITHUB_STEP_SUMMARY": ""}, terminal_width=200)
    assert "Traceback" not in r.output, r.output
    return r.exit_code, r.output


def test_check_passes_the_counted_parts_and_says_what_is_left_out(specs: Path) -> None:
    code, out = _run(["check", "partial.yaml", "-v"])
    assert code == 0, out  # 7,424 MACs within 10K: the verdict is the counted parts'
    assert f"MACs {MACS:,}" in out
    assert f"partial.yaml: warning: model 'partial': {NOTE}; its checks see only the parts that are counted" in out, out


def test_check_summary_markdown_warns_too(specs: Path) -> None:
    code, out = _run(["check", "partial.yaml", "--summary", "summary.md"])
    assert code == 0, out
    md = (specs / "summary.md").read_text(encoding="utf-8")
    assert f"> ⚠ partial.yaml: warning: model 'partial': {NOTE}" in md, md


def test_check_of_a_whole_spec_warns_of_nothing(specs: Path) -> None:
    (specs / "whole.yaml").write_text(WHOLE + "budget: {macs: 10K}\n", encoding="utf-8")
    code, out = _run(["check", "whole.yaml", "--summary", "summary.md"])
    assert code == 0 and "warning" not in out and "⚠" not in (specs / "summary.md").read_text(encoding="utf-8")


def test_compare_table_and_markdown_warn(specs: Path) -> None:
    code, out = _run(["compare", "whole.yaml", "partial.yaml"])
    assert code == 0, out
    assert f"warning: partial: {NOTE}" in " ".join(out.split()), out  # rich may wrap the line
    assert "warning: whole" not in out
    code, md = _run(["compare", "whole.yaml", "partial.yaml", "-f", "markdown"])
    assert code == 0 and f"> **Warning:** partial: {NOTE}" in md, md


def test_compare_json_lists_uncounted_parts(specs: Path) -> None:
    code, out = _run(["compare", "whole.yaml", "partial.yaml", "-f", "json"])
    assert code == 0, out
    whole, partial = json.loads(out)["models"]
    assert whole["uncounted"] == [] and partial["uncounted"] == ["u"]
    assert whole["totals"]["macs"] == partial["totals"]["macs"] == MACS  # the same counted parts
