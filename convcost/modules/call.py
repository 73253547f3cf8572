"""A module that calls a function of its inputs: the joins (torch.cat, +, *) and the functional ops, which
torch has no module for. Imports torch at the top (see the package's docstring)."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn


class Call(nn.Module):
    """A module that calls a function of its inputs: the joins (torch.cat, +, *), which torch has no module for."""

    def __init__(self, fn: Callable[..., Tensor], label: str) -> None:
        super().__init__()
        self.fn = fn
        self.label = label

    def forward(self, *xs: Tensor) -> Tensor:
        return self.fn(*xs)

    def extra_repr(self) -> str:
        return self.label


class Functional(nn.Module):
    """A layer written as a call of a torch function, as torchvision writes `F.relu(x)`, `torch.sigmoid(x)` or
    `F.adaptive_avg_pool2d(x, 1)` ('F.relu', 'torch.sigmoid': torch.nn.functional or torch). The function is looked
    up at every call, as model code does, so tools that patch it (ptflops, calflops) see the call."""

    def __init__(self, name: str, *args: object, **kwargs: object) -> None:
        super().__init__()
        self.name, self.args, self.kwargs = name, args, kwargs
        where, _, self.attr = name.partition(".")
        if where not in ("F", "torch"):
            raise ValueError(f"internal error: '{name}' is not F.<name> or torch.<name>")
        self.functional = where == "F"

    def forward(self, x: Tensor) -> Tensor:
        import torch
        from torch.nn import functional

        return getattr(functional if self.functional else torch, self.attr)(x, *self.args, **self.kwargs)

    def extra_repr(self) -> str:
        shown = [*map(repr, self.args), *(f"{k}={v!r}" for k, v in self.kwargs.items())]
        return f"{self.name}({', '.join(['x', *shown])})"
