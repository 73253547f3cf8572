"""Tokens and attention (issue #13): ViT-B/16 exact against torchvision's numbers and a torch module
written in tests/reference_tokens.py, a conv–attention hybrid, what fvcore and FlopCounterMode really
see of nn.MultiheadAttention, and token shapes that cannot be mistaken for [C, L] maps."""

from __future__ import annotations

import json

import pytest
from conftest import CONFIGS, analysis_of, config_analysis, graph_of
from typer.testing import CliRunner

from convcost.cli import app
from convcost.errors import SpecError
from convcost.ops.shapes import Tokens

runner = CliRunner()

# ViT-B/16 at 224: 14·14 = 196 patches + the class token
N, D, HEADS, MLP, BLOCKS = 197, 768, 12, 3072, 12
QKV = N * D * 3 * D  # 348,585,984
QK = N * N * D  # heads · N² · (D / heads) = 29,805,312
AV = N * N * D
OUT_PROJ = N * D * D  # 116,195,328
MLP_MACS = 2 * N * D * MLP  # two linears: 929,562,624
BLOCK = QKV + QK + AV + OUT_PROJ + MLP_MACS  # 1,453,954,560
CONV_PROJ = 196 * D * (3 * 16 * 16)  # 115,605,504
HEAD = D * 1000
VIT_MACS = BLOCKS * BLOCK + CONV_PROJ + HEAD  # 17,563,828,224
VIT_PARAMS = 86_567_656  # torchvision ViT_B_16_Weights.IMAGENET1K_V1.meta["num_params"]


def test_vit_b_16_params_and_macs_exact() -> None:
    a = config_analysis("vit_b_16.yaml", "vit_b_16")
    assert a.total.params == VIT_PARAMS
    assert BLOCK == 1_453_954_560 and VIT_MACS == 17_563_828_224
    assert a.total.macs == VIT_MACS
    assert abs(a.total.macs - 17.564e9) / 17.564e9 < 1e-4  # torchvision's metadata: 17.564 "GFLOPS"
    # params by hand: conv_proj 768·3·16·16 + 768, class token 768, pos 197·768, 12 blocks, final LN, head
    block = 2 * 2 * D + (3 * D * D + 3 * D) + (D * D + D) + (D * MLP + MLP) + (MLP * D + D)
    assert a.total.params == (D * 3 * 256 + D) + D + N * D + BLOCKS * block + 2 * D + (D * 1000 + 1000)


def test_vit_attention_parts_are_rows_and_derived_by_hand() -> None:
    a = config_analysis("vit_b_16.yaml", "vit_b_16")
    rows = {r.name: r for r in a.rows()}
    at = "encoder.layers.0.self_attention"
    parts = {name: rows[f"{at}.{name}"] for name in ("qkv", "q·kᵀ", "softmax", "a·v", "out_proj")}
    assert all(r.is_part for r in parts.values())
    assert parts["qkv"].cost.macs == QKV and parts["qkv"].cost.params == 3 * D * D + 3 * D
    assert parts["q·kᵀ"].cost.macs == QK and parts["a·v"].cost.macs == AV
    assert parts["softmax"].cost.macs == 0 and parts["softmax"].cost.act_ops == 3 * HEADS * N * N  # non-MAC
    assert parts["out_proj"].cost.macs == OUT_PROJ and parts["out_proj"].cost.params == D * D + D
    layer = rows[at]
    assert not layer.is_part and layer.cost.macs == QKV + QK + AV + OUT_PROJ
    total = parts["qkv"].cost + parts["q·kᵀ"].cost + parts["softmax"].cost + parts["a·v"].cost + parts["out_proj"].cost
    assert total == layer.cost  # the parts add up to the layer
    table = runner.invoke(app, ["analyze", str(CONFIGS / "vit_b_16.yaml")], env={"COLUMNS": "200"}).stdout
    assert "q·kᵀ" in table and "197 tok×2304" in table and "12×197×197" in table


