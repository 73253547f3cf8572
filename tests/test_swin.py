"""Swin (issue #13): token grids, windowed attention with padding, shift and relative position bias, patch
merging; configs/swin_t.yaml exact against torchvision's numbers and a torch module written in
tests/reference_swin.py; what the counters see of torchvision's ShiftedWindowAttention."""

from __future__ import annotations

import pytest
from conftest import CONFIGS, analysis_of, config_analysis, graph_of

from convcost.errors import SpecError
from convcost.ops.shapes import TokenGrid

SWIN_T_PARAMS = 28_288_354  # torchvision Swin_T_Weights.IMAGENET1K_V1.meta["num_params"]
SWIN_T_OPS = 4.491e9  # its meta["_ops"] ("GFLOPS", = GMACs with the attention matmuls)
WIN = 7
NW = WIN * WIN  # 49 tokens per window


def block_macs(hw: int, c: int) -> int:
    """One Swin block at hw×hw (a multiple of 7: no padding), width c: qkv, q·kᵀ, a·v, proj, MLP 4c."""
    n, windows = hw * hw, (hw // WIN) ** 2
    return n * c * 3 * c + 2 * windows * NW * NW * c + n * c * c + 2 * n * c * 4 * c


def test_swin_t_params_and_macs_exact() -> None:
    a = config_analysis("swin_t.yaml", "swin_t")
    assert a.total.params == SWIN_T_PARAMS
    stages = [(56, 96, 2), (28, 192, 2), (14, 384, 6), (7, 768, 2)]
    blocks = sum(depth * block_macs(hw, c) for hw, c, depth in stages)
    merging = sum((hw // 2) ** 2 * 4 * c * 2 * c for hw, c, _ in stages[:3])  # N'·4C·2C, no bias
    embed = 56 * 56 * 96 * (3 * 4 * 4)
    head = 768 * 1000
    assert a.total.macs == blocks + merging + embed + head == 4_490_566_656
    assert abs(a.total.macs - SWIN_T_OPS) / SWIN_T_OPS < 1e-4  # torchvision's metadata: 4.491 G
    # params by hand: per block 2 norms, qkv, proj, bias table (2·7−1)²·heads, MLP; merging norm(4C) + 4C·2C
    def block_params(c: int, heads: int) -> int:
        return 4 * c + (3 * c * c + 3 * c) + (c * c + c) + 13 * 13 * heads + (c * 4 * c + 4 * c) + (4 * c * c + c)

    params = (96 * 48 + 96) + 2 * 96  # patch embed conv and its norm
    for (_, c, depth), heads in zip(stages, (3, 6, 12, 24)):
        params += depth * block_params(c, heads)
    params += sum(8 * c + 8 * c * c for _, c, _ in stages[:3]) + 2 * 768 + (768 * 1000 + 1000)
    assert a.total.params == params
    assert a.total.buffers == 12 * NW * NW  # each block's relative_position_index: 49² entries


def test_stage_1_parts_by_hand() -> None:
    """Swin-T stage 1: 56×56 tokens of 96, 3 heads (32 each), 64 windows of 49: W-MSA then SW-MSA (shift 3)."""
    a = config_analysis("swin_t.yaml", "swin_t")
    rows = {r.name: r for r in a.rows()}
    n, c, heads, windows = 56 * 56, 96, 3, 64
    scores = heads * windows * NW * NW  # 460,992
    w_msa = {p: rows[f"features.1.0.attn.{p}"].cost for p in ("qkv", "q·kᵀ", "rel_pos_bias", "softmax", "a·v", "proj")}
    assert w_msa["qkv"].macs == n * c * 3 * c == 86_704_128 and w_msa["qkv"].params == 3 * c * c + 3 * c
    assert w_msa["q·kᵀ"].macs == w_msa["a·v"].macs == windows * NW * NW * c == 14_751_744  # heads·(NW²·32)
    assert w_msa["q·kᵀ"].elementwise_ops == n * c  # q scaled by 1/√32
    assert w_msa["rel_pos_bias"].params == 13 * 13 * heads and w_msa["rel_pos_bias"].elementwise_ops == scores
    assert w_msa["softmax"].act_ops == 3 * scores and w_msa["softmax"].macs == 0
    assert w_msa["proj"].macs == n * c * c and w_msa["proj"].params == c * c + c
    assert "features.1.0.attn.shift_mask" not in rows  # W-MSA: no shift, no mask
    assert rows["features.1.1.attn.shift_mask"].cost.elementwise_ops == scores  # SW-MSA: one add per score
    # the last stage is one 7×7 window: torchvision drops the shift, so no mask there
    assert "features.7.1.attn.shift_mask" not in rows and "features.7.0.attn.rel_pos_bias" in rows
    layer = rows["features.1.1.attn"]
    assert layer.cost.macs == n * c * 3 * c + 2 * windows * NW * NW * c + n * c * c
    merge = rows["features.2"]  # 28×28 tokens of 4·96 → 192
    assert rows["features.2.reduction"].cost.macs == merge.cost.macs == 28 * 28 * 384 * 192
    assert rows["features.2.norm"].cost.norm_ops == 5 * 28 * 28 * 384 and merge.cost.params == 2 * 384 + 384 * 192


def test_padding_and_odd_sizes() -> None:
    # 9×9 grid of 8, window 4: padded to 12×12, 9 windows of 16; patch merging pads 9 → 10: 5×5 tokens
    a = analysis_of("input: [8, 9, 9]\nlayers:\n  - to_tokens: {grid: true}\n"
                    "  - window_attention: {heads: 2, window: 4, shift: 2}\n  - patch_merging\n")
    attn, merge = a.layers[1], a.layers[2]
    assert attn.node.shape == TokenGrid(9, 9, 8) and attn.node.shape.grid == (9, 9)
    assert attn.cost.macs == 144 * 8 * 24 + 2 * 9 * 16 * 16 * 8 + 144 * 8 * 8  # over the 144 padded tokens
    assert merge.node.shape.grid == (5, 5) and merge.node.shape[1] == 16
    assert merge.cost.macs == 25 * 32 * 16


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("input: {tokens: [16, 8]}\nlayers: [{window_attention: {heads: 2, window: 4}}]\n",
         "window_attention needs a token grid (H×W tokens), got a token sequence 16 tok×8"),
        ("input: [8, 4, 4]\nlayers: [{window_attention: {heads: 2, window: 4}}]\n", "window_attention needs tokens"),
        ("input: [8, 4, 4]\nlayers: [{to_tokens: {grid: true}}, {window_attention: {heads: 3, window: 2}}]\n",
         "heads=3 must divide the token width 8"),
        ("input: [8, 4, 4]\nlayers: [{to_tokens: {grid: true}}, {window_attention: {heads: 2, window: 2, shift: 2}}]\n",
         "shift 2 must be smaller than the window 2"),
        ("input: [8, 4, 4]\nlayers: [{to_tokens: {grid: true}}, {attention: {heads: 2}}]\n",
         "attention needs a token sequence (N×D), got a token grid 4×4 tok×8"),
        ("input: [8, 4, 4]\nlayers: [{to_tokens: {grid: true}}, patch_merging, {to_map: {height: 4}}]\n",
         "a 2×2 tok×16 grid makes a 2×2 map"),
        ("input: [8, 4, 4]\nlayers: [{to_tokens: {grid: true}}, {add: [[], [to_map, to_tokens]]}]\n",
         "their tokens are arranged differently"),
        ("input: [8, 4, 4]\nlayers: [{to_tokens: {grid: true}}, {concat: [[], []]}]\n", "cannot concat token grids"),
        ("input: [8, 4, 4]\nlayers: [{to_tokens: {grid: true}}, class_token]\n", "class_token needs a token sequence"),
    ],
)
def test_grid_errors(text: str, message: str) -> None:
    with pytest.raises(SpecError) as e:
        graph_of(text)
    assert message in str(e.value)


def test_window_attention_module_computes_what_the_reference_does() -> None:
    """convcost's ShiftedWindowAttention and the test's, with the same weights, give the same output
    (padding, shift, mask and bias gathered the same way), and hold the same parameters and buffers."""
    torch = pytest.importorskip("torch")
    from reference_swin import WindowAttention

    from convcost.modules.tokens import ShiftedWindowAttention

    for (h, w), shift in (((9, 11), 2), ((8, 8), 0), ((4, 4), 2)):
        ref = WindowAttention(8, 2, 4, shift)
        ours = ShiftedWindowAttention(8, (4, 4), (shift, shift), 2)
        ours.load_state_dict(ref.state_dict())  # same names: qkv, proj, relative_position_bias_table, index
        x = torch.randn(2, h, w, 8)
        assert torch.allclose(ours(x), ref(x), atol=1e-5)


def test_swin_t_against_a_torch_module() -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("fvcore")
    from fvcore.nn import FlopCountAnalysis
    from reference_swin import SwinT
    from torch.utils.flop_counter import FlopCounterMode

    from convcost.api import load_graphs
    from convcost.crosscheck.verify import verify_graph

    a = config_analysis("swin_t.yaml", "swin_t")
    ref = SwinT().eval()
    assert sum(p.numel() for p in ref.parameters()) == SWIN_T_PARAMS
    assert sum(b.numel() for b in ref.buffers()) == a.total.buffers
    x = torch.randn(1, 3, 224, 224)
    # no fused kernels in Swin: FlopCounterMode sees every linear, conv and attention matmul, on CPU too
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        ref(x)
    assert fc.get_total_flops() == 2 * a.total.macs
    (graph,) = load_graphs(CONFIGS / "swin_t.yaml")
    report = verify_graph(graph)
    assert report.ok
    assert report.measured["flop_counter"] == fc.get_total_flops()
    fv = FlopCountAnalysis(ref, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    assert report.measured["fvcore"] == int(fv.total())  # convcost's modules are seen as the reference is


def test_ptflops_and_thop_on_the_reference_layout() -> None:
    """ptflops counts only the attention's tensor.matmul and F.softmax (its F.linear patch is off and the
    qkv/proj modules are never called); thop none of it. The modelled totals equal both tools on the
    reference's torchvision layout."""
    pytest.importorskip("ptflops")
    pytest.importorskip("thop")
    import contextlib
    import io
    import warnings

    import ptflops
    import thop
    import torch
    from reference_swin import SwinT
    from test_other_counters import _modelled

    from convcost.api import load_graphs

    (graph,) = load_graphs(CONFIGS / "swin_t.yaml")
    modelled = _modelled(graph)
    model = SwinT().eval()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        macs, _ = ptflops.get_model_complexity_info(model, (3, 224, 224), as_strings=False, print_per_layer_stat=False,
                                                    verbose=False, backend="pytorch")
        thop_macs, _ = thop.profile(model, inputs=(torch.randn(1, 3, 224, 224),), verbose=False)
    assert (modelled["ptflops"], modelled["thop"]) == (macs, int(thop_macs))
    a = config_analysis("swin_t.yaml", "swin_t")
    attn = [lc for lc in a.layers if lc.node.op == "window_attention"]
    assert len(attn) == 12 and all(lc.node.rule.counting.thop.predict(lc.node, lc.cost, 1).value is None for lc in attn)


def test_conv_vs_convnext_vs_window_attention_at_56x56x64() -> None:
    """configs/conv_vs_attention.yaml: three blocks on 64×56×56, each derived by hand."""
    from typer.testing import CliRunner

    from convcost.cli import app

    hw = 56 * 56
    expected = {
        "conv3x3": hw * 2 * 64 * 64 * 9,  # 231,211,008
        "convnext": hw * (64 * 49 + 64 * 256 + 256 * 64),  # 112,594,944
        # qkv, q·kᵀ and a·v over 64 windows of 49, proj, MLP 64 → 256 → 64
        "swin": hw * 64 * 192 + 2 * 64 * NW * NW * 64 + hw * 64 * 64 + 2 * hw * 64 * 256,  # 173,809,664
    }
    for model, macs in expected.items():
        assert config_analysis("conv_vs_attention.yaml", model).total.macs == macs, model
    assert config_analysis("conv_vs_attention.yaml", "swin").total.params == (
        2 * 2 * 64 + (3 * 64 * 64 + 192) + (64 * 64 + 64) + 13 * 13 * 2 + (64 * 256 + 256) + (256 * 64 + 64))
    out = CliRunner().invoke(app, ["compare", str(CONFIGS / "conv_vs_attention.yaml")], env={"COLUMNS": "120"}).stdout
    assert "swin: 173.81 M MACs, −24.8 % against conv3x3" in out and "convnext: 112.59 M MACs, −51.3 %" in out


def test_json_marks_token_layouts_and_gives_attention_parts() -> None:
    import json

    from typer.testing import CliRunner

    from convcost.cli import app

    out = CliRunner().invoke(app, ["analyze", str(CONFIGS / "conv_vs_attention.yaml"), "-m", "swin", "-f", "json"])
    model = json.loads(out.stdout)["models"][0]
    assert "layout" not in model["inputs"][0] and "grid" not in model["inputs"][0]  # a map: no new field
    layers = {lr["name"]: lr for lr in model["layers"]}
    attn = layers["block.attn"]
    assert attn["layout"] == "token_grid" and attn["grid"] == [56, 56] and attn["output_shape"] == [1, 3136, 64]
    assert [p["name"] for p in attn["parts"]] == ["qkv", "q·kᵀ", "rel_pos_bias", "softmax", "a·v", "proj"]
    for key in ("params", "buffers", "macs", "act_ops", "elementwise_ops", "bias_ops", "flops"):
        assert sum(p[key] for p in attn["parts"]) == attn[key], key  # the parts add up to the layer
    assert attn["parts"][1]["macs"] == 64 * NW * NW * 64 and attn["parts"][1]["shape"] == [1, 64, 2, NW, NW]
    assert "parts" not in layers["block.norm1"] and "layout" not in layers["map"]
    vit = json.loads(CliRunner().invoke(app, ["analyze", str(CONFIGS / "vit_b_16.yaml"), "-f", "json"]).stdout)
    assert {lr["layout"] for lr in vit["models"][0]["layers"] if lr["op"] == "attention"} == {"tokens"}
    assert vit["models"][0]["outputs"][0].get("layout") is None  # the head's logits: a flat vector


def test_verify_explain_swin_says_what_ptflops_and_thop_leave_out() -> None:
    import json

    pytest.importorskip("fvcore")
    from typer.testing import CliRunner

    from convcost.cli import app

    result = CliRunner().invoke(app, ["verify", str(CONFIGS / "swin_t.yaml"), "--explain", "-f", "json"])
    assert result.exit_code == 0, result.output
    counters = {c["key"]: c for c in json.loads(result.stdout)["models"][0]["explain"]["counters"]}
    # the 12 window attentions' MACs: per stage depth · (qkv + q·kᵀ + a·v + proj); scores: heads · nW · 49²
    stages = [(56, 96, 3, 2), (28, 192, 6, 2), (14, 384, 12, 6), (7, 768, 24, 2)]
    attn = sum(d * (hw * hw * 4 * c * c + 2 * (hw // WIN) ** 2 * NW * NW * c) for hw, c, _, d in stages)
    matmuls = sum(d * 2 * (hw // WIN) ** 2 * NW * NW * c for hw, c, _, d in stages)
    scores = sum(d * h * (hw // WIN) ** 2 * NW * NW for hw, _, h, d in stages)
    thop = {d["category"]: d for d in counters["thop"]["differences"]}
    assert thop["window_attention"]["delta"] == -attn and "never calls" in thop["window_attention"]["why"]
    ptflops = {d["category"]: d for d in counters["ptflops"]["differences"]}
    assert ptflops["window_attention"]["delta"] == matmuls + scores - attn  # only the matmuls and the softmax
    fc = {d["category"]: d for d in counters["flop_counter"]["differences"]}
    assert fc["window_attention"]["delta"] == attn  # 2 FLOPs per MAC: everything seen
    assert "window_attention" not in {d["category"] for d in counters["fvcore"]["differences"]}
