"""Models in torchvision's Swin v2 classes placed in other surroundings, for tests/test_swin_v2_hostile.py
(`convcost import`, `verify --reference`). Needs torchvision."""

from __future__ import annotations

from torch import Tensor, nn


class Around(nn.Module):
    """A 4×4 conv stem to a token grid of 16, one ShiftedWindowAttentionV2 in a residual, PatchMergingV2, mean, head (v1:
    torchvision's ShiftedWindowAttention and PatchMerging instead)."""

    def __init__(self, window: int = 5, shift: int = 2, v1: bool = False) -> None:
        super().__init__()
        from torchvision.models import swin_transformer as tv

        self.stem = nn.Conv2d(3, 16, 4, 4)
        v2 = (tv.ShiftedWindowAttentionV2, tv.PatchMergingV2)
        attention, merging = (tv.ShiftedWindowAttention, tv.PatchMerging) if v1 else v2
        self.attn = attention(16, [window, window], [shift, shift], 4)
        self.merge = merging(16)
        self.head = nn.Linear(32, 10)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x).permute(0, 2, 3, 1)
        x = self.merge(x + self.attn(x))
        return self.head(x.mean((1, 2)))


def around(window: int = 5, shift: int = 2, v1: bool = False) -> nn.Module:
    return Around(window, shift, v1).eval()
