"""Design-space sweeps: one spec counted at every point of a grid of ``--set`` values (vars, input size,
batch), each point's totals, memory traffic and roofline time. No torch.

A point is counted as `analyze` and `roofline` count it, and fast, by reusing what does not change:

- the spec is read once; each distinct set of var values (a *family*) is built into a graph once;
- a family whose expressions never read a spatial size (``in_height``, ``in_width``, ``block_in_height``,
  ``block_in_width``: see :func:`spatially_pure`) keeps its layers, their arguments and connections at
  every input size of the same rank and channels, so another size only re-runs each op's shape and cost
  rules along the recorded layers (a *replay*); a layer whose input shapes were seen before (at
  another point, or by an identical earlier layer) is looked up, not recomputed;
- a layer's cost is counted for one sample and scaled to the batch: params and buffers stay, every
  other count and the bytes of activations grow with the batch. The engine checks this for every op
  and set of arguments (its cost at batches 1 and 2) and counts exactly at the batch any layer whose
  rule is not linear in it.

Whatever a replay cannot do (a shape rule refuses the size) is built the normal way, so a point that
fails reports the same ``file:line:col: message`` as `analyze` would, and never stops the sweep.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..cost import FIELDS, Cost
from ..errors import ConvcostError, UsageError
from ..frontend.source import YMap, YNode, YScalar, YSeq
from ..frontend.spec import SpecFile
from ..graph.build import Graph, build_graph
from ..graph.nodes import Node
from ..graph.settings import Settings, apply_input, point_settings
from ..ops.registry import OpRule, Shape
from ..ops.shapes import Tokens, grid_of, is_tokens
from ..util.gcpause import paused_gc
from .analysis import LayerCost
from .memory import dtype_bytes, layer_traffic
from .roofline import DeviceProfile, layer_span

SPATIAL_NAMES = re.compile(r"\b(?:block_)?in_(?:height|width)\b")
_PARAM_FIELDS = ("params", "buffers")  # the fields a batch does not multiply
_BATCHED = tuple(i for i, f in enumerate(FIELDS) if f not in _PARAM_FIELDS)
_FLOPS_WEIGHTS = tuple(2 if f == "macs" else 1 if f.endswith("_ops") else 0 for f in FIELDS)  # Cost.flops, by field


@dataclass(frozen=True)
class Axis:
    """One swept name (a var, ``input`` or ``batch``) and its values, in order."""

    name: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class PointResult:
    """One model at one point: its totals, bytes moved and ideal time, or the error that stopped it."""

    model: str
    values: tuple[Any, ...]  # aligned with the sweep's axes
    cost: Cost | None = None
    input_shape: Shape | None = None
    batch: int = 1
    traffic_bytes: int = 0
    ideal_s: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class SweepResult:
    file: str
    axes: tuple[Axis, ...]
    dtype: str
    profile: DeviceProfile
    points: tuple[PointResult, ...]


# ---- the expressions' view of shapes -------------------------------------------------------------
def spatially_pure(spec: SpecFile) -> bool:
    """Whether no expression of the file can read a spatial size: none of them names in_height, in_width,
    block_in_height or block_in_width. Expressions look names up only as written (frontend/expr.py has no
    dynamic lookup), so then an input's spatial size changes shapes and costs, never which layers there are
    or their arguments -- as long as every layer's input channels stay the same (checked while replaying)."""
    return not _reads(spec, SPATIAL_NAMES)


def _reads(spec: SpecFile, names: re.Pattern[str]) -> bool:
    stack: list[YNode] = [spec.root]
    while stack:
        node = stack.pop()
        if isinstance(node, YMap):
            stack.extend(node.items.values())
        elif isinstance(node, YSeq):
            stack.extend(node.items)
        elif isinstance(node, YScalar) and isinstance(node.value, str) and "$" in node.value:
            if names.search(node.value):
                return True
    return False


def _channels(shape: Shape) -> int:
    """A shape's channel count as expressions read it (graph/expand.py's in_channels)."""
    return shape[-1] if is_tokens(shape) else (shape[0] if shape else 1)


def _shape_key(shape: Shape) -> Any:
    """A shape as a memo key: tokens (and a token grid's H×W) apart from an equal plain tuple."""
    if type(shape) is tuple:
        return shape
    return (type(shape).__name__, tuple(shape), grid_of(shape))


# ---- one layer at one input shape ---------------------------------------------------------------
@dataclass(frozen=True)
class LayerResult:
    """A layer at one set of input shapes, for one sample; ``exact`` when its rule is not linear in the batch."""

    shape: Shape
    fields: tuple[int, ...]  # Cost's fields (FIELDS order), one sample
    flops: int
    io_bytes: int  # inputs read and output written, one sample
    weight_bytes: int
    exact: Callable[[int], tuple[tuple[int, ...], int, int]] | None = None  # batch -> (fields, flops, bytes)


