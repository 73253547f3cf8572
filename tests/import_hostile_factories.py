"""Hostile models for `convcost import` (tests/test_import.py): module names no spec name can be, weights shared between
layers, parts convcost cannot express in many places, optional forward arguments, dict outputs, modules that never
run. Each says what import must make of it."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# children named what torch allows and a spec name cannot be: the top-level name of the model's input, spaces, an
# accent, punctuation, 120 characters, what the spec reads as a variable or an expression, YAML's words
HOSTILE_NAMES = ("input", "a b", "über", "~", "x" * 120, "$x", "${1/0}", "true", "null", "-lead", "0x10")


class Named(nn.Module):
    """conv → relu → conv ... in a chain, each child named one of HOSTILE_NAMES; the last a Linear after a pool."""

    def __init__(self) -> None:
        super().__init__()
        for k, name in enumerate(HOSTILE_NAMES):
            self.add_module(name, nn.Conv2d(3 if k == 0 else 4, 4, 3, padding=1))
        self.add_module("über pool", nn.AdaptiveAvgPool2d(1))
        self.add_module("fc", nn.Linear(4, 5))

    def forward(self, x: Tensor) -> Tensor:
        for name in HOSTILE_NAMES:
            x = F.relu(getattr(self, name)(x))
        return self.fc(torch.flatten(getattr(self, "über pool")(x), 1))


def named() -> nn.Module:
    return Named()


class Tied(nn.Module):
    """Issue 19: ``b.weight = a.weight``, a conv's weight shared by another conv with its own bias (and a Linear
    called twice, sharing all its weights): torch counts each shared tensor once."""

    def __init__(self, how: str = "weight") -> None:
        super().__init__()
        self.how = how
        self.a = nn.Conv2d(8, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 8, 3, padding=1)
        self.b.weight = self.a.weight
        self.fc = nn.Linear(8, 8)

    def forward(self, x: Tensor) -> Tensor:
        y = self.b(F.relu(self.a(x))).mean([2, 3])
        return self.fc(F.relu(self.fc(y))) if self.how == "twice" else self.fc(y)


def tied(how: str = "weight") -> nn.Module:
    return Tied(how)


class Options(nn.Module):
    """``forward(x, mask=None, scale=1.0)``: optional arguments are not inputs; returns a dict of two tensors and a
    list, one of them a plain number (not a tensor: left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Conv2d(8, 2, 1)
        self.aux = nn.Sequential(nn.Conv2d(8, 8, 3), nn.BatchNorm2d(8), nn.Conv2d(8, 2, 1))  # never runs in eval

    def forward(self, x: Tensor, mask: Tensor | None = None, scale: float = 1.0) -> dict[str, object]:
        y = F.relu(self.conv(x if mask is None else x * mask))
        out: dict[str, object] = {"out": self.head(y), "features": [y, scale]}
        if self.training:
            out["aux"] = self.aux(y)
        return out


def options() -> nn.Module:
    return Options()


class ManyUnsupported(nn.Module):
    """24 blocks, each with a torch.cumsum (no convcost op) and the layers after it: the refusal is a few lines (one
    kind, 24 places), not 24 · 3."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(nn.Conv2d(4, 4, 3, padding=1) for _ in range(24))

    def forward(self, x: Tensor) -> Tensor:
        for conv in self.blocks:
            x = F.relu(torch.cumsum(conv(x), dim=1))
        return x


def many_unsupported() -> nn.Module:
    return ManyUnsupported()


class PoolThenFlatten(nn.Module):
    """A pool convcost cannot express (nn.LPPool2d and ``F.lp_pool2d`` of norm_type=inf; nn.FractionalMaxPool2d with
    fixed _random_samples), then torch.flatten or nn.Flatten, ReLU and Linear layers that read its output: the refusal
    names the pool alone, not the layers after it ("flatten is not a convcost op", "relu is not...")."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.FractionalMaxPool2d(2, output_size=4, _random_samples=torch.rand(1, 8, 2)) \
            if how == "fractional" else nn.LPPool2d(float("inf"), 2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.conv(x))
        x = F.lp_pool2d(x, float("inf"), 2) if self.how == "function" else self.pool(x)
        x = self.flatten(x) if self.how == "module" else torch.flatten(x, 1)
        return self.fc(F.relu(x))


def pool_then_flatten(how: str = "module") -> nn.Module:
    return PoolThenFlatten(how)


class Masked(nn.Module):
    """timm's ``Attention.forward(x, attn_mask=None)``: an optional tensor argument, passed as None."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(8, 8)

    def forward(self, x: Tensor, attn_mask: Tensor | None = None) -> Tensor:
        y = self.qkv(x)
        return y if attn_mask is None else y + attn_mask


class OptionalArguments(nn.Module):
    """A submodule called with its optional argument None, positionally or by keyword: one input, not "a second"."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.patch = nn.Conv2d(3, 8, 4, stride=4)
        self.attn = Masked()

    def forward(self, x: Tensor, attn_mask: Tensor | None = None) -> Tensor:
        t = self.patch(x).flatten(2).transpose(1, 2)
        return self.attn(t, attn_mask=attn_mask) if self.how == "keyword" else self.attn(t, attn_mask)


def optional_arguments(how: str = "keyword") -> nn.Module:
    return OptionalArguments(how)


class DeepAfterUnsupported(nn.Module):
    """An unsupported pool, then 40 residual blocks (conv, ReLU, add) reading what it makes, and another kind of
    unsupported op in every block: the refusal is a few lines however many parts follow."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.LPPool2d(float("inf"), 2)  # a max pool of |x|: no convcost op
        self.convs = nn.ModuleList(nn.Conv2d(8, 8, 3, padding=1) for _ in range(40))

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(self.stem(x))
        for conv in self.convs:
            x = torch.cumsum(F.relu(conv(x)), dim=1) + x
        return torch.flatten(x, 1)


def deep_after_unsupported() -> nn.Module:
    return DeepAfterUnsupported()


class Siamese(nn.Module):
    """One conv applied to the input twice (a siamese pair), both results returned; and an nn.Sequential holding the
    same conv object twice: one module, two calls, its weights counted once (review rev20: verify --reference failed
    both, the module's MACs of both calls against the spec's first layer alone)."""

    def __init__(self, how: str = "pair") -> None:
        super().__init__()
        self.how = how
        self.a = nn.Conv2d(3, 4, 3)
        conv = nn.Conv2d(3, 3, 3, padding=1)
        self.seq = nn.Sequential(conv, nn.ReLU(), conv)

    def forward(self, x: Tensor) -> tuple[Tensor, ...] | Tensor:
        return (self.a(x), self.a(x)) if self.how == "pair" else self.seq(x)


def siamese(how: str = "pair") -> nn.Module:
    return Siamese(how)


class SamePadded(nn.Module):
    """``padding='same'`` with an even kernel: torch pads the extra row/column itself (a constant_pad_nd inside the conv's
    call), then convolves. Imported as a pad and a conv of numbers, fvcore's count of the model (0: it cannot see
    aten::_convolution_mode) did not match the spec's and verify --reference failed (review rev20)."""

    def __init__(self, rank: int) -> None:
        super().__init__()
        conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[rank - 1]
        self.even = conv(3, 8, 4, padding="same")
        self.mixed = conv(8, 4, (2, 3, 4)[-rank:], padding="same", dilation=2)

    def forward(self, x: Tensor) -> Tensor:
        return self.mixed(F.relu(self.even(x)))


