"""The spec as a trainable PyTorch model: one source of truth for the network CI budgets and the
network a project trains (docs/api.md).

    import convcost.torch

    net = convcost.torch.build("configs/resnet18.yaml")       # an nn.Module, in training mode
    net.layer1[0].conv1                                         # named as the spec names it (layer1.0.conv1)
    net.state_dict().keys()                                     # 'conv1.weight', 'layer1.0.conv1.weight', ...

The modules are the ones `convcost verify` checks against fvcore and torch's own counters, built by
each op's definition (convcost/ops/); ``forward`` takes the spec's inputs in order (a batch of any size)
and returns its output (a tuple when the spec names several). Needs torch (the `torch` extra).

This module is ``convcost.torch``; inside convcost, ``import torch`` is the real torch (absolute imports).
"""

from __future__ import annotations

if __name__ == "torch":  # pragma: no cover - the convcost/ folder itself on sys.path
    raise ImportError(
        "convcost/torch.py was imported as 'torch': the convcost/ folder is on sys.path (a script run from inside "
        "it?); run from the repository root or install convcost, so that 'import torch' finds PyTorch"
    )

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .api import Spec, graph

if TYPE_CHECKING:
    import torch as _torch

    from .crosscheck.torch_build import GraphModule

__all__ = ["GraphModule", "build", "example_input"]


def _require() -> None:
    from .crosscheck.torch_deps import require

    require("convcost.torch.build")


def build(
    spec: Spec | str | Path | Mapping[str, Any],
    model: str | None = None,
    *,
    batch: int | None = None,
    device: str | _torch.device = "cpu",
) -> GraphModule:
    """The model ``model`` of ``spec`` (a Spec from convcost.api, a path or a dict; the only model unless
    named) as a trainable ``nn.Module`` (a GraphModule) in training mode on ``device``, float32, with
    torch's default initialisation of each layer. Its submodules are nested and named as the spec names
    them (``layer1.0.conv1`` is ``net.layer1[0].conv1``; ``net.module_for("layer1.0.conv1")`` finds it
    too), so its state_dict keys are the spec's layer names. ``net.graph`` is the analysed graph (batch
    ``batch``, else the spec's: what example_input makes; forward takes any batch).

    Raises convcost.api.SpecError for a spec convcost rejects, UsageError without torch."""
    _require()
    from .crosscheck.torch_build import GraphModule as _GraphModule

    g = graph(spec, model, batch)
    import torch

    dev = torch.device(device)
    if dev.type == "meta":
        with torch.device("meta"):
            net = _GraphModule(g)
    else:
        net = _GraphModule(g).to(dev)
    return net.train()


def example_input(net: GraphModule, batch: int | None = None) -> _torch.Tensor | tuple[_torch.Tensor, ...]:
    """A random input for ``net`` (its spec's shape; ``batch`` rows, else the spec's batch), on its device:
    a tensor, or a tuple of tensors for a spec with several inputs (``net(*xs)``)."""
    import torch

    g = net.graph
    device = next((p.device for p in net.parameters()), torch.device("cpu"))
    xs = tuple(torch.randn(batch or g.batch, *i.shape, device=device) for i in g.inputs)
    return xs[0] if len(xs) == 1 else xs


def __getattr__(name: str) -> Any:
    if name == "GraphModule":  # the class, for isinstance and annotations (imports torch)
        from .crosscheck.torch_build import GraphModule as cls

        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
