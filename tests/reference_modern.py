"""Hand-written torch equivalents of today's nets, an independent reference for the configs/ that
use the modern ops (LayerNorm, channel split/shuffle, transposed conv, 1-D/3-D convs).

Written from torchvision's source (convnext.py, shufflenetv2.py, video/resnet.py), the widely used
PyTorch U-Net (milesial/Pytorch-UNet: unet_parts.py) and fairseq/torchaudio's wav2vec2 feature
extractor, with plain torch.nn modules, never from convcost's graph. Imported only by tests that
need torch.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


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
