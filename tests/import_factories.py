"""Factories for `convcost import` tests besides reference_factories.py: a small CNN written with functional ops,
the U-Net of reference_modern.py, a mean-pooled ViT, models with parts convcost cannot express (attention called in
ways convcost's `attention` is not among them), ones fx cannot trace, YOLOv8's C2f and channel shuffles in their
torch spellings."""

from __future__ import annotations

from collections import OrderedDict
from functools import partial

import reference_modern
import reference_tokens
import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SmallCNN(nn.Module):
    """Functional ops between modules: F.relu, torch.cat, a squeeze-excite product, x.mean([2, 3]), view to flat."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, 2, 1)
        self.a = nn.Conv2d(16, 8, 1)
        self.b = nn.Conv2d(16, 8, 3, padding=1, bias=False)
        self.gn = nn.GroupNorm(4, 16)
        self.gate = nn.Conv2d(16, 16, 1)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.fc = nn.Linear(16, 10)
        self.head = nn.Linear(16, 10)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.stem(x))
        y = torch.cat([self.a(x), self.b(x)], 1)
        y = self.gn(y) + x
        y = y * torch.sigmoid(self.gate(y.mean([2, 3], keepdim=True)))
        y = self.up(y)
        flat = y.mean([2, 3])
        return self.fc(flat) + self.head(flat.view(flat.size(0), -1))


def small_cnn() -> nn.Module:
    return SmallCNN()


def unet() -> nn.Module:
    return reference_modern.UNet(widths=(16, 32, 64))


class WithLSTM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 8, 3, padding=1)
        self.rnn = nn.LSTM(8, 8, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        y, _ = self.rnn(self.conv(x).transpose(1, 2))
        return y


def with_lstm() -> nn.Module:
    return WithLSTM()


class Cumulative(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return torch.cumsum(x, dim=1)


def with_custom_op() -> nn.Module:
    """conv, a running sum over the channels (torch.cumsum, shape-preserving: no convcost op), conv."""
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), Cumulative(), nn.Conv2d(8, 4, 1))


class Untraceable(nn.Module):
    """A forward with Python control flow on a tensor's value: fx cannot trace it; the eager aten recording can."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x: Tensor) -> Tensor:
        y = self.body(x)
        if y.sum() > -1e30:  # always true, but on a value
            y = self.pool(y)
        return self.fc(y.flatten(1))


def untraceable() -> nn.Module:
    return Untraceable()


class MeanPooledViT(nn.Module):
    """A ViT without a class token, written the other common way: view(B, C, -1).permute(0, 2, 1) into tokens,
    a position embedding added first (pos + x), one encoder block (attention without biases), the tokens' mean
    (x.mean(dim=1)) to the head."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 32, 4, 4)
        self.pos = nn.Parameter(torch.zeros(1, 16, 32))
        self.block = reference_tokens.EncoderBlock(4, 32, 64)
        self.block.self_attention = nn.MultiheadAttention(32, 4, bias=False, batch_first=True)  # no projection biases
        self.norm = nn.LayerNorm(32)
        self.fc = nn.Linear(32, 5)

    def forward(self, x: Tensor) -> Tensor:
        x = self.patch(x)
        x = self.pos + x.view(x.size(0), x.size(1), -1).permute(0, 2, 1)
        return self.fc(self.norm(self.block(x)).mean(dim=1))


def mean_pooled_vit() -> nn.Module:
    return MeanPooledViT()


class Attending(nn.Module):
    """Tokens into one nn.MultiheadAttention called as `how` says: 'seq_first' (batch_first=False), 'cross'
    (keys and values from a projection of the queries), 'masked' (a causal attn_mask), 'kdim' (keys of another width)."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.kv = nn.Linear(16, 8 if how == "kdim" else 16)
        kdim = {"kdim": 8, "vdim": 8} if how == "kdim" else {}
        self.attn = nn.MultiheadAttention(16, 2, batch_first=how != "seq_first", **kdim)  # type: ignore[arg-type]

    def forward(self, x: Tensor) -> Tensor:
        t = x.flatten(2).transpose(1, 2)
        if self.how in ("cross", "kdim"):
            kv = self.kv(t)
            return self.attn(t, kv, kv, need_weights=False)[0]
        if self.how == "masked":
            return self.attn(t, t, t, need_weights=False, attn_mask=torch.ones(16, 16, dtype=torch.bool).triu(1))[0]
        return self.attn(t, t, t, need_weights=False)[0]


