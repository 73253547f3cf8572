"""Tolerant markdown for JSON results of other commands (verify, profile) inside a report.

The renderer only relies on the top-level 'schema' string. Everything else is rendered by shape:
scalars as a list of facts, lists of flat records as tables, nested records as sub-sections.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..crosscheck.counters import Status
from ..errors import Loc, SpecError
from ..frontend.source import load_json
from .text import md_code, md_text

MAX_ROWS = 500
OPEN_ROWS = 20
MAX_LEVEL = 4


def load_result(path: str | Path, schema: str) -> dict[str, Any]:
    """A JSON document whose 'schema' starts with ``schema`` + '/' (e.g. 'convcost.verify/1')."""
    name = str(path)
    doc, _ = load_json(path, f"{schema} JSON file", "result")
    got = doc.get("schema") if isinstance(doc, dict) else None
    if not isinstance(got, str) or not got.startswith(schema + "/"):
        raise SpecError(f"expected a '{schema}/N' document, got schema {got!r}", Loc(name, 1, 1))
    if got == schema + "/1" and not _named_models(doc):  # the layout this version writes; later ones: generic
        raise SpecError(f"a '{got}' document needs a 'models' list of results, each with a 'name'", Loc(name, 1, 1))
    return doc


def _named_models(doc: dict[str, Any]) -> bool:
    models = doc.get("models")
    return isinstance(models, list) and all(isinstance(m, dict) and isinstance(m.get("name"), str) for m in models)


def result_models(doc: dict[str, Any]) -> list[str]:
    """Names of the models a loaded result document holds ([] for a layout this version does not know)."""
    return [m["name"] for m in doc["models"]] if _named_models(doc) else []


def _md(value: object) -> str:
    if isinstance(value, bool):
        text = "yes" if value else "no"
    elif value is None:
        text = "—"
    elif isinstance(value, int):
        text = f"{value:,}"
    elif isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, (list, tuple)) and all(not isinstance(v, (dict, list)) for v in value):
        text = "×".join(str(v) for v in value) if all(isinstance(v, int) for v in value) else ", ".join(map(str, value))
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    return md_text(text)


def _flat(item: object) -> bool:
    """A record whose values are scalars, lists of scalars, or records like that (flattened to a.b)."""
    return isinstance(item, dict) and all(
        not isinstance(v, (dict, list)) or _is_scalar_list(v) or (isinstance(v, dict) and _flat(v))
        for v in item.values()
    )


def _flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        elif isinstance(v, list) and len(v) > 8:
            out[f"{prefix}{k}"] = f"[{len(v)} values]"
        else:
            out[f"{prefix}{k}"] = v
    return out


def _table(rows: list[dict[str, Any]]) -> list[str]:
    rows = [_flatten(r) for r in rows]
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    lines = ["| " + " | ".join(_md(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows[:MAX_ROWS]:
        lines.append("| " + " | ".join(_md(r.get(c)) for c in cols) + " |")
    if len(rows) > MAX_ROWS:
        lines += ["", f"({len(rows) - MAX_ROWS:,} more rows not shown)"]
    return lines


def render_value(key: str, value: Any, level: int) -> list[str]:
    heading = "#" * min(level, 6)
    if isinstance(value, list) and value and all(_flat(v) for v in value):
        table = _table(value)
        if len(value) > OPEN_ROWS:
            return [f"<details>\n<summary>{_md(key)} ({len(value):,} rows)</summary>", "", *table, "", "</details>", ""]
        return [f"{heading} {_md(key)}", "", *table, ""]
    if isinstance(value, dict) or (isinstance(value, list) and value):
        if level > MAX_LEVEL + 2:
            return [f"- **{_md(key)}**: {_md(value)}"]
        items = value.items() if isinstance(value, dict) else (
            (str(v.get("name", f"#{k + 1}")) if isinstance(v, dict) else f"#{k + 1}", v) for k, v in enumerate(value)
        )
        return [f"{heading} {_md(key)}", "", *render_fields(dict(items), level + 1)]
    return [f"- **{_md(key)}**: {_md(value)}"]


def render_fields(doc: dict[str, Any], level: int) -> list[str]:
    facts = [(k, v) for k, v in doc.items() if not isinstance(v, (dict, list)) or _is_scalar_list(v)]
    nested = [(k, v) for k, v in doc.items() if (k, v) not in facts]
    out: list[str] = []
    for k, v in facts:
        out += render_value(k, v, level)
    if facts:
        out.append("")
    for k, v in nested:
        out += render_value(k, v, level)
    return out


def _is_scalar_list(v: object) -> bool:
    return isinstance(v, list) and all(not isinstance(x, (dict, list)) for x in v)


def render_result(title: str, path: str, doc: dict[str, Any], level: int = 2) -> list[str]:
    """Any result document, by shape (the fallback when its layout is not the one we know)."""
    body = {k: v for k, v in doc.items() if k != "schema"}
    return [*_intro(title, path, doc, level), *render_fields(body, level + 1)]


def _intro(title: str, path: str, doc: dict[str, Any], level: int) -> list[str]:
    return [f"{'#' * level} {title}", "", f"From {md_code(path)} (schema {md_code(str(doc['schema']))}).", ""]


def _records(doc: dict[str, Any], *keys: str) -> list[dict[str, Any]] | None:
    """doc['models'] when it is a list of records that all have ``keys``; else None."""
    models = doc.get("models")
    if not isinstance(models, list) or not models:
        return None
    if not all(isinstance(m, dict) and all(k in m for k in keys) for m in models):
        return None
    return models


# ---- convcost.verify/1 (docs/verify.md) ---------------------------------------------------------
_MARK = {Status.OK: "✅", Status.MISMATCH: "❌", Status.NOT_COMPARED: "–"}


def _check_cell(c: Any) -> list[str]:
    if not isinstance(c, dict):
        return ["?", "", "", _md(c)]
    return [
        f"{_MARK.get(str(c.get('status')), '?')} {_md(c.get('status'))}",
        _md(c.get("expected")),
        _md(c.get("actual")),
        _md(c.get("reason") or ""),
    ]


def render_verify(path: str, doc: dict[str, Any], level: int = 2) -> list[str]:
    models = _records(doc, "name", "totals")
    if models is None or not all(isinstance(m["totals"], dict) for m in models):
        return render_result("Cross-check (verify)", path, doc, level)
    ok = doc.get("ok")
    verdict = "all compared counts agree" if ok else "some counts disagree" if ok is False else "verdict not given"
    out = [*_intro("Cross-check (verify)", path, doc, level), f"**{'✅' if ok else '❌'} {verdict}**", ""]
    h = "#" * min(level + 1, 6)
    for m in models:
        out += [f"{h} {_md(m['name'])}", ""]
        facts = [f"{k} {_md(m[k])}" for k in ("device", "batch", "mismatches") if k in m]
        if facts:
            out += ["; ".join(facts) + ".", ""]
        out += ["| count | status | convcost | tool | note |", "|---|---|---:|---:|---|"]
        counters = m.get("counters") if isinstance(m.get("counters"), dict) else {}

        def name(k: str, counters: dict[str, Any] = counters) -> str:
            c = counters.get(k)
            return _md(c["label"]) if isinstance(c, dict) and isinstance(c.get("label"), str) else _md(k)

        out += [f"| {name(k)} | " + " | ".join(_check_cell(c)) + " |" for k, c in m["totals"].items()]
        out.append("")
        bad = [
            (layer, k, c)
            for layer in m.get("layers") or []
            if isinstance(layer, dict) and isinstance(layer.get("checks"), dict)
            for k, c in layer["checks"].items()
            if isinstance(c, dict) and c.get("status") == Status.MISMATCH
        ]
        if bad:
            out += ["Layers that disagree:", "", "| layer | op | count | status | convcost | tool | note |",
                    "|---|---|---|---|---:|---:|---|"]
            out += [f"| {md_code(str(lr.get('name')), table=True)} | {_md(lr.get('op'))} | {_md(k)} | "
                    + " | ".join(_check_cell(c)) + " |" for lr, k, c in bad[:MAX_ROWS]]
            out.append("")
        skipped = m.get("skipped")
        if isinstance(skipped, dict):
            out += [f"- {_md(k)} not run: {_md(v)}" for k, v in skipped.items()]
            if skipped:
                out.append("")
    return out


# ---- convcost.profile/1 (docs/profile.md) -------------------------------------------------------
def _seconds(v: Any) -> str:
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return "—"
    if v >= 1:
        return f"{v:.3g} s"
    if v >= 1e-3:
        return f"{v * 1e3:.3g} ms"
    return f"{v * 1e6:.3g} µs"


def _span_row(r: dict[str, Any]) -> str:
    roof = r.get("roofline") if isinstance(r.get("roofline"), dict) else {}
    meas = r.get("measured") if isinstance(r.get("measured"), dict) else {}
    pct = r.get("roofline_pct")
    return (
        f"| {_md(r.get('name'))} | {_md(r.get('kind'))} | {_md(r.get('macs'))} | {_seconds(meas.get('median_s'))} "
        f"| {_seconds(roof.get('ideal_s'))} | {_md(roof.get('bound'))} "
        f"| {f'{pct:.1f} %' if isinstance(pct, (int, float)) else '—'} |"
    )


def render_profile(path: str, doc: dict[str, Any], level: int = 2) -> list[str]:
    models = _records(doc, "name")
    if models is None or not all(isinstance(m.get("model", {}), dict) for m in models):
        return render_result("Profile", path, doc, level)
    out = _intro("Profile", path, doc, level)
    env = doc.get("environment") if isinstance(doc.get("environment"), dict) else {}
    hw = doc.get("hardware") if isinstance(doc.get("hardware"), dict) else {}
    facts = [f"{k} {_md(env[k])}" for k in ("torch", "device", "device_name", "threads", "dtype") if k in env]
    if hw.get("name"):
        facts.append(f"roofline of '{_md(hw['name'])}'")
    if facts:
        out += ["; ".join(facts) + ".", ""]
    if env.get("method"):
        out += [f"Timing: {_md(env['method'])}.", ""]
    h = "#" * min(level + 1, 6)
    for m in models:
        out += [f"{h} {_md(m['name'])}", ""]
        out += ["| block | kind | MACs | measured (median) | roofline time | bound | % of roofline |",
                "|---|---|---:|---:|---:|---|---:|"]
        spans = [m["model"]] if isinstance(m.get("model"), dict) else []
        spans += [b for b in m.get("blocks") or [] if isinstance(b, dict)]
        out += [_span_row(r) for r in spans[:MAX_ROWS]]
        out.append("")
        mem = m.get("memory")
        if isinstance(mem, dict) and "peak_activation_bytes" in mem:
            out += [f"Peak activation memory {_md(mem['peak_activation_bytes'])} bytes "
                    f"(at {_md(mem.get('peak_activation_layer'))}).", ""]
    return out
