"""Token sequences (ViT, Swin, hybrids): into tokens and back, class token, position embedding, pooling.

A token sequence is :class:`~.shapes.Tokens` (N, D): N tokens of width D, laid out [B, N, D] in
torch. ``linear``, activations, ``dropout`` and ``add`` work per token as they are; ``layernorm``
normalises each token over D (its definition is in norm.py). Moving between a map and tokens is a view (no arithmetic).
With ``grid: true`` a map becomes a :class:`~.shapes.TokenGrid` instead, [B, H, W, D] channels-last as
torchvision's Swin carries it (conv → Permute([0, 2, 3, 1])), for ``window_attention`` and ``patch_merging``
(ops/windows.py).
"""

from __future__ import annotations

import math
from dataclasses import field
from typing import TYPE_CHECKING

from ..cost import Backward, Cost
from .conv import (
    CONV_FLOP_COUNTER,
    CONV_FLOP_COUNTER_BACKWARD,
    CONV_PTFLOPS,
    CONV_PTFLOPS_ATEN,
    CONV_THOP,
    CONV_TORCHINFO,
    CONV_TORCHSCAN,
    ConvArgs,
)
from .counting import (
    FVCORE_IGNORED,
    TORCHINFO_UNNAMED,
    Counted,
    Counting,
    Prediction,
)
from .grad import Need, matmul_backward, no_backward, per_input_element
from .receptive import POINTWISE, RF, global_rf, windows
from .registry import Lowered, NodeLike, Saves, Shape, ShapeError, arg, boolean, choice, lazy_args, op, optional, pair, pos_int
from .shapes import TokenGrid, Tokens, fmt_shape, grid_of, is_tokens, numel, torch_dims
from .spatial import spatial_check

if TYPE_CHECKING:
    from torch import nn


def token_check(kind: str, shape: Shape) -> Tokens:
    """The input of a per-token op: tokens, or a message saying how to get them."""
    if not is_tokens(shape):
        raise ShapeError(f"{kind} needs tokens (N×D), got a map {fmt_shape(shape) or 'scalar'}; "
                         "make tokens with 'patch_embed' or 'to_tokens' first")
    assert isinstance(shape, Tokens)
    return shape


def sequence_check(kind: str, shape: Shape) -> Tokens:
    """The input of an op that needs a token sequence [B, N, D], not a grid [B, H, W, D]."""
    t = token_check(kind, shape)
    if grid_of(t) is not None:
        raise ShapeError(f"{kind} needs a token sequence (N×D), got a token grid {fmt_shape(t)}; "
                         "grids take 'window_attention' and 'patch_merging', or make a sequence with 'to_map' then 'to_tokens'")
    return t


def _grid_tokens(h: int, w: int, d: int, grid: bool) -> Tokens:
    return TokenGrid(h, w, d) if grid else Tokens(h * w, d)


GRID_DOC = "keep the H×W arrangement: a token grid [B, H, W, D] (Swin's channels-last layout) instead of a sequence"


@lazy_args
class ToTokensArgs:
    """Arguments of `to_tokens`."""

    grid: bool = field(default=False, metadata=arg(boolean, GRID_DOC))


def _fvcore_view(aten: str) -> Counted:
    """A view fvcore ignores: ``aten`` for a sequence, aten::permute for a token grid."""

    def predict(node: NodeLike, cost: Cost, batch: int) -> Prediction:
        grid = any(grid_of(s) is not None for s in (node.shape, *node.in_shapes))
        return Prediction.unseen(f"{'aten::permute' if grid else aten} is on fvcore's ignore list")

    return Counted(predict)


