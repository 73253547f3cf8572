"""Memory, analytically: bytes each layer moves, arithmetic intensity, and activation memory.

No torch here. The model of a layer is "unfused, every tensor through main memory": a layer reads
each of its inputs once, reads its weights once and writes its output once, all in one dtype
(fp32/fp16/bf16/int8; for int8 the int32 accumulators and scales are ignored). Ops that torch
runs as views or as the identity (op categories identity and reshape) move nothing and allocate
nothing: their output shares the input's storage.

Activation memory walks the graph in its (topological) order. A tensor lives from the layer that
makes it to its last reader, so the inputs of a residual add or a concat stay alive across the
branches in between. The model input is owned by the caller and stays alive throughout.

For training, ``training_saved_bytes`` is what autograd keeps for the backward pass, following
what torch's backward formulas save, as each op's definition states it (``saves``: its inputs, its
output or nothing; ``saved_extra``: tensors besides, such as indices, statistics or masks; see
convcost/ops/). Tensors saved by several layers count once. Parameters and gradients are not
activations and are not counted. Only layers torch records for the backward keep anything: those
whose output needs a gradient (gradpath.py: after the first trainable layer); a layer whose
parameters are frozen keeps what its op saves then (``saves_frozen``: a frozen linear keeps nothing,
its input's gradient needs only the weight; a frozen conv its input, as torch's one convolution_backward formula does).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..graph.build import Graph, Node
from ..ops.registry import Saves
from ..ops.shapes import numel
from .analysis import Analysis, LayerCost, analyze
from .gradpath import GradPath, grad_path
from .sizes import (  # noqa: F401  (re-exported: the memory model's names)
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_MEMORY,
    DTYPE_BYTES,
    dtype_bytes,
    human_bytes,
    parse_max_memory,
)

# Categories whose torch modules return their input (or a view of it): no traffic, no allocation.
VIEW_CATEGORIES = frozenset({"identity", "reshape"})

WEIGHT_BUILD_BYTES = 4  # torch_build makes modules in fp32; profile casts them to --dtype afterwards

def forward_bytes(analysis: Analysis, elem: int, weight_elem: int | None = None, activation_copies: int = 1) -> int:
    """Bytes a real forward needs, at most: weights and buffers, the input and every layer's output
    (``activation_copies`` times), all alive at once.

    An upper bound: torch's forward frees each output after its last use, but fvcore's trace and
    profile's per-block timing keep them. ``weight_elem`` is the bytes per weight while the model
    is built (profile builds in fp32, then casts).
    """
    g = analysis.graph
    t = analysis.total
    weights = (t.params + t.buffers) * (elem if weight_elem is None else weight_elem)
    inputs = sum(numel(i.shape) for i in g.inputs)
    return weights + elem * (g.batch * inputs + activation_copies * t.activations)


def is_view(node: Node) -> bool:
    return node.rule.category in VIEW_CATEGORIES


@dataclass(frozen=True)
class Traffic:
    """Bytes one layer reads and writes (the whole batch)."""

    input_bytes: int = 0
    weight_bytes: int = 0
    output_bytes: int = 0

    @property
    def total(self) -> int:
        return self.input_bytes + self.weight_bytes + self.output_bytes

    def __add__(self, other: Traffic) -> Traffic:
        return Traffic(
            self.input_bytes + other.input_bytes,
            self.weight_bytes + other.weight_bytes,
            self.output_bytes + other.output_bytes,
        )


def intensity(flops: int, nbytes: int) -> float:
    """Arithmetic intensity in FLOP per byte (0 when nothing moves)."""
    return flops / nbytes if nbytes else 0.0


@dataclass(frozen=True)
class LayerTraffic:
    layer: LayerCost
    traffic: Traffic

    @property
    def node(self) -> Node:
        return self.layer.node

    @property
    def flops(self) -> int:
        return self.layer.cost.flops

    @property
    def intensity(self) -> float:
        return intensity(self.flops, self.traffic.total)


def weights_read(lc: LayerCost) -> int:
    """Elements of weights a layer reads at inference: parameters plus running statistics.

    Buffers inference never reads (a step counter) are the op's ``unread_buffers``.
    """
    return lc.cost.params + lc.cost.buffers - lc.node.rule.unread(lc.node)


def layer_traffic(lc: LayerCost, batch: int, elem: int) -> Traffic:
    node = lc.node
    if is_view(node):
        return Traffic()
    return Traffic(
        input_bytes=sum(batch * numel(s) for s in node.in_shapes) * elem,
        weight_bytes=weights_read(lc) * elem,
        output_bytes=batch * numel(node.shape) * elem,
    )


@dataclass(frozen=True)
class ActivationMemory:
    peak_bytes: int  # the most activation bytes alive at once during one inference pass
    peak_layer: str  # the layer running when the peak is reached
    live_at_peak: tuple[str, ...]  # the tensors alive then ('input' for the model input)
    training_saved_bytes: int  # what autograd keeps for backward


def saves(node: Node) -> Saves:
    return node.rule.saved(node)


def saved_extra_bytes(node: Node, batch: int, elem: int) -> int:
    """Tensors besides activations that a layer's backward keeps."""
    return node.rule.saved_extra(node, batch, elem)


