"""torch modules for the token ops (imported only when a graph is built in torch, like crosscheck/torch_build.py).

Written to mirror torchvision's vision_transformer.py and swin_transformer.py, so that counters see
what they see on torchvision's models.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def tokens_to_map(x: Tensor, h: int, w: int) -> Tensor:
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], h, w)


class PatchEmbed(nn.Module):
    """A p×p conv with stride p, its map flattened to tokens (torchvision ViT's conv_proj and _process_input)."""

    def __init__(self, conv: nn.Conv2d, grid: bool = False) -> None:
        super().__init__()
        self.conv, self.grid = conv, grid

    def forward(self, x: Tensor) -> Tensor:
        if self.grid:  # Swin: Conv2d then Permute([0, 2, 3, 1]), a [B, H, W, D] token grid
            return self.conv(x).permute(0, 2, 3, 1)
        return self.conv(x).flatten(2).transpose(1, 2)


class ClassToken(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.class_token = nn.Parameter(torch.zeros(1, 1, d))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)


class PosEmbed(nn.Module):
    def __init__(self, dims: tuple[int, ...]) -> None:  # (N, D), or (H, W, D) for a token grid
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, *dims).normal_(std=0.02))

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


class SdpaAttention(ExplicitAttention):
    """timm's Attention on its fused path (timm/layers/attention.py, fused_attn): qkv, one
    F.scaled_dot_product_attention of q, k and v [B, heads, N, head_dim] (the scale its default 1/√head_dim), proj."""

    def forward(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, self.heads * self.head_dim))


