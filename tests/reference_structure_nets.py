"""torch models for `verify --reference`'s structural comparison (tests/test_reference_structure.py).

Written from their real sources, never from convcost's graph: torchvision 0.28's models/maxvit.py (MBConv,
RelativePositionalMultiHeadAttention, WindowPartition / WindowDepartition of PartitionAttentionLayer),
models/segmentation/lraspp.py (LRASPPHead), ops/misc.py (SqueezeExcitation, Conv2dNormActivation),
models/resnet.py (BasicBlock), and ConvMixer's listing (Trockman & Kolter, "Patches Are All You Need?", 2022).
Each is a plain function returning an nn.Module (`--reference tests/reference_structure_nets.py:name`).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn


# ---- small nets whose ops without weights differ from a spec's ---------------------------------------------------
class ConvNormAct(nn.Sequential):
    """torchvision's Conv2dNormActivation: conv (no bias before a norm), norm, activation (conv, bn, act)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1,
                 act: type[nn.Module] = nn.ReLU, norm: type[nn.Module] | partial[nn.Module] = nn.BatchNorm2d) -> None:
        super().__init__(OrderedDict(conv=nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                                     bn=norm(cout), act=act()))


class Classifier(nn.Module):
    """features (a stem conv-bn-relu, then ``block``), global average pool, flatten, fc: on 3×32×32."""

    def __init__(self, block: nn.Module, width: int) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), block)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, 10)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def gelu_net() -> nn.Module:
    """The block at features.3 is conv-bn-GELU: a spec with relu there has every weight right."""
    return Classifier(ConvNormAct(16, 32, 3, act=nn.GELU), 32)


def avgpool_net() -> nn.Module:
    """features.3 is nn.AvgPool2d(3, 2, 1): a spec's maxpool there has the same (no) weights and window."""
    return Classifier(nn.AvgPool2d(3, 2, 1), 16)


class BasicBlock(nn.Module):
    """torchvision's BasicBlock without downsample: relu(bn2(conv2(relu(bn1(conv1(x))))) + x)."""

    def __init__(self, planes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)

    def forward(self, x: Tensor) -> Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


def basic_block_net() -> nn.Module:
    return Classifier(BasicBlock(16), 16)


class SelfAttention(nn.Module):
    """nn.MultiheadAttention on tokens [B, N, D], as torchvision's ViT calls it (x, x, x, need_weights=False)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.attn(x, x, x, need_weights=False)[0]


def self_attention(dim: int = 8, heads: int = 2) -> nn.Module:
    return SelfAttention(dim, heads)


# ---- MaxViT's MBConv: its shortcut runs before its body ---------------------------------------------------------
class SqueezeExcitation(nn.Module):
    """torchvision.ops.misc.SqueezeExcitation: input * sigmoid(fc2(act(fc1(avgpool(input)))))."""

    def __init__(self, channels: int, squeeze: int, activation: type[nn.Module] = nn.ReLU) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = activation()
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return scale * x


class MBConv(nn.Module):
    """maxvit.py's MBConv (no stochastic depth): ``res = self.proj(x)`` runs first, then the body ``layers``
    (pre_norm, conv_a 1×1, conv_b 3×3 depthwise with the stride, squeeze_excitation, conv_c 1×1), ``res + x``."""

    def __init__(self, cin: int, cout: int, expansion: float, squeeze_ratio: float, stride: int) -> None:
        super().__init__()
        norm = partial(nn.BatchNorm2d, eps=1e-3, momentum=0.99)  # maxvit.py's norm_layer
        if stride != 1 or cin != cout:
            proj: list[nn.Module] = [nn.Conv2d(cin, cout, 1, 1, bias=True)]
            if stride == 2:
                proj = [nn.AvgPool2d(kernel_size=3, stride=stride, padding=1), *proj]
            self.proj: nn.Module = nn.Sequential(*proj)
        else:
            self.proj = nn.Identity()
        mid, sqz = int(cout * expansion), int(cout * squeeze_ratio)
        self.layers = nn.Sequential(OrderedDict(
            pre_norm=norm(cin),
            conv_a=ConvNormAct(cin, mid, 1, act=nn.GELU, norm=norm),
            conv_b=ConvNormAct(mid, mid, 3, stride, groups=mid, act=nn.GELU, norm=norm),
            squeeze_excitation=SqueezeExcitation(mid, sqz, activation=nn.SiLU),
            conv_c=nn.Conv2d(mid, cout, 1, bias=True),
        ))

    def forward(self, x: Tensor) -> Tensor:
        res = self.proj(x)
        x = self.layers(x)
        return res + x


def mbconv_net() -> nn.Module:
    """A stem conv, then MaxViT's first two MBConvs of a stage (64 → 64 stride 2, then 64 → 64): on 3×32×32."""
    return nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1), MBConv(64, 64, 4, 0.25, 2), MBConv(64, 64, 4, 0.25, 1))