def same_padded(rank: int = 2) -> nn.Module:
    return SamePadded(rank)


class Returns(nn.Module):
    """Outputs no spec could list: the model's input among them (``return y, x``), a tensor returned twice (``return y,
    y``), nothing but the input (an nn.Identity model). Import wrote `outputs: [..., input]` or a name twice, or no layers
    at all, and exit 0: analyze then refused the spec (review rev20)."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: Tensor) -> object:
        if self.how == "identity":
            return x
        y = self.conv(x)
        return {"y": y, "x": x} if self.how == "input" else (y, y)


def returns(how: str = "input") -> nn.Module:
    return Returns(how)


class ItemScale(nn.Module):
    """A buffer read as a Python number (``self.scale.item()``): the spec's multiply holds the number, and the buffer was
    in no layer and no `unused` row, so the spec had 1 buffer fewer than torch (review rev20)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.register_buffer("scale", torch.tensor(2.0))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x) * float(self.scale.item())


def item_scale() -> nn.Module:
    return ItemScale()


class Refusals(nn.Module):
    """Calls of functions convcost has ops for in their other forms: their refusal named the function ("interpolate is
    not a convcost op" although F.interpolate is imported), or told an eval-mode model to call model.eval() (review
    rev20)."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(3, 8, 4, stride=4)

    def forward(self, x: Tensor) -> Tensor:
        if self.how == "nearest_exact":
            return F.interpolate(x, scale_factor=2, mode="nearest-exact")
        if self.how == "index":  # two index tensors (x[:, [2, 0, 1]], one, is an index_select)
            return x[:, [2, 0, 1], [1, 0, 1]]
        t = self.conv(x).flatten(2).transpose(1, 2)
        return F.scaled_dot_product_attention(t, t, t, dropout_p=0.1)  # drops at random in eval too


def refusals(how: str = "index") -> nn.Module:
    return Refusals(how)


class MaxPoolOfChannels(nn.Module):
    """CBAM's spatial attention: the channels' max and mean, ``torch.max(x, 1, keepdim=True)[0]`` (``x.min(dim=1)
    .values`` too), concatenated, a 7×7 conv and a sigmoid gate ("max is not a convcost op" before; review rev20)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.spatial = nn.Conv2d(3, 1, 7, padding=3, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x)
        most, _ = torch.max(y, 1, keepdim=True)
        least = y.min(dim=1, keepdim=True).values
        gate = torch.sigmoid(self.spatial(torch.cat([most, y.mean(1, keepdim=True), least], 1)))
        return y * gate


