"""`verify --reference`: does the spec describe the user's own PyTorch model?

Both sides are measured the same way: the spec's modules (built from the graph, on the meta device)
and the user's module (real on CPU when a forward fits --max-memory, else built and run on the meta
device) each run once on the spec's input(s) under torch's ``FlopCounterMode``, with forward hooks
for output shapes, with scaled_dot_product_attention on its math backend and nn.MultiheadAttention off
its fused path: FlopCounterMode then sees the attention matmuls on any device, on both sides.
Compared: the output shape(s), parameters, buffers, FlopCounterMode's total and (on a real forward)
fvcore's total against what convcost predicts fvcore reports; then layer by layer.

Layers are compared as *units that hold weights*. On the spec side: every layer with parameters or
buffers. On the user's side: every torch.nn module (not a container) or leaf module that holds any,
with what is below it (nn.MultiheadAttention's ``out_proj`` belongs to it); a tensor registered directly
on any other module (a ViT's ``class_token``) is a unit of its own. The user's units run in the order
their tensors are first used in the forward (seen by a ``TorchFunctionMode``), unused ones last. They
are paired with the spec's by module path when the spec uses the same names (at least half of its
units), else in order; the first pair whose shape, params, buffers or MACs differ is the divergence.

Imports torch at the top: only ``convcost verify --reference`` imports this module, lazily.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

from ..costmodel.analysis import analyze
from ..costmodel.memory import DEFAULT_MAX_BYTES, human_bytes
from ..graph.build import Graph
from ..ops.counting import counters_run_on
from ..ops.shapes import fmt_shape
from .counters import FLOP_COUNTER, FVCORE, Status
from .target import Target, load_model, user_code, user_files
from .torch_build import build_model, example_inputs
from .verify import Check, estimate_bytes

Shape = tuple[int, ...]
CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict, nn.ParameterList, nn.ParameterDict)


@dataclass(frozen=True)
class Unit:
    """One side's layer that holds weights: its name (spec layer or module path), kind, shape and counts."""

    name: str
    kind: str  # the spec's op, or the module's class ('Conv2d'; 'parameter' for a loose tensor)
    shape: Shape | None  # output shape of its first call; None where nothing was called (a loose tensor)
    params: int
    buffers: int
    macs: int | None  # FlopCounterMode FLOPs / 2 of all its calls; None for a loose tensor


@dataclass(frozen=True)
class Pair:
    spec: Unit | None
    ref: Unit | None
    checks: dict[str, Check]

    @property
    def ok(self) -> bool:
        return all(c.status != Status.MISMATCH for c in self.checks.values())


@dataclass(frozen=True)
class ReferenceReport:
    graph: Graph
    target: str
    device: str
    real_forward: bool
    matching: str  # 'path' or 'order'
    totals: dict[str, Check]
    pairs: tuple[Pair, ...]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def divergence(self) -> Pair | None:
        return next((p for p in self.pairs if not p.ok), None)

    @property
    def diverging(self) -> int:
        return sum(1 for p in self.pairs if not p.ok)

    @property
    def ok(self) -> bool:
        return self.divergence is None and all(c.status != Status.MISMATCH for c in self.totals.values())


# ---- the user's units ---------------------------------------------------------------------------
def _is_unit(m: nn.Module) -> bool:
    """A module compared whole: a torch.nn module (not a container) or a leaf module, holding any tensor."""
    if next(itertools.chain(m.parameters(), m.buffers()), None) is None:
        return False
    builtin = type(m).__module__.startswith("torch.nn.") and not isinstance(m, CONTAINERS)
    return builtin or not m._modules


@dataclass
class _RefUnit:
    name: str
    kind: str
    module: nn.Module | None
    tensors: list[torch.Tensor]


def _ref_units(model: nn.Module) -> list[_RefUnit]:
    out: list[_RefUnit] = []

    def visit(prefix: str, m: nn.Module) -> None:
        if _is_unit(m):
            out.append(_RefUnit(prefix, type(m).__name__, m, [*m.parameters(), *m.buffers()]))
            return
        for kind, tensors in (("parameter", m._parameters), ("buffer", m._buffers)):
            for name, t in tensors.items():
                if t is not None:
                    out.append(_RefUnit(f"{prefix}.{name}" if prefix else name, kind, None, [t]))
        for name, child in m._modules.items():
            if child is not None:
                visit(f"{prefix}.{name}" if prefix else name, child)

    visit("", model)
    return out


class _FirstUse(TorchFunctionMode):
    """Records, for each watched tensor, the index of the first torch call that takes it."""

    def __init__(self, watched: set[int]) -> None:
        super().__init__()
        self.watched = watched
        self.first: dict[int, int] = {}
        self.calls = 0

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        self.calls += 1
        for a in tree_leaves((args, kwargs)):
            if isinstance(a, torch.Tensor) and id(a) in self.watched and id(a) not in self.first:
                self.first[id(a)] = self.calls
        return func(*args, **kwargs)


