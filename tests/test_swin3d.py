"""Video Swin (issue 20): token grids of rank 3 ([B, T, H, W, C]), `window_attention_3d` (torchvision's
ShiftedWindowAttention3d) and `patch_merging` on a T×H×W grid (torchvision's PatchMerging, frame by frame), each
derived by hand and checked against torchvision's own modules: params, buffers, FlopCounterMode, fvcore, every other
counter's prediction, the output of convcost's torch module with the same weights; and a small SwinTransformer3d in
torchvision's classes imported exactly, `verify --reference` passing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import analysis_of, graph_of
from typer.testing import CliRunner

from convcost.api import analyze_file
from convcost.cli import app
from convcost.errors import SpecError
from convcost.ops.shapes import TokenGrid, fmt_shape

TESTS = Path(__file__).resolve().parent
runner = CliRunner()

# A T×H×W = 3×9×11 grid of width 8 (the [8, 3, 9, 11] map permuted channels-last), 2 heads of 4, window 4, shift 2.
# T: 3 ≤ 4, so the window's T shrinks to 3, unshifted, unpadded (torchvision's _get_window_and_shift_size); H 9 and
# W 11 are padded to 12, shifted by 2. Nw = 3·4·4 = 48 tokens a window, nW = 1·3·3 = 9 windows, Np = 3·12·12 = 432.
GRID = "layers:\n  - permute: {dims: [0, 2, 3, 4, 1]}\n  - window_attention_3d: {heads: 2, window: 4, shift: 2}\n"
QKV = 432 * 8 * 24  # Np·C·3C: 82,944 MACs per sample
MATMULS = 2 * 9 * 48 * 48 * 8  # q·kᵀ and a·v, nW·Nw²·C each: 331,776
PROJ = 432 * 8 * 8  # Np·C²: 27,648
PARAMS = (8 * 24 + 24) + (8 * 8 + 8) + (7 * 7 * 7) * 2  # qkv, proj, the (2·4 − 1)³ × heads table: 974
BUFFERS = (4 * 4 * 4) ** 2  # the index of the window as given, (wt·wh·ww)²: 4,096


def _counts(model: Any, x: Any) -> tuple[int, int, int]:
    """(params, buffers, FlopCounterMode FLOPs / 2) of a torch module over one forward, measured by torch."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    return sum(p.numel() for p in model.parameters()), sum(b.numel() for b in model.buffers()), fc.get_total_flops() // 2


def _tv() -> Any:
    return pytest.importorskip("torchvision.models.video.swin_transformer")


def _attention(window: list[int], shift: list[int], dim: int = 8, heads: int = 2) -> Any:
    return _tv().ShiftedWindowAttention3d(dim, window, shift, heads).eval()


# ---- shapes (no torch) -----------------------------------------------------------------------------------------------
def test_a_map_permuted_channels_last_is_a_t_h_w_token_grid_through_per_token_ops() -> None:
    """[C, T, H, W] permuted (0, 2, 3, 4, 1) is a 3×9×11 grid of 8 (as [C, H, W] → (0, 2, 3, 1) is an H×W grid); linear,
    layernorm, gelu and a residual add keep it; to_map gives the [C, T, H, W] map back; token_pool's mean reads it."""
    g = graph_of("input: [8, 3, 9, 11]\nlayers:\n  - permute: {dims: [0, 2, 3, 4, 1]}\n"
                 "  - residual: [layernorm, {linear: {out: 16}}, gelu, {linear: {out: 8}}]\n  - to_map\n")
    shapes = [n.shape for n in g.nodes]
    assert shapes[0] == TokenGrid(3, 9, 11, 8) and shapes[0].grid == (3, 9, 11) and shapes[0] == (297, 8)  # 3·9·11
    assert fmt_shape(shapes[0]) == "3×9×11 tok×8"
    assert all(getattr(s, "grid", None) in ((3, 9, 11), None) for s in shapes)
    assert shapes[-1] == (8, 3, 9, 11) and getattr(shapes[-1], "grid", None) is None
    pooled = analysis_of("input: [8, 3, 9, 11]\nlayers:\n  - permute: {dims: [0, 2, 3, 4, 1]}\n"
                         "  - token_pool: {mode: mean}\n").layers[1]
    assert pooled.node.shape == (8,) and pooled.cost.pool_ops == 3 * 9 * 11 * 8  # every element read once


