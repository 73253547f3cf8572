"""The markdown report a reviewer reads in a pull request.

It is made to fit where it is read: GitHub's 1,012 px column and a pull-request comment's 65,536
characters. Each table has one number format (human units in the overview tables, exact integers in
the per-model tables), a number never wraps apart from its unit (no-break spaces), the layer graph is
collapsed and folded to stay short (render/mermaid.py), and a report longer than ``max_chars`` is
rendered again in a shorter form (per-layer tables with non-zero rows only, then shallower, then
without them), with a warning that says what was left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..cost import Cost
from ..costmodel.analysis import Analysis, Row
from ..costmodel.compare import labels_for, make_comparison
from ..costmodel.convention import ConventionView
from ..costmodel.extras import TrainingOptions
from ..crosscheck.counters import Chosen
from ..ops.shapes import fmt_shape
from ..units import human
from .breakdown import op_kind
from .chart_data import by_block
from .compare_out import headline, markdown_blocks, markdown_changes, output_warning
from .markdown import escape
from .mermaid import SHADE_NOTE, deepest, graph_depth, mermaid_flowchart, xychart
from .results import render_profile, render_verify
from .text import in_out, in_out_sentence, md_code, md_paragraph, md_url, plural, uncounted_note

NBSP = "\u00a0"
PR_COMMENT_LIMIT = 65_536  # characters a GitHub pull-request comment holds
MAX_BARS = 40  # a bar chart with more bars is unreadable at 1,012 px


@dataclass(frozen=True)
class ReportOptions:
    title: str = "convcost report"
    graph_depth: int | None = None  # None: the deepest level that keeps the chart short (mermaid.auto_depth)
    table_depth: int | None = None  # None: every layer
    compare_depth: int = 1
    verify: tuple[tuple[str, dict[str, Any]], ...] = field(default_factory=tuple)  # (path, document)
    profile: tuple[tuple[str, dict[str, Any]], ...] = field(default_factory=tuple)
    charts: tuple[tuple[str, str], ...] = ()  # chart key ('comparison' or a model's label) -> image path
    max_chars: int = PR_COMMENT_LIMIT  # 0: no limit
    nonzero_rows: bool = False  # per-layer tables: only rows with params or MACs
    layer_tables: bool = True
    graphs: bool = True
    convention: Chosen | None = None  # --convention: a tool's numbers beside convcost's (costmodel/convention.py)
    training: TrainingOptions | None = None  # --training: each model's training step, and compared


def nb(text: str) -> str:
    """A number and its unit that a table cell never wraps apart ('12.44 M', '35.8 %')."""
    return text.replace(" ", NBSP)


def pct(part: int, whole: int) -> str:
    return nb(f"{100 * part / whole:.1f} %") if whole else "–"


def code(text: str) -> str:
    """An inline code span outside tables, that nothing in ``text`` can close (text.md_code)."""
    return md_code(text)


def totals_table(analyses: list[Analysis], labels: list[str], views: list[ConventionView] | None = None) -> list[str]:
    """Every model's totals, in human units (exact numbers: the per-model tables and `--format json`); with
    ``views`` the chosen tool's count and parameters too."""
    tool = [] if not views else [escape(views[0].name), *([f"params ({escape(views[0].name)})"]
                                                          if views[0].params is not None else [])]
    lines = [
        "| model | input → output | layers | params | MACs | FLOPs | activations | buffers |" + "".join(f" {t} |" for t in tool),
        "|---|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(tool),
    ]
    for k, (a, label) in enumerate(zip(analyses, labels, strict=True)):
        g, t = a.graph, a.total
        values = [t.params, t.macs, t.flops, t.activations, t.buffers]
        if views:
            values += [views[k].total, *([views[k].params] if views[k].params is not None else [])]
        cells = [nb(human(v)) for v in values]
        lines.append(f"| {escape(label)} | {nb(in_out(g))} | {len(g.nodes):,} | " + " | ".join(cells) + " |")
    return lines


