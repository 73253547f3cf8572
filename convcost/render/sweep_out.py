"""A sweep's rows: the terminal table, JSON ("convcost.sweep/1"), CSV and markdown, and its Pareto front."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import __version__
from ..cost import FIELDS
from ..costmodel.memory import human_bytes
from ..costmodel.sweep import PointResult, SweepResult
from ..errors import UsageError, did_you_mean, escape_controls
from ..graph.settings import INPUT, show_value
from ..units import human
from . import strict_json
from .grid import Grid
from .markdown import escape

SCHEMA = "convcost.sweep/1"
NBSP = "\u00a0"  # between a number and its unit in markdown: a cell never wraps between them
METRICS = ("params", "macs", "flops", "activations", "traffic", "time")
TITLES = {"params": "params", "macs": "MACs", "flops": "FLOPs", "activations": "activations", "traffic": "traffic",
          "time": "time", "buffers": "buffers"}
MAX_CHART_POINTS = 40  # a markdown bar chart with more bars than this is unreadable at 1012 px


def human_time(s: float) -> str:
    from .profile_out import human_time as fmt

    return fmt(s)


def metric_value(p: PointResult, name: str) -> float:
    """A point's number for a metric (the point has no error)."""
    assert p.cost is not None
    if name == "traffic":
        return p.traffic_bytes
    if name == "time":
        return p.ideal_s
    if name == "flops":
        return p.cost.flops
    return int(getattr(p.cost, name))


def metric_text(p: PointResult, name: str) -> str:
    v = metric_value(p, name)
    if name == "traffic":
        return human_bytes(v)
    if name == "time":
        return human_time(v)
    return human(int(v))


# ---- Pareto front ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Objective:
    name: str  # a metric (METRICS, buffers) or an axis of the sweep
    goal: str  # 'min' or 'max'


def parse_objectives(text: str, axes: Sequence[str]) -> tuple[Objective, ...]:
    """'macs,params' (metrics are minimised), 'macs,input' (an axis is maximised: more for the same cost),
    'macs,width:min' (a goal given)."""
    out = []
    known = [*METRICS, "buffers", *axes]
    for item in text.split(","):
        name, _, goal = item.strip().partition(":")
        name = name.strip()
        if name not in known:
            raise UsageError(f"--pareto: unknown name '{name}'{did_you_mean(name, known)}; use metrics "
                             f"({', '.join(METRICS)}) or the swept names ({', '.join(axes) or 'none'})")
        goal = goal.strip() or ("max" if name in axes else "min")
        if goal not in ("min", "max"):
            raise UsageError(f"--pareto: '{item.strip()}': the goal after ':' is min or max")
        if any(o.name == name for o in out):
            raise UsageError(f"--pareto: '{name}' is given twice")
        out.append(Objective(name, goal))
    if len(out) < 2:
        raise UsageError("--pareto needs at least two names, e.g. --pareto macs,params")
    return tuple(out)


def pareto_front(points: Sequence[Sequence[float]]) -> list[bool]:
    """Which points no other point dominates (at most as large in every coordinate, smaller in one: all are
    minimised). Points sorted lexicographically meet their dominators first, so each is compared with the
    front found so far only."""
    order = sorted(range(len(points)), key=lambda k: tuple(points[k]))
    front: list[int] = []
    on = [False] * len(points)
    for k in order:
        p = points[k]
        if any(all(a <= b for a, b in zip(points[f], p)) and tuple(points[f]) != tuple(p) for f in front):
            continue
        front.append(k)
        on[k] = True
    return on


def _axis_number(name: str, value: Any) -> float:
    if name == INPUT:
        if len(value) == 1:
            return value[0]  # one size for every spatial dim: that size
        n = 1
        for d in value:
            n *= d
        return n  # a bigger input: its element count
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"--pareto: '{name}' has values that are not numbers ({show_value(name, value)})")
    return float(value)