def test_window_attention_3d_by_hand() -> None:
    lc = analysis_of(f"input: {{shape: [8, 3, 9, 11], batch: 2}}\n{GRID}").layers[1]
    assert lc.node.shape.grid == (3, 9, 11)
    assert (lc.cost.params, lc.cost.buffers) == (PARAMS, BUFFERS) == (974, 4_096)
    assert lc.cost.macs == 2 * (QKV + MATMULS + PROJ) == 2 * 442_368
    rows = {r.path[-1]: r.cost for r in analysis_of(f"input: {{shape: [8, 3, 9, 11], batch: 2}}\n{GRID}").rows()
            if r.is_part}
    assert rows["q·kᵀ"].macs == rows["a·v"].macs == 2 * MATMULS // 2
    assert rows["rel_pos_bias"].params == 686 and rows["rel_pos_bias"].buffers == 4_096
    assert rows["shift_mask"].elementwise_ops == 2 * 2 * 9 * 48 * 48  # one add per score: batch·heads·nW·Nw²
    assert rows["softmax"].act_ops == 3 * 2 * 2 * 9 * 48 * 48  # 3 per score (docs/conventions.md)
    assert rows["qkv"].bias_ops == 2 * 432 * 24 and rows["proj"].bias_ops == 2 * 432 * 8  # over the padded tokens


def test_a_grid_no_larger_than_the_window_shrinks_it_unshifted() -> None:
    """A 2×4×4 grid of 8, window [4, 7, 7], shift [2, 3, 3]: every dim fits one window, so the window is 2×4×4 (Nw =
    32, one window, nothing padded, no shift mask), where window_attention in 2-D pads a 4×4 grid up to one 7×7 window.
    The table and index are of the window as given: (2·4 − 1)·(2·7 − 1)² rows, (4·7·7)² = 196² entries."""
    text = ("input: [8, 2, 4, 4]\nlayers:\n  - permute: {dims: [0, 2, 3, 4, 1]}\n"
            "  - window_attention_3d: {heads: 2, window: [4, 7, 7], shift: [2, 3, 3]}\n")
    a = analysis_of(text)
    lc = a.layers[1]
    assert lc.cost.macs == 32 * 8 * 24 + 2 * 1 * 32 * 32 * 8 + 32 * 8 * 8 == 24_576
    assert lc.cost.params == 216 + 72 + 7 * 13 * 13 * 2 == 2_654 and lc.cost.buffers == 196 * 196 == 38_416
    assert "shift_mask" not in {r.path[-1] for r in a.rows() if r.is_part}
    # a dim as large as the window is one window too: a 4×7×7 grid, window [4, 7, 7], is one window of 196, unshifted
    equal = analysis_of("input: [8, 4, 7, 7]\nlayers:\n  - permute: {dims: [0, 2, 3, 4, 1]}\n"
                        "  - window_attention_3d: {heads: 2, window: [4, 7, 7], shift: [2, 3, 3]}\n")
    assert "shift_mask" not in {r.path[-1] for r in equal.rows() if r.is_part}
    assert equal.layers[1].cost.macs == 196 * 8 * 24 + 2 * 196 * 196 * 8 + 196 * 8 * 8 == 664_832
    plane = analysis_of("input: [8, 4, 4]\nlayers:\n  - to_tokens: {grid: true}\n"
                        "  - window_attention: {heads: 2, window: 7, shift: 3}\n").layers[1]
    assert plane.cost.macs == 49 * 8 * 24 + 2 * 49 * 49 * 8 + 49 * 8 * 8 == 50_960  # one padded 7×7 window


