"""A comparison rendered for the terminal (tables and a bar chart), as markdown, or as JSON."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import __version__
from ..cost import METRICS, TITLES, Cost, metric
from ..costmodel.compare import AlikeRow, Block, Comparison, Entry, change_pct
from ..costmodel.convention import ConventionView
from ..costmodel.training import Training
from ..ops.shapes import fmt_shape
from ..units import human
from . import strict_json
from .grid import Grid
from .markdown import escape, md_code
from .text import fmt_change, in_out, uncounted_note

SCHEMA = "convcost.compare/2"
NBSP = "\u00a0"  # a number and its unit stay on one line in a markdown cell
BAR_WIDTH = 40
_EIGHTHS = " ▏▎▍▌▋▊▉"


def fmt_factor(value: int, base: int) -> str:
    """How the value relates to the base in words: '9.68× fewer', '2.00× more', 'the same'."""
    if value == base:
        return "the same"
    if value == 0 or base == 0:
        return "n/a"
    if value < base:
        return f"{base / value:.2f}× fewer"
    return f"{value / base:.2f}× more"


def bar(value: int, largest: int, width: int = BAR_WIDTH) -> str:
    """A horizontal bar in eighths of a character; a nonzero value always shows at least '▏'."""
    if largest <= 0 or value <= 0:
        return ""
    eighths = max(1, round(8 * width * value / largest))
    full, part = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[part] if part else "")


def headline(comp: Comparison, e: Entry, name: str = "macs") -> str:
    """'bottleneck: 12.44 M MACs, −89.7 % against naive (9.68× fewer)'."""
    v, b = comp.value(e, name), comp.value(comp.base, name)
    return (
        f"{e.label}: {human(v)} {TITLES[name]}, {fmt_change(change_pct(v, b))} against {comp.base.label} "
        f"({fmt_factor(v, b)})"
    )


def _cell(comp: Comparison, e: Entry, name: str) -> str:
    v = human(comp.value(e, name))
    return v if e is comp.base else f"{v}\n{fmt_change(comp.change(e, name))}"


def _tool_columns(views: list[ConventionView] | None) -> list[str]:
    """The chosen tool's columns: its count, and its parameters where it prints them."""
    if not views:
        return []
    return [views[0].name, *([f"params ({views[0].name})"] if views[0].params is not None else [])]


def _tool_values(v: ConventionView) -> list[int]:
    return [v.total, *([v.params] if v.params is not None else [])]


def _tool_cells(views: list[ConventionView] | None, k: int, sep: str) -> list[str]:
    """Entry ``k``'s count (and params) under the chosen convention, with the change against the first entry."""
    if not views:
        return []
    base = _tool_values(views[0])
    cells = []
    for value, first in zip(_tool_values(views[k]), base):
        cells.append(human(value) if k == 0 else f"{human(value)}{sep}{fmt_change(change_pct(value, first))}")
    return cells


def totals_table(comp: Comparison, views: list[ConventionView] | None = None) -> Table:
    t = Table(
        title=f"compared against {comp.base.label} (the first)",
        title_justify="left",
        show_edge=False,
        pad_edge=False,
        header_style="bold",
    )
    t.add_column("model", no_wrap=True)
    t.add_column("input → output", no_wrap=True)
    for name in METRICS:
        t.add_column(TITLES[name], justify="right", no_wrap=True)
    for name in _tool_columns(views):
        t.add_column(name, justify="right", no_wrap=True)
    for k, e in enumerate(comp.entries):
        t.add_row(e.label, in_out(e.analysis.graph), *(_cell(comp, e, n) for n in METRICS), *_tool_cells(views, k, "\n"))
    return t


def output_warning(comp: Comparison) -> str | None:
    """A warning when a model's outputs differ from the first's: then it is no drop-in replacement for it,
    and a smaller count may only mean a smaller output (a forgotten padding: 26×26 instead of 28×28)."""
    other = comp.output_mismatch()
    if not other:
        return None
    shown = "; ".join(f"{e.label} {in_out(e.analysis.graph)}" for e in comp.entries if e is comp.base or e.label in other)
    return f"warning: outputs differ from {comp.base.label}'s, so the counts do not compare like for like: {shown}"


def uncounted_warnings(comp: Comparison) -> list[str]:
    """A warning per model whose totals leave out `unsupported` parts (an imported model's, docs/import.md): its counts
    hold only what convcost could express, so a smaller number may only mean more is missing."""
    return [f"warning: {e.label}: {uncounted_note(e.analysis.uncounted)}" for e in comp.entries if e.analysis.uncounted]


def bar_chart(comp: Comparison, name: str, width: int = BAR_WIDTH) -> Table:
    values = [comp.value(e, name) for e in comp.entries]
    largest = max(values)
    t = Table(title=TITLES[name], title_justify="left", show_header=False, show_edge=False, box=None, pad_edge=False)
    t.add_column("model", no_wrap=True)
    t.add_column("bar", no_wrap=True, width=width)
    t.add_column("value", justify="right", no_wrap=True)
    t.add_column("change", justify="right", no_wrap=True)
    for e, v in zip(comp.entries, values, strict=True):
        t.add_row(e.label, bar(v, largest, width), human(v), "" if e is comp.base else fmt_change(comp.change(e, name)))
    return t


