"""Which gradients a training step computes: the gradient path through the graph. No torch here.

As in torch's autograd: a model input needs no gradient; a layer's output needs one when one of its inputs does
or the layer has trainable parameters (parameters of a layer marked ``frozen`` in the spec get none, as with
``requires_grad_(False)``). A layer's backward computes the gradient of each input that needs one and of its
trainable parameters, and runs only when its output leads to a model output (the loss is taken on them all).
So the first layer computes no input gradient, and neither does any layer before the first trainable one. A
``detached`` op (`constant`: a tensor made from its input's shape alone) passes no gradient back.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..graph.build import Graph
from ..ops.grad import Need
from .analysis import Analysis


@dataclass(frozen=True)
class GradPath:
    requires: dict[int, bool]  # tensor (node index, or a model input's) -> its gradient is computed somewhere
    reaches: dict[int, bool]  # node index -> its output leads to a model output
    needs: tuple[Need, ...]  # per node: what its backward computes
    trainable: tuple[int, ...]  # per node: parameters that get a gradient
    frozen: tuple[int, ...]  # per node: parameters that do not

    def recorded(self, index: int) -> bool:
        """torch records the layer for backward (and keeps what it saves): its output requires a gradient."""
        return self.requires[index]

    def readers(self, graph: Graph) -> dict[int, int]:
        """Per tensor: how many gradients flow into it (layers passing one back, +1 for a model output)."""
        count: dict[int, int] = {}
        for node, need in zip(graph.nodes, self.needs):
            for i, wanted in zip(node.inputs, need.inputs):
                if wanted:
                    count[i] = count.get(i, 0) + 1
        for o in graph.outputs:
            if self.requires[o]:
                count[o] = count.get(o, 0) + 1
        return count


def grad_path(analysis: Analysis) -> GradPath:
    graph = analysis.graph
    requires: dict[int, bool] = {i.index: False for i in graph.inputs}
    trainable, frozen = [], []
    for lc in analysis.layers:
        node = lc.node
        params = lc.cost.params
        trainable.append(0 if node.frozen else params)
        frozen.append(params if node.frozen else 0)
        flows = not node.rule.detached  # a tensor made from its input's shape alone (`constant`) needs no gradient
        requires[node.index] = trainable[-1] > 0 or (flows and any(requires[i] for i in node.inputs))
    reaches = {n.index: False for n in graph.nodes}
    for o in graph.outputs:
        reaches[o] = True
    for node in reversed(graph.nodes):
        if reaches[node.index] and not node.rule.detached:
            for i in node.inputs:
                if i >= 0:
                    reaches[i] = True
    needs = tuple(
        Need(tuple(reaches[n.index] and requires[i] and not n.rule.detached for i in n.inputs), reaches[n.index] and t > 0)
        for n, t in zip(graph.nodes, trainable)
    )
    return GradPath(requires, reaches, needs, tuple(trainable), tuple(frozen))
