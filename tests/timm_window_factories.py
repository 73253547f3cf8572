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

    def __init__(self, grid: int, fused: bool) -> None:
        from timm.models.swin_transformer import SwinTransformerBlock

        super().__init__()
        self.stem = nn.Conv2d(3, 16, 4, stride=4)
        self.blocks = nn.Sequential(*(SwinTransformerBlock(16, (grid, grid), num_heads=2, window_size=4, shift_size=s)
                                      for s in (0, 2)))
        for b in self.blocks:
            b.attn.fused_attn = fused  # timm's default for WindowAttention: off (use_fused_attn(experimental=True))

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(self.stem(x).permute(0, 2, 3, 1)).mean((1, 2))


def swin_blocks(grid: int = 8, fused: bool = False) -> nn.Module:
    return SwinBlocks(grid, fused)


def swin(image: int = 32) -> nn.Module:
    """timm's SwinTransformer, tiny: patch 4 (an 8×8 grid at 32), width 16, two stages of two blocks (2 and 4 heads),
    window 4; stage 2's 4×4 grid is one window, where timm drops the shift."""
    from timm.models.swin_transformer import SwinTransformer

    return SwinTransformer(img_size=image, patch_size=4, embed_dim=16, depths=(2, 2), num_heads=(2, 4), window_size=4,
                           num_classes=10)
