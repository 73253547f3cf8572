"""Models for `convcost import` of the general tensor ops added for issue 20 (tests/test_import_tensor_ops.py): an input
normalisation with registered buffers, repeat / tile / expand + contiguous / flip / roll, and einsum of three operands.
Each says what import must make of it."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Normalised(nn.Module):
    """``(x - self.mean) / self.std`` with buffers of a broadcast shape, as input normalisation layers hold them, then
    a conv 3→4, 3×3. Import writes `sub: {buffer: ...}` and `div: {buffer: ...}`: 6 buffer values, not params."""

    def __init__(self, how: str = "broadcast") -> None:
        super().__init__()
        self.how = how
        shape = (3,) if how == "flat" else (1, 3, 1, 1)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).reshape(shape))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).reshape(shape))
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        if self.how == "flat":  # a [3] buffer viewed as [3, 1, 1]
            x = (x - self.mean[:, None, None]) / self.std[:, None, None]
        elif self.how == "reverse":  # mean − x, then 1/std as a product on the left
            x = (self.mean - x) * self.std
        else:
            x = (x - self.mean) / self.std
        return self.conv(x)


def normalised(how: str = "broadcast") -> nn.Module:
    return Normalised(how)


class Copies(nn.Module):
    """A conv 3→4 (3×3, padding 1), a copy that rearranges or repeats, then a 1×1 conv 4→2 whose MACs follow the
    copy's size."""

    def __init__(self, how: str = "repeat") -> None:
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x)
        if self.how == "repeat":
            y = y.repeat(1, 1, 2, 2)
        elif self.how == "tile":
            y = torch.tile(y, (2, 1))  # fewer dims than the tensor: torch prepends ones, (1, 1, 2, 1)
        elif self.how == "expand":
            y = y.mean(1, keepdim=True).expand(-1, 4, -1, -1).contiguous()
        elif self.how == "flip":
            y = torch.flip(y, [3])
        elif self.how == "roll":
            y = torch.roll(y, (1, -2), (2, 3))
        elif self.how == "roll_flat":  # no dims: torch rolls the flattened tensor, samples into each other
            y = torch.roll(y, 3)
        return self.head(y)


def copies(how: str = "repeat") -> nn.Module:
    return Copies(how)


class Einsum3(nn.Module):
    """A 1×1 conv 3→4, its map flattened to [B, 4, HW], then ``torch.einsum('bij,bjk,bkl->bil', a, aᵀ, a)``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: Tensor) -> Tensor:
        a = self.conv(x).flatten(2)
        return torch.einsum("bij,bjk,bkl->bil", a, a.transpose(1, 2), a)


def einsum3() -> nn.Module:
    return Einsum3()


class Selections(nn.Module):
    """A conv 3→4 (3×3, padding 1), a selection (torch.where of a comparison, index_select by a buffer, x[:, list],
    topk's values, grid_sample by a computed or a learned grid), then a 1×1 conv 4→2 whose MACs follow its size."""

    def __init__(self, how: str = "where") -> None:
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Conv2d(4, 2, 1)
        if how == "index_select":
            self.register_buffer("order", torch.tensor([3, 2, 1, 0]))
        if how == "mask":
            self.register_buffer("keep", torch.ones(4, dtype=torch.bool))
        if how == "grid":
            self.flow = nn.Conv2d(4, 2, 1)
        if how == "grid_param":
            self.grid = nn.Parameter(torch.zeros(1, 4, 4, 2))

    def forward(self, x: Tensor) -> Tensor:
        from torch.nn import functional as F

        y = self.conv(x)
        if self.how == "where":  # a leaky step: y where positive, else 0.1·y
            y = torch.where(y > 0, y, 0.1 * y)
        elif self.how == "where_scalar":
            y = torch.where(y < 0.5, y, 0.0)
        elif self.how == "index_select":
            y = y.index_select(1, self.order)
        elif self.how == "index":
            y = y[:, [3, 1, 2, 0]]
        elif self.how == "topk":
            y = torch.topk(y, 4, dim=3).values
        elif self.how == "topk_indices":
            y = y + torch.topk(y, 8, dim=3).indices.float()
        elif self.how == "mask":
            y = y[:, self.keep]  # a mask: how many channels it keeps depends on its values
        elif self.how == "grid":
            grid = torch.tanh(self.flow(y).permute(0, 2, 3, 1))
            y = F.grid_sample(y, grid, align_corners=False)
        elif self.how == "grid_param":
            y = F.grid_sample(y, self.grid.expand(y.shape[0], -1, -1, -1), mode="nearest", padding_mode="border")
        return self.head(y)


def selections(how: str = "where") -> nn.Module:
    return Selections(how)
