"""Modules of the general tensor ops that hold a learned tensor (convcost/ops/elementwise.py, matmul.py):
``x * gamma``, ``x + pos_embed``, ``x @ w``, written as users write them, so counters see the same aten ops.
Imports torch at the top (see the package's docstring)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


class WithTensor(nn.Module):
    """``fn(x, weight)`` (or ``fn(weight, x)`` when ``reverse``) with a learned ``weight`` of a fixed shape, as
    timm's LayerScale holds its ``gamma`` and a ViT its ``pos_embed``; of several inputs ``fn(*xs, weight)`` (an
    attention's learned mask). ``buffer``: the tensor is a buffer, not a parameter (an input normalisation's
    ``register_buffer("mean", ...)``), which torch's ``buffers()`` holds."""

    weight: Tensor

    def __init__(self, shape: tuple[int, ...], fn: Callable[..., Tensor], label: str,
                 reverse: bool = False, buffer: bool = False) -> None:
        super().__init__()
        if buffer:
            self.register_buffer("weight", torch.ones(shape))
        else:
            self.weight = nn.Parameter(torch.ones(shape))
        self.fn, self.label, self.reverse, self.buffer = fn, label, reverse, buffer

    def forward(self, *xs: Tensor) -> Tensor:
        return self.fn(self.weight, *xs) if self.reverse else self.fn(*xs, self.weight)

    def extra_repr(self) -> str:
        return f"{self.label}, {'buffer' if self.buffer else 'weight'} {list(self.weight.shape)}"


class WithConstant(nn.Module):
    """``fn(x, c)`` (or ``fn(c, x)`` when ``reverse``) with a tensor ``c`` of a fixed shape that the forward makes
    (zeros here: the values do not change a count), held by no module, as YOLO's Detect makes its anchor points."""

    def __init__(self, shape: tuple[int, ...], fn: Callable[[Tensor, Tensor], Tensor], label: str,
                 reverse: bool = False) -> None:
        super().__init__()
        self.shape, self.fn, self.label, self.reverse = tuple(shape), fn, label, reverse

    def forward(self, x: Tensor) -> Tensor:
        c = torch.zeros(self.shape, dtype=x.dtype, device=x.device)
        return self.fn(c, x) if self.reverse else self.fn(x, c)

    def extra_repr(self) -> str:
        return f"{self.label}, const {list(self.shape)}"


class WithGathered(nn.Module):
    """``fn(x, table[index])`` with a learned ``table`` and a fixed long ``index`` buffer, the gathered values laid out
    as ``shape`` (a relative position bias: timm's and torchvision's tables of (2w − 1)² rows per head); of several
    inputs ``fn(*xs, table[index])`` (attention's mask: timm's RelPosBias)."""

    def __init__(self, shape: tuple[int, ...], table: tuple[int, ...], index: tuple[int, ...],
                 fn: Callable[..., Tensor], label: str, reverse: bool = False) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.zeros(table))
        self.register_buffer("index", torch.zeros(index, dtype=torch.long))
        self.shape, self.fn, self.label, self.reverse = tuple(shape), fn, label, reverse

    def forward(self, *xs: Tensor) -> Tensor:
        flat = self.table.flatten()[self.index.flatten()]  # the gathered values, repeated to the operand's size
        n = 1
        for d in self.shape:
            n *= d
        bias = flat.repeat(-(-n // flat.numel()))[:n].reshape(self.shape)
        return self.fn(bias, *xs) if self.reverse else self.fn(*xs, bias)

    def extra_repr(self) -> str:
        return f"{self.label}, table {list(self.table.shape)}, index {list(self.index.shape)} -> {list(self.shape)}"


class IndexSelect(nn.Module):
    """``x.index_select(dim, index)`` with a 1-D index of ``count`` positions along a dim of ``size``: a buffer the
    module holds (``buffer``), or a constant the forward makes (an arange, wrapped: the values do not change a count)."""

    index: Tensor

    def __init__(self, dim: int, count: int, size: int, buffer: bool = False) -> None:
        super().__init__()
        self.dim, self.count, self.size, self.buffer = dim, count, size, buffer
        if buffer:
            self.register_buffer("index", torch.arange(count) % size)

    def forward(self, x: Tensor) -> Tensor:
        index = self.index if self.buffer else torch.arange(self.count, device=x.device) % self.size
        return x.index_select(self.dim, index)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, index of {self.count}{' (a buffer)' if self.buffer else ''}"


class GridSample(nn.Module):
    """``F.grid_sample(x, grid, mode, padding_mode, align_corners)`` of a second input, or of a learned ``grid``
    parameter [1, Ho, Wo, 2] expanded over the batch (``size`` (Ho, Wo))."""

    def __init__(self, mode: str, padding_mode: str, align_corners: bool, size: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.mode, self.padding_mode, self.align_corners = mode, padding_mode, align_corners
        self.grid = nn.Parameter(torch.zeros(1, *size, 2)) if size is not None else None

    def forward(self, x: Tensor, grid: Tensor | None = None) -> Tensor:
        from torch.nn import functional as F

        if grid is None:
            assert self.grid is not None
            grid = self.grid.expand(x.shape[0], -1, -1, -1)
        return F.grid_sample(x, grid, mode=self.mode, padding_mode=self.padding_mode, align_corners=self.align_corners)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, padding_mode={self.padding_mode!r}, align_corners={self.align_corners}"
