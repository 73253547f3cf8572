"""What each op's backward keeps (its definition's ``saves`` and ``saved_extra``) against what torch's autograd
saves (saved_tensors_hooks), for the ops tests/test_norms.py does not cover: the token ops (attention on its
explicit and its fused path, Swin's windowed attention with and without shift and padding, patch merging,
layernorm over tokens), dropout's mask and the pools (a global average keeps nothing, an adaptive one its
input). A 1×1 conv first puts each op on the gradient path; weights are not activations."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from convcost.costmodel.analysis import analyze  # noqa: E402
from convcost.costmodel.memory import analyze_memory  # noqa: E402
from convcost.crosscheck.torch_build import build_model  # noqa: E402
from convcost.frontend.spec import parse_spec  # noqa: E402
from convcost.graph.build import build_graph  # noqa: E402


def saved_by_autograd(text: str, batch: int = 2) -> tuple[int, int]:
    """(bytes autograd saved, bytes the memory model says training saves) for one forward of the spec, the parameters
    of its frozen layers not requiring grad."""
    g = build_graph(parse_spec(text, "t.yaml"), "t", batch=batch)
    model = build_model(g).train()
    for n in g.nodes:
        for p in model.module_for(n.name).parameters() if n.frozen else ():
            p.requires_grad_(False)
    own = {p.untyped_storage().data_ptr() for p in [*model.parameters(), *model.buffers()]}
    saved: dict[int, int] = {}

    def pack(t):  # type: ignore[no-untyped-def]
        s = t.untyped_storage()
        if s.data_ptr() not in own:  # one entry per storage: views and re-saves count once
            saved[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(torch.randn(batch, *g.input_shape)).sum()
    return sum(saved.values()), analyze_memory(analyze(g), "fp32").activations.training_saved_bytes


# Found while writing this test (issue 19), left to the token ops' owners: where it differs, the memory model
# and torch 2.13's autograd disagree by whole tensors, so these are marked, strictly, until one of them changes.
FUSED_TRAINING = pytest.mark.xfail(strict=True, reason=(
    "nn.MultiheadAttention in training runs CPU scaled_dot_product_attention, which keeps its output and logsumexp, "
    "not the attention probabilities saved_extra counts: autograd saves 10,800 bytes, the model 24,720"))
SINGLE_HEAD = pytest.mark.xfail(strict=True, reason=(
    "with one head autograd keeps one more B×N×C tensor than saved_extra counts (explicit attention 19,440 against "
    "17,520 bytes; window attention 24,912 against 22,608), with or without either bias"))


@pytest.mark.parametrize("layers", [
    pytest.param("  - to_tokens\n  - attention: {heads: 2}\n", marks=FUSED_TRAINING),  # 6·5 = 30 tokens of 8
    "  - to_tokens\n  - attention: {heads: 4, head_dim: 3, qkv_bias: false}\n",
    pytest.param("  - to_tokens\n  - attention: {heads: 1, bias: false}\n", marks=SINGLE_HEAD),
    "  - to_tokens\n  - attention: {heads: 2, bias: false}\n",  # explicit: the two biases differ
    "  - to_tokens\n  - attention: {heads: 2, sdpa: true}\n",  # timm's: CPU's flash kernel, its output and log-sum-exp
    "  - to_tokens\n  - attention: {heads: 4, head_dim: 3, qkv_bias: false, sdpa: true}\n",
    "  - to_tokens\n  - attention: {heads: 2, head_dim: 5}\n",
    "  - to_tokens: {grid: true}\n  - window_attention: {heads: 2, window: 3}\n",  # 6×5 padded to 6×6: 4 windows
    "  - to_tokens: {grid: true}\n  - window_attention: {heads: 4, window: [2, 5], shift: [1, 2]}\n",
    pytest.param("  - to_tokens: {grid: true}\n  - window_attention: {heads: 1, window: 6}\n", marks=SINGLE_HEAD),
    "  - to_tokens: {grid: true}\n  - window_attention: {heads: 2, window: 6, qkv_bias: false, bias: false}\n",
    "  - to_tokens: {grid: true}\n  - patch_merging\n",  # 6×5 padded to 6×6: 3×3 tokens of 32
    # MaxViT's partition attention (timm's): F.scaled_dot_product_attention on the math path, the einsums' operands
    "  - to_tokens: {grid: true}\n  - partition_attention: {heads: 2, window: [3, 5]}\n",  # 2 windows of 15
    "  - to_tokens: {grid: true}\n  - partition_attention: {heads: 4, window: [2, 5], grid: true, head_first: false, "
    "qkv_bias: false, bias: false}\n",
    "  - to_tokens: {grid: true}\n  - window_attention: {heads: 2, window: 2, shift: 1}\n  - patch_merging\n",
    # Swin v2: cosine attention, the position bias MLP (once per forward), the norm after the merge's reduction
    "  - to_tokens: {grid: true}\n  - window_attention_v2: {heads: 2, window: 3, cpb_hidden: 8}\n",
    "  - to_tokens: {grid: true}\n  - window_attention_v2: {heads: 4, window: [2, 5], shift: [1, 2], cpb_hidden: 8}\n",
    "  - to_tokens: {grid: true}\n  - window_attention_v2: {heads: 2, window: 6, qkv_bias: false, bias: false}\n",
    "  - to_tokens: {grid: true}\n  - patch_merging_v2\n",
    "  - to_tokens: {grid: true}\n  - window_attention_v2: {heads: 2, window: 2, shift: 1, cpb_hidden: 8}\n"
    "  - patch_merging_v2\n",
])
def test_training_saved_bytes_of_token_ops_match_torch_autograd(layers: str) -> None:
    torch_saved, model_saved = saved_by_autograd("input: [3, 6, 5]\nlayers:\n  - conv: {out: 8, kernel: 1}\n" + layers)
    assert torch_saved == model_saved


@pytest.mark.parametrize("layer", [
    "dropout",  # the mask: one byte per element
    "dropout: {p: 0.3}",
    "global_avgpool",  # the backward of a mean over the whole map needs only the input's size
    "adaptive_avgpool: {out: 1}",
    "adaptive_avgpool: {out: [2, 3]}",  # windows that overlap: the input is kept
    "avgpool: {kernel: 2}",
    "maxpool: {kernel: 2}",  # the input and the indices
])
def test_training_saved_bytes_of_map_ops_match_torch_autograd(layer: str) -> None:
    torch_saved, model_saved = saved_by_autograd(f"input: [3, 6, 5]\nlayers:\n  - conv: {{out: 4, kernel: 1}}\n  - {layer}\n")
    assert torch_saved == model_saved


@pytest.mark.parametrize("layers", [
    "  - to_tokens\n  - layernorm\n",
    "  - to_tokens: {grid: true}\n  - layernorm: {affine: false}\n",
    "  - layernorm: {channels_last: true}\n",
])
def test_training_saved_bytes_of_layernorm_on_tokens_match_torch_autograd(layers: str) -> None:
    torch_saved, model_saved = saved_by_autograd("input: [3, 6, 5]\nlayers:\n  - conv: {out: 8, kernel: 1}\n" + layers)
    assert torch_saved == model_saved


# A frozen layer after a trainable one still passes the gradient back. Whether it keeps its input is torch's backward
# formula's business, not the weights': convolution_backward is one formula for input, weight and bias, so a frozen
# conv keeps its input; a linear's mm has one formula per operand, so a frozen linear keeps none. Reflect and
# replicate padding's backwards read the input; constant and circular padding's only slice the gradient.
@pytest.mark.parametrize(("layer", "kept"), [
    ("conv: {out: 6, kernel: 3, padding: 1, frozen: true}", 2 * 4 * 6 * 5 * 4),  # its input: B·C·H·W fp32
    ("conv: {out: 6, kernel: 3, groups: 2, bias: false, frozen: true}", 2 * 4 * 6 * 5 * 4),
    ("conv_transpose: {out: 6, kernel: 2, stride: 2, frozen: true}", 2 * 4 * 6 * 5 * 4),
    ("conv: {out: 6, kernel: 3, weight: fixed, bias: false}", 2 * 4 * 6 * 5 * 4),  # a fixed filter: nothing learned
    ("linear: {out: 6, over: channels, frozen: true}", 0),
    ("pad: {pad: [1, 1, 2, 2], mode: reflect}", 2 * 4 * 6 * 5 * 4),
    ("pad: {pad: [1, 1, 2, 2], mode: replicate}", 2 * 4 * 6 * 5 * 4),
    ("pad: {pad: [1, 1, 2, 2], mode: circular}", 0),
    ("pad: {pad: [1, 1, 2, 2]}", 0),
])
def test_what_a_frozen_or_padding_layer_keeps_matches_torch_autograd(layer: str, kept: int) -> None:
    head = "input: [3, 6, 5]\nlayers:\n  - conv: {out: 4, kernel: 1, bias: false}\n"  # keeps its input, 2·3·6·5 fp32
    torch_saved, model_saved = saved_by_autograd(head + f"  - {layer}\n")
    assert torch_saved == model_saved == 2 * 3 * 6 * 5 * 4 + kept


def test_a_frozen_patch_embed_keeps_its_input_as_torch_does() -> None:
    spec = ("input: [3, 6, 4]\nlayers:\n  - conv: {out: 4, kernel: 1, bias: false}\n"
            "  - patch_embed: {out: 8, patch: 2, frozen: true}\n")
    torch_saved, model_saved = saved_by_autograd(spec)
    assert torch_saved == model_saved == 2 * 3 * 6 * 4 * 4 + 2 * 4 * 6 * 4 * 4  # both convs' inputs, fp32


@pytest.mark.parametrize("layer", [
    # issue 20's general ops, after a 1×1 conv 3→4 on 6×5 (its input kept for its weight's gradient)
    "tile: {sizes: [1, 2, 1]}",  # repeat_backward needs the sizes only
    "flip: {dims: 3}",
    "roll: {shifts: 1, dims: 2}",
    "index_select: {dim: 1, index: 3}",  # the index (8 bytes each)
    "topk: {k: 2, dim: 3}",  # the indices of the kept values
    "sub: {buffer: [4, 1, 1]}",  # nothing: a buffer needs no gradient
    "div: {buffer: [4, 1, 1]}",  # the buffer only (held by the model, not an activation)
    "multiply: {buffer: [1, 4, 1, 1]}",
    "div: {buffer: [4, 1, 1], reverse: true}",  # buffer / x: x for its own gradient
    "gt: {scalar: 0}",  # a mask: no gradient, nothing kept
    "einsum: {from: [conv1, conv1, conv1], equation: 'bcij,bckj,bckl->bcil'}",  # each step's two sides
    "grid_sample: {grid: [3, 2]}",  # the map (the learned grid is a parameter)
])
def test_training_saved_bytes_of_general_ops_match_torch_autograd(layer: str) -> None:
    torch_saved, model_saved = saved_by_autograd(f"input: [3, 6, 5]\nlayers:\n  - conv: {{out: 4, kernel: 1}}\n  - {layer}\n")
    assert torch_saved == model_saved
