"""`convcost profile --training`: the training step's memory, estimated and measured, as a table, markdown or JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import __version__
from ..costmodel.memory import human_bytes
from . import strict_json
from .extras_out import ASSUMES
from .text import md_text

if TYPE_CHECKING:
    from ..crosscheck.training_check import TrainingCheck

SCHEMA = "convcost.training/1"
NOT_MEASURED = "not measured"


def rows(c: TrainingCheck) -> list[tuple[str, int, int | None, str]]:
    """(component, estimated bytes, measured bytes or None, note)."""
    e, m = c.estimate.memory, c.measured
    counters = f"besides {m.step_counter_bytes:,} B of per-tensor step counters" if m.step_counter_bytes else ""
    return [
        ("weights", e.weight_bytes, m.weight_bytes, "parameters and buffers"),
        ("gradients", e.grad_bytes, m.grad_bytes, "every .grad after the backward"),
        (f"{e.optimizer} state", e.optimizer_bytes, m.optimizer_bytes, counters),
        ("saved activations", e.saved_bytes, m.saved_bytes, "saved_tensors_hooks, each storage once"),
        ("largest transient", e.transient_bytes, None, f"{e.transient_phase}, {e.transient_layer}; not measured apart"),
        ("peak", e.peak_bytes, m.peak_bytes, m.peak_note),
    ]


def verdict(estimate: int, measured: int | None) -> str:
    if measured is None:
        return "–"
    if measured == estimate:
        return "✓"
    return f"{100 * (measured - estimate) / estimate:+.1f} %" if estimate else "≠"


def title(c: TrainingCheck) -> str:
    e = c.estimate.memory
    g = c.graph
    return f"{g.model}: one training step ({e.optimizer}, {e.dtype}, batch {g.batch}) on {c.device}"


def table_lines(c: TrainingCheck) -> list[tuple[str, str, str, str, str]]:
    out = []
    for name, est, got, note in rows(c):
        out.append((name, f"{est:,} ({human_bytes(est)})", NOT_MEASURED if got is None else f"{got:,} ({human_bytes(got)})",
                    verdict(est, got), note))
    return out


def print_checks(console: Any, checks: list[TrainingCheck]) -> None:
    from rich.table import Table
    from rich.text import Text

    for k, c in enumerate(checks):
        if k:
            console.print()
        # Text: a model or layer name is shown as written, never read as rich markup
        t = Table(title=Text(title(c)), title_justify="left", show_edge=False, pad_edge=False, header_style="bold")
        for h, right in (("memory", False), ("estimate", True), ("measured", True), ("", True), ("how", False)):
            t.add_column(h, justify="right" if right else "left")
        for row in table_lines(c):
            t.add_row(*(Text(cell) for cell in row))
        console.print(t)
        console.print(Text(f"estimate assumes {ASSUMES}"))


def render_markdown(checks: list[TrainingCheck]) -> str:
    out = []
    for c in checks:
        out += [f"### {md_text(title(c))}", "", "| memory | estimate | measured | | how |", "|---|---:|---:|---:|---|"]
        out += [f"| {a} | {b} | {m} | {v} | {md_text(n)} |" for a, b, m, v, n in table_lines(c)]
        out += ["", f"The estimate assumes {ASSUMES}.", ""]
    return "\n".join(out) + "\n"


def render_json(checks: list[TrainingCheck]) -> str:
    doc = {
        "schema": SCHEMA,
        "convcost": __version__,
        "models": [
            {
                "name": c.graph.model,
                "file": c.graph.file,
                "batch": c.graph.batch,
                "device": c.device,
                "optimizer": c.estimate.memory.optimizer,
                "dtype": c.estimate.memory.dtype,
                "memory": [{"name": name, "estimate_bytes": est, "measured_bytes": got, "note": note}
                           for name, est, got, note in rows(c)],
                "step_counter_bytes": c.measured.step_counter_bytes,
                "assumes": ASSUMES,
            }
            for c in checks
        ],
    }
    return strict_json.dumps(doc) + "\n"
