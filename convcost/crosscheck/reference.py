"""`verify --reference`: does the spec describe the user's own PyTorch model?

Two questions, both asked of the same model run:

**Does the model compute what the spec says?** The model is read by convcost's importer (importer/: the same
reading `convcost import` writes a spec from) into a graph of convcost's own ops (model_graph.py), and that graph
is compared with the spec's, op by op, every op's kind and the arguments that change what it computes (activation,
pool kind, kernel, stride, padding, heads...), matched by data flow, not run order (structure.py). The analytic
cost of every op category (conv, linear, norm, activation, pool, join...: MACs, norm, activation, pool and
elementwise ops) of the two graphs is compared too. What the importer cannot read is compared as the whole module
around it by its counts below, listed, and never called agreement: the verdict is then "not verified" (exit 1).

**Do the counts agree?** The spec's modules (built from the graph, on the meta device) and the user's module (real
on CPU when a forward fits --max-memory, else built and run on the meta device) each run once on the spec's
input(s) under torch's ``FlopCounterMode``, with forward hooks for output shapes, scaled_dot_product_attention on
its math backend and nn.MultiheadAttention off its fused path (FlopCounterMode then sees the attention matmuls on
any device, on both sides). Compared: the output shape(s), parameters, buffers, FlopCounterMode's total and (on a
real forward) fvcore's total against what convcost predicts fvcore reports; then, for each pair of layers the
structure paired, the output shape, and where a side holds weights its params, buffers and MACs (the spec's layer;
the model's module, with everything below it: ShiftedWindowAttention's ``relative_position_bias_table`` is its
module's, or a tensor of its own: a ViT's ``class_token``).

Imports torch at the top: only ``convcost verify --reference`` imports this module, lazily.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

from ..cost import FIELDS, Cost
from ..costmodel.analysis import Analysis, analyze
from ..costmodel.memory import DEFAULT_MAX_BYTES, human_bytes
from ..graph.build import Graph
from ..ops.counting import counters_run_on
from ..ops.shapes import fmt_shape
from .counters import FLOP_COUNTER, FVCORE, Status
from .model_graph import ModelGraph, model_graph
from .steps import Step, side
from .structure import Alignment, StepPair, align
from .target import Target, load_model, user_code, user_files
from .torch_build import build_model, example_inputs
from .verify import Check, estimate_bytes

Shape = tuple[int, ...]
COMPARED_COST = tuple(f for f in FIELDS if f != "activations")  # output elements are a size, not work
SHOWN_NOT_COMPARED = 12  # the table lists this many things not compared, then how many more


@dataclass(frozen=True)
class Unit:
    """One side of a pair: the spec's layer or the model's module (its path), and what was measured of it."""

    name: str
    kind: str  # the spec's op, or the model's module class ('GELU'; the op where a function computes it)
    op: str  # convcost's op
    shape: Shape | None  # output shape with the batch (the model's: measured where a module computes it)
    params: int | None  # None: no weights of its own to compare (a function, a layer without weights)
    buffers: int | None
    macs: int | None  # FlopCounterMode FLOPs / 2 of its module's calls


@dataclass(frozen=True)
class Pair:
    spec: Unit | None
    ref: Unit | None
    checks: dict[str, Check]
    group: tuple[str, ...] = ()  # the spec layers a part of the model convcost cannot read stands for

    @property
    def ok(self) -> bool:
        return all(c.status != Status.MISMATCH for c in self.checks.values())

    @property
    def compared(self) -> bool:
        return self.checks["op"].status != Status.NOT_COMPARED


@dataclass(frozen=True)
class ReferenceReport:
    graph: Graph
    target: str
    device: str
    real_forward: bool
    matching: str  # 'structure', or 'none' where the model could not be read into a graph
    totals: dict[str, Check]
    pairs: tuple[Pair, ...]
    skipped: dict[str, str] = field(default_factory=dict)  # counter -> why it did not run
    not_compared: tuple[str, ...] = ()  # what of the model was not compared, and why

    @property
    def divergence(self) -> Pair | None:
        return next((p for p in self.pairs if not p.ok), None)

    @property
    def diverging(self) -> int:
        return sum(1 for p in self.pairs if not p.ok)

    @property
    def agrees(self) -> bool:
        """Nothing compared differs."""
        return self.divergence is None and all(c.status != Status.MISMATCH for c in self.totals.values())

    @property
    def verified(self) -> bool:
        """Everything of the model was compared (a counter that could not run aside: it is listed in skipped)."""
        return self.matching == "structure" and not self.not_compared

    @property
    def ok(self) -> bool:
        """The exit code's question: the spec describes the model, proven. An unverified comparison is not."""
        return self.agrees and self.verified


