"""The torch module of `partition_attention` (imported only when a graph is built in torch): MaxViT's block or grid
attention as timm writes it (timm/models/maxxvit.py: PartitionAttentionCl._partition_attn, window_partition /
grid_partition and their reverses, AttentionCl on its fused path; timm/layers/pos_embed_rel.py: RelPosBiasTf), with
timm's calls, so that counters see what they see on timm's MaxViT."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def one_hot_lookup(length: int) -> Tensor:
    """timm's generate_lookup_tensor: [length, length, 2·length − 1], 1 where v = x − i + length − 1."""
    ret = torch.zeros(length, length, 2 * length - 1)
    for i in range(length):
        for x in range(length):
            ret[i, x, x - i + length - 1] = 1
    return ret


def partition(x: Tensor, size: tuple[int, int], grid: bool) -> Tensor:
    """timm's window_partition (``grid`` False) or grid_partition: [B, H, W, C] to [B·nW, p0, p1, C]."""
    b, h, w, c = x.shape
    if grid:
        x = x.view(b, size[0], h // size[0], size[1], w // size[1], c).permute(0, 2, 4, 1, 3, 5)
    else:
        x = x.view(b, h // size[0], size[0], w // size[1], size[1], c).permute(0, 1, 3, 2, 4, 5)
    return x.contiguous().view(-1, size[0], size[1], c)


def reverse(windows: Tensor, size: tuple[int, int], h: int, w: int, grid: bool) -> Tensor:
    """timm's window_reverse / grid_reverse: [B·nW, p0, p1, C] back to [B, H, W, C]."""
    c = windows.shape[-1]
    x = windows.view(-1, h // size[0], w // size[1], size[0], size[1], c)
    x = x.permute(0, 3, 1, 4, 2, 5) if grid else x.permute(0, 1, 3, 2, 4, 5)
    return x.contiguous().view(-1, h, w, c)


class PartitionAttention(nn.Module):
    """Windows (or grid windows) of a [B, H, W, C] token grid, timm's AttentionCl over each (qkv and proj nn.Linear,
    F.scaled_dot_product_attention with RelPosBiasTf's bias as its mask: the table gathered by two torch.einsum with
    one-hot lookup buffers), and the windows put back."""

    def __init__(self, dim: int, heads: int, size: tuple[int, int], grid: bool, head_first: bool, qkv_bias: bool,
                 bias: bool) -> None:
        super().__init__()
        self.size, self.grid, self.head_first, self.num_heads = size, grid, head_first, heads
        self.dim_head = dim // heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=bias)
        self.relative_position_bias_table = nn.Parameter(
            torch.empty(heads, 2 * size[0] - 1, 2 * size[1] - 1).normal_(std=0.02))
        self.register_buffer("height_lookup", one_hot_lookup(size[0]))
        self.register_buffer("width_lookup", one_hot_lookup(size[1]))

    def get_bias(self) -> Tensor:
        """timm's reindex_2d_einsum_lookup."""
        area = self.size[0] * self.size[1]
        t = torch.einsum("nhw,ixh->nixw", self.relative_position_bias_table, self.height_lookup)
        t = torch.einsum("nixw,jyw->nijxy", t, self.width_lookup)
        return t.reshape(self.num_heads, area, area)

    def attend(self, x: Tensor) -> Tensor:
        """timm's AttentionCl.forward, fused path."""
        b = x.shape[0]
        restore = x.shape[:-1]
        if self.head_first:
            q, k, v = self.qkv(x).view(b, -1, self.num_heads, self.dim_head * 3).transpose(1, 2).chunk(3, dim=3)
        else:
            q, k, v = self.qkv(x).reshape(b, -1, 3, self.num_heads, self.dim_head).transpose(1, 3).unbind(2)
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=self.get_bias())
        return self.proj(x.transpose(1, 2).reshape((*restore, -1)))

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[1], x.shape[2]
        return reverse(self.attend(partition(x, self.size, self.grid)), self.size, h, w, self.grid)