# ---- LRASPP: its head reads the low branch before the high one -------------------------------------------------
class LRASPPHead(nn.Module):
    """lraspp.py's LRASPPHead. ``upsample``: its F.interpolate(x, size=low.shape[-2:], bilinear) as an nn.Upsample
    (scale 2: low is twice high's size here); None keeps the F.interpolate. Both are read by convcost's importer.
    ``roll``: a torch.roll without dims after it (moves values, computes nothing), which the importer cannot read."""

    def __init__(self, low_channels: int, high_channels: int, num_classes: int, inter_channels: int,
                 upsample: nn.Module | None, roll: bool = False) -> None:
        super().__init__()
        self.cbr = nn.Sequential(nn.Conv2d(high_channels, inter_channels, 1, bias=False), nn.BatchNorm2d(inter_channels),
                                 nn.ReLU(inplace=True))
        self.scale = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(high_channels, inter_channels, 1, bias=False),
                                   nn.Sigmoid())
        self.low_classifier = nn.Conv2d(low_channels, num_classes, 1)
        self.high_classifier = nn.Conv2d(inter_channels, num_classes, 1)
        self.upsample = upsample
        self.roll = roll

    def forward(self, low: Tensor, high: Tensor) -> Tensor:
        x = self.cbr(high)
        s = self.scale(high)
        x = x * s
        if self.upsample is not None:
            x = self.upsample(x)
        else:
            x = F.interpolate(x, size=low.shape[-2:], mode="bilinear", align_corners=False)
        if self.roll:
            x = torch.roll(x, 1)  # no dims: the flattened tensor, samples into each other
        return self.low_classifier(low) + self.high_classifier(x)


class LRASPP(nn.Module):
    """A two-stage backbone (low: 16 channels at 1/2, high: 32 at 1/4) and the LRASPP head, on 3×32×32."""

    def __init__(self, interpolate: bool, roll: bool = False) -> None:
        super().__init__()
        self.low = ConvNormAct(3, 16, 3, 2)
        self.high = ConvNormAct(16, 32, 3, 2)
        up = None if interpolate else nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.classifier = LRASPPHead(16, 32, 3, 8, up, roll)

    def forward(self, x: Tensor) -> Tensor:
        low = self.low(x)
        return self.classifier(low, self.high(low))


def lraspp() -> nn.Module:
    return LRASPP(interpolate=False)


def lraspp_interpolate() -> nn.Module:
    """The head's real F.interpolate(x, size=low.shape[-2:])."""
    return LRASPP(interpolate=True)


def lraspp_roll() -> nn.Module:
    """The head with a torch.roll, which convcost's importer cannot read."""
    return LRASPP(interpolate=True, roll=True)


# ---- ConvMixer: padding='same' ------------------------------------------------------------------------------------
class Residual(nn.Module):
    def __init__(self, fn: nn.Module) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x) + x


def convmixer(dim: int = 32, depth: int = 2, kernel_size: int = 9, patch_size: int = 7, n_classes: int = 10) -> nn.Module:
    """ConvMixer's listing: its depthwise convs padded 'same' (fvcore counts nothing for them)."""
    return nn.Sequential(
        nn.Conv2d(3, dim, kernel_size=patch_size, stride=patch_size), nn.GELU(), nn.BatchNorm2d(dim),
        *[nn.Sequential(
            Residual(nn.Sequential(nn.Conv2d(dim, dim, kernel_size, groups=dim, padding="same"), nn.GELU(),
                                   nn.BatchNorm2d(dim))),
            nn.Conv2d(dim, dim, kernel_size=1), nn.GELU(), nn.BatchNorm2d(dim),
        ) for _ in range(depth)],
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(dim, n_classes),
    )


