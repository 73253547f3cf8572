"""Reconcile the analytic counts with the real modules, layer by layer.

For every node: the output shape of a forward pass, ``numel`` of parameters and buffers, and the
count fvcore's ``FlopCountAnalysis.by_module`` and torch's ``FlopCounterMode`` report for its
module, each compared with what convcost *predicts* that tool reports (counters.py). A layer a
tool cannot see is "not compared", with the reason, unless the tool reports something for it
anyway (then the prediction was wrong: a mismatch).

Imports torch and fvcore at the top: only ``convcost verify`` imports this module, lazily.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..costmodel.analysis import Analysis, analyze
from ..costmodel.memory import DEFAULT_MAX_BYTES, forward_bytes, human_bytes
from ..errors import UsageError
from ..graph.build import Graph
from ..ops.counting import counters_run_on
from ..ops.shapes import fmt_shape, torch_dims
from ..units import human
from .counters import FLOP_COUNTER, FVCORE, RUN, Convention, Explanation, Prediction, Status, explain
from .torch_build import GraphModule, build_model, example_inputs
from .torch_deps import TORCH_ERRORS, check_device

BYTES_PER_VALUE = 4  # float32


@dataclass(frozen=True)
class Check:
    """One comparison: what convcost expects a tool to report, and what it reported."""

    expected: Any
    actual: Any
    status: Status
    reason: str = ""


@dataclass(frozen=True)
class LayerReport:
    name: str
    op: str
    checks: dict[str, Check]

    @property
    def ok(self) -> bool:
        return all(c.status != Status.MISMATCH for c in self.checks.values())


@dataclass(frozen=True)
class Report:
    graph: Graph
    device: str
    real_forward: bool
    estimated_bytes: int
    layers: tuple[LayerReport, ...]
    totals: dict[str, Check]
    skipped: dict[str, str]  # counter key -> why it did not run
    explanation: Explanation
    measured: dict[str, int] = field(default_factory=dict)  # counter key -> the tool's whole-model total
    training: bool = False  # --training: each layer's backward under FlopCounterMode and its trainable params

    @property
    def mismatches(self) -> int:
        return sum(1 for lr in self.layers for c in lr.checks.values() if c.status == Status.MISMATCH) + sum(
            1 for c in self.totals.values() if c.status == Status.MISMATCH
        )

    @property
    def ok(self) -> bool:
        return self.mismatches == 0


# ---- memory -------------------------------------------------------------------------------------
def estimate_bytes(analysis: Analysis) -> int:
    """float32 bytes of a real forward: weights, buffers, the input and every layer's output
    (an upper bound: the executor frees outputs after their last use, fvcore's trace may keep them)."""
    return forward_bytes(analysis, BYTES_PER_VALUE)


# ---- running the tools ----------------------------------------------------------------------------
class _ShapeHooks:
    """Records every layer's output shape during one forward pass."""

    def __init__(self, model: GraphModule) -> None:
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.handles = [module.register_forward_hook(self._hook(node.name)) for node, module in model.named_layers()]

    def _hook(self, name: str) -> Any:
        def record(module: nn.Module, inputs: Any, out: torch.Tensor) -> None:
            self.shapes[name] = tuple(int(d) for d in out.shape)  # int(): under fvcore's trace they are tensors

        return record

    def __enter__(self) -> dict[str, tuple[int, ...]]:
        return self.shapes

    def __exit__(self, *exc: object) -> None:
        for h in self.handles:
            h.remove()


def run_flop_counter(
    model: GraphModule, xs: tuple[torch.Tensor, ...]
) -> tuple[dict[str, tuple[int, ...]], dict[str, int], int]:
    """FlopCounterMode per module (dispatch level: works on the meta device) and the output shapes."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with _ShapeHooks(model) as shapes, torch.no_grad(), counter:
        model(*xs)
    prefix = type(model).__name__ + "."
    per_module = {
        k[len(prefix):]: int(sum(v.values())) for k, v in counter.get_flop_counts().items() if k.startswith(prefix)
    }
    return shapes, per_module, int(counter.get_total_flops())


def run_fvcore(
    model: GraphModule, xs: tuple[torch.Tensor, ...]
) -> tuple[dict[str, tuple[int, ...]], dict[str, int], dict[str, list[str]], int]:
    """fvcore's by_module() (a jit trace: a real forward) and the output shapes of that forward."""
    from fvcore.nn import FlopCountAnalysis

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    with _ShapeHooks(model) as shapes, torch.no_grad():
        fca = (
            FlopCountAnalysis(model, xs)
            .unsupported_ops_warnings(False)
            .uncalled_modules_warnings(False)
            .tracer_warnings("none")
        )
        by_module = {k: int(v) for k, v in fca.by_module().items()}
    unsupported = {n.name: sorted(fca.unsupported_ops(n.name)) for n in model.graph.nodes}
    return shapes, by_module, unsupported, int(fca.total())


def _params(module: nn.Module) -> tuple[int, int]:
    return (sum(p.numel() for p in module.parameters()), sum(b.numel() for b in module.buffers()))


# ---- reconciling -----------------------------------------------------------------------------------
def _compare_count(pred: Prediction, actual: int | None, tool: str, unsupported: list[str] | None = None) -> Check:
    if actual is None:
        return Check(pred.value, None, Status.NOT_COMPARED, f"{tool} did not run")
    if pred.value is None:
        if actual == 0:
            seen = f" (fvcore: unsupported {', '.join(unsupported)})" if unsupported else ""
            return Check(None, 0, Status.NOT_COMPARED, pred.reason + seen)
        return Check(None, actual, Status.MISMATCH, f"convcost predicted {tool} cannot see this layer ({pred.reason}), "
                                             f"but it reported {actual:,}")
    if pred.value == actual:
        return Check(pred.value, actual, Status.OK, pred.reason)
    return Check(pred.value, actual, Status.MISMATCH, f"convcost predicts {pred.value:,}, {tool} reports {actual:,} "
                                               f"({actual - pred.value:+,})" + (f"; {pred.reason}" if pred.reason else ""))


def _compare_exact(expected: Any, actual: Any, what: str, show: Any = str) -> Check:
    if actual is None:
        return Check(expected, None, Status.NOT_COMPARED, f"{what} not measured")
    if expected == actual:
        return Check(expected, actual, Status.OK)
    return Check(expected, actual, Status.MISMATCH, f"convcost says {show(expected)}, torch has {show(actual)}")


# ---- the backward pass (--training) ---------------------------------------------------------------
BACKWARD = "flop_counter_backward"
TRAINABLE = "trainable"


def freeze(model: GraphModule) -> GraphModule:
    """The layers the spec marks ``frozen`` get no gradients (requires_grad_(False)), as in torch."""
    for node, module in model.named_layers():
        if node.frozen:
            module.requires_grad_(False)
    return model


def run_backward_counter(graph: Graph, per_layer: bool = True) -> tuple[dict[str, int], int, dict[str, int]]:
    """One training step's backward under FlopCounterMode, on the meta device (the unfused attention path, whatever
    the device: docs/verify.md), in training mode with the spec's frozen layers frozen: the whole model's, and each
    layer's. FlopCounterMode's own module tracking misattributes the backward of residual branches (its active
    modules overlap there), so each layer's module is run again alone on the inputs the model gave it, each input
    requiring a gradient exactly where torch's did, and its backward counted (``per_layer``). Also each layer's
    trainable parameters (requires_grad)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = freeze(build_model(graph, "meta").train())
    xs = example_inputs(graph, "meta")
    seen: dict[str, tuple[torch.Tensor, ...]] = {}
    hooks = [module.register_forward_hook(_keep_inputs(seen, node.name)) for node, module in model.named_layers()]
    try:
        whole = FlopCounterMode(display=False)
        with whole:
            out = model(*xs)
            before = whole.get_total_flops()
            outs = out if isinstance(out, tuple) else (out,)
            losses = [o.sum() for o in outs if o.requires_grad]  # type: ignore[union-attr]
            if losses:  # a comparison's bool mask carries no gradient: the loss is taken on the others
                sum(losses).backward()  # type: ignore[union-attr]
    finally:
        for h in hooks:
            h.remove()
    layers: dict[str, int] = {}
    for node, module in model.named_layers() if per_layer else ():
        ins = tuple(t.detach().requires_grad_(t.requires_grad) for t in seen[node.name])
        if not any(t.requires_grad for t in ins) and not any(p.requires_grad for p in module.parameters()):
            layers[node.name] = 0  # torch records nothing for it: no backward
            continue
        counter = FlopCounterMode(display=False)
        with counter:
            y = module(*ins)
            start = counter.get_total_flops()
            if y.requires_grad:  # a constant made from its input's shape (`constant`) records no backward
                y.backward(torch.ones_like(y))
        layers[node.name] = int(counter.get_total_flops() - start)
    trainable = {node.name: sum(p.numel() for p in module.parameters() if p.requires_grad)
                 for node, module in model.named_layers()}
    return layers, int(whole.get_total_flops() - before), trainable


def _keep_inputs(seen: dict[str, tuple[torch.Tensor, ...]], name: str) -> Any:
    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        seen[name] = inputs

    return hook


def verify_graph(graph: Graph, device: str = "cpu", max_bytes: int = DEFAULT_MAX_BYTES, training: bool = False) -> Report:
    """Build the graph's modules, run the tools, and compare every layer (``training``: the backward too)."""
    check_device(device)
    analysis = analyze(graph)
    need = estimate_bytes(analysis)
    real = need <= max_bytes
    # FlopCounterMode and shapes need no real arithmetic: on CPU they run on the meta device (fast,
    # no memory); on CUDA on the GPU. fvcore traces a real forward, which also gives the real shapes.
    # A fused kernel (nn.MultiheadAttention's fast path) is taken only on a real device: where the graph
    # has one, FlopCounterMode runs there, as users run it, so that it misses what they see it miss.
    fused = any(n.rule.counting.device_dependent for n in graph.nodes)
    counter_device = device if ((device == "cuda" or fused) and real) else "meta"
    try:
        report = _verify(graph, analysis, device, counter_device, need, real, max_bytes)
        return _with_backward(report, analysis) if training else report
    except TORCH_ERRORS as e:
        raise _torch_failure(e, graph, device if real else counter_device, need, real) from None


def _with_backward(report: Report, analysis: Analysis) -> Report:
    """The report with each layer's backward FLOPs (FlopCounterMode's, against convcost's prediction of it) and
    trainable parameters checked, and their totals."""
    import dataclasses

    from ..costmodel.training import analyze_training

    graph = report.graph
    train = analyze_training(analysis)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        per_module, total, trainable = run_backward_counter(graph)
    counted = FLOP_COUNTER_BACKWARD_LABEL
    layers = []
    predicted = 0
    with counters_run_on("meta"):
        for lr, lt in zip(report.layers, train.layers):
            node = lt.node
            pred = node.rule.counting.flop_counter_backward.predict(node, lt.backward, graph.batch)
            predicted += pred.value or 0
            checks = dict(lr.checks)
            checks[BACKWARD] = _compare_count(pred, per_module.get(node.name, 0), counted)
            checks[TRAINABLE] = _compare_exact(lt.trainable, trainable.get(node.name), "trainable params",
                                               lambda n: f"{n:,}")
            layers.append(LayerReport(lr.name, lr.op, checks))
    totals = dict(report.totals)
    totals[BACKWARD] = (Check(predicted, total, Status.OK) if predicted == total else
                        Check(predicted, total, Status.MISMATCH, f"convcost predicts {predicted:,} ({human(predicted)}), "
                                                                 f"{counted} reports {total:,}"))
    totals[TRAINABLE] = _compare_exact(train.trainable, sum(trainable.values()), "trainable params", lambda n: f"{n:,}")
    measured = {**report.measured, BACKWARD: total}
    return dataclasses.replace(report, layers=tuple(layers), totals=totals, measured=measured, training=True)


FLOP_COUNTER_BACKWARD_LABEL = "FlopCounterMode (backward)"


def _torch_failure(e: BaseException, graph: Graph, device: str, need: int, real: bool) -> UsageError:
    """A torch error on a spec `analyze` accepts (a size past int64, an allocation that fails) as one line."""
    text = str(e).strip()
    first = text.splitlines()[0] if text else type(e).__name__
    first = first if len(first) <= 300 else first[:299] + "…"
    if real and (isinstance(e, MemoryError) or "DefaultCPUAllocator" in text or "out of memory" in text.lower()):
        return UsageError(
            f"model '{graph.model}': torch ran out of memory verifying it on {device} (a real forward needs about "
            f"{human_bytes(need)}): {first}; lower --max-memory to check shapes and FlopCounterMode on the meta device"
            f"{', or lower --batch' if graph.batch > 1 else ''}"
        )
    return UsageError(f"torch {torch.__version__} cannot run model '{graph.model}' on {device}: {first}")


def _verify(graph: Graph, analysis: Analysis, device: str, counter_device: str, need: int, real: bool,
            max_bytes: int) -> Report:
    with counters_run_on("meta" if counter_device == "meta" else "cuda" if counter_device == "cuda" else "real"):
        return _verify_run(graph, analysis, device, counter_device, need, real, max_bytes)


def _verify_run(graph: Graph, analysis: Analysis, device: str, counter_device: str, need: int, real: bool,
                max_bytes: int) -> Report:
    skipped: dict[str, str] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. torch's note on 'same' padding with even kernels
        meta_model = build_model(graph, counter_device)
        shapes, fc_by_module, fc_total = run_flop_counter(meta_model, example_inputs(graph, counter_device))
        if real:
            model = build_model(graph, device)
            shapes, fv_by_module, fv_unsupported, fv_total = run_fvcore(model, example_inputs(graph, device))
        else:
            model = meta_model
            fv_by_module, fv_unsupported, fv_total = {}, {}, 0
            skipped[FVCORE.key] = (
                f"a real forward needs about {human_bytes(need)} ({need:,} bytes), over the limit of "
                f"{human_bytes(max_bytes)} ({max_bytes:,} bytes); shapes, params and FlopCounterMode ran on the meta device; "
                "raise --max-memory to run fvcore"
            )
    layers = []
    predicted_totals = {c.key: 0 for c in RUN}
    counted: set[int] = set()  # parameters an earlier layer holds (a layer's `tied` ones): counted there, as torch does
    for lc, (node, module) in zip(analysis.layers, model.named_layers()):
        params = sum(p.numel() for p in module.parameters() if id(p) not in counted)
        counted.update(id(p) for p in module.parameters())
        buffers = _params(module)[1]
        checks: dict[str, Check] = {
            "shape": _compare_exact((graph.batch, *torch_dims(node.shape)), shapes.get(node.name), "shape",
                                    lambda s: fmt_shape(s)),
            "params": _compare_exact(lc.cost.params, params, "params", lambda n: f"{n:,}"),
            "buffers": _compare_exact(lc.cost.buffers, buffers, "buffers", lambda n: f"{n:,}"),
        }
        for conv, actual in ((FVCORE, fv_by_module.get(node.name) if real else None),
                             (FLOP_COUNTER, fc_by_module.get(node.name, 0))):
            pred = conv.predict(node, lc.cost, graph.batch)
            predicted_totals[conv.key] += pred.value or 0
            unsupported = fv_unsupported.get(node.name) if conv is FVCORE else None
            checks[conv.key] = _compare_count(pred, actual, conv.label, unsupported)
        layers.append(LayerReport(node.name, node.op, checks))
    t = analysis.total
    p_all, b_all = _params(model)
    totals = {
        "params": _compare_exact(t.params, p_all, "params", lambda n: f"{n:,}"),
        "buffers": _compare_exact(t.buffers, b_all, "buffers", lambda n: f"{n:,}"),
        FVCORE.key: _total_check(predicted_totals[FVCORE.key], fv_total if real else None, FVCORE),
        FLOP_COUNTER.key: _total_check(predicted_totals[FLOP_COUNTER.key], fc_total, FLOP_COUNTER),
    }
    measured = {FLOP_COUNTER.key: fc_total, **({FVCORE.key: fv_total} if real else {})}
    expl = explain([(lc.node, lc.cost) for lc in analysis.layers], graph.batch)
    return Report(graph, device if real else "meta", real, need, tuple(layers), totals, skipped, expl, measured)


def _total_check(pred: int, actual: int | None, conv: Convention) -> Check:
    if actual is None:
        return Check(pred, None, Status.NOT_COMPARED, f"{conv.label} did not run")
    if pred == actual:
        return Check(pred, actual, Status.OK)
    return Check(pred, actual, Status.MISMATCH, f"convcost predicts {pred:,} ({human(pred)}), {conv.label} reports {actual:,}")
