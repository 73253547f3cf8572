"""Rendering of `convcost verify --reference` reports: table, markdown, JSON ("convcost.verify-reference/2")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import __version__
from ..crosscheck.counters import Status
from ..ops.shapes import fmt_shape
from . import strict_json
from .json_out import io_dict
from .markdown import escape
from .text import inputs_text, plural

if TYPE_CHECKING:
    from ..crosscheck.reference import Pair, ReferenceReport, Unit
    from ..crosscheck.verify import Check

SCHEMA = "convcost.verify-reference/2"
SHOWN = 12  # the table and markdown list this many things not compared
LABELS = {"output": "output", "outputs": "outputs", "params": "params", "buffers": "buffers",
          "flop_counter": "FlopCounterMode FLOPs", "fvcore": "fvcore flops"}
ANALYTIC = "analytic "  # the totals' keys of the analytic cost by op category ('analytic conv')
SIDE_ROWS = (("layer", "name"), ("kind", "kind"), ("op", "op"), ("output", "shape"), ("params", "params"),
             ("buffers", "buffers"), ("MACs", "macs"))


def _value(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, tuple) and v and isinstance(v[0], tuple):
        return ", ".join(fmt_shape(s) for s in v)
    if isinstance(v, tuple):
        return fmt_shape(v)
    return f"{v:,}" if isinstance(v, int) else str(v)


def _cell(c: Check) -> str:
    if c.status == Status.NOT_COMPARED:
        return "– not compared"
    if c.status == Status.OK:
        return f"✓ {_value(c.actual)}"
    return f"✗ {_value(c.expected)} ≠ {_value(c.actual)}"


def title(r: ReferenceReport) -> str:
    where = r.device if r.real_forward else "meta (no real forward)"
    return f"{r.graph.model} vs {r.target}: {inputs_text(r.graph)} on {where}"


def mark(status: Status) -> str:
    return {Status.OK: "✓", Status.MISMATCH: "✗"}.get(status, "–")


Row = tuple[str, Any, Any, Status]  # a totals row: key, spec, model, status


def shown_totals(r: ReferenceReport) -> list[Row]:
    """The totals as the table shows them: the analytic cost per op category summed into one row (each category
    that differs shown too; all of them are in the JSON)."""
    rows: list[Row] = [(k, c.expected, c.actual, c.status) for k, c in r.totals.items() if not k.startswith(ANALYTIC)]
    cats = [(k, c) for k, c in r.totals.items() if k.startswith(ANALYTIC)]
    if not cats:
        return rows
    statuses = {c.status for _, c in cats}
    status = Status.MISMATCH if Status.MISMATCH in statuses else Status.NOT_COMPARED if Status.NOT_COMPARED in statuses \
        else Status.OK
    theirs = None if status == Status.NOT_COMPARED else sum(c.actual or 0 for _, c in cats)
    rows.append((ANALYTIC + "each op category", sum(c.expected or 0 for _, c in cats), theirs, status))
    return rows + [(k, c.expected, c.actual, c.status) for k, c in cats if c.status == Status.MISMATCH]


def label(key: str) -> str:
    """A totals row's name: 'params', or 'convcost conv FLOPs' for the analytic cost of the conv category."""
    if key == ANALYTIC + "each op category":
        return "convcost FLOPs, by op category"
    if key.startswith(ANALYTIC):
        return f"convcost {key[len(ANALYTIC):]} FLOPs"
    return LABELS.get(key, key)


def verdict(r: ReferenceReport) -> str:
    if r.ok:
        return f"the spec describes {r.target}: {plural(len(r.pairs), 'layer')} matched by structure, every op, argument " \
            "and count agrees"
    d = r.divergence
    if d is not None:
        why = next((c.reason for c in d.checks.values() if c.status == Status.MISMATCH), "")
        return f"first divergence at {where(d)}: {why}; {r.diverging:,} of {plural(len(r.pairs), 'layer')} differ"
    if not r.agrees:
        return "the layers agree but the totals differ"
    return (f"not verified: {len(r.not_compared)} part{'s' if len(r.not_compared) > 1 else ''} of {r.target} "
            "not compared (listed above); what was compared agrees")


def where(d: Pair) -> str:
    """"spec layer 'layer2.0.conv1' (conv) / model 'layer2.0.conv1' (Conv2d)"."""
    parts = []
    if d.spec is not None:
        parts.append(f"spec layer '{d.spec.name}' ({d.spec.kind})")
    if d.ref is not None:
        parts.append(f"model '{d.ref.name}' ({d.ref.kind})")
    return " / ".join(parts)


def side_value(u: Unit | None, attr: str) -> str:
    if u is None:
        return "(none)"
    return _value(getattr(u, attr))


def divergence_reasons(r: ReferenceReport) -> list[str]:
    d = r.divergence
    if d is None:
        return []
    return [c.reason for c in d.checks.values() if c.status == Status.MISMATCH]


