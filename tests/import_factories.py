"""Factories for `convcost import` tests besides reference_factories.py: a small CNN written with functional ops,
the U-Net of reference_modern.py, models with parts convcost cannot express, ones fx cannot trace."""

from __future__ import annotations

import reference_modern
import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SmallCNN(nn.Module):
    """Functional ops between modules: F.relu, torch.cat, a squeeze-excite product, x.mean([2, 3]), view to flat."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, 2, 1)
        self.a = nn.Conv2d(16, 8, 1)
        self.b = nn.Conv2d(16, 8, 3, padding=1, bias=False)
        self.gn = nn.GroupNorm(4, 16)
        self.gate = nn.Conv2d(16, 16, 1)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.fc = nn.Linear(16, 10)
        self.head = nn.Linear(16, 10)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.stem(x))
        y = torch.cat([self.a(x), self.b(x)], 1)
        y = self.gn(y) + x
        y = y * torch.sigmoid(self.gate(y.mean([2, 3], keepdim=True)))
        y = self.up(y)
        flat = y.mean([2, 3])
        return self.fc(flat) + self.head(flat.view(flat.size(0), -1))


def small_cnn() -> nn.Module:
    return SmallCNN()


def unet() -> nn.Module:
    return reference_modern.UNet(widths=(16, 32, 64))


class WithLSTM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 8, 3, padding=1)
        self.rnn = nn.LSTM(8, 8, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        y, _ = self.rnn(self.conv(x).transpose(1, 2))
        return y


def with_lstm() -> nn.Module:
    return WithLSTM()


class Sine(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return torch.sin(x)


def with_custom_op() -> nn.Module:
    """conv, a sine (torch.sin, shape-preserving: no convcost op), conv."""
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), Sine(), nn.Conv2d(8, 4, 1))


class Untraceable(nn.Module):
    """A forward with Python control flow on a tensor's value: fx cannot trace it; forward hooks can."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x: Tensor) -> Tensor:
        y = self.body(x)
        if y.sum() > -1e30:  # always true, but on a value
            y = self.pool(y)
        return self.fc(y.flatten(1))


def untraceable() -> nn.Module:
    return Untraceable()


class ShapeBranch(nn.Module):
    """Python control flow on a shape: fx cannot trace it (forward hooks), the meta device can run it. ``scaled``:
    the flat vector the fc reads is computed (``* 2``), not a view of the pool's output."""

    def __init__(self, scaled: bool = False) -> None:
        super().__init__()
        self.scaled = scaled
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(8 * 4 * 4, 5)

    def forward(self, x: Tensor) -> Tensor:
        y = self.body(x)
        if y.shape[-1] > 4:
            y = self.pool(y)
        flat = y.flatten(1)
        return self.fc(flat * 2 if self.scaled else flat)


def shape_branch(scaled: bool = False) -> nn.Module:
    return ShapeBranch(scaled)
