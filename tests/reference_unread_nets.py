"""Small torch models for tests/test_reference_unread.py (`verify --reference`'s report, every field). Each is a plain
function returning an nn.Module (`--reference tests/reference_unread_nets.py:name`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def small() -> nn.Module:
    """conv 3→8 (3×3, padding 1), ReLU, global average pool, flatten, linear 8→10: every part read by convcost."""
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 10))


class OwnTensors(nn.Module):
    """stem conv 3→8, then a scale (a parameter of the model itself, [1, 8, 1, 1]), then a 1×1 conv 8→4."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.scale = nn.Parameter(torch.full((1, 8, 1, 1), 2.0))
        self.out = nn.Conv2d(8, 4, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.stem(x) * self.scale)


def own_tensors() -> nn.Module:
    return OwnTensors()


class TwoInputs(nn.Module):
    """Two 3×4×4 inputs, a 1×1 conv 3→2 on each, added."""

    def __init__(self) -> None:
        super().__init__()
        self.ca = nn.Conv2d(3, 2, 1)
        self.cb = nn.Conv2d(3, 2, 1)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return self.ca(a) + self.cb(b)


def two_inputs() -> nn.Module:
    return TwoInputs()