@pytest.mark.parametrize(("text", "message"), [
    ("input: [8, 9, 11]\nlayers:\n  - to_tokens: {grid: true}\n  - window_attention_3d: {heads: 2, window: 4}\n",
     "window_attention_3d needs a T×H×W token grid, got 9×11 tok×8 (2 grid dims); 'window_attention' takes H×W grids"),
    ("input: [8, 3, 9, 11]\nlayers:\n  - permute: {dims: [0, 2, 3, 4, 1]}\n  - window_attention: {heads: 2, window: 4}\n",
     "window_attention needs an H×W token grid, got 3×9×11 tok×8 (3 grid dims); 'window_attention_3d' takes T×H×W grids"),
    ("input: [8, 3, 9, 11]\nlayers:\n  - permute: {dims: [0, 2, 3, 4, 1]}\n"
     "  - window_attention_v2: {heads: 2, window: 4}\n",
     "window_attention_v2 needs an H×W token grid, got 3×9×11 tok×8 (3 grid dims); 'window_attention_3d' takes T×H×W grids"),
    ("input: [8, 3, 9, 11]\nlayers:\n  - permute: {dims: [0, 2, 3, 4, 1]}\n"
     "  - window_attention_3d: {heads: 2, window: [4, 3, 3], shift: [0, 3, 1]}\n",
     "shift 3 must be smaller than the window 3 (height)"),
    ("input: [8, 3, 9, 11]\nlayers:\n  - permute: {dims: [0, 2, 3, 4, 1]}\n  - window_attention_3d: {heads: 3, window: 4}\n",
     "heads=3 must divide the token width 8"),
])
def test_window_attention_3d_refusals_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(SpecError) as e:
        graph_of(text)
    assert message in str(e.value), str(e.value)


def test_patch_merging_merges_a_t_h_w_grid_frame_by_frame() -> None:
    """A 3×5×7 grid of 8, batch 2: H and W padded to 6×8, each frame merged to 3×4 tokens of 32: 3·3·4 = 36 tokens;
    LayerNorm(32) then Linear(32 → 16, no bias)."""
    text = ("input: {shape: [8, 3, 5, 7], batch: 2}\nlayers:\n  - permute: {dims: [0, 2, 3, 4, 1]}\n  - patch_merging\n")
    lc = analysis_of(text).layers[1]
    assert lc.node.shape.grid == (3, 3, 4) and lc.node.shape[1] == 16
    assert lc.cost.params == 2 * 32 + 32 * 16 and lc.cost.macs == 2 * 36 * 32 * 16 == 36_864
    assert lc.cost.norm_ops == 5 * 2 * 36 * 32  # the norm over the merged 4C
    torch = pytest.importorskip("torch")
    tv_swin = pytest.importorskip("torchvision.models.swin_transformer")
    assert _counts(tv_swin.PatchMerging(8).eval(), torch.zeros(2, 3, 5, 7, 8)) == (lc.cost.params, 0, lc.cost.macs)


# ---- against torchvision's own modules -------------------------------------------------------------------------------
@pytest.mark.parametrize("batch", [1, 2])
def test_window_attention_3d_equals_torchvisions_module(batch: int) -> None:
    torch = pytest.importorskip("torch")
    lc = analysis_of(f"input: {{shape: [8, 3, 9, 11], batch: {batch}}}\n{GRID}").layers[1]
    assert _counts(_attention([4, 4, 4], [2, 2, 2]), torch.zeros(batch, 3, 9, 11, 8)) == (PARAMS, BUFFERS, lc.cost.macs)
    small = analysis_of(f"input: {{shape: [8, 2, 4, 4], batch: {batch}}}\nlayers:\n  - permute: {{dims: [0, 2, 3, 4, 1]}}\n"
                        "  - window_attention_3d: {heads: 2, window: [4, 7, 7], shift: [2, 3, 3]}\n").layers[1]
    assert _counts(_attention([4, 7, 7], [2, 3, 3]), torch.zeros(batch, 2, 4, 4, 8)) == (
        small.cost.params, small.cost.buffers, small.cost.macs)