# ---- map → tokens ------------------------------------------------------------------------------
@op("to_tokens", category="reshape", args=ToTokensArgs)
class ToTokens:
    """C×H×W map to H·W tokens of width C (x.flatten(2).transpose(1, 2)); a view, no arithmetic.
    With `grid: true` an H×W grid of tokens, x.permute(0, 2, 3, 1) (torchvision Swin's Permute)."""

    saves = Saves.NOTHING
    rf = POINTWISE  # token k is position k of the map: the field keeps the map's H and W
    backward = staticmethod(no_backward)
    counting = Counting("aten::flatten", "tensor.flatten(2).transpose(1, 2)", "to_tokens",
                        fvcore=_fvcore_view("aten::flatten"))

    @staticmethod
    def lowered(a: ToTokensArgs, inputs: tuple[Shape, ...]) -> Lowered | None:
        """A grid is x.permute(0, 2, 3, 1) (torchvision Swin's Permute module): compared as that permute."""
        from .views import PermuteArgs

        return (("permute", PermuteArgs(dims=(0, 2, 3, 1)), (-1,)),) if a.grid else None

    @staticmethod
    def shape(a: ToTokensArgs, inputs: tuple[Shape, ...]) -> Shape:
        c, h, w = spatial_check("to_tokens", inputs[0])
        return _grid_tokens(h, w, c, a.grid)

    @staticmethod
    def cost(a: object, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return Cost(activations=batch * numel(out))

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.call import Call

        if node.args.grid:
            return Call(lambda x: x.permute(0, 2, 3, 1), "permute(0, 2, 3, 1)")
        return Call(lambda x: x.flatten(2).transpose(1, 2), "flatten(2).transpose(1, 2)")


@lazy_args
class PatchEmbedArgs:
    """Arguments of `patch_embed`."""

    out: int = field(metadata=arg(pos_int, "token width D (the conv's output channels)"))
    patch: tuple[int, int] = field(metadata=arg(pair(pos_int), "patch size p (kernel and stride of the conv)"))
    bias: bool = field(default=True, metadata=arg(boolean, "learnable bias"))
    grid: bool = field(default=False, metadata=arg(boolean, GRID_DOC))


@op("patch_embed", category="conv", args=PatchEmbedArgs)
class PatchEmbed:
    """Patch embedding: a p×p conv with stride p, then its map flattened to (H/p)·(W/p) tokens (ViT's conv_proj).
    MACs are the conv's: N·D·C·p²; torchvision's ViT builds it so, and Swin with `grid: true` (conv then
    Permute([0, 2, 3, 1]): an (H/p)×(W/p) token grid)."""

    saves = Saves.INPUTS  # frozen too, as a conv's

    @staticmethod
    def rf(a: PatchEmbedArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
        return windows(a.patch, a.patch, (0, 0))  # token k reads its p×p patch

    @staticmethod
    def backward(a: PatchEmbedArgs, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
        return matmul_backward(PatchEmbed.cost(a, inputs, out, batch), need)  # a conv's (ops/grad.py)

    counting = Counting(
        "aten::_convolution", "nn.Conv2d", "conv",
        fvcore=Counted(lambda node, cost, batch: Prediction.of(conv=cost.macs)),
        flop_counter=CONV_FLOP_COUNTER,
        flop_counter_backward=CONV_FLOP_COUNTER_BACKWARD,
        ptflops=CONV_PTFLOPS,
        thop=CONV_THOP,
        subclass=True,
        ptflops_aten=CONV_PTFLOPS_ATEN,
        torchinfo=CONV_TORCHINFO,
        torchscan=CONV_TORCHSCAN,
        calflops=Counted(lambda node, cost, batch: Prediction.of(conv=cost.macs)),  # the patched F.conv2d
        calflops_flops=Counted(lambda node, cost, batch: Prediction.of(conv=2 * cost.macs, bias=cost.bias_ops),
                               "calflops counts a conv's bias per output element", "bias"),
    )

    @staticmethod
    def shape(a: PatchEmbedArgs, inputs: tuple[Shape, ...]) -> Shape:
        _, h, w = spatial_check("patch_embed", inputs[0])
        if a.patch[0] > h or a.patch[1] > w:
            raise ShapeError(f"patch {a.patch[0]}×{a.patch[1]} is larger than the input {h}×{w}", "patch")
        return _grid_tokens(h // a.patch[0], w // a.patch[1], a.out, a.grid)

    @staticmethod
    def cost(a: PatchEmbedArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        c = inputs[0][0]
        weight = a.out * c * a.patch[0] * a.patch[1]
        positions = batch * out[0]
        return Cost(
            params=weight + (a.out if a.bias else 0),
            macs=positions * weight,
            bias_ops=positions * a.out if a.bias else 0,
            activations=batch * numel(out),
        )

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        from ..modules.tokens import PatchEmbed as Module

        a: PatchEmbedArgs = node.args
        return Module(nn.Conv2d(node.in_shapes[0][0], a.out, a.patch, stride=a.patch, bias=a.bias), a.grid)

    @staticmethod
    def lowered(a: PatchEmbedArgs, inputs: tuple[Shape, ...]) -> Lowered:
        """What it computes: the p×p conv with stride p, then its map as tokens (a model written so imports as these)."""
        from .views import PermuteArgs

        tokens = ("permute", PermuteArgs(dims=(0, 2, 3, 1)), (0,)) if a.grid else ("to_tokens", ToTokensArgs(), (0,))
        return (("conv", ConvArgs(out=a.out, kernel=a.patch, stride=a.patch, bias=a.bias), (-1,)), tokens)  # as to_tokens


# ---- class token, position embedding ----------------------------------------------------------
@op("class_token", category="reshape")
class ClassToken:
    """Prepends a learned class token: N tokens become N + 1 (D params; torch.cat, no arithmetic)."""

    saves = Saves.NOTHING
    counting = Counting("aten::cat", "torch.cat([class_token, x], 1)", "cat", fvcore=FVCORE_IGNORED,
                        torchinfo=TORCHINFO_UNNAMED)
    rf = POINTWISE  # the tokens keep their fields; the class token reads no input until attention mixes it

    @staticmethod
    def backward(a: object, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
        # the input's gradient is a slice; the class token's sums the expanded token's gradient over the batch
        return Backward(weight_ops=batch * out[1] if need.weights else 0)

    @staticmethod
    def shape(a: object, inputs: tuple[Shape, ...]) -> Shape:
        t = sequence_check("class_token", inputs[0])
        return Tokens(t.n + 1, t.d)

    @staticmethod
    def cost(a: object, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return Cost(params=out[1], activations=batch * numel(out))

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.tokens import ClassToken as Module

        return Module(node.shape[1])


@op("pos_embed", category="join")
class PosEmbed:
    """Adds a learned position embedding, one D-vector per token (N·D params, N·D adds)."""

    saves = Saves.NOTHING
    counting = Counting("aten::add", "x + pos_embedding", "add", torchinfo=TORCHINFO_UNNAMED)
    rf = POINTWISE

    @staticmethod
    def backward(a: object, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
        # the input's gradient is the output's; the embedding's is summed over the batch (1 add per element)
        return Backward(weight_ops=batch * numel(out) if need.weights else 0)

    @staticmethod
    def shape(a: object, inputs: tuple[Shape, ...]) -> Shape:
        return token_check("pos_embed", inputs[0])

    @staticmethod
    def cost(a: object, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        n = batch * numel(out)
        return Cost(params=numel(out), elementwise_ops=n, activations=n)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.tokens import PosEmbed as Module

        return Module(torch_dims(node.shape))


# ---- tokens → map, pooling ---------------------------------------------------------------------
def _to_map_order(rank: int) -> tuple[int, ...]:
    """The permute of a [B, *grid, D] token grid of ``rank`` grid dims into a [B, D, *grid] map: (0, 3, 1, 2) for
    H×W, (0, 4, 1, 2, 3) for T×H×W."""
    return (0, rank + 1, *range(1, rank + 1))


@lazy_args
class ToMapArgs:
    """Arguments of `to_map`."""

    height: int | None = field(default=None, metadata=arg(optional(pos_int), "map height (default: √N)"))
    width: int | None = field(default=None, metadata=arg(optional(pos_int), "map width (default: N / height)"))


@op("to_map", category="reshape", args=ToMapArgs)
class ToMap:
    """N tokens of width D back to a D×H×W map, H·W = N (x.transpose(1, 2).reshape(B, D, H, W)); no arithmetic.
    A token grid keeps its H×W (x.permute(0, 3, 1, 2), as torchvision's Swin before its pool), a T×H×W grid its T×H×W
    (x.permute(0, 4, 1, 2, 3), video Swin's)."""

    saves = Saves.NOTHING
    counting = Counting("aten::transpose", "tensor.transpose(1, 2).reshape", "to_map", fvcore=_fvcore_view("aten::transpose"))

    @staticmethod
    def lowered(a: ToMapArgs, inputs: tuple[Shape, ...]) -> Lowered | None:
        """A grid's map is x.permute(0, 3, 1, 2) (torchvision Swin's Permute before its pool; x.permute(0, 4, 1, 2, 3) for
        a T×H×W grid): compared as that permute."""
        from .views import PermuteArgs

        grid = grid_of(inputs[0])
        return (("permute", PermuteArgs(dims=_to_map_order(len(grid))), (-1,)),) if grid is not None else None
    rf = POINTWISE  # position k of the map is token k: a field of the same H×W carries over
    backward = staticmethod(no_backward)

    @staticmethod
    def shape(a: ToMapArgs, inputs: tuple[Shape, ...]) -> Shape:
        t = token_check("to_map", inputs[0])
        grid = grid_of(t)
        if grid is not None:
            if a.height is not None or a.width is not None:
                if len(grid) != 2 or (a.height or grid[0], a.width or grid[1]) != grid:
                    raise ShapeError(f"a {fmt_shape(t)} grid makes a {'×'.join(map(str, grid))} map; leave 'height' and "
                                     "'width' out", "height" if a.height is not None else "width")
            return (t.d, *grid)
        if a.height is None and a.width is None:
            h = w = math.isqrt(t.n)
            if h * w != t.n:
                raise ShapeError(f"{t.n} tokens do not make a square map; give 'height' and 'width' with "
                                 "height·width = N", "height")
        else:
            h = a.height if a.height is not None else t.n // a.width  # type: ignore[operator]
            w = a.width if a.width is not None else t.n // h
            if h * w != t.n:
                raise ShapeError(f"{t.n} tokens do not make a {a.height or '?'}×{a.width or '?'} map "
                                 "(height·width must be N)", "height" if a.height is not None else "width")
        return (t.d, h, w)

    @staticmethod
    def cost(a: ToMapArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return Cost(activations=batch * numel(out))

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.call import Call
        from ..modules.tokens import tokens_to_map

        grid = grid_of(node.in_shapes[0])
        if grid is not None:
            order = _to_map_order(len(grid))
            return Call(lambda x: x.permute(*order), f"permute{order}")
        _, h, w = node.shape
        return Call(lambda x: tokens_to_map(x, h, w), f"transpose(1, 2).reshape(-1, D, {h}, {w})")


@lazy_args
class TokenPoolArgs:
    """Arguments of `token_pool`."""

    mode: str = field(default="class", metadata=arg(choice("class", "mean"), "class: the first token (x[:, 0]); mean"))


def _token_pool_fvcore(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    if node.args.mode == "class":
        return Prediction.unseen("aten::select is on fvcore's ignore list")
    return Prediction.unseen("fvcore has no handle for aten::mean (reports it as unsupported)")


TOKEN_MEAN_RF = global_rf("the mean over every token")
MEAN_BACKWARD = per_input_element(1)


@op("token_pool", category="pool", args=TokenPoolArgs)
class TokenPool:
    """Tokens to one D-vector for a head: the class token (x[:, 0], no arithmetic) or the mean (N·D ops)."""

    saves = Saves.NOTHING
    counting = Counting("aten::select", "x[:, 0] / x.mean(1)", "token_pool", fvcore=Counted(_token_pool_fvcore))

    @staticmethod
    def rf(a: TokenPoolArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
        # the class token's field is the sequence's (after attention: the whole input)
        return TOKEN_MEAN_RF if a.mode == "mean" else POINTWISE

    @staticmethod
    def backward(a: TokenPoolArgs, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
        if a.mode == "mean":
            return MEAN_BACKWARD(a, inputs, out, batch, need)  # g/N to every token
        return Backward()  # the gradient lands in the class token's slice

    @staticmethod
    def shape(a: TokenPoolArgs, inputs: tuple[Shape, ...]) -> Shape:
        if a.mode == "class":
            return (sequence_check("token_pool", inputs[0]).d,)
        return (token_check("token_pool", inputs[0]).d,)

    @staticmethod
    def cost(a: TokenPoolArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        reads = batch * numel(inputs[0]) if a.mode == "mean" else 0
        return Cost(pool_ops=reads, activations=batch * numel(out))

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.call import Call

        if node.args.mode == "class":
            return Call(lambda x: x[:, 0], "x[:, 0]")
        grid = grid_of(node.in_shapes[0])
        if grid is not None:
            dims = tuple(range(1, len(grid) + 1))  # (1, 2), or (1, 2, 3) for a T×H×W grid
            return Call(lambda x: x.mean(dims), f"x.mean({dims})")
        return Call(lambda x: x.mean(1), "x.mean(1)")
