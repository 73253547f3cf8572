"""Models whose weights are used otherwise than as plain parameters, for `convcost import` and `verify --reference`:
convolutions that standardise their weight in the forward (timm's own StdConv2d and ScaledStdConv2d, and the
spellings convcost refuses) or convolve with a fixed buffer (timm's BlurPool2d), in tests/test_conv_weights.py; layer
norms with a weight and no bias (timm's MetaFormer norms), in tests/test_norms.py."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def timm_std_convs() -> nn.Module:
    """timm's StdConv2d (BiT) and ScaledStdConv2d (NFNets: gamma and eps as nfnet_l0 passes them) in a row."""
    from timm.layers.std_conv import ScaledStdConv2d, StdConv2d

    return nn.Sequential(
        StdConv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        ScaledStdConv2d(8, 8, 3, stride=2, groups=2, gamma=1.7881293296813965, eps=1e-5),
        nn.SiLU(),
        ScaledStdConv2d(8, 4, 1, bias=False),
    )


class _WeightNormed(nn.Conv2d):
    """A conv whose forward normalises its weight otherwise than timm's StdConv: ``how`` says how."""

    def __init__(self, how: str) -> None:
        super().__init__(4, 6, 3, padding=1)
        self.how = how
        self.register_buffer("mean", torch.zeros(6))
        self.register_buffer("var", torch.ones(6))
        self.register_buffer("factor", torch.ones(6))
        self.gain = nn.Parameter(torch.ones(6, 1, 1, 1))
        self.shift = nn.Parameter(torch.zeros(6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.reshape(1, 6, -1)
        if self.how == "running":  # the weight normalised with running statistics
            w = F.batch_norm(w, self.mean, self.var, training=False)
        elif self.how == "gain_buffer":  # the gain times a buffer, not a number
            w = F.batch_norm(w, None, None, weight=(self.gain.view(-1) * self.factor), training=True)
        elif self.how == "shift":  # a shift besides the gain
            w = F.batch_norm(w, None, None, weight=self.gain.view(-1), bias=self.shift, training=True)
        elif self.how == "halves":  # statistics over half the output channels' values each
            w = F.batch_norm(self.weight.reshape(1, 2, -1), None, None, training=True)
        return F.conv2d(x, w.reshape_as(self.weight), self.bias, padding=1)


def weight_normed(how: str) -> nn.Module:
    return _WeightNormed(how)


class _StdTransposed(nn.ConvTranspose2d):
    """A transposed conv with timm's standardisation of its weight (convcost's conv_transpose has none)."""

    def __init__(self) -> None:
        super().__init__(4, 6, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = F.batch_norm(self.weight.reshape(1, 4, -1), None, None, training=True, momentum=0.0, eps=1e-6)
        return F.conv_transpose2d(x, w.reshape_as(self.weight), self.bias, stride=2)


def std_transposed() -> nn.Module:
    return _StdTransposed()


class _Blurred(nn.Module):
    """A 1×1 conv, then timm's BlurPool2d (a 3×3 binomial filter, a buffer, stride 2, reflect padding) as tresnet's
    ConvNormAct holds it."""

    def __init__(self, pad_mode: str) -> None:
        super().__init__()
        from timm.layers.blur_pool import BlurPool2d

        self.conv = nn.Conv2d(3, 8, 1)
        self.aa = BlurPool2d(8, 3, 2, pad_mode=pad_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.aa(self.conv(x))


def timm_blur_pool(pad_mode: str = "reflect") -> nn.Module:
    return _Blurred(pad_mode)


class _ScaleOnlyNorms(nn.Module):
    """timm's LayerNorm2dNoBias on a map (CAFormer's stem and downsampling norms: permute, F.layer_norm(x, (C,), w,
    None), permute back), then torch's nn.LayerNorm(bias=False) over tokens (its attention blocks' norms)."""

    def __init__(self) -> None:
        super().__init__()
        from timm.models.metaformer import LayerNorm2dNoBias

        self.conv = nn.Conv2d(3, 8, 2, stride=2)
        self.norm = LayerNorm2dNoBias(8)
        self.token_norm = nn.LayerNorm(8, bias=False)
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.conv(x))
        return self.head(self.token_norm(x.flatten(2).transpose(1, 2)))


def scale_only_norms() -> nn.Module:
    return _ScaleOnlyNorms()
