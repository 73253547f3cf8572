"""MViT's pooling attention (`pooling_attention`, torchvision's MultiscaleAttention): its numbers derived by hand and
checked against torchvision's own module (parameter sums, FlopCounterMode FLOPs / 2), and small torchvision MViTs in
both layouts (v1, v2: tests/mvit_factories.py) imported exactly, with `verify --reference` passing."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
from conftest import analysis_of

from convcost.cost import Cost
from convcost.ops.shapes import Tokens

# A: 17 tokens of 8 (a class token, a 1×4×4 grid), batch 2, 2 heads of 4; q, k and v pooled by [1, 3, 3] / [1, 2, 2]:
# t (1 + 0 − 1)//1 + 1 = 1, h and w (4 + 2 − 3)//2 + 1 = 2: Nq = Nk = 1 + 1·2·2 = 5
A = ("input: {tokens: [17, 8], batch: 2}\nlayers:\n  - pooling_attention: {heads: 2, grid: [1, 4, 4], "
     "kernel_q: [1, 3, 3], stride_q: [1, 2, 2], kernel_kv: [1, 3, 3], stride_kv: [1, 2, 2]}\n")
A_COST = Cost(
    # qkv 8·24 + 24; three pools, each a Conv3d(4, 4, [1, 3, 3], groups 4) 4·9 and a LayerNorm(4) 2·4; project 8·8 + 8
    params=(8 * 24 + 24) + 3 * (4 * 9 + 2 * 4) + (8 * 8 + 8),
    # qkv b·N·D·3O = 2·17·8·24; each pool b·O·4·9 (4 pooled grid tokens, 9 taps); q·kᵀ and a·v b·Nq·Nk·O = 2·5·5·8;
    # project b·Nq·O·O = 2·5·8·8
    macs=2 * 17 * 8 * 24 + 3 * (2 * 8 * 4 * 9) + 2 * (2 * 5 * 5 * 8) + 2 * 5 * 8 * 8,
    bias_ops=2 * 17 * 24 + 2 * 5 * 8,  # a bias per output element of qkv and project
    norm_ops=3 * 5 * (2 * 8 * 5),  # each pool's LayerNorm: 5 per element of b·O·(1 + 4)
    elementwise_ops=2 * 5 * 8,  # q scaled by 1/√4: b·Nq·O
    act_ops=3 * (2 * 2 * 5 * 5),  # softmax 3 per score: b·heads·Nq·Nk
    activations=2 * 5 * 8,
)

# B: 33 tokens of 8 (a 2×4×4 grid), batch 1, out 12: 2 heads of 6; q pooled by 3 / [1, 2, 2]: t (2 + 2 − 3)//1 + 1 = 2,
# h and w 2: Nq = 1 + 8 = 9; k and v by 3 / [2, 4, 4]: t (2 + 2 − 3)//2 + 1 = 1, h and w (4 + 2 − 3)//4 + 1 = 1: Nk = 2.
# Relative positions: S = max(4, 4) = 4, 2·max(4 // 2, 4 // 4) − 1 = 3 rows for h and w, 2·2 − 1 = 3 for t.
B = ("input: {tokens: [33, 8]}\nlayers:\n  - pooling_attention: {heads: 2, grid: [2, 4, 4], out: 12, kernel_q: 3, "
     "stride_q: [1, 2, 2], kernel_kv: 3, stride_kv: [2, 4, 4], residual_pool: true, residual_cls: false, rel_pos: true}\n")
B_COST = Cost(
    # qkv 8·36 + 36; pools Conv3d(6, 6, 3, groups 6) 6·27 and LayerNorm(6) 12, three; tables (3 + 3 + 3)·6; project
    params=(8 * 36 + 36) + 3 * (6 * 27 + 12) + 9 * 6 + (12 * 12 + 12),
    # qkv 33·8·36; pool_k, pool_v 12·1·27 each (one pooled grid token); pool_q 12·8·27; q·kᵀ and a·v 9·2·12 each;
    # relative positions 12·8·(kh + kw + kt) = 12·8·3; project 9·12·12
    macs=33 * 8 * 36 + 2 * (12 * 1 * 27) + 12 * 8 * 27 + 2 * (9 * 2 * 12) + 12 * 8 * 3 + 9 * 12 * 12,
    bias_ops=33 * 36 + 9 * 12,
    norm_ops=5 * 12 * 2 * 2 + 5 * 12 * 9,  # k's and v's LayerNorm over 2 tokens, q's over 9
    # q scaled 9·12; relative positions heads·8·(kh·kw + 2·(Nk − 1)) = 2·8·(1 + 2); residual q without the class token
    # 12·8
    elementwise_ops=9 * 12 + 2 * 8 * 3 + 12 * 8,
    act_ops=3 * 2 * 9 * 2,
    activations=9 * 12,
)


@pytest.mark.parametrize(("spec", "out", "cost"), [(A, Tokens(5, 8), A_COST), (B, Tokens(9, 12), B_COST)], ids=["v1", "v2"])
def test_pooling_attention_shape_and_cost(spec: str, out: Tokens, cost: Cost) -> None:
    a = analysis_of(spec)
    layer = a.layers[0]
    assert layer.node.shape == out
    assert layer.cost == cost
    parts = layer.node.rule.parts(layer.node.args, layer.node.in_shapes, out, a.graph.batch)
    assert sum((p.cost for p in parts), Cost()) == cost


def test_a_grid_that_is_not_the_tokens_is_a_located_error() -> None:
    from convcost.errors import SpecError

    with pytest.raises(SpecError, match=r"grid \[2, 4, 4\] needs 1 \+ 2·4·4 = 33 tokens \(a class token, then the grid\), "
                                         r"got 17"):
        analysis_of("input: {tokens: [17, 8]}\nlayers:\n  - pooling_attention: {heads: 2, grid: [2, 4, 4]}\n")
    with pytest.raises(SpecError, match=r"heads=3 must divide the width 8"):
        analysis_of("input: {tokens: [17, 8]}\nlayers:\n  - pooling_attention: {heads: 3, grid: [1, 4, 4]}\n")


# ---- against torchvision's own module ---------------------------------------------------------------------------------
torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")


def _torchvision(spec: str, grid: list[int], **kw: object) -> tuple[int, int]:
    """(params, FlopCounterMode FLOPs / 2) of torchvision's MultiscaleAttention on one input of the spec's tokens."""
    from torch.utils.flop_counter import FlopCounterMode
    from torchvision.models.video.mvit import MultiscaleAttention

    a = analysis_of(spec)
    n, d = a.layers[0].node.in_shapes[0]
    m = MultiscaleAttention(grid, d, **kw).eval()  # type: ignore[arg-type]
    with FlopCounterMode(display=False) as fc:
        m(torch.zeros(a.graph.batch, n, d), tuple(grid))
    return sum(p.numel() for p in m.parameters()), fc.get_total_flops() // 2


def test_pooling_attention_counts_are_torchvisions() -> None:
    # FlopCounterMode sees qkv, project (addmm), the pools (convolution), q·kᵀ, a·v, the einsums and the matmul (bmm)
    a = _torchvision(A, [1, 4, 4], output_dim=8, num_heads=2, kernel_q=[1, 3, 3], kernel_kv=[1, 3, 3],
                     stride_q=[1, 2, 2], stride_kv=[1, 2, 2], residual_pool=False, residual_with_cls_embed=True,
                     rel_pos_embed=False)
    assert a == (A_COST.params, A_COST.macs)
    b = _torchvision(B, [2, 4, 4], output_dim=12, num_heads=2, kernel_q=[3, 3, 3], kernel_kv=[3, 3, 3],
                     stride_q=[1, 2, 2], stride_kv=[2, 4, 4], residual_pool=True, residual_with_cls_embed=False,
                     rel_pos_embed=True)
    assert b == (B_COST.params, B_COST.macs)


# ---- import: small MViTs in both layouts ----------------------------------------------------------------------------
V1_LINES = (
    "- spacetime_embed: {name: pos_encoding, grid: [2, 4, 4]}",  # the position embedding on: no `pos: false`
    # the stage change: q pooled by [1, 2, 2], k and v by 3 with stride 1; the skip's max pool
    "- pooling_attention: {name: attn, heads: 2, grid: [2, 4, 4], kernel_q: 3, stride_q: [1, 2, 2], kernel_kv: 3, "
    "stride_kv: 1}",
    "- grid_pool: {name: pool_skip, grid: [2, 4, 4], kernel: [1, 3, 3], stride: [1, 2, 2], padding: [0, 1, 1]}",
)
V2_LINES = (
    "- spacetime_embed: {name: pos_encoding, grid: [2, 4, 4], pos: false}",
    "- pooling_attention: {name: attn, heads: 2, grid: [2, 4, 4], out: 16, kernel_q: 3, stride_q: [1, 2, 2], kernel_kv: 3, "
    "stride_kv: 1, residual_pool: true, residual_cls: false, rel_pos: true}",
)


@pytest.mark.parametrize(("factory", "lines"), [("tiny_mvit_v1", V1_LINES), ("tiny_mvit_v2", V2_LINES)])
def test_small_mvit_imports_exactly(factory: str, lines: tuple[str, ...], tmp_path: Path) -> None:
    """Params, buffers and MACs equal torch's, verify --reference passes, and the layers say what torchvision's
    modules do (what the counts cannot tell apart: the residual pooling's class token, the grid's order)."""
    from zoo import imports_exactly

    text = imports_exactly(f"mvit_factories:{factory}", {}, (3, 4, 16, 16), tmp_path).read_text()
    for line in lines:
        assert line in text, text


def test_verify_measures_what_the_counters_are_predicted_to_see() -> None:
    """verify runs the built modules (modules/mvit.py: torchvision's calls) under fvcore and FlopCounterMode, forward and
    backward (--training): fvcore's LayerNorm 5 per element and its einsum estimate from numpy, layer by layer, as
    predicted."""
    pytest.importorskip("fvcore")
    from conftest import graph_of
    from test_convention_tools import FORMS_CASES

    from convcost.crosscheck.verify import verify_graph

    report = verify_graph(graph_of(FORMS_CASES["mvit"]), training=True)
    assert report.ok, report
    layers = [lr for lr in report.layers if lr.op == "pooling_attention"]
    assert len(layers) == 2 and all(lr.checks["fvcore"].status == "ok" for lr in layers), layers
    # the backward too: FlopCounterMode's 2 FLOPs per backward MAC, the pools' depthwise weight gradients ×head_dim
    assert [k for k in layers[0].checks if "backward" in k or "training" in k], layers[0].checks
    assert all(c.status in ("ok", "not_compared") for lr in layers for c in lr.checks.values())


@pytest.mark.parametrize("pos", [True, False])
def test_spacetime_embed_is_torchvisions_positional_encoding(pos: bool) -> None:
    """10 tokens of 6 as a 2×1×5 grid: the class token (6) and, with pos, rows 2·6 + 5·6 + 6; the same output as
    torchvision's PositionalEncoding with the same weights."""
    from torchvision.models.video.mvit import PositionalEncoding

    from convcost.crosscheck.torch_build import build_model

    spec = f"input: {{tokens: [10, 6], batch: 2}}\nlayers:\n  - spacetime_embed: {{grid: [2, 1, 5], pos: {str(pos).lower()}}}\n"
    a = analysis_of(spec)
    ref = PositionalEncoding(6, (1, 5), 2, rel_pos_embed=not pos)
    assert a.total.params == sum(p.numel() for p in ref.parameters()) == 6 + ((2 + 5 + 1) * 6 if pos else 0)
    ours = build_model(a.graph, "cpu")
    torch.manual_seed(0)
    for p in ref.parameters():
        torch.nn.init.normal_(p)
    own = dict(ours.named_parameters())
    for name, p in ref.named_parameters():  # the same names under the layer's module
        (key,) = [k for k in own if k.endswith(f".{name}")]
        own[key].data.copy_(p.data)
    x = torch.randn(2, 10, 6)
    assert torch.equal(ours(x.clone()), ref(x.clone()))


def test_the_built_module_computes_what_torchvisions_does() -> None:
    """Spec B built (modules/mvit.py), given the weights of torchvision's MultiscaleAttention by name: the same output."""
    from torchvision.models.video.mvit import MultiscaleAttention

    from convcost.crosscheck.torch_build import build_model

    a = analysis_of(B)
    ref = MultiscaleAttention([2, 4, 4], 8, 12, 2, kernel_q=[3, 3, 3], kernel_kv=[3, 3, 3], stride_q=[1, 2, 2],
                              stride_kv=[2, 4, 4], residual_pool=True, residual_with_cls_embed=False,
                              rel_pos_embed=True, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6)).eval()
    torch.manual_seed(0)
    for p in ref.parameters():
        torch.nn.init.normal_(p, std=0.1)
    ours = build_model(a.graph, "cpu").eval()
    own = dict(ours.named_parameters())
    assert len(own) == len(dict(ref.named_parameters()))
    for name, p in ref.named_parameters():
        (key,) = [k for k in own if k.endswith(f".{name}")]
        own[key].data.copy_(p.data)
    x = torch.randn(1, 33, 8)
    with torch.no_grad():
        assert torch.allclose(ours(x), ref(x, (2, 4, 4))[0], atol=1e-6)


