"""`convcost profile --accuracy`: predicted against measured times, as a table, markdown or a JSON object."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from ..crosscheck.accuracy import Accuracy, ErrorStats
from ..crosscheck.profiling import ModelProfile, ProfileRun
from ..units import human
from .grid import Grid
from .profile_out import header_lines, human_time, spread

DEFINITION = "error = (predicted − measured median) / measured median"


def signed(x: float | None) -> str:
    return "–" if x is None else f"{x:+.1f} %".replace("-", "−")


def _layer_stats(m: ModelProfile) -> ErrorStats | None:
    return ErrorStats.of([(u.name, u.error_pct) for u in m.layers if u.error_pct is not None])


def model_rows(run: ProfileRun) -> list[list[str]]:
    rows = []
    for m in run.models:
        w, stats = m.whole, _layer_stats(m)
        rows.append([
            m.graph.model, f"{len(m.graph.nodes):,}", human(w.macs), human_time(w.span.ideal_s),
            human_time(w.timing.median_s) if w.timing else "–", spread(w.timing), signed(w.error_pct),
            "–" if stats is None else f"{stats.median_abs:.1f} %", "–" if stats is None else f"{stats.p90_abs:.1f} %",
            "–" if m.blocks_ratio is None else f"{m.blocks_ratio:.2f}",
        ])
    return rows


MODEL_HEADS = ["model", "layers", "MACs", "predicted", "median", "spread", "error", "layer |err| med", "p90", "Σ blocks"]


def level_line(acc: Accuracy) -> str | None:
    """What the calibration's level against this run is, in words (None without a calibration)."""
    level = acc.level
    if level is None:
        return None
    what = "layers that are exactly the work of a calibration point (its op and size)"
    if level.ratio is None:
        return f"calibration level: none of the {what} was measured"
    verdict = ("the calibration ran at this run's speed" if abs(level.ratio - 1) <= 0.1 else
               f"the calibration ran {level.ratio:.2f}× as fast as this run: calibrate again in this run's conditions"
               if level.ratio > 1 else
               f"the calibration ran {1 / level.ratio:.2f}× as slow as this run: calibrate again in this run's conditions")
    return (f"calibration level: {level.layers:,} {what} measured ×{level.ratio:.2f} its time (median): {verdict}")


def summary_lines(acc: Accuracy) -> list[str]:
    lines = []
    for what, stats in (("whole models", acc.models), ("blocks", acc.blocks), ("layers", acc.layers)):
        if stats is None:
            continue
        lines.append(
            f"{what} ({stats.count:,}): median |error| {stats.median_abs:.1f} %, 90th percentile {stats.p90_abs:.1f} %, "
            f"bias (median error) {signed(stats.median)}, worst {signed(stats.worst)} ({stats.worst_name})"
        )
    level = level_line(acc)
    if level is not None:
        lines.append(level)
    return lines


KIND_HEADS = ["kind", "layers", "% of predicted", "median error", "median |err|", "p90 |err|"]


def kind_rows(acc: Accuracy) -> list[list[str]]:
    return [
        [k.kind, f"{k.stats.count:,}", f"{k.predicted_share:.1f} %", signed(k.stats.median), f"{k.stats.median_abs:.1f} %",
         f"{k.stats.p90_abs:.1f} %"]
        for k in acc.kinds
    ]


def print_accuracy(console: Console, run: ProfileRun, acc: Accuracy) -> None:
    for line in header_lines(run):
        console.print(Text(line, style="dim"))
    console.print()
    table = Grid(MODEL_HEADS, [False, *[True] * (len(MODEL_HEADS) - 1)])
    for row in model_rows(run):
        table.add_row(*row)
    table.print(console)
    console.print(Text(f"{DEFINITION}; Σ blocks = the blocks' medians summed / the model's median", style="dim"))
    console.print()
    for line in summary_lines(acc):
        console.print(line)
    if acc.kinds:
        console.print()
        kinds = Grid(KIND_HEADS, [False, *[True] * (len(KIND_HEADS) - 1)], title="layer errors by kind")
        for row in kind_rows(acc):
            kinds.add_row(*row)
        kinds.print(console)


def render_accuracy_markdown(run: ProfileRun, acc: Accuracy) -> str:
    parts = [*(f"{line}  " for line in header_lines(run)), ""]
    parts += ["| " + " | ".join(MODEL_HEADS) + " |", "|---|" + "---:|" * (len(MODEL_HEADS) - 1)]
    parts += ["| " + " | ".join(row).replace("|", "\\|") + " |" for row in model_rows(run)]
    parts += ["", f"{DEFINITION}.", ""]
    parts += [f"- {line}" for line in summary_lines(acc)]
    if acc.kinds:
        parts += ["", "| " + " | ".join(KIND_HEADS) + " |", "|---|" + "---:|" * (len(KIND_HEADS) - 1)]
        parts += ["| " + " | ".join(row) + " |" for row in kind_rows(acc)]
    return "\n".join(parts) + "\n"


def _stats_dict(s: ErrorStats | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {
        "count": s.count, "median_abs_pct": s.median_abs, "p90_abs_pct": s.p90_abs, "median_pct": s.median,
        "worst_pct": s.worst, "worst": s.worst_name,
    }


def accuracy_dict(acc: Accuracy) -> dict[str, Any]:
    return {
        "definition": DEFINITION,
        "models": _stats_dict(acc.models),
        "blocks": _stats_dict(acc.blocks),
        "layers": _stats_dict(acc.layers),
        "kinds": [{"kind": k.kind, "predicted_share_pct": k.predicted_share, **(_stats_dict(k.stats) or {})} for k in acc.kinds],
        "calibration_level": None if acc.level is None else {"ratio": acc.level.ratio, "layers": acc.level.layers},
    }
