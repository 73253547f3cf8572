"""The terminal table: layer tree, output shapes, params, MACs and shares, then totals.

Plain aligned text (bold/dim only on a colour terminal): rich's Table measures every cell and
takes seconds on a 10,000-layer net, while this stays linear and fast.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import IO

from ..costmodel.analysis import Analysis
from ..costmodel.convention import ConventionView
from ..costmodel.extras import NONE, Extras
from ..ops.shapes import fmt_shape
from ..units import human
from .text import in_out, one_line, uncounted_note

HEADERS = ("layer", "op", "output", "params", "MACs", "% MACs")
RIGHT = (False, False, True, True, True, True)


class Style:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled and code else text


def use_color(stream: IO[str]) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return hasattr(stream, "isatty") and stream.isatty()


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def grid(headers: Sequence[str], rows: Sequence[tuple[Sequence[str], str]], right: Sequence[bool], style: Style) -> list[str]:
    """Align columns; each row carries an ANSI style code applied after padding."""
    widths = [len(h) for h in headers]
    for cells, _ in rows:
        for k, cell in enumerate(cells):
            widths[k] = max(widths[k], len(cell))

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right)]
        return " │ ".join(parts).rstrip()

    out = [style(line(headers), "1"), "━╇━".join("━" * w for w in widths)]
    out += [style(line(cells), code) for cells, code in rows]
    return out


def convention_cell(view: ConventionView, row: object) -> str:
    """A row's count under the chosen convention: '–' for a layer the tool does not see, '' for a layer's part."""
    if getattr(row, "is_part", False):
        return ""
    value = view.row_value(row)  # type: ignore[arg-type]
    return "–" if value is None else human(value)


def layer_table(a: Analysis, depth: int | None, style: Style, view: ConventionView | None = None,
                extras: Extras = NONE) -> list[str]:
    from .extras_out import Cells, headers

    g = a.graph
    total = a.total.macs
    more = headers(extras)
    extra = Cells(a, extras) if more else None
    rows = []
    for r in a.rows(depth):
        label = "  " * r.depth + r.path[-1] + (" ▸" if r.collapsed else "")
        code = "1" if r.collapsed else ("2" if r.is_scope or r.is_part else "")
        cells = (label, r.op, fmt_shape(r.shape), human(r.cost.params), human(r.cost.macs), _pct(r.cost.macs, total))
        if extra:
            cells = (*cells, *extra(r))
        if view is not None:
            cells = (*cells, convention_cell(view, r))
        rows.append((cells, code))
    title = f"{g.model}: {in_out(g)}"
    if g.description:
        title += f"  ({one_line(g.description)})"
    tool = (view.name,) if view is not None else ()
    return [style(title, "1"), *grid((*HEADERS, *more, *tool), rows, (*RIGHT, *(True for _ in (*more, *tool))), style)]


def totals_lines(a: Analysis, style: Style, view: ConventionView | None = None) -> list[str]:
    t = a.total
    lines = [
        style("total", "1")
        + f"  params {human(t.params)} ({t.params:,})   MACs {human(t.macs)} ({t.macs:,})   FLOPs {human(t.flops)}   "
        f"activations {human(t.activations)}   buffers {human(t.buffers)}"
    ]
    if a.uncounted:
        lines.append(style(f"       {uncounted_note(a.uncounted)}", "33"))
    if t.non_mac_ops:
        lines.append(
            style(
                f"       non-MAC ops: bias {human(t.bias_ops)}, norm {human(t.norm_ops)}, activation {human(t.act_ops)}, "
                f"pool {human(t.pool_ops)}, elementwise {human(t.elementwise_ops)}",
                "2",
            )
        )
    if view is not None:
        from .convention_out import text_lines

        first, *rest = text_lines(view)
        lines += [style(first, "1"), *(style(line, "2") for line in rest)]
    return lines


def extra_lines(extras: Extras, style: Style) -> list[str]:
    from .extras_out import rf_lines, training_lines

    lines = []
    if extras.training is not None:
        first, *rest = training_lines(extras.training)
        lines += [style("training", "1") + first[len("training"):], *(style(x, "2") for x in rest)]
    if extras.rf is not None:
        lines += [style(x, "2") for x in rf_lines(extras.rf)]
    return lines


def render_table(
    analyses: list[Analysis], depth: int | None = None, color: bool = False, views: list[ConventionView] | None = None,
    extras: list[Extras] | None = None,
) -> str:
    style = Style(color)
    more = extras or [NONE for _ in analyses]
    blocks = [
        "\n".join([*layer_table(a, depth, style, v, e), *totals_lines(a, style, v), *extra_lines(e, style)])
        for a, v, e in zip(analyses, views or [None] * len(analyses), more)
    ]
    return "\n\n".join(blocks) + "\n"