@pytest.mark.parametrize("layer", [
    # q, k and v pooled (spec A's layer)
    "pooling_attention: {heads: 2, grid: [1, 4, 4], kernel_q: [1, 3, 3], stride_q: [1, 2, 2], kernel_kv: [1, 3, 3], "
    "stride_kv: [1, 2, 2]}",
    "pooling_attention: {heads: 2, grid: [1, 4, 4], kernel_kv: 3, stride_kv: [1, 2, 2]}",  # q not pooled
    "pooling_attention: {heads: 1, grid: [1, 4, 4], out: 4}",  # nothing pooled: k and v are views of qkv's output
    # spec B's layer on 33 tokens: relative positions (q's grid copied three times, the gathered rows and their indices)
    "pooling_attention: {heads: 2, grid: [2, 4, 4], out: 12, kernel_q: 3, stride_q: [1, 2, 2], kernel_kv: 3, "
    "stride_kv: [2, 4, 4], residual_pool: true, residual_cls: false, rel_pos: true}",
    "grid_pool: {grid: [1, 4, 4], kernel: [1, 3, 3], stride: [1, 2, 2], padding: [0, 1, 1]}",  # the map and indices
])
def test_training_saved_bytes_match_torch_autograd(layer: str) -> None:
    """A linear first puts the layer on the gradient path (class_token is left out: see the report)."""
    from test_saved_bytes import saved_by_autograd

    n = 33 if "grid: [2, 4, 4]" in layer else 17
    torch_saved, model_saved = saved_by_autograd(f"input: {{tokens: [{n}, 3]}}\nlayers:\n  - linear: {{out: 8}}\n  - {layer}\n")
    assert torch_saved == model_saved


def test_grid_pool_is_torchvisions_skip_pool() -> None:
    """A class token and a 1×4×5 grid of 6 (21 tokens), kernel [1, 3, 3], stride [1, 2, 2], padding [0, 1, 1]: 1 + 2·3
    tokens out, the same as torchvision's Pool of that nn.MaxPool3d (MultiscaleBlock's pool_skip)."""
    from torchvision.models.video.mvit import Pool

    from convcost.crosscheck.torch_build import build_model

    a = analysis_of("input: {tokens: [21, 6], batch: 2}\nlayers:\n"
                    "  - grid_pool: {grid: [1, 4, 5], kernel: [1, 3, 3], stride: [1, 2, 2], padding: [0, 1, 1]}\n")
    assert a.layers[0].node.shape == Tokens(7, 6)
    ref = Pool(torch.nn.MaxPool3d([1, 3, 3], stride=[1, 2, 2], padding=[0, 1, 1]), None)
    x = torch.randn(2, 21, 6)
    out, thw = ref(x, (1, 4, 5))
    assert thw == (1, 2, 3) and torch.equal(build_model(a.graph, "cpu")(x), out)