def op_share_table(a: Analysis) -> list[str]:
    """Cost by op type (a conv by its kind: 1×1, depthwise...), largest FLOPs first, exact integers."""
    counts: dict[str, int] = {}
    categories: dict[str, str] = {}
    costs: dict[str, Cost] = {}
    for lc in a.layers:
        kind = op_kind(lc.node)
        counts[kind] = counts.get(kind, 0) + 1
        categories[kind] = lc.node.rule.category
        costs[kind] = costs.get(kind, Cost()) + lc.cost
    total = a.total
    lines = [
        "| op | category | layers | params | MACs | FLOPs | % FLOPs | % params |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for op, c in sorted(costs.items(), key=lambda kv: (-kv[1].flops, kv[0])):
        lines.append(
            f"| {nb(escape(op))} | {categories[op]} | {counts[op]:,} | {c.params:,} | {c.macs:,} | {c.flops:,} "
            f"| {pct(c.flops, total.flops)} | {pct(c.params, total.params)} |"
        )
    return lines


def non_mac_line(c: Cost) -> str:
    return (
        f"FLOPs = 2 × {c.macs:,} MACs + {c.non_mac_ops:,} other operations (bias {c.bias_ops:,}, "
        f"norm {c.norm_ops:,}, activation {c.act_ops:,}, pool {c.pool_ops:,}, elementwise {c.elementwise_ops:,})."
    )


def layer_table(a: Analysis, rows: list[Row]) -> list[str]:
    """The per-layer rows, exact integers, MACs as shares of the model's total."""
    total = a.total.macs
    lines = ["| layer | op | output | params | MACs | % MACs |", "|---|---|---|---:|---:|---:|"]
    for r in rows:
        indent = "&nbsp;&nbsp;" * r.depth
        name = f"**{escape(r.path[-1])}**" if r.is_scope else escape(r.path[-1])
        lines.append(
            f"| {indent}{name} | {escape(r.op)} | {nb(fmt_shape(r.shape))} | {r.cost.params:,} | {r.cost.macs:,} "
            f"| {pct(r.cost.macs, total)} |"
        )
    return lines


def unit_of(values: list[int]) -> tuple[str, float]:
    top = max(values, default=0)
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if top >= size:
            return unit, size
    return "", 1.0


def macs_chart(a: Analysis, label: str, opts: ReportOptions) -> list[str]:
    """Where the MACs go, by top-level block: the matplotlib chart (--charts DIR) or a mermaid bar chart."""
    image = dict(opts.charts).get(label)
    if image is not None:
        return [f"![where the MACs and params of {escape(label)} go, by block and op type]({md_url(image)})", ""]
    blocks: dict[str, int] = {}
    for depth in range(1, deepest(a.graph) + 1):  # the first level with two blocks or more (not one wrapper)
        blocks = {k: v[0] for k, v in by_block(a, depth).items() if v[0]}
        if len(blocks) >= 2 or len(by_block(a, depth)) >= 2:
            break
    if len(blocks) < 2 or len(blocks) > MAX_BARS:
        return []
    unit, size = unit_of(list(blocks.values()))
    title = f"MACs by block{'' if depth == 1 else f' (depth {depth})'}, {unit or 'count'}"
    chart = xychart(title, list(blocks), [v / size for v in blocks.values()],
                    f"{unit} MACs" if unit else "MACs")
    return ["```mermaid", chart, "```", ""]


def training_section(a: Analysis, t: TrainingOptions) -> list[str]:
    """One training step of the model: FLOPs by gradient, parameters, the peak-memory estimate and what it assumes."""
    from ..costmodel.memory import human_bytes
    from ..costmodel.training import analyze_training
    from .extras_out import ASSUMES

    tr = analyze_training(a, t.optimizer, t.dtype)
    b, m = tr.backward, tr.memory
    return [
        f"### Training step ({m.optimizer}, {m.dtype}; an estimate)",
        "",
        "| forward FLOPs | backward FLOPs | input gradients | weight gradients | step FLOPs | trainable params "
        "| frozen params |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {tr.forward.flops:,} | {b.flops:,} | {b.input_flops:,} | {b.weight_flops:,} | {tr.flops:,} | {tr.trainable:,} "
        f"| {tr.frozen:,} |",
        "",
        "| bytes: weights | gradients | optimizer state | saved activations | largest transient | peak (est.) |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {m.weight_bytes:,} | {m.grad_bytes:,} | {m.optimizer_bytes:,} | {m.saved_bytes:,} | {m.transient_bytes:,} "
        f"| {m.peak_bytes:,} |",
        "",
        f"Peak memory ≈ {nb(human_bytes(m.peak_bytes))}. Assumes {escape(ASSUMES)}; the largest transient is in the "
        f"{m.transient_phase} at {code(m.transient_layer)}.",
        "",
    ]


def model_section(a: Analysis, label: str, opts: ReportOptions, view: ConventionView | None = None) -> list[str]:
    g = a.graph
    out = [f"## {escape(label)}", ""]
    if g.description:
        out += [md_paragraph(g.description), ""]
    out += [
        f"{in_out_sentence(g)}, {plural(len(g.nodes), 'layer')}, from {code(g.file)}.",
        "",
        f"{non_mac_line(a.total)}",
        "",
        *([f"⚠ {escape(uncounted_note(a.uncounted))}", ""] if a.uncounted else []),
    ]
    if view is not None:
        from .convention_out import markdown_lines

        out += [*markdown_lines(view), ""]
    out += [
        *(training_section(a, opts.training) if opts.training is not None else []),
        "### Cost by op type",
        "",
        *op_share_table(a),
        "",
        *macs_chart(a, label, opts),
    ]
    depth = opts.graph_depth if opts.graph_depth is not None else graph_depth(a)
    if opts.graphs and depth is not None:
        chart, depth = mermaid_flowchart(a, depth)
        note = "every layer" if depth >= deepest(g) else f"blocks at depth {depth}"
        out += ["### Layer graph", "", f"({note}; runs of identical blocks folded. {SHADE_NOTE})", "",
                "```mermaid", chart, "```", ""]
    elif opts.graphs:
        out += ["### Layer graph", "", "(Not drawn: at the depths that fit a page, about 10 boxes from top to bottom, "
                "the graph is a single box or one long chain; the bar chart above shows its blocks in order. "
                "`--graph-depth N` draws it at depth N.)", ""]
    if opts.layer_tables:
        rows = a.rows(opts.table_depth)
        every = len(rows)
        if opts.nonzero_rows:
            rows = [r for r in rows if r.cost.params or r.cost.macs]
        shown = plural(len(rows), "row") + (f" of {every:,}, those with params or MACs" if len(rows) != every else "")
        depth = "" if opts.table_depth is None else f", depth {opts.table_depth}"
        out += [
            "<details>",
            f"<summary>Per-layer table ({plural(len(g.nodes), 'layer')}, {shown}{depth})</summary>",
            "",
            *layer_table(a, rows),
            "",
            "</details>",
            "",
        ]
    return out


def comparison_section(analyses: list[Analysis], opts: ReportOptions) -> list[str]:
    comp = make_comparison(analyses)
    out = ["## Comparison", "", f"Against **{escape(comp.base.label)}** (the first).", ""]
    out += [f"- {escape(headline(comp, e))}" for e in comp.entries[1:]]
    warning = output_warning(comp)
    if warning:
        out += ["", f"> **Warning:** {escape(warning.removeprefix('warning: '))}"]
    out += ["", "Change against the first:", "", *markdown_changes(comp), ""]
    image = dict(opts.charts).get("comparison")
    if image is not None:
        out += [f"![the models side by side]({md_url(image)})", ""]
    else:
        values = [comp.value(e, "macs") for e in comp.entries]
        unit, size = unit_of(values)
        chart = xychart(f"MACs per model ({unit or 'count'})", [e.label for e in comp.entries], [v / size for v in values],
                        f"{unit} MACs" if unit else "MACs")
        out += ["```mermaid", chart, "```", ""]
    blocks = markdown_blocks(comp, "macs", opts.compare_depth)
    if blocks:
        out += [f"MACs per block (depth {opts.compare_depth}), alike blocks only:", "", *blocks, ""]
    if opts.training is not None:
        from ..costmodel.training import analyze_training
        from .extras_out import training_comparison

        trainings = [analyze_training(e.analysis, opts.training.optimizer, opts.training.dtype) for e in comp.entries]
        headers, rows = training_comparison([e.label for e in comp.entries], trainings)
        out += ["Training step (an estimate), change against the first:", "",
                "| " + " | ".join(escape(h) for h in headers) + " |", "|---|" + "---:|" * (len(headers) - 1),
                *("| " + " | ".join(nb(escape(c)) for c in r) + " |" for r in rows), ""]
    return out


def render_report(analyses: list[Analysis], opts: ReportOptions | None = None) -> str:
    """The report as asked, without the size check (see :func:`fitted_report`)."""
    opts = opts or ReportOptions()
    labels = labels_for(analyses)
    out = [f"# {escape(opts.title)}", ""]
    files = list(dict.fromkeys(a.graph.file for a in analyses))
    out += ["Specs: " + ", ".join(code(f) for f in files) + ".", ""]
    from ..costmodel.convention import views as convention_views

    views = convention_views(analyses, opts.convention)
    out += ["## Totals", "", *totals_table(analyses, labels, views), ""]
    if views:
        out += [f"`{escape(views[0].name)}`: counted as **{escape(views[0].chosen.title)}**, "
                f"{escape(views[0].chosen.convention.unit)}, from the specs (the tool was not run).", ""]
    if len(analyses) >= 2:
        out += comparison_section(analyses, opts)
    for k, (a, label) in enumerate(zip(analyses, labels, strict=True)):
        out += model_section(a, label, opts, views[k] if views else None)
    for path, doc in opts.verify:
        out += render_verify(path, doc)
    for path, doc in opts.profile:
        out += render_profile(path, doc)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def shorter_forms(analyses: list[Analysis], opts: ReportOptions) -> list[tuple[str, ReportOptions]]:
    """Ever shorter forms of the report, each with what it leaves out; only what the user did not pin
    (``--depth``, ``--graph-depth``) changes."""
    forms = [("per-layer tables with non-zero rows only", replace(opts, nonzero_rows=True))]
    if opts.table_depth is None:
        top = max(deepest(a.graph) for a in analyses)
        for d in range(min(3, top - 1), 0, -1):
            forms.append((f"per-layer tables to depth {d}, non-zero rows", replace(opts, nonzero_rows=True, table_depth=d)))
    last = forms[-1][1]
    if opts.graph_depth is None:
        last = replace(last, graph_depth=1)
        forms.append(("layer graphs at depth 1, " + forms[-1][0], last))
    forms.append(("without per-layer tables", replace(last, layer_tables=False)))
    forms.append(("without per-layer tables and layer graphs", replace(last, layer_tables=False, graphs=False)))
    return forms


def fitted_report(analyses: list[Analysis], opts: ReportOptions | None = None) -> tuple[str, list[str]]:
    """The report, in the first of its shorter forms that fits ``max_chars``; and warnings to show the user."""
    opts = opts or ReportOptions()
    text = render_report(analyses, opts)
    limit = opts.max_chars
    if not limit or len(text) <= limit:
        return text, []
    first = len(text)
    for what, shorter in shorter_forms(analyses, opts):
        text = render_report(analyses, shorter)
        if len(text) <= limit:
            return text, [
                f"report: {first:,} characters is more than {limit:,} (what a pull-request comment holds): "
                f"shortened to {len(text):,}: {what}; --max-chars 0 keeps everything"
            ]
    return text, [
        f"report: {len(text):,} characters even in its shortest form, more than {limit:,} (what a pull-request "
        "comment holds); report fewer models at a time, or attach it as a file"
    ]