def total_problems(r: ReferenceReport) -> list[str]:
    return [c.reason if k.startswith(ANALYTIC) or k == "outputs" else f"total {c.reason}"
            for k, c in r.totals.items() if c.status == Status.MISMATCH]


def not_compared_lines(r: ReferenceReport, limit: int | None = None) -> list[str]:
    """What was not compared, at most ``limit`` lines and how many more."""
    items = list(r.not_compared)
    if limit is None or len(items) <= limit:
        return items
    return [*items[:limit], f"... and {len(items) - limit} more (all in --format json)"]


def print_reference(console: Console, r: ReferenceReport) -> None:
    console.print(Text(title(r), style="italic"))
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("whole model", no_wrap=True)
    table.add_column("spec", justify="right")
    table.add_column("model", justify="right")
    table.add_column("")
    for key, ours, theirs, status in shown_totals(r):
        bad = status == Status.MISMATCH
        table.add_row(label(key), _value(ours), _value(theirs), mark(status), style="bold red" if bad else None)
    console.print(table)
    for key, why in r.skipped.items():
        console.print(Text(f"{key} not compared: {why}", style="yellow"))
    if r.not_compared:
        console.print(Text("not compared:", style="yellow"))
        for line in not_compared_lines(r, SHOWN):
            console.print(Text(f"  - {line}", style="yellow"))
    d = r.divergence
    if d is not None:
        console.print()
        t = Table(title="first divergence", title_justify="left", show_edge=False, pad_edge=False, header_style="bold")
        t.add_column("")
        t.add_column("spec", justify="right")
        t.add_column("model", justify="right")
        for row, attr in SIDE_ROWS:
            t.add_row(row, side_value(d.spec, attr), side_value(d.ref, attr))
        console.print(t)
        for why in divergence_reasons(r):
            console.print(Text(f"✗ {why}", style="bold red"))
    for line in total_problems(r):
        console.print(Text(f"✗ {line}", style="bold red"))
    style = "bold green" if r.ok else "bold red"
    console.print(Text(f"{'✓' if r.ok else '✗'} {r.graph.model}: {verdict(r)}", style=style))


def render_markdown(reports: list[ReferenceReport]) -> str:
    """The user's module names and target are shown literally (markdown.escape): no markup, no HTML."""
    out: list[str] = []
    for r in reports:
        out.append(f"### {escape(title(r))}\n")
        out.append("| whole model | spec | model | |\n|---|---:|---:|---|")
        for key, ours, theirs, status in shown_totals(r):
            out.append(f"| {label(key)} | {_value(ours)} | {_value(theirs)} | {mark(status)} |")
        out.append("")
        out += [f"- {key} not compared: {escape(why)}" for key, why in r.skipped.items()]
        if r.not_compared:
            out.append("- not compared:")
            out += [f"  - {escape(line)}" for line in not_compared_lines(r, SHOWN)]
        d = r.divergence
        if d is not None:
            out.append("\nFirst divergence:\n\n| | spec | model |\n|---|---:|---:|")
            out += [f"| {row} | {escape(side_value(d.spec, a))} | {escape(side_value(d.ref, a))} |" for row, a in SIDE_ROWS]
            out.append("")
            out += [f"- ✗ {escape(why)}" for why in divergence_reasons(r)]
        out += [f"- ✗ {escape(line)}" for line in total_problems(r)]
        out.append(f"\n**{'✓' if r.ok else '✗'} {escape(verdict(r))}**\n")
    return "\n".join(out) + "\n"


def _json(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_json(x) for x in v]
    return v


def _check(c: Check) -> dict[str, Any]:
    return {"status": c.status.value, "spec": _json(c.expected), "reference": _json(c.actual), "reason": c.reason}


def _unit(u: Unit | None) -> dict[str, Any] | None:
    if u is None:
        return None
    return {"name": u.name, "kind": u.kind, "op": u.op, "shape": _json(u.shape), "params": u.params, "buffers": u.buffers,
            "macs": u.macs}


def report_dict(r: ReferenceReport) -> dict[str, Any]:
    g = r.graph
    d = r.divergence
    return {
        "name": g.model,
        "file": g.file,
        "reference": r.target,
        "batch": g.batch,
        **io_dict(g),
        "device": r.device,
        "real_forward": r.real_forward,
        "matching": r.matching,
        "ok": r.ok,
        "agrees": r.agrees,
        "verified": r.verified,
        "skipped": r.skipped,
        "not_compared": list(r.not_compared),
        "totals": {k: _check(c) for k, c in r.totals.items()},
        "first_divergence": None if d is None else r.pairs.index(d),
        "layers": [
            {"ok": p.ok, "spec": _unit(p.spec), "reference": _unit(p.ref),
             "checks": {k: _check(c) for k, c in p.checks.items()}}
            for p in r.pairs
        ],
    }


def render_json(reports: list[ReferenceReport]) -> str:
    doc = {"schema": SCHEMA, "convcost": __version__, "ok": all(r.ok for r in reports),
           "models": [report_dict(r) for r in reports]}
    return strict_json.dumps(doc) + "\n"
