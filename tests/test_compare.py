"""`convcost compare`: totals against the first, bar chart, per-block alignment, formats, exit codes."""

from __future__ import annotations

import io
import json

import pytest
from conftest import CONFIGS, ROOT
from golden_files import assert_golden
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from typer.testing import CliRunner

from convcost.cli import app
from convcost.costmodel.compare import labels_for, load_analyses, make_comparison, merged_order
from convcost.render.compare_out import bar, fmt_change, fmt_factor, print_comparison

runner = CliRunner()

NAIVE_MACS = 28 * 28 * 32 * 5 * 5 * 192  # 120,422,400
BOTTLENECK_MACS = 28 * 28 * 16 * 192 + 28 * 28 * 32 * 5 * 5 * 16  # 2,408,448 + 10,035,200 = 12,443,648


def test_seed_question_headline() -> None:
    result = runner.invoke(app, ["compare"], terminal_width=100)
    assert result.exit_code == 0, result.output
    # (12,443,648 - 120,422,400) / 120,422,400 = -89.67 %;  120,422,400 / 12,443,648 = 9.677
    assert "bottleneck: 12.44 M MACs, −89.7 % against naive (9.68× fewer)" in result.stdout
    assert "per block (depth 1), MACs" in result.stdout


def test_json_numbers_and_alignment() -> None:
    result = runner.invoke(app, ["compare", "-f", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["schema"] == "convcost.compare/2" and doc["baseline"] == "naive"
    naive, bott = doc["models"]
    assert naive["totals"]["macs"] == NAIVE_MACS and bott["totals"]["macs"] == BOTTLENECK_MACS
    assert naive["change_pct"]["macs"] == 0
    assert bott["change_pct"]["macs"] == pytest.approx(100 * (BOTTLENECK_MACS - NAIVE_MACS) / NAIVE_MACS)
    # params: 5*5*192*32 = 153,600 vs 192*16 + 16*5*5*32 = 15,872
    assert bott["change_pct"]["params"] == pytest.approx(100 * (15_872 - 153_600) / 153_600)
    # only alike blocks are rows: conv5x5 (a conv making 32×28×28 in both); reduce1x1 has no counterpart
    rows = doc["blocks"]["rows"]
    assert [(r["name"], r["kind"], r["output"]) for r in rows] == [("conv5x5", "conv", [32, 28, 28])]
    naive_conv, bott_conv = rows[0]["models"]
    assert naive_conv["totals"]["macs"] == NAIVE_MACS and bott_conv["totals"]["macs"] == 28 * 28 * 32 * 5 * 5 * 16
    assert naive_conv["inputs"] == [[192, 28, 28]] and bott_conv["inputs"] == [[16, 28, 28]]
    assert doc["blocks"]["unmatched"] == {"bottleneck": ["reduce1x1"]}
    assert doc["outputs_differ"] == []
    assert doc["models"][1]["output_shapes"] == [[1, 32, 28, 28]]


def test_model_order_sets_the_baseline() -> None:
    result = runner.invoke(app, ["compare", "-m", "bottleneck", "-m", "naive", "-f", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["baseline"] == "bottleneck"
    # (120,422,400 - 12,443,648) / 12,443,648 = +867.7 %
    assert doc["models"][1]["change_pct"]["macs"] == pytest.approx(100 * (NAIVE_MACS - BOTTLENECK_MACS) / BOTTLENECK_MACS)


def test_several_files_qualify_clashing_names() -> None:
    files = [str(CONFIGS / "resnet_bottleneck.yaml"), str(CONFIGS / "inception_naive_vs_bottleneck.yaml")]
    result = runner.invoke(app, ["compare", *files, "-m", "bottleneck", "-f", "json"])
    assert result.exit_code == 0, result.output
    labels = [m["label"] for m in json.loads(result.stdout)["models"]]
    assert labels == ["resnet_bottleneck:bottleneck", "inception_naive_vs_bottleneck:bottleneck"]
    # the ResNet block: 56*56*(256*64 + 64*64*9 + 64*256) = 218,365,952
    assert json.loads(result.stdout)["models"][0]["totals"]["macs"] == 218_365_952


def test_blocks_align_by_name_across_files() -> None:
    comp = make_comparison(load_analyses([str(CONFIGS / "resnet50.yaml"), str(CONFIGS / "resnext50_32x4d.yaml")], None, None))
    entries, rows, unmatched = comp.alike_blocks(1)
    assert unmatched == {}  # the same stages, block for block
    assert len(entries) == 2
    names = [r.name for r in rows]
    for n in ("conv1", "layer1", "layer2", "layer3", "layer4", "fc"):
        assert n in names
    conv1 = next(r for r in rows if r.name == "conv1")
    assert conv1.costs[0] is not None and conv1.costs[1] is not None
    assert conv1.costs[0].macs == conv1.costs[1].macs == 112 * 112 * 64 * 3 * 7 * 7  # 118,013,952, same stem
    fc = next(r for r in rows if r.name == "fc")
    assert fc.costs[0] is not None and fc.costs[0].params == 2048 * 1000 + 1000


def test_no_alike_blocks_is_said_plainly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "clash.yaml").write_text(CLASH, encoding="utf-8")
    # naive: one conv making 32×28×28; unpadded: convs making 16×28×28 and 32×24×24: no output alike
    result = runner.invoke(app, ["compare", str(tmp_path / "clash.yaml"), "-m", "naive", "-m", "unpadded", "-d", "2"],
                           terminal_width=100)
    assert result.exit_code == 0, result.output
    assert "no alike blocks (same kind and output shape) at depth 2" in result.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["compare", "-m", "naive"], "at least two models"),
        (["compare", "-m", "bottlenek", "-m", "naive"], "did you mean 'bottleneck'"),
        (["compare", "nonexistent.yaml", "x.yaml"], "nonexistent.yaml: no such file"),
        (["compare", "--metric", "joules"], "joules"),
        (["compare", "-d", "0"], "--depth"),
    ],
)
def test_bad_input_exits_2(args: list[str], needle: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert needle in result.output
    assert "Traceback" not in result.output


def test_formatting_helpers() -> None:
    assert fmt_change(-89.666) == "−89.7 %" and fmt_change(3) == "+3.0 %" and fmt_change(0.01) == "±0.0 %"
    assert fmt_change(None) == "n/a"
    assert fmt_factor(10, 100) == "10.00× fewer" and fmt_factor(300, 100) == "3.00× more"
    assert fmt_factor(5, 5) == "the same"
    assert bar(50, 100, 4) == "██"  # half of 4 cells = 16 eighths = 2 full blocks
    assert bar(3, 8, 1) == "▍"  # 3/8 of one cell
    assert bar(1, 1000, 40) == "▏"  # tiny but nonzero values stay visible
    assert bar(0, 1000, 40) == ""
    assert merged_order([["b"], ["a", "b", "c"], ["d"]]) == ["a", "b", "c", "d"]


def test_labels_only_qualify_duplicates() -> None:
    analyses = load_analyses(
        [str(CONFIGS / "inception_naive_vs_bottleneck.yaml"), str(CONFIGS / "resnet_bottleneck.yaml")], None, None
    )
    assert labels_for(analyses) == [
        "naive",
        "inception_naive_vs_bottleneck:bottleneck",
        "resnet_bottleneck:bottleneck",
        "plain",
    ]


def test_golden_terminal_and_markdown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    comp = make_comparison(load_analyses(["configs/inception_naive_vs_bottleneck.yaml"], None, None))
    buf = io.StringIO()
    print_comparison(Console(file=buf, width=100, color_system=None, highlight=False), comp)
    assert_golden("compare_inception.txt", buf.getvalue())
    result = runner.invoke(app, ["compare", "configs/inception_naive_vs_bottleneck.yaml", "-f", "markdown"])
    assert result.exit_code == 0, result.output
    assert_golden("compare_inception.md", result.stdout)


def _merged_order_reference(lists: list[list[str]]) -> list[str]:
    """The rule of merged_order, written plainly with list searches (quadratic; the oracle)."""
    order: list[str] = []
    for names in lists:
        for k, name in enumerate(names):
            if name in order:
                continue
            if k and names[k - 1] in order:
                order.insert(order.index(names[k - 1]) + 1, name)
                continue
            later = [n for n in names[k + 1:] if n in order]
            order.insert(order.index(later[0]) if later else len(order), name)
    return order


@given(st.lists(st.lists(st.sampled_from("abcdefghij"), unique=True, max_size=8), max_size=5))
def test_merged_order_matches_the_plain_rule(lists: list[list[str]]) -> None:
    assert merged_order(lists) == _merged_order_reference(lists)


def test_piped_table_is_not_cut_at_80_columns() -> None:
    # two models named 'bottleneck' get long labels ('inception_naive_vs_bottleneck:bottleneck')
    specs = [str(CONFIGS / "inception_naive_vs_bottleneck.yaml"), str(CONFIGS / "resnet_bottleneck.yaml")]
    result = runner.invoke(app, ["compare", *specs])
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    assert "inception_naive_vs_bottleneck:bottleneck │" in result.stdout and "activations" in result.stdout


def test_device_is_checked_and_needs_profile() -> None:
    tpu = runner.invoke(app, ["compare", "--profile", "--device", "tpu"])
    assert tpu.exit_code == 2 and "'tpu' is not one of 'cpu', 'cuda'" in tpu.output
    alone = runner.invoke(app, ["compare", "--device", "cuda"])
    assert alone.exit_code == 2 and "--device cuda times the models: it needs --profile" in alone.stderr


# Two nets whose generated names clash: 'conv1' is a 5×5 conv 192→32 in one and a 1×1 conv 192→16 in the other.
CLASH = """
models:
  naive:
    input: [192, 28, 28]
    layers:
      - conv: {out: 32, kernel: 5, padding: 2, bias: false}
  reduced:
    input: [192, 28, 28]
    layers:
      - conv: {out: 16, kernel: 1, bias: false}
      - conv: {out: 32, kernel: 5, padding: 2, bias: false}
  unpadded:
    input: [192, 28, 28]
    layers:
      - conv: {out: 16, kernel: 1, bias: false}
      - conv: {out: 32, kernel: 5, bias: false}
"""


def test_blocks_pair_by_structure_not_generated_names(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "clash.yaml").write_text(CLASH, encoding="utf-8")
    comp = make_comparison(load_analyses([str(tmp_path / "clash.yaml")], ["naive", "reduced"], None))
    _, rows, unmatched = comp.alike_blocks(1)
    # naive's conv1 (5×5 → 32×28×28) pairs with reduced's conv2 (5×5 → 32×28×28), not with its conv1 (→ 16×28×28):
    # 28·28·32·5·5·192 = 120,422,400 against 28·28·32·5·5·16 = 10,035,200 (−91.7 %), never "−98.0 %" (2,408,448)
    assert len(rows) == 1 and rows[0].name == "conv1"
    naive_block, reduced_block = rows[0].blocks
    assert reduced_block is not None and reduced_block.name == "conv2"
    assert (naive_block.cost.macs, reduced_block.cost.macs) == (120_422_400, 10_035_200)
    assert unmatched == {"reduced": ["conv1"]}
    result = runner.invoke(app, ["compare", str(tmp_path / "clash.yaml"), "-m", "naive", "-m", "reduced"])
    assert "−91.7 %" in result.stdout and "as conv2" in result.stdout and "−98.0 %" not in result.stdout


def test_outputs_that_differ_are_warned_about(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "clash.yaml").write_text(CLASH, encoding="utf-8")
    # the 5×5 conv without padding makes 24×24 (28 - 5 + 1): fewer MACs only because the output is smaller
    result = runner.invoke(app, ["compare", str(tmp_path / "clash.yaml"), "-m", "reduced", "-m", "unpadded"])
    assert result.exit_code == 0, result.output
    assert "warning: outputs differ from reduced's" in result.stdout and "1×32×24×24" in result.stdout
    md = runner.invoke(app, ["compare", str(tmp_path / "clash.yaml"), "-m", "reduced", "-m", "unpadded", "-f", "markdown"])
    assert "> **Warning:** outputs differ" in md.stdout
    doc = json.loads(runner.invoke(app, ["compare", str(tmp_path / "clash.yaml"), "-m", "reduced", "-m", "unpadded",
                                         "-f", "json"]).stdout)
    assert doc["outputs_differ"] == ["unpadded"]
    # the 5×5 convs differ in output (32×28×28 against 32×24×24): not alike, not compared; the 1×1 convs are
    assert [r["name"] for r in doc["blocks"]["rows"]] == ["conv1"]
