"""A hand-written torch Swin-T for the tests, with torchvision's module layout and calls (swin_transformer.py:
SwinTransformerBlock, ShiftedWindowAttention, PatchMerging), never from convcost's graph or modules.
As in torchvision, the attention's qkv/proj weights go to F.linear (their nn.Linear modules are never called),
the attention matmuls are tensor.matmul and the softmax F.softmax. Imported only by tests that need torch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def region_mask(hp: int, wp: int, win: int, shift: int) -> Tensor:
    """[windows, win², win²]: 0 where two tokens of a rolled window come from the same region, −100 where not.
    Regions of the padded map along each axis: [0, hp − win), [hp − win, hp − shift), [hp − shift, hp)."""
    def band(n: int) -> Tensor:
        i = torch.arange(n)
        return (i >= n - win).long() + (i >= n - shift).long()

    region = band(hp)[:, None] * 3 + band(wp)[None, :]  # [hp, wp] region ids
    windows = region.reshape(hp // win, win, wp // win, win).transpose(1, 2).reshape(-1, win * win)
    same = windows[:, :, None] == windows[:, None, :]
    return torch.where(same, 0.0, -100.0)


class WindowAttention(nn.Module):
    def __init__(self, dim: int, heads: int, win: int, shift: int) -> None:
        super().__init__()
        self.heads, self.win, self.shift = heads, win, shift
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.randn((2 * win - 1) ** 2, heads) * 0.02)
        pos = torch.stack(torch.meshgrid(torch.arange(win), torch.arange(win), indexing="ij")).flatten(1)  # 2, win²
        rel = pos[:, :, None] - pos[:, None, :] + (win - 1)  # 2, win², win² in 0 … 2·win − 2
        self.register_buffer("relative_position_index", (rel[0] * (2 * win - 1) + rel[1]).flatten())

    def forward(self, x: Tensor) -> Tensor:
        b, h, w, c = x.shape
        win, n, hd = self.win, self.win * self.win, c // self.heads
        x = F.pad(x, (0, 0, 0, -w % win, 0, -h % win))
        hp, wp = x.shape[1:3]
        shift = self.shift if win < hp else 0  # one window: nothing to shift (torchvision drops it so)
        if shift:
            x = torch.roll(x, (-shift, -shift), (1, 2))
        x = x.reshape(b, hp // win, win, wp // win, win, c).transpose(2, 3).reshape(-1, n, c)  # [b·nW, n, c]
        q, k, v = F.linear(x, self.qkv.weight, self.qkv.bias).reshape(-1, n, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
        attn = (q * hd**-0.5).matmul(k.transpose(-2, -1))
        bias = self.relative_position_bias_table[self.relative_position_index].reshape(n, n, self.heads)
        attn = attn + bias.permute(2, 0, 1).unsqueeze(0)
        if shift:
            windows = (hp // win) * (wp // win)
            attn = (attn.reshape(b, windows, self.heads, n, n) + region_mask(hp, wp, win, shift)[None, :, None]).reshape(
                -1, self.heads, n, n)
        x = F.softmax(attn, dim=-1).matmul(v).transpose(1, 2).reshape(-1, n, c)
        x = F.linear(x, self.proj.weight, self.proj.bias)
        x = x.reshape(b, hp // win, wp // win, win, win, c).transpose(2, 3).reshape(b, hp, wp, c)
        if shift:
            x = torch.roll(x, (shift, shift), (1, 2))
        return x[:, :h, :w].contiguous()


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, win: int, shift: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, win, shift)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Dropout(0.0), nn.Linear(4 * dim, dim), nn.Dropout(0.0))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[1:3]
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[:, i::2, j::2] for j, i in ((0, 0), (0, 1), (1, 0), (1, 1))], dim=-1)  # torchvision's order
        return self.reduction(self.norm(x))


class Permute(nn.Module):
    def __init__(self, *dims: int) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: Tensor) -> Tensor:
        return x.permute(*self.dims)


class SwinT(nn.Module):
    def __init__(self, dim: int = 96, depths: tuple[int, ...] = (2, 2, 6, 2), heads: tuple[int, ...] = (3, 6, 12, 24),
                 win: int = 7, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Sequential(nn.Conv2d(3, dim, 4, 4), Permute(0, 2, 3, 1), nn.LayerNorm(dim))]
        for stage, (depth, h) in enumerate(zip(depths, heads)):
            layers.append(nn.Sequential(*[Block(dim, h, win, 0 if i % 2 == 0 else win // 2) for i in range(depth)]))
            if stage < len(depths) - 1:
                layers.append(PatchMerging(dim))
                dim *= 2
        self.features = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(dim)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm(self.features(x)).permute(0, 3, 1, 2)
        return self.head(torch.flatten(self.avgpool(x), 1))
