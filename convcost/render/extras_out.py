"""How `--training` and `--rf` show up in every format: table and markdown columns, totals lines, JSON and CSV fields."""

from __future__ import annotations

from typing import Any

from ..costmodel.analysis import Analysis, Row
from ..costmodel.extras import Extras
from ..costmodel.memory import human_bytes
from ..costmodel.receptive import Field, ReceptiveFields, Unknown, fmt_dims, fmt_jump, fmt_size, number
from ..costmodel.training import TRAINING_METRICS, TRAINING_TITLES, Training, training_metric
from ..graph.build import Graph
from ..units import human

TRAINING_HEADERS = ("∂input FLOPs", "∂weight FLOPs", "trainable")
RF_HEADERS = ("RF", "jump")

ASSUMES = ("one dtype for weights, gradients, state and activations; gradients and optimizer state allocated "
           "(a steady-state step); unfused layers; no allocator overhead")


def headers(extras: Extras) -> tuple[str, ...]:
    return (RF_HEADERS if extras.rf is not None else ()) + (TRAINING_HEADERS if extras.training is not None else ())


# ---- per row -------------------------------------------------------------------------------------
def _last_layer(a: Analysis) -> dict[tuple[str, ...], str]:
    """The last layer of every scope (its output is the scope's)."""
    out: dict[tuple[str, ...], str] = {}
    for lc in a.layers:
        scope = lc.node.scope
        for k in range(1, len(scope) + 1):
            out[scope[:k]] = lc.node.name
    return out


class Cells:
    """The extra cells of each row of a layer table."""

    def __init__(self, a: Analysis, extras: Extras) -> None:
        self.extras = extras
        self.last = _last_layer(a) if extras.rf is not None else {}
        self.training = {lt.node.name: lt for lt in extras.training.layers} if extras.training is not None else {}

    def __call__(self, r: Row, human_numbers: bool = True) -> tuple[str, ...]:
        num = human if human_numbers else (lambda n: f"{n:,}")
        cells: tuple[str, ...] = ()
        if self.extras.rf is not None:
            if r.is_part:
                cells += ("", "")
            else:
                name = self.last.get(r.path) if r.is_scope else r.name
                field = self.extras.rf.by_name[name].fields if name else {}
                cells += (rf_text(field, self.extras.rf.graph, fmt_size), rf_text(field, self.extras.rf.graph, fmt_jump))
        t = self.extras.training
        if t is not None:
            if r.is_part:
                cells += ("", "", "")
            elif r.is_scope:
                b = t.scope_backward(r.path)
                cells += (num(b.input_flops + b.accumulate_ops), num(b.weight_flops), num(t.scope_trainable.get(r.path, 0)))
            else:
                lt = self.training[r.name]
                b = lt.backward
                trainable = num(lt.trainable) + (" frozen" if lt.node.frozen and lt.frozen else "")
                cells += (num(b.input_flops + b.accumulate_ops), num(b.weight_flops), trainable)
        return cells


def rf_text(fields: dict[int, Field | Unknown], graph: Graph, fmt: Any) -> str:
    """One model input: its cell ('427'); several: each named ('c4 3, c5 7'); none read: '–'."""
    if not fields:
        return "–"
    if len(graph.inputs) == 1:
        return str(fmt(next(iter(fields.values()))))
    return ", ".join(f"{graph.input_for(k).name} {fmt(f)}" for k, f in sorted(fields.items(), reverse=True))


# ---- totals --------------------------------------------------------------------------------------
def training_lines(t: Training) -> list[str]:
    b, m = t.backward, t.memory
    fwd = t.forward.flops
    return [
        f"training ({m.optimizer}, {m.dtype}): forward {human(fwd)} FLOPs + backward {human(b.flops)} FLOPs "
        f"(input gradients {human(b.input_flops)}, weight gradients {human(b.weight_flops)}, accumulation "
        f"{human(b.accumulate_ops)}) = {human(t.flops)} FLOPs per step",
        f"       backward MACs {human(b.macs)} ({b.macs:,}): input gradients {human(b.input_macs)}, weight gradients "
        f"{human(b.weight_macs)} (verify --training checks them against FlopCounterMode)",
        f"       params {human(t.trainable + t.frozen)}: trainable {t.trainable:,}, frozen {t.frozen:,}",
        f"       peak memory ≈ {human_bytes(m.peak_bytes)} (estimate) = weights {human_bytes(m.weight_bytes)} + gradients "
        f"{human_bytes(m.grad_bytes)} + {m.optimizer} state {human_bytes(m.optimizer_bytes)} + saved activations "
        f"{human_bytes(m.saved_bytes)} + largest transient {human_bytes(m.transient_bytes)} ({m.transient_phase}, "
        f"{m.transient_layer})",
        f"       assumes {ASSUMES}",
    ]


def rf_lines(rf: ReceptiveFields) -> list[str]:
    """The receptive field of each model output."""
    g = rf.graph
    out = []
    for node in g.output_nodes:
        fields = rf.by_name[node.name].fields
        for k, f in sorted(fields.items(), reverse=True):
            of = f" of '{g.input_for(k).name}'" if len(g.inputs) > 1 else ""
            out.append(f"receptive field of '{node.name}'{of}: {describe(f)}")
    return out


