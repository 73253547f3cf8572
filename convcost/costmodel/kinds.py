"""What a layer is to the latency model: its *kind*, read from the graph alone (no torch).

A calibrated device profile (`convcost calibrate`, costmodel/calibration.py) measures how fast each
kind runs at several sizes; a layer's predicted time uses the curve of its kind. The kind follows
from the op's definition (its category, whether its parts multiply activations by activations) and
its arguments (groups, kernel), never from the op's name:

* compute kinds, whose rate is in FLOP/s at a size in FLOPs per call: ``conv_dense`` (groups 1,
  a kernel larger than 1: conv, transposed conv, patch embedding), ``conv_1x1`` (groups 1, 1×1…), ``linear``
  (linear layers, matmul, einsum, patch merging), ``attention`` (an op whose parts include a matmul of
  activations: multi-head, window and scaled-dot-product attention; its time also counts the passes its torch module
  makes over the score matrices it holds in memory, and its copies of its tokens: score_passes), ``pool`` (max/average
  pooling over windows);
* memory kinds, whose rate is a bandwidth in B/s at a size in bytes moved per call: ``conv_depthwise``
  (groups = input channels, up to 3×3 = 9 taps) and ``conv_depthwise_large`` (more taps: 5×5, 7×7): a
  depthwise conv does 9 (or 49) multiply-adds per element it reads and writes, so its time follows the bytes
  it moves, not its FLOPs (a stride-2 one reads 4× the bytes per FLOP of a stride-1 one, and takes 2.5× as
  long per FLOP); ``conv_grouped`` (1 < groups < input channels): torch runs a grouped conv of 4 to 32 channels
  per group far below a dense conv's rate, and its time follows its bytes too (measured on this project's CPU over
  ResNeXt-50's and RegNetY's: 0.6–1.0 µs per kB moved, against 27–116 µs per MFLOP); ``elementwise``
  (activations, elementwise math, add, sub, multiply, position embeddings), ``norm`` (batch/layer/
  group/instance norm, layer scale), ``reduce`` (reductions over whole dims: global average pool,
  token pooling, mean, sum, norm...), ``copy`` (concat, stack, shuffles, pad, resampling);
* ``view``: a layer that moves nothing (flatten, identity, dropout at inference): overhead only.
"""

from __future__ import annotations

from typing import NamedTuple

from ..graph.nodes import Node
from ..ops.shapes import numel
from .memory import Traffic, is_view


class Kind(NamedTuple):
    name: str
    compute: bool  # True: a rate in FLOP/s at a size in FLOPs; False: a bandwidth in B/s at a size in bytes
    what: str


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("conv_dense", True, "dense convolution, kernel > 1 (conv, conv_transpose, patch_embed)"),
        Kind("conv_1x1", True, "1×1 convolution, groups 1 (pointwise)"),
        Kind("conv_depthwise", False, "depthwise convolution (groups = input channels), up to 3×3: bytes-bound"),
        Kind("conv_depthwise_large", False, "depthwise convolution with a larger kernel (5×5, 7×7: ConvNeXt): bytes-bound"),
        Kind("conv_grouped", False, "grouped convolution (1 < groups < input channels): bytes-bound on CPU"),
        Kind("linear", True, "linear layer / matrix multiply (linear, matmul, einsum, patch_merging)"),
        Kind("attention", True, "attention (attention, window_attention, scaled_dot_product_attention)"),
        Kind("pool", True, "max or average pooling over windows"),
        Kind("elementwise", False, "activations, elementwise math, add, sub, multiply, position embeddings"),
        Kind("norm", False, "batch, layer, group and instance norm, layer scale"),
        Kind("reduce", False, "reductions over whole dims (global average pool, token pool, mean, sum, norm)"),
        Kind("copy", False, "concat, stack, shuffles, pad, upsampling"),
    )
}
COMPUTE_KINDS = tuple(k for k, v in KINDS.items() if v.compute)
MEMORY_KINDS = tuple(k for k, v in KINDS.items() if not v.compute)
VIEW = "view"


SMALL_DEPTHWISE_TAPS = 9  # 3×3


def _conv_kind(node: Node) -> str:
    groups = getattr(node.args, "groups", 1)
    in_channels = node.in_shapes[0][0]
    kernel = getattr(node.args, "kernel", getattr(node.args, "patch", 1))
    kernel = kernel if isinstance(kernel, tuple) else (kernel,)
    if groups > 1:
        if groups != in_channels:
            return "conv_grouped"
        return "conv_depthwise" if numel(kernel) <= SMALL_DEPTHWISE_TAPS else "conv_depthwise_large"
    return "conv_1x1" if all(k == 1 for k in kernel) else "conv_dense"


def _multiplies_activations(node: Node) -> bool:
    """Whether the op's cost parts include a matmul of activations (QKᵀ, A·V): attention."""
    parts = node.rule.parts
    if parts is None:
        return False
    return any(p.op == "matmul" for p in parts(node.args, node.in_shapes, node.shape, 1))


def layer_kind(node: Node) -> str:
    """The node's kind (a key of KINDS, or VIEW)."""
    category = node.rule.category
    if is_view(node):
        return VIEW
    if category == "conv":
        return _conv_kind(node)
    if category == "linear":
        return "attention" if _multiplies_activations(node) else "linear"
    if category == "norm":
        return "norm"
    if category == "pool":  # windows (a kernel) or reductions over whole dims (global pool, mean, sum, norm...)
        return "pool" if hasattr(node.args, "kernel") else "reduce"
    if category in ("activation", "math"):
        return "elementwise"
    if category == "join":  # add, multiply, position embedding compute; concat only copies
        return "elementwise" if numel(node.shape) and _computes(node) else "copy"
    return "copy"  # resample, shuffle


def _computes(node: Node) -> bool:
    return node.rule.cost(node.args, node.in_shapes, node.shape, 1).flops > 0


def score_passes(node: Node, batch: int, elem: int) -> tuple[tuple[str, int], ...]:
    """(op, bytes moved) of each pass an attention layer's torch module makes over the score matrices it holds in memory
    (its op's definition: OpRule.score_passes; ``elem`` bytes per score); () for any other layer, and for attention
    that torch runs in a fused kernel keeping its scores in cache."""
    return tuple((p.op, p.elements * elem) for p in node.rule.score_passes(node, batch))


def curve_bytes(kind: str, node: Node, traffic: Traffic) -> int:
    """The bytes a memory kind's time follows (where on its curve the layer sits, and what its bandwidth moves):
    the bytes it moves, but for a grouped conv whose output map is smaller than its input (a strided one) the input
    counted at the output map's size. A strided grouped conv does the work of its output: measured over the configs'
    (RegNetY's first block of each stage, ResNeXt-50's layer2-4.0, 3×3 /2) in three quiet rounds, by all the bytes it
    moves each was predicted +17 to +325 % too slow (the calibration's grouped convs are all stride 1; docs/profile.md).
    Depthwise convs keep all their bytes: their curve has a stride-2 point."""
    if kind != "conv_grouped" or not traffic.input_bytes:
        return traffic.total
    in_map, out_map = numel(node.in_shapes[0][1:]), numel(node.shape[1:])
    if not in_map or out_map >= in_map:
        return traffic.total
    return traffic.input_bytes * out_map // in_map + traffic.weight_bytes + traffic.output_bytes