def _linear(rule: OpRule, args: Any, in_shapes: tuple[Shape, ...], shape: Shape) -> bool:
    """Whether the rule's cost of this layer is linear in the batch: params and buffers the same at batch 1 and 2,
    every other count doubled."""
    one, two = rule.cost(args, in_shapes, shape, 1), rule.cost(args, in_shapes, shape, 2)
    return all(getattr(two, f) == (1 if f in _PARAM_FIELDS else 2) * getattr(one, f) for f in FIELDS)


def _layer(rule: OpRule, args: Any, node: Node, in_shapes: tuple[Shape, ...], shape: Shape, elem: int,
           linear: bool) -> LayerResult:
    one = rule.cost(args, in_shapes, shape, 1)
    traffic = layer_traffic(LayerCost(node, one), 1, elem)
    exact = None
    if not linear:
        def exact(batch: int) -> tuple[tuple[int, ...], int, int]:
            c = rule.cost(args, in_shapes, shape, batch)
            t = layer_traffic(LayerCost(node, c), batch, elem)
            return tuple(getattr(c, f) for f in FIELDS), c.flops, t.total
    fields = tuple(getattr(one, f) for f in FIELDS)
    return LayerResult(shape, fields, one.flops, traffic.input_bytes + traffic.output_bytes, traffic.weight_bytes, exact)


Aggregate = tuple[tuple[int, ...], Counter, tuple[LayerResult, ...]]  # sums, roofline inputs, exact layers


@dataclass(frozen=True)
class _Suffix:
    """What every layer after a cut adds up to: the sums, and the layers' roofline inputs and exact layers kept
    as a chain of segments (each cut adds its own segment in front of the next cut's), so that storing one costs
    only its own layers."""

    sums: tuple[int, ...]
    spans: tuple[tuple[int, int, int], ...]  # this segment's (flops, io, weights), one per linear layer
    exact: tuple[LayerResult, ...]
    rest: _Suffix | None


def _sums(results: list[LayerResult], base: tuple[int, ...] | None) -> tuple[int, ...]:
    rows = [r.fields for r in results] + ([base] if base is not None else [])
    return tuple(map(sum, zip(*rows))) if rows else (0,) * len(FIELDS)


def _segment(results: list[LayerResult], rest: _Suffix | None) -> _Suffix:
    return _Suffix(
        _sums(results, rest.sums if rest is not None else None),
        tuple((r.flops, r.io_bytes, r.weight_bytes) for r in results if r.exact is None),
        tuple(r for r in results if r.exact is not None),
        rest,
    )


def _aggregate(results: list[LayerResult], rest: _Suffix | None) -> Aggregate:
    """The sums of ``results`` and of everything in the chain ``rest``."""
    whole = _segment(results, rest)
    spans: Counter = Counter()
    exact: list[LayerResult] = []
    node: _Suffix | None = whole
    while node is not None:
        spans.update(node.spans)
        exact.extend(node.exact)
        node = node.rest
    return whole.sums, spans, tuple(exact)


@dataclass
class _Family:
    """One model at one set of var values: the layers recorded from a real build, for replays.

    ``cuts``: the layers after which nothing reads an earlier tensor (the model's input included), so that
    all that follows depends on that layer's output shape alone; ``suffix[k]`` holds, by that shape, the
    sums of every layer after cut ``k``. A new input size that meets a known shape at a cut stops there."""

    graph: Graph
    replayable: bool
    memo: list[dict[Any, LayerResult]] = field(default_factory=list)  # per layer: its results by input shapes
    # each input shape seen: the layers' Aggregate, or the build's error message
    spatial: dict[Any, Any] = field(default_factory=dict)
    cuts: frozenset[int] = frozenset()
    suffix: dict[int, dict[Any, _Suffix]] = field(default_factory=dict)
    plan: tuple[tuple[int, tuple[int, ...], Any, Any, OpRule], ...] = ()
    plain: bool = True  # every shape a plain tuple (no tokens): shapes are their own memo keys
    channels: tuple[tuple[int, ...], ...] = ()  # per layer: its inputs' channel counts in the build
    size: tuple[int, ...] | None = None  # the `--set input` the graph was built with (None: the spec's own input)

    @staticmethod
    def of(graph: Graph, replayable: bool) -> _Family:
        nodes = graph.nodes
        lowest = len(nodes)  # the lowest index any later layer reads (a model input: negative)
        cuts = set()
        for node in reversed(nodes):
            if lowest >= node.index:
                cuts.add(node.index)
            lowest = min(lowest, *node.inputs)
        plan = tuple((n.index, n.inputs, n.rule.shape, n.args, n.rule) for n in nodes)
        plain = all(type(i.shape) is tuple for i in graph.inputs) and all(type(n.shape) is tuple for n in nodes)
        # layers of one op with equal arguments (ResNet's layer3.1 ... layer3.5) share their memo
        kinds: dict[tuple[str, Any], dict[Any, LayerResult]] = {}
        memo = [kinds.setdefault((n.op, n.args), {}) for n in nodes]
        channels = tuple(tuple(_channels(s) for s in n.in_shapes) for n in nodes)
        return _Family(graph, replayable, memo, {}, frozenset(cuts), {k: {} for k in cuts}, plan, plain, channels)