def _plain_attention() -> Any:
    """Attention as matmuls FlopCounterMode counts: the math backend of scaled_dot_product_attention (CPU's
    fused kernel is not in its table). A TorchFunctionMode (_FirstUse) also keeps nn.MultiheadAttention
    off its fused inference path."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.MATH])


def _shape_hooks(modules: dict[str, nn.Module], shapes: dict[str, Shape]) -> list[Any]:
    def hook(name: str) -> Any:
        def record(module: nn.Module, inputs: Any, out: Any) -> None:
            if name not in shapes:
                leaves = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
                if leaves:
                    shapes[name] = tuple(int(d) for d in leaves[0].shape)

        return record

    return [m.register_forward_hook(hook(name)) for name, m in modules.items()]


def _per_module_flops(counter: Any, root: nn.Module) -> dict[str, int]:
    """FlopCounterMode's per-module totals keyed by module path ('' for the root)."""
    prefix = type(root).__name__
    out: dict[str, int] = {}
    for k, v in counter.get_flop_counts().items():
        if k == prefix:
            out[""] = int(sum(v.values()))
        elif k.startswith(prefix + "."):
            out[k[len(prefix) + 1:]] = int(sum(v.values()))
    return out


@dataclass(frozen=True)
class _Run:
    outputs: tuple[Shape, ...]
    units: tuple[Unit, ...]
    flops: int


