"""Torch models for testing how `convcost import` folds repeated modules into blocks.

`net(stages=...)` builds a ResNet/MobileNet-like net from a list of stages, each an nn.Sequential of `Unit`s
(named 0, 1, ...) whose first unit may differ (stride, a projection shortcut); a unit optionally has a
squeeze-excite gate and adds its input back only where the shapes allow (MobileNetV2's use_res_connect).
A dense `Grow` module concatenates its input with a branch (DenseNet). The test draws stage lists at random.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SqueezeExcite(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(c, max(c // 4, 1), 1)
        self.relu = nn.ReLU()
        self.fc2 = nn.Conv2d(max(c // 4, 1), c, 1)

    def forward(self, x: Tensor) -> Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(self.relu(self.fc1(s))))


class Unit(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int, se: bool, project: bool) -> None:
        super().__init__()
        mid = cin * expand
        self.conv1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.act = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.se = SqueezeExcite(mid) if se else None
        self.conv3 = nn.Conv2d(mid, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)) \
            if project and (stride != 1 or cin != cout) else None
        self.use_res = self.shortcut is not None or (stride == 1 and cin == cout)

    def forward(self, x: Tensor) -> Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.act(self.bn2(self.conv2(out)))
        if self.se is not None:
            out = self.se(out)
        out = self.bn3(self.conv3(out))
        if self.use_res:
            out = out + (self.shortcut(x) if self.shortcut is not None else x)
        return self.act(out)


class Grow(nn.Module):
    """DenseNet's layer: cat([x, conv(relu(bn(x)))], 1)."""

    def __init__(self, cin: int, growth: int) -> None:
        super().__init__()
        self.branch = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, growth, 3, padding=1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([x, self.branch(x)], 1)


Stage = tuple[int, int, int, int, bool, bool]  # units, cout, first stride, expand, se, projection shortcut


class Net(nn.Module):
    def __init__(self, stages: list[Stage], grow: int = 0, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        c = 8
        layers = []
        for n, cout, stride, expand, se, project in stages:
            units = []
            for k in range(n):
                units.append(Unit(c, cout, stride if k == 0 else 1, expand, se, project))
                c = cout
            layers.append(nn.Sequential(*units))
        self.stages = nn.Sequential(*layers)
        self.dense = nn.Sequential(*(Grow(c + k * grow, grow) for k in range(2))) if grow else nn.Identity()
        c += 2 * grow
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.dense(self.stages(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def net(stages: list[list[int]] | None = None, grow: int = 0) -> nn.Module:
    """``stages``: [units, cout, stride, expand, se (0/1), project (0/1)] per stage (a default mixes them all)."""
    rows = stages if stages is not None else [[3, 16, 1, 1, 0, 1], [4, 24, 2, 2, 1, 1], [3, 24, 2, 2, 0, 0]]
    return Net([(a, b, c, d, bool(e), bool(f)) for a, b, c, d, e, f in rows], grow)
