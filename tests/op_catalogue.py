"""Small specs that together hold a layer of every registered op, in the variants that take other branches of its code
(grouped, shifted, pooled, biased or not, 1-D to 3-D, tokens and maps): the catalogue tests/test_op_invariants.py
checks every op definition's facts over (predictions, backward, parts, receptive fields, refusals).

Each entry: name -> spec text. No numbers are derived here: the tests that read it check invariants that hold for
every op, or compare with torch.
"""

from __future__ import annotations

from tensor_op_cases import CASES

SPECS: dict[str, str] = {
    "conv": (
        "input: {shape: [4, 9, 8], batch: 2}\nlayers:\n"
        "  - conv: {out: 6, kernel: 3, padding: 1}\n"
        "  - conv: {out: 6, kernel: [3, 2], stride: [2, 1], dilation: [1, 2], groups: 2, bias: false}\n"
        "  - conv: {out: 6, kernel: 2, padding: same, torch: subclass}\n"
        "  - depthwise: {kernel: 3}\n  - pointwise: {out: 4}\n  - dwsep: {out: 4, kernel: 3}\n"
        "  - conv_transpose: {out: 4, kernel: 3, stride: 2, padding: 1, output_padding: 1, groups: 2}\n"
        "  - conv_transpose: {out: 2, kernel: [2, 3], stride: [1, 2], dilation: [2, 1], bias: false}\n"
        "  - batchnorm\n  - bn: {affine: false}\n  - batchnorm: {fixed: true, eps: 0.001}\n  - relu\n  - dropout: {p: 0.1}\n"
        "  - identity\n"
        "  - maxpool: {kernel: 3, stride: 2, padding: 1, ceil_mode: true}\n"
        "  - avgpool: {kernel: 2, stride: 1, count_include_pad: false}\n"
        "  - adaptive_avgpool: {out: [3, 2]}\n  - global_avgpool\n  - flatten\n  - linear: {out: 5}\n"
        "  - fc: {out: 3, bias: false}\n"
    ),
    "conv1d": (
        "input: [3, 17]\nlayers:\n  - conv: {out: 4, kernel: 5, stride: 2, padding: 2}\n"
        "  - conv_transpose: {out: 3, kernel: 4, stride: 2, padding: 1}\n  - maxpool: {kernel: 2}\n"
        "  - avgpool: {kernel: 3, stride: 2, padding: 1}\n  - upsample: {scale: 3, mode: linear}\n"
        "  - adaptive_avgpool: {out: 5}\n  - instancenorm: {affine: true}\n  - global_avgpool\n"
    ),
    "conv3d": (
        "input: {shape: [2, 4, 6, 5], batch: 2}\nlayers:\n  - conv: {out: 4, kernel: [3, 1, 3], padding: [1, 0, 1]}\n"
        "  - conv_transpose: {out: 2, kernel: 2, stride: 2, groups: 2}\n  - maxpool: {kernel: [1, 2, 2]}\n"
        "  - upsample: {scale: 2, mode: trilinear}\n  - avgpool: {kernel: 2}\n  - adaptive_avgpool: {out: [1, 2, 2]}\n"
        "  - batchnorm\n  - batchnorm: {fixed: true}\n  - global_avgpool\n"
    ),
    "norms_activations": (
        "input: {shape: [4, 6, 6], batch: 2}\nlayers:\n"
        + "".join(f"  - {a}\n" for a in ("relu", "relu6", "leaky_relu", "sigmoid", "silu", "hardswish", "hardsigmoid",
                                        "gelu", "tanh", "mish", "elu", "hardtanh"))
        + "  - relu: {torch: function}\n  - gelu: {torch: subclass}\n  - leaky_relu: {slope: 0.2}\n"
        "  - elu: {alpha: 0.5}\n  - hardtanh: {min: -2, max: 3}\n  - gelu: {approximate: tanh}\n"
        "  - prelu\n  - prelu: {num_parameters: 4}\n  - softmax\n  - log_softmax: {dim: 2}\n"
        "  - groupnorm: {groups: 2}\n  - groupnorm: {groups: 4, affine: false}\n"
        "  - instancenorm: {affine: true, track_running_stats: true}\n  - instancenorm\n"
        "  - layernorm\n  - layernorm: {channels_last: true}\n  - layernorm: {bias: false}\n"
        "  - layernorm: {affine: false}\n  - layer_scale\n"
        "  - channel_shuffle: {groups: 2}\n  - pixel_shuffle: {factor: 2}\n  - conv: {out: 4, kernel: 1}\n"
        "  - pixel_unshuffle: {factor: 2}\n"
        "  - upsample: {scale: 2}\n  - upsample: {size: [9, 7], mode: bilinear, align_corners: true}\n"
        "  - upsample: {scale: 0.5, mode: bicubic}\n  - upsample: {size: [5, 5]}\n"
        "  - chunk: {index: 1, parts: 2}\n  - chunk: {index: 1, dim: 1}\n  - chunk: {index: 0, dim: 2, sizes: [2, 3]}\n"
    ),
    "activations_args": (  # issue 20: activations with arguments, batch norm with the batch's statistics
        "input: {shape: [4, 6, 6], batch: 2}\nlayers:\n  - conv: {out: 4, kernel: 1}\n"  # a backward FlopCounterMode sees
        "  - softplus\n  - softplus: {beta: 2, threshold: 5, torch: function}\n  - celu: {alpha: 0.5}\n"
        "  - celu: {torch: subclass}\n  - selu\n  - selu: {torch: function}\n  - threshold: {threshold: 0.1, value: 2}\n"
        "  - logsigmoid\n  - logsigmoid: {torch: function}\n  - batchnorm: {track_running_stats: false}\n"
        "  - batchnorm: {track_running_stats: false, affine: false, torch: subclass}\n"
    ),
    "vit": (
        "input: {shape: [3, 16, 16], batch: 2}\nlayers:\n"
        "  - patch_embed: {out: 12, patch: 4}\n  - class_token\n  - pos_embed\n  - layernorm\n"
        "  - attention: {heads: 2}\n  - attention: {heads: 3}\n  - attention: {heads: 3, head_dim: 5}\n"
        "  - attention: {heads: 2, qkv_bias: false}\n  - attention: {heads: 4, bias: false, qkv_bias: false}\n"
        "  - attention: {heads: 2, sdpa: true}\n  - attention: {heads: 3, head_dim: 4, qkv_bias: false, sdpa: true}\n"
        "  - token_pool\n  - linear: {out: 3}\n"
    ),
    "tokens": (
        "input: [6, 8, 6]\nlayers:\n  - to_tokens\n  - linear: {out: 8}\n  - token_pool: {mode: mean}\n"
    ),
    "token_grid": (
        "input: {shape: [3, 16, 12], batch: 2}\nlayers:\n  - patch_embed: {out: 8, patch: [4, 2], grid: true}\n"
        "  - to_map\n  - to_tokens: {grid: true}\n  - linear: {out: 8}\n  - to_map\n"
    ),
    "swin": (
        "input: {shape: [3, 28, 20], batch: 2}\nlayers:\n"
        "  - patch_embed: {out: 8, patch: 2, grid: true}\n  - layernorm\n"
        "  - window_attention: {heads: 2, window: 3}\n"
        "  - window_attention: {heads: 2, window: [4, 3], shift: [2, 1]}\n"
        "  - window_attention: {heads: 2, window: 4, shift: 2, mask_buffer: true, qkv_bias: false, bias: false}\n"
        "  - window_attention: {heads: 4, window: 5, shift: 2, einsum: true}\n"
        "  - window_attention: {heads: 2, window: 20, shift: 3}\n"
        "  - patch_merging\n  - linear: {out: 8}\n"
        "  - window_attention_v2: {heads: 2, window: 3, cpb_hidden: 8}\n"
        "  - window_attention_v2: {heads: 2, window: [4, 3], shift: [2, 1], cpb_hidden: 8}\n"
        "  - window_attention_v2: {heads: 2, window: 2, shift: 1, qkv_bias: false, bias: false}\n"
        "  - patch_merging_v2\n  - to_map\n"
    ),
    "maxvit": (  # timm's MaxViT partition attention: block and grid, both head layouts, with and without biases
        "input: {shape: [3, 16, 16], batch: 2}\nlayers:\n  - patch_embed: {out: 8, patch: 2, grid: true}\n"
        "  - partition_attention: {heads: 2, window: 4}\n"
        "  - partition_attention: {heads: 2, window: [2, 4], grid: true, head_first: false}\n"
        "  - partition_attention: {heads: 4, window: [8, 2], qkv_bias: false, bias: false}\n  - to_map\n"
    ),
    "swin3d": (
        "input: {shape: [3, 4, 12, 10], batch: 2}\nlayers:\n  - conv: {out: 8, kernel: 2, stride: 2}\n"
        "  - permute: {dims: [0, 2, 3, 4, 1]}\n"
        "  - window_attention_3d: {heads: 2, window: [2, 4, 3], shift: [1, 2, 1]}\n"
        "  - window_attention_3d: {heads: 2, window: [8, 3, 3], shift: [4, 1, 1], qkv_bias: false}\n"
        "  - window_attention_3d: {heads: 4, window: 2}\n"
        "  - patch_merging\n  - to_map\n"
    ),
    "mvit": (
        "input: {tokens: [64, 8], batch: 2}\nlayers:\n  - spacetime_embed: {grid: [4, 4, 4]}\n"
        "  - pooling_attention: {heads: 2, grid: [4, 4, 4], kernel_q: [1, 3, 3], stride_q: [1, 2, 2], "
        "kernel_kv: [1, 3, 3], stride_kv: [1, 2, 2]}\n"
        "  - grid_pool: {grid: [4, 2, 2], kernel: [1, 3, 3], stride: [1, 2, 2], padding: [0, 1, 1]}\n"
        "  - pooling_attention: {heads: 2, grid: [4, 1, 1], out: 12, kernel_q: 3, kernel_kv: 3, stride_kv: [2, 1, 1], "
        "residual_pool: true, residual_cls: false, rel_pos: true}\n"
        "  - pooling_attention: {heads: 3, grid: [4, 1, 1], rel_pos: true, residual_pool: true}\n"
        "  - pooling_attention: {heads: 2, grid: [4, 1, 1], kernel_kv: [3, 1, 1]}\n"
        "  - token_pool\n"
    ),
    # issue 20's pools and resampling (adaptive max, LP, fractional, avg with a divisor, nearest-exact, antialiased);
    # each after a 1×1 conv, whose backward FlopCounterMode counts (the pools' it does not)
    "pools20": (
        "input: {shape: [4, 9, 8], batch: 2}\nlayers:\n  - conv: {out: 4, kernel: 1}\n  - adaptive_maxpool: {out: [4, 3]}\n"
        "  - upsample: {size: [9, 8], mode: nearest-exact}\n  - avgpool: {kernel: 3, stride: 1, padding: 1, divisor: 2}\n"
        "  - lppool: {norm: 2, kernel: 2, stride: 1, ceil_mode: true}\n  - fractional_maxpool: {kernel: 2, out: [6, 5]}\n"
        "  - upsample: {size: [4, 3], mode: bilinear, antialias: true}\n"
        "  - upsample: {scale: 1.5, mode: bicubic, antialias: true, align_corners: true}\n  - adaptive_maxpool\n"
    ),
    "pools20_ranks": (
        "input: [3, 17]\nlayers:\n  - conv: {out: 3, kernel: 1}\n  - adaptive_maxpool: {out: 5}\n"
        "  - lppool: {norm: 3, kernel: 3, torch: function}\n"
        "  - upsample: {scale: 2, mode: nearest-exact}\n"
    ),
    "pools20_3d": (
        "input: {shape: [2, 6, 6, 6], batch: 2}\nlayers:\n  - conv: {out: 2, kernel: 1}\n"
        "  - adaptive_maxpool: {out: [2, 3, 2], torch: function}\n  - lppool: {norm: 1.5, kernel: [1, 2, 2]}\n"
        "  - avgpool: {kernel: 1, divisor: 2}\n"
    ),
    # torch 2.13 has no meta kernel for fractional_max_pool3d's backward: verify --training cannot run it
    "pools20_fractional_3d": (
        "input: {shape: [2, 6, 6, 6], batch: 2}\nlayers:\n  - fractional_maxpool: {kernel: [1, 2, 2], ratio: 0.5}\n"
    ),
    "mvit_v2_embed": (
        "input: {tokens: [32, 6]}\nlayers:\n  - spacetime_embed: {grid: [2, 4, 4], pos: false}\n"
        "  - pooling_attention: {heads: 2, grid: [2, 4, 4], stride_q: [1, 2, 2], stride_kv: [2, 2, 2]}\n"
    ),
}


def general_specs() -> dict[str, str]:
    """tests/tensor_op_cases.py's cases (the general tensor ops, with their inputs and batch) as specs."""
    return {f"{c[0]}-{k}": f"input: {{shape: {c[2]}, batch: {c[3]}}}\nlayers:\n  - {c[1]}\n" for k, c in enumerate(CASES)}


def all_specs() -> dict[str, str]:
    return {**SPECS, **general_specs()}