# ---- running the user's model ----------------------------------------------------------------------------
class _NoFastPath(TorchFunctionMode):
    """A pass-through mode: while any TorchFunctionMode is active nn.MultiheadAttention leaves its fused inference
    path, whose kernel FlopCounterMode does not count."""

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        return func(*args, **(kwargs or {}))


def _plain_attention() -> Any:
    """Attention as matmuls FlopCounterMode counts: the math backend of scaled_dot_product_attention (CPU's
    fused kernel is not in its table)."""
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
    """What one forward of the user's model measured."""

    outputs: tuple[Shape, ...]
    flops: int
    module_flops: dict[str, int]  # module path -> FlopCounterMode FLOPs of its calls (what is below it included)
    shapes: dict[str, Shape]  # module path -> the output shape of its first call


def _run_reference(model: nn.Module, xs: tuple[torch.Tensor, ...], what: str, files: tuple[str, ...]) -> _Run:
    from torch.utils.flop_counter import FlopCounterMode

    shapes: dict[str, Shape] = {}
    handles = _shape_hooks({name: m for name, m in model.named_modules() if name}, shapes)
    counter = FlopCounterMode(display=False)
    try:
        with user_code(what, files), torch.no_grad(), _plain_attention(), counter, _NoFastPath():  # the user's forward
            out = model(*xs)
    finally:
        for h in handles:
            h.remove()
    outs = tuple(tuple(int(d) for d in t.shape) for t in tree_leaves(out) if isinstance(t, torch.Tensor))
    return _Run(outs, int(counter.get_total_flops()), _per_module_flops(counter, model), shapes)


def _model_unit(step: Step, model: nn.Module, run: _Run, batch: int, holds: tuple[str, ...] = (),
                traced: tuple[int, ...] = ()) -> Unit:
    """The model's side of a pair: the module at the step's path (with everything below it), a tensor of its own
    (a ViT's class_token), or, for a function, the step alone (no counts of its own); for a chain of parts convcost
    cannot read, their counts added up. ``holds``: tensors outside the module its layer holds too (timm Swin's
    attn_mask, a buffer of the block its WindowAttention reads), counted with it; ``traced``: the layer's output per
    sample as the import traced it, where its module's is another (timm's WindowAttention returns windows, the layer
    the grid after the reverse)."""
    inferred = None if step.unsure else (batch, *step.shape)
    if step.parts:
        units = [_path_unit(name, step.kind, step.op, model, run, None) for name in step.parts]
        counted = [u for u in units if u.params is not None]
        if not counted:
            return Unit(step.name, step.kind, step.op, None, None, None, None)
        return Unit(step.name, step.kind, step.op, None, sum(u.params or 0 for u in counted),
                    sum(u.buffers or 0 for u in counted), sum(u.macs or 0 for u in counted))
    unit = _path_unit(step.name, step.kind, step.op, model, run, inferred)
    if traced:
        unit = dataclasses.replace(unit, shape=(batch, *traced))
    if holds and unit.params is not None:
        params, buffers = dict(model.named_parameters()), dict(model.named_buffers())
        unit = dataclasses.replace(unit, params=unit.params + sum(params[t].numel() for t in holds if t in params),
                                   buffers=(unit.buffers or 0) + sum(buffers[t].numel() for t in holds if t in buffers))
    return unit


