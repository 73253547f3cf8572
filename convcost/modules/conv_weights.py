"""Convolutions whose weight is not a plain parameter (conv's `weight`), for any spatial rank.

Standardised in every forward (timm's layers/std_conv.py):

- ``StdConv{n}d`` is timm's StdConv2d (BiT's ResNetV2): each output channel's weights, over its fan-in
  (C_in/groups · prod(kernel)), normalised to zero mean and unit variance by ``F.batch_norm`` in training mode
  on a (1, C_out, fan-in) view of the weight, then ``F.conv{n}d`` with the result.
- ``ScaledStdConv{n}d`` is timm's ScaledStdConv2d (NFNets): the same, the standardised weight scaled per output
  channel by a learned ``gain`` (a (C_out, 1, ...) parameter) times gamma/√fan-in, passed to ``F.batch_norm``
  as its weight.

Both are subclasses of ``nn.Conv{n}d`` with names that hold "Conv", as timm's are: ptflops and thop, which match
exact module types, have no hook for them; torchinfo and torchscan count them as convolutions; fvcore and
calflops see the ``batch_norm`` over the weight. ``gain`` is neither ``weight`` nor ``bias`` (torchinfo).

Fixed (timm's layers/blur_pool.py): ``FixedFilter`` holds its filter as a buffer and calls ``F.conv{n}d``, as
timm's BlurPool2d does (its reflect or constant pad is a `pad` layer of its own). Not an ``nn.Conv{n}d`` and no
"Conv" in its name: ptflops, thop, torchscan and torchinfo see no convolution; fvcore, FlopCounterMode and calflops
see ``F.conv{n}d``. The filter is filled with 1/fan-in (an average; timm's is a binomial blur): values only.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class _Standardised:
    """The forward both share: the weight standardised over each output channel's fan-in, then the convolution."""

    out_channels: int
    weight: Tensor
    bias: Tensor | None
    std_eps: float

    def weight_gain(self) -> Tensor | None:
        return None

    def forward(self, x: Tensor) -> Tensor:
        weight = F.batch_norm(
            self.weight.reshape(1, self.out_channels, -1), None, None, weight=self.weight_gain(), training=True,
            momentum=0.0, eps=self.std_eps,
        ).reshape_as(self.weight)
        return self._conv_forward(x, weight, self.bias)  # type: ignore[attr-defined]


def _scaled_init(self: nn.Module, gamma: float) -> None:
    weight: Tensor = self.weight  # type: ignore[assignment]
    self.scale = gamma * weight[0].numel() ** -0.5  # gamma / √fan-in, as timm's
    self.gain = nn.Parameter(torch.ones((weight.shape[0], *(1 for _ in weight.shape[1:])), device=weight.device))


def _gain(self: nn.Module) -> Tensor:
    return (self.gain * self.scale).view(-1)  # type: ignore[operator]


def _classes() -> dict[tuple[int, bool], type[nn.Module]]:
    out: dict[tuple[int, bool], type[nn.Module]] = {}
    for rank, base in ((1, nn.Conv1d), (2, nn.Conv2d), (3, nn.Conv3d)):
        out[(rank, False)] = type(f"StdConv{rank}d", (_Standardised, base), {"__module__": __name__})
        out[(rank, True)] = type(f"ScaledStdConv{rank}d", (_Standardised, base), {"__module__": __name__,
                                                                                  "weight_gain": _gain})
    return out


CLASSES = _classes()


def std_conv(rank: int, scaled: bool, c_in: int, out: int, kernel: tuple[int, ...], *, eps: float, gamma: float,
             **conv: object) -> nn.Module:
    """A ``rank``-d convolution whose weight is standardised in the forward (``scaled``: times gain · gamma/√fan-in);
    ``conv``: nn.Conv{n}d's other arguments (stride, padding, dilation, groups, bias)."""
    module = CLASSES[(rank, scaled)](c_in, out, kernel, **conv)
    module.std_eps = eps
    if scaled:
        _scaled_init(module, gamma)
    return module


class FixedFilter(nn.Module):
    """A convolution with a fixed filter (a buffer) and, if asked, a learned bias: timm's BlurPool2d's conv."""

    def __init__(self, c_in: int, out: int, kernel: tuple[int, ...], *, stride: tuple[int, ...],
                 padding: str | tuple[int, ...], dilation: tuple[int, ...], groups: int, bias: bool) -> None:
        super().__init__()
        fan_in = c_in // groups
        for k in kernel:
            fan_in *= k
        self.register_buffer("weight", torch.full((out, c_in // groups, *kernel), 1.0 / fan_in))
        self.bias = nn.Parameter(torch.zeros(out)) if bias else None
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.function = f"conv{len(kernel)}d"

    def forward(self, x: Tensor) -> Tensor:
        conv = getattr(F, self.function)  # looked up at every call, as timm's F.conv2d: tools that patch it see it
        return conv(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