def attending(how: str = "seq_first") -> nn.Module:
    return Attending(how)


class Rows(nn.Module):
    """A map's rows [B, C, H·W] or tokens turned back to [B, D, N], each read by a Conv1d: neither is tokens nor a map
    convcost has ('rows': conv → flatten(2) → Conv1d; 'back': conv → tokens → Linear → transpose(1, 2) → Conv1d)."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(3, 8, 2, 2)
        self.fc = nn.Linear(8, 8)
        self.mix = nn.Conv1d(8, 4, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        rows = self.conv(x).flatten(2)
        if self.how == "back":
            rows = self.fc(rows.transpose(1, 2)).transpose(1, 2)
        return self.mix(rows)


def rows(how: str = "rows") -> nn.Module:
    return Rows(how)


# ---- torchvision's vision_transformer.py, condensed (torchvision is not installable here) -----------------
class MLPBlock(nn.Sequential):
    """torchvision's MLPBlock (an nn.Sequential: Linear, GELU, Dropout, Linear, Dropout)."""

    def __init__(self, dim: int, mlp: int, dropout: float) -> None:
        super().__init__(nn.Linear(dim, mlp), nn.GELU(), nn.Dropout(dropout), nn.Linear(mlp, dim), nn.Dropout(dropout))


class TorchvisionEncoderBlock(nn.Module):
    def __init__(self, heads: int, dim: int, mlp: int, dropout: float = 0.0, attention_dropout: float = 0.0) -> None:
        super().__init__()
        norm = partial(nn.LayerNorm, eps=1e-6)
        self.ln_1 = norm(dim)
        self.self_attention = nn.MultiheadAttention(dim, heads, dropout=attention_dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.ln_2 = norm(dim)
        self.mlp = MLPBlock(dim, mlp, dropout)

    def forward(self, input: Tensor) -> Tensor:
        torch._assert(input.dim() == 3, f"Expected (batch_size, seq_length, hidden_dim) got {input.shape}")
        x = self.ln_1(input)
        x, _ = self.self_attention(x, x, x, need_weights=False)
        x = self.dropout(x)
        x = x + input
        y = self.ln_2(x)
        y = self.mlp(y)
        return x + y


class Encoder(nn.Module):
    def __init__(self, seq: int, layers: int, heads: int, dim: int, mlp: int) -> None:
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, seq, dim).normal_(std=0.02))
        self.dropout = nn.Dropout(0.0)
        blocks = ((f"encoder_layer_{i}", TorchvisionEncoderBlock(heads, dim, mlp)) for i in range(layers))
        self.layers = nn.Sequential(OrderedDict(blocks))
        self.ln = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, input: Tensor) -> Tensor:
        torch._assert(input.dim() == 3, f"Expected (batch_size, seq_length, hidden_dim) got {input.shape}")
        input = input + self.pos_embedding
        return self.ln(self.layers(self.dropout(input)))