class _Replay(Exception):
    """A replay cannot count this point (a shape rule refused it): build it the normal way."""


class SweepEngine:
    """Counts points of one spec; reuses families, replays and per-layer results across points."""

    def __init__(self, spec: SpecFile, profile: DeviceProfile, dtype: str = "fp32", peak_dtype: str | None = None) -> None:
        self.spec = spec
        self.profile = profile
        self.dtype = dtype
        self.elem = dtype_bytes(dtype)
        self.peak = profile.peak_for(peak_dtype or dtype)
        self.bandwidth = profile.bandwidth
        self.pure = spatially_pure(spec)
        self.families: dict[tuple[Any, ...], _Family] = {}
        self.builds = 0  # real graph builds (for the benchmark and tests)
        self.replays = 0
        self.layers = 0  # layers whose shape and cost rules ran (the rest were looked up)
        self.linear: dict[tuple[str, Any], bool] = {}  # (op, arguments): its cost rule is linear in the batch

    # -- a point ---------------------------------------------------------------------------------
    def point(self, model: str, values: tuple[Any, ...], settings: Settings) -> PointResult:
        try:
            return self._point(model, values, settings)
        except ConvcostError as e:
            return PointResult(model, values, error=str(e))

    def _point(self, model: str, values: tuple[Any, ...], settings: Settings) -> PointResult:
        key = (model, settings.vars)
        fam = self.families.get(key)
        if fam is None:
            graph = self._build(model, settings)  # the point's error, if it has one, is raised here
            fam = _Family.of(graph, self.pure and len(graph.inputs) == 1)
            fam.size = settings.input
            fam.spatial[_shape_key(graph.inputs[0].shape)] = self._run(fam, graph.inputs[0].shape, graph)
            self.families[key] = fam
        shape = self._shape(fam, model, settings)
        skey = _shape_key(shape)
        found = fam.spatial.get(skey)
        if found is None:
            found = self._spatial(fam, model, settings, shape)
            fam.spatial[skey] = found
        if isinstance(found, str):  # this size failed before (a batch does not change a build's errors)
            return PointResult(model, values, input_shape=shape, error=found)
        batch = settings.batch if settings.batch is not None else fam.graph.batch
        return self._result(model, values, shape, batch, found)

    def _shape(self, fam: _Family, model: str, settings: Settings) -> Shape:
        """The point's input shape. The family's input is the spec's with the first point's size applied: its rank and
        channels are the spec's unless that size was a whole shape (or the point sets no size): then the point is
        built. A size that does not fit the input is built too, for the message that shows the spec's shape."""
        built = fam.graph.inputs[0].shape
        size = settings.input
        if size == fam.size:
            return built
        if size is None or (fam.size is not None and len(fam.size) == len(built)):
            return self._build(model, settings).inputs[0].shape
        try:
            dims = apply_input(tuple(built), size, is_tokens(built), model)
        except UsageError:
            self._build(model, settings)  # raises the message a single analysis gives
            raise
        return Tokens(*dims) if is_tokens(built) else dims

    def _build(self, model: str, settings: Settings) -> Graph:
        self.builds += 1
        return build_graph(self.spec, model, None, settings)

    # -- one input shape of a family --------------------------------------------------------------
    def _spatial(self, fam: _Family, model: str, settings: Settings, shape: Shape) -> Any:
        """The layers' results at another input shape: replayed where the family allows it, else built."""
        first = fam.graph.inputs[0].shape
        same_kind = type(shape) is type(first) and len(shape) == len(first) and (
            shape[-1] == first[-1] if is_tokens(shape) else shape[0] == first[0]
        )
        if fam.replayable and same_kind:
            try:
                self.replays += 1
                return self._run(fam, shape)
            except _Replay:
                pass  # built below: its message, or (should a rule have refused only here) its numbers
        try:
            graph = self._build(model, settings)
        except ConvcostError as e:
            return str(e)
        return self._run(_Family.of(graph, False), shape, graph)

    def _run(self, fam: _Family, shape: Shape, graph: Graph | None = None) -> Aggregate:
        """Every layer at this input shape (``graph``: a real build's, whose shapes are known): looked up,
        or run through the op's shape and cost rules, until a cut whose output shape was seen before."""
        shapes: list[Shape] = []
        results: list[LayerResult] = []
        memo, cuts, suffix, elem, plain = fam.memo, fam.cuts, fam.suffix, self.elem, fam.plain
        nodes = fam.graph.nodes
        if plain and type(shape) is not tuple:
            raise _Replay
        hit: _Suffix | None = None
        for index, inputs, shape_fn, args, rule in fam.plan:
            if graph is not None:  # a real build: its shapes (a model with several inputs comes only this way)
                ins = nodes[index].in_shapes
            else:  # a replay: one model input, so any i < 0 is it
                ins = tuple(shape if i < 0 else shapes[i] for i in inputs)
                if tuple(_channels(s) for s in ins) != fam.channels[index]:
                    # after a flatten, a permute or a reshape (or on a flat input) channels are made of spatial
                    # sizes, and a layer's arguments may have been derived from them (depthwise, in_channels)
                    raise _Replay
            key = ins if plain else tuple(_shape_key(s) for s in ins)
            res = memo[index].get(key)
            if res is None:
                self.layers += 1
                if graph is not None:
                    out = graph.nodes[index].shape
                else:
                    try:
                        out = shape_fn(args, ins)
                    except Exception as e:  # ShapeError, or anything a rule raises on a size it was not built for
                        raise _Replay from e
                    if plain and type(out) is not tuple:  # pragma: no cover - a rule whose kind of output changed
                        raise _Replay
                n = nodes[index]
                linear = self.linear.get((n.op, args))
                if linear is None:
                    linear = self.linear[n.op, args] = _linear(rule, args, ins, out)
                node = Node(index, n.name, n.op, args, inputs, ins, out, n.scope, n.loc, n.frozen)
                res = _layer(rule, args, node, ins, out, elem, linear)
                memo[index][key] = res
            shapes.append(res.shape)
            results.append(res)
            if index in cuts:
                hit = suffix[index].get(res.shape if plain else _shape_key(res.shape))
                if hit is not None:
                    break
        # what this run learnt: the sums after each cut it passed, by that cut's output shape
        last = len(results) - 1
        acc: _Suffix | None = hit
        pending: list[LayerResult] = []
        for pos in range(last, -1, -1):
            if pos in cuts and not (hit is not None and pos == last):
                acc = _segment(pending[::-1], acc)
                pending = []
                suffix[pos][shapes[pos] if plain else _shape_key(shapes[pos])] = acc
            pending.append(results[pos])
        return _aggregate(pending[::-1], acc)

    def _result(self, model: str, values: tuple[Any, ...], shape: Shape, batch: int, agg: Aggregate) -> PointResult:
        sums, spans, exact = agg
        fields = [s if f in _PARAM_FIELDS else s * batch for f, s in zip(FIELDS, sums)]
        traffic, ideal = 0, 0.0
        for (flops, io, weights), count in spans.items():
            nbytes = batch * io + weights
            traffic += count * nbytes
            ideal += count * layer_span(batch * flops, nbytes, self.peak, self.bandwidth).ideal_s
        for r in exact:  # a layer whose rule is not linear in the batch: counted at the batch
            fields = [a - (b if f in _PARAM_FIELDS else b * batch) for a, b, f in zip(fields, r.fields, FIELDS)]
            exact_fields, flops, nbytes = r.exact(batch)  # type: ignore[misc]
            fields = [a + b for a, b in zip(fields, exact_fields)]
            traffic += nbytes
            ideal += layer_span(flops, nbytes, self.peak, self.bandwidth).ideal_s
        cost = Cost(**dict(zip(FIELDS, fields)))
        return PointResult(model, values, cost, shape, batch, traffic, ideal)


def grid(axes: tuple[Axis, ...]) -> Iterator[tuple[Any, ...]]:
    """Every point, the last axis fastest."""
    return itertools.product(*(a.values for a in axes))


def run_sweep(
    spec: SpecFile, models: list[str], axes: tuple[Axis, ...], profile: DeviceProfile, dtype: str = "fp32",
    base: Settings | None = None, step: Callable[[int], None] | None = None,
) -> tuple[SweepResult, SweepEngine]:
    """Every model at every point of the grid, model by model; ``step(n)`` after every n points (a progress bar)."""
    engine = SweepEngine(spec, profile, dtype)
    names = tuple(a.name for a in axes)
    base = base or Settings()
    out: list[PointResult] = []
    with paused_gc():
        for model in models:
            done = 0
            for values in grid(axes):
                out.append(engine.point(model, values, point_settings(names, values, base)))
                done += 1
                if step is not None and done % 64 == 0:
                    step(64)
            if step is not None and done % 64:
                step(done % 64)
    return SweepResult(spec.path, axes, dtype, profile, tuple(out)), engine


__all__ = ["Axis", "PointResult", "SweepEngine", "SweepResult", "grid", "run_sweep", "spatially_pure"]
