"""Rendering of `convcost verify` reports: rich table, markdown, JSON ("convcost.verify/1"), --explain."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import __version__
from ..crosscheck.counters import CONVENTIONS, RUN, Explanation, Status
from ..ops.shapes import fmt_shape
from ..units import human
from . import strict_json
from .convention_out import not_seen
from .json_out import io_dict
from .text import inputs_text, md_code, md_text

if TYPE_CHECKING:
    from ..crosscheck.verify import Check, Report

SCHEMA = "convcost.verify/1"
COLUMNS = (("shape", "output"), ("params", "params"), ("buffers", "buffers"), *((c.key, c.label) for c in RUN))
TRAINING_COLUMNS = (("flop_counter_backward", "backward (FlopCounterMode)"), ("trainable", "trainable"))


def columns(r: Report) -> tuple[tuple[str, str], ...]:
    """The checks shown: verify's, and with --training the backward's and the trainable params."""
    return COLUMNS + (TRAINING_COLUMNS if r.training else ())


def _value(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, tuple):
        return fmt_shape(v)
    return human(v)


def cell(c: Check) -> str:
    if c.status == Status.NOT_COMPARED:
        return "– not seen" if c.actual == 0 else "– not run"
    if c.status == Status.OK:
        return f"✓ {_value(c.expected)}"
    return f"✗ {_value(c.expected)} ≠ {_value(c.actual)}"


def _title(r: Report) -> str:
    g = r.graph
    where = r.device if r.real_forward else "meta (no real forward)"
    return f"{g.model}: {inputs_text(g)} on {where}"


def verdict(r: Report) -> str:
    if r.ok:
        return "all compared counts agree"
    return f"{r.mismatches} mismatch{'es' if r.mismatches != 1 else ''}"


def not_seen_summary(r: Report) -> list[str]:
    """'fvcore cannot see 3 relu layers: aten::relu is on fvcore's ignore list' lines, one per reason."""
    groups: dict[tuple[str, str], int] = {}
    for lr in r.layers:
        for conv in RUN:
            c = lr.checks[conv.key]
            if c.status == Status.NOT_COMPARED and c.actual == 0:
                key = (conv.label, f"{lr.op}: {c.reason}")
                groups[key] = groups.get(key, 0) + 1
    return [f"{label} does not see {n} {why.split(':', 1)[0]} layer{'s' if n != 1 else ''}:{why.split(':', 1)[1]}"
            for (label, why), n in sorted(groups.items())]


def conventions_used(r: Report) -> list[str]:
    """Why a tool's number differs from convcost's MACs on layers where it agrees with the prediction."""
    out: dict[str, None] = {}
    counters = [(c.key, c.label) for c in RUN] + ([("flop_counter_backward", "FlopCounterMode's backward")]
                                                  if r.training else [])
    for lr in r.layers:
        for key, label in counters:
            c = lr.checks[key]
            if c.status == Status.OK and c.reason:
                out[f"{label} on {lr.op}: {c.reason}"] = None
    return list(out)


def problems(r: Report) -> list[str]:
    out = [f"{lr.name} ({lr.op}) {key}: {c.reason}"
           for lr in r.layers for key, c in lr.checks.items() if c.status == Status.MISMATCH]
    out += [f"total {key}: {c.reason}" for key, c in r.totals.items() if c.status == Status.MISMATCH]
    return out


