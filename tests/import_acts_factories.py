"""Issue 20's hostile review, one part (tests/test_import_acts.py): activations with arguments, batch norm without
running statistics and the shuffle modules, each written as models write them (a torch.nn module, a function), which
`convcost import` refused with a clear exit-2 line before. Each model is small and runs on a 3×8×8 (or 3×16×16) input."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Activations(nn.Module):
    """conv → Softplus(β 2, threshold 10) → CELU(0.5) → SELU → Threshold(0.1, 20) → LogSigmoid → CELU(1) → ELU(1),
    each an nn module, or (``how='function'``) the same as F.softplus, F.celu, F.selu / torch.selu, F.threshold,
    F.logsigmoid calls; then a pool and a linear. CELU with α = 1 is ELU's arithmetic: each keeps its own op."""

    def __init__(self, how: str = "module") -> None:
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.softplus = nn.Softplus(beta=2.0, threshold=10.0)
        self.celu = nn.CELU(0.5)
        self.selu = nn.SELU()
        self.threshold = nn.Threshold(0.1, 20.0)
        self.logsigmoid = nn.LogSigmoid()
        self.celu1 = nn.CELU()
        self.elu = nn.ELU()
        self.fc = nn.Linear(8, 4)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        if self.how == "module":
            x = self.elu(self.celu1(self.logsigmoid(self.threshold(self.selu(self.celu(self.softplus(x)))))))
        else:
            x = F.softplus(x, beta=2.0, threshold=10.0)
            x = F.celu(x, alpha=0.5)
            x = torch.selu(F.selu(x))
            x = F.threshold(x, 0.1, 20.0)
            x = F.elu(F.celu(F.logsigmoid(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def activations(how: str = "module") -> nn.Module:
    return Activations(how)


class BatchStats(nn.Module):
    """BatchNorm with ``track_running_stats=False`` (it normalises with the batch's statistics in eval too) of a 1-D,
    2-D and 3-D map, with and without affine, next to one with running statistics. (Not of a flat vector: at the batch
    of 1 import traces, torch refuses one value per channel, "Expected more than 1 value per channel when training".)"""

    def __init__(self, affine: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8, affine=affine, track_running_stats=False)
        self.bn_tracked = nn.BatchNorm2d(8)
        self.bn1d = nn.BatchNorm1d(8, affine=affine, track_running_stats=False, momentum=None)
        self.bn3d = nn.BatchNorm3d(8, eps=1e-3, affine=affine, track_running_stats=False)
        self.fc = nn.Linear(8, 4)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.bn_tracked(self.bn(self.conv(x))))
        x = self.bn1d(x.flatten(2)).unflatten(2, (8, 8))
        x = self.bn3d(x.unsqueeze(2)).squeeze(2)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def batch_stats(affine: bool = True) -> nn.Module:
    return BatchStats(affine)


class Shuffles(nn.Module):
    """conv 3→16 → nn.PixelUnshuffle(2) (64 channels at 8×8) → nn.ChannelShuffle(4) → conv 64→16, 1×1 →
    nn.PixelShuffle(2) (4 channels at 16×16) → conv; or (``how='function'``) F.pixel_unshuffle, F.channel_shuffle and
    F.pixel_shuffle."""

    def __init__(self, how: str = "module") -> None:
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.unshuffle = nn.PixelUnshuffle(2)
        self.shuffle = nn.ChannelShuffle(4)
        self.mix = nn.Conv2d(64, 16, 1)
        self.up = nn.PixelShuffle(2)
        self.head = nn.Conv2d(4, 2, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        if self.how == "module":
            x = self.up(self.mix(self.shuffle(self.unshuffle(x))))
        else:
            x = F.pixel_shuffle(self.mix(F.channel_shuffle(F.pixel_unshuffle(x, 2), 4)), 2)
        return self.head(x)


def shuffles(how: str = "module") -> nn.Module:
    return Shuffles(how)


ACTIVATIONS = {"softplus": lambda: nn.Softplus(beta=2.0), "celu": lambda: nn.CELU(0.5), "selu": nn.SELU,
               "threshold": lambda: nn.Threshold(0.1, 20.0), "logsigmoid": nn.LogSigmoid}


class ChannelsLastMLP(nn.Module):
    """ConvNeXt's block at a small size with another activation between its linears: depthwise conv, permute to
    channels-last, LayerNorm, Linear 8→16, the activation, Linear 16→8, permute back (a channels-last run)."""

    def __init__(self, act: str = "softplus") -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.norm = nn.LayerNorm(8)
        self.pwconv1 = nn.Linear(8, 16)
        self.act = ACTIVATIONS[act]()
        self.pwconv2 = nn.Linear(16, 8)

    def forward(self, x: Tensor) -> Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + y.permute(0, 3, 1, 2)


def channels_last_mlp(act: str = "softplus") -> nn.Module:
    return ChannelsLastMLP(act)


class TokenMLP(nn.Module):
    """A map's rows read as tokens by a reshape no token pattern names (``x.reshape(B, C·H, W)``: C·H tokens of width
    W), then the activation of the tokens and a Linear over their width: the general ops' per-token reading of a view
    through an elementwise op."""

    def __init__(self, act: str = "softplus", width: int = 4) -> None:
        super().__init__()
        self.act = ACTIVATIONS[act]()
        self.fc = nn.Linear(width, 6)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        return self.fc(self.act(x.reshape(b, c * h, w)))


def token_mlp(act: str = "softplus") -> nn.Module:
    return TokenMLP(act)
