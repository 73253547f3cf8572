"""torch module for video Swin's window attention (ops/windows.py, window_attention_3d), mirroring torchvision's
video/swin_transformer.py (ShiftedWindowAttention3d, shifted_window_attention_3d) call for call, so that counters see
what they see on torchvision's swin3d_t/s/b. Imported only when a graph is built in torch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def relative_position_index_3d(window: tuple[int, int, int]) -> Tensor:
    """[(wt·wh·ww), (wt·wh·ww)]: for each pair of tokens of a window, the row of their (dt, dy, dx) offset in the
    (2wt − 1)·(2wh − 1)·(2ww − 1) table (not flattened: torchvision slices its corner for a smaller window)."""
    wt, wh, ww = window
    ts, ys, xs = (c.flatten() for c in torch.meshgrid(torch.arange(wt), torch.arange(wh), torch.arange(ww), indexing="ij"))
    dt = ts[:, None] - ts[None, :] + wt - 1  # 0 … 2wt − 2
    dy = ys[:, None] - ys[None, :] + wh - 1
    dx = xs[:, None] - xs[None, :] + ww - 1
    return (dt * (2 * wh - 1) + dy) * (2 * ww - 1) + dx


def shift_mask_3d(padded: tuple[int, int, int], window: list[int], shift: list[int], like: Tensor) -> Tensor:
    """[nW, Nw, Nw]: -100 where two tokens of a shifted window come from different regions of the rolled grid, else 0
    (torchvision's _compute_attention_mask_3d: along an unshifted dim the last region, [0:], covers the whole dim)."""
    region = like.new_zeros(*padded)
    label = 0
    spans = [((0, -w), (-w, -s), (-s, None)) for w, s in zip(window, shift)]
    for d in spans[0]:
        for h in spans[1]:
            for w in spans[2]:
                region[d[0]:d[1], h[0]:h[1], w[0]:w[1]] = label
                label += 1
    tp, hp, wp = padded
    wt, wh, ww = window
    region = region.view(tp // wt, wt, hp // wh, wh, wp // ww, ww).permute(0, 2, 4, 1, 3, 5)
    region = region.reshape(-1, wt * wh * ww)
    differ = region.unsqueeze(1) - region.unsqueeze(2)
    return differ.masked_fill(differ != 0, -100.0).masked_fill(differ == 0, 0.0)


def shifted_window_attention_3d(x: Tensor, qkv_weight: Tensor, proj_weight: Tensor, bias: Tensor, window: list[int],
                                heads: int, shift: list[int], qkv_bias: Tensor | None, proj_bias: Tensor | None) -> Tensor:
    """torchvision's shifted_window_attention_3d (eval: its dropouts are no-ops): the grid padded to whole windows at
    the end of each dim, rolled by −shift, cut into windows moved into the batch dim, attention, and back."""
    b, t, h, w, c = x.shape
    pad = [(k - n % k) % k for n, k in zip((t, h, w), window)]
    x = F.pad(x, (0, 0, 0, pad[2], 0, pad[1], 0, pad[0]))
    _, tp, hp, wp, _ = x.shape
    if sum(shift) > 0:
        x = torch.roll(x, shifts=(-shift[0], -shift[1], -shift[2]), dims=(1, 2, 3))
    wt, wh, ww = window
    windows = (tp // wt) * (hp // wh) * (wp // ww)
    x = x.view(b, tp // wt, wt, hp // wh, wh, wp // ww, ww, c)
    x = x.permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(b * windows, wt * wh * ww, c)
    qkv = F.linear(x, qkv_weight, qkv_bias).reshape(x.size(0), x.size(1), 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    q = q * (c // heads) ** -0.5
    attn = q.matmul(k.transpose(-2, -1))
    attn = attn + bias
    if sum(shift) > 0:
        mask = shift_mask_3d((tp, hp, wp), window, shift, x)
        attn = attn.view(x.size(0) // windows, windows, heads, x.size(1), x.size(1))
        attn = attn + mask.unsqueeze(1).unsqueeze(0)
        attn = attn.view(-1, heads, x.size(1), x.size(1))
    attn = F.softmax(attn, dim=-1)
    x = attn.matmul(v).transpose(1, 2).reshape(x.size(0), x.size(1), c)
    x = F.linear(x, proj_weight, proj_bias)
    x = x.view(b, tp // wt, hp // wh, wp // ww, wt, wh, ww, c)
    x = x.permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(b, tp, hp, wp, c)
    if sum(shift) > 0:
        x = torch.roll(x, shifts=(shift[0], shift[1], shift[2]), dims=(1, 2, 3))
    return x[:, :t, :h, :w, :].contiguous()


class ShiftedWindowAttention3d(nn.Module):
    """Video Swin's (shifted) 3-D window attention with torchvision's layout and calls: qkv and proj nn.Linear whose
    weights go to F.linear (the modules themselves are never called), a relative position bias table of the window as
    given and its [Nw, Nw] index buffer; in the forward, along a dim no larger than the window, the window shrinks to
    the grid, unshifted, and the bias is gathered from the index's top-left corner (as torchvision's)."""

    def __init__(self, dim: int, window: tuple[int, int, int], shift: tuple[int, int, int], heads: int,
                 qkv_bias: bool = True, proj_bias: bool = True) -> None:
        super().__init__()
        self.window_size, self.shift_size, self.num_heads = list(window), list(shift), heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        rows = (2 * window[0] - 1) * (2 * window[1] - 1) * (2 * window[2] - 1)
        self.relative_position_bias_table = nn.Parameter(torch.empty(rows, heads).normal_(std=0.02))
        self.register_buffer("relative_position_index", relative_position_index_3d(window))

    def forward(self, x: Tensor) -> Tensor:
        window, shift = list(self.window_size), list(self.shift_size)
        for i, n in enumerate(x.shape[1:4]):
            if n <= window[i]:  # one window of the whole dim: nothing to shift
                window[i], shift[i] = n, 0
        n = window[0] * window[1] * window[2]
        bias = self.relative_position_bias_table[self.relative_position_index[:n, :n].flatten()]
        bias = bias.view(n, n, -1).permute(2, 0, 1).contiguous().unsqueeze(0)
        return shifted_window_attention_3d(x, self.qkv.weight, self.proj.weight, bias, window, self.num_heads, shift,
                                           self.qkv.bias, self.proj.bias)
