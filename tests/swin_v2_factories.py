"""A small Swin v2 in torchvision's own classes (SwinTransformer with SwinTransformerBlockV2 and PatchMergingV2), for
`convcost import` and `verify --reference` tests (tests/test_swin_v2.py). Needs torchvision."""

from __future__ import annotations

from torch import nn


def small_swin_v2(window: int = 3) -> nn.Module:
    """Patch 4 on 16×16: a 4×4 grid of 16 (window 3: padded to 6×6, 4 windows; the second block shifted by 1), a
    merge to 2×2 of 32 (one window of 3×3 after padding: torchvision drops the shift), 10 classes."""
    from torchvision.models.swin_transformer import PatchMergingV2, SwinTransformer, SwinTransformerBlockV2

    return SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[2, 4], window_size=[window, window],
                           num_classes=10, block=SwinTransformerBlockV2, downsample_layer=PatchMergingV2)
