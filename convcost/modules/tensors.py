"""Modules of the general tensor ops that hold a learned tensor (convcost/ops/elementwise.py, matmul.py):
``x * gamma``, ``x + pos_embed``, ``x @ w``, written as users write them, so counters see the same aten ops.
Imports torch at the top (see the package's docstring)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


class WithTensor(nn.Module):
    """``fn(x, weight)`` (or ``fn(weight, x)`` when ``reverse``) with a learned ``weight`` of a fixed shape, as
    timm's LayerScale holds its ``gamma`` and a ViT its ``pos_embed``."""

    def __init__(self, shape: tuple[int, ...], fn: Callable[[Tensor, Tensor], Tensor], label: str,
                 reverse: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(shape))
        self.fn, self.label, self.reverse = fn, label, reverse

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(self.weight, x) if self.reverse else self.fn(x, self.weight)

    def extra_repr(self) -> str:
        return f"{self.label}, weight {list(self.weight.shape)}"
