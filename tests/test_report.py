"""`convcost report`: golden files, markdown that really renders, well-formed mermaid, results sections."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import CONFIGS, ROOT
from golden_files import assert_golden
from markdown_it import MarkdownIt
from typer.testing import CliRunner

from convcost.api import analyze_file
from convcost.cli import app
from convcost.render.mermaid import (
    MAX_HEIGHT_PX,
    auto_depth,
    fitting,
    graph_depth,
    label_text,
    layout,
    mermaid_flowchart,
    sanitize_id,
)
from convcost.render.report import PR_COMMENT_LIMIT, ReportOptions, fitted_report, render_report

runner = CliRunner()
MD = MarkdownIt("commonmark").enable("table")

ID = r"[A-Za-z][A-Za-z0-9_]*"
NODE_RE = re.compile(rf'^    ({ID})\["([^"]*)"\]$')
EDGE_RE = re.compile(rf"^    ({ID}) --> ({ID})$")
CLASSDEF_RE = re.compile(r"^    classDef (macs\d+) fill:#[0-9a-f]{6},stroke:#[0-9a-f]{6}$")
CLASS_RE = re.compile(rf"^    class ({ID}(?:,{ID})*) (macs\d+)$")


def mermaid_blocks(markdown: str) -> list[str]:
    return [t.content for t in MD.parse(markdown) if t.type == "fence" and t.info.strip() == "mermaid"]


def check_mermaid(chart: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """A strict reading of the flowchart subset we emit: every line a node or an edge, ids declared once
    before use, labels quoted with no raw quotes, brackets balanced."""
    lines = chart.splitlines()
    assert lines[0] == "flowchart TD"
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str]] = []
    defined: set[str] = set()
    for line in lines[1:]:
        assert line.count("[") == line.count("]") and line.count('"') in (0, 2), line
        if m := CLASSDEF_RE.match(line):
            defined.add(m.group(1))
            continue
        if m := CLASS_RE.match(line):
            assert m.group(2) in defined and all(n in nodes for n in m.group(1).split(",")), line
            continue
        if m := NODE_RE.match(line):
            assert m.group(1) not in nodes, f"node {m.group(1)} declared twice"
            nodes[m.group(1)] = m.group(2)
            # labels may use <br/> but no other raw markup
            assert "<" not in m.group(2).replace("<br/>", ""), line
        elif m := EDGE_RE.match(line):
            assert m.group(1) in nodes and m.group(2) in nodes, f"edge to an undeclared node: {line}"
            assert m.group(1) != m.group(2)
            edges.append((m.group(1), m.group(2)))
        else:
            raise AssertionError(f"not a node or an edge: {line!r}")
    return nodes, edges


def report_of(*specs: str, **opts: object) -> str:
    analyses = [a for s in specs for a in analyze_file(CONFIGS / s)]
    return render_report(analyses, ReportOptions(**opts))  # type: ignore[arg-type]


def test_golden_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    for name in ("inception_naive_vs_bottleneck", "resnet_bottleneck"):
        result = runner.invoke(app, ["report", f"configs/{name}.yaml"])
        assert result.exit_code == 0, result.output
        assert_golden(f"report_{name}.md", result.stdout)


def test_report_parses_into_the_expected_blocks() -> None:
    text = report_of("inception_naive_vs_bottleneck.yaml")
    tokens = MD.parse(text)
    types = [t.type for t in tokens]
    h = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert h[:4] == ["convcost report", "Totals", "Comparison", "naive"]
    assert "bottleneck" in h and h.count("Layer graph") == 2 and h.count("Cost by op type") == 2
    # totals, comparison (changes, alike blocks), and per model: op shares + per-layer table
    assert types.count("table_open") == 1 + 2 + 2 * 2
    html = [t.content for t in tokens if t.type == "html_block"]
    assert sum(b.startswith("<details>") for b in html) == 2 and sum(b.strip() == "</details>" for b in html) == 2
    # the per-layer table sits between <details> and </details>, as a real table (blank lines around it)
    first = types.index("html_block")
    assert types[first + 1] == "table_open"
    # the models' MACs as a bar chart; each model's layer graph, after a bar chart of its blocks where it has two
    assert [b.split()[0] for b in mermaid_blocks(text)] == ["xychart-beta", "flowchart", "xychart-beta", "flowchart"]
    # the totals in one format, human units, a no-break space between number and unit:
    # 153,600 = 5*5*192*32, 120,422,400 = 28*28*32*5*5*192
    nb = "\u00a0"
    assert f"| naive | 1×192×28×28{nb}→{nb}1×32×28×28 | 1 | 153.60{nb}K | 120.42{nb}M | 240.84{nb}M |" in text
    # the op table in exact integers only
    assert "| conv\u00a05×5 | conv | 1 | 153,600 | 120,422,400 | 240,844,800 |" in text


def test_rendered_html_has_tables_and_details() -> None:
    html = MD.render(report_of("inception_naive_vs_bottleneck.yaml"))
    assert html.count("<table>") == 7 and html.count("<details>") == 2
    assert '<code class="language-mermaid">' in html
    # the bottleneck's MACs change: 12,443,648 / 120,422,400 - 1
    assert '<td style="text-align:right">−89.7\u00a0%</td>' in html


@pytest.mark.parametrize("spec", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_every_config_gives_well_formed_mermaid(spec: str) -> None:
    for a in analyze_file(CONFIGS / spec):
        chart, depth = mermaid_flowchart(a)
        nodes, edges = check_mermaid(chart)
        ends = len(a.graph.inputs) + (len(a.graph.outputs) if a.graph.several else 0)  # a box per input, per output
        assert len(nodes) <= 40 + ends  # the automatic depth keeps big nets readable
        if fitting(a):  # some depth fits: the chart is at most MAX_HEIGHT_PX tall (estimated)
            assert layout(a, depth).height <= MAX_HEIGHT_PX
        reached = {t for _, t in edges}
        assert all(n in reached for n in nodes if not n.startswith("n_input")), "a box without an incoming edge"


def test_residual_edges() -> None:
    a = analyze_file(CONFIGS / "resnet_bottleneck.yaml", ["bottleneck"])[0]
    nodes, edges = check_mermaid(mermaid_flowchart(a)[0])
    # identity shortcut: the block input feeds the add directly; conv1 -> bn1 -> relu1 is the body
    assert ("n_input", "n_block_add1") in edges and ("n_input", "n_block_conv1") in edges
    assert ("n_block_conv1", "n_block_bn1") in edges
    assert nodes["n_block_conv1"].startswith("block.conv1<br/>conv → 64×56×56<br/>51.38 M MACs")  # 56*56*64*256


def test_graph_depth_collapses_blocks() -> None:
    a = analyze_file(CONFIGS / "resnet50.yaml")[0]
    nodes, edges = check_mermaid(mermaid_flowchart(a, 1)[0])
    # conv1, bn1, relu, maxpool, layer1..4, avgpool, flatten, fc and the input
    assert len(nodes) == 12
    assert ("n_layer1", "n_layer2") in edges
    assert "3 bottleneck" not in nodes["n_layer1"]
    # that chain is 12 boxes tall: 29 lines of labels (1 for the input, 3 for a box with MACs, 2 without),
    # 12·30 + 29·24 + 11·50 = 1,606 px estimated, more than MAX_HEIGHT_PX: no depth fits, and the report shows
    # the bar chart instead of the ribbon
    assert layout(a, 1).height == 12 * 30 + 29 * 24 + 11 * 50 > MAX_HEIGHT_PX and auto_depth(a.graph) == 1
    assert graph_depth(a) is None


def test_runs_of_identical_blocks_fold() -> None:
    a = analyze_file(CONFIGS / "resnet50.yaml")[0]
    nodes, edges = check_mermaid(mermaid_flowchart(a, 2)[0])
    # depth 2: 4 stem layers, each stage's first block and the run of the others, 3 head layers, the input
    assert len(nodes) == 4 + 4 * 2 + 3 + 1
    run = nodes["n_layer3_1"]
    # layer3.1 ... layer3.5: 5 identical bottlenecks on 14×14, 196·(1024·256 + 256·256·9 + 256·1024) = 218,365,952
    # MACs each, 1,091,829,760 together (26.7 % of 4,089,184,256)
    assert run.startswith("layer3.1–5 ×5<br/>bottleneck, 10 layers → 1024×14×14<br/>1.09 G MACs (26.7 %)")
    assert ("n_layer3_0", "n_layer3_1") in edges and ("n_layer3_1", "n_layer4_0") in edges
    assert not any(n.startswith("n_layer3_2") for n in nodes)
    # unfolded, every block is its box: 4 + 16 + 3 + the input
    assert len(check_mermaid(mermaid_flowchart(a, 2, fold=False)[0])[0]) == 24


def test_boxes_are_shaded_by_their_share_of_macs() -> None:
    a = analyze_file(CONFIGS / "resnet_bottleneck.yaml", ["bottleneck"])[0]
    chart, _ = mermaid_flowchart(a)
    # conv2: 115,605,504 of 218,365,952 MACs (52.9 %, ≥ 20 %); conv1 and conv3: 51,380,224 each (23.5 %)
    assert "    class n_block_conv1,n_block_conv2,n_block_conv3 macs20" in chart.splitlines()
    assert "macs5" not in chart and "macs1 " not in chart  # the other layers have no MACs: no shade


def test_ids_and_labels_are_sanitized() -> None:
    taken: set[str] = set()
    assert sanitize_id("layer1.0", taken) == "n_layer1_0"
    assert sanitize_id("layer1_0", taken) == "n_layer1_0_2"  # collision gets a suffix
    assert sanitize_id("end", taken) == "n_end"  # mermaid keywords cannot clash with the prefix
    assert sanitize_id("a-b c", taken) == "n_a_b_c"
    assert label_text('say "hi" <b> #1') == "say #quot;hi#quot; #lt;b#gt; #35;1"


def test_output_file_is_written_atomically(tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    out.write_text("old", encoding="utf-8")
    result = runner.invoke(app, ["report", "-o", str(out)])
    assert result.exit_code == 0, result.output
    stdout = runner.invoke(app, ["report"]).stdout
    assert out.read_text(encoding="utf-8") == stdout
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]  # no temporary file left behind


VERIFY = {
    "schema": "convcost.verify/1",
    "ok": False,
    "models": [
        {
            "name": "naive",
            "device": "cpu",
            "batch": 1,
            "mismatches": 1,
            "skipped": {},
            "totals": {
                "params": {"status": "ok", "expected": 153600, "actual": 153600, "reason": ""},
                "fvcore": {"status": "mismatch", "expected": 120422400, "actual": 120422401, "reason": "made up"},
            },
            "layers": [
                {
                    "name": "conv5x5",
                    "op": "conv",
                    "ok": False,
                    "checks": {"fvcore": {"status": "mismatch", "expected": 1, "actual": 2, "reason": "made up"}},
                }
            ],
        }
    ],
}
PROFILE = {
    "schema": "convcost.profile/1",
    "environment": {"torch": "2.x", "device": "cpu", "threads": 2, "dtype": "fp32", "method": "median of 5"},
    "hardware": {"name": "cpu"},
    "models": [
        {
            "name": "naive",
            "memory": {"peak_activation_bytes": 702464, "peak_activation_layer": "conv5x5"},
            "model": {
                "name": "naive",
                "kind": "model",
                "macs": 120422400,
                "roofline": {"ideal_s": 0.0015, "bound": "compute"},
                "measured": {"median_s": 0.06},
                "roofline_pct": 2.5,
            },
            "blocks": [],
        }
    ],
}


def test_verify_and_profile_sections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("v.json").write_text(json.dumps(VERIFY), encoding="utf-8")
    Path("p.json").write_text(json.dumps(PROFILE), encoding="utf-8")
    result = runner.invoke(app, ["report", "-m", "naive", "-m", "bottleneck", "--verify", "v.json", "--profile", "p.json"])
    assert result.exit_code == 0, result.output
    assert_golden("report_with_results.md", result.stdout)
    tokens = MD.parse(result.stdout)
    h = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert "Cross-check (verify)" in h and "Profile" in h
    assert "| fvcore | ❌ mismatch | 120,422,400 | 120,422,401 | made up |" in result.stdout
    assert "| naive | model | 120,422,400 | 60 ms | 1.5 ms | compute | 2.5 % |" in result.stdout


def test_unknown_result_layout_falls_back_to_generic(tmp_path: Path) -> None:
    doc = {"schema": "convcost.verify/2", "summary": {"ok": True}, "rows": [{"a": 1, "b": {"c": [1, 2]}}]}
    (tmp_path / "v.json").write_text(json.dumps(doc), encoding="utf-8")
    result = runner.invoke(app, ["report", "--verify", str(tmp_path / "v.json")])
    assert result.exit_code == 0, result.output
    assert "| a | b.c |" in result.stdout and "| 1 | 1×2 |" in result.stdout
    assert "- **ok**: yes" in result.stdout


@pytest.mark.parametrize(
    ("args", "files", "needle"),
    [
        (["--verify", "v.json"], {"v.json": '{"schema": "convcost.analyze/1"}'}, "v.json:1:1: expected a 'convcost.verify/N'"),
        (["--profile", "p.json"], {"p.json": "[1,"}, "p.json:1:4: result is not valid JSON"),
        (["--verify", "v.json"], {"v.json": '{"schema": "convcost.verify/1", "models": 5}'},
         "v.json:1:1: a 'convcost.verify/1' document needs a 'models' list of results, each with a 'name'"),
        (["--profile", "missing.json"], {}, "missing.json: no such file"),
        (["-o", "no/such/dir/r.md"], {}, "no/such/dir/r.md: cannot write"),
        (["-m", "nope"], {}, "no model 'nope'"),
        (["--graph-depth", "0"], {}, "--graph-depth"),
    ],
)
def test_bad_input_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], files: dict[str, str], needle: str
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        Path(name).write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["report", *args])
    assert result.exit_code == 2, result.output
    assert needle in result.output and "Traceback" not in result.output


def test_results_of_other_models_are_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    doc = {"schema": "convcost.verify/1", "ok": True, "models": [{"name": "resnet18", "ok": True, "layers": []}]}
    Path("v.json").write_text(json.dumps(doc), encoding="utf-8")
    result = runner.invoke(app, ["report", "--verify", "v.json"])  # the built-in example: naive, bottleneck
    assert result.exit_code == 0, result.output
    assert "v.json: warning: results for 'resnet18', not among this report's models" in result.stderr


@pytest.mark.parametrize("spec", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_every_config_report_fits_a_pull_request_comment(spec: str) -> None:
    """The default report of each config stays under 65,536 characters (benchmarks/render_reports.py renders them
    in a real browser); the size is measured in characters, as GitHub counts them."""
    text, _warnings = fitted_report(analyze_file(CONFIGS / spec), ReportOptions())
    assert len(text) <= PR_COMMENT_LIMIT and PR_COMMENT_LIMIT == 65_536


def test_a_long_report_is_shortened_with_a_warning() -> None:
    analyses = [a for s in ("resnet50.yaml", "resnet18.yaml", "mobilenet_v2.yaml", "googlenet.yaml")
                for a in analyze_file(CONFIGS / s)]
    whole = render_report(analyses, ReportOptions())
    assert len(whole) > PR_COMMENT_LIMIT  # four nets with every layer: more than a comment holds
    text, warnings = fitted_report(analyses, ReportOptions())
    assert len(text) <= PR_COMMENT_LIMIT
    assert len(warnings) == 1 and f"report: {len(whole):,} characters is more than 65,536" in warnings[0]
    assert "non-zero rows" in warnings[0] and "those with params or MACs" in text
    # a tiny limit: the shortest form, and a warning that it still does not fit
    text, warnings = fitted_report(analyses, ReportOptions(max_chars=1_000))
    assert "even in its shortest form" in warnings[0] and "<details>" not in text
    result = runner.invoke(app, ["report", *(str(CONFIGS / s) for s in ("resnet50.yaml", "resnet18.yaml",
                                 "mobilenet_v2.yaml", "googlenet.yaml"))])
    assert result.exit_code == 0 and "warning: report: " in result.stderr
    assert len(result.stdout) <= PR_COMMENT_LIMIT


def test_charts_dir_embeds_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["report", "--charts", "charts"])  # the built-in example: naive, bottleneck
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "charts").iterdir()) == ["bottleneck.svg", "comparison.svg", "naive.svg"]
    assert "![the models side by side](charts/comparison.svg)" in result.stdout
    assert "](charts/naive.svg)" in result.stdout and "xychart-beta" not in result.stdout


def test_only_identical_blocks_fold() -> None:
    from conftest import analysis_of

    a = analysis_of(
        "blocks:\n  unit:\n    params: {c: ~}\n    layers:\n      - conv: {out: $c, kernel: 3, padding: 1}\n      - relu\n"
        "input: [8, 16, 16]\nlayers:\n"
        "  - unit: {name: same, c: 8, repeat: 3}\n"
        "  - unit: {name: growing, c: '${8 * (i + 1)}', repeat: 3}\n"
    )
    nodes, _ = check_mermaid(mermaid_flowchart(a, 2)[0])
    # same.0 ... same.2: 8→8 channels each, 16·16·8·8·9 = 147,456 MACs: one box for the three
    assert nodes["n_same_0"].startswith("same.0–2 ×3<br/>unit, 2 layers → 8×16×16<br/>442.37 K MACs")
    # growing.0 ... growing.2 make 8, 16 and 24 channels: alike in kind, not in cost, so three boxes
    assert [n for n in nodes if n.startswith("n_growing")] == ["n_growing_0", "n_growing_1", "n_growing_2"]


def test_the_commands_default_limit_is_the_renderers() -> None:
    from convcost.commands.report import MAX_CHARS

    assert MAX_CHARS == PR_COMMENT_LIMIT
