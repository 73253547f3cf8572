"""Small torchvision MViTs for `convcost import` tests (models/video/mvit.py, the classes mvit_v1_b and mvit_v2_s
build, at a size a test runs in seconds): a 3×4×16×16 clip, patch embedding (3, 7, 7) / (2, 4, 4) to a 2×4×4 grid of
width 8, then three blocks: pooled keys and values, a stage change (stride [1, 2, 2] on q, the width doubled, a max
pool on the skip), one more block on the 2×2×2 grid."""

from __future__ import annotations

from torchvision.models.video.mvit import MSBlockConfig, MViT


def _blocks(kernel_q_plain: list[int]) -> list[MSBlockConfig]:
    return [
        MSBlockConfig(num_heads=1, input_channels=8, output_channels=8, kernel_q=kernel_q_plain, kernel_kv=[3, 3, 3],
                      stride_q=[1, 1, 1] if kernel_q_plain else [], stride_kv=[1, 2, 2]),
        MSBlockConfig(num_heads=2, input_channels=8, output_channels=16, kernel_q=[3, 3, 3], kernel_kv=[3, 3, 3],
                      stride_q=[1, 2, 2], stride_kv=[1, 1, 1]),
        MSBlockConfig(num_heads=2, input_channels=16, output_channels=16, kernel_q=kernel_q_plain, kernel_kv=[3, 3, 3],
                      stride_q=[1, 1, 1] if kernel_q_plain else [], stride_kv=[1, 1, 1]),
    ]


def tiny_mvit_v1() -> MViT:
    """mvit_v1_b's layout: a separable position embedding, q pooled only where the stage changes, no residual pooling
    or relative positions, the projection to the wider width after the MLP's norm."""
    return MViT(spatial_size=(16, 16), temporal_size=4, block_setting=_blocks([]), residual_pool=False,
                residual_with_cls_embed=True, rel_pos_embed=False, proj_after_attn=False, num_classes=10)


def tiny_mvit_v2() -> MViT:
    """mvit_v2_s's layout: relative positions (no position embedding), q pooled in every block, residual pooling
    without the class token, the projection to the wider width inside the attention."""
    return MViT(spatial_size=(16, 16), temporal_size=4, block_setting=_blocks([3, 3, 3]), residual_pool=True,
                residual_with_cls_embed=False, rel_pos_embed=True, proj_after_attn=True, num_classes=10)
