"""Factories for tests/test_import_inputs.py: forwards of several inputs (`convcost import --input ... --input ...`)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Two(nn.Module):
    """forward(x, y): a 3×3 conv 3→8 on each, added."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3)
        self.b = nn.Conv2d(3, 8, 3)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return self.a(x) + self.b(y)


class Mixed(nn.Module):
    """forward(image, meta, scale=None): an image [3, H, W] and a vector [5] (a linear 5→8 broadcast over the conv's
    map); returns the sum and the image itself; ``scale`` is optional (not an input)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(5, 8)

    def forward(self, image: Tensor, meta: Tensor, scale: float | None = None) -> tuple[Tensor, Tensor]:
        return self.conv(image) + self.fc(meta)[:, :, None, None], image


class Siamese(nn.Module):
    """One backbone (conv 3→8, relu) on two images of different sizes, pooled, concatenated, a linear 16→4."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
        self.head = nn.Linear(16, 4)

    def forward(self, left: Tensor, right: Tensor) -> Tensor:
        return self.head(torch.cat([self.backbone(left).mean([2, 3]), self.backbone(right).mean([2, 3])], 1))


class NamedLikeALayer(nn.Module):
    """forward(a, b) where `a` is also a module: the input cannot take its name."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 1)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return self.a(a) * b


def two() -> nn.Module:
    return Two()


def mixed() -> nn.Module:
    return Mixed()


def siamese() -> nn.Module:
    return Siamese()


def named_like_a_layer() -> nn.Module:
    return NamedLikeALayer()