def test_fvcore_on_torchvisions_module_is_the_prediction() -> None:
    """fvcore counts aten::linear (qkv, proj) and aten::matmul (q·kᵀ, a·v): every MAC."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("fvcore")
    from fvcore.nn import FlopCountAnalysis

    lc = analysis_of(f"input: [8, 3, 9, 11]\n{GRID}").layers[1]
    fv = FlopCountAnalysis(_attention([4, 4, 4], [2, 2, 2]), torch.zeros(1, 3, 9, 11, 8)).unsupported_ops_warnings(False)
    assert int(fv.total()) == QKV + MATMULS + PROJ == 442_368
    assert lc.node.rule.counting.fvcore.predict(lc.node, lc.cost, 1).value == int(fv.total())


@pytest.mark.parametrize("shift", [2, 0])
def test_every_tool_on_torchvisions_module_equals_its_prediction(shift: int) -> None:
    """ptflops (both backends), thop, torchinfo, torchscan, calflops, fvcore and FlopCounterMode run on torchvision's
    own ShiftedWindowAttention3d (after the permute): each equals convcost's prediction for the spec."""
    torch = pytest.importorskip("torch")
    _tv()
    import tool_runs
    from test_conventions import predicted
    from torchvision.ops.misc import Permute

    graph = graph_of(f"input: [8, 3, 9, 11]\n{GRID.replace('shift: 2', f'shift: {shift}')}")
    model = torch.nn.Sequential(Permute([0, 2, 3, 4, 1]), _attention([4, 4, 4], [shift] * 3))
    real = tool_runs.measure(model, (torch.randn(1, 8, 3, 9, 11),), False)
    pred = predicted(graph)
    compared = {k: (pred[k], v) for k, v in real.items() if k in pred}
    assert len(compared) >= 2 * len(tool_runs.installed()) - 2, compared  # every tool's count and params
    assert {k: p for k, (p, _) in compared.items()} == {k: v for k, (_, v) in compared.items()}


def test_convcost_module_computes_what_torchvisions_does() -> None:
    """convcost's torch module and torchvision's, with the same weights, give the same output (padding, the window
    shrunk to a small dim, shift, mask, the bias gathered from the index's corner), and hold the same tensors under the
    same names."""
    torch = pytest.importorskip("torch")
    from convcost.modules.swin3d import ShiftedWindowAttention3d

    torch.manual_seed(0)
    for (t, h, w), window, shift in (((3, 9, 11), [4, 4, 4], [2, 2, 2]), ((8, 8, 8), [4, 4, 4], [0, 0, 0]),
                                     ((2, 4, 4), [4, 7, 7], [2, 3, 3]), ((5, 7, 6), [2, 3, 3], [1, 1, 1]),
                                     ((4, 14, 14), [8, 7, 7], [4, 3, 3])):
        ref = _attention(window, shift)
        ours = ShiftedWindowAttention3d(8, tuple(window), tuple(shift), 2).eval()
        assert torch.equal(ours.relative_position_index, ref.relative_position_index)
        ours.load_state_dict(ref.state_dict())  # strict: the same names and shapes
        x = torch.randn(2, t, h, w, 8)
        assert torch.allclose(ours(x), ref(x), atol=1e-5), (t, h, w)


