"""A small video Swin in torchvision's own classes (SwinTransformer3d: PatchEmbed3d, ShiftedWindowAttention3d,
PatchMerging on [B, T, H, W, C]), for `convcost import` and `verify --reference` tests (tests/test_swin3d.py). Needs
torchvision."""

from __future__ import annotations

from torch import Tensor, nn


def small_swin3d() -> nn.Module:
    """Patch [2, 4, 4], window [4, 3, 3], embed 16, depths [2, 2], heads [2, 4], 10 classes. On 3×5×26×26: PatchEmbed3d
    pads to 6×28×28 (one frame, two rows and columns), a 3×7×7 grid of 16 (the window's T shrinks to 3, unshifted; H
    and W padded to 9, the second block shifted by [0, 1, 1]); merged to 3×4×4 of 32 (H and W padded to 6, shifted)."""
    from torchvision.models.video.swin_transformer import SwinTransformer3d

    return SwinTransformer3d(patch_size=[2, 4, 4], embed_dim=16, depths=[2, 2], num_heads=[2, 4], window_size=[4, 3, 3],
                             num_classes=10)


class LoneAttention(nn.Module):
    """A [B, C, T, H, W] input permuted to a T×H×W token grid, one ShiftedWindowAttention3d (window [2, 3, 3]), mean."""

    def __init__(self, shift: list[int] | None = None) -> None:
        super().__init__()
        from torchvision.models.video.swin_transformer import ShiftedWindowAttention3d

        self.attn = ShiftedWindowAttention3d(16, [2, 3, 3], shift if shift is not None else [1, 1, 1], 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.attn(x.permute(0, 2, 3, 4, 1)).mean((1, 2, 3))


def lone_attention(shift: list[int] | None = None) -> nn.Module:
    return LoneAttention(shift).eval()
