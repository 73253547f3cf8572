"""torch modules for MViT's pooling attention (ops/mvit.py), written after torchvision's models/video/mvit.py
(Pool, _add_rel_pos, _add_shortcut, MultiscaleAttention) with the same modules, parameters and torch calls, so that
every counter sees on them what it sees on torchvision's MViT. The token grid (T, H, W) is fixed when built (a spec
layer takes one input); torchvision's module takes it as a second argument of its forward.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..ops.mvit import Grid, rel_pos_sizes


class Pool(nn.Module):
    """torchvision's Pool as MultiscaleAttention builds it: the class token split off, the other tokens of each head
    as a (T, H, W) map of head_dim channels with the heads in the batch (B·heads), a depthwise Conv3d, the class token
    put back, then a LayerNorm(head_dim) over every token."""

    def __init__(self, head_dim: int, kernel: Grid, stride: Grid, eps: float) -> None:
        super().__init__()
        padding = (kernel[0] // 2, kernel[1] // 2, kernel[2] // 2)
        self.pool = nn.Conv3d(head_dim, head_dim, kernel, stride=stride, padding=padding, groups=head_dim,
                              bias=False)
        self.norm_act = nn.Sequential(nn.LayerNorm(head_dim, eps=eps))

    def forward(self, x: Tensor, thw: Grid) -> tuple[Tensor, Grid]:
        class_token, x = torch.tensor_split(x, indices=(1,), dim=2)
        x = x.transpose(2, 3)
        b, n, c = x.shape[:3]
        x = x.reshape((b * n, c, *thw)).contiguous()
        x = self.pool(x)
        t, h, w = x.shape[2:]
        x = x.reshape(b, n, c, -1).transpose(2, 3)
        x = torch.cat((class_token, x), dim=2)
        return self.norm_act(x), (t, h, w)


def _interpolate(embedding: Tensor, d: int) -> Tensor:
    if embedding.shape[0] == d:
        return embedding
    return nn.functional.interpolate(embedding.permute(1, 0).unsqueeze(0), size=d, mode="linear").squeeze(0).permute(1, 0)


def _distance(q: int, k: int) -> Tensor:
    q_ratio, k_ratio = max(k / q, 1.0), max(q / k, 1.0)
    return torch.arange(q)[:, None] * q_ratio - (torch.arange(k)[None, :] + (1.0 - k)) * k_ratio


def add_rel_pos(attn: Tensor, q: Tensor, q_thw: Grid, k_thw: Grid, rel_pos_h: Tensor, rel_pos_w: Tensor,
                rel_pos_t: Tensor) -> Tensor:
    """torchvision's _add_rel_pos: decomposed relative position terms (two einsums and a matmul of q with the
    gathered tables, broadcast-added) added to the scores of the grid tokens."""
    q_t, q_h, q_w = q_thw
    k_t, k_h, k_w = k_thw
    rh = _interpolate(rel_pos_h, 2 * max(q_h, k_h) - 1)[_distance(q_h, k_h).long()]
    rw = _interpolate(rel_pos_w, 2 * max(q_w, k_w) - 1)[_distance(q_w, k_w).long()]
    rt = _interpolate(rel_pos_t, 2 * max(q_t, k_t) - 1)[_distance(q_t, k_t).long()]
    b, n_head, _, dim = q.shape
    r_q = q[:, :, 1:].reshape(b, n_head, q_t, q_h, q_w, dim)
    rel_h_q = torch.einsum("bythwc,hkc->bythwk", r_q, rh)
    rel_w_q = torch.einsum("bythwc,wkc->bythwk", r_q, rw)
    r_q = r_q.permute(2, 0, 1, 3, 4, 5).reshape(q_t, b * n_head * q_h * q_w, dim)
    rel_q_t = torch.matmul(r_q, rt.transpose(1, 2)).transpose(0, 1)
    rel_q_t = rel_q_t.view(b, n_head, q_h, q_w, q_t, k_t).permute(0, 1, 4, 2, 3, 5)
    rel_pos = (rel_h_q[:, :, :, :, :, None, :, None] + rel_w_q[:, :, :, :, :, None, None, :]
               + rel_q_t[:, :, :, :, :, :, None, None]).reshape(b, n_head, q_t * q_h * q_w, k_t * k_h * k_w)
    attn[:, :, 1:, 1:] += rel_pos
    return attn


class PoolingAttention(nn.Module):
    """torchvision's MultiscaleAttention on a class token and a T×H×W grid of tokens fixed when built."""

    def __init__(self, grid: Grid, dim: int, out: int, heads: int, kernel_q: Grid, stride_q: Grid, kernel_kv: Grid,
                 stride_kv: Grid, residual_pool: bool, residual_cls: bool, rel_pos: bool, eps: float) -> None:
        super().__init__()
        self.grid = grid
        self.output_dim, self.num_heads = out, heads
        self.head_dim = out // heads
        self.scaler = 1.0 / math.sqrt(self.head_dim)
        self.residual_pool, self.residual_with_cls_embed = residual_pool, residual_cls
        self.qkv = nn.Linear(dim, 3 * out)
        self.project = nn.Sequential(nn.Linear(out, out))
        pool_q = math.prod(kernel_q) > 1 or math.prod(stride_q) > 1
        pool_kv = math.prod(kernel_kv) > 1 or math.prod(stride_kv) > 1
        self.pool_q = Pool(self.head_dim, kernel_q, stride_q, eps) if pool_q else None
        self.pool_k = Pool(self.head_dim, kernel_kv, stride_kv, eps) if pool_kv else None
        self.pool_v = Pool(self.head_dim, kernel_kv, stride_kv, eps) if pool_kv else None
        self.rel_pos_h: nn.Parameter | None = None
        self.rel_pos_w: nn.Parameter | None = None
        self.rel_pos_t: nn.Parameter | None = None
        if rel_pos:
            spatial, temporal = rel_pos_sizes(grid, stride_q, stride_kv)
            self.rel_pos_h = nn.Parameter(torch.zeros(spatial, self.head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(spatial, self.head_dim))
            self.rel_pos_t = nn.Parameter(torch.zeros(temporal, self.head_dim))

    def forward(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        thw = self.grid
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).transpose(1, 3).unbind(dim=2)
        k_thw = thw
        if self.pool_k is not None and self.pool_v is not None:
            k, k_thw = self.pool_k(k, thw)
            v = self.pool_v(v, thw)[0]
        if self.pool_q is not None:
            q, thw = self.pool_q(q, thw)
        attn = torch.matmul(self.scaler * q, k.transpose(2, 3))
        if self.rel_pos_h is not None and self.rel_pos_w is not None and self.rel_pos_t is not None:
            attn = add_rel_pos(attn, q, thw, k_thw, self.rel_pos_h, self.rel_pos_w, self.rel_pos_t)
        attn = attn.softmax(dim=-1)
        x = torch.matmul(attn, v)
        if self.residual_pool:
            if self.residual_with_cls_embed:
                x.add_(q)
            else:
                x[:, :, 1:, :] += q[:, :, 1:, :]
        x = x.transpose(1, 2).reshape(b, -1, self.output_dim)
        return self.project(x)



class PositionalEncoding(nn.Module):
    """torchvision's PositionalEncoding: the class token prepended; with ``pos`` (MViT v1) the position embedding
    repeated from its per-frame rows, plus its per-position rows, the class token's row in front, added in place."""

    def __init__(self, d: int, grid: Grid, pos: bool) -> None:
        super().__init__()
        self.temporal_size, self.spatial_size = grid[0], (grid[1], grid[2])
        self.class_token = nn.Parameter(torch.zeros(d))
        self.spatial_pos: nn.Parameter | None = None
        self.temporal_pos: nn.Parameter | None = None
        self.class_pos: nn.Parameter | None = None
        if pos:
            self.spatial_pos = nn.Parameter(torch.zeros(grid[1] * grid[2], d))
            self.temporal_pos = nn.Parameter(torch.zeros(grid[0], d))
            self.class_pos = nn.Parameter(torch.zeros(d))

    def forward(self, x: Tensor) -> Tensor:
        class_token = self.class_token.expand(x.size(0), -1).unsqueeze(1)
        x = torch.cat((class_token, x), dim=1)
        if self.spatial_pos is not None and self.temporal_pos is not None and self.class_pos is not None:
            hw_size, embed_size = self.spatial_pos.shape
            pos_embedding = torch.repeat_interleave(self.temporal_pos, hw_size, dim=0)
            pos_embedding.add_(self.spatial_pos.unsqueeze(0).expand(self.temporal_size, -1, -1).reshape(-1, embed_size))
            pos_embedding = torch.cat((self.class_pos.unsqueeze(0), pos_embedding), dim=0).unsqueeze(0)
            x.add_(pos_embedding)
        return x


class SkipPool(nn.Module):
    """torchvision's Pool of an nn.MaxPool3d (MultiscaleBlock's pool_skip) on [B, N, D] tokens: unsqueezed to one
    "head", the class token split off, the grid tokens as a D×T×H×W map, max-pooled, the class token put back."""

    def __init__(self, grid: Grid, kernel: Grid, stride: Grid, padding: Grid) -> None:
        super().__init__()
        self.grid = grid
        self.pool = nn.MaxPool3d(kernel, stride=stride, padding=padding)

    def forward(self, x: Tensor) -> Tensor:
        x = x.unsqueeze(1)
        class_token, x = torch.tensor_split(x, indices=(1,), dim=2)
        x = x.transpose(2, 3)
        b, n, c = x.shape[:3]
        x = x.reshape((b * n, c, *self.grid)).contiguous()
        x = self.pool(x)
        x = x.reshape(b, n, c, -1).transpose(2, 3)
        return torch.cat((class_token, x), dim=2).squeeze(1)