def _run_reference(model: nn.Module, xs: tuple[torch.Tensor, ...], what: str, files: tuple[str, ...]) -> _Run:
    from torch.utils.flop_counter import FlopCounterMode

    raw = _ref_units(model)
    watched = {id(t) for u in raw for t in u.tensors}
    shapes: dict[str, Shape] = {}
    handles = _shape_hooks({u.name: u.module for u in raw if u.module is not None}, shapes)
    counter = FlopCounterMode(display=False)
    first = _FirstUse(watched)
    try:
        with user_code(what, files), torch.no_grad(), _plain_attention(), counter, first:  # the user's forward
            out = model(*xs)
    finally:
        for h in handles:
            h.remove()
    flops = _per_module_flops(counter, model)
    never = first.calls + 1

    def order(u: _RefUnit) -> int:
        return min((first.first.get(id(t), never) for t in u.tensors), default=never)

    raw.sort(key=order)  # stable: unused units keep their registration order, last
    units = tuple(
        Unit(u.name, u.kind, shapes.get(u.name), sum(t.numel() for t in u.tensors if isinstance(t, nn.Parameter)),
             sum(t.numel() for t in u.tensors if not isinstance(t, nn.Parameter)),
             flops.get(u.name, 0) // 2 if u.module is not None else None)
        for u in raw
    )
    outs = tuple(tuple(int(d) for d in t.shape) for t in tree_leaves(out) if isinstance(t, torch.Tensor))
    return _Run(outs, units, int(counter.get_total_flops()))


# ---- the spec's units ------------------------------------------------------------------------------
def _run_spec(graph: Graph) -> tuple[tuple[Unit, ...], int]:
    from torch.utils.flop_counter import FlopCounterMode

    analysis = analyze(graph)
    device = "meta"
    with warnings.catch_warnings(), counters_run_on("meta"):
        warnings.simplefilter("ignore")
        model = build_model(graph, device)
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), _plain_attention(), counter, _FirstUse(set()):  # the same dispatch as the reference's
            model(*example_inputs(graph, device))
    flops = _per_module_flops(counter, model)
    units = tuple(
        Unit(lc.node.name, lc.node.op, (graph.batch, *lc.node.shape), lc.cost.params, lc.cost.buffers,
             flops.get(lc.node.name, 0) // 2)
        for lc in analysis.layers if lc.cost.params or lc.cost.buffers
    )
    return units, int(counter.get_total_flops())


# ---- pairing ----------------------------------------------------------------------------------------
def _pair_by_path(spec: tuple[Unit, ...], ref: tuple[Unit, ...]) -> list[tuple[Unit | None, Unit | None]]:
    """Same names paired; the rest of each side paired in order (a spec's 'shortcut' for torchvision's
    'downsample'). In the reference's order; a spec layer left over goes right after the spec layer before it."""
    by_name = {u.name: u for u in spec}
    ref_names = {r.name for r in ref}
    spare_spec = [s for s in spec if s.name not in ref_names]
    spare_ref = [r for r in ref if r.name not in by_name]
    partner = {r.name: s for r, s in zip(spare_ref, spare_spec)}
    pairs: list[tuple[Unit | None, Unit | None]] = [(by_name.get(r.name) or partner.get(r.name), r) for r in ref]
    placed = {s.name for s, _ in pairs if s is not None}
    for i, s in enumerate(spec):
        if s.name in placed:
            continue
        at = 0
        if i:
            before = spec[i - 1].name
            at = next((k + 1 for k, (a, _) in enumerate(pairs) if a is not None and a.name == before), 0)
        pairs.insert(at, (s, None))
        placed.add(s.name)
    return pairs


def _shape_check(a: Shape | None, b: Shape | None) -> Check:
    if a is None or b is None:
        return Check(a, b, Status.NOT_COMPARED, "no output of its own")
    if a == b:
        return Check(a, b, Status.OK)
    if a[:1] == b[:1] and _numel(a) == _numel(b):  # tokens N×D vs a D×H×W map: the same values, laid out differently
        return Check(a, b, Status.OK, f"same size, laid out {fmt_shape(a)} vs {fmt_shape(b)}")
    return Check(a, b, Status.MISMATCH, f"output: spec {fmt_shape(a)}, reference {fmt_shape(b)}")


def _numel(s: Shape) -> int:
    n = 1
    for d in s:
        n *= d
    return n


def _count_check(a: int | None, b: int | None, what: str) -> Check:
    if a is None or b is None:
        return Check(a, b, Status.NOT_COMPARED, f"{what}: not counted on its own")
    if a == b:
        return Check(a, b, Status.OK)
    return Check(a, b, Status.MISMATCH, f"{what}: spec {a:,}, reference {b:,} ({b - a:+,})")


def _compare(s: Unit | None, r: Unit | None) -> Pair:
    if s is None or r is None:
        have = s or r
        assert have is not None
        why = ("the reference has no module for this spec layer" if r is None
               else "the spec has no layer for this module")
        return Pair(s, r, {"layer": Check(s and s.name, r and r.name, Status.MISMATCH, why)})
    return Pair(s, r, {
        "shape": _shape_check(s.shape, r.shape),
        "params": _count_check(s.params, r.params, "params"),
        "buffers": _count_check(s.buffers, r.buffers, "buffers"),
        "macs": _count_check(s.macs, r.macs, "MACs"),
    })


# ---- the whole comparison ----------------------------------------------------------------------------
def _fvcore_total(model: nn.Module, xs: tuple[torch.Tensor, ...]) -> tuple[int | None, str]:
    try:
        from fvcore.nn import FlopCountAnalysis
    except ImportError:
        return None, "fvcore is not installed"
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fca = FlopCountAnalysis(model, xs).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            fca.tracer_warnings("none")
            return int(fca.total()), ""
    except Exception as e:  # fvcore's jit trace cannot take every model (dict outputs, data-dependent flow)
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        return None, f"fvcore cannot trace the reference: {type(e).__name__}: {first}"


def verify_reference(graph: Graph, target: Target, max_bytes: int = DEFAULT_MAX_BYTES) -> ReferenceReport:
    """Build the user's model, run both sides on the spec's input(s) and compare (see the module docstring)."""
    analysis = analyze(graph)
    need = estimate_bytes(analysis)
    real = need <= max_bytes
    device = "cpu" if real else "meta"
    files = user_files(target)
    with contextlib.redirect_stdout(sys.stderr):  # the user's prints must not corrupt --format json on stdout
        model = load_model(target, device)
    xs = example_inputs(graph, device)
    shapes = " and ".join(fmt_shape(tuple(x.shape)) for x in xs)
    what = f"reference '{target.text}' cannot run on the spec's input {shapes}" + (
        "" if real else f" on the meta device (a real forward needs about {human_bytes(need)}; raise --max-memory)")
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
        warnings.simplefilter("ignore")
        ref = _run_reference(model, xs, what, files)
    spec_units, spec_flops = _run_spec(graph)

    spec_names = {u.name for u in spec_units}
    hits = sum(1 for u in ref.units if u.name in spec_names)
    by_path = bool(spec_units) and hits * 2 >= len(spec_units)
    pairs = _pair_by_path(spec_units, ref.units) if by_path else list(itertools.zip_longest(spec_units, ref.units))

    spec_outs = tuple((graph.batch, *n.shape) for n in graph.output_nodes)
    same = spec_outs == ref.outputs
    outs_text = f"output: spec {', '.join(map(fmt_shape, spec_outs))}, reference {', '.join(map(fmt_shape, ref.outputs))}"
    totals: dict[str, Check] = {
        "output": Check(spec_outs, ref.outputs, Status.OK if same else Status.MISMATCH, "" if same else outs_text),
        "params": _count_check(analysis.total.params, sum(p.numel() for p in model.parameters()), "params"),
        "buffers": _count_check(analysis.total.buffers, sum(b.numel() for b in model.buffers()), "buffers"),
        FLOP_COUNTER.key: _count_check(spec_flops, ref.flops, "FlopCounterMode FLOPs"),
    }
    skipped: dict[str, str] = {}
    if real:
        predicted = sum(FVCORE.predict(lc.node, lc.cost, graph.batch).value or 0 for lc in analysis.layers)
        actual, why = _fvcore_total(model, xs)
        totals[FVCORE.key] = (_count_check(predicted, actual, "fvcore flops") if actual is not None
                              else Check(predicted, None, Status.NOT_COMPARED, why))
        if actual is None:
            skipped[FVCORE.key] = why
    else:
        skipped[FVCORE.key] = (f"a real forward needs about {human_bytes(need)}, over --max-memory "
                               f"{human_bytes(max_bytes)}: both models ran on the meta device")
    return ReferenceReport(graph, target.text, device, real, "path" if by_path else "order", totals,
                           tuple(_compare(s, r) for s, r in pairs), skipped)