def max_pool_of_channels() -> nn.Module:
    return MaxPoolOfChannels()


def circular_conv() -> nn.Module:
    """nn.Conv2d(padding_mode='circular'): torch's circular pad fills a new tensor slice by slice in place, which traced
    as a tensor made from no input ("the model's output 0 is not computed from its input", exit 2; with
    --allow-unsupported a spec with no layers that analyze refused; review rev20)."""
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, padding_mode="circular"), nn.ReLU(),
                         nn.Conv2d(8, 4, 3, padding=(0, 2), padding_mode="circular"))


class ChannelsLastCumsum(nn.Module):
    """A part convcost cannot express (torch.cumsum) between a permute to channels-last and LayerNorm/Linear reading
    it per position: with --allow-unsupported its row held a [H, W, C] map, so the layernorm normalised the wrong dim
    and analyze refused the Linear after it (review rev20)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.norm = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 6)

    def forward(self, x: Tensor) -> Tensor:
        y = torch.cumsum(self.conv(x).permute(0, 2, 3, 1), 1)
        return self.fc(self.norm(y)).permute(0, 3, 1, 2)


def channels_last_cumsum() -> nn.Module:
    return ChannelsLastCumsum()


class ReZero(nn.Module):
    """A 0-d learned scalar (ReZero's alpha: ``x + alpha * f(x)``), refused as "must be the tensor's shape ... got a list";
    and ``x.squeeze()`` before the classifier, which at the traced batch of 1 drops the batch dim too (review rev20)."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.alpha = nn.Parameter(torch.zeros(()))
        self.fc = nn.Linear(4, 2)

    def forward(self, x: Tensor) -> Tensor:
        y = x + self.alpha * self.conv(x)
        pooled = F.adaptive_avg_pool2d(y, 1)
        return self.fc(pooled.squeeze() if self.how == "squeeze" else pooled.flatten(1))


def rezero(how: str = "flatten") -> nn.Module:
    return ReZero(how)


class LinearAsConv(nn.Module):
    """A Linear's weight also used, viewed [C, C, 1, 1], as a 1×1 convolution's: the conv was `tied` to the linear,
    whose weight has another shape, and analyze refused the spec import wrote (exit 0; review rev20)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(F.conv2d(x, self.fc.weight.view(3, 3, 1, 1)).mean((2, 3)))


def linear_as_conv() -> nn.Module:
    return LinearAsConv()


class BatchMoved(nn.Module):
    """A part that moves the batch dim (no convcost op writes it), read by a Linear: `view` puts H·W pixels in the
    batch dim (x.reshape(-1, C) on a channels-last map); `flatten` flattens the batch dim with the rest."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.c = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 if how == "view" else 4 * 16 * 16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.c(x)
        y = y.permute(0, 2, 3, 1).reshape(-1, 4) if self.how == "view" else y.flatten(0)
        return self.fc(y)


def batch_moved(how: str = "view") -> nn.Module:
    return BatchMoved(how)