def _path_unit(name: str, kind: str, op: str, model: nn.Module, run: _Run, inferred: Shape | None) -> Unit:
    m = dict(model.named_modules()).get(name) if name else None
    if m is not None:
        tensors = [*m.parameters(), *m.buffers()]
        if tensors or name in run.module_flops:
            # a tensor shared with a module before it (``b.weight = a.weight``) is that module's, as torch's
            # named_parameters() names it once: the spec's layer is `tied` to the earlier one and counts it there
            owned = {id(t) for n, t in (*model.named_parameters(), *model.named_buffers()) if n.startswith(f"{name}.")}
            return Unit(name, kind, op, run.shapes.get(name, inferred), sum(p.numel() for p in m.parameters() if id(p) in owned),
                        sum(b.numel() for b in m.buffers() if id(b) in owned), run.module_flops.get(name, 0) // 2)
    own = dict(model.named_parameters()).get(name)
    if own is not None:
        return Unit(name, "parameter", op, inferred, own.numel(), 0, 0)
    buf = dict(model.named_buffers()).get(name)
    if buf is not None:
        return Unit(name, "buffer", op, inferred, 0, buf.numel(), 0)
    return Unit(name, kind, op, inferred, None, None, None)


# ---- the spec's side -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _SpecRun:
    flops: int
    layer_flops: dict[str, int]  # spec layer -> FlopCounterMode FLOPs


def _run_spec(graph: Graph) -> _SpecRun:
    from torch.utils.flop_counter import FlopCounterMode

    with warnings.catch_warnings(), counters_run_on("meta"):
        warnings.simplefilter("ignore")
        model = build_model(graph, "meta")
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), _plain_attention(), counter, _NoFastPath():  # the same dispatch as the reference's
            model(*example_inputs(graph, "meta"))
    return _SpecRun(int(counter.get_total_flops()), _per_module_flops(counter, model))


