"""Hand-written torch equivalents of today's nets, an independent reference for the configs/ that
use the modern ops (LayerNorm, channel split/shuffle, transposed conv, 1-D/3-D convs).

Written from torchvision's source (convnext.py, shufflenetv2.py, video/resnet.py), the widely used
PyTorch U-Net (milesial/Pytorch-UNet: unet_parts.py) and fairseq/torchaudio's wav2vec2 feature
extractor, with plain torch.nn modules, never from convcost's graph. Imported only by tests that
need torch. Each part of issue 11 keeps its modules in its own section below.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def count(make: Callable[[], nn.Module], shape: tuple[int, ...] = (1, 3, 224, 224)) -> tuple[int, int]:
    """(params, conv+linear MACs) of a reference module on an input of ``shape``: MACs from torch's
    FlopCounterMode (2 FLOPs per MAC), built and run on the meta device (no weights computed)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        model = make().eval()
        x = torch.zeros(*shape)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2


# ---- ShuffleNetV2 (torchvision shufflenetv2.py) -------------------------------------------------
def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    n, c, h, w = x.size()
    x = x.view(n, groups, c // groups, h, w).transpose(1, 2).contiguous()
    return x.view(n, -1, h, w)


class ShuffleUnit(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        bf = oup // 2
        if stride > 1:
            self.branch1 = nn.Sequential(
                nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False), nn.BatchNorm2d(inp),
                nn.Conv2d(inp, bf, 1, bias=False), nn.BatchNorm2d(bf), nn.ReLU(),
            )
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride > 1 else bf, bf, 1, bias=False), nn.BatchNorm2d(bf), nn.ReLU(),
            nn.Conv2d(bf, bf, 3, stride, 1, groups=bf, bias=False), nn.BatchNorm2d(bf),
            nn.Conv2d(bf, bf, 1, bias=False), nn.BatchNorm2d(bf), nn.ReLU(),
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    def __init__(self, repeats: tuple[int, ...] = (4, 8, 4), chans: tuple[int, ...] = (24, 116, 232, 464, 1024)) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, chans[0], 3, 2, 1, bias=False), nn.BatchNorm2d(chans[0]), nn.ReLU())
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        stages = []
        cin = chans[0]
        for n, cout in zip(repeats, chans[1:]):
            stages.append(nn.Sequential(ShuffleUnit(cin, cout, 2), *[ShuffleUnit(cout, cout, 1) for _ in range(n - 1)]))
            cin = cout
        self.stage2, self.stage3, self.stage4 = stages
        self.conv5 = nn.Sequential(nn.Conv2d(cin, chans[-1], 1, bias=False), nn.BatchNorm2d(chans[-1]), nn.ReLU())
        self.fc = nn.Linear(chans[-1], 1000)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv5(self.stage4(self.stage3(self.stage2(self.maxpool(self.conv1(x))))))
        return self.fc(x.mean([2, 3]))


