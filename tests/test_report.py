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
from convcost.render.mermaid import auto_depth, label_text, mermaid_flowchart, sanitize_id
from convcost.render.report import ReportOptions, render_report

runner = CliRunner()
MD = MarkdownIt("commonmark").enable("table")

ID = r"[A-Za-z][A-Za-z0-9_]*"
NODE_RE = re.compile(rf'^    ({ID})\["([^"]*)"\]$')
EDGE_RE = re.compile(rf"^    ({ID}) --> ({ID})$")


def mermaid_blocks(markdown: str) -> list[str]:
    return [t.content for t in MD.parse(markdown) if t.type == "fence" and t.info.strip() == "mermaid"]


def check_mermaid(chart: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """A strict reading of the flowchart subset we emit: every line a node or an edge, ids declared once
    before use, labels quoted with no raw quotes, brackets balanced."""
    lines = chart.splitlines()
    assert lines[0] == "flowchart TD"
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str]] = []
    for line in lines[1:]:
        assert line.count("[") == line.count("]") and line.count('"') in (0, 2), line
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
    # totals, comparison (3 tables), and per model: op shares + per-layer table
    assert types.count("table_open") == 1 + 3 + 2 * 2
    html = [t.content for t in tokens if t.type == "html_block"]
    assert sum(b.startswith("<details>") for b in html) == 2 and sum(b.strip() == "</details>" for b in html) == 2
    # the per-layer table sits between <details> and </details>, as a real table (blank lines around it)
    first = types.index("html_block")
    assert types[first + 1] == "table_open"
    assert len(mermaid_blocks(text)) == 2
    # a table row with the exact numbers: 153,600 = 5*5*192*32, 120,422,400 = 28*28*32*5*5*192
    assert "| naive | 1×192×28×28 → 1×32×28×28 | 1 | 153,600 | 120,422,400 (120.42 M) |" in text


def test_rendered_html_has_tables_and_details() -> None:
    html = MD.render(report_of("inception_naive_vs_bottleneck.yaml"))
    assert html.count("<table>") == 8 and html.count("<details>") == 2
    assert '<code class="language-mermaid">' in html
    assert '<td style="text-align:right">−89.7 %</td>' in html  # the bottleneck's MACs change: 12,443,648 / 120,422,400 - 1


@pytest.mark.parametrize("spec", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_every_config_gives_well_formed_mermaid(spec: str) -> None:
    for a in analyze_file(CONFIGS / spec):
        chart, _ = mermaid_flowchart(a)
        nodes, edges = check_mermaid(chart)
        ends = len(a.graph.inputs) + (len(a.graph.outputs) if a.graph.several else 0)  # a box per input, per output
        assert len(nodes) <= 40 + ends  # the automatic depth keeps big nets readable
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
    # depth 2: 4 stem layers + 3+4+6+3 bottleneck blocks + 3 head layers = 23 boxes; depth 3 has more than 40
    assert auto_depth(a.graph) == 2
    assert len(check_mermaid(mermaid_flowchart(a)[0])[0]) == 23 + 1


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
