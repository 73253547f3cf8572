"""Issue 20's pools and resampling as users write them (tests/test_pools20.py): each a small torch model that `convcost
import` reads into one op, exactly (params, buffers, MACs and `verify --reference`), module or function alike."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class Pooled(nn.Module):
    """A conv (so the model holds weights and MACs), then the pool or resampling ``how`` names, then a 1×1 conv reading
    what it makes (its shape must be right for the conv's MACs to be)."""

    def __init__(self, how: str, rank: int = 2) -> None:
        super().__init__()
        self.how = how
        conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[rank - 1]
        self.conv = conv(3, 4, 3, padding=1)
        self.pool: nn.Module | None = {
            "adaptive_max": nn.AdaptiveMaxPool2d((3, 2)),
            "adaptive_max_1d": nn.AdaptiveMaxPool1d(4),
            "global_max": nn.AdaptiveMaxPool2d(1),
            "divisor": nn.AvgPool2d(3, stride=2, padding=1, divisor_override=4),
            "divisor_3d": nn.AvgPool3d(2, divisor_override=3),
            "lp": nn.LPPool2d(2, 3, stride=2),
            "lp_1d": nn.LPPool1d(1.5, 3),
            "lp_3d": nn.LPPool3d(2, 2),
            "lp_ceil": nn.LPPool2d(3, (3, 2), stride=2, ceil_mode=True),
            "nearest_exact_module": nn.Upsample(size=(5, 9), mode="nearest-exact"),
            "fractional": nn.FractionalMaxPool2d(3, output_size=(4, 5)),
            "fractional_ratio": nn.FractionalMaxPool2d(2, output_ratio=0.5),
            "fractional_3d": nn.FractionalMaxPool3d(2, output_ratio=(0.5, 0.5, 0.5)),
        }.get(how)
        self.head = conv(4, 2, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        if self.pool is not None:
            x = self.pool(x)
        elif self.how == "adaptive_max_fn":
            x = F.adaptive_max_pool2d(x, (3, 2))
        elif self.how == "adaptive_max_3d_fn":
            x = F.adaptive_max_pool3d(x, 2)
        elif self.how == "divisor_fn":
            x = F.avg_pool2d(x, 2, divisor_override=3)
        elif self.how == "lp_fn":
            x = F.lp_pool2d(x, 3.0, (2, 3))
        elif self.how == "nearest_exact":
            x = F.interpolate(x, scale_factor=2, mode="nearest-exact")
        elif self.how == "aa_bilinear":
            x = F.interpolate(x, size=(5, 3), mode="bilinear", antialias=True)
        elif self.how == "aa_square":  # a size written as a list: the spec keeps the list (calflops counts its product)
            x = F.interpolate(x, size=(5, 5), mode="bilinear", antialias=True)
        elif self.how == "aa_bicubic":
            x = F.interpolate(x, scale_factor=0.3, mode="bicubic", antialias=True)
        elif self.how == "aa_up":
            x = F.interpolate(x, scale_factor=1.5, mode="bilinear", antialias=True, align_corners=True)
        elif self.how == "max_1d_fn":
            x = F.max_pool1d(x, 2)
        elif self.how == "max_1d_indices_unused":
            x = F.max_pool1d(x, 3, stride=2, return_indices=True)[0]
        elif self.how == "avg_1d_fn":
            x = F.avg_pool1d(x, 3, stride=2, padding=1)
        elif self.how == "adaptive_avg_1d_fn":
            x = F.adaptive_avg_pool1d(x, 3)
        elif self.how == "fractional_fn":
            x = F.fractional_max_pool2d(x, 2, output_size=3)
        elif self.how == "max_indices_unused":
            x, _ = F.max_pool2d(x, 2, return_indices=True)
        elif self.how == "unpool":
            y, i = F.max_pool2d(x, 2, return_indices=True)
            x = F.max_unpool2d(y, i, 2)
        else:  # pragma: no cover - a test names a case that is not here
            raise ValueError(self.how)
        return self.head(x)


def pooled(how: str = "adaptive_max", rank: int = 2) -> nn.Module:
    return Pooled(how, rank)
