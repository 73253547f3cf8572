"""Profile and roofline results as JSON: "convcost.profile/1" (docs/profile.md)."""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..costmodel.calibration import ProbeTimes
from ..costmodel.kinds import layer_kind
from ..costmodel.memory import DTYPE_BYTES
from ..costmodel.roofline import Fit, Span, Speed
from ..crosscheck.profiling import Measured, ModelProfile, ProfileRun, Timing
from . import strict_json
from .json_out import io_dict

SCHEMA = "convcost.profile/1"


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
        "spread_pct": t.spread_pct,
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
        "overhead_s": s.overhead_s,
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
        "error_pct": u.error_pct,
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
        "blocks_sum_s": m.blocks_sum_s,
        "blocks_ratio": m.blocks_ratio,
        "blocks_add_up": m.blocks_add_up,
        "add_up_tolerance": m.add_up_tolerance if m.blocks_ratio is not None else None,
        "uncalibrated_layers": list(m.roofline.uncalibrated),
        "speed_probe": speed_dict(m.roofline.fit.speed),
        "layers": [
            {
                "name": lt.node.name,
                "op": lt.node.op,
                "kind": m.roofline.kinds[k] if m.roofline.kinds else layer_kind(lt.node),
                "input_bytes": lt.traffic.input_bytes,
                "weight_bytes": lt.traffic.weight_bytes,
                "output_bytes": lt.traffic.output_bytes,
                **span_dict(s),
                **_layer_measured(m.layers[k] if m.layers else None),
            }
            for k, (lt, s) in enumerate(zip(mem.layers, m.roofline.layers))
        ],
    }


def _layer_measured(u: Measured | None) -> dict[str, Any]:
    if u is None:
        return {"measured": None, "roofline_pct": None, "error_pct": None}
    return {"measured": timing_dict(u.timing), "roofline_pct": u.roofline_pct, "error_pct": u.error_pct}


def _probe_times(t: ProbeTimes) -> dict[str, float]:
    return {"compute_s": t.compute_s, "memory_s": t.memory_s, "overhead_s": t.overhead_s}


def speed_dict(speed: Speed | None) -> dict[str, Any] | None:
    """The speed probe beside one model: its times then (calibrated) and now, and the factors applied."""
    if speed is None:
        return None
    return {"calibrated": _probe_times(speed.calibrated), "now": _probe_times(speed.now),
            "spread": None if speed.spread is None else _probe_times(speed.spread), "compute": speed.compute,
            "memory": speed.memory, "overhead": speed.overhead}


def calibration_dict(fit: Fit) -> dict[str, Any] | None:
    cal = fit.calibration
    if cal is None:
        return None
    return {
        "device": cal.device,
        "device_name": cal.device_name,
        "threads": cal.threads,
        "dtype": cal.dtype,
        "channels_last": cal.channels_last,
        "torch": cal.torch,
        "convcost": cal.convcost,
        "date": cal.date,
        "method": cal.method,
        "load": list(cal.load),
        "clock": cal.clock,
        "overhead_s": cal.overhead_s,
        "probe": None if cal.probe is None else {"benches": list(cal.probe.benches), **_probe_times(cal.probe.times)},
        **{
            section: {
                key: [{"size": p.size, "rate": p.rate, "time_s": p.time_s, "layer": p.layer} for p in curve.points]
                for key, curve in curves.items()
            }
            for section, curves in (("compute", cal.compute), ("memory", cal.memory))
        },
    }


def render_json(run: ProfileRun, accuracy: dict[str, Any] | None = None) -> str:
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
            "repeats": env.repeats,
            "cudnn_benchmark": env.cudnn_benchmark,
            "load": list(env.load),
            "clock": env.clock,
        },
        "hardware": {
            "name": hw.name,
            "description": hw.description,
            "peak_flops_per_s": dict(hw.peak),
            "bandwidth_bytes_per_s": hw.bandwidth,
            "source": hw.source,
            "peak_dtype": run.peak_dtype,
            "cores": hw.cores,
            "compute_scale": run.fit.scale,
            "fit_note": run.fit.note,
            "calibration": calibration_dict(run.fit),
        },
        "models": [model_dict(m) for m in run.models],
    }
    if accuracy is not None:
        doc["accuracy"] = accuracy
    return strict_json.dumps(doc) + "\n"