@pytest.mark.parametrize(("size", "pad"), [((5, 26, 26), "pad: {name: pad, pad: [0, 2, 0, 2, 0, 1]}"), ((6, 28, 28), "")])
def test_a_small_swin3d_imports_exactly(size: tuple[int, int, int], pad: str, tmp_path: Path) -> None:
    """torchvision's ShiftedWindowAttention3d is recorded whole (its window partition moves the batch dim):
    `window_attention_3d`; PatchEmbed3d's pad, Conv3d and permute, the norms, MLPs and PatchMerging on the T×H×W grid,
    the final norm, permute and AdaptiveAvgPool3d: the model's params, buffers and MACs, and `verify --reference`
    passes. At 6×28×28 PatchEmbed3d pads nothing: no pad layer (a pad of zeros is its input)."""
    torch = pytest.importorskip("torch")
    _tv()
    from swin3d_factories import small_swin3d

    target = f"{TESTS / 'swin3d_factories.py'}:small_swin3d"
    spec = tmp_path / "swin3d.yaml"
    r = runner.invoke(app, ["import", target, "--input", ",".join(map(str, (3, *size))), "-o", str(spec)])
    assert r.exit_code == 0, r.output
    text = spec.read_text()
    assert "window_attention_3d: {name: attn, heads: $attn_heads, window: [4, 3, 3], shift: $attn_shift}" in text, text
    assert (pad in text if pad else "pad:" not in text) and "permute: {name: permute, dims: [0, 2, 3, 4, 1]}" in text
    assert "patch_merging: {name: 1}" in text and "unsupported" not in text.split("input:", 1)[1], text
    want = _counts(small_swin3d().eval(), torch.zeros(1, 3, *size))
    t = analyze_file(spec)[0].total
    assert (t.params, t.buffers, t.macs) == want
    v = runner.invoke(app, ["verify", str(spec), "--reference", target])
    assert v.exit_code == 0, v.output


@pytest.mark.parametrize("first", ["  - conv: {out: 8, kernel: 1}\n", ""])
def test_backward_against_flop_counter_mode(first: str) -> None:
    """verify --training: each layer's backward under FlopCounterMode equals the op's backward MACs, with an input
    gradient (a conv before) and without (the model's input: only the weights' gradients, through the whole layer)."""
    pytest.importorskip("torch")
    from convcost.crosscheck.counters import Status
    from convcost.crosscheck.verify import BACKWARD, verify_graph

    text = ("input: [8, 3, 9, 11]\nlayers:\n" + first + "  - permute: {dims: [0, 2, 3, 4, 1]}\n"
            "  - window_attention_3d: {heads: 2, window: 4, shift: 2}\n  - patch_merging\n  - to_map\n")
    report = verify_graph(graph_of(text), "cpu", training=True)
    bad = [(lr.name, k, c.expected, c.actual) for lr in report.layers for k, c in lr.checks.items()
           if c.status == Status.MISMATCH]
    assert not bad
    checks = {lr.op: lr.checks[BACKWARD] for lr in report.layers}
    assert checks["window_attention_3d"].status == checks["patch_merging"].status == Status.OK
    assert report.totals[BACKWARD].status == Status.OK


@pytest.mark.parametrize("layers", [
    "  - window_attention_3d: {heads: 2, window: [2, 3, 3], shift: [1, 1, 1]}\n",  # T 3, H 6, W 5: padded, shifted
    "  - window_attention_3d: {heads: 2, window: [4, 7, 7], qkv_bias: false, bias: false}\n",  # one shrunk window
    "  - patch_merging\n",  # 3×6×5 padded to 3×6×6: 3×3×3 tokens of 32
])
def test_training_saved_bytes_match_torch_autograd(layers: str) -> None:
    pytest.importorskip("torch")
    from test_saved_bytes import saved_by_autograd

    torch_saved, model_saved = saved_by_autograd("input: [3, 3, 6, 5]\nlayers:\n  - conv: {out: 8, kernel: 1}\n"
                                                 "  - permute: {dims: [0, 2, 3, 4, 1]}\n" + layers)
    assert torch_saved == model_saved


# ---- configs/swin3d_t.yaml ----------------------------------------------------------------------------------------------
SWIN3D_T_PARAMS = 28_158_070  # torchvision Swin3D_T_Weights.KINETICS400_V1.meta["num_params"]
SWIN3D_T_OPS = 43.882e9  # its meta["_ops"] (GMACs, of a 16-frame 224×224 clip)


