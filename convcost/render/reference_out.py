"""Rendering of `convcost verify --reference` reports: table, markdown, JSON ("convcost.verify-reference/1")."""

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
from .text import inputs_text, md_text

if TYPE_CHECKING:
    from ..crosscheck.reference import Pair, ReferenceReport, Unit
    from ..crosscheck.verify import Check

SCHEMA = "convcost.verify-reference/1"
TOTALS = (("output", "output"), ("params", "params"), ("buffers", "buffers"), ("flop_counter", "FlopCounterMode FLOPs"),
          ("fvcore", "fvcore flops"))
SIDE_ROWS = (("layer", "name"), ("kind", "kind"), ("output", "shape"), ("params", "params"), ("buffers", "buffers"),
             ("MACs", "macs"))


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


def verdict(r: ReferenceReport) -> str:
    if r.ok:
        return f"the spec describes {r.target}: {len(r.pairs)} weighted layers matched by {r.matching}, all agree"
    d = r.divergence
    if d is None:
        return "the layers agree but the totals differ"
    n = f"{r.diverging} of {len(r.pairs)}"
    return f"first divergence at {where(d)} (layers matched by {r.matching}); {n} weighted layers differ"


def where(d: Pair) -> str:
    """"spec layer 'layer2.0.conv1' (conv) / reference module '5.conv1' (Conv2d)"."""
    parts = []
    if d.spec is not None:
        parts.append(f"spec layer '{d.spec.name}' ({d.spec.kind})")
    if d.ref is not None:
        parts.append(f"reference module '{d.ref.name}' ({d.ref.kind})")
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
    return [f"total {c.reason}" for c in r.totals.values() if c.status == Status.MISMATCH]


def print_reference(console: Console, r: ReferenceReport) -> None:
    console.print(Text(title(r), style="italic"))
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("whole model", no_wrap=True)
    table.add_column("spec", justify="right")
    table.add_column("reference", justify="right")
    table.add_column("")
    for key, label in TOTALS:
        if key in r.totals:
            c = r.totals[key]
            mark = {Status.OK: "✓", Status.MISMATCH: "✗"}.get(c.status, "–")
            bad = c.status == Status.MISMATCH
            table.add_row(label, _value(c.expected), _value(c.actual), mark, style="bold red" if bad else None)
    console.print(table)
    for key, why in r.skipped.items():
        console.print(Text(f"{key} not compared: {why}", style="yellow"))
    d = r.divergence
    if d is not None:
        console.print()
        t = Table(title="first divergence", title_justify="left", show_edge=False, pad_edge=False, header_style="bold")
        t.add_column("")
        t.add_column("spec", justify="right")
        t.add_column("reference", justify="right")
        for label, attr in SIDE_ROWS:
            t.add_row(label, side_value(d.spec, attr), side_value(d.ref, attr))
        console.print(t)
        for why in divergence_reasons(r):
            console.print(Text(f"✗ {why}", style="bold red"))
    for line in total_problems(r):
        console.print(Text(f"✗ {line}", style="bold red"))
    style = "bold green" if r.ok else "bold red"
    console.print(Text(f"{'✓' if r.ok else '✗'} {r.graph.model}: {verdict(r)}", style=style))


def render_markdown(reports: list[ReferenceReport]) -> str:
    """The user's module names and target are shown literally (text.md_text): no markup, no HTML."""
    out: list[str] = []
    for r in reports:
        out.append(f"### {md_text(title(r))}\n")
        out.append("| whole model | spec | reference | |\n|---|---:|---:|---|")
        for key, label in TOTALS:
            if key in r.totals:
                c = r.totals[key]
                mark = {Status.OK: "✓", Status.MISMATCH: "✗"}.get(c.status, "–")
                out.append(f"| {label} | {_value(c.expected)} | {_value(c.actual)} | {mark} |")
        out.append("")
        out += [f"- {key} not compared: {md_text(why)}" for key, why in r.skipped.items()]
        d = r.divergence
        if d is not None:
            out.append("\nFirst divergence:\n\n| | spec | reference |\n|---|---:|---:|")
            out += [f"| {label} | {md_text(side_value(d.spec, a))} | {md_text(side_value(d.ref, a))} |"
                    for label, a in SIDE_ROWS]
            out.append("")
            out += [f"- ✗ {md_text(why)}" for why in divergence_reasons(r)]
        out += [f"- ✗ {md_text(line)}" for line in total_problems(r)]
        out.append(f"\n**{'✓' if r.ok else '✗'} {md_text(verdict(r))}**\n")
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
    return {"name": u.name, "kind": u.kind, "shape": _json(u.shape), "params": u.params, "buffers": u.buffers, "macs": u.macs}


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
        "skipped": r.skipped,
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