def storages(graph: Graph) -> dict[int, int]:
    """storage[t]: the tensor whose memory t uses (views share their input's storage)."""
    storage: dict[int, int] = {i.index: i.index for i in graph.inputs}
    for n in graph.nodes:
        storage[n.index] = storage[n.inputs[0]] if is_view(n) else n.index
    return storage


def storage_sizes(graph: Graph, storage: dict[int, int], elem: int) -> dict[int, int]:
    return {s: graph.batch * numel(graph.shape_of(s)) * elem for s in set(storage.values())}


def saved_for_backward(graph: Graph, path: GradPath, elem: int) -> tuple[list[int], set[int]]:
    """Bytes each layer's backward keeps (a tensor kept by several layers counted at the first) and the storages
    kept. Only layers torch records keep anything (their output needs a gradient); a layer whose parameters get no
    gradient keeps what its op saves then (``saves_frozen``)."""
    storage = storages(graph)
    size = storage_sizes(graph, storage, elem)
    kept: set[int] = set()
    per_layer = []
    for node in graph.nodes:
        if not path.recorded(node.index):
            per_layer.append(0)
            continue
        kind = node.rule.saved_when(node, not path.trainable[node.index])
        new: set[int] = set()
        if kind is Saves.INPUTS:
            new = {storage[i] for i in node.inputs}
        elif kind is Saves.OUTPUT:
            new = {storage[node.index]}
        new -= kept
        kept |= new
        per_layer.append(sum(size[s] for s in new) + saved_extra_bytes(node, graph.batch, elem))
    return per_layer, kept


def activation_memory(graph: Graph, elem: int, path: GradPath | None = None) -> ActivationMemory:
    """Peak live activation bytes of one inference pass and the training-saved total (saved on ``path``, the
    gradient path: by default the graph's own, from its frozen layers)."""
    if path is None:
        path = grad_path(analyze(graph))
    nodes = graph.nodes
    end = len(nodes)
    storage = storages(graph)
    size = storage_sizes(graph, storage, elem)
    last_use = {s: -1 for s in size}
    for n in nodes:
        for i in n.inputs:
            last_use[storage[i]] = max(last_use[storage[i]], n.index)
    for i in graph.inputs:
        last_use[i.index] = end  # the caller holds the inputs
    for o in graph.outputs:
        last_use[storage[o]] = end  # and receives the outputs
    names = {n.index: n.name for n in nodes}
    names.update((i.index, i.name) for i in graph.inputs)

    # One walk, linear in the layers: a running total, and each tensor freed at its last use (or at once
    # when nothing uses it). Summing the live set at every layer was quadratic: a concat of 45,000
    # branches keeps 45,000 tensors alive (26 s for 20,000, see tests/test_limits.py).
    inputs = {i.index for i in graph.inputs}

    def walk(stop: int | None) -> tuple[int, str, int | None, set[int]]:
        live: set[int] = set(inputs)
        now = peak = sum(size[i] for i in inputs)
        peak_at, peak_index = graph.inputs[0].name, None
        for n in nodes:
            s = storage[n.index]
            if s not in live:
                live.add(s)
                now += size[s]
            if now > peak:
                peak, peak_at, peak_index = now, n.name, n.index
            if n.index == stop:
                break
            for t in (*frees.get(n.index, ()), *((s,) if last_use[s] < n.index else ())):
                if t in live:
                    live.remove(t)
                    now -= size[t]
        return peak, peak_at, peak_index, live

    frees: dict[int, list[int]] = {}
    for t, last in last_use.items():
        frees.setdefault(last, []).append(t)
    peak, peak_at, peak_index, _ = walk(None)
    at_peak = walk(peak_index)[3] if peak_index is not None else inputs
    live_at_peak = tuple(names[t] for t in sorted(at_peak))

    return ActivationMemory(peak, peak_at, live_at_peak, sum(saved_for_backward(graph, path, elem)[0]))


@dataclass(frozen=True)
class MemoryReport:
    analysis: Analysis
    dtype: str
    layers: tuple[LayerTraffic, ...]
    activations: ActivationMemory

    @property
    def graph(self) -> Graph:
        return self.analysis.graph

    @property
    def traffic(self) -> Traffic:
        total = Traffic()
        for lt in self.layers:
            total = total + lt.traffic
        return total

    @property
    def weight_bytes(self) -> int:
        """Bytes of all weights once (the model's footprint besides activations)."""
        return sum(lt.traffic.weight_bytes for lt in self.layers)


def analyze_memory(analysis: Analysis, dtype: str = "fp32") -> MemoryReport:
    elem = dtype_bytes(dtype)
    g = analysis.graph
    layers = tuple(LayerTraffic(lc, layer_traffic(lc, g.batch, elem)) for lc in analysis.layers)
    return MemoryReport(analysis, dtype, layers, activation_memory(g, elem, grad_path(analysis)))