def describe(f: Field | Unknown) -> str:
    if isinstance(f, Unknown):
        return f"not stated: {f.why}"
    if not f:
        return "the whole input (it has no spatial dims)"
    if all(d.whole for d in f):
        return f"the whole input: {f[0].why}"
    text = f"{fmt_size(f)} positions, jump {fmt_jump(f)}, starting at " + fmt_dims(
        ["–" if d.whole or d.start is None else str(number(d.start)) for d in f])
    return text + ("" if all(d.exact for d in f) else " (taken at this input's positions: branches of different jumps)")


# ---- JSON ----------------------------------------------------------------------------------------
def rf_json(fields: dict[int, Field | Unknown], graph: Graph) -> list[dict[str, Any]]:
    out = []
    for k, f in sorted(fields.items(), reverse=True):
        name = graph.input_for(k).name
        if isinstance(f, Unknown):
            out.append({"input": name, "known": False, "why": f.why})
            continue
        sizes = _input_positions(graph, k)
        out.append({
            "input": name,
            "known": True,
            "global": bool(f) and all(d.whole for d in f),
            "size": [s if d.whole else d.size for d, s in zip(f, sizes)],
            "jump": [None if d.whole else number(d.jump) for d in f],
            "start": [None if d.whole or d.start is None else number(d.start) for d in f],
            "whole": [d.whole for d in f],
            "exact": all(d.exact for d in f),
            "why": next((d.why for d in f if d.whole), None),
            "moved": next((d.moved for d in f if d.moved), None),
        })
    return out


def _input_positions(graph: Graph, k: int) -> tuple[int, ...]:
    from ..costmodel.receptive import spatial

    return spatial(graph.input_for(k).shape)


def layer_training_json(t: Training) -> dict[str, dict[str, Any]]:
    return {
        lt.node.name: {
            "frozen": lt.node.frozen,
            "trainable_params": lt.trainable,
            "frozen_params": lt.frozen,
            "input_grads": list(lt.need.inputs),
            "weight_grads": lt.need.weights,
            "backward": lt.backward.as_dict(),
            "saved_bytes": lt.saved_bytes,
        }
        for lt in t.layers
    }


def training_json(t: Training) -> dict[str, Any]:
    m = t.memory
    return {
        "optimizer": m.optimizer,
        "dtype": m.dtype,
        "forward_flops": t.forward.flops,
        "backward": t.backward.as_dict(),
        "step_flops": t.flops,
        "trainable_params": t.trainable,
        "frozen_params": t.frozen,
        "memory": {
            "estimate": True,
            "bytes_per_value": m.bytes_per_value,
            "weight_bytes": m.weight_bytes,
            "grad_bytes": m.grad_bytes,
            "optimizer_bytes": m.optimizer_bytes,
            "saved_activation_bytes": m.saved_bytes,
            "transient_bytes": m.transient_bytes,
            "transient_phase": m.transient_phase,
            "transient_layer": m.transient_layer,
            "peak_bytes": m.peak_bytes,
            "assumes": ASSUMES,
        },
    }


# ---- CSV -----------------------------------------------------------------------------------------
def csv_headers(extras: Extras) -> list[str]:
    cols = []
    if extras.rf is not None:
        cols += ["rf", "jump"]
    if extras.training is not None:
        cols += ["trainable_params", "frozen_params", "backward_input_flops", "backward_weight_flops",
                 "backward_accumulate_ops", "backward_flops"]
    return cols


class CsvCells:
    """The extra CSV cells of each layer, by name."""

    def __init__(self, extras: Extras) -> None:
        self.extras = extras
        self.training = {lt.node.name: lt for lt in extras.training.layers} if extras.training is not None else {}

    def __call__(self, name: str) -> list[Any]:
        cells: list[Any] = []
        if self.extras.rf is not None:
            fields = self.extras.rf.by_name[name].fields
            g = self.extras.rf.graph
            cells += [rf_text(fields, g, fmt_size).replace("×", "x"), rf_text(fields, g, fmt_jump).replace("×", "x")]
        if self.extras.training is not None:
            lt = self.training[name]
            b = lt.backward
            cells += [lt.trainable, lt.frozen, b.input_flops, b.weight_flops, b.accumulate_ops, b.flops]
        return cells


# ---- the training numbers users compare and budget -------------------------------------------------
def fmt_metric(name: str, value: int) -> str:
    return human_bytes(value) if name == "training_memory" else human(value)


def training_comparison(labels: list[str], trainings: list[Training]) -> tuple[list[str], list[list[str]]]:
    """The rows of compare's training table: each model's training numbers and their change against the first."""
    from ..costmodel.compare import change_pct
    from .text import fmt_change

    base = trainings[0]
    m = base.memory
    headers = [f"model ({m.optimizer}, {m.dtype})", *(TRAINING_TITLES[n] for n in TRAINING_METRICS)]
    rows = []
    for k, (label, t) in enumerate(zip(labels, trainings)):
        cells = []
        for n in TRAINING_METRICS:
            v = training_metric(t, n)
            change = "" if k == 0 else f" ({fmt_change(change_pct(v, training_metric(base, n)))})"
            cells.append(fmt_metric(n, v) + change)
        rows.append([label, *cells])
    return headers, rows


def training_comparison_json(trainings: list[Training]) -> list[dict[str, Any]]:
    from ..costmodel.compare import change_pct

    base = trainings[0]
    return [{**training_json(t), "change_pct": {n: change_pct(training_metric(t, n), training_metric(base, n))
                                                 for n in TRAINING_METRICS}} for t in trainings]