class VisionTransformer(nn.Module):
    """torchvision's VisionTransformer as it runs in eval: reshape(n, D, h·w).permute(0, 2, 1) into tokens, the
    class token cat'ed in front, encoder.pos_embedding added, torch._assert on shapes, x[:, 0] to heads.head."""

    def __init__(self, image_size: int, patch_size: int, num_layers: int, num_heads: int, hidden_dim: int,
                 mlp_dim: int, num_classes: int = 1000) -> None:
        super().__init__()
        self.image_size, self.patch_size, self.hidden_dim = image_size, patch_size, hidden_dim
        self.conv_proj = nn.Conv2d(3, hidden_dim, patch_size, patch_size)
        seq = (image_size // patch_size) ** 2 + 1
        self.class_token = nn.Parameter(torch.zeros(1, 1, hidden_dim))
        self.encoder = Encoder(seq, num_layers, num_heads, hidden_dim, mlp_dim)
        self.heads = nn.Sequential(OrderedDict([("head", nn.Linear(hidden_dim, num_classes))]))

    def _process_input(self, x: Tensor) -> Tensor:
        n, _, h, w = x.shape
        p = self.patch_size
        torch._assert(h == self.image_size, f"Wrong image height! Expected {self.image_size} but got {h}!")
        n_h, n_w = h // p, w // p
        x = self.conv_proj(x)
        x = x.reshape(n, self.hidden_dim, n_h * n_w)
        return x.permute(0, 2, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self._process_input(x)
        n = x.shape[0]
        batch_class_token = self.class_token.expand(n, -1, -1)
        x = torch.cat([batch_class_token, x], dim=1)
        x = self.encoder(x)
        x = x[:, 0]
        return self.heads(x)


def torchvision_vit(image: int = 224, patch: int = 16, layers: int = 12, heads: int = 12, dim: int = 768,
                    mlp: int = 3072) -> nn.Module:
    return VisionTransformer(image, patch, layers, heads, dim, mlp)


# ---- timm's vision_transformer.py, condensed: its Attention on the fused path (timm's default, use_fused_attn()) ----
class TimmAttention(nn.Module):
    """timm/layers/attention.py's Attention as it runs by default: qkv nn.Linear, reshape(B, N, 3, H, d).permute(2, 0, 3,
    1, 4).unbind(0), F.scaled_dot_product_attention(q, k, v), transpose(1, 2).reshape(B, N, H·d), proj nn.Linear."""

    def __init__(self, dim: int, heads: int, qkv_bias: bool) -> None:
        super().__init__()
        self.num_heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(0.0)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(0.0)

    def forward(self, x: Tensor) -> Tensor:
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop.p if self.training else 0.0)
        x = x.transpose(1, 2).reshape(B, N, C)
        return self.proj_drop(self.proj(x))


class TimmBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp: int, qkv_bias: bool) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = TimmAttention(dim, heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(OrderedDict(fc1=nn.Linear(dim, mlp), act=nn.GELU(), fc2=nn.Linear(mlp, dim)))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TimmViT(nn.Module):
    """timm's VisionTransformer in eval: a patch conv flatten(2).transpose(1, 2), the class token cat'ed in front,
    pos_embed added, the blocks, norm, the class token's row to the head."""

    def __init__(self, image: int, patch: int, layers: int, heads: int, dim: int, mlp: int, qkv_bias: bool) -> None:
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, (image // patch) ** 2 + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*(TimmBlock(dim, heads, mlp, qkv_bias) for _ in range(layers)))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, 10)

    def forward(self, x: Tensor) -> Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.head(self.norm(self.blocks(x))[:, 0])


def timm_vit(image: int = 32, patch: int = 8, layers: int = 2, heads: int = 2, dim: int = 64, mlp: int = 128,
             qkv_bias: bool = True) -> nn.Module:
    return TimmViT(image, patch, layers, heads, dim, mlp, qkv_bias)


class ShapeBranch(nn.Module):
    """Python control flow on a shape: fx cannot trace it (forward hooks), the meta device can run it. ``scaled``:
    the flat vector the fc reads is computed (``* 2``), not a view of the pool's output."""

    def __init__(self, scaled: bool = False) -> None:
        super().__init__()
        self.scaled = scaled
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(8 * 4 * 4, 5)

    def forward(self, x: Tensor) -> Tensor:
        y = self.body(x)
        if y.shape[-1] > 4:
            y = self.pool(y)
        flat = y.flatten(1)
        return self.fc(flat * 2 if self.scaled else flat)


def shape_branch(scaled: bool = False) -> nn.Module:
    return ShapeBranch(scaled)


# ---- ConvNeXt (reference_modern.py) and variants of its block ----------------------------------------------
def small_convnext(width: int = 8) -> nn.Module:
    """reference_modern's ConvNeXt (torchvision's layout) with two stages of two blocks (input 3×32×32)."""
    return reference_modern.convnext([(width, 2 * width, 2), (2 * width, None, 2)], num_classes=10)


def stochastic_depth(input: Tensor, p: float, mode: str, training: bool = True) -> Tensor:
    """torchvision.ops.stochastic_depth (condensed): the identity in eval, else rows dropped at random."""
    if not training or p == 0.0:
        return input
    keep = torch.empty([input.shape[0]] + [1] * (input.ndim - 1), dtype=input.dtype).bernoulli_(1.0 - p)
    return input * keep.div_(1.0 - p)


torch.fx.wrap("stochastic_depth")  # as torchvision does: one fx node, not traced into


class StochasticDepth(nn.Module):
    def __init__(self, p: float, mode: str, always: bool = False) -> None:
        super().__init__()
        self.p, self.mode, self.always = p, mode, always

    def forward(self, x: Tensor) -> Tensor:
        return stochastic_depth(x, self.p, self.mode, self.training or self.always)


class CNBlockVariant(nn.Module):
    """ConvNeXt's block written other ways than reference_modern's CNBlock (on a 2-D map unless said):

    - 'torchvision': torchvision's exact CNBlock forward: StochasticDepth (an fx-wrapped function) and ``result += x``;
    - 'functional': ``x.permute`` in the forward, nn.Dropout and F.gelu in the run, ``torch.permute(y, (0, -1, 1, 2))``
      back, ``x.mul(self.layer_scale)``;
    - '3d': on a 3-D map (Conv3d, permute(0, 2, 3, 4, 1) and back);
    - 'two_back': the run forks and is permuted back twice (two linears, added after);
    - unsupported: 'open' (a channels-last mean over H, W: not at each position), 'inner_add' (a residual add of two
      channels-last tensors inside the run), 'training' (stochastic depth called with training=True).
    """

    def __init__(self, dim: int, how: str) -> None:
        super().__init__()
        self.how = how
        three = how == "3d"
        self.dwconv = (nn.Conv3d if three else nn.Conv2d)(dim, dim, 7 if not three else 3, padding=3 if not three else 1,
                                                          groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.drop = nn.Dropout(0.1)
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.other = nn.Linear(4 * dim, dim) if how == "two_back" else None
        self.layer_scale = nn.Parameter(torch.full((dim, 1, 1, 1) if three else (dim, 1, 1), 1e-6))
        self.stochastic_depth = StochasticDepth(0.1, "row", always=how == "training")

    def forward(self, x: Tensor) -> Tensor:
        last = (0, 2, 3, 4, 1) if self.how == "3d" else (0, 2, 3, 1)
        first = (0, 4, 1, 2, 3) if self.how == "3d" else (0, -1, 1, 2) if self.how == "functional" else (0, 3, 1, 2)
        y0 = self.dwconv(x).permute(*last)
        if self.how == "open":
            return x + y0.mean([1, 2], keepdim=True).permute(*first)
        y = self.drop(F.gelu(self.pwconv1(self.norm(y0))))
        if self.other is not None:
            y = torch.permute(self.pwconv2(y), first) + torch.permute(self.other(y), first)
        elif self.how == "inner_add":
            y = torch.permute(self.pwconv2(y) + y0, first)
        else:
            y = torch.permute(self.pwconv2(y), first)
        if self.how == "functional":
            return y.mul(self.layer_scale) + x
        result = self.layer_scale * y
        result = self.stochastic_depth(result)
        result += x
        return result


def convnext_variant(how: str = "torchvision") -> nn.Module:
    """A stem conv, two of the block (a stage: nn.Sequential), a pooled linear head."""
    three = how == "3d"
    dim = 8
    return nn.Sequential(
        (nn.Conv3d if three else nn.Conv2d)(3, dim, 2, 2),
        nn.Sequential(CNBlockVariant(dim, how), CNBlockVariant(dim, how)),
        (nn.AdaptiveAvgPool3d if three else nn.AdaptiveAvgPool2d)(1), nn.Flatten(1), nn.Linear(dim, 10),
    )


class LayerNorm2dWith(reference_modern.LayerNorm2d):
    """LayerNorm2d holding more than F.layer_norm reads ('buffer': a buffer of its own): not convcost's layernorm."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim, eps=1e-6)
        self.register_buffer("extra", torch.zeros(dim))


def layernorm2d_with_buffer() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 2, 2), LayerNorm2dWith(8))


# ---- YOLOv8's C2f (ultralytics nn/modules/block.py, conv.py): channel slices of one conv's output --------------------
class Conv(nn.Module):
    """ultralytics' Conv: Conv2d without bias, BatchNorm2d, SiLU."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2)
        self.act = nn.SiLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    """ultralytics' Bottleneck: two 3×3 Convs, the input added back when ``shortcut`` and the widths agree."""

    def __init__(self, c1: int, c2: int, shortcut: bool = True) -> None:
        super().__init__()
        self.cv1 = Conv(c1, c2, 3)
        self.cv2 = Conv(c2, c2, 3)
        self.add = shortcut and c1 == c2

    def forward(self, x: Tensor) -> Tensor:
        return x + self.cv2(self.cv1(x)) if self.add else self.cv2(self.cv1(x))


class C2f(nn.Module):
    """ultralytics' C2f: cv1's output in two halves, each bottleneck reading the last part, all concatenated.
    ``how``: ``chunk`` is ultralytics' forward (``list(cv1(x).chunk(2, 1))``), ``split`` its forward_split
    (``cv1(x).split((c, c), 1)``), ``torch_split`` ``a, b = torch.split(y, c, dim=1)``, ``torch_chunk``
    ``list(torch.chunk(y, 2, dim=1))``, ``uneven`` ``y.split((c // 2, 3 * c // 2), 1)`` (the bottlenecks read the
    wider part: its width shows in their params)."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = False, how: str = "chunk") -> None:
        super().__init__()
        self.c, self.how = c2 // 2, how
        self.cv1 = Conv(c1, 2 * self.c, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        wide = 3 * self.c // 2 if how == "uneven" else self.c
        self.m = nn.ModuleList(Bottleneck(wide if i == 0 else self.c, self.c, shortcut) for i in range(n))

    def forward(self, x: Tensor) -> Tensor:
        y = self.cv1(x)
        if self.how == "chunk":
            parts = list(y.chunk(2, 1))
        elif self.how == "split":
            halves = y.split((self.c, self.c), 1)
            parts = [halves[0], halves[1]]
        elif self.how == "torch_split":
            a, b = torch.split(y, self.c, dim=1)
            parts = [a, b]
        elif self.how == "torch_chunk":
            parts = list(torch.chunk(y, 2, dim=1))
        else:
            parts = list(y.split((self.c // 2, 3 * self.c // 2), 1))
        parts.extend(m(parts[-1]) for m in self.m)
        return self.cv2(torch.cat(parts, 1))


def c2f(how: str = "chunk") -> nn.Module:
    """A YOLOv8-like stem: Conv, C2f with 2 residual bottlenecks, a strided Conv, C2f with 1 plain one."""
    return nn.Sequential(Conv(3, 16, 3, 2), C2f(16, 32, 2, shortcut=True, how=how), Conv(32, 64, 3, 2), C2f(64, 64, 1, how=how))


# ---- channel shuffles and slices in torch's spellings ---------------------------------------------------------------
class Shuffled(nn.Module):
    """conv, a channel shuffle of 3 groups of 24 channels written ``how``, conv. Spellings convcost reads:
    ``view`` (torchvision's), ``reshape``, ``torch_transpose``, ``permute``, ``unflatten`` (unflatten and flatten(1, 2)),
    and slices: ``thirds``, x.chunk(3, 1) concatenated in another order, ``second_half``, ``_, x = x.chunk(2, 1)``;
    ones it cannot: ``spatial`` (the groups swapped with the rows), ``not_back`` (not merged back into channels),
    ``dim2`` (x.chunk(2, dim=2)), ``together`` (torch.cat(x.chunk(2, 1), 1): the parts used as one)."""

    def __init__(self, how: str = "view") -> None:
        super().__init__()
        self.how = how
        self.a = nn.Conv2d(3, 24, 3, padding=1)
        self.b = nn.Conv2d({"not_back": 8, "second_half": 12}.get(how, 24), 8, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.a(x)
        n, c, h, w = x.size()
        g, how = 3, self.how
        if how == "view":
            x = x.view(n, g, c // g, h, w).transpose(1, 2).contiguous().view(n, -1, h, w)
        elif how == "reshape":
            x = x.reshape(n, g, -1, h, w).transpose(2, 1).reshape(n, c, h, w)
        elif how == "torch_transpose":
            x = torch.transpose(x.view(n, g, c // g, h, w), 1, 2).contiguous().view(n, c, h, w)
        elif how == "permute":
            x = x.view(n, g, c // g, h, w).permute(0, 2, 1, 3, 4).contiguous().view(n, c, h, w)
        elif how == "unflatten":
            x = x.unflatten(1, (g, c // g)).transpose(1, 2).flatten(1, 2)
        elif how == "thirds":  # not a shuffle: x.chunk(3, 1), the parts concatenated in another order
            a, b, c3 = x.chunk(3, 1)
            x = torch.cat([c3, a, b], 1)
        elif how == "second_half":  # the first part never used
            _, x = x.chunk(2, 1)
        elif how == "spatial":
            x = x.view(n, g, c // g, h, w).transpose(1, 3).contiguous().view(n, c, h, w)
        elif how == "not_back":
            x = x.view(n, g, c // g, h, w).transpose(1, 2).reshape(n, c // g, g * h, w)  # 8 channels of 24×8
        elif how == "dim2":
            top, bottom = x.chunk(2, dim=2)
            x = top + bottom
        elif how == "together":
            x = torch.cat(x.chunk(2, 1), 1)
        return self.b(x)


def shuffled(how: str = "view") -> nn.Module:
    return Shuffled(how)


class MaxPooled(nn.Module):
    """conv, a max pool of |x| to 1×1 (an LP pool of norm_type=inf: no convcost op), flatten, Linear: issue 19's
    unsupported pool (it was nn.AdaptiveMaxPool2d(1), which convcost now imports as `adaptive_maxpool`)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.pool = nn.LPPool2d(float("inf"), 8)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.conv(x)).flatten(1))


def max_pooled() -> nn.Module:
    return MaxPooled()


class Anchored(nn.Module):
    """YOLO's box decoding in small: anchor points made in the forward from the map's size (held by no module), the
    distances subtracted from and added to them, their difference, times a stride tensor made alike."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: Tensor) -> Tensor:
        d = self.conv(x).flatten(2)  # [B, 4, H·W]
        h, w = x.shape[2:]
        ys, xs = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
        anchors = torch.stack((xs, ys)).flatten(1).to(x.dtype) + 0.5  # [2, H·W]
        lt, rb = d.chunk(2, 1)
        x1y1, x2y2 = anchors - lt, anchors + rb
        strides = torch.full((1, h * w), 8.0, device=x.device)
        return torch.cat((x2y2 - x1y1, x1y1), 1) * strides


def anchored() -> nn.Module:
    return Anchored()


class RelativeBias(nn.Module):
    """Scores plus a relative position bias gathered in the forward from a learned table by a fixed index buffer
    (torchvision's MaxViT, timm's EfficientFormer): table [9, 2] (2 heads), index [4·4] over a 4×4 map. ``cached``: as
    timm's LeViT and EfficientFormer, in eval the gathered bias is kept in a plain dict by device after the first
    forward (the second reads it from there) and train() clears it."""

    def __init__(self, cached: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 1)
        self.table = nn.Parameter(torch.zeros(9, 2))
        self.register_buffer("index", torch.arange(16) % 9)
        self.cached = cached
        self.cache: dict[str, Tensor] = {}

    def train(self, mode: bool = True) -> RelativeBias:
        super().train(mode)
        self.cache = {}
        return self

    def gathered(self, device: torch.device) -> Tensor:
        if self.training or not self.cached:
            return self.table[self.index]
        if str(device) not in self.cache:
            self.cache[str(device)] = self.table[self.index]
        return self.cache[str(device)]

    def forward(self, x: Tensor) -> Tensor:
        bias = self.gathered(x.device).view(4, 4, 2).permute(2, 0, 1)  # [2, 4, 4]
        return self.conv(x) + bias  # [B, 1, 4, 4] + [2, 4, 4]


def relative_bias(cached: bool = False) -> nn.Module:
    return RelativeBias(cached)


class RelativeMaskAttention(nn.Module):
    """timm's Attention2d with a RelPosBias (CoAtNet, MaxViT): q, k, v from a 1×1 conv over a 4×4 map (2 heads of
    width 4), and F.scaled_dot_product_attention's attn_mask the bias gathered from a table [49, 2] ((2·4 − 1)² rows
    per head) by a fixed index [16·16], viewed [16, 16, 2], permuted, unsqueezed: [1, 2, 16, 16]. ``mask='param'``:
    a learned [1, 2, 16, 16] mask held as it is."""

    def __init__(self, mask: str = "table") -> None:
        super().__init__()
        self.qkv = nn.Conv2d(3, 3 * 8, 1)
        if mask == "table":
            self.table = nn.Parameter(torch.zeros(49, 2))
            self.register_buffer("index", torch.arange(256) % 49, persistent=False)
        else:
            self.mask = nn.Parameter(torch.zeros(1, 2, 16, 16))

    def bias(self) -> Tensor:
        if hasattr(self, "mask"):
            return self.mask
        return self.table[self.index].view(16, 16, 2).permute(2, 0, 1).unsqueeze(0).contiguous()

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = self.qkv(x).view(x.shape[0], 2, 12, -1).chunk(3, dim=2)  # [B, 2, 4, 16] each
        out = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2),
                                             attn_mask=self.bias())
        return out.transpose(-1, -2).reshape(x.shape[0], 8, 4, 4)


def relative_mask_attention(mask: str = "table") -> nn.Module:
    return RelativeMaskAttention(mask)


class UnboundQkv(nn.Module):
    """timm's unfused attention (and EdgeNeXt's XCA, ``order='xca'``): ``qkv(x).reshape(B, N, 3, H, d).permute(2, 0, 3,
    1, 4)`` (XCA: ``(2, 0, 3, 4, 1)``), whose batch is second, then ``q, k, v = qkv.unbind(0)`` and the scores as
    matmuls. Tokens: a 4×4 map of 8 channels, 16 tokens; 2 heads of width 4."""

    def __init__(self, order: str = "vit") -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, 8, 1)
        self.qkv = nn.Linear(8, 24)
        self.order = (2, 0, 3, 1, 4) if order == "vit" else (2, 0, 3, 4, 1)

    def forward(self, x: Tensor) -> Tensor:
        t = self.embed(x).flatten(2).transpose(1, 2)  # [B, 16, 8]
        q, k, v = self.qkv(t).reshape(x.shape[0], 16, 3, 2, 4).permute(*self.order).unbind(0)
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        return attn @ v


def unbound_qkv(order: str = "vit") -> nn.Module:
    return UnboundQkv(order)


class FourierGrid(nn.Module):
    """EdgeNeXt's PositionalEncodingFourier, small: a grid made in the forward from the map's size alone (a cumsum of
    ones, its sines and cosines), [B, 4, H, W], a 1×1 conv of it added to the map."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, 8, 1)
        self.proj = nn.Conv2d(4, 8, 1)

    def forward(self, x: Tensor) -> Tensor:
        y = self.embed(x)
        b, _, h, w = y.shape
        ones = ~torch.zeros(b, h, w, dtype=torch.bool, device=x.device)
        grid = ones.cumsum(1, dtype=torch.float32) / h
        pos = torch.stack([grid.sin(), grid.cos(), (2 * grid).sin(), (2 * grid).cos()], dim=1)
        return y + self.proj(pos)


