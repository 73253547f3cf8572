"""A tool's numbers (`--convention NAME`) as text lines, markdown and JSON, shared by analyze, compare, check and
report: the total in the tool's unit, its parameter count, and why it differs from convcost's conv+linear MACs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..costmodel.convention import DEFAULT, ConventionView
from ..units import human
from .text import md_text as escape

if TYPE_CHECKING:  # the counters load only for --convention (start-up time)
    from ..crosscheck.counters import CounterTotals, Difference


def signed(n: int) -> str:
    return f"+{human(n)}" if n > 0 else f"−{human(-n)}"


def headline(v: ConventionView) -> str:
    """'thop-style (under torch.no_grad()): 4.13 G (4,133,742,592) MACs + hooks, params 25.56 M (25,557,032)'."""
    c = v.chosen.convention
    params = "" if v.params is None else f", params {human(v.params)} ({v.params:,})"
    return f"{v.chosen.title}: {human(v.total)} ({v.total:,}) {c.unit}{params}"


def not_seen(t: CounterTotals) -> str:
    """'relu ×3, flatten ×1': the layers a counter does not see, by op category, with why where it is how they meet
    torch (a function or a subclass: the spec's `torch`)."""
    return ", ".join(f"{cat} ×{n}" + (f" ({t.unseen_why[cat]})" if cat in t.unseen_why else "")
                     for cat, n in sorted(t.unseen.items()))


def _difference(d: Difference) -> str:
    return f"{signed(d.delta)} {d.category}" + (f" ({d.why})" if d.why else "")


def difference_lines(v: ConventionView) -> list[str]:
    """Why the tool's count differs from convcost's conv+linear MACs, op category by op category; then its
    parameters, where they differ from every parameter of the spec."""
    t = v.totals
    lines = []
    if t.differences:
        lines.append("against convcost's conv+linear MACs: " + "; ".join(_difference(d) for d in t.differences))
    if t.unseen:
        lines.append("not seen: " + not_seen(t))
    if t.params_differences:
        lines.append("params against every parameter: " + "; ".join(_difference(d) for d in t.params_differences))
    return lines


TEXT_WIDTH = 120  # the difference lines wrap here (the reasons are long)


def text_lines(v: ConventionView) -> list[str]:
    import textwrap

    lines = [f"convention {v.name}: {headline(v)}"]
    for line in difference_lines(v):
        lines += textwrap.wrap(line, TEXT_WIDTH, initial_indent="       ", subsequent_indent="         ",
                               break_on_hyphens=False)
    return lines


def markdown_lines(v: ConventionView) -> list[str]:
    return [f"Counted as **{escape(v.chosen.title)}** (convention `{v.name}`): {v.total:,} {escape(v.chosen.convention.unit)}"
            + ("" if v.params is None else f", params {v.params:,}") + ".", "",
            *(f"- {escape(line)}" for line in difference_lines(v))]


def _diffs(ds: tuple[Difference, ...]) -> list[dict[str, Any]]:
    return [{"category": d.category, "delta": d.delta, "why": d.why} for d in ds]


def json_dict(v: ConventionView | None) -> dict[str, Any]:
    """The model's "convention": convcost's own by default; a tool's name, label, total, params and differences."""
    if v is None:
        return {"name": DEFAULT}
    c = v.chosen.convention
    t = v.totals
    return {
        "name": v.name, "tool": c.key, "label": c.label, "grad": v.chosen.grad, "unit": c.unit, "about": c.about,
        "total": v.total, "params": v.params, "by_category": dict(sorted(t.parts.items())),
        "differences": _diffs(t.differences), "not_seen": dict(sorted(t.unseen.items())),
        "params_differences": _diffs(t.params_differences),
    }
