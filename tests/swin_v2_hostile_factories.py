"""Models in torchvision's Swin v2 classes placed in other surroundings, for tests/test_swin_v2_hostile.py
(`convcost import`, `verify --reference`). Needs torchvision."""

from __future__ import annotations

from torch import Tensor, nn


class Around(nn.Module):
    """A 4×4 conv stem to a token grid of 16, one ShiftedWindowAttentionV2 in a residual, PatchMergingV2, mean, head."""

    def __init__(self, window: int = 5, shift: int = 2) -> None:
        super().__init__()
        from torchvision.models.swin_transformer import PatchMergingV2, ShiftedWindowAttentionV2

        self.stem = nn.Conv2d(3, 16, 4, 4)
        self.attn = ShiftedWindowAttentionV2(16, [window, window], [shift, shift], 4)
        self.merge = PatchMergingV2(16)
        self.head = nn.Linear(32, 10)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x).permute(0, 2, 3, 1)
        x = self.merge(x + self.attn(x))
        return self.head(x.mean((1, 2)))


def around(window: int = 5, shift: int = 2) -> nn.Module:
    return Around(window, shift).eval()