def test_vit_against_a_torch_module() -> None:
    torch = pytest.importorskip("torch")
    from reference_tokens import ViT
    from torch.utils.flop_counter import FlopCounterMode

    from convcost.crosscheck.torch_build import build_model
    from convcost.crosscheck.verify import verify_graph

    ref = ViT().eval()
    assert sum(p.numel() for p in ref.parameters()) == VIT_PARAMS
    (graph,) = __import__("convcost.api", fromlist=["load_graphs"]).load_graphs(CONFIGS / "vit_b_16.yaml")
    ours = build_model(graph)
    assert sum(p.numel() for p in ours.parameters()) == VIT_PARAMS
    x = torch.randn(1, 3, 224, 224)
    # what users see: FlopCounterMode on CPU in eval under no_grad, fused fast path: conv + MLP + head only
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        ref(x)
    assert fc.get_total_flops() == 2 * (CONV_PROJ + BLOCKS * MLP_MACS + HEAD)  # 2 · 11,271,124,992
    report = verify_graph(graph)
    assert report.ok
    assert report.measured["flop_counter"] == fc.get_total_flops()  # convcost's module is seen as torchvision's
    ln = 5 * N * D * (2 * BLOCKS + 1)  # fvcore: layer_norm 5 per element, 25 norms
    assert report.measured["fvcore"] == CONV_PROJ + BLOCKS * MLP_MACS + HEAD + ln


def test_verify_explain_vit_says_what_each_counter_leaves_out() -> None:
    pytest.importorskip("fvcore")
    result = runner.invoke(app, ["verify", str(CONFIGS / "vit_b_16.yaml"), "--explain", "-f", "json"])
    assert result.exit_code == 0, result.output
    model = json.loads(result.stdout)["models"][0]
    counters = {c["key"]: c for c in model["explain"]["counters"]}
    missing = 2 * BLOCKS * (QKV + QK + AV + OUT_PROJ)
    fc = counters["flop_counter"]
    assert fc["predicted_total"] == 2 * VIT_MACS - missing  # 2 FLOPs per MAC, none of the fused attention
    diffs = {d["category"]: d for d in fc["differences"]}
    assert diffs["attention"]["delta"] == -BLOCKS * (QKV + QK + AV + OUT_PROJ)
    assert "fast path" in diffs["attention"]["why"]
    fv = {d["category"]: d for d in counters["fvcore"]["differences"]}
    assert fv["attention"]["delta"] == -BLOCKS * (QKV + QK + AV + OUT_PROJ)
    text = runner.invoke(app, ["verify", str(CONFIGS / "vit_b_16.yaml"), "--explain"], env={"COLUMNS": "200"}).stdout
    assert "fvcore (run)" in text and "FlopCounterMode (run)" in text and "−6.29 G attention" in text


SMALL = """
input: {{tokens: [10, 12], batch: 2}}
layers:
  - attention: {{heads: {heads}{extra}}}
"""


@pytest.mark.parametrize(
    ("heads", "extra", "fvcore", "flop_counter"),
    [
        # even heads: the fused fast path, neither tool sees anything
        (2, "", None, None),
        # odd heads: no fast path; both see the projections (aten::linear / addmm) but not the CPU SDPA matmuls
        (3, "", 2 * 10 * 12 * 4 * 12, 2 * (2 * 10 * 12 * 4 * 12)),
        # head_dim ≠ D / heads: the explicit module, everything seen: projections 10·12·3·8 + 10·8·12, QKᵀ and A·V 2·100·4
        (2, ", head_dim: 4", 2 * (10 * 12 * 24 + 10 * 8 * 12 + 2 * 2 * 100 * 4),
         2 * 2 * (10 * 12 * 24 + 10 * 8 * 12 + 2 * 2 * 100 * 4)),
    ],
)
def test_what_the_counters_see_of_attention(heads: int, extra: str, fvcore: int | None, flop_counter: int | None) -> None:
    pytest.importorskip("fvcore")
    from convcost.crosscheck.verify import verify_graph

    report = verify_graph(graph_of(SMALL.format(heads=heads, extra=extra)))
    assert report.ok, [(lr.name, c) for lr in report.layers for c in lr.checks.values()]
    (layer,) = report.layers
    assert layer.checks["fvcore"].actual == (fvcore or 0)
    assert layer.checks["flop_counter"].actual == (flop_counter or 0)
    assert (layer.checks["fvcore"].expected is None) == (fvcore is None)


def test_meta_device_flop_counter_sees_the_whole_attention() -> None:
    """Past --max-memory verify runs FlopCounterMode on the meta device: no fast path, everything counted."""
    pytest.importorskip("torch")
    from convcost.crosscheck.verify import verify_graph

    report = verify_graph(graph_of(SMALL.format(heads=2, extra="")), max_bytes=1)
    assert report.ok and report.device == "meta"
    macs = 2 * (10 * 12 * 36 + 10 * 12 * 12 + 2 * 100 * 12)  # projections + QKᵀ + A·V, batch 2
    assert report.layers[0].checks["flop_counter"].actual == 2 * macs


