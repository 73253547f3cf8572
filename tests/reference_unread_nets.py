"""torch models with a part convcost's importer cannot read (a torch.roll inside a module), for
tests/test_reference_unread.py: `verify --reference` compares such a module whole, by its counts, with the spec
layers it stands for. Each is a plain function returning an nn.Module (`--reference tests/reference_unread_nets.py:name`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Rolled(nn.Module):
    """A conv (``norm``: then a BatchNorm) whose output is rolled by one column: torch.roll moves values and computes
    nothing, and is no convcost op, so the module is one part convcost cannot read."""

    def __init__(self, cin: int, cout: int, kernel: int, norm: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2)
        self.bn = nn.BatchNorm2d(cout) if norm else None

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x)
        if self.bn is not None:
            y = self.bn(y)
        return torch.roll(y, 1, -1)


class Net(nn.Module):
    """stem conv 3→8 (3×3), the unread blocks, a 1×1 conv 8→4: on 3×8×8."""

    def __init__(self, *blocks: nn.Module) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.blocks = nn.ModuleList(blocks)
        self.out = nn.Conv2d(8, 4, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        for b in self.blocks:
            x = b(x)
        return self.out(x)


def conv_bn_rolled() -> nn.Module:
    """One unread module holding a 3×3 conv and a BatchNorm."""
    return Net(Rolled(8, 8, 3, norm=True))


def conv_rolled() -> nn.Module:
    """One unread module holding a 3×3 conv."""
    return Net(Rolled(8, 8, 3, norm=False))


def two_rolled() -> nn.Module:
    """Two unread modules one after the other (a 3×3 conv, then a 1×1 conv, each rolled): one part of two."""
    return Net(Rolled(8, 8, 3, norm=False), Rolled(8, 8, 1, norm=False))


def small() -> nn.Module:
    """conv 3→8 (3×3, padding 1), ReLU, global average pool, flatten, linear 8→10: every part read by convcost."""
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 10))


class OwnTensors(nn.Module):
    """stem conv 3→8, then a scale (a parameter of the model itself, [1, 8, 1, 1]) and a shift (a buffer of its own,
    [1, 8, 1, 1]), then a 1×1 conv 8→4: tensors no submodule holds."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.scale = nn.Parameter(torch.full((1, 8, 1, 1), 2.0))
        self.register_buffer("shift", torch.ones(1, 8, 1, 1))
        self.out = nn.Conv2d(8, 4, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.stem(x) * self.scale + self.shift)


def own_tensors() -> nn.Module:
    return OwnTensors()


class TwoInputs(nn.Module):
    """Two 3×4×4 inputs, a 1×1 conv 3→2 on each, added: convcost's importer reads models of one input only."""

    def __init__(self) -> None:
        super().__init__()
        self.ca = nn.Conv2d(3, 2, 1)
        self.cb = nn.Conv2d(3, 2, 1)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return self.ca(a) + self.cb(b)


def two_inputs() -> nn.Module:
    return TwoInputs()
