"""The torch module the `unused` op builds (ops/imported.py). Imports torch at the top (see the package's docstring)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Held(nn.Module):
    """Holds ``params`` parameter values and ``buffers`` buffer values that no forward reads; passes its input through."""

    def __init__(self, params: int, buffers: int) -> None:
        super().__init__()
        self.held = nn.Parameter(torch.zeros(params))
        self.register_buffer("held_buffer", torch.zeros(buffers))

    def forward(self, x: Tensor) -> Tensor:
        return x
