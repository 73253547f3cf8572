"""`convcost analyze` through the CLI: formats, depth, the built-in example."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

from conftest import CONFIGS
from typer.testing import CliRunner
from workmeter import HANG_GUARD_S

from convcost.cli import app

runner = CliRunner()


def test_default_example_shows_the_seed_question() -> None:
    result = runner.invoke(app, ["analyze"], terminal_width=140)
    assert result.exit_code == 0, result.output
    assert "120.42 M" in result.stdout and "(120,422,400)" in result.stdout  # 28*28*32 * 5*5*192
    assert "12.44 M" in result.stdout and "(12,443,648)" in result.stdout  # 2,408,448 + 10,035,200
    assert "built-in example" in result.stdout


def test_json_is_exact_and_stable() -> None:
    result = runner.invoke(app, ["analyze", "-f", "json", "--model", "bottleneck"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["schema"] == "convcost.analyze/1"
    (m,) = doc["models"]
    assert m["name"] == "bottleneck"
    assert m["input"] == [1, 192, 28, 28]
    assert m["output"] == [1, 32, 28, 28]
    assert m["totals"]["macs"] == 12_443_648
    assert m["totals"]["flops"] == 2 * 12_443_648  # no bias, no other ops
    assert [layer["name"] for layer in m["layers"]] == ["reduce1x1", "conv5x5"]
    assert m["layers"][1]["inputs"] == ["reduce1x1"]
    assert m["layers"][0]["inputs"] == ["input"]
    assert set(m["layers"][0]) >= {"name", "op", "category", "scope", "inputs", "output_shape", "params", "macs"}


def test_csv_rows_are_exact() -> None:
    result = runner.invoke(app, ["analyze", str(CONFIGS / "grouped_conv.yaml"), "-f", "csv", "-m", "grouped"])
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows == [rows[0]] and rows[0]["layer"] == "group_conv"
    assert int(rows[0]["params"]) == 64 * 16 * 9 + 64
    assert int(rows[0]["macs"]) == 32 * 32 * 64 * 16 * 9


def test_markdown_table() -> None:
    result = runner.invoke(app, ["analyze", str(CONFIGS / "inception_a.yaml"), "-f", "markdown"])
    assert result.exit_code == 0
    md = result.stdout
    assert md.startswith("## inception_a\n")
    assert "| layer | op | output | params | MACs | % MACs |" in md
    assert "**branch5x5**" in md


def test_depth_collapses_blocks() -> None:
    full = runner.invoke(app, ["analyze", str(CONFIGS / "googlenet_inception3a.yaml")], terminal_width=160)
    top = runner.invoke(app, ["analyze", str(CONFIGS / "googlenet_inception3a.yaml"), "--depth", "1"], terminal_width=160)
    assert full.exit_code == top.exit_code == 0
    assert "branch2" in full.stdout and "branch2" not in top.stdout
    assert "inception3a ▸" in top.stdout
    assert "128.05 M" in top.stdout  # 784 * 163,328 MACs, the block's subtotal


def test_batch_override_scales_macs() -> None:
    result = runner.invoke(app, ["analyze", "-f", "json", "-m", "naive", "--batch", "4"])
    assert json.loads(result.stdout)["models"][0]["totals"]["macs"] == 4 * 120_422_400


def test_bad_option_is_usage_error() -> None:
    result = runner.invoke(app, ["analyze", "--format", "xml"])
    assert result.exit_code == 2


def test_python_dash_m_and_no_torch_on_the_analytic_path() -> None:
    code = (
        "import sys, runpy; sys.argv=['convcost','analyze','-f','json']\n"
        "try:\n    runpy.run_module('convcost', run_name='__main__')\nexcept SystemExit as e:\n    assert not e.code\n"
        "bad = [m for m in ('torch', 'fvcore') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert proc.returncode == 0, proc.stderr
    assert '"macs": 120422400' in proc.stdout


def test_ops_lists_the_whole_registry() -> None:
    from convcost.ops import REGISTRY
    from convcost.ops.macros import MACROS

    result = runner.invoke(app, ["ops"])
    assert result.exit_code == 0
    listed = {line.split()[0] for line in result.stdout.splitlines()[2:] if "│" in line}
    assert listed == set(REGISTRY) | set(MACROS)


def test_spec_from_standard_input() -> None:
    spec = "input: [192, 28, 28]\nlayers:\n  - conv: {out: 32, kernel: 5, padding: same}\n"
    result = CliRunner().invoke(app, ["analyze", "-", "-f", "json"], input=spec)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["models"][0]["totals"]["macs"] == 28 * 28 * 32 * 5 * 5 * 192
    assert doc["models"][0]["file"] == "<stdin>"
    bad = CliRunner().invoke(app, ["analyze", "-"], input="input: [3, 8, 8]\nlayers: [relux]\n")
    assert bad.exit_code == 2
    assert bad.stderr.strip() == "<stdin>:2:10: unknown op 'relux' (did you mean 'relu'?)"
