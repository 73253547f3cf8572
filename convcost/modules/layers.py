"""Small torch modules that torch users write themselves (torchvision has them, torch.nn does not).

Op definitions (convcost/ops/) build them for ``verify`` and ``profile`` so the counters see what
runs in the real model: the same aten ops and, for the module-hook counters (ptflops, thop), the
same module types. Imports torch at the top: only ops' ``build`` functions import this, lazily.

- :class:`LayerNorm2d` is torchvision's (convnext.py): a LayerNorm over the channels of an
  N×C×... map, run as permute to channels-last, ``F.layer_norm``, permute back. A subclass of
  ``nn.LayerNorm``, so ptflops and thop, which match exact module types, have no hook for it.
- :class:`ChannelsLast` runs a module on the channels-last view of an N×C×... map and permutes
  back: ConvNeXt's ``Permute([0, 2, 3, 1])`` … ``Permute([0, 3, 1, 2])`` around its block's
  ``nn.LayerNorm`` and ``nn.Linear`` layers.
- :class:`LayerScale` is ConvNeXt's layer scale: a learnable per-channel scale, a (C, 1, 1)
  parameter times the input (torchvision's CNBlock ``layer_scale``).
- :class:`FrozenBatchNorm` is torchvision's FrozenBatchNorm2d (ops/misc.py): a batch norm whose scale, shift and
  statistics are buffers, run as the same elementwise ops (``x * scale + bias``), on any number of spatial dims.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def to_channels_last(ndim: int) -> list[int]:
    """N, C, d1..dk -> N, d1..dk, C (ConvNeXt's Permute([0, 2, 3, 1]) for 4-D tensors)."""
    return [0, *range(2, ndim), 1]


def to_channels_first(ndim: int) -> list[int]:
    """N, d1..dk, C -> N, C, d1..dk (ConvNeXt's Permute([0, 3, 1, 2]) for 4-D tensors)."""
    return [0, ndim - 1, *range(1, ndim - 1)]


class LayerNorm2d(nn.LayerNorm):
    """torchvision's LayerNorm2d: LayerNorm over channels (any number of spatial dims)."""

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(*to_channels_last(x.dim()))
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(*to_channels_first(x.dim()))


class ChannelsLast(nn.Module):
    """Runs ``inner`` on the channels-last view of the input, then permutes back to channels-first. ``contiguous``:
    ``inner`` gets a contiguous channels-last tensor, as torchvision's ConvNeXt gives its linears (the output of a
    channels-last LayerNorm): torch then runs a linear as aten.addmm with its bias, not aten.mm and a separate add,
    which ptflops' aten backend counts differently."""

    def __init__(self, inner: nn.Module, contiguous: bool = False) -> None:
        super().__init__()
        self.inner = inner
        self.contiguous = contiguous

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(*to_channels_last(x.dim()))
        y = self.inner(x.contiguous() if self.contiguous else x)
        return y.permute(*to_channels_first(y.dim()))


class LayerScale(nn.Module):
    """ConvNeXt's layer scale: ``scale * x`` with a learnable (C, 1, ..., 1) ``scale``."""

    def __init__(self, shape: tuple[int, ...], init: float) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full(shape, init))

    def forward(self, x: Tensor) -> Tensor:
        return self.scale * x


class FrozenBatchNorm(nn.Module):
    """torchvision's FrozenBatchNorm2d, on N×C (flat) or N×C×d1..dk: ``weight``, ``bias``, ``running_mean`` and
    ``running_var`` are buffers, and the forward is its elementwise ops in its order (what fvcore traces: mul, add,
    rsqrt, sub; FlopCounterMode counts none of them)."""

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: Tensor) -> Tensor:
        shape = (1, -1, *([1] * (x.dim() - 2)))
        w = self.weight.reshape(shape)
        b = self.bias.reshape(shape)
        rv = self.running_var.reshape(shape)
        rm = self.running_mean.reshape(shape)
        scale = w * (rv + self.eps).rsqrt()
        bias = b - rm * scale
        return x * scale + bias