def fourier_grid() -> nn.Module:
    return FourierGrid()


class PaddedMaxPool(nn.Module):
    """timm's MaxPool2dSame: F.pad with -inf, then a max pool without padding."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(F.pad(self.conv(x), (0, 1, 0, 1), value=-float("inf")), 3, 2)


def padded_maxpool() -> nn.Module:
    return PaddedMaxPool()


class TokenBatchNorm(nn.Module):
    """timm's LeViT LinearNorm on tokens: ``bn(linear(x).flatten(0, 1)).reshape_as(x)``, a BatchNorm1d over the width of
    every token (the batch and the tokens merged into one dim)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 2, stride=2)
        self.linear = nn.Linear(8, 16, bias=False)
        self.bn = nn.BatchNorm1d(16)

    def forward(self, x: Tensor) -> Tensor:
        t = self.linear(self.conv(x).flatten(2).transpose(1, 2))  # [B, 16, 16]
        return self.bn(t.flatten(0, 1)).reshape_as(t)


def token_batchnorm() -> nn.Module:
    return TokenBatchNorm()


class Affine(nn.Module):
    """timm's ResMLP Affine: ``torch.addcmul(self.beta, self.alpha, x)`` with alpha and beta [1, 1, D] in one module."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones((1, 1, dim)))
        self.beta = nn.Parameter(torch.zeros((1, 1, dim)))

    def forward(self, x: Tensor) -> Tensor:
        return torch.addcmul(self.beta, self.alpha, x)


class AffineMLP(nn.Module):
    """ResMLP's start: patch conv to tokens, Affine, a token-mixing linear (over the tokens), Affine, mean, head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 4, 4)
        self.norm1 = Affine(8)
        self.linear_tokens = nn.Linear(4, 4)
        self.norm = Affine(8)
        self.head = nn.Linear(8, 5)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x).flatten(2).transpose(1, 2)  # [B, 4, 8]
        x = x + self.linear_tokens(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return self.head(self.norm(x).mean(dim=1))


def affine_mlp() -> nn.Module:
    return AffineMLP()
