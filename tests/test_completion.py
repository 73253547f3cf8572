"""Shell completion (click's, through typer): commands, options, the models of the spec on the line, op names.
Driven as a shell drives it: the program run with _CONVCOST_COMPLETE and the words typed so far (bash:
COMP_WORDS/COMP_CWORD; zsh and fish: _TYPER_COMPLETE_ARGS)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = [sys.executable, "-c", "import sys; sys.argv[0] = 'convcost'; from convcost.cli import run; run()"]


def bash(line: str) -> list[str]:
    """What bash gets back for the last word of ``line`` (a trailing space: a new, empty word)."""
    words = line.split()
    cword = len(words) if line.endswith(" ") else len(words) - 1
    env = {**os.environ, "_CONVCOST_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(cword)}
    out = subprocess.run(PROGRAM, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.split()


def zsh(line: str) -> str:
    env = {**os.environ, "_CONVCOST_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": line}
    return subprocess.run(PROGRAM, env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout


def test_commands() -> None:
    assert bash("convcost an") == ["analyze"]
    assert {"analyze", "check", "compare", "ops", "schema", "verify"} <= set(bash("convcost "))


def test_options() -> None:
    assert bash("convcost analyze --for") == ["--format"]
    assert bash("convcost check --base") == ["--baseline"]
    assert set(bash("convcost analyze --format ")) == {"table", "json", "markdown", "csv"}


@pytest.mark.parametrize("line,expected", [
    ("convcost analyze configs/inception_naive_vs_bottleneck.yaml -m ", ["naive", "bottleneck"]),
    ("convcost analyze configs/inception_naive_vs_bottleneck.yaml --model b", ["bottleneck"]),
    ("convcost compare configs/resnet50.yaml configs/resnet18.yaml --budget docs/budgets.yaml -m res", ["resnet50", "resnet18"]),
    ("convcost verify -m na", []),  # no spec on the line yet: nothing to offer, no error
])
def test_model_names_come_from_the_spec_on_the_line(line: str, expected: list[str]) -> None:
    assert bash(line) == expected


def test_op_names() -> None:
    assert bash("convcost ops con") == ["concat", "constant", "conv", "conv_transpose"]
    assert "hardswish" in bash("convcost ops hard") and "relu6" in bash("convcost ops relu")


def test_zsh_gets_the_same() -> None:
    assert '"resnet50"' in zsh("convcost check configs/resnet50.yaml -m res")
    assert '"depthwise"' in zsh("convcost ops dep")


def test_the_install_option_exists() -> None:
    out = subprocess.run([*PROGRAM, "--help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "--install-completion" in out and "--show-completion" in out