# ---- table ----------------------------------------------------------------------------------------
def print_report(console: Console, r: Report, explain: bool = False) -> None:
    table = Table(title=_title(r), title_justify="left", show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("layer", no_wrap=True)
    table.add_column("op")
    cols = columns(r)
    for _, label in cols:
        table.add_column(label, justify="right")
    for lr in r.layers:
        table.add_row(lr.name, lr.op, *(cell(lr.checks[k]) for k, _ in cols),
                      style=None if lr.ok else "bold red")
    table.add_section()
    table.add_row(Text("total", style="bold"), "", "", *(cell(r.totals[k]) for k, _ in cols[1:]))
    console.print(table)
    for key, why in r.skipped.items():
        console.print(Text(f"{key} not run: {why}", style="yellow"))
    for line in problems(r):
        console.print(Text(f"✗ {line}", style="bold red"))
    for line in conventions_used(r):
        console.print(Text(f"  convention: {line}", style="dim"))
    for line in not_seen_summary(r):
        console.print(Text(f"  not compared: {line}", style="dim"))
    style = "bold green" if r.ok else "bold red"
    console.print(Text(f"{'✓' if r.ok else '✗'} {r.graph.model}: {verdict(r)}", style=style))
    if explain:
        console.print()
        print_explanation(console, r.explanation, r.measured)


def explanation_lines(e: Explanation, measured: dict[str, int]) -> list[tuple[str, str, str]]:
    """(counter, total, why it differs) rows; the first row is the analytic baseline."""
    parts = ", ".join(f"{cat} {human(n)}" for cat, n in sorted(e.baseline_parts.items()))
    rows = [("convcost MACs (conv+linear)", f"{human(e.baseline)} ({e.baseline:,})", parts)]
    for ct in e.counters:
        c = ct.convention
        how = "run" if c.runs else "modelled"
        got = measured.get(c.key)
        check = "" if got is None else (" ✓ measured" if got == ct.total else f" ✗ measured {got:,}")
        diffs = "; ".join(f"{'+' if d.delta > 0 else '−'}{human(abs(d.delta))} {d.category}" + (f" ({d.why})" if d.why else "")
                          for d in ct.differences) or "same as conv+linear MACs"
        if ct.unseen:
            diffs += "; not seen: " + not_seen(ct)
        rows.append((f"{c.label} ({how})", f"{human(ct.total)} ({ct.total:,}){check}", diffs))
    return rows


def print_explanation(console: Console, e: Explanation, measured: dict[str, int]) -> None:
    table = Table(title="why the counters differ (vs convcost's conv+linear MACs)", title_justify="left",
                  show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("counter", no_wrap=True)
    table.add_column("total", justify="right", no_wrap=True)
    table.add_column("difference, op category by op category")
    for row in explanation_lines(e, measured):
        table.add_row(*row)
    console.print(table)
    console.print(Text("ptflops/thop are not run: their conventions are modelled from their source and checked "
                       "against the real packages in convcost's tests (see docs/verify.md).", style="dim"))


# ---- markdown ------------------------------------------------------------------------------------
def render_markdown(reports: list[Report], explain: bool = False) -> str:
    out: list[str] = []
    for r in reports:
        out.append(f"### {_title(r)}\n")
        cols = columns(r)
        out.append("| layer | op | " + " | ".join(label for _, label in cols) + " |")
        out.append("|---|---|" + "---:|" * len(cols))
        for lr in r.layers:
            cells = " | ".join(cell(lr.checks[k]) for k, _ in cols)
            out.append(f"| {md_code(lr.name, table=True)} | {md_text(lr.op)} | {cells} |")
        out.append("| **total** | | | " + " | ".join(cell(r.totals[k]) for k, _ in cols[1:]) + " |")
        out.append("")
        for key, why in r.skipped.items():
            out.append(f"- {key} not run: {why}")
        out += [f"- ✗ {line}" for line in problems(r)]
        out += [f"- convention: {line}" for line in conventions_used(r)]
        out += [f"- not compared: {line}" for line in not_seen_summary(r)]
        out.append(f"\n**{'✓' if r.ok else '✗'} {verdict(r)}**\n")
        if explain:
            out.append("| counter | total | difference |\n|---|---:|---|")
            out += [f"| {a} | {b} | {c} |" for a, b, c in explanation_lines(r.explanation, r.measured)]
            out.append("")
    return "\n".join(out) + "\n"


# ---- JSON ----------------------------------------------------------------------------------------
def _json_value(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def check_dict(c: Check) -> dict[str, Any]:
    return {"status": c.status.value, "expected": _json_value(c.expected), "actual": _json_value(c.actual),
            "reason": c.reason}


def explanation_dict(e: Explanation, measured: dict[str, int]) -> dict[str, Any]:
    return {
        "baseline_macs": e.baseline,
        "baseline_parts": e.baseline_parts,
        "counters": [
            {
                "key": ct.convention.key,
                "label": ct.convention.label,
                "run": ct.convention.runs,
                "unit": ct.convention.unit,
                "predicted_total": ct.total,
                "measured_total": measured.get(ct.convention.key),
                "parts": ct.parts,
                "differences": [{"category": d.category, "delta": d.delta, "why": d.why} for d in ct.differences],
                "not_seen": ct.unseen,
            }
            for ct in e.counters
        ],
    }


def report_dict(r: Report) -> dict[str, Any]:
    g = r.graph
    return {
        "name": g.model,
        "file": g.file,
        "batch": g.batch,
        "input": [g.batch, *g.input_shape],
        **io_dict(g),
        "device": r.device,
        "real_forward": r.real_forward,
        "training": r.training,
        "estimated_bytes": r.estimated_bytes,
        "ok": r.ok,
        "mismatches": r.mismatches,
        "skipped": r.skipped,
        "counters": {c.key: {"label": c.label, "run": c.runs, "unit": c.unit} for c in CONVENTIONS},
        "totals": {k: check_dict(c) for k, c in r.totals.items()},
        "layers": [
            {"name": lr.name, "op": lr.op, "ok": lr.ok, "checks": {k: check_dict(c) for k, c in lr.checks.items()}}
            for lr in r.layers
        ],
        "explain": explanation_dict(r.explanation, r.measured),
    }


def render_json(reports: list[Report]) -> str:
    doc = {"schema": SCHEMA, "convcost": __version__, "ok": all(r.ok for r in reports),
           "models": [report_dict(r) for r in reports]}
    return strict_json.dumps(doc) + "\n"
