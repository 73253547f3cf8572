"""Profile and roofline results as a terminal table or markdown (JSON: profile_json.py), and compare --profile's
latency lines."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.text import Text

from ..costmodel.memory import human_bytes
from ..costmodel.roofline import Fit
from ..crosscheck.profiling import Measured, ModelProfile, ProfileRun, Timing
from ..units import human
from .grid import Grid
from .profile_json import timing_dict
from .text import in_out, inputs_text, one_line, plural


# ---- units --------------------------------------------------------------------------------------
def human_time(s: float) -> str:
    if s >= 1:
        return f"{s:.3g} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    if s >= 1e-6:
        return f"{s * 1e6:.3g} µs"
    return f"{s * 1e9:.3g} ns"


def human_rate(flops_per_s: float | None) -> str:
    return "–" if flops_per_s is None else f"{flops_per_s / 1e9:,.3g}"


def pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f} %"


def spread(t: Timing | None) -> str:
    """The IQR of the repeats as a share of their median."""
    return "–" if t is None or t.spread_pct is None else f"{t.spread_pct:.0f} %"


def measured_cells(t: Timing | None) -> list[str]:
    return ["–", "–"] if t is None else [human_time(t.median_s), spread(t)]


def load_text(load: tuple[float, ...]) -> str:
    return f"load {' '.join(f'{x:.2f}' for x in load)}" if load else ""


def calibration_line(fit: Fit, name: str) -> str:
    """'roofline: calibrated profile 'x' (AMD EPYC; cpu, 2 threads, fp32; torch ...; date; load ...)'."""
    cal = fit.calibration
    assert cal is not None
    facts = [one_line(cal.device_name) or cal.device, cal.conditions]
    facts += [f"torch {one_line(cal.torch)}" if cal.torch else "", one_line(cal.date), load_text(cal.load)]
    return f"roofline: calibrated profile '{one_line(name)}' ({'; '.join(f for f in facts if f)})"


def fit_note(fit: Fit) -> str:
    return f"; {fit.note}" if fit.note else ""


def _after_note(fit: Fit) -> str:
    """How much more the overhead is after a big layer, when the calibration measured it."""
    cal = fit.calibration
    if cal is None or not cal.overhead_after:
        return ""
    return f" (up to {human_time(max(cal.overhead_s, *(a.time_s for a in cal.overhead_after)))} after a big layer)"


def _bytes_note(fit: Fit) -> str:
    """The bytes a conv or linear pays for beyond its curve's layers', when the calibration fitted rates for them."""
    cal = fit.calibration
    kinds = [] if cal is None else [n for n, rates in (("weight", cal.weights), ("activation", cal.activations)) if rates]
    return f"{' and '.join(kinds)} bytes beyond the calibrated layers' (convs, linears) + " if kinds else ""


def header_lines(run: ProfileRun) -> list[str]:
    hw, fit = run.hardware, run.fit
    if fit.calibration is not None:
        lines = [
            calibration_line(fit, hw.name),
            "predicted per layer: max(FLOPs / its kind's rate at its size, bytes / bandwidth at its size) + "
            f"{_bytes_note(fit)}{human_time(fit.calibration.overhead_s)} overhead{_after_note(fit)}{fit_note(fit)}",
        ]
    else:
        peak = hw.peak_for(run.peak_dtype) * fit.scale
        lines = [
            f"roofline: {one_line(hw.description)} ({one_line(hw.name)}): peak {peak / 1e12:.3g} TFLOP/s "
            f"{run.peak_dtype}, {hw.bandwidth / 1e9:,.0f} GB/s; ridge {peak / hw.bandwidth:.1f} FLOP/B{fit_note(fit)}",
        ]
    env = run.environment
    if env is not None:
        threads = f", {env.threads} thread{'s' if env.threads != 1 else ''}" if env.threads else ""
        layout = ", channels_last" if env.channels_last else ""
        load = f"; {load_text(env.load)}" if env.load else ""
        lines.insert(
            0,
            f"measured: torch {env.torch} on {env.device} ({env.device_name}{threads}), {env.dtype}{layout}; "
            f"{env.method}, ≥{env.min_time_s:g} s per unit{load}",
        )
    return lines


def time_head(run: ProfileRun) -> str:
    """The roofline time's column: a prediction with a calibrated profile, an ideal with nominal peaks."""
    return "predicted" if run.fit.calibration is not None else "ideal"


def blocks_line(m: ModelProfile) -> str | None:
    """Whether the blocks' measured times add up to the model's, as the (additive) roofline expects."""
    ratio, total, whole = m.blocks_ratio, m.blocks_sum_s, m.whole.timing
    if ratio is None or total is None or whole is None:
        return None
    tol = m.add_up_tolerance
    verdict = "add up" if m.blocks_add_up else "do not add up"
    return (
        f"blocks {verdict}: Σ block medians {human_time(total)} = {ratio:.2f} × the model's {human_time(whole.median_s)} "
        f"(expected 1 ± {tol:.2f}: each block runs alone on the model's tensors, with warm caches and its own "
        "call overheads; see docs/profile.md)"
    )


