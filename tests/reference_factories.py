"""Factories for `verify --reference` and `import` tests: the hand-written torch nets of tests/reference_nets.py,
reference_tokens.py and a few more (a torchvision-named ResNet-50, a squeeze-excite CNN, a U-Net), each a plain
function returning an nn.Module. Written from the torchvision sources / papers, never from convcost's graph."""

from __future__ import annotations

import reference_nets as r
import torch
from reference_tokens import ViT
from torch import Tensor, nn


def resnet50() -> nn.Module:
    """ResNet-50 as one nn.Sequential: module paths '0', '4.conv1'... (matched with a spec by order)."""
    return r.resnet(r.Bottleneck, [3, 4, 6, 3])


class ResNet(nn.Module):
    """torchvision's ResNet layout and names: conv1, bn1, relu, maxpool, layer1..4 (downsample), avgpool, fc."""

    def __init__(self, layers: tuple[int, ...] = (3, 4, 6, 3), num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inp = 64
        for stage, (planes, n) in enumerate(zip((64, 128, 256, 512), layers)):
            blocks = []
            for j in range(n):
                blocks.append(r.Bottleneck(inp, planes, 2 if j == 0 and stage > 0 else 1))
                inp = planes * 4
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inp, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def mobilenet_v2(width: float = 1.0) -> nn.Module:
    return r.mobilenet_v2(width)


def googlenet() -> nn.Module:
    return r.googlenet(bn=True, k5=3)


def vit(image: int = 224, layers: int = 12, heads: int = 12, dim: int = 768, mlp: int = 3072) -> nn.Module:
    return ViT(image=image, layers=layers, heads=heads, dim=dim, mlp=mlp)


class SqueezeExcite(nn.Module):
    """x * sigmoid(fc2(relu(fc1(avgpool(x))))) (Hu et al. 2018, as 1×1 convs like torchvision's)."""

    def __init__(self, c: int, squeeze: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, squeeze, 1)
        self.relu = nn.ReLU()
        self.fc2 = nn.Conv2d(squeeze, c, 1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        return x * self.sigmoid(self.fc2(self.relu(self.fc1(self.avgpool(x)))))


def se_net() -> nn.Module:
    """conv-bn-relu, a squeeze-excite gate, conv-bn-relu, global pool, linear: on 3×32×32."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), SqueezeExcite(32, 8),
        nn.Conv2d(32, 64, 3, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
    )


def broken() -> nn.Module:
    """A factory whose model fails in its forward: a Linear on a 4-D map it cannot take."""
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.Linear(5, 5))


def not_a_module() -> int:
    return 3


def noisy() -> nn.Module:
    """MobileNetV2 from a factory that prints, as research code does."""
    print("building mobilenet_v2 ...")
    return r.mobilenet_v2(1.0)
