"""Hand-written torch equivalents of the configs/ nets, an independent reference for tests/test_nets.py.

Each is written from the torchvision source (resnet.py, mobilenetv2.py, googlenet.py) or the
paper, with plain torch.nn modules, never from convcost's graph. Imported only by tests that
need torch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


def make_divisible(v: float, divisor: int = 8) -> int:  # torchvision _make_divisible
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inp: int, planes: int, stride: int, groups: int = 1, base_width: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or inp != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inp, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: Tensor) -> Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + self.downsample(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inp: int, planes: int, stride: int, groups: int = 1, base_width: int = 64) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        out = planes * 4
        self.conv1 = nn.Conv2d(inp, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)  # v1.5: stride here
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU()
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or inp != out:
            self.downsample = nn.Sequential(nn.Conv2d(inp, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: Tensor) -> Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + self.downsample(x))


def resnet(block: type[BasicBlock] | type[Bottleneck], layers: list[int], groups: int = 1, base_width: int = 64) -> nn.Module:
    mods: list[nn.Module] = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    inp = 64
    for stage, (planes, n) in enumerate(zip((64, 128, 256, 512), layers)):
        for j in range(n):
            stride = 2 if j == 0 and stage > 0 else 1
            mods.append(block(inp, planes, stride, groups, base_width))
            inp = planes * block.expansion
    mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(inp, 1000)]
    return nn.Sequential(*mods)


def conv_bn(i: int, o: int, k: int = 3, s: int = 1, g: int = 1, act: Callable[[], nn.Module] | None = nn.ReLU6) -> nn.Sequential:
    mods: list[nn.Module] = [nn.Conv2d(i, o, k, s, (k - 1) // 2, groups=g, bias=False), nn.BatchNorm2d(o)]
    if act is not None:
        mods.append(act())
    return nn.Sequential(*mods)


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, out: int, stride: int, t: float) -> None:
        super().__init__()
        hidden = round(inp * t)  # torchvision: int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == out
        mods: list[nn.Module] = [conv_bn(inp, hidden, 1)] if t != 1 else []
        mods += [conv_bn(hidden, hidden, 3, stride, hidden), conv_bn(hidden, out, 1, act=None)]
        self.conv = nn.Sequential(*mods)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


def mobilenet_v2(width: float = 1.0) -> nn.Module:
    inp, last = make_divisible(32 * width), make_divisible(1280 * max(1.0, width))
    mods: list[nn.Module] = [conv_bn(3, inp, 3, 2)]
    for t, c, n, s in [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]:
        out = make_divisible(c * width)
        for j in range(n):
            mods.append(InvertedResidual(inp, out, s if j == 0 else 1, t))
            inp = out
    mods += [conv_bn(inp, last, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(last, 1000)]
    return nn.Sequential(*mods)


def mobilenet_v1(alpha: float = 1.0) -> nn.Module:
    def c(n: int) -> int:
        return int(n * alpha)

    mods: list[nn.Module] = [conv_bn(3, c(32), 3, 2, act=nn.ReLU)]
    inp = c(32)
    table = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), *[(512, 1)] * 5, (1024, 2), (1024, 1)]
    for out, s in table:
        mods += [conv_bn(inp, inp, 3, s, inp, act=nn.ReLU), conv_bn(inp, c(out), 1, act=nn.ReLU)]
        inp = c(out)
    mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(inp, 1000)]
    return nn.Sequential(*mods)


def basic_conv(i: int, o: int, k: int, s: int = 1, p: int = 0, bn: bool = True) -> nn.Sequential:
    mods: list[nn.Module] = [nn.Conv2d(i, o, k, s, p, bias=not bn)]
    if bn:
        mods.append(nn.BatchNorm2d(o, eps=0.001))
    return nn.Sequential(*mods, nn.ReLU())


class Inception(nn.Module):
    def __init__(self, i: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pp: int, bn: bool, k5: int) -> None:
        super().__init__()
        self.branch1 = basic_conv(i, c1, 1, bn=bn)
        self.branch2 = nn.Sequential(basic_conv(i, c3r, 1, bn=bn), basic_conv(c3r, c3, 3, p=1, bn=bn))
        self.branch3 = nn.Sequential(basic_conv(i, c5r, 1, bn=bn), basic_conv(c5r, c5, k5, p=k5 // 2, bn=bn))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), basic_conv(i, pp, 1, bn=bn))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


INCEPTION = {  # Table 1: in, #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj
    "3a": (192, 64, 96, 128, 16, 32, 32), "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64), "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64), "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128), "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}


def googlenet(bn: bool = True, k5: int = 3) -> nn.Module:
    def inc(key: str) -> Inception:
        return Inception(*INCEPTION[key], bn=bn, k5=k5)

    def pool(k: int) -> nn.Module:
        return nn.MaxPool2d(k, 2, ceil_mode=True)

    return nn.Sequential(
        basic_conv(3, 64, 7, 2, 3, bn), pool(3), basic_conv(64, 64, 1, bn=bn), basic_conv(64, 192, 3, p=1, bn=bn), pool(3),
        inc("3a"), inc("3b"), pool(3), inc("4a"), inc("4b"), inc("4c"), inc("4d"), inc("4e"), pool(2),
        inc("5a"), inc("5b"), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(1024, 1000),
    )


def count(make: Callable[[], nn.Module]) -> tuple[int, int]:
    """(params, conv+linear MACs) at 1×3×224×224; MACs from torch's FlopCounterMode (2 per MAC).

    Built and run on the meta device: shapes and counts only, no weights initialised or computed.
    """
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        model = make().eval()
        x = torch.zeros(1, 3, 224, 224)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2
