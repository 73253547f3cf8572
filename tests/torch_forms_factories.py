"""Factories for `convcost import`'s `torch` key (tests/test_import_torch_key.py): layers that meet torch as modules,
as functions (F.relu, F.adaptive_avg_pool2d, F.interpolate, torch.flatten) and as subclasses of torch.nn modules
(torchvision's Conv3DSimple pattern), in the spellings real models use."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Functional(nn.Module):
    """GoogLeNet's, MobileNetV2's and DeepLabV3's calls: F.relu after a conv, F.adaptive_avg_pool2d, F.interpolate,
    torch.flatten; beside them an nn.ReLU module (a module: no key)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.act = nn.ReLU()
        self.fc = nn.Linear(8, 10)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.conv(x))
        y = self.act(self.conv2(x))
        y = F.interpolate(y, size=(8, 8), mode="bilinear", align_corners=False)
        y = F.adaptive_avg_pool2d(y, (1, 1))
        return self.fc(torch.flatten(y, 1))


def functional() -> nn.Module:
    return Functional()


class Conv2DSimple(nn.Conv2d):
    """torchvision's Conv3DSimple in 2-D: a subclass of nn.Conv2d that adds nothing."""


class ReLUSubclass(nn.ReLU):
    """A subclass of nn.ReLU (its forward is nn.ReLU's: F.relu)."""


class Subclassed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)  # a module
        self.conv = Conv2DSimple(8, 8, 3, padding=1, bias=False)  # a subclass
        self.bn = nn.BatchNorm2d(8)
        self.act = ReLUSubclass()  # a subclass
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x: Tensor) -> Tensor:
        x = self.act(self.bn(self.conv(self.stem(x))))
        return self.fc(self.pool(x).flatten(1))


def subclassed() -> nn.Module:
    return Subclassed()


class MethodReLU(nn.Module):
    """x.relu(): a ReLU that is neither nn.ReLU nor F.relu (tools that patch F.relu do not see it)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x).relu()


def method_relu() -> nn.Module:
    return MethodReLU()


class Unit(nn.Module):
    """conv then ReLU, the ReLU an nn.ReLU module named 'relu' or F.relu (which import also names 'relu')."""

    def __init__(self, functional: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.functional = functional
        if not functional:
            self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        return F.relu(x) if self.functional else self.relu(x)


class Mixed(nn.Module):
    """Units alike but for how their ReLU meets torch: folding must keep them apart."""

    def __init__(self, functional: tuple[bool, ...] = (True, False, True, False)) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.units = nn.ModuleList(Unit(f) for f in functional)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        for u in self.units:
            x = u(x)
        return x


def mixed() -> nn.Module:
    return Mixed()


class AllFunctional(nn.Module):
    """Written with F.relu throughout, one nn.ReLU among them, the convs different (nothing folds): most layers that
    can be functions are."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(3 if k == 0 else 4 + k, 5 + k, 3, padding=1) for k in range(6))
        self.last = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        for conv in self.convs[:-1]:
            x = F.relu(conv(x))
        return self.last(self.convs[-1](x))


def all_functional() -> nn.Module:
    return AllFunctional()


class Resized(nn.Module):
    """nn.Upsample to a size held as a tuple and as one number (calflops counts a tuple's product, a number as it is),
    then F.interpolate likewise."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.up_tuple = nn.Upsample(size=(24, 24), mode="nearest")
        self.up_int = nn.Upsample(size=32, mode="bilinear")

    def forward(self, x: Tensor) -> Tensor:
        x = self.up_int(self.up_tuple(self.conv(x)))
        x = F.interpolate(x, size=(20, 20), mode="nearest")
        return F.interpolate(x, size=16, mode="nearest")


def resized() -> nn.Module:
    return Resized()