# ---- MaxViT's block attention: torch.einsum --------------------------------------------------------------------
def relative_position_index(height: int, width: int) -> Tensor:
    """maxvit.py's _get_relative_position_index."""
    coords = torch.stack(torch.meshgrid([torch.arange(height), torch.arange(width)], indexing="ij"))
    coords_flat = torch.flatten(coords, 1)
    relative = coords_flat[:, :, None] - coords_flat[:, None, :]
    relative = relative.permute(1, 2, 0).contiguous()
    relative[:, :, 0] += height - 1
    relative[:, :, 1] += width - 1
    relative[:, :, 0] *= 2 * width - 1
    return relative.sum(-1)


class RelativePositionalMultiHeadAttention(nn.Module):
    """maxvit.py's attention on windows [B, G, P, D]: to_qkv, q·kᵀ and a·v with torch.einsum, a relative position
    bias per head, softmax, merge."""

    def __init__(self, feat_dim: int, head_dim: int, max_seq_len: int) -> None:
        super().__init__()
        self.n_heads = feat_dim // head_dim
        self.head_dim = head_dim
        self.size = int(math.sqrt(max_seq_len))
        self.max_seq_len = max_seq_len
        self.to_qkv = nn.Linear(feat_dim, self.n_heads * self.head_dim * 3)
        self.scale_factor = feat_dim**-0.5
        self.merge = nn.Linear(self.head_dim * self.n_heads, feat_dim)
        self.relative_position_bias_table = nn.Parameter(
            torch.empty(((2 * self.size - 1) * (2 * self.size - 1), self.n_heads), dtype=torch.float32))
        self.register_buffer("relative_position_index", relative_position_index(self.size, self.size))
        torch.nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def get_relative_positional_bias(self) -> Tensor:
        bias_index = self.relative_position_index.view(-1)
        relative_bias = self.relative_position_bias_table[bias_index].view(self.max_seq_len, self.max_seq_len, -1)
        return relative_bias.permute(2, 0, 1).contiguous().unsqueeze(0)

    def forward(self, x: Tensor) -> Tensor:
        B, G, P, D = x.shape  # maxvit.py's names
        H, DH = self.n_heads, self.head_dim
        q, k, v = torch.chunk(self.to_qkv(x), 3, dim=-1)
        q = q.reshape(B, G, P, H, DH).permute(0, 1, 3, 2, 4)
        k = k.reshape(B, G, P, H, DH).permute(0, 1, 3, 2, 4)
        v = v.reshape(B, G, P, H, DH).permute(0, 1, 3, 2, 4)
        k = k * self.scale_factor
        dot_prod = torch.einsum("B G H I D, B G H J D -> B G H I J", q, k)
        dot_prod = F.softmax(dot_prod + self.get_relative_positional_bias(), dim=-1)
        out = torch.einsum("B G H I J, B G H J D -> B G H I D", dot_prod, v)
        return self.merge(out.permute(0, 1, 3, 2, 4).reshape(B, G, P, D))


class BlockAttention(nn.Module):
    """PartitionAttentionLayer's block attention without its norm, MLP and residuals: WindowPartition(p),
    the attention, WindowDepartition, on [B, C, H, W]."""

    def __init__(self, dim: int, head_dim: int, p: int) -> None:
        super().__init__()
        self.p = p
        self.attn = RelativePositionalMultiHeadAttention(dim, head_dim, p * p)

    def forward(self, x: Tensor) -> Tensor:
        B, C, H, W = x.shape
        P = self.p
        x = x.reshape(B, C, H // P, P, W // P, P).permute(0, 2, 4, 3, 5, 1).reshape(B, (H // P) * (W // P), P * P, C)
        x = self.attn(x)
        x = x.reshape(B, H // P, W // P, P, P, C).permute(0, 5, 1, 3, 2, 4)
        return x.reshape(B, C, H, W)


def maxvit_attention(dim: int = 64, head_dim: int = 32) -> nn.Module:
    """MaxViT-T's first stage's block attention (64 channels, heads of 32, 7×7 windows), on 64×56×56."""
    return BlockAttention(dim, head_dim, 7)