def _spec_unit(step: Step, analysis: Analysis, run: _SpecRun) -> Unit:
    """The spec's side of a pair; its layer's counts on the first step of a lowered layer (where its weights are)."""
    lc = analysis.layers[step.node]
    shape = (analysis.graph.batch, *step.shape)
    if not step.first or not (lc.cost.params or lc.cost.buffers or lc.node.tied):  # a tied layer holds its weights at 0
        return Unit(step.name, step.kind, step.op, shape, None, None, None)
    return Unit(step.name, step.kind, step.op, shape, lc.cost.params, lc.cost.buffers,
                run.layer_flops.get(step.name, 0) // 2)


# ---- the structure ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Structure:
    """The two graphs compared, or why they could not be."""

    alignment: Alignment | None
    model: ModelGraph | None
    model_analysis: Analysis | None
    why: str = ""


def _structure(graph: Graph, model: nn.Module, device: str) -> _Structure:
    from ..importer.trace import import_model

    first, *more = (tuple(i.shape) for i in graph.inputs)
    try:
        with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
            warnings.simplefilter("ignore")
            imported = import_model(model, first, True, device, tuple(more))
    except Exception as e:  # the importer's own failure on this model: say so, compare the rest
        return _Structure(None, None, None, f"convcost's importer cannot read the model: {type(e).__name__}: "
                                            f"{str(e).strip().splitlines()[0][:200] if str(e).strip() else ''}")
    mg = model_graph(imported, graph.inputs, graph.batch)
    if mg.graph is None:
        return _Structure(None, mg, None, mg.error)
    classes = imported.classes
    theirs = side(mg.graph, name=lambda n: mg.paths[n.index], kind=lambda n: classes.get(mg.keys[n.index], ""),
                  opaque=mg.opaque, unsure=mg.unsure, regions=mg.regions, unshaped=mg.unshaped)
    return _Structure(align(side(graph), theirs), mg, analyze(mg.graph))


def _op_check(p: StepPair) -> Check:
    s = p.spec.op if p.spec is not None else None
    m = p.model.op if p.model is not None and not p.model.opaque else None
    return Check(s, m, p.status, "; ".join(p.differences))


def _group_unit(steps: tuple[Step, ...], analysis: Analysis, run: _SpecRun) -> Unit:
    """Spec layers one part of the model stands for (it cannot be read: they are compared with it as a whole):
    their counts added up, named after the first and how many more."""
    units = [_spec_unit(st, analysis, run) for st in steps]
    first = units[0]

    def total(attr: str) -> int | None:
        values = [getattr(u, attr) for u in units if getattr(u, attr) is not None]
        return sum(values) if values else None

    more = f" (+{len(units) - 1} more)" if len(units) > 1 else ""
    return Unit(first.name + more, first.kind, first.op, first.shape if len(units) == 1 else None, total("params"),
                total("buffers"), total("macs"))


def _pair(p: StepPair, analysis: Analysis, spec_run: _SpecRun, model: nn.Module, run: _Run,
          holds: tuple[tuple[str, ...], ...] = (), traced: tuple[tuple[int, ...], ...] = ()) -> Pair:
    su = None if p.spec is None else _group_unit(p.group, analysis, spec_run) if p.group else \
        _spec_unit(p.spec, analysis, spec_run)
    whole = p.model is not None and not p.model.parts
    held = holds[p.model.node] if whole and p.model.node < len(holds) else ()  # type: ignore[union-attr]
    out = traced[p.model.node] if whole and p.model.node < len(traced) else ()  # type: ignore[union-attr]
    mu = _model_unit(p.model, model, run, analysis.graph.batch, held, out) if p.model is not None else None
    checks = {"op": _op_check(p)}
    group = tuple(st.name for st in p.group)
    if su is None or mu is None:
        return Pair(su, mu, checks, group)
    checks["shape"] = _shape_check(su.shape, mu.shape) if len(p.group) <= 1 else \
        Check(None, mu.shape, Status.NOT_COMPARED, f"the model's '{mu.name}' stands for {len(p.group)} spec layers")
    if su.params is not None or mu.params is not None:  # a side holds weights: compare its counts
        checks["params"] = _count_check(su.params, mu.params, "params")
        checks["buffers"] = _count_check(su.buffers, mu.buffers, "buffers")
        checks["macs"] = _count_check(su.macs, mu.macs, "MACs")
    return Pair(su, mu, checks, group)


COUNTS = ("params", "buffers", "macs")


def _shared_modules(pairs: tuple[Pair, ...], steps: tuple[StepPair, ...], mg: ModelGraph, model: nn.Module,
                    run: _Run) -> tuple[Pair, ...]:
    """Where one module of the model holds the weights of several spec layers (timm's Affine: ``torch.addcmul(beta,
    alpha, x)`` in one module, read as a multiply by ``alpha`` and an add of ``beta``, two layers holding one tensor
    each, the second named 'norm1_1'), the module's counts are compared with those layers' together, on the first of
    them; the others say so. ``steps[k]`` is the structure's pair ``pairs[k]`` was made from."""
    modules = dict(model.named_modules())
    by_module: dict[str, list[int]] = {}
    for k, (p, sp) in enumerate(zip(pairs, steps)):
        if p.spec is None or sp.model is None or p.group or p.spec.params is None or sp.model.opaque:
            continue
        source = mg.sources[sp.model.node] if sp.model.node < len(mg.sources) else ""
        m = modules.get(source) if source else None
        if m is not None and any(True for _ in (*m.parameters(), *m.buffers())):
            by_module.setdefault(source, []).append(k)
    out = list(pairs)
    for source, ks in by_module.items():
        if len(ks) < 2:
            continue
        whole = _path_unit(source, "", "", model, run, None)
        names = ", ".join(f"'{pairs[k].spec.name}'" for k in ks)  # type: ignore[union-attr]
        first = pairs[ks[0]].spec.name  # type: ignore[union-attr]
        for k in ks:
            p = pairs[k]
            checks = dict(p.checks)
            for what in COUNTS:
                if k == ks[0]:
                    total = sum(getattr(pairs[j].spec, what) or 0 for j in ks)
                    checks[what] = _count_check(total, getattr(whole, what), f"{what} of spec layers {names} together")
                else:
                    checks[what] = Check(getattr(p.spec, what), getattr(whole, what), Status.NOT_COMPARED,
                                         f"counted with '{first}': the model's '{source}' holds the weights of {names}")
            out[k] = Pair(p.spec, p.ref, checks, p.group)
    return tuple(out)


def _shape_check(a: Shape | None, b: Shape | None) -> Check:
    if a is None or b is None:
        return Check(a, b, Status.NOT_COMPARED, "its shape follows a part convcost cannot read")
    if a == b:
        return Check(a, b, Status.OK)
    if a[:1] == b[:1] and _numel(a) == _numel(b):  # tokens N×D vs a D×H×W map: the same values, laid out differently
        return Check(a, b, Status.OK, f"same size, laid out {fmt_shape(a)} vs {fmt_shape(b)}")
    if a and b and b[0] > a[0] and b[0] % a[0] == 0 and _numel(a) == _numel(b):  # LeViT's bn(x.flatten(0, 1)): the
        return Check(a, b, Status.OK, f"same size, the model's batch merged with its tokens: {fmt_shape(b)}")  # batch merged
    return Check(a, b, Status.MISMATCH, f"output: spec {fmt_shape(a)}, model {fmt_shape(b)}")


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
    return Check(a, b, Status.MISMATCH, f"{what}: spec {a:,}, model {b:,} ({b - a:+,})")


def _category_checks(spec: Analysis, theirs: Analysis | None, partial: str) -> dict[str, Check]:
    """The analytic cost of each op category, the spec's graph against the model's: every field but the output
    elements (params, buffers, MACs, bias, norm, activation, pool and elementwise ops). The number shown is the
    category's FLOPs (2 per MAC + the other ops)."""
    ours = spec.by_category()
    other = theirs.by_category() if theirs is not None else {}
    out: dict[str, Check] = {}
    for cat in sorted(set(ours) | set(other)):
        a, b = ours.get(cat, Cost()), other.get(cat, Cost())
        if not any(getattr(a, f) or getattr(b, f) for f in COMPARED_COST):
            continue
        key = f"analytic {cat}"
        if theirs is None or partial:
            out[key] = Check(a.flops, None, Status.NOT_COMPARED, partial or "the model was not read into a graph")
            continue
        differ = [f"{f} spec {getattr(a, f):,}, model {getattr(b, f):,}" for f in COMPARED_COST if getattr(a, f) != getattr(b, f)]
        out[key] = Check(a.flops, b.flops, Status.MISMATCH if differ else Status.OK,
                         f"convcost's {cat} cost: {'; '.join(differ)}" if differ else "")
    return out


def _not_compared(st: _Structure, pairs: tuple[Pair, ...]) -> tuple[str, ...]:
    """What of the model was not compared, one line each: every part convcost cannot read (a region, the module
    around it, once, with the first reason), then the importer's other findings (a tensor the forward never uses)."""
    out: list[str] = []
    if st.why:
        out.append(f"the model's layers: {st.why}")
    regions = [r.name for r in st.model.regions] if st.model is not None else []
    for p in pairs:
        if p.compared or p.ref is None:  # a spec layer part of an unread part: on that part's line
            continue
        why = p.checks["op"].reason
        if p.spec is None:
            out.append(f"model '{p.ref.name}' ({p.ref.kind}): {why}")
        else:
            spec = f"spec layer '{p.spec.name}' ({p.spec.kind})" if len(p.group) <= 1 else \
                f"spec layers '{p.group[0]}' … '{p.group[-1]}' ({len(p.group)})"
            out.append(f"model '{p.ref.name}' ({p.ref.kind}), paired with {spec} by its counts only: {why}")
    if st.model is not None:
        for where, what in st.model.unsupported:
            place = where.rpartition(" in ")[2] if where.startswith("fx node ") else where
            if not any(place == r or place.startswith(r + ".") for r in regions):
                out.append(f"{where}: {what}")
    return tuple(dict.fromkeys(out))
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
    spec_run = _run_spec(graph)
    with contextlib.redirect_stdout(sys.stderr):
        # the importer reads the model as `convcost import` does, as its factory returned it: eval() again, where modules
        # drop what their first forward cached (timm's LeViT and EfficientFormer keep their attention biases gathered
        # from the table in a plain dict, which the importer would read as a constant, and clear it in train())
        with user_code(f"reference '{target.text}': its eval() failed", files):
            model.eval()
        st = _structure(graph, model, device)
    holds, traced = (st.model.holds, st.model.traced) if st.model is not None else ((), ())
    pairs = tuple(_pair(p, analysis, spec_run, model, ref, holds, traced) for p in st.alignment.pairs) \
        if st.alignment else ()
    if st.alignment is not None and st.model is not None:
        pairs = _shared_modules(pairs, st.alignment.pairs, st.model, model, ref)

    spec_outs = tuple((graph.batch, *n.shape) for n in graph.output_nodes)
    same = spec_outs == ref.outputs
    outs_text = f"output: spec {', '.join(map(fmt_shape, spec_outs))}, model {', '.join(map(fmt_shape, ref.outputs))}"
    totals: dict[str, Check] = {
        "output": Check(spec_outs, ref.outputs, Status.OK if same else Status.MISMATCH, "" if same else outs_text),
        "params": _count_check(analysis.total.params, sum(p.numel() for p in model.parameters()), "params"),
        "buffers": _count_check(analysis.total.buffers, sum(b.numel() for b in model.buffers()), "buffers"),
        FLOP_COUNTER.key: _count_check(spec_run.flops, ref.flops, "FlopCounterMode FLOPs"),
    }
    if st.alignment is not None and st.alignment.outputs:
        totals["outputs"] = Check(None, None, Status.MISMATCH, "; ".join(st.alignment.outputs))
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
    partial = ""
    if st.model is not None and (st.model.opaque or st.model.unshaped):
        partial = "the model's graph is partial: convcost cannot read all of it (see not compared)"
    totals.update(_category_checks(analysis, st.model_analysis, partial))
    return ReferenceReport(graph, target.text, device, real, "structure" if st.alignment else "none", totals, pairs,
                           skipped, _not_compared(st, pairs))