def uncalibrated_line(m: ModelProfile) -> str | None:
    names = m.roofline.uncalibrated
    if not names:
        return None
    kinds = sorted({k for k, lt in zip(m.roofline.kinds, m.memory.layers) if lt.node.name in set(names)})
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return (
        f"not calibrated: {plural(len(names), 'layer')} of kind {', '.join(kinds)} ({shown}) use the nominal peak "
        "or bandwidth"
    )


def speed_line(m: ModelProfile) -> str | None:
    """What the calibration's speed probe measured beside the model, when it ran."""
    speed = m.roofline.fit.speed
    if speed is None:
        return None
    return (f"{speed.text} (its benchmarks timed beside the model): predicted at that speed; --no-probe predicts at "
            "the calibration's")


def memory_line(m: ModelProfile) -> str:
    mem, act = m.memory, m.memory.activations
    return (
        f"memory ({mem.dtype}): traffic {human_bytes(mem.traffic.total)} (weights {human_bytes(mem.weight_bytes)}), "
        f"peak live activations {human_bytes(act.peak_bytes)} at {act.peak_layer}, "
        f"saved for training {human_bytes(act.training_saved_bytes)}"
    )


def model_title(m: ModelProfile) -> str:
    return f"{m.graph.model}: {in_out(m.graph)}, {m.memory.dtype}"


# ---- terminal -----------------------------------------------------------------------------------
def _row(u: Measured, measured: bool) -> list[str]:
    s = u.span
    cells = [
        human(u.macs),
        human_bytes(s.bytes),
        f"{s.intensity:.1f}",
        s.bound,
        human_time(s.ideal_s),
    ]
    if measured:
        cells += [*measured_cells(u.timing), human_rate(u.achieved_flops_per_s), pct(u.roofline_pct)]
    return cells


def profile_table(m: ModelProfile, measured: bool, time_col: str = "ideal") -> Grid:
    """One row per top-level block, then the total."""
    g = m.graph
    heads = ["block", "kind", "MACs", "bytes", "FLOP/B", "bound", time_col]
    if measured:
        heads += ["median", "spread", "GFLOP/s", "% roof"]
    table = Grid(heads, [False, False, *[True] * (len(heads) - 2)])
    for b in m.blocks:
        table.add_row(b.name, b.kind, *_row(b, measured))
    table.add_row("total", plural(len(g.nodes), "layer"), *_row(m.whole, measured), style="bold")
    return table


def measured_layer_table(m: ModelProfile, time_col: str) -> Grid:
    """Each timed layer: its roofline (predicted) time beside its measured median."""
    heads = ["layer", "op", "kind", "FLOPs", "bytes", "bound", time_col, "median", "spread", "% roof"]
    table = Grid(heads, [False, False, False, *[True] * (len(heads) - 3)])
    for u in m.layers:
        s = u.span
        table.add_row(
            u.name, u.kind, u.latency_kind, human(s.flops), human_bytes(s.bytes), s.bound, human_time(s.ideal_s),
            *measured_cells(u.timing), pct(u.roofline_pct),
        )
    return table


def model_notes(m: ModelProfile) -> list[str]:
    return [line for line in (speed_line(m), blocks_line(m), uncalibrated_line(m), memory_line(m)) if line]


def _print(console: Console, run: ProfileRun, table_fns: Callable[[ModelProfile], list[Grid]]) -> None:
    for line in header_lines(run):
        console.print(Text(line, style="dim"))
    for m in run.models:
        console.print()
        console.print(Text(model_title(m), style="bold"))
        for k, table in enumerate(table_fns(m)):
            if k:
                console.print()
            table.print(console)
        for line in model_notes(m):
            console.print(Text(line, style="dim"))


def print_profile(console: Console, run: ProfileRun) -> None:
    measured, col = run.environment is not None, time_head(run)

    def tables(m: ModelProfile) -> list[Grid]:
        return [profile_table(m, measured, col), *([measured_layer_table(m, col)] if m.layers else [])]

    _print(console, run, tables)


def layer_table(m: ModelProfile, time_col: str = "ideal") -> Grid:
    """Per-layer roofline of the analytic `roofline` command (a Grid: linear on 50,000 layers)."""
    kinds = m.roofline.kinds
    heads = ["layer", "op", *(["kind"] if kinds else []), "FLOPs", "bytes", "weights", "FLOP/B", "bound", time_col, "% time"]
    table = Grid(heads, (False, False, *([False] if kinds else []), *[True] * (len(heads) - 2 - bool(kinds))))
    total = m.roofline.total.ideal_s
    for k, (lt, s) in enumerate(zip(m.memory.layers, m.roofline.layers)):
        table.add_row(
            lt.node.name, lt.node.op, *([kinds[k]] if kinds else []), human(s.flops), human_bytes(s.bytes),
            human_bytes(lt.traffic.weight_bytes), f"{s.intensity:.1f}", s.bound, human_time(s.ideal_s),
            pct(100 * s.ideal_s / total if total else None),
        )
    s = m.roofline.total
    table.add_row(
        "total", "", *([""] if kinds else []), human(s.flops), human_bytes(s.bytes), human_bytes(m.memory.weight_bytes),
        f"{s.intensity:.1f}", s.bound, human_time(s.ideal_s), pct(100.0 if s.ideal_s else None), style="bold",
    )
    return table


