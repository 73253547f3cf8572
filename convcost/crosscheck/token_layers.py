"""torch modules for the token ops (imported only when a graph is built in torch, like torch_build.py).

Written to mirror torchvision's vision_transformer.py and swin_transformer.py, so that counters see
what they see on torchvision's models.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def tokens_to_map(x: Tensor, h: int, w: int) -> Tensor:
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], h, w)


class PatchEmbed(nn.Module):
    """A p×p conv with stride p, its map flattened to tokens (torchvision ViT's conv_proj and _process_input)."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x).flatten(2).transpose(1, 2)


class ClassToken(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.class_token = nn.Parameter(torch.zeros(1, 1, d))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)


class PosEmbed(nn.Module):
    def __init__(self, n: int, d: int) -> None:
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, n, d).normal_(std=0.02))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.pos_embedding


class SelfAttention(nn.Module):
    """torch's nn.MultiheadAttention as torchvision's ViT calls it: self-attention, batch first, no weights."""

    def __init__(self, d: int, heads: int, bias: bool) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads, bias=bias, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.attn(x, x, x, need_weights=False)[0]


class ExplicitAttention(nn.Module):
    """Self-attention written out (timm's Attention without fused kernels): qkv, q·kᵀ, softmax, ·v, proj."""

    def __init__(self, d: int, heads: int, head_dim: int, qkv_bias: bool, bias: bool) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.scale = head_dim**-0.5
        self.qkv = nn.Linear(d, 3 * heads * head_dim, bias=qkv_bias)
        self.proj = nn.Linear(heads * head_dim, d, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, self.heads * self.head_dim))
