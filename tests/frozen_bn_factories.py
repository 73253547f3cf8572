"""Factories for tests/test_import_frozen_bn.py: torchvision's FrozenBatchNorm2d (buffers, run as x * scale + bias) in a
small CNN and in ResNet-18, a user's copy of it that reshapes after computing, and near-misses that are not a batch
norm (their scale and shift do not come from one module's four buffers as FrozenBatchNorm2d computes them)."""

from __future__ import annotations

import sys
import types

# as tests/conftest.py: torchvision's wheel is built for the CUDA torch (the file is also a target in a shell)
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))

import torch  # noqa: E402
from torch import Tensor, nn  # noqa: E402
from torchvision.ops.misc import FrozenBatchNorm2d  # noqa: E402


def small(eps: float = 1e-5) -> nn.Module:
    """conv 3→8 (3×3), FrozenBatchNorm2d(8), relu, conv 8→4 (1×1, no bias), FrozenBatchNorm2d(4)."""
    return nn.Sequential(nn.Conv2d(3, 8, 3), FrozenBatchNorm2d(8, eps=eps), nn.ReLU(), nn.Conv2d(8, 4, 1, bias=False),
                         FrozenBatchNorm2d(4, eps=eps))


def resnet18() -> nn.Module:
    """torchvision's ResNet-18 with its batch norms frozen, as its detection backbones and fine-tuning scripts build it."""
    from torchvision.models import resnet18 as tv_resnet18

    return tv_resnet18(norm_layer=FrozenBatchNorm2d)


class ReshapedLater(nn.Module):
    """detectron2's spelling: scale and bias computed on the [C] buffers, reshaped at the end; the product written
    scale-first, the sum bias-first."""

    def __init__(self, c: int) -> None:
        super().__init__()
        for name, init in (("weight", torch.rand), ("bias", torch.rand), ("running_mean", torch.rand),
                           ("running_var", torch.rand)):
            self.register_buffer(name, init(c))
        self.eps = 1e-3

    def forward(self, x: Tensor) -> Tensor:
        scale = (self.running_var + self.eps).rsqrt() * self.weight
        bias = self.bias - self.running_mean * scale
        return bias.reshape(1, -1, 1, 1) + scale.reshape(1, -1, 1, 1) * x


class NotFrozenBN(nn.Module):
    """Near-misses: ``how`` 'param': the shift is a parameter; 'other_scale': the shift's mean is scaled by another
    tensor than x's; 'two_modules': the statistics belong to another module."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = FrozenBatchNorm2d(8)
        self.other = FrozenBatchNorm2d(8)
        self.shift = nn.Parameter(torch.zeros(8))

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        bn = self.bn
        stats = self.other if self.how == "two_modules" else bn
        scale = bn.weight * (stats.running_var + bn.eps).rsqrt()
        wrong = bn.weight * 2 if self.how == "other_scale" else scale
        shift = self.shift if self.how == "param" else bn.bias - stats.running_mean * wrong
        return x * scale.reshape(1, -1, 1, 1) + shift.reshape(1, -1, 1, 1)


def reshaped_later() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 6, 3), ReshapedLater(6))


def not_frozen_bn(how: str = "param") -> nn.Module:
    return NotFrozenBN(how)
