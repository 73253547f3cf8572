"""The markdown report a reviewer reads in a pull request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..cost import Cost
from ..costmodel.analysis import Analysis
from ..costmodel.compare import labels_for, make_comparison
from ..units import human
from .compare_out import headline, markdown_blocks, markdown_changes, markdown_totals
from .markdown import escape, layer_table, pct
from .mermaid import mermaid_flowchart
from .results import render_profile, render_verify
from .text import in_out, in_out_sentence, md_code, md_paragraph, plural


@dataclass(frozen=True)
class ReportOptions:
    title: str = "convcost report"
    graph_depth: int | None = None  # None: deepest level with at most 40 boxes
    table_depth: int | None = None  # None: every layer
    compare_depth: int = 1
    verify: tuple[tuple[str, dict[str, Any]], ...] = field(default_factory=tuple)  # (path, document)
    profile: tuple[tuple[str, dict[str, Any]], ...] = field(default_factory=tuple)


def code(text: str) -> str:
    """An inline code span outside tables, that nothing in ``text`` can close (text.md_code)."""
    return md_code(text)


def totals_table(analyses: list[Analysis], labels: list[str]) -> list[str]:
    lines = [
        "| model | input → output | layers | params | MACs | FLOPs | activations | buffers |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for a, label in zip(analyses, labels, strict=True):
        g, t = a.graph, a.total
        lines.append(
            f"| {escape(label)} | {in_out(g)} "
            f"| {len(g.nodes)} | {t.params:,} | {t.macs:,} ({human(t.macs)}) | {t.flops:,} ({human(t.flops)}) "
            f"| {t.activations:,} | {t.buffers:,} |"
        )
    return lines


def op_share_table(a: Analysis) -> list[str]:
    """Cost shares by op type, largest FLOPs first."""
    counts: dict[str, int] = {}
    categories: dict[str, str] = {}
    for lc in a.layers:
        counts[lc.node.op] = counts.get(lc.node.op, 0) + 1
        categories[lc.node.op] = lc.node.rule.category
    by_op = sorted(a.by_op().items(), key=lambda kv: (-kv[1].flops, kv[0]))
    total = a.total
    lines = [
        "| op | category | layers | params | MACs | FLOPs | % FLOPs | % params |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for op, c in by_op:
        lines.append(
            f"| {escape(op)} | {categories[op]} | {counts[op]} | {c.params:,} | {c.macs:,} | {c.flops:,} "
            f"| {pct(c.flops, total.flops)} | {pct(c.params, total.params)} |"
        )
    return lines


def non_mac_line(c: Cost) -> str:
    return (
        f"FLOPs = 2 × {c.macs:,} MACs + {c.non_mac_ops:,} other operations (bias {c.bias_ops:,}, "
        f"norm {c.norm_ops:,}, activation {c.act_ops:,}, pool {c.pool_ops:,}, elementwise {c.elementwise_ops:,})."
    )


def model_section(a: Analysis, label: str, opts: ReportOptions) -> list[str]:
    g = a.graph
    out = [f"## {escape(label)}", ""]
    if g.description:
        out += [md_paragraph(g.description), ""]
    out += [
        f"{in_out_sentence(g)}, "
        f"{plural(len(g.nodes), 'layer')}, from {code(g.file)}.",
        "",
        f"{non_mac_line(a.total)}",
        "",
        "### Cost by op type",
        "",
        *op_share_table(a),
        "",
    ]
    chart, depth = mermaid_flowchart(a, opts.graph_depth)
    note = "every layer" if depth >= max(len(n.scope) + 1 for n in g.nodes) else f"blocks collapsed at depth {depth}"
    out += ["### Layer graph", "", f"({note})", "", "```mermaid", chart, "```", ""]
    rows = a.rows(opts.table_depth)
    out += [
        "<details>",
        f"<summary>Per-layer table ({plural(len(g.nodes), 'layer')}, {plural(len(rows), 'row')})</summary>",
        "",
        *layer_table(a, rows),
        "",
        "</details>",
        "",
    ]
    return out


def render_report(analyses: list[Analysis], opts: ReportOptions | None = None) -> str:
    opts = opts or ReportOptions()
    labels = labels_for(analyses)
    out = [f"# {escape(opts.title)}", ""]
    files = list(dict.fromkeys(a.graph.file for a in analyses))
    out += ["Specs: " + ", ".join(code(f) for f in files) + ".", ""]
    out += ["## Totals", "", *totals_table(analyses, labels), ""]
    if len(analyses) >= 2:
        comp = make_comparison(analyses)
        out += ["## Comparison", "", f"Against **{escape(comp.base.label)}** (the first).", ""]
        out += [f"- {escape(headline(comp, e))}" for e in comp.entries[1:]]
        out += ["", *markdown_totals(comp), "", "Change against the first:", "", *markdown_changes(comp), ""]
        blocks = markdown_blocks(comp, "macs", opts.compare_depth)
        if blocks:
            out += [f"MACs per block (depth {opts.compare_depth}):", "", *blocks, ""]
    for a, label in zip(analyses, labels, strict=True):
        out += model_section(a, label, opts)
    for path, doc in opts.verify:
        out += render_verify(path, doc)
    for path, doc in opts.profile:
        out += render_profile(path, doc)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"
