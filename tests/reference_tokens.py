"""Hand-written torch references for the token configs, from torchvision's vision_transformer.py (ViT-B/16)
and a conv-stem + attention-stage hybrid, with plain torch.nn modules, never from convcost's graph.
Imported only by tests that need torch."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class EncoderBlock(nn.Module):
    """torchvision's EncoderBlock (eval: dropouts are the identity)."""

    def __init__(self, heads: int, dim: int, mlp: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Linear(mlp, dim))

    def forward(self, x: Tensor) -> Tensor:
        y = self.ln_1(x)
        y, _ = self.self_attention(y, y, y, need_weights=False)
        x = x + y
        return x + self.mlp(self.ln_2(x))


class ViT(nn.Module):
    def __init__(self, image: int = 224, patch: int = 16, layers: int = 12, heads: int = 12, dim: int = 768,
                 mlp: int = 3072, num_classes: int = 1000) -> None:
        super().__init__()
        self.conv_proj = nn.Conv2d(3, dim, patch, patch)
        n = (image // patch) ** 2 + 1
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.empty(1, n, dim).normal_(std=0.02))
        self.layers = nn.Sequential(*[EncoderBlock(heads, dim, mlp) for _ in range(layers)])
        self.ln = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv_proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embedding
        x = self.ln(self.layers(x))
        return self.head(x[:, 0])


class Hybrid(nn.Module):
    """A conv stem (two 3×3/2 conv-bn-relu) to 16×16 tokens of 64, two encoder blocks, back to a map, a 1×1 conv."""

    def __init__(self, heads: int = 4) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        )
        self.blocks = nn.Sequential(EncoderBlock(heads, 64, 128), EncoderBlock(heads, 64, 128))
        self.out = nn.Conv2d(64, 10, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        b, c, h, w = x.shape
        x = self.blocks(x.flatten(2).transpose(1, 2))
        return self.out(x.transpose(1, 2).reshape(b, c, h, w))