def mark_front(result: SweepResult, objectives: tuple[Objective, ...]) -> list[bool | None]:
    """Per point: on the front (True), off it (False), or not counted (None: the point failed).
    Each model has its own front."""
    names = [a.name for a in result.axes]
    marks: list[bool | None] = [None] * len(result.points)
    by_model: dict[str, list[int]] = {}
    for k, p in enumerate(result.points):
        if p.ok:
            by_model.setdefault(p.model, []).append(k)
    for indices in by_model.values():
        vectors = []
        for k in indices:
            p = result.points[k]
            vec = []
            for o in objectives:
                v = _axis_number(o.name, p.values[names.index(o.name)]) if o.name in names else metric_value(p, o.name)
                vec.append(-v if o.goal == "max" else v)
            vectors.append(vec)
        for k, on in zip(indices, pareto_front(vectors)):
            marks[k] = on
    return marks


# ---- shared ---------------------------------------------------------------------------------------
def varying(result: SweepResult) -> list[int]:
    """The axes with more than one value (those with one are said once, above the rows)."""
    return [k for k, a in enumerate(result.axes) if len(a.values) > 1]


def fixed_text(result: SweepResult) -> str:
    fixed = [f"{a.name}={show_value(a.name, a.values[0])}" for a in result.axes if len(a.values) == 1]
    return ", ".join(fixed)


def headline(result: SweepResult, marks: list[bool | None] | None) -> str:
    models = list(dict.fromkeys(p.model for p in result.points))
    axes = " × ".join(f"{a.name} ({len(a.values)})" for a in result.axes if len(a.values) > 1) or "one point"
    failed = sum(not p.ok for p in result.points)
    text = f"sweep of {escape_controls(result.file)}: {', '.join(models)}; {axes}: {len(result.points):,} points"
    if failed:
        text += f", {failed:,} failed"
    if marks is not None:
        text += f", {sum(bool(m) for m in marks):,} on the Pareto front"
    fixed = fixed_text(result)
    if fixed:
        text += f"; {fixed}"
    return text + f"; roofline {result.profile.name} {result.dtype}"


# ---- terminal -------------------------------------------------------------------------------------
def sweep_table(result: SweepResult, marks: list[bool | None] | None) -> Grid:
    several = len({p.model for p in result.points}) > 1
    shown = varying(result)
    headers = [*(["model"] if several else []), *(result.axes[k].name for k in shown), *(TITLES[m] for m in METRICS)]
    right = [False] * (int(several) + len(shown)) + [True] * len(METRICS)
    if marks is not None:
        headers.append("front")
        right.append(False)
    headers.append("error" if any(not p.ok for p in result.points) else "")
    right.append(False)
    if not headers[-1]:
        headers.pop()
        right.pop()
    t = Grid(headers, right)
    for k, p in enumerate(result.points):
        cells = [*([p.model] if several else []), *(show_value(result.axes[a].name, p.values[a]) for a in shown)]
        if p.ok:
            cells += [metric_text(p, m) for m in METRICS]
        else:
            cells += ["—"] * len(METRICS)
        if marks is not None:
            cells.append("◆" if marks[k] else "")
        if headers[-1] == "error":
            cells.append(escape_controls(p.error or ""))
        t.add_row(*cells, style="bold" if marks is not None and marks[k] else ("dim" if not p.ok else ""))
    return t


# ---- json -----------------------------------------------------------------------------------------
def _json_value(name: str, value: Any) -> Any:
    return list(value) if name == INPUT else value