def block_cells(costs: tuple[Cost | None, ...], name: str, sep: str) -> list[str]:
    """One row of the per-block table: each value, and its change against the first present one."""
    base = costs[0]
    cells = []
    for k, c in enumerate(costs):
        if c is None:
            cells.append("—")
        elif k and base is not None and (metric(c, name) or metric(base, name)):
            change = fmt_change(change_pct(metric(c, name), metric(base, name)))
            cells.append(f"{human(metric(c, name))}{sep}{change}" if sep == "\n" else f"{human(metric(c, name))} ({change})")
        else:
            cells.append(human(metric(c, name)))
    return cells


def _inputs(b: Block) -> str:
    return ", ".join(fmt_shape(s) for s in b.inputs) or "—"


def _differs(r: AlikeRow) -> bool:
    """Whether the alike blocks of a row take different inputs (the change the comparison is about, shown)."""
    return len({b.inputs for b in r.blocks if b is not None}) > 1


def _alias(r: AlikeRow, b: Block | None) -> str:
    return f"as {b.name}" if b is not None and b.name != r.name else ""


def unmatched_line(comp: Comparison, unmatched: dict[str, list[str]], depth: int) -> str | None:
    if not unmatched:
        return None
    parts = [f"{label}: {', '.join(names[:6])}{f' and {len(names) - 6} more' if len(names) > 6 else ''}"
             for label, names in unmatched.items()]
    return f"without an alike block (same kind and output shape) in the other models at depth {depth}: " + "; ".join(parts)


def blocks_table(comp: Comparison, name: str, depth: int) -> Grid | None:
    """Per-block rows of alike blocks (thousands on a deep net at a high --depth): a Grid, linear in the rows."""
    entries, rows, _ = comp.alike_blocks(depth)
    if not rows:
        return None
    t = Grid(
        ("block", "kind", "output", *(e.label for e in entries)),
        (False, False, True, *(True for _ in entries)),
        title=f"per block (depth {depth}), {TITLES[name]}",
        min_widths=(5,),
    )
    for r in rows:
        cells = block_cells(r.costs, name, "\n")
        if _differs(r):
            cells = [c if b is None else f"{c}\nfrom {_inputs(b)}" for c, b in zip(cells, r.blocks)]
        cells = [c if not _alias(r, b) else f"{c}\n{_alias(r, b)}" for c, b in zip(cells, r.blocks)]
        t.add_row(r.name, r.kind, fmt_shape(r.output), *cells)
    return t


def print_comparison(console: Console, comp: Comparison, name: str = "macs", depth: int = 1,
                     views: list[ConventionView] | None = None) -> None:
    console.print(totals_table(comp, views))
    if views:
        console.print(Text(f"{views[0].name}: {views[0].chosen.title}, {views[0].chosen.convention.unit}", style="dim"))
    warning = output_warning(comp)
    if warning:
        console.print(Text(warning, style="yellow"))
    for line in uncounted_warnings(comp):
        console.print(Text(line, style="yellow"))
    console.print()
    for e in comp.entries[1:]:
        console.print(Text(headline(comp, e, name), style="bold"))
    console.print()
    label_width = max(len(e.label) for e in comp.entries)
    console.print(bar_chart(comp, name, max(10, min(BAR_WIDTH, console.width - label_width - 24))))
    blocks = blocks_table(comp, name, depth)
    console.print()
    if blocks is None:
        console.print(Text(f"no alike blocks (same kind and output shape) at depth {depth}; nothing to align", style="dim"))
    else:
        blocks.print(console)
        lone = unmatched_line(comp, comp.alike_blocks(depth)[2], depth)
        if lone:
            console.print(Text(lone, style="dim"))


# ---- markdown -------------------------------------------------------------------------------
def nb(text: str) -> str:
    """A number with its unit ('12.44 M') that a table cell never wraps apart."""
    return text.replace(" ", NBSP)


def markdown_totals(comp: Comparison, views: list[ConventionView] | None = None) -> list[str]:
    """One row per model: input → output and each metric in human units (one format for the whole table)."""
    tool = _tool_columns(views)
    lines = ["| model | input → output | " + " | ".join([*(TITLES[n] for n in METRICS), *map(escape, tool)]) + " |",
             "|---|---|" + "---:|" * (len(METRICS) + len(tool))]
    for k, e in enumerate(comp.entries):
        cells = [nb(human(comp.value(e, n))) for n in METRICS] + [nb(c) for c in _tool_cells(views, k, " ")]
        lines.append(f"| {escape(e.label)} | {nb(in_out(e.analysis.graph))} | " + " | ".join(cells) + " |")
    return lines


