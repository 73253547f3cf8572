"""timm's windowed transformer blocks, small, for `convcost import` (tests/test_import_timm_windows.py): timm's own
modules (timm/models/swin_transformer.py), wrapped in a patch conv and a mean so that their input is a token grid."""

from __future__ import annotations

import sys
import types

# as tests/conftest.py: torchvision's _meta_registrations fails beside the CPU torch; timm imports torchvision
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))

from torch import Tensor, nn  # noqa: E402


class SwinBlocks(nn.Module):
    """A 4×4 patch conv (3 → 16), ``permute(0, 2, 3, 1)`` to a token grid, two timm SwinTransformerBlocks (2 heads,
    window 4, the second shifted by 2), a mean over the grid."""

    def __init__(self, grid: int, fused: bool, shift: int = 2, always_partition: bool = False) -> None:
        from timm.models.swin_transformer import SwinTransformerBlock

        super().__init__()
        self.stem = nn.Conv2d(3, 16, 4, stride=4)
        self.blocks = nn.Sequential(*(SwinTransformerBlock(16, (grid, grid), num_heads=2, window_size=4, shift_size=s,
                                                           always_partition=always_partition) for s in (0, shift)))
        for b in self.blocks:
            b.attn.fused_attn = fused  # timm's default for WindowAttention: off (use_fused_attn(experimental=True))

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(self.stem(x).permute(0, 2, 3, 1)).mean((1, 2))


def swin_blocks(grid: int = 8, fused: bool = False, shift: int = 2, always_partition: bool = False) -> nn.Module:
    return SwinBlocks(grid, fused, shift, always_partition)


def swin_blocks_unmasked() -> nn.Module:
    """swin_blocks, the shifted block's attention called without its shift mask (a block subclass's ``_attn``)."""
    from timm.models.swin_transformer import SwinTransformerBlock

    class Unmasked(SwinTransformerBlock):
        def _attn(self, x: Tensor) -> Tensor:
            mask, self.attn_mask = self.attn_mask, None
            try:
                return super()._attn(x)
            finally:
                self.attn_mask = mask

    m = SwinBlocks(8, False)
    m.blocks[1].__class__ = Unmasked
    return m


def swin_blocks_no_softmax() -> nn.Module:
    """swin_blocks, each WindowAttention's forward replaced on the instance: timm's arithmetic without the relative
    position bias, the mask and the softmax (its class, and what FlopCounterMode counts, unchanged)."""
    m = SwinBlocks(8, False)
    for b in m.blocks:
        a = b.attn

        def forward(x: Tensor, mask: Tensor | None = None, a: nn.Module = a) -> Tensor:
            n, t, c = x.shape
            q, k, v = a.qkv(x).reshape(n, t, 3, a.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
            return a.proj(((q * a.scale) @ k.transpose(-2, -1) @ v).transpose(1, 2).reshape(n, t, c))

        a.forward = forward
    return m


def swin(image: int = 32) -> nn.Module:
    """timm's SwinTransformer, tiny: patch 4 (an 8×8 grid at 32), width 16, two stages of two blocks (2 and 4 heads),
    window 4; stage 2's 4×4 grid is one window, where timm drops the shift."""
    from timm.models.swin_transformer import SwinTransformer

    return SwinTransformer(img_size=image, patch_size=4, embed_dim=16, depths=(2, 2), num_heads=(2, 4), window_size=4,
                           num_classes=10)


def swin_blocks_subclassed() -> nn.Module:
    """swin_blocks, each WindowAttention a user's subclass of timm's (a class of its own, timm's forward)."""
    from timm.models.swin_transformer import WindowAttention

    class MyWindowAttention(WindowAttention):
        pass

    m = SwinBlocks(8, False)
    for b in m.blocks:
        b.attn.__class__ = MyWindowAttention
    return m
