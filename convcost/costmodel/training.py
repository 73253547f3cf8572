"""Training cost: per-layer backward FLOPs, trainable parameters, optimizer state and a peak-memory estimate.

No torch here. Which gradients each layer computes comes from the gradient path (gradpath.py); what computing
them costs, from each op's definition (``backward``, convcost/ops/grad.py). What autograd keeps for the backward
is the memory model's (memory.py, each op's ``saves``), restricted to the layers torch records.

The peak-memory estimate of one training step (``TrainingMemory``) adds, at ``dtype`` bytes per value:

- the weights (parameters and buffers; batch norm's num_batches_tracked counters are int64, 8 bytes),
- a gradient for every trainable parameter,
- the optimizer's state: none for plain SGD, one value per trainable parameter for SGD with momentum (its
  momentum buffer), two for Adam and AdamW (exp_avg, exp_avg_sq; their per-tensor step counters are not counted),
- the activations saved for the backward (the most that is alive: the forward has just ended),
- the largest transient: the most that is alive besides the saved activations, either in the forward (outputs
  not yet freed that the backward does not keep) or in one layer's backward (the gradient of its output and the
  gradients it produces for its inputs).

It assumes what a steady-state step in eager PyTorch holds: gradients and optimizer state already allocated (from
the previous step: ``zero_grad(set_to_none=False)``; torch's default frees gradients, which lowers the peak by the
gradients until the backward allocates them again), everything in one dtype (mixed precision keeps fp32 master
weights and state besides), unfused layers, and no allocator overhead (caching allocators round sizes up and keep
freed blocks). It is an estimate, not a measurement: `convcost profile --training` measures what torch can.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from ..cost import Backward, Cost
from ..errors import UsageError, did_you_mean
from ..graph.build import Graph, Node
from ..ops.grad import Need
from ..ops.shapes import numel
from .analysis import Analysis
from .gradpath import GradPath, grad_path
from .memory import dtype_bytes, saved_for_backward, storage_sizes, storages

# State values each optimizer keeps per trainable parameter (torch.optim's SGD, SGD(momentum>0), Adam, AdamW).
OPTIMIZER_STATE = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}
DEFAULT_OPTIMIZER = "adamw"
COUNTER_BYTES = 8  # torch keeps step counters (batch norm's num_batches_tracked) in int64, whatever the dtype


# The training numbers users compare (compare --training) and budget (check --training): per model, and all but the
# peak memory per block.
TRAINING_METRICS = ("trainable_params", "backward_flops", "step_flops", "training_memory")
BLOCK_TRAINING_METRICS = ("trainable_params", "backward_flops", "step_flops")
TRAINING_TITLES = {"trainable_params": "trainable params", "backward_flops": "backward FLOPs",
                   "step_flops": "step FLOPs", "training_memory": "peak memory (est.)"}


def optimizer_state(name: str) -> int:
    try:
        return OPTIMIZER_STATE[name]
    except KeyError:
        raise UsageError(f"unknown optimizer '{name}'{did_you_mean(name, list(OPTIMIZER_STATE))}; choose one of "
                         f"{', '.join(OPTIMIZER_STATE)}") from None


@dataclass(frozen=True)
class LayerTraining:
    node: Node
    need: Need
    backward: Backward
    trainable: int  # parameters that get a gradient
    frozen: int  # parameters that do not
    saved_bytes: int  # what autograd keeps for this layer's backward (a tensor several layers keep: the first)


@dataclass(frozen=True)
class TrainingMemory:
    dtype: str
    bytes_per_value: int
    optimizer: str
    weight_bytes: int  # parameters and buffers
    grad_bytes: int  # one gradient per trainable parameter
    optimizer_bytes: int  # the optimizer's state
    saved_bytes: int  # activations kept for the backward
    transient_bytes: int  # the most alive besides them
    transient_layer: str  # where
    transient_phase: str  # 'forward' or 'backward'

    @property
    def peak_bytes(self) -> int:
        return self.weight_bytes + self.grad_bytes + self.optimizer_bytes + self.saved_bytes + self.transient_bytes


@dataclass(frozen=True)
class Training:
    analysis: Analysis
    path: GradPath
    layers: tuple[LayerTraining, ...]
    memory: TrainingMemory

    @property
    def graph(self) -> Graph:
        return self.analysis.graph

    @cached_property
    def backward(self) -> Backward:
        return sum((lt.backward for lt in self.layers), Backward())

    @property
    def forward(self) -> Cost:
        return self.analysis.total

    @property
    def trainable(self) -> int:
        return sum(lt.trainable for lt in self.layers)

    @property
    def frozen(self) -> int:
        return sum(lt.frozen for lt in self.layers)

    @property
    def flops(self) -> int:
        """One training step: the forward's FLOPs and the backward's."""
        return self.forward.flops + self.backward.flops

    def scope_backward(self, path: tuple[str, ...]) -> Backward:
        return self.scope_totals.get(tuple(path), Backward())

    @cached_property
    def scope_totals(self) -> dict[tuple[str, ...], Backward]:
        totals: dict[tuple[str, ...], Backward] = {}
        for lt in self.layers:
            scope = lt.node.scope
            for k in range(1, len(scope) + 1):
                totals[scope[:k]] = totals.get(scope[:k], Backward()) + lt.backward
        return totals

    @cached_property
    def scope_trainable(self) -> dict[tuple[str, ...], int]:
        totals: dict[tuple[str, ...], int] = {}
        for lt in self.layers:
            scope = lt.node.scope
            for k in range(1, len(scope) + 1):
                totals[scope[:k]] = totals.get(scope[:k], 0) + lt.trainable
        return totals


def _forward_transient(graph: Graph, storage: dict[int, int], size: dict[int, int], kept: set[int]) -> tuple[int, str]:
    """The most bytes alive in the forward besides what the backward keeps: tensors not kept, from the layer that
    makes them to their last reader (the model's inputs and outputs throughout). One sweep over the layers."""
    end = len(graph.nodes)
    born = {storage[i.index]: 0 for i in graph.inputs}
    last = {s: -1 for s in size}
    for n in graph.nodes:
        born.setdefault(storage[n.index], n.index)
        for i in n.inputs:
            last[storage[i]] = max(last[storage[i]], n.index)
    for i in graph.inputs:
        last[storage[i.index]] = end
    for o in graph.outputs:
        last[storage[o]] = end
    delta = [0] * (end + 2)
    for s, b in born.items():
        if s in kept:
            continue
        delta[b] += size[s]
        delta[max(last[s], b) + 1] -= size[s]
    best, where, alive = 0, graph.inputs[0].name, 0
    for n in graph.nodes:
        alive += delta[n.index]
        if alive > best:
            best, where = alive, n.name
    return best, where


def _backward_transient(graph: Graph, path: GradPath, elem: int) -> tuple[int, str]:
    """The most one layer's backward holds at once besides the saved tensors: its output's gradient and the
    gradients it computes for its inputs."""
    best, where = 0, ""
    for node, need in zip(graph.nodes, path.needs):
        if not need.anything:
            continue
        grads = graph.batch * numel(node.shape) * elem
        grads += sum(graph.batch * numel(s) * elem for s, wanted in zip(node.in_shapes, need.inputs) if wanted)
        if grads > best:
            best, where = grads, node.name
    return best, where


def analyze_training(analysis: Analysis, optimizer: str = DEFAULT_OPTIMIZER, dtype: str = "fp32") -> Training:
    """Backward cost per layer, trainable parameters, and the memory of one training step at ``dtype``."""
    state = optimizer_state(optimizer)
    elem = dtype_bytes(dtype)
    graph = analysis.graph
    path = grad_path(analysis)
    saved, kept = saved_for_backward(graph, path, elem)
    storage = storages(graph)
    readers = path.readers(graph)
    layers = []
    for lc, need, trainable, frozen, saved_bytes in zip(analysis.layers, path.needs, path.trainable, path.frozen, saved):
        node = lc.node
        grads = node.rule.backward(node.args, node.in_shapes, node.shape, graph.batch, need) if need.anything else Backward()
        extra = readers.get(node.index, 0) - 1  # gradients of this output added together
        if extra > 0:
            grads = grads + Backward(accumulate_ops=extra * graph.batch * numel(node.shape))
        layers.append(LayerTraining(node, need, grads, trainable, frozen, saved_bytes))
    total = analysis.total
    trainable = sum(path.trainable)
    fwd, fwd_at = _forward_transient(graph, storage, storage_sizes(graph, storage, elem), kept)
    bwd, bwd_at = _backward_transient(graph, path, elem)
    transient, at, phase = (fwd, fwd_at, "forward") if fwd >= bwd else (bwd, bwd_at, "backward")
    counters = sum(lc.node.rule.unread(lc.node) for lc in analysis.layers)  # batch norm's num_batches_tracked
    memory = TrainingMemory(
        dtype, elem, optimizer,
        weight_bytes=(total.params + total.buffers - counters) * elem + counters * COUNTER_BYTES,
        grad_bytes=trainable * elem,
        optimizer_bytes=state * trainable * elem,
        saved_bytes=sum(saved),
        transient_bytes=transient,
        transient_layer=at,
        transient_phase=phase,
    )
    return Training(analysis, path, tuple(layers), memory)


def training_metric(t: Training, name: str) -> int:
    """One named training number: trainable params, backward FLOPs, forward + backward FLOPs, peak bytes."""
    if name == "trainable_params":
        return t.trainable
    if name == "backward_flops":
        return t.backward.flops
    if name == "step_flops":
        return t.flops
    if name == "training_memory":
        return t.memory.peak_bytes
    raise KeyError(name)


def scope_training_metric(t: Training, path: tuple[str, ...], name: str) -> int:
    """A block's (a scope's) training number: its trainable params, backward FLOPs, forward + backward FLOPs."""
    if name == "trainable_params":
        return t.scope_trainable.get(path, 0)
    if name == "backward_flops":
        return t.scope_backward(path).flops
    if name == "step_flops":
        return t.analysis.scope_total(path).flops + t.scope_backward(path).flops
    raise KeyError(name)