# ---- Swin (torchvision's swin_transformer.py): token grids [B, H, W, C] ----------------------------
class ShiftedWindowAttention(nn.Module):
    """Swin's (shifted) window attention with torchvision's layout and calls: qkv and proj nn.Linear whose
    weights go to F.linear (the modules themselves are never called), a relative position bias table
    and its index buffer, q·kᵀ and a·v with tensor.matmul, F.softmax."""

    def __init__(self, dim: int, window: tuple[int, int], shift: tuple[int, int], heads: int, qkv_bias: bool = True,
                 proj_bias: bool = True, einsum: bool = False, mask_grid: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.window_size, self.shift_size, self.num_heads = list(window), list(shift), heads
        self.einsum = einsum  # q·kᵀ and a·v with torch.einsum, as MaxViT's attention
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        wh, ww = window
        self.relative_position_bias_table = nn.Parameter(torch.empty((2 * wh - 1) * (2 * ww - 1), heads).normal_(std=0.02))
        ys, xs = torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij")
        ys, xs = ys.flatten(), xs.flatten()  # the (row, column) of each of the wh·ww tokens of a window
        dy = ys[:, None] - ys[None, :] + wh - 1  # 0 … 2wh − 2
        dx = xs[:, None] - xs[None, :] + ww - 1
        self.register_buffer("relative_position_index", (dy * (2 * ww - 1) + dx).flatten())
        # `mask_buffer` (timm's SwinTransformerBlock.attn_mask): the shift mask of the padded grid, made once
        mask = None
        if mask_grid is not None:  # the shift the forward applies: none along a dim of one window
            shifted = [0 if k >= p else s for k, p, s in zip(window, mask_grid, shift)]
            mask = _shift_mask(*mask_grid, list(window), shifted, self.relative_position_bias_table.detach())
        self.register_buffer("attn_mask", mask)

    def forward(self, x: Tensor) -> Tensor:
        n = self.window_size[0] * self.window_size[1]
        bias = self.relative_position_bias_table[self.relative_position_index].view(n, n, -1).permute(2, 0, 1)
        return shifted_window_attention(x, self.qkv.weight, self.proj.weight, bias.contiguous().unsqueeze(0),
                                        self.window_size, self.num_heads, self.shift_size, self.qkv.bias, self.proj.bias,
                                        self.einsum, mask=self.attn_mask)


def _shift_mask(hp: int, wp: int, window: list[int], shift: list[int], like: Tensor) -> Tensor:
    """-100 where two tokens of a shifted window come from different regions of the rolled map, else 0."""
    region = like.new_zeros((hp, wp))
    label = 0
    for rows in (slice(0, -window[0]), slice(-window[0], -shift[0]), slice(-shift[0], None)):
        for cols in (slice(0, -window[1]), slice(-window[1], -shift[1]), slice(-shift[1], None)):
            region[rows, cols] = label
            label += 1
    region = region.view(hp // window[0], window[0], wp // window[1], window[1]).permute(0, 2, 1, 3)
    region = region.reshape(-1, window[0] * window[1])
    differ = region.unsqueeze(1) - region.unsqueeze(2)
    return differ.masked_fill(differ != 0, -100.0).masked_fill(differ == 0, 0.0)


def shifted_window_attention(x: Tensor, qkv_weight: Tensor, proj_weight: Tensor, bias: Tensor, window: list[int],
                             heads: int, shift: list[int], qkv_bias: Tensor | None, proj_bias: Tensor | None,
                             einsum: bool = False, logit_scale: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
    """torchvision's shifted_window_attention; with ``logit_scale`` (Swin v2, modules/swin_v2.py) cosine attention: the
    k third of the qkv bias zeroed (on a clone), q and k L2-normalised, q·kᵀ with ``@``, times exp(min(logit_scale,
    log 100)), and no 1/√d scale. ``mask``: the shift mask made once (a buffer), else built here."""
    b, h, w, c = x.shape
    wh, ww = window
    x = F.pad(x, (0, 0, 0, (ww - w % ww) % ww, 0, (wh - h % wh) % wh))  # bottom and right, to whole windows
    hp, wp = x.shape[1], x.shape[2]
    shift = [0 if wh >= hp else shift[0], 0 if ww >= wp else shift[1]]  # one window along a dim: no shift
    if sum(shift) > 0:
        x = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(1, 2))
    windows = (hp // wh) * (wp // ww)
    x = x.view(b, hp // wh, wh, wp // ww, ww, c).permute(0, 1, 3, 2, 4, 5).reshape(b * windows, wh * ww, c)
    if logit_scale is not None and qkv_bias is not None:
        qkv_bias = qkv_bias.clone()
        qkv_bias[c : 2 * c].zero_()
    qkv = F.linear(x, qkv_weight, qkv_bias).reshape(x.size(0), x.size(1), 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    if logit_scale is not None:  # cosine attention
        attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
        attn = attn * torch.clamp(logit_scale, max=math.log(100.0)).exp()
    elif einsum:  # MaxViT's RelativePositionalMultiHeadAttention: torch.einsum (ops/windows.py: QK_EINSUM, AV_EINSUM)
        attn = torch.einsum("bhid,bhjd->bhij", q * (c // heads) ** -0.5, k)
    else:
        attn = (q * (c // heads) ** -0.5).matmul(k.transpose(-2, -1))
    attn = attn + bias
    if sum(shift) > 0:
        mask = _shift_mask(hp, wp, window, shift, x) if mask is None else mask
        attn = attn.view(b, windows, heads, wh * ww, wh * ww) + mask.unsqueeze(1).unsqueeze(0)
        attn = attn.view(-1, heads, wh * ww, wh * ww)
    attn = F.softmax(attn, dim=-1)
    heads_out = torch.einsum("bhij,bhjd->bhid", attn, v) if einsum else attn.matmul(v)
    x = heads_out.transpose(1, 2).reshape(x.size(0), x.size(1), c)
    x = F.linear(x, proj_weight, proj_bias)
    x = x.view(b, hp // wh, wp // ww, wh, ww, c).permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, c)
    if sum(shift) > 0:
        x = torch.roll(x, shifts=(shift[0], shift[1]), dims=(1, 2))
    return x[:, :h, :w, :].contiguous()


class PatchMerging(nn.Module):
    """Swin's patch merging: the four tokens of each 2×2 neighbourhood side by side (4C; odd H or W padded by
    one), LayerNorm(4C), Linear(4C → 2C, no bias); torchvision's norm and reduction modules."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim, eps=eps)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-3], x.shape[-2]
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[..., 0::2, 0::2, :], x[..., 1::2, 0::2, :], x[..., 0::2, 1::2, :], x[..., 1::2, 1::2, :]], -1)
        return self.reduction(self.norm(x))