# ---- ConvNeXt (torchvision convnext.py) ---------------------------------------------------------
class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over channels of an N×C×H×W map (permute to channels-last and back)."""

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Permute(nn.Module):
    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: Tensor) -> Tensor:
        return x.permute(*self.dims)


class CNBlock(nn.Module):
    def __init__(self, dim: int, layer_scale: float = 1e-6) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim, bias=True),
            Permute([0, 2, 3, 1]),
            nn.LayerNorm(dim, eps=1e-6),
            nn.Linear(dim, 4 * dim),
            nn.GELU(),
            nn.Linear(4 * dim, dim),
            Permute([0, 3, 1, 2]),
        )
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * layer_scale)

    def forward(self, x: Tensor) -> Tensor:
        return self.layer_scale * self.block(x) + x  # stochastic depth is the identity in eval


def convnext(setting: list[tuple[int, int | None, int]] | None = None, num_classes: int = 1000) -> nn.Module:
    """convnext_tiny by default: [(96, 192, 3), (192, 384, 3), (384, 768, 9), (768, None, 3)]."""
    setting = setting or [(96, 192, 3), (192, 384, 3), (384, 768, 9), (768, None, 3)]
    layers: list[nn.Module] = [nn.Sequential(nn.Conv2d(3, setting[0][0], 4, 4), LayerNorm2d(setting[0][0], eps=1e-6))]
    for cin, cout, n in setting:
        layers.append(nn.Sequential(*[CNBlock(cin) for _ in range(n)]))
        if cout is not None:
            layers.append(nn.Sequential(LayerNorm2d(cin, eps=1e-6), nn.Conv2d(cin, cout, 2, 2)))
    last = setting[-1][1] or setting[-1][0]
    return nn.Sequential(
        nn.Sequential(*layers),
        nn.AdaptiveAvgPool2d(1),
        nn.Sequential(LayerNorm2d(last, eps=1e-6), nn.Flatten(1), nn.Linear(last, num_classes)),
    )


# ---- issue 11 part A (ranks): 1-D and 3-D nets ---------------------------------------------------
# 3-D ResNet stage (torchvision video/resnet.py r3d_18: BasicBlock, Conv3DSimple)
class BasicBlock3d(nn.Module):
    def __init__(self, inp: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv3d(inp, planes, 3, stride, 1, bias=False), nn.BatchNorm3d(planes), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv3d(planes, planes, 3, 1, 1, bias=False), nn.BatchNorm3d(planes))
        self.relu = nn.ReLU()
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or inp != planes:
            self.downsample = nn.Sequential(nn.Conv3d(inp, planes, 1, stride, bias=False), nn.BatchNorm3d(planes))

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.conv2(self.conv1(x)) + self.downsample(x))


def r3d_stem_and_layer2() -> nn.Module:
    """r3d_18's stem and its first two stages (input 3×16×112×112)."""
    stem = nn.Sequential(nn.Conv3d(3, 64, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False), nn.BatchNorm3d(64), nn.ReLU())
    layer1 = nn.Sequential(BasicBlock3d(64, 64), BasicBlock3d(64, 64))
    layer2 = nn.Sequential(BasicBlock3d(64, 128, 2), BasicBlock3d(128, 128))
    return nn.Sequential(stem, layer1, layer2)


# ---- U-Net (milesial/Pytorch-UNet, bilinear=False) ----------------------------------------------
def double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
    )


class Up(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cin // 2, kernel_size=2, stride=2)
        self.conv = double_conv(cin, cout)

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return self.conv(torch.cat([x2, self.up(x1)], dim=1))  # sizes match for inputs divisible by 16


class UNet(nn.Module):
    def __init__(self, n_channels: int = 3, n_classes: int = 2, widths: tuple[int, ...] = (64, 128, 256, 512, 1024)) -> None:
        super().__init__()
        self.inc = double_conv(n_channels, widths[0])
        self.downs = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), double_conv(a, b)) for a, b in itertools.pairwise(widths)
        )
        self.ups = nn.ModuleList(Up(b, a) for a, b in reversed(list(itertools.pairwise(widths))))
        self.outc = nn.Conv2d(widths[0], n_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        y = skips.pop()
        for up in self.ups:
            y = up(y, skips.pop())
        return self.outc(y)


# ---- wav2vec2 feature encoder (conv stack on raw audio, group-norm variant) ---------------------
def wav2vec2_feature_encoder() -> nn.Module:
    """Seven 1-D convs, 512 channels, no bias, GELU; GroupNorm(512, 512) after the first (input 1×16000)."""
    spec = [(10, 5)] + [(3, 2)] * 4 + [(2, 2)] * 2
    layers: list[nn.Module] = []
    cin = 1
    for i, (k, s) in enumerate(spec):
        block: list[nn.Module] = [nn.Conv1d(cin, 512, k, s, bias=False)]
        if i == 0:
            block.append(nn.GroupNorm(512, 512))
        block.append(nn.GELU())
        layers.append(nn.Sequential(*block))
        cin = 512
    return nn.Sequential(*layers)