def test_hybrid_against_a_torch_module() -> None:
    torch = pytest.importorskip("torch")
    from reference_tokens import Hybrid
    from torch.utils.flop_counter import FlopCounterMode

    from convcost.crosscheck.verify import verify_graph

    a = config_analysis("hybrid_conv_attention.yaml", "hybrid_conv_attention")
    ref = Hybrid().eval()
    assert a.total.params == sum(p.numel() for p in ref.parameters())
    # MACs by hand: stem 32·32·(32·3·9) + 16·16·(64·32·9); per block (N = 256, D = 64, MLP 128):
    # N·D·3D + 2·N²·D + N·D² + 2·N·D·128; out conv 16·16·64·10
    n, d = 256, 64
    block = n * d * 3 * d + 2 * n * n * d + n * d * d + 2 * n * d * 128
    assert a.total.macs == 32 * 32 * 32 * 27 + 16 * 16 * 64 * 32 * 9 + 2 * block + 16 * 16 * 64 * 10
    # the reference on the meta device (no fast path): FlopCounterMode sees every MAC
    with torch.device("meta"):
        meta = Hybrid().eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        meta(torch.randn(1, 3, 64, 64, device="meta"))
    assert fc.get_total_flops() == 2 * a.total.macs
    (graph,) = __import__("convcost.api", fromlist=["load_graphs"]).load_graphs(CONFIGS / "hybrid_conv_attention.yaml")
    assert verify_graph(graph).ok


def test_tokens_are_not_maps() -> None:
    g = graph_of("input: {tokens: [197, 768]}\nlayers: [layernorm]\n")
    assert isinstance(g.input_shape, Tokens) and isinstance(g.nodes[0].shape, Tokens)
    assert not isinstance(graph_of("input: [197, 768, 1]\nlayers: [relu]\n").input_shape, Tokens)
    cases = {
        "input: {tokens: [16, 8]}\nlayers: [{conv: {out: 4, kernel: 1}}]\n":
            "conv needs a C×H×W map, got tokens 16 tok×8; turn them into a map with 'to_map' first",
        "input: {tokens: [16, 8]}\nlayers: [bn]\n": "batchnorm needs a C×H×W map, got tokens 16 tok×8",
        "input: {tokens: [16, 8]}\nlayers: [{maxpool: {kernel: 2}}]\n": "maxpool needs a C×H×W map",
        "input: [8, 4, 4]\nlayers: [{attention: {heads: 2}}]\n": "attention needs tokens (N×D), got a map 8×4×4",
        "input: {tokens: [16, 8]}\nlayers: [{attention: {heads: 3}}]\n": "heads=3 must divide the token width 8",
        "input: {tokens: [15, 8]}\nlayers: [to_map]\n": "15 tokens do not make a square map",
        "input: {tokens: [15, 8]}\nlayers: [{to_map: {height: 4}}]\n": "15 tokens do not make a 4×? map",
        "input: {tokens: [16, 8]}\nlayers: [{add: [[], [to_map, to_tokens]]}]\n": None,  # tokens + tokens: fine
        "input: {tokens: [16, 8]}\nlayers: [{add: [[], [{to_map: {}}]]}]\n": "one is tokens, the other a map",
        "input: {tokens: [16, 8]}\nlayers: [{layernorm: {channels_last: true}}]\n": "tokens are channels-last already",
        "input: {tokens: [16, 8]}\nlayers: [{groupnorm: {groups: 2}}]\n": "groupnorm needs a C×H×W map, got tokens",
        "input: {tokens: [16, 8]}\nlayers: [{linear: {out: 4, over: channels}}]\n": "linear acts per token over their width",
        "input: {tokens: [4, 2], shape: [2, 4]}\nlayers: [relu]\n": "both 'shape' (a map) and 'tokens'",
        "input: {tokens: [4, 2, 1]}\nlayers: [relu]\n": "'tokens' must be [N, D]",
    }
    for text, message in cases.items():
        if message is None:
            graph_of(text)
            continue
        with pytest.raises(SpecError) as e:
            graph_of(text)
        assert message in str(e.value), text


def test_per_token_ops_and_in_channels() -> None:
    # in_channels of tokens is their width D: a linear back to it
    a = analysis_of("input: {tokens: [5, 8], batch: 3}\nlayers:\n  - linear: {out: 16}\n  - gelu\n"
                    "  - linear:\n      out: 4\n      when: ${in_channels == 16}\n  - dropout\n")
    assert [lc.node.shape for lc in a.layers] == [(5, 16), (5, 16), (5, 4), (5, 4)]
    assert a.layers[0].cost.macs == 3 * 5 * 8 * 16  # batch · N · D · out
    assert a.layers[1].cost.act_ops == 3 * 5 * 16
