"""Swin v2 (issue 20): `window_attention_v2` (torchvision's ShiftedWindowAttentionV2: cosine attention with a learned
logit scale and a continuous position bias MLP) and `patch_merging_v2` (PatchMergingV2: LayerNorm after the
reduction), each derived by hand and checked against torchvision's own modules: params, buffers, FlopCounterMode,
fvcore, every other counter's prediction, the output of convcost's torch module with the same weights; and a small
Swin v2 in torchvision's classes imported exactly, `verify --reference` passing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import analysis_of, graph_of
from typer.testing import CliRunner

from convcost.api import analyze_file
from convcost.cli import app

torch = pytest.importorskip("torch")
tv_swin = pytest.importorskip("torchvision.models.swin_transformer")

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

TESTS = Path(__file__).resolve().parent
runner = CliRunner()

# A 9×11 grid of width 8, 2 heads of 4, window 4, shift 2: padded to 12×12 (Np = 144 tokens), 9 windows of Nw = 16;
# T = (2·4 − 1)² = 49 relative offsets; cpb_mlp with torchvision's 512 hidden units.
GRID = "layers:\n  - to_tokens: {grid: true}\n  - window_attention_v2: {heads: 2, window: 4, shift: 2}\n"
QKV = 144 * 8 * 24  # 27,648 MACs per sample
MATMULS = 2 * 9 * 16 * 16 * 8  # q·kᵀ and a·v, nW·Nw²·C each: 36,864
PROJ = 144 * 8 * 8  # 9,216
CPB = 49 * (2 * 512 + 512 * 2)  # Linear(2 → 512) and Linear(512 → 2) on the 49 offsets, once per forward: 100,352
PARAMS = (8 * 24 + 24) + (8 * 8 + 8) + 2 + (2 * 512 + 512 + 512 * 2)  # qkv, proj, logit_scale, cpb_mlp: 2,850
BUFFERS = 49 * 2 + 16 * 16  # the [1, 7, 7, 2] coordinate table, the 16² index: 354


def _counts(model: Any, x: Any) -> tuple[int, int, int]:
    """(params, buffers, FlopCounterMode FLOPs / 2) of a torch module over one forward, measured by torch."""
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    return sum(p.numel() for p in model.parameters()), sum(b.numel() for b in model.buffers()), fc.get_total_flops() // 2


def _attention(shift: int = 2) -> Any:
    return tv_swin.ShiftedWindowAttentionV2(8, [4, 4], [shift, shift], 2).eval()


@pytest.mark.parametrize("batch", [1, 2])
def test_window_attention_v2_by_hand_equals_torchvisions_module(batch: int) -> None:
    lc = analysis_of(f"input: {{shape: [8, 9, 11], batch: {batch}}}\n{GRID}").layers[1]
    assert (lc.cost.params, lc.cost.buffers) == (PARAMS, BUFFERS) == (2_850, 354)
    # the position bias MLP reads only a buffer: once per forward, not per sample
    assert lc.cost.macs == batch * (QKV + MATMULS + PROJ) + CPB == (174_080 if batch == 1 else 247_808)
    assert _counts(_attention(), torch.zeros(batch, 9, 11, 8)) == (PARAMS, BUFFERS, lc.cost.macs)
    rows = {r.path[-1]: r.cost for r in analysis_of(f"input: {{shape: [8, 9, 11], batch: {batch}}}\n{GRID}").rows()
            if r.is_part}
    assert rows["cpb_mlp"].macs == CPB and rows["cpb_mlp"].params == 2_560 and rows["cpb_mlp"].buffers == 98
    assert rows["q·kᵀ"].macs == rows["a·v"].macs == batch * MATMULS // 2
    assert rows["logit_scale"].params == 2 and rows["shift_mask"].elementwise_ops == batch * 2 * 9 * 16 * 16


def test_fvcore_on_torchvisions_module_is_the_prediction() -> None:
    """fvcore counts aten::linear (qkv, proj and cpb_mlp's two) and aten::matmul (q·kᵀ, a·v): every MAC."""
    pytest.importorskip("fvcore")
    from fvcore.nn import FlopCountAnalysis

    lc = analysis_of(f"input: [8, 9, 11]\n{GRID}").layers[1]
    fv = FlopCountAnalysis(_attention(), torch.zeros(1, 9, 11, 8)).unsupported_ops_warnings(False)
    assert int(fv.total()) == QKV + MATMULS + PROJ + CPB
    assert lc.node.rule.counting.fvcore.predict(lc.node, lc.cost, 1).value == int(fv.total())


@pytest.mark.parametrize("shift", [2, 0])
def test_every_tool_on_torchvisions_module_equals_its_prediction(shift: int) -> None:
    """ptflops (both backends), thop, torchinfo, torchscan, calflops, fvcore and FlopCounterMode run on torchvision's
    own ShiftedWindowAttentionV2 (after the permute to_tokens builds): each equals convcost's prediction for the spec."""
    import tool_runs
    from test_conventions import predicted
    from torchvision.ops.misc import Permute

    graph = graph_of(f"input: [8, 9, 11]\n{GRID.replace('shift: 2', f'shift: {shift}')}")
    model = torch.nn.Sequential(Permute([0, 2, 3, 1]), _attention(shift))
    real = tool_runs.measure(model, (torch.randn(1, 8, 9, 11),), False)
    pred = predicted(graph)
    compared = {k: (pred[k], v) for k, v in real.items() if k in pred}
    assert len(compared) >= 2 * len(tool_runs.installed()) - 2, compared  # every tool's count and params
    assert {k: p for k, (p, _) in compared.items()} == {k: v for k, (_, v) in compared.items()}


def test_patch_merging_v2_by_hand_equals_torchvisions_module() -> None:
    # a 5×7 grid of 8, batch 2: padded to 6×8, 3×4 = 12 tokens of 32; Linear(32 → 16, no bias), LayerNorm(16)
    text = "input: {shape: [8, 5, 7], batch: 2}\nlayers:\n  - to_tokens: {grid: true}\n  - patch_merging_v2\n"
    lc = analysis_of(text).layers[1]
    assert lc.node.shape.grid == (3, 4) and lc.node.shape[1] == 16
    assert lc.cost.params == 32 * 16 + 2 * 16 and lc.cost.macs == 2 * 12 * 32 * 16 == 12_288
    assert lc.cost.norm_ops == 5 * 2 * 12 * 16  # the norm is over the 16-wide output, not the 32-wide merge
    assert _counts(tv_swin.PatchMergingV2(8).eval(), torch.zeros(2, 5, 7, 8)) == (lc.cost.params, 0, lc.cost.macs)


def test_convcost_modules_compute_what_torchvisions_do() -> None:
    """convcost's torch modules and torchvision's, with the same weights, give the same output (padding, shift, mask,
    cosine attention, the position bias MLP), and hold the same tensors under the same names."""
    from convcost.modules.swin_v2 import PatchMergingV2, ShiftedWindowAttentionV2

    torch.manual_seed(0)
    for (h, w), shift in (((9, 11), 2), ((8, 8), 0), ((4, 4), 2), ((12, 5), 1)):
        ref = tv_swin.ShiftedWindowAttentionV2(8, [4, 4], [shift, shift], 2).eval()
        ours = ShiftedWindowAttentionV2(8, (4, 4), (shift, shift), 2).eval()
        assert torch.equal(ours.relative_coords_table, ref.relative_coords_table)
        assert torch.equal(ours.relative_position_index, ref.relative_position_index)
        ours.load_state_dict(ref.state_dict())  # strict: the same names and shapes
        with torch.no_grad():
            ref.qkv.bias.normal_()  # a k bias that is not zero: both zero it in the forward
            ours.qkv.bias.copy_(ref.qkv.bias)
        x = torch.randn(2, h, w, 8)
        assert torch.allclose(ours(x), ref(x), atol=1e-5)
    ref_pm = tv_swin.PatchMergingV2(8)
    ours_pm = PatchMergingV2(8)
    ours_pm.load_state_dict(ref_pm.state_dict())
    x = torch.randn(2, 5, 7, 8)
    assert torch.allclose(ours_pm(x), ref_pm(x), atol=1e-6)


def test_a_small_swin_v2_imports_exactly(tmp_path: Path) -> None:
    """torchvision's ShiftedWindowAttentionV2 and PatchMergingV2 are recorded whole (their window partition moves the
    batch dim): `window_attention_v2` and `patch_merging_v2`, with the model's params, buffers and MACs, and
    `verify --reference` passes. A 4×4 grid, window 3 (padded to 6×6; the second block shifted by 1), merged to 2×2
    (one padded window: torchvision drops the shift)."""
    from swin_v2_factories import small_swin_v2
    from torch.nn.attention import SDPBackend, sdpa_kernel

    target = f"{TESTS / 'swin_v2_factories.py'}:small_swin_v2"
    spec = tmp_path / "swin_v2.yaml"
    r = runner.invoke(app, ["import", target, "--input", "3,16,16", "-o", str(spec)])
    assert r.exit_code == 0, r.output
    text = spec.read_text()
    assert "window_attention_v2: {name: attn, heads: $attn_heads, window: [3, 3], shift: $attn_shift}" in text, text
    assert "patch_merging_v2: {name: 2}" in text and "unsupported" not in text.split("input:", 1)[1], text
    model = small_swin_v2().eval()
    with sdpa_kernel([SDPBackend.MATH]):
        want = _counts(model, torch.zeros(1, 3, 16, 16))
    t = analyze_file(spec)[0].total
    assert (t.params, t.buffers, t.macs) == want
    v = runner.invoke(app, ["verify", str(spec), "--reference", target])
    assert v.exit_code == 0, v.output


@pytest.mark.parametrize("first", ["  - conv: {out: 8, kernel: 1}\n", ""])
def test_backward_against_flop_counter_mode(first: str) -> None:
    """verify --training: each layer's backward under FlopCounterMode equals the op's backward MACs, with an input
    gradient (a conv before) and without (the model's input: only the weights' gradients, through the whole layer)."""
    from convcost.crosscheck.counters import Status
    from convcost.crosscheck.verify import BACKWARD, verify_graph

    text = ("input: [8, 9, 11]\nlayers:\n" + first + "  - to_tokens: {grid: true}\n"
            "  - window_attention_v2: {heads: 2, window: 4, shift: 2, cpb_hidden: 16}\n  - patch_merging_v2\n")
    report = verify_graph(graph_of(text), "cpu", training=True)
    bad = [(lr.name, k, c.expected, c.actual) for lr in report.layers for k, c in lr.checks.items()
           if c.status == Status.MISMATCH]
    assert not bad
    checks = {lr.op: lr.checks[BACKWARD] for lr in report.layers}
    assert checks["window_attention_v2"].status == checks["patch_merging_v2"].status == Status.OK
    assert report.totals[BACKWARD].status == Status.OK


SWIN_V2_T_PARAMS = 28_351_570  # torchvision Swin_V2_T_Weights.IMAGENET1K_V1.meta["num_params"]
SWIN_V2_T_OPS = 5.94e9  # its meta["_ops"] (GMACs, at its 256×256 crop)


def test_configs_swin_v2_t_by_hand_and_against_torchvisions_metadata() -> None:
    """configs/swin_v2_t.yaml at 256×256: 64×64, 32×32, 16×16 and 8×8 grids, window 8 (no padding anywhere)."""
    from conftest import config_analysis

    a = config_analysis("swin_v2_t.yaml", "swin_v2_t")

    def block_params(c: int, heads: int) -> int:
        # norm1, norm2; qkv, proj; logit scale; cpb_mlp Linear(2 → 512) with bias, Linear(512 → heads); MLP 4c
        return 4 * c + (3 * c * c + 3 * c) + (c * c + c) + heads + (2 * 512 + 512 + 512 * heads) + (8 * c * c + 5 * c)

    stages = [(64, 96, 3, 2), (32, 192, 6, 2), (16, 384, 12, 6), (8, 768, 24, 2)]  # grid side, C, heads, depth
    params = (96 * 48 + 96) + 2 * 96 + sum(d * block_params(c, h) for _, c, h, d in stages)
    params += sum(8 * c * c + 4 * c for _, c, _, _ in stages[:3])  # merging v2: Linear(4c → 2c), LayerNorm(2c)
    params += 2 * 768 + (768 * 1000 + 1000)
    assert a.total.params == params == SWIN_V2_T_PARAMS

    def block_macs(side: int, c: int, heads: int) -> int:
        # per token 12c² (qkv 3c², proj c², MLP 8c²); q·kᵀ and a·v n·64·c each (64 tokens a window); the position
        # bias MLP on the 15·15 offsets, once
        n = side * side
        return 12 * n * c * c + 2 * n * 64 * c + 225 * (2 * 512 + 512 * heads)

    macs = sum(d * block_macs(s, c, h) for s, c, h, d in stages)
    macs += sum((s // 2) ** 2 * 4 * c * 2 * c for s, c, _, _ in stages[:3])  # merging: N'·4C·2C
    macs += 64 * 64 * 96 * (3 * 4 * 4) + 768 * 1000  # patch embedding, head
    assert a.total.macs == macs == 5_939_690_496
    assert abs(a.total.macs - SWIN_V2_T_OPS) / SWIN_V2_T_OPS < 1e-3  # 5.9397 G: torchvision's 5.94
    # each block's relative_position_index (64²) and coordinate table (15·15·2)
    assert a.total.buffers == 12 * (64 * 64 + 225 * 2)


@pytest.mark.slow
def test_configs_swin_v2_t_pairs_torchvisions_swin_v2_t() -> None:
    """verify --reference against torchvision's own swin_v2_t (on the meta device): every op, argument and count."""
    import json

    from conftest import CONFIGS

    r = runner.invoke(app, ["verify", str(CONFIGS / "swin_v2_t.yaml"), "--reference", "torchvision.models:swin_v2_t",
                            "--max-memory", "1k", "-f", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)["models"][0]
    assert doc["totals"]["params"]["reference"] == doc["totals"]["params"]["spec"] == SWIN_V2_T_PARAMS
    assert doc["verified"] and doc["agrees"] and doc["not_compared"] == []
