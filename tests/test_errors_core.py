"""The core's errors: compiler-style file:line:col messages and exit code 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from convcost.cli import app

CASES = [
    (
        "groups",
        "input: [64, 8, 8]\nlayers:\n  - conv: {out: 64, kernel: 3, groups: 5}\n",
        "spec.yaml:3:40: conv 'conv1': groups=5 must divide in_channels=64",
    ),
    (
        "kernel",
        "input: [3, 4, 4]\nlayers:\n  - conv: {out: 8, kernel: 5, padding: 0}\n",
        "spec.yaml:3:28: conv 'conv1': kernel 5 is larger than the padded input H=4 (4 + 2·0)",
    ),
    (
        "dilated-kernel",
        "input: [3, 7, 7]\nlayers:\n  - conv: {out: 8, kernel: 3, dilation: 4}\n",
        "spec.yaml:3:28: conv 'conv1': kernel 3 (dilated to 9) is larger than the padded input H=7 (7 + 2·0)",
    ),
    (
        "zero-size",
        "input: [3, 0, 7]\nlayers: [relu]\n",
        "spec.yaml:1:12: input size must be a positive integer, got 0",
    ),
    (
        "float-size",
        "input: [3, 7, 7]\nlayers:\n  - conv: {out: 2.5, kernel: 3}\n",
        "spec.yaml:3:17: conv 'conv1': 'out' must be a positive integer, got 2.5",
    ),
    (
        "stride-zero",
        "input: [3, 7, 7]\nlayers:\n  - conv: {out: 4, kernel: 3, stride: 0}\n",
        "spec.yaml:3:39: conv 'conv1': 'stride' must be a positive integer, got 0",
    ),
    (
        "unknown-op",
        "input: [3, 7, 7]\nlayers:\n  - conv: {out: 4, kernel: 3}\n  - rleu\n",
        "spec.yaml:4:5: unknown op 'rleu' (did you mean 'relu'?)",
    ),
    (
        "unknown-arg",
        "input: [3, 7, 7]\nlayers:\n  - conv: {out: 4, kernal: 3}\n",
        "spec.yaml:3:20: unknown key 'kernal' in 'conv' (did you mean 'kernel'?); expected one of: out, kernel, "
        "stride, padding, dilation, groups, bias, weight, eps, gamma, name, repeat, when, first, frozen, torch, each, "
        "scope, from",
    ),
    (
        "concat-hw",
        "input: [3, 8, 8]\nlayers:\n  - concat:\n      - [conv: {out: 4, kernel: 1}]\n"
        "      - [maxpool: {kernel: 2}]\n",
        "spec.yaml:3:5: concat 'concat1': cannot concat branch 1 (4×8×8) with branch 2 (3×4×4): "
        "all branches must have the same H×W",
    ),
    (
        "residual-shape",
        "input: [3, 8, 8]\nlayers:\n  - residual: [conv: {out: 4, kernel: 1}]\n",
        "spec.yaml:3:5: add 'add1': cannot add branch 1 (4×8×8) and branch 2 (3×8×8): shapes must be equal; "
        "add a projection shortcut",
    ),
    (
        "missing-input",
        "layers: [relu]\n",
        "spec.yaml:1:1: model 'spec' has no 'input' shape; add e.g. 'input: [3, 224, 224]' (C, H, W)",
    ),
    (
        "missing-arg",
        "input: [3, 8, 8]\nlayers:\n  - conv: {out: 4}\n",
        "spec.yaml:3:5: conv 'conv1': missing required argument 'kernel'",
    ),
    (
        "linear-needs-flat",
        "input: [3, 8, 8]\nlayers:\n  - linear: {out: 4}\n",
        "spec.yaml:3:5: linear 'linear1': linear needs a flat input, got 3×8×8; add 'flatten' (or a global pool) "
        "before it",
    ),
    (
        "self-reference",
        "blocks:\n  a:\n    layers: [b]\n  b:\n    layers: [a]\ninput: [3, 8, 8]\nlayers: [a]\n",
        "spec.yaml:5:14: block 'a' uses itself (a → b → a); a block can call itself only behind a 'when:' guard that "
        "stops it",
    ),
    (
        "yaml-syntax",
        "input: [3, 8, 8\nlayers: [relu]\n",
        "spec.yaml:2:7: YAML syntax error: expected ',' or ']', but got ':'"
        " (while parsing a flow sequence that starts at line 1, column 8)",
    ),
    (
        "undefined-var",
        "input: [3, 8, 8]\nlayers:\n  - conv: {out: $widht, kernel: 1}\n",
        "spec.yaml:3:17: unknown variable 'widht' (did you mean 'in_width'?); defined here: in_channels, in_height, in_width",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_spec_message_and_exit_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: tuple[str, str, str]) -> None:
    _, text, expected = case
    monkeypatch.chdir(tmp_path)
    Path("spec.yaml").write_text(text)
    result = CliRunner().invoke(app, ["analyze", "spec.yaml"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == expected
    assert "Traceback" not in result.output


def test_unknown_model_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["analyze", "--model", "naiv"])
    assert result.exit_code == 2
    assert "no model 'naiv' (did you mean 'naive'?)" in result.stderr


def test_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["analyze", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"{tmp_path / 'nope.yaml'}: no such file"
