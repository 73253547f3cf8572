"""Graph → real torch modules: one ``nn.Module`` per spec layer, nested and named like the spec.

This module imports torch at the top, so only the commands that need torch (verify, profile)
import it, and they do so inside their function bodies. The analytic path never imports it.

``build_model(graph)`` returns a :class:`GraphModule`. Its submodules are nested by scope:
the node ``layer1.0.conv1`` is ``model.layer1[0].conv1`` in ``named_modules()`` (and in fvcore's
``by_module()``), and ``model.module_for("layer1.0.conv1")`` finds it directly. ``forward``
runs the DAG in node order and frees each intermediate result after its last use.

``FACTORIES`` maps every registry op to a module factory; ``tests`` assert that the two tables
name the same ops, so a new op rule cannot be added without saying how to build it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..errors import SpecError
from ..graph.build import Graph, Node
from ..op_tables import op_entry
from ..ops.basic import BatchNormArgs, LeakyArgs, LinearArgs
from ..ops.conv import ConvArgs, explicit_padding, needs_asymmetric_same
from ..ops.pool import AdaptiveArgs, AvgPoolArgs, PoolArgs

Factory = Callable[[Node], nn.Module]


# ---- modules for the joins (torch has no nn.Module for them) --------------------------------
class Concat(nn.Module):
    """torch.cat of the branch outputs along channels."""

    def forward(self, *xs: Tensor) -> Tensor:
        return torch.cat(xs, dim=1)


class Add(nn.Module):
    """Elementwise sum of the branch outputs (the residual add)."""

    def forward(self, *xs: Tensor) -> Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Multiply(nn.Module):
    """Elementwise product with broadcasting (squeeze-excite gating)."""

    def forward(self, *xs: Tensor) -> Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out


class Chunk(nn.Module):
    """One of ``parts`` equal channel slices (a view)."""

    def __init__(self, parts: int, index: int) -> None:
        super().__init__()
        self.parts, self.index = parts, index

    def forward(self, x: Tensor) -> Tensor:
        return x.chunk(self.parts, 1)[self.index]


class Scope(nn.Module):
    """A named group of layers (block call, repeat, branch). Never called: it only holds children."""


# ---- factories --------------------------------------------------------------------------------
def torch_padding(a: ConvArgs) -> str | tuple[int, int]:
    """Explicit per-side padding where torch's would be symmetric; the string 'same' only where torch
    pads asymmetrically (even dilated kernel). The two build the same computation, but fvcore cannot
    see a string-padded conv (it is traced as aten::_convolution_mode), so ints are used where possible."""
    return "same" if needs_asymmetric_same(a) else explicit_padding(a)


def _conv(node: Node) -> nn.Module:
    a: ConvArgs = node.args
    return nn.Conv2d(
        node.in_shapes[0][0], a.out, a.kernel, stride=a.stride, padding=torch_padding(a), dilation=a.dilation,
        groups=a.groups, bias=a.bias,
    )


def _linear(node: Node) -> nn.Module:
    a: LinearArgs = node.args
    return nn.Linear(node.in_shapes[0][0], a.out, bias=a.bias)


def _batchnorm(node: Node) -> nn.Module:
    a: BatchNormArgs = node.args
    cls = nn.BatchNorm2d if len(node.shape) == 3 else nn.BatchNorm1d
    return cls(node.shape[0], eps=a.eps, momentum=a.momentum, affine=a.affine)


def _leaky(node: Node) -> nn.Module:
    a: LeakyArgs = node.args
    return nn.LeakyReLU(a.slope)


def _maxpool(node: Node) -> nn.Module:
    a: PoolArgs = node.args
    return nn.MaxPool2d(a.kernel, stride=a.stride or a.kernel, padding=a.padding, ceil_mode=a.ceil_mode)


def _avgpool(node: Node) -> nn.Module:
    a: AvgPoolArgs = node.args
    return nn.AvgPool2d(
        a.kernel, stride=a.stride or a.kernel, padding=a.padding, ceil_mode=a.ceil_mode,
        count_include_pad=a.count_include_pad,
    )


def _adaptive(node: Node) -> nn.Module:
    a: AdaptiveArgs = node.args
    return nn.AdaptiveAvgPool2d(a.out)


def _plain(cls: Callable[[], nn.Module]) -> Factory:
    return lambda node: cls()


FACTORIES: dict[str, Factory] = {
    "conv": _conv,
    "linear": _linear,
    "batchnorm": _batchnorm,
    "relu": _plain(nn.ReLU),
    "relu6": _plain(nn.ReLU6),
    "leaky_relu": _leaky,
    "sigmoid": _plain(nn.Sigmoid),
    "silu": _plain(nn.SiLU),
    "hardswish": _plain(nn.Hardswish),
    "hardsigmoid": _plain(nn.Hardsigmoid),
    "gelu": _plain(nn.GELU),
    "tanh": _plain(nn.Tanh),
    "dropout": lambda node: nn.Dropout(node.args.p),
    "identity": _plain(nn.Identity),
    "flatten": _plain(nn.Flatten),
    "maxpool": _maxpool,
    "avgpool": _avgpool,
    "adaptive_avgpool": _adaptive,
    "global_avgpool": lambda node: nn.AdaptiveAvgPool2d(1),
    "upsample": lambda node: nn.Upsample(scale_factor=node.args.scale, mode=node.args.mode),
    "chunk": lambda node: Chunk(node.args.parts, node.args.index),
    "concat": _plain(Concat),
    "add": _plain(Add),
    "multiply": _plain(Multiply),
}


def build_module(node: Node) -> nn.Module:
    """The torch module for one node (CPU, float32, random weights)."""
    return op_entry(FACTORIES, node.op, "torch_build.FACTORIES")(node)


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
