"""Markdown tables of an analysis (GitHub-flavoured)."""

from __future__ import annotations

from ..costmodel.analysis import Analysis, Row
from ..costmodel.convention import ConventionView
from ..costmodel.extras import NONE, Extras
from ..ops.shapes import fmt_shape
from ..units import human
from .text import in_out_sentence, md_code, md_paragraph, md_text, uncounted_note

__all__ = ["escape", "md_code", "md_text"]


def escape(text: str) -> str:
    """Text for a markdown table cell or heading, shown literally: one line, no markup, no HTML (text.md_text)."""
    return md_text(text)


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "–"


def totals_table(a: Analysis) -> list[str]:
    t = a.total
    return [
        "| params | buffers | MACs | FLOPs | activations |",
        "|---:|---:|---:|---:|---:|",
        f"| {t.params:,} ({human(t.params)}) | {t.buffers:,} | {t.macs:,} ({human(t.macs)}) "
        f"| {t.flops:,} ({human(t.flops)}) | {t.activations:,} ({human(t.activations)}) |",
    ]


def layer_table(a: Analysis, rows: list[Row], view: ConventionView | None = None, extras: Extras = NONE) -> list[str]:
    """The table of ``rows`` (``a.rows(depth)``), MACs as shares of ``a``'s total; then --rf's and --training's
    columns; with ``view`` a last column of the chosen tool's count ('–': it does not see the layer)."""
    from .extras_out import Cells, headers

    total = a.total.macs
    more = headers(extras)
    extra = Cells(a, extras) if more else None
    tool = f" {escape(view.name)} |" if view is not None else ""
    lines = ["| layer | op | output | params | MACs | % MACs |" + "".join(f" {h} |" for h in more) + tool,
             "|---|---|---|---:|---:|---:|" + "---:|" * len(more) + ("---:|" if view else "")]
    for r in rows:
        indent = "&nbsp;&nbsp;" * r.depth
        name = f"**{escape(r.path[-1])}**" if r.is_scope else escape(r.path[-1])
        tail = "".join(f" {escape(c)} |" for c in extra(r, human_numbers=False)) if extra else ""
        if view is not None:
            value = view.row_value(r)
            tail += " |" if r.is_part else (" – |" if value is None else f" {value:,} |")
        lines.append(
            f"| {indent}{name} | {escape(r.op)} | {fmt_shape(r.shape)} | {r.cost.params:,} | {r.cost.macs:,} "
            f"| {pct(r.cost.macs, total)} |{tail}"
        )
    return lines


def extras_markdown(extras: Extras) -> list[str]:
    """The training estimate and the outputs' receptive fields, as a list under the totals."""
    from .extras_out import rf_lines, training_lines

    out = []
    if extras.training is not None:
        out += [f"- {escape(line.strip())}" for line in training_lines(extras.training)]
    if extras.rf is not None:
        out += [f"- {escape(line)}" for line in rf_lines(extras.rf)]
    return out


def render_markdown(
    analyses: list[Analysis], depth: int | None = None, views: list[ConventionView] | None = None,
    extras: list[Extras] | None = None,
) -> str:
    parts: list[str] = []
    for a, view, e in zip(analyses, views or [None] * len(analyses), extras or [NONE for _ in analyses]):
        g = a.graph
        parts.append(f"## {escape(g.model)}\n")
        if g.description:
            parts.append(f"{md_paragraph(g.description)}\n")
        parts.append(
            f"{in_out_sentence(g)}, "
            f"{len(g.nodes)} layers ({md_code(g.file)}).\n"
        )
        parts.append("\n".join(totals_table(a)) + "\n")
        if a.uncounted:
            parts.append(f"⚠ {escape(uncounted_note(a.uncounted))}\n")
        if view is not None:
            from .convention_out import markdown_lines

            parts.append("\n".join(markdown_lines(view)) + "\n")
        more = extras_markdown(e)
        if more:
            parts.append("\n".join(more) + "\n")
        parts.append("\n".join(layer_table(a, a.rows(depth), view, e)) + "\n")
    return "\n".join(parts)
