"""Charts: what matplotlib's figure objects hold (Agg backend, never pixels), the files, the message without
matplotlib; `analyze --by/--top`, the CSV's shapes."""

from __future__ import annotations

import builtins
import csv
import io
from pathlib import Path

import pytest
from conftest import CONFIGS
from typer.testing import CliRunner

from convcost.api import analyze_file
from convcost.cli import app
from convcost.costmodel.compare import load_analyses, make_comparison
from convcost.costmodel.roofline import resolve_profile
from convcost.costmodel.sweep import Axis, run_sweep
from convcost.frontend.spec import load_spec
from convcost.render.chart import analysis_figure, comparison_figure, sweep_figure
from convcost.render.sweep_out import mark_front, parse_objectives

matplotlib = pytest.importorskip("matplotlib")
runner = CliRunner()
BOTTLENECK = str(CONFIGS / "inception_naive_vs_bottleneck.yaml")


def widths(ax) -> list[list[float]]:  # type: ignore[no-untyped-def]
    return [[round(p.get_width(), 2) for p in c.patches] for c in ax.containers]


def heights(ax) -> list[list[float]]:  # type: ignore[no-untyped-def]
    return [[p.get_height() for p in c.patches] for c in ax.containers]


def test_analysis_figure_shows_where_macs_and_params_go() -> None:
    a = analyze_file(CONFIGS / "resnet_bottleneck.yaml", ["bottleneck"])[0]
    fig = analysis_figure([a], depth=2)
    blocks, ops = fig.axes
    assert [t.get_text() for t in blocks.get_yticklabels()][:3] == ["block.conv1", "block.bn1", "block.relu1"]
    # shares of MACs: conv1 and conv3 56·56·64·256 = 51,380,224, conv2 56·56·64·64·9 = 115,605,504 of 218,365,952
    macs, params = widths(blocks)
    names = [t.get_text() for t in blocks.get_yticklabels()]
    assert macs[names.index("block.conv2")] == round(100 * 115_605_504 / 218_365_952, 2) == 52.94
    # params: conv2 holds 64·64·9 = 36,864 of 70,400
    assert params[names.index("block.conv2")] == round(100 * 36_864 / 70_400, 2)
    op_names = [t.get_text() for t in ops.get_yticklabels()]
    assert op_names[:2] == ["conv 3×3", "conv 1×1"]  # 115.6 M before 2·51.4 M = 102.8 M
    assert widths(ops)[0][:2] == [52.94, round(100 * 2 * 51_380_224 / 218_365_952, 2)]
    assert [lg.get_text() for lg in blocks.get_legend().get_texts()] == ["% of MACs", "% of params"]


def test_comparison_figure_has_bars_per_model_and_per_alike_block() -> None:
    comp = make_comparison(load_analyses([BOTTLENECK], None, None))
    fig = comparison_figure(comp)
    per_model = next(ax for ax in fig.axes if ax.get_title() == "MACs")
    assert heights(per_model) == [[120_422_400, 12_443_648]]  # 28·28·32·5·5·192; + 28·28·16·192
    per_block = next(ax for ax in fig.axes if ax.get_title().startswith("MACs per block"))
    assert [t.get_text() for t in per_block.get_xticklabels()] == ["conv5x5"]  # the only alike block
    assert heights(per_block) == [[120_422_400], [10_035_200]]  # naive's, bottleneck's (28·28·32·5·5·16)


def test_sweep_figure_lines_and_front() -> None:
    spec = load_spec(CONFIGS / "mobilenet_v2.yaml")
    axes = (Axis("width", (0.5, 1.0)), Axis("input", ((96,), (224,))))
    result, _ = run_sweep(spec, ["mobilenet_v2"], axes, resolve_profile("cpu"))
    objectives = parse_objectives("macs,input", ["width", "input"])
    marks = mark_front(result, objectives)
    fig = sweep_figure(result, marks, objectives)
    against_width, against_input, scatter = fig.axes
    assert against_width.get_xlabel() == "width" and against_input.get_xlabel() == "input"
    # MACs against input, one line per width: width 1.0 at 96 and 224 is 56,289,152 and 300,774,272 (docs/nets.md's
    # torchvision count at 224; tests/test_sweep.py checks the whole grid against the pipeline)
    line = next(ln for ln in against_input.get_lines() if ln.get_label() == "width=1.0")
    assert list(line.get_xdata()) == [96, 224] and list(line.get_ydata()) == [56_289_152, 300_774_272]
    # the front of (min MACs, max input): the cheaper width at each size
    front = next(ln for ln in scatter.get_lines() if ln.get_label() == "Pareto front")
    assert list(front.get_xdata()) == sorted(p.cost.macs for p, m in zip(result.points, marks) if m)
    assert [p.values[0] for p, m in zip(result.points, marks) if m] == [0.5, 0.5]


