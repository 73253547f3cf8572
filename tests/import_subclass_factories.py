"""Users' subclasses of the classes `convcost import` keeps whole (importer/trace.py: nn.MultiheadAttention,
torchvision's Swin and MViT modules), for tests/test_import_subclass.py. A subclass whose forward is its base's
(`class MyAttn(ShiftedWindowAttention): pass`, or one overriding only __init__) computes what the base does, so it is
read as the base; one that overrides forward is traced through. Needs torchvision."""

from __future__ import annotations

from functools import partial

from torch import Tensor, nn
from torchvision.models import swin_transformer as sw
from torchvision.models.video import mvit


class MyAttn(sw.ShiftedWindowAttention):
    pass


class MyAttnV2(sw.ShiftedWindowAttentionV2):
    pass


class MyMerge(sw.PatchMerging):
    def __init__(self, dim: int, norm_layer: type[nn.Module] = nn.LayerNorm) -> None:  # __init__ only: the base's forward
        super().__init__(dim, norm_layer)


class MyMergeV2(sw.PatchMergingV2):
    def __init__(self, dim: int, norm_layer: type[nn.Module] = nn.LayerNorm) -> None:
        super().__init__(dim, norm_layer)


class MyAttnOwnForward(sw.ShiftedWindowAttention):
    def forward(self, x: Tensor) -> Tensor:  # its own forward: computes what this code says, traced through
        return super().forward(x) * 1.0


class SubSub(MyAttn):  # a subclass of a subclass, the forward still torchvision's
    pass


def small_swin(how: str = "pass") -> nn.Module:
    """torchvision's SwinTransformer (tests/swin_v2_factories.py's size: patch 4 on 16×16, window 3, depths [2, 2])
    with the attention and patch merging replaced by subclasses: 'pass', 'v2' (Swin v2's classes), 'subsub', or
    'forward' (the attention's forward overridden)."""
    attn, merge, block = {"pass": (MyAttn, MyMerge, sw.SwinTransformerBlock),
                          "subsub": (SubSub, MyMerge, sw.SwinTransformerBlock),
                          "v2": (MyAttnV2, MyMergeV2, sw.SwinTransformerBlockV2),
                          "forward": (MyAttnOwnForward, sw.PatchMerging, sw.SwinTransformerBlock)}[how]
    return sw.SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[2, 4], window_size=[3, 3],
                              num_classes=10, block=partial(block, attn_layer=attn), downsample_layer=merge)


class MyMultiscaleAttention(mvit.MultiscaleAttention):
    pass


class MyPositionalEncoding(mvit.PositionalEncoding):
    pass


class MyPool(mvit.Pool):
    pass


def small_mvit() -> nn.Module:
    """tests/mvit_factories.py's tiny MViT v1 (position embedding, a pooled skip) with its MultiscaleAttention,
    PositionalEncoding and Pool modules made instances of subclasses that add nothing (MViT builds them itself)."""
    from mvit_factories import tiny_mvit_v1

    model = tiny_mvit_v1()
    subs = {mvit.MultiscaleAttention: MyMultiscaleAttention, mvit.PositionalEncoding: MyPositionalEncoding,
            mvit.Pool: MyPool}
    for m in model.modules():
        if type(m) in subs:
            m.__class__ = subs[type(m)]
    return model


class MyMHA(nn.MultiheadAttention):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__(dim, heads, batch_first=True)


class Tokens(nn.Module):
    """A patch conv to 16 tokens of width 8, self-attention through a subclass of nn.MultiheadAttention, a head."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 8, 4, stride=4)
        self.attn = MyMHA(8, 2)
        self.head = nn.Linear(8, 10)

    def forward(self, x: Tensor) -> Tensor:
        t = self.patch(x).flatten(2).transpose(1, 2)
        t = self.attn(t, t, t, need_weights=False)[0]
        return self.head(t.mean(1))


def mha_subclass() -> nn.Module:
    return Tokens()
