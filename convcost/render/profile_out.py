"""Profile and roofline results as a terminal table, markdown, or JSON ("convcost.profile/1", docs/profile.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.text import Text

from .. import __version__
from ..costmodel.memory import DTYPE_BYTES, human_bytes
from ..costmodel.roofline import Span
from ..crosscheck.profiling import Measured, ModelProfile, ProfileRun, Timing
from ..units import human
from . import strict_json
from .grid import Grid
from .json_out import io_dict
from .text import in_out, inputs_text, one_line, plural

SCHEMA = "convcost.profile/1"


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


def measured_cells(t: Timing | None) -> list[str]:
    return ["–", "–"] if t is None else [human_time(t.median_s), human_time(t.iqr_s)]


def header_lines(run: ProfileRun) -> list[str]:
    hw = run.hardware
    lines = [
        f"roofline: {one_line(hw.description)} ({one_line(hw.name)}): peak {hw.peak_for(run.peak_dtype) / 1e12:.3g} TFLOP/s "
        f"{run.peak_dtype}, {hw.bandwidth / 1e9:,.0f} GB/s; ridge {hw.ridge(run.peak_dtype):.1f} FLOP/B",
    ]
    env = run.environment
    if env is not None:
        threads = f", {env.threads} thread{'s' if env.threads != 1 else ''}" if env.threads else ""
        layout = ", channels_last" if env.channels_last else ""
        lines.insert(
            0,
            f"measured: torch {env.torch} on {env.device} ({env.device_name}{threads}), {env.dtype}{layout}; "
            f"{env.method}, ≥{env.min_time_s:g} s per unit",
        )
    return lines


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


def profile_table(m: ModelProfile, measured: bool) -> Grid:
    """One row per top-level block, then the total."""
    g = m.graph
    heads = ["block", "kind", "MACs", "bytes", "FLOP/B", "bound", "ideal"]
    if measured:
        heads += ["median", "IQR", "GFLOP/s", "% roof"]
    table = Grid(heads, [False, False, *[True] * (len(heads) - 2)])
    for b in m.blocks:
        table.add_row(b.name, b.kind, *_row(b, measured))
    table.add_row("total", plural(len(g.nodes), "layer"), *_row(m.whole, measured), style="bold")
    return table


def _print(console: Console, run: ProfileRun, table_fn: Callable[[ModelProfile], Grid]) -> None:
    for line in header_lines(run):
        console.print(Text(line, style="dim"))
    for m in run.models:
        console.print()
        console.print(Text(model_title(m), style="bold"))
        table_fn(m).print(console)
        console.print(Text(memory_line(m), style="dim"))


def print_profile(console: Console, run: ProfileRun) -> None:
    _print(console, run, lambda m: profile_table(m, run.environment is not None))


def layer_table(m: ModelProfile) -> Grid:
    """Per-layer roofline of the analytic `roofline` command (a Grid: linear on 50,000 layers)."""
    heads = ("layer", "op", "FLOPs", "bytes", "weights", "FLOP/B", "bound", "ideal", "% time")
    table = Grid(heads, (False, False, *[True] * (len(heads) - 2)))
    total = m.roofline.total.ideal_s
    for lt, s in zip(m.memory.layers, m.roofline.layers):
        table.add_row(
            lt.node.name, lt.node.op, human(s.flops), human_bytes(s.bytes), human_bytes(lt.traffic.weight_bytes),
            f"{s.intensity:.1f}", s.bound, human_time(s.ideal_s), pct(100 * s.ideal_s / total if total else None),
        )
    s = m.roofline.total
    table.add_row(
        "total", "", human(s.flops), human_bytes(s.bytes), human_bytes(m.memory.weight_bytes), f"{s.intensity:.1f}",
        s.bound, human_time(s.ideal_s), pct(100.0 if s.ideal_s else None), style="bold",
    )
    return table


def print_roofline(console: Console, run: ProfileRun) -> None:
    _print(console, run, layer_table)


# ---- markdown -----------------------------------------------------------------------------------
def render_markdown(run: ProfileRun) -> str:
    measured = run.environment is not None
    parts = [*(f"{line}  " for line in header_lines(run)), ""]
    head = ["block", "kind", "MACs", "bytes", "FLOP/B", "bound", "ideal"]
    if measured:
        head += ["median", "IQR", "GFLOP/s", "% roofline"]
    for m in run.models:
        g = m.graph
        parts.append(f"### {g.model}\n")
        inputs = f"Input{'s' if len(g.inputs) > 1 else ''} {inputs_text(g)}"
        parts.append(f"{inputs}, {plural(len(g.nodes), 'layer')}. {memory_line(m)}.\n")
        parts.append("| " + " | ".join(head) + " |")
        parts.append("|---|---|" + "---:|" * (len(head) - 2))
        for u in (*m.blocks, m.whole):
            name = "**total**" if u is m.whole else u.name.replace("|", "\\|")
            parts.append("| " + " | ".join([name, u.kind, *_row(u, measured)]) + " |")
        parts.append("")
    return "\n".join(parts)


# ---- JSON ---------------------------------------------------------------------------------------
def timing_dict(t: Timing | None) -> dict[str, Any] | None:
    if t is None:
        return None
    return {
        "median_s": t.median_s,
        "iqr_s": t.iqr_s,
        "min_s": t.min_s,
        "max_s": t.max_s,
        "runs": t.runs,
        "calls_per_run": t.calls_per_run,
        "times_s": list(t.times_s),
    }


def span_dict(s: Span) -> dict[str, Any]:
    return {
        "flops": s.flops,
        "bytes": s.bytes,
        "intensity": s.intensity,
        "compute_s": s.compute_s,
        "memory_s": s.memory_s,
        "ideal_s": s.ideal_s,
        "memory_bound_s": s.memory_bound_s,
        "bound": s.bound,
    }


def unit_dict(u: Measured) -> dict[str, Any]:
    return {
        "name": u.name,
        "kind": u.kind,
        "layers": u.layers,
        "macs": u.macs,
        "roofline": span_dict(u.span),
        "measured": timing_dict(u.timing),
        "achieved_flops_per_s": u.achieved_flops_per_s,
        "roofline_pct": u.roofline_pct,
    }


def model_dict(m: ModelProfile) -> dict[str, Any]:
    g, mem, act = m.graph, m.memory, m.memory.activations
    t = mem.traffic
    return {
        "name": g.model,
        "file": g.file,
        "batch": g.batch,
        "input": [g.batch, *g.input_shape],
        "output": [g.batch, *g.output.shape],
        **io_dict(g),
        "params": m.analysis.total.params,
        "memory": {
            "dtype": mem.dtype,
            "bytes_per_element": DTYPE_BYTES[mem.dtype],
            "traffic_bytes": t.total,
            "input_bytes": t.input_bytes,
            "weight_bytes": t.weight_bytes,
            "output_bytes": t.output_bytes,
            "peak_activation_bytes": act.peak_bytes,
            "peak_activation_layer": act.peak_layer,
            "live_at_peak": list(act.live_at_peak),
            "training_saved_bytes": act.training_saved_bytes,
        },
        "model": unit_dict(m.whole),
        "blocks": [unit_dict(b) for b in m.blocks],
        "layers": [
            {
                "name": lt.node.name,
                "op": lt.node.op,
                "input_bytes": lt.traffic.input_bytes,
                "weight_bytes": lt.traffic.weight_bytes,
                "output_bytes": lt.traffic.output_bytes,
                **span_dict(s),
            }
            for lt, s in zip(mem.layers, m.roofline.layers)
        ],
    }


def render_json(run: ProfileRun) -> str:
    env = run.environment
    hw = run.hardware
    doc = {
        "schema": SCHEMA,
        "convcost": __version__,
        "environment": None
        if env is None
        else {
            "torch": env.torch,
            "device": env.device,
            "device_name": env.device_name,
            "threads": env.threads,
            "dtype": env.dtype,
            "channels_last": env.channels_last,
            "method": env.method,
            "min_time_s": env.min_time_s,
            "warmup": env.warmup,
        },
        "hardware": {
            "name": hw.name,
            "description": hw.description,
            "peak_flops_per_s": dict(hw.peak),
            "bandwidth_bytes_per_s": hw.bandwidth,
            "source": hw.source,
            "peak_dtype": run.peak_dtype,
        },
        "models": [model_dict(m) for m in run.models],
    }
    return strict_json.dumps(doc) + "\n"


# ---- compare --profile ----------------------------------------------------------------------------
def _change(value: float, base: float) -> float | None:
    return None if base == 0 else 100 * (value - base) / base


def latency_lines(labels: list[str], macs: list[int], timings: list[Timing]) -> list[str]:
    """'bottleneck: −89.7 % MACs, −62.0 % latency (1.2 ms vs 3.1 ms median)', each against the first."""
    from .compare_out import fmt_change

    base_t, base_m = timings[0].median_s, macs[0]
    lines = [f"{labels[0]}: {human_time(base_t)} median (± {human_time(timings[0].iqr_s)} IQR), baseline"]
    for label, m, t in zip(labels[1:], macs[1:], timings[1:]):
        lines.append(
            f"{label}: {fmt_change(_change(m, base_m))} MACs, {fmt_change(_change(t.median_s, base_t))} latency "
            f"({human_time(t.median_s)} vs {human_time(base_t)} median, ± {human_time(t.iqr_s)} IQR)"
        )
    return lines


def latency_json(labels: list[str], macs: list[int], timings: list[Timing]) -> list[dict[str, Any]]:
    return [
        {
            "label": label,
            "macs": m,
            "measured": timing_dict(t),
            "macs_change_pct": _change(m, macs[0]),
            "latency_change_pct": _change(t.median_s, timings[0].median_s),
        }
        for label, m, t in zip(labels, macs, timings)
    ]