def print_roofline(console: Console, run: ProfileRun) -> None:
    col = time_head(run)
    _print(console, run, lambda m: [layer_table(m, col)])


# ---- markdown -----------------------------------------------------------------------------------
def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(run: ProfileRun) -> str:
    measured = run.environment is not None
    col = time_head(run)
    parts = [*(f"{line}  " for line in header_lines(run)), ""]
    head = ["block", "kind", "MACs", "bytes", "FLOP/B", "bound", col]
    if measured:
        head += ["median", "spread", "GFLOP/s", "% roofline"]
    for m in run.models:
        g = m.graph
        parts.append(f"### {g.model}\n")
        inputs = f"Input{'s' if len(g.inputs) > 1 else ''} {inputs_text(g)}"
        parts.append(f"{inputs}, {plural(len(g.nodes), 'layer')}. {memory_line(m)}.\n")
        parts.append("| " + " | ".join(head) + " |")
        parts.append("|---|---|" + "---:|" * (len(head) - 2))
        for u in (*m.blocks, m.whole):
            name = "**total**" if u is m.whole else _md(u.name)
            parts.append("| " + " | ".join([name, u.kind, *_row(u, measured)]) + " |")
        parts.append("")
        notes = [line for line in (speed_line(m), blocks_line(m), uncalibrated_line(m)) if line]
        parts += [*(f"{_md(n)}.  " for n in notes), *([""] if notes else [])]
        if m.layers:
            lhead = ["layer", "op", "kind", "FLOPs", "bytes", "bound", col, "median", "spread", "% roofline"]
            parts += ["<details><summary>Per layer</summary>", "", "| " + " | ".join(lhead) + " |"]
            parts.append("|---|---|---|" + "---:|" * (len(lhead) - 3))
            for u in m.layers:
                s = u.span
                cells = [_md(u.name), u.kind, u.latency_kind, human(s.flops), human_bytes(s.bytes), s.bound,
                         human_time(s.ideal_s), *measured_cells(u.timing), pct(u.roofline_pct)]
                parts.append("| " + " | ".join(cells) + " |")
            parts += ["", "</details>", ""]
    return "\n".join(parts)


# ---- compare --profile ----------------------------------------------------------------------------
def _change(value: float, base: float) -> float | None:
    return None if base == 0 else 100 * (value - base) / base


def _predicted_text(p: float, t: Timing) -> str:
    return f"; predicted {human_time(p)} ({pct(100 * p / t.median_s if t.median_s > 0 else None)} of measured)"


def latency_lines(
    labels: list[str], macs: list[int], timings: list[Timing], predicted: list[float] | None = None
) -> list[str]:
    """'bottleneck: −89.7 % MACs, −62.0 % latency (1.2 ms vs 3.1 ms median)', each against the first; with
    ``predicted`` (the roofline's time of each, from --hw/--hw-file), the predicted time beside each."""
    from .compare_out import fmt_change

    base_t, base_m = timings[0].median_s, macs[0]
    pred = predicted or []
    first = f"{labels[0]}: {human_time(base_t)} median (± {human_time(timings[0].iqr_s)} IQR)"
    lines = [first + (_predicted_text(pred[0], timings[0]) if pred else "") + ", baseline"]
    for k, (label, m, t) in enumerate(zip(labels[1:], macs[1:], timings[1:]), start=1):
        line = (
            f"{label}: {fmt_change(_change(m, base_m))} MACs, {fmt_change(_change(t.median_s, base_t))} latency "
            f"({human_time(t.median_s)} vs {human_time(base_t)} median, ± {human_time(t.iqr_s)} IQR"
        )
        if pred:
            line += f"{_predicted_text(pred[k], t)}, {fmt_change(_change(pred[k], pred[0]))} predicted"
        lines.append(line + ")")
    return lines


def latency_json(
    labels: list[str], macs: list[int], timings: list[Timing], predicted: list[float] | None = None
) -> list[dict[str, Any]]:
    return [
        {
            "label": label,
            "macs": m,
            "measured": timing_dict(t),
            "macs_change_pct": _change(m, macs[0]),
            "latency_change_pct": _change(t.median_s, timings[0].median_s),
            "predicted_s": predicted[k] if predicted else None,
            "predicted_change_pct": _change(predicted[k], predicted[0]) if predicted else None,
        }
        for k, (label, m, t) in enumerate(zip(labels, macs, timings))
    ]