def markdown_changes(comp: Comparison) -> list[str]:
    lines = ["| model | " + " | ".join(TITLES[n] for n in METRICS) + " |", "|---|" + "---:|" * len(METRICS)]
    for e in comp.entries[1:]:
        lines.append(f"| {escape(e.label)} | " + " | ".join(nb(fmt_change(comp.change(e, n))) for n in METRICS) + " |")
    return lines


def markdown_blocks(comp: Comparison, name: str, depth: int) -> list[str]:
    """Alike blocks only, each model's value and its change; the inputs where they differ."""
    entries, rows, unmatched = comp.alike_blocks(depth)
    if not rows:
        return []
    lines = ["| block | output | " + " | ".join(escape(e.label) for e in entries) + " |",
             "|---|---|" + "---:|" * len(entries)]
    for r in rows:
        cells = [nb(c).replace(f"{NBSP}(", " (") for c in block_cells(r.costs, name, " ")]
        if _differs(r):
            cells = [c if b is None else f"{c}<br>from {nb(_inputs(b))}" for c, b in zip(cells, r.blocks)]
        cells = [c if not _alias(r, b) else f"{c}<br>{escape(_alias(r, b))}" for c, b in zip(cells, r.blocks)]
        block = f"{md_code(r.name, table=True)} ({escape(r.kind)})"
        lines.append(f"| {block} | {nb(fmt_shape(r.output))} | " + " | ".join(cells) + " |")
    lone = unmatched_line(comp, unmatched, depth)
    if lone:
        lines += ["", escape(lone[0].upper() + lone[1:]) + "."]
    return lines


def render_compare_markdown(comp: Comparison, name: str = "macs", depth: int = 1,
                            views: list[ConventionView] | None = None) -> str:
    parts = ["## Comparison", "", f"Against **{escape(comp.base.label)}** (the first).", ""]
    parts += [f"- {escape(headline(comp, e, name))}" for e in comp.entries[1:]]
    warning = output_warning(comp)
    if warning:
        parts += ["", f"> **Warning:** {escape(warning.removeprefix('warning: '))}"]
    parts += [line for w in uncounted_warnings(comp) for line in ("", f"> **Warning:** {escape(w.removeprefix('warning: '))}")]
    parts += ["", *markdown_totals(comp, views)]
    if views:
        parts += ["", f"`{escape(views[0].name)}`: counted as **{escape(views[0].chosen.title)}**, "
                      f"{escape(views[0].chosen.convention.unit)} (from the specs, not run)."]
    parts += ["", "Change against the first:", "", *markdown_changes(comp)]
    blocks = markdown_blocks(comp, name, depth)
    if blocks:
        parts += ["", f"Per block (depth {depth}), {TITLES[name]}, alike blocks only:", "", *blocks]
    return "\n".join(parts) + "\n"


# ---- json -----------------------------------------------------------------------------------
def render_compare_json(comp: Comparison, depth: int = 1, latency: list[dict[str, Any]] | None = None,
                        views: list[ConventionView] | None = None, trainings: list[Training] | None = None) -> str:
    """The comparison as "convcost.compare/2"; ``latency`` (profile_out.latency_json) adds a 'latency' list,
    ``trainings`` (``--training``) a 'training' record to every model; every model names its "convention"
    (convention_out.json_dict)."""
    from .convention_out import json_dict

    entries, rows, unmatched = comp.alike_blocks(depth)
    by_entry = dict(zip((e.label for e in comp.entries), views or []))

    def entry(e: Entry) -> dict[str, Any]:
        g = e.analysis.graph
        return {
            "label": e.label,
            "model": g.model,
            "file": g.file,
            "input_shapes": [[g.batch, *i.shape] for i in g.inputs],
            "output_shapes": [[g.batch, *n.shape] for n in g.output_nodes],
            "totals": e.analysis.total.as_dict(),
            "uncounted": list(e.analysis.uncounted),
            "change_pct": {n: comp.change(e, n) for n in METRICS},
            "convention": json_dict(by_entry.get(e.label)),
        }

    def block(b: Block | None) -> dict[str, Any] | None:
        if b is None:
            return None
        return {"name": b.name, "inputs": [list(s) for s in b.inputs], "totals": b.cost.as_dict()}

    doc = {
        "schema": SCHEMA,
        "convcost": __version__,
        "baseline": comp.base.label,
        "models": [entry(e) for e in comp.entries],
        "outputs_differ": comp.output_mismatch(),
        "blocks": {
            "depth": depth,
            "models": [e.label for e in entries],
            "rows": [
                {"name": r.name, "kind": r.kind, "output": list(r.output), "models": [block(b) for b in r.blocks]}
                for r in rows
            ],
            "unmatched": unmatched,
        },
    }
    if latency is not None:
        doc["latency"] = latency
    if trainings is not None:
        from .extras_out import training_comparison_json

        for m, t in zip(doc["models"], training_comparison_json(trainings)):  # type: ignore[arg-type]
            m["training"] = t
    return strict_json.dumps(doc) + "\n"
