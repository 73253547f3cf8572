"""Where the cost goes: `analyze --by op|block` and `--top N`, as terminal rows with bars or as markdown."""

from __future__ import annotations

from ..cost import Cost
from ..costmodel.analysis import Analysis
from ..costmodel.compare import model_blocks
from ..costmodel.convention import ConventionView
from ..graph.nodes import Node
from ..ops.shapes import fmt_shape
from ..units import human
from .markdown import escape
from .table import Style, _pct, grid, totals_lines
from .text import in_out

Row = tuple[str, str, str, int, int, int]  # name, kind, output, layers, params, MACs

BAR_WIDTH = 24


def bar(part: int, whole: int, width: int = BAR_WIDTH) -> str:
    """A bar in eighths of a character for a share of ``whole`` (a nonzero part always shows '▏')."""
    from .compare_out import bar as eighths

    return eighths(part, whole, width)


def op_kind(node: Node) -> str:
    """An op type as a designer tells them apart: a conv is 'conv 1×1' (pointwise), 'conv 3×3 depthwise',
    'conv 3×3 grouped' or 'conv 7×7'; any other op is its name."""
    args = node.args
    if node.op != "conv" or not isinstance(getattr(args, "kernel", None), tuple):
        return node.op
    kernel = "×".join(map(str, args.kernel))
    channels = node.in_shapes[0][0] if node.in_shapes and node.in_shapes[0] else 0
    if args.groups > 1:
        return f"conv {kernel} {'depthwise' if args.groups == channels else 'grouped'}"
    return f"conv {kernel}"


def grouped_rows(a: Analysis, by: str | None, depth: int) -> list[Row]:
    """(name, kind, output, layers, params, MACs) of each op type (by='op'), block at ``depth`` (by='block'),
    or layer (by=None)."""
    if by == "op":
        layers: dict[str, int] = {}
        category: dict[str, str] = {}
        costs: dict[str, Cost] = {}
        for lc in a.layers:
            kind = op_kind(lc.node)
            layers[kind] = layers.get(kind, 0) + 1
            category[kind] = lc.node.rule.category
            costs[kind] = costs.get(kind, Cost()) + lc.cost
        return [(op, category[op], "", layers[op], c.params, c.macs) for op, c in costs.items()]
    if by == "block":
        counts: dict[str, int] = {}
        for lc in a.layers:
            key = ".".join((*lc.node.scope, lc.node.short_name)[:depth])
            counts[key] = counts.get(key, 0) + 1
        return [(b.name, b.kind, fmt_shape(b.output), counts[b.name], b.cost.params, b.cost.macs)
                for b in model_blocks(a, depth)]
    return [(lc.node.name, lc.node.op, fmt_shape(lc.node.shape), 1, lc.cost.params, lc.cost.macs) for lc in a.layers]


def render_grouped(analyses: list[Analysis], by: str | None, depth: int, top: int | None, color: bool = False,
                   views: list[ConventionView] | None = None) -> str:
    """Cost by op type or block (or the heaviest layers), largest MACs first when ``top`` is given, with a bar
    for each row's share of the model's MACs."""
    style = Style(color)
    out = []
    for a, view in zip(analyses, views or [None] * len(analyses)):
        g = a.graph
        shown, rest = selected(a, by, depth, top)
        total = a.total.macs
        what = {"op": "by op type", "block": f"by block (depth {depth})", None: "layers"}[by]
        title = f"{g.model}: {in_out(g)}, {what}"
        if top is not None:
            title += f", the {len(shown)} heaviest of {len(shown) + len(rest)}"
        first, second = {"op": ("op", "category"), "block": ("block", "kind"), None: ("layer", "op")}[by]
        head = (first, second, *(("output",) if by != "op" else ()), *(("layers",) if by else ()), "params", "MACs",
                "% MACs", "")
        right = (False, False, *((True,) if by != "op" else ()), *((True,) if by else ()), True, True, True, False)
        cells = []
        for name, kind, shape, n, params, macs in shown:
            cells.append(((name, kind, *((shape,) if by != "op" else ()), *((f"{n:,}",) if by else ()), human(params),
                           human(macs), _pct(macs, total), bar(macs, total)), ""))
        lines = [style(title, "1"), *grid(head, cells, right, style)]
        if rest:
            lines.append(style(f"… {len(rest):,} more: {human(sum(r[5] for r in rest))} MACs "
                               f"({_pct(sum(r[5] for r in rest), total)})", "2"))
        out.append("\n".join([*lines, *totals_lines(a, style, view)]))
    return "\n\n".join(out) + "\n"


def selected(a: Analysis, by: str | None, depth: int, top: int | None) -> tuple[list[Row], list[Row]]:
    """The rows shown (largest MACs first for op types and with ``top``) and the rest."""
    rows = grouped_rows(a, by, depth)
    if top is not None or by == "op":
        rows.sort(key=lambda r: (-r[5], -r[4]))
    shown = rows[:top] if top is not None else rows
    return shown, rows[len(shown):]


def markdown_grouped(analyses: list[Analysis], by: str | None, depth: int, top: int | None,
                     views: list[ConventionView] | None = None) -> str:
    """The same rows as a markdown table per model (exact integers: one number format)."""
    parts = []
    for a, view in zip(analyses, views or [None] * len(analyses)):
        shown, rest = selected(a, by, depth, top)
        total = a.total.macs
        what = {"op": "by op type", "block": f"by block (depth {depth})", None: "layers"}[by]
        lines = [f"## {escape(a.graph.model)}: {what}", ""]
        first, second = {"op": ("op", "category"), "block": ("block", "kind"), None: ("layer", "op")}[by]
        lines += [f"| {first} | {second} |{'' if by == 'op' else ' output |'}{' layers |' if by else ''} params "
                  "| MACs | % MACs |",
                  "|---|---|" + ("" if by == "op" else "---|") + ("---:|" if by else "") + "---:|---:|---:|"]
        for name, kind, shape, n, params, macs in shown:
            out = "" if by == "op" else f" {shape} |"
            count = f" {n:,} |" if by else ""
            lines.append(f"| {escape(name)} | {escape(kind)} |{out}{count} {params:,} | {macs:,} | {_pct(macs, total)} |")
        if rest:
            lines += ["", f"{len(rest):,} more rows: {sum(r[5] for r in rest):,} MACs ({_pct(sum(r[5] for r in rest), total)})."]
        if view is not None:
            from .convention_out import markdown_lines

            lines += ["", *markdown_lines(view)]
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)
