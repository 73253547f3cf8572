"""Graph → real torch modules: one ``nn.Module`` per spec layer, nested and named like the spec.

This module imports torch at the top, so only the commands that need torch (verify, profile)
import it, and they do so inside their function bodies. The analytic path never imports it.

``build_model(graph)`` returns a :class:`GraphModule`. Its submodules are nested by scope:
the node ``layer1.0.conv1`` is ``model.layer1[0].conv1`` in ``named_modules()`` (and in fvcore's
``by_module()``), and ``model.module_for("layer1.0.conv1")`` finds it directly. ``forward``
runs the DAG in node order and frees each intermediate result after its last use.

Each node's module comes from its op's definition (``build``, convcost/ops/); this module only
nests, names and runs them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import SpecError
from ..graph.build import Graph, Node
from ..ops.counting import SUBCLASS


class Scope(nn.Module):
    """A named group of layers (block call, repeat, branch). Never called: it only holds children, which
    ``scope[name]`` (or ``scope[0]`` for a repeat's iteration '0') finds, as in torchvision's nn.Sequential stages."""

    def __getitem__(self, name: str | int) -> nn.Module:
        return self._modules[str(name)]  # type: ignore[return-value]


def build_module(node: Node) -> nn.Module:
    """The torch module for one node (CPU, float32, random weights), as its op's definition builds it; with
    'torch: subclass' its torch.nn modules become subclasses (its 'torch: function' the op's build calls itself)."""
    module = node.rule.build(node)
    if node.form == SUBCLASS:
        for m in module.modules():
            if type(m).__module__.startswith("torch.nn."):
                m.__class__ = subclass_of(type(m))
    return module


_SUBCLASSES: dict[type, type] = {}


def subclass_of(cls: type) -> type:
    """A subclass of a torch.nn class that adds nothing, as torchvision's Conv3DSimple subclasses nn.Conv3d: named
    '<Class>Subclass', so a tool that reads class names (torchinfo: 'Conv' in the name) reads them as for the class."""
    sub = _SUBCLASSES.get(cls)
    if sub is None:
        sub = _SUBCLASSES[cls] = type(f"{cls.__name__}Subclass", (cls,), {"__module__": __name__})
    return sub


# ---- the whole graph ----------------------------------------------------------------------------
def _attach(parent: nn.Module, name: str, child: nn.Module, node: Node) -> None:
    # Straight into _modules: a spec may name a layer 'eval' or 'forward', which add_module refuses
    # because nn.Module has such methods; named_modules(), fvcore and FlopCounterMode only read _modules.
    # Instance attributes ('training', '_buffers'...) would break eval()/to(): those names are refused.
    if name in vars(parent):
        raise SpecError(
            f"{node.op} '{node.name}': the name '{name}' clashes with an attribute of torch.nn.Module; "
            "rename this layer (or its scope) to build it in torch",
            node.loc,
        )
    parent._modules[name] = child


def _owner(module: nn.Module, tensor: str) -> tuple[nn.Module, str]:
    """The submodule holding the parameter an op's ``tensors`` calls ``tensor`` ('weight' of nn.Linear, or of the
    nn.Linear a channels-last wrapper holds) and its attribute name."""
    found = [n for n, _ in module.named_parameters() if n == tensor or n.endswith(f".{tensor}")]
    assert len(found) == 1, f"{type(module).__name__} holds {len(found)} parameters named {tensor}"
    owner_path, _, attr = found[0].rpartition(".")
    return (module.get_submodule(owner_path) if owner_path else module), attr


def _tie(module: nn.Module, other: nn.Module, tensor: str) -> None:
    owner, attr = _owner(module, tensor)
    theirs, their_attr = _owner(other, tensor)
    setattr(owner, attr, getattr(theirs, their_attr))


class GraphModule(nn.Module):
    """The spec's model as real torch modules; ``forward`` runs the graph's DAG in node order."""

    def __init__(self, graph: Graph) -> None:
        super().__init__()
        self.graph = graph
        self._by_name: dict[str, nn.Module] = {}
        self._layers: list[nn.Module] = []
        for node in graph.nodes:
            parent: nn.Module = self
            for part in node.scope:
                child = parent._modules.get(part)
                if child is None:
                    child = Scope()
                    _attach(parent, part, child, node)
                parent = child
            module = build_module(node)
            _attach(parent, node.short_name, module, node)
            self._by_name[node.name] = module
            self._layers.append(module)
            for tensor, other in node.tied:  # the same Parameter: torch's parameters() counts it once
                _tie(module, self._layers[other], tensor)
        last_use: dict[int, int] = {}
        for node in graph.nodes:
            for i in node.inputs:
                last_use[i] = node.index
        for i in graph.outputs:
            last_use[i] = len(graph.nodes)  # returned: never freed
        self._last_use = last_use

    def module_for(self, name: str) -> nn.Module:
        """The module built for the node called ``name`` (its dotted path)."""
        return self._by_name[name]

    def named_layers(self) -> list[tuple[Node, nn.Module]]:
        """Every node with its module, in graph order."""
        return list(zip(self.graph.nodes, self._layers))

    def forward(self, *xs: Tensor) -> Tensor | tuple[Tensor, ...]:
        """The graph's inputs in spec order; its output, or a tuple of its outputs when there are several."""
        outs: dict[int, Tensor] = {i.index: x for i, x in zip(self.graph.inputs, xs, strict=True)}
        for node, module in zip(self.graph.nodes, self._layers):
            outs[node.index] = module(*(outs[i] for i in node.inputs))
            for i in set(node.inputs):
                if self._last_use.get(i) == node.index:
                    del outs[i]  # keep peak memory at what is still needed
        results = tuple(outs[i] for i in self.graph.outputs)
        return results[0] if len(results) == 1 else results


def build_model(graph: Graph, device: str | torch.device = "cpu") -> GraphModule:
    """Build the graph's modules in eval mode on ``device`` ('meta' allocates no storage)."""
    dev = torch.device(device)
    if dev.type == "meta":
        with torch.device("meta"):
            model = GraphModule(graph)
    else:
        model = GraphModule(graph).to(dev)
    return model.eval()


def example_input(graph: Graph, device: str | torch.device = "cpu") -> Tensor:
    """A random input of the graph's batch and (first) input shape."""
    return torch.randn(graph.batch, *graph.input_shape, device=device)


def example_inputs(graph: Graph, device: str | torch.device = "cpu") -> tuple[Tensor, ...]:
    """A random tensor for each of the graph's inputs, in spec order (``model(*xs)``)."""
    return tuple(torch.randn(graph.batch, *i.shape, device=device) for i in graph.inputs)