def render_json(result: SweepResult, marks: list[bool | None] | None, objectives: tuple[Objective, ...] | None) -> str:
    rows = []
    for k, p in enumerate(result.points):
        rows.append({
            "model": p.model,
            "values": {a.name: _json_value(a.name, v) for a, v in zip(result.axes, p.values)},
            "input_shape": list(p.input_shape) if p.input_shape is not None else None,
            "batch": p.batch if p.ok else None,
            "totals": p.cost.as_dict() if p.cost is not None else None,
            "traffic_bytes": p.traffic_bytes if p.ok else None,
            "ideal_s": p.ideal_s if p.ok else None,
            "pareto": None if marks is None else marks[k],
            "error": p.error,
        })
    doc = {
        "schema": SCHEMA,
        "convcost": __version__,
        "file": result.file,
        "hardware": {"name": result.profile.name, "description": result.profile.description},
        "dtype": result.dtype,
        "axes": [{"name": a.name, "values": [_json_value(a.name, v) for v in a.values]} for a in result.axes],
        "pareto": None if objectives is None else [{"name": o.name, "goal": o.goal} for o in objectives],
        "rows": rows,
    }
    return strict_json.dumps(doc) + "\n"


# ---- csv ------------------------------------------------------------------------------------------
def render_csv(result: SweepResult, marks: list[bool | None] | None) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    cost_fields = [*FIELDS, "flops"]
    w.writerow(["model", *(a.name for a in result.axes), "input_shape", "batch", *cost_fields, "traffic_bytes", "ideal_s",
                "pareto", "error"])
    for k, p in enumerate(result.points):
        values = [show_value(a.name, v) for a, v in zip(result.axes, p.values)]
        shape = "x".join(map(str, p.input_shape)) if p.input_shape is not None else ""
        if p.cost is not None:
            d = p.cost.as_dict()
            numbers = [p.batch, *(d[f] for f in cost_fields), p.traffic_bytes, repr(p.ideal_s)]
        else:
            numbers = [""] * (len(cost_fields) + 3)
        mark = "" if marks is None or marks[k] is None else int(bool(marks[k]))
        w.writerow([p.model, *values, shape, *numbers, mark, p.error or ""])
    return out.getvalue()


# ---- markdown -------------------------------------------------------------------------------------
def md_number(text: str) -> str:
    """'12.44 M' -> '12.44 M' with a no-break space: a table cell never wraps a number from its unit."""
    return text.replace(" ", NBSP)


def point_label(result: SweepResult, p: PointResult, shown: list[int]) -> str:
    parts = [show_value(result.axes[k].name, p.values[k]) for k in shown]
    return "/".join(parts) if parts else p.model


def unit_for(values: list[float]) -> str:
    top = max(values) if values else 0
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if top >= size:
            return unit
    return ""


def render_markdown(result: SweepResult, marks: list[bool | None] | None, metric: str = "macs") -> str:
    several = len({p.model for p in result.points}) > 1
    shown = varying(result)
    head = [*(["model"] if several else []), *(escape(result.axes[k].name) for k in shown), *(TITLES[m] for m in METRICS)]
    align = ["---"] * (int(several) + len(shown)) + ["---:"] * len(METRICS)
    if marks is not None:
        head.append("front")
        align.append(":---:")
    failed = any(not p.ok for p in result.points)
    if failed:
        head.append("error")
        align.append("---")
    lines = [f"## Sweep of `{escape(result.file)}`", "", escape(headline(result, marks)) + ".", "",
             "| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for k, p in enumerate(result.points):
        cells = [*([escape(p.model)] if several else []),
                 *(escape(show_value(result.axes[a].name, p.values[a])) for a in shown)]
        cells += [md_number(metric_text(p, m)) for m in METRICS] if p.ok else ["—"] * len(METRICS)
        if marks is not None:
            cells.append("◆" if marks[k] else "")
        if failed:
            cells.append(escape(p.error or ""))
        lines.append("| " + " | ".join(cells) + " |")
    ok = [p for p in result.points if p.ok]
    if 2 <= len(ok) <= MAX_CHART_POINTS:
        values = [float(metric_value(p, metric)) for p in ok]
        unit = unit_for(values)
        from .mermaid import xychart

        scale = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}[unit]
        title = f"{TITLES[metric]} ({unit or 'count'}) per point"
        labels = [point_label(result, p, shown) + (f" {p.model}" if several else "") for p in ok]
        lines += ["", "```mermaid", xychart(title, labels, [v / scale for v in values], unit or "count"), "```"]
    return "\n".join(lines) + "\n"