@pytest.mark.parametrize(
    "command",
    [["analyze", BOTTLENECK], ["compare", BOTTLENECK], ["sweep", BOTTLENECK, "--set", "input=14,28"]],
)
@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_plot_writes_the_file(tmp_path: Path, command: list[str], suffix: str) -> None:
    out = tmp_path / f"chart.{suffix}"
    result = runner.invoke(app, [*command, "--plot", str(out)])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG") if suffix == "png" else b"<svg" in data[:2000]
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left


def test_plot_needs_png_or_svg(tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyze", "--plot", str(tmp_path / "chart.pdf")])
    assert result.exit_code == 2 and "must end in .png or .svg" in result.output


def test_without_matplotlib_a_clear_message_and_exit_2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    for command in (["analyze", "--plot", "a.png"], ["compare", "--plot", "c.svg"], ["sweep", "--plot", "s.png"],
                    ["report", "--charts", str(tmp_path / "charts")]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, (command, result.output)
        assert "matplotlib, which is not installed" in result.output and "pip install 'convcost[plot]'" in result.output
    assert not (tmp_path / "charts").exists()


# ---- analyze --by / --top, CSV -------------------------------------------------------------------------
def test_by_op_splits_convs_by_kind() -> None:
    result = runner.invoke(app, ["analyze", str(CONFIGS / "depthwise_separable.yaml"), "-m", "separable", "--by", "op"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    # depthwise 3×3 on 64 channels at 32×32: 32·32·64·9 = 589,824; pointwise 64→128: 32·32·128·64 = 8,388,608
    point = next(ln for ln in lines if ln.startswith("conv 1×1 "))
    depth = next(ln for ln in lines if ln.startswith("conv 3×3 depthwise"))
    assert "8.39 M" in point and "93.4%" in point  # 8,388,608 / 8,978,432
    assert "589.82 K" in depth and "6.6%" in depth
    assert lines.index(point) < lines.index(depth)  # most MACs first


def test_top_lists_the_heaviest_layers_with_bars() -> None:
    result = runner.invoke(app, ["analyze", str(CONFIGS / "resnet50.yaml"), "--top", "2"])
    assert result.exit_code == 0, result.output
    rows = [ln for ln in result.stdout.splitlines() if "│" in ln and not ln.startswith("layer ")]
    # conv1: 112·112·64·3·7·7 = 118,013,952, then a 3×3 conv2 of 115,605,504 (56·56·64·64·9 and its peers)
    assert rows[0].startswith("conv1 ") and "118.01 M" in rows[0] and rows[0].rstrip().endswith("▊")
    assert "115.61 M" in rows[1]
    assert "the 2 heaviest of 175" in result.stdout and "… 173 more" in result.stdout
    md = runner.invoke(app, ["analyze", str(CONFIGS / "resnet50.yaml"), "--by", "block", "--top", "1", "-f", "markdown"])
    # layer3: 1,464,336,384 MACs (README's check example), 35.8 % of 4,089,184,256
    assert "| layer3 | bottleneck ×6 | 1024×14×14 | 62 | 7,098,368 | 1,464,336,384 | 35.8% |" in md.stdout


def test_by_and_top_shape_only_table_and_markdown() -> None:
    result = runner.invoke(app, ["analyze", "--top", "3", "-f", "json"])
    assert result.exit_code == 2 and "--by and --top shape the table and markdown" in result.output


def test_csv_shapes_use_an_ascii_x() -> None:
    result = runner.invoke(app, ["analyze", BOTTLENECK, "-f", "csv"])
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["output_shape"] for r in rows] == ["32x28x28", "16x28x28", "32x28x28"]
    assert "×" not in result.stdout
    vit = runner.invoke(app, ["analyze", str(CONFIGS / "vit_b_16.yaml"), "-f", "csv"]).stdout
    assert "197tokx768" in vit and "×" not in vit