def test_configs_swin3d_t_by_hand_and_against_torchvisions_metadata() -> None:
    """configs/swin3d_t.yaml at 16×224×224: 8×56×56, 8×28×28, 8×14×14 and 8×7×7 grids, window 8×7×7 (T = 8 and 7×7
    are the window: every window has 392 tokens, nothing padded)."""
    from conftest import config_analysis

    a = config_analysis("swin3d_t.yaml", "swin3d_t")

    def block_params(c: int, heads: int) -> int:
        # norm1, norm2; qkv, proj; the (2·8 − 1)·(2·7 − 1)² = 2,535-row bias table; MLP c → 4c → c
        return 4 * c + (3 * c * c + 3 * c) + (c * c + c) + 2535 * heads + (8 * c * c + 5 * c)

    stages = [(56, 96, 3, 2), (28, 192, 6, 2), (14, 384, 12, 6), (7, 768, 24, 2)]  # grid side, C, heads, depth
    params = (96 * 3 * 2 * 4 * 4 + 96) + 2 * 96 + sum(d * block_params(c, h) for _, c, h, d in stages)
    params += sum(8 * c + 8 * c * c for _, c, _, _ in stages[:3])  # merging: LayerNorm(4c), Linear(4c → 2c)
    params += 2 * 768 + (768 * 400 + 400)
    assert a.total.params == params == SWIN3D_T_PARAMS

    def block_macs(side: int, c: int) -> int:
        # per token 12c² (qkv 3c², proj c², MLP 8c²); q·kᵀ and a·v n·392·c each (392 tokens a window)
        n = 8 * side * side
        return 12 * n * c * c + 2 * n * 392 * c

    macs = sum(d * block_macs(s, c) for s, c, _, d in stages)
    macs += sum(8 * (s // 2) ** 2 * 4 * c * 2 * c for s, c, _, _ in stages[:3])  # merging: N'·4C·2C
    macs += 8 * 56 * 56 * 96 * (3 * 2 * 4 * 4) + 768 * 400  # patch embedding, head
    assert a.total.macs == macs == 43_882_229_760
    assert abs(a.total.macs - SWIN3D_T_OPS) / SWIN3D_T_OPS < 1e-5  # 43.88223 G: torchvision's 43.882
    assert a.total.buffers == 12 * 392 * 392  # each block's relative_position_index, (8·7·7)²


@pytest.mark.slow
def test_configs_swin3d_t_pairs_torchvisions_swin3d_t() -> None:
    """verify --reference against torchvision's own swin3d_t (on the meta device): every op, argument and count."""
    import json

    from conftest import CONFIGS

    r = runner.invoke(app, ["verify", str(CONFIGS / "swin3d_t.yaml"), "--reference", "torchvision.models.video:swin3d_t",
                            "--max-memory", "1k", "-f", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)["models"][0]
    assert doc["totals"]["params"]["reference"] == doc["totals"]["params"]["spec"] == SWIN3D_T_PARAMS
    assert doc["verified"] and doc["agrees"] and doc["not_compared"] == []


# ---- hostile and random specs --------------------------------------------------------------------------------------------
EXAMPLES = 30  # each builds two small modules and runs them once


def test_random_3d_windows_count_and_compute_what_torchvisions_module_does() -> None:
    """Property: for random grids, windows, shifts, heads, biases and batches, window_attention_3d's params, buffers and
    MACs are those of torchvision's ShiftedWindowAttention3d under FlopCounterMode, and convcost's module computes its
    output (padding, shrunk windows, shifts and masks in every combination). Each example is kept (acceptance.py)."""
    torch = pytest.importorskip("torch")
    from acceptance import Acceptance
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from convcost.modules.swin3d import ShiftedWindowAttention3d

    seen = Acceptance()
    shrunk = shifted = padded = 0

    @st.composite
    def cases(draw: Any) -> tuple[Any, ...]:
        heads = draw(st.integers(1, 3))
        c = heads * draw(st.integers(1, 3))
        grid = tuple(draw(st.integers(1, 7)) for _ in range(3))
        window = tuple(draw(st.integers(1, 5)) for _ in range(3))
        shift = tuple(draw(st.integers(0, w - 1)) for w in window)
        return c, heads, grid, window, shift, draw(st.integers(1, 2)), draw(st.booleans()), draw(st.booleans())

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(cases())
    def matches(case: tuple[Any, ...]) -> None:
        nonlocal shrunk, shifted, padded
        c, heads, (t, h, w), window, shift, batch, qkv_bias, bias = case
        seen.accept(True)
        text = (f"input: {{shape: [{c}, {t}, {h}, {w}], batch: {batch}}}\nlayers:\n  - permute: {{dims: [0, 2, 3, 4, 1]}}\n"
                f"  - window_attention_3d: {{heads: {heads}, window: {list(window)}, shift: {list(shift)}, "
                f"qkv_bias: {str(qkv_bias).lower()}, bias: {str(bias).lower()}}}\n")
        cost = analysis_of(text).layers[1].cost
        ref = _tv().ShiftedWindowAttention3d(c, list(window), list(shift), heads, qkv_bias=qkv_bias, proj_bias=bias).eval()
        x = torch.randn(batch, t, h, w, c)
        assert _counts(ref, x) == (cost.params, cost.buffers, cost.macs), text
        ours = ShiftedWindowAttention3d(c, window, shift, heads, qkv_bias, bias).eval()
        ours.load_state_dict(ref.state_dict())
        with torch.no_grad():
            assert torch.allclose(ours(x), ref(x), atol=1e-5), text
        sizes = (t, h, w)
        shrunk += any(n <= k for n, k in zip(sizes, window))
        shifted += any(n > k and s for n, k, s in zip(sizes, window, shift))
        padded += any(n > k and n % k for n, k in zip(sizes, window))

    matches()
    seen.check(min_accepted=EXAMPLES)
    assert shrunk and shifted and padded, (shrunk, shifted, padded)  # the draw reached every mechanism


@pytest.mark.parametrize(("args", "col", "words"), [
    ("{heads: 2, window: [4, 4]}", 45, "'window' must be one number or a list [t, h, w], got a list of 2"),
    ("{heads: 2, window: 4, shift: [1, 1]}", 55, "'shift' must be one number or a list [t, h, w], got a list of 2"),
    ("{heads: 2, window: 4, shift: -1}", 55, "'shift' must be a non-negative integer, got -1"),
    ("{heads: 0, window: 4}", 34, "'heads' must be a positive integer, got 0"),
    ("{heads: 2, window: 4, shift: 4}", 55, "shift 4 must be smaller than the window 4 (time)"),
    ("{heads: 2, window: 4, bias: 3}", 54, "'bias' must be true or false, got 3"),
    ("{heads: 2}", 5, "missing required argument 'window'"),
])
def test_bad_window_attention_3d_args_exit_2_with_file_line_col(tmp_path: Path, args: str, col: int, words: str) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(f"input: [8, 3, 9, 11]\nlayers:\n  - permute: {{dims: [0, 2, 3, 4, 1]}}\n  - window_attention_3d: {args}\n")
    r = runner.invoke(app, ["analyze", str(spec)])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert f"s.yaml:4:{col}: window_attention_3d 'window_attention_3d1': {words}" in " ".join(r.output.split()), r.output


def test_import_refuses_a_3d_shift_not_smaller_than_the_window(tmp_path: Path) -> None:
    """torchvision runs ShiftedWindowAttention3d(16, [2, 3, 3], [2, 1, 1], 2) (a roll by a whole window in T), but
    window_attention_3d refuses shift >= window: import exits 2 naming the module, not writing a spec analyze rejects."""
    pytest.importorskip("torch")
    _tv()
    spec = tmp_path / "s.yaml"
    r = runner.invoke(app, ["import", f"{TESTS / 'swin3d_factories.py'}:lone_attention", "--input", "16,4,6,6",
                            "--reference-arg", "shift=[2, 1, 1]", "-o", str(spec)])
    assert r.exit_code == 2, r.output
    assert "attn" in r.output and "shift_size [2, 1, 1] not smaller than window_size [2, 3, 3]" in r.output, r.output
    ok = runner.invoke(app, ["import", f"{TESTS / 'swin3d_factories.py'}:lone_attention", "--input", "16,4,6,6",
                             "-o", str(spec)])
    assert ok.exit_code == 0 and "window_attention_3d: {name: attn, heads: 2, window: [2, 3, 3], shift: [1, 1, 1]}" in \
        spec.read_text(), ok.output + spec.read_text()
