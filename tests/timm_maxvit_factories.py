"""timm's MaxViT partition attention, small, for `convcost import` (tests/test_import_timm_maxvit.py): timm's own
modules (timm/models/maxxvit.py: PartitionAttentionCl, AttentionCl, RelPosBiasTf), wrapped in a patch conv and a
mean so that their input is a token grid."""

from __future__ import annotations

import sys
import types

# as tests/conftest.py: torchvision's _meta_registrations fails beside the CPU torch; timm imports torchvision
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))

from torch import Tensor, nn  # noqa: E402


class MaxVitBlocks(nn.Module):
    """A 4×4 patch conv (3 → 16), ``permute(0, 2, 3, 1)`` to a token grid, timm's block attention then its grid
    attention (PartitionAttentionCl, partition 4×4, heads of 8: 2 heads, RelPosBiasTf), a mean over the grid."""

    def __init__(self, rel_pos: str, head_first: bool, fused: bool, partition: int) -> None:
        from timm.models.maxxvit import MaxxVitTransformerCfg, PartitionAttentionCl

        super().__init__()
        cfg = MaxxVitTransformerCfg(dim_head=8, head_first=head_first, rel_pos_type=rel_pos, window_size=(partition,) * 2,
                                    act_layer="gelu_tanh", norm_eps=1e-5)
        self.stem = nn.Conv2d(3, 16, 4, stride=4)
        self.blocks = nn.Sequential(PartitionAttentionCl(16, "block", cfg), PartitionAttentionCl(16, "grid", cfg))
        for b in self.blocks:
            b.attn.fused_attn = fused  # timm's default: on (use_fused_attn())

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(self.stem(x).permute(0, 2, 3, 1)).mean((1, 2))


def maxvit_blocks(rel_pos: str = "bias_tf", head_first: bool = False, fused: bool = True, partition: int = 4) -> nn.Module:
    return MaxVitBlocks(rel_pos, head_first, fused, partition)


def maxvit_tiny(img: int = 64) -> nn.Module:
    """timm's MaxViT with maxvit_tiny_tf's configuration (TensorFlow's: 'same' padding, BatchNorm eps 1e-3, GELU
    tanh, head_first=False, RelPosBiasTf), narrow (stages of 16, 32 channels, one block each) at 64×64: partitions of
    2×2 (img // 32)."""
    from timm.models.maxxvit import MaxxVit, MaxxVitCfg, _tf_cfg

    cfg = MaxxVitCfg(embed_dim=(16, 32), depths=(1, 1), block_type=("M",) * 2, stem_width=16, stem_bias=True,
                     head_hidden_size=32, **_tf_cfg())
    cfg.transformer_cfg.dim_head = 8
    return MaxxVit(cfg, img_size=img, num_classes=10)
