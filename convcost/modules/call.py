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
