"""torch modules for Swin v2's ops (ops/windows_v2.py), mirroring torchvision's swin_transformer.py
(ShiftedWindowAttentionV2, PatchMergingV2) call for call, so that counters see what they see on torchvision's
swin_v2_t/s/b. Imported only when a graph is built in torch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .tokens import shifted_window_attention


def relative_coords_table(window: tuple[int, int]) -> Tensor:
    """[1, 2wh − 1, 2ww − 1, 2]: each relative offset (dy, dx) of a window, divided by (w − 1), times 8, then
    sign · log2(|·| + 1) / 3 (log-spaced coordinates, as torchvision computes them)."""
    wh, ww = window
    dy = torch.arange(-(wh - 1), wh, dtype=torch.float32)
    dx = torch.arange(-(ww - 1), ww, dtype=torch.float32)
    table = torch.stack(torch.meshgrid([dy, dx], indexing="ij")).permute(1, 2, 0).contiguous().unsqueeze(0)
    table[:, :, :, 0] /= wh - 1
    table[:, :, :, 1] /= ww - 1
    table *= 8
    return torch.sign(table) * torch.log2(torch.abs(table) + 1.0) / 3.0


def relative_position_index(window: tuple[int, int]) -> Tensor:
    """[(wh·ww)²]: for each pair of tokens of a window, the row of their offset in the (2wh − 1)·(2ww − 1) table."""
    wh, ww = window
    ys, xs = torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij")
    ys, xs = ys.flatten(), xs.flatten()
    return ((ys[:, None] - ys[None, :] + wh - 1) * (2 * ww - 1) + (xs[:, None] - xs[None, :] + ww - 1)).flatten()


class ShiftedWindowAttentionV2(nn.Module):
    """Swin v2's (shifted) window attention: qkv and proj nn.Linear whose weights go to F.linear (never called as
    modules), a per-head ``logit_scale`` (heads, 1, 1), and the continuous position bias: ``cpb_mlp`` (Linear(2 →
    hidden), ReLU, Linear(hidden → heads, no bias)) run on the ``relative_coords_table`` buffer, gathered by the
    ``relative_position_index`` buffer, 16·sigmoid; then cosine attention (modules/tokens.py)."""

    def __init__(self, dim: int, window: tuple[int, int], shift: tuple[int, int], heads: int, qkv_bias: bool = True,
                 proj_bias: bool = True, hidden: int = 512) -> None:
        super().__init__()
        self.window_size, self.shift_size, self.num_heads = list(window), list(shift), heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        self.register_buffer("relative_coords_table", relative_coords_table(window))
        self.register_buffer("relative_position_index", relative_position_index(window))
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones((heads, 1, 1))))
        self.cpb_mlp = nn.Sequential(nn.Linear(2, hidden, bias=True), nn.ReLU(inplace=True),
                                     nn.Linear(hidden, heads, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        n = self.window_size[0] * self.window_size[1]
        table = self.cpb_mlp(self.relative_coords_table).view(-1, self.num_heads)
        bias = table[self.relative_position_index].view(n, n, -1).permute(2, 0, 1).contiguous().unsqueeze(0)
        bias = 16 * torch.sigmoid(bias)
        return shifted_window_attention(x, self.qkv.weight, self.proj.weight, bias, self.window_size, self.num_heads,
                                        self.shift_size, self.qkv.bias, self.proj.bias, logit_scale=self.logit_scale)


class PatchMergingV2(nn.Module):
    """Swin v2's patch merging: the four tokens of each 2×2 neighbourhood side by side (4C; odd H or W padded by one),
    Linear(4C → 2C, no bias), then LayerNorm(2C); torchvision's reduction and norm modules."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(2 * dim, eps=eps)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-3], x.shape[-2]
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[..., 0::2, 0::2, :], x[..., 1::2, 0::2, :], x[..., 0::2, 1::2, :], x[..., 1::2, 1::2, :]], -1)
        return self.norm(self.reduction(x))
