"""Hostile inputs for Swin v2's ops (window_attention_v2, patch_merging_v2) and their importer: bad specs exit 2 with
a compiler-style message, accepted odd specs (padding, shift, batch > 1) count what torchvision's own modules count,
`convcost import` never writes a spec convcost refuses, and `verify --reference` fails a spec whose v2 args differ."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import analysis_of
from typer.testing import CliRunner

from convcost.cli import app

torch = pytest.importorskip("torch")
tv_swin = pytest.importorskip("torchvision.models.swin_transformer")

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

TESTS = Path(__file__).resolve().parent
TARGET = f"{TESTS / 'swin_v2_hostile_factories.py'}:around"
runner = CliRunner()


@pytest.mark.parametrize("v1", ["false", "true"])
def test_import_refuses_a_shift_not_smaller_than_the_window(tmp_path: Path, v1: str) -> None:
    """torchvision runs ShiftedWindowAttentionV2(16, [5, 5], [5, 5], 4) (it rolls by a whole window), and v1's
    ShiftedWindowAttention too, but convcost's window_attention(_v2) refuses shift >= window: import must exit 2
    naming the module, not write a spec that `analyze` then rejects."""
    spec = tmp_path / "s.yaml"
    r = runner.invoke(app, ["import", TARGET, "--input", "3,44,36", "--reference-arg", "shift=5", "--reference-arg",
                            f"v1={v1}", "-o", str(spec)])
    assert r.exit_code == 2, r.output
    assert "attn" in r.output and "shift" in r.output, r.output


GRID = "input: [8, 9, 11]\nlayers:\n  - to_tokens: {grid: true}\n"


@pytest.mark.parametrize(("args", "col", "words"), [
    ("{heads: 3, window: 4}", 34, "heads=3 must divide the token width 8"),
    ("{heads: 2, window: 4, shift: 4}", 55, "shift 4 must be smaller than the window 4"),
    ("{heads: 2, window: [4, 2], shift: [1, 2]}", 60, "shift 2 must be smaller than the window 2 (width)"),
    ("{heads: 0, window: 4}", 34, "'heads' must be a positive integer, got 0"),
    ("{heads: 2.5, window: 4}", 34, "'heads' must be a positive integer, got 2.5"),
    ("{heads: two, window: 4}", 34, "'heads' must be a positive integer, got 'two'"),
    ("{heads: 2, window: [4, 4, 4]}", 45, "'window' must be one number or a list [h, w], got a list of 3"),
    ("{heads: 2, window: -4}", 45, "'window' must be a positive integer, got -4"),
    ("{heads: 2, window: 4, shift: -1}", 55, "'shift' must be a non-negative integer, got -1"),
    ("{heads: 2, window: 4, cpb_hidden: 0}", 60, "'cpb_hidden' must be a positive integer, got 0"),
    ("{heads: 2, window: 4, cpb_hidden: 1000000000000}", 60, "'cpb_hidden' must be at most 1,000,000,000"),
    ("{heads: 2, window: 4, qkv_bias: 3}", 58, "'qkv_bias' must be true or false, got 3"),
    ("{heads: 2}", 5, "missing required argument 'window'"),
])
def test_bad_window_attention_v2_args_exit_2_with_file_line_col(tmp_path: Path, args: str, col: int, words: str) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(f"{GRID}  - window_attention_v2: {args}\n")
    r = runner.invoke(app, ["analyze", str(spec)])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert f"s.yaml:4:{col}: window_attention_v2 'window_attention_v21': {words}" in " ".join(r.output.split()), r.output


@pytest.mark.parametrize(("text", "where", "words"), [
    (f"{GRID}  - patch_merging_v2: {{eps: 0}}\n", "4:29", "'eps' must be a positive finite number, got 0"),
    (f"{GRID}  - patch_merging_v2: {{eps: .nan}}\n", "4:29", "'eps' must be a positive finite number, got nan"),
    ("input: [8, 9, 11]\nlayers:\n  - to_tokens: {}\n  - patch_merging_v2\n", "4:5", "needs a token grid"),
    ("input: [8, 9, 11]\nlayers:\n  - window_attention_v2: {heads: 2, window: 4}\n", "3:5", "needs tokens (N×D), got a map"),
    ("input: [8]\nlayers:\n  - patch_merging_v2\n", "3:5", "needs tokens (N×D), got a map 8"),
    ("input: [8, 4, 4, 4]\nlayers:\n  - window_attention_v2: {heads: 2, window: 4}\n", "3:5", "got a map 8×4×4×4"),
])
def test_bad_inputs_of_the_v2_ops_exit_2(tmp_path: Path, text: str, where: str, words: str) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(text)
    r = runner.invoke(app, ["analyze", str(spec)])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert f"s.yaml:{where}: " in r.output and words in " ".join(r.output.split()), r.output


@pytest.mark.parametrize(("c", "h", "w", "heads", "window", "shift", "batch", "qkv_bias", "bias"), [
    (4, 1, 1, 2, (3, 2), (1, 1), 3, True, False),  # one token padded to one 3×2 window: the shift dropped
    (6, 7, 13, 3, (2, 5), (1, 4), 2, False, True),  # 8×15 padded, 4·3 windows, shifted
    (8, 5, 3, 4, (9, 2), (8, 1), 2, True, True),  # window taller than the grid: height shift dropped, width kept
    (2, 12, 2, 1, (4, 3), (0, 2), 3, False, False),  # only the width shifted; 3 windows of 12
])
def test_odd_accepted_specs_count_what_torchvisions_module_counts(c: int, h: int, w: int, heads: int, window: tuple[int, int],
                                                                  shift: tuple[int, int], batch: int, qkv_bias: bool,
                                                                  bias: bool) -> None:
    """params, buffers and MACs (FlopCounterMode FLOPs / 2) of torchvision's ShiftedWindowAttentionV2 itself."""
    text = (f"input: {{shape: [{c}, {h}, {w}], batch: {batch}}}\nlayers:\n  - to_tokens: {{grid: true}}\n"
            f"  - window_attention_v2: {{heads: {heads}, window: {list(window)}, shift: {list(shift)}, "
            f"qkv_bias: {str(qkv_bias).lower()}, bias: {str(bias).lower()}}}\n  - patch_merging_v2\n")
    layers = analysis_of(text).layers
    attn = tv_swin.ShiftedWindowAttentionV2(c, list(window), list(shift), heads, qkv_bias=qkv_bias, proj_bias=bias).eval()
    model = torch.nn.Sequential(attn, tv_swin.PatchMergingV2(c)).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(torch.randn(batch, h, w, c))
    want = (sum(p.numel() for p in model.parameters()), sum(b.numel() for b in model.buffers()), fc.get_total_flops() // 2)
    got = tuple(sum(getattr(lc.cost, k) for lc in layers[1:]) for k in ("params", "buffers", "macs"))
    assert got == want


@pytest.mark.parametrize(("old", "new", "words"), [
    ("shift: [2, 2]", "shift: [1, 2]", "shift: spec 1×2, model 2 "),  # the same counts: only the argument differs
    ("shift: [2, 2]", "shift: [2, 2], cpb_hidden: 256", "cpb_hidden: spec 256, model 512"),
    ("shift: [2, 2]", "shift: [2, 2], qkv_bias: false", "qkv_bias: spec false, model true"),
    ("window: [5, 5]", "window: [5, 4]", "window: spec 5×4, model 5 "),
])
def test_verify_reference_fails_a_spec_whose_v2_args_differ(tmp_path: Path, old: str, new: str, words: str) -> None:
    """A 44×36 input: an 11×9 grid, window 5 (padded to 15×10), shift 2. The imported spec passes; each change fails."""
    spec = tmp_path / "s.yaml"
    r = runner.invoke(app, ["import", TARGET, "--input", "3,44,36", "-o", str(spec)])
    assert r.exit_code == 0, r.output
    assert "window_attention_v2: {name: attn, heads: 4, window: [5, 5], shift: [2, 2]}" in spec.read_text()
    ok = runner.invoke(app, ["verify", str(spec), "--reference", TARGET])
    assert ok.exit_code == 0, ok.output
    spec.write_text(spec.read_text().replace(old, new))
    bad = runner.invoke(app, ["verify", str(spec), "--reference", TARGET])
    assert bad.exit_code == 1 and words in " ".join(bad.output.split()), bad.output


def test_every_tool_at_batch_2_on_torchvisions_module_equals_its_prediction() -> None:
    """Batch 2, a 5×9 grid of 4, 2 heads, window 4 (padded to 8×12, 6 windows), shift 2. ptflops (as tool_runs runs
    it: the batch counter sees no positional input, so nothing is averaged) counts cpb_mlp's hooks once per forward:
    49·(2·512 + 512) + 2·49·512 (its ReLU twice) + 49·512·2 = 175,616, plus a·v 2·6·16²·4 = 12,288 and the softmax
    2·2·6·16² = 6,144: 194,048 (the prediction halved the hooks to 87,808: 106,240)."""
    import tool_runs
    from conftest import graph_of
    from test_conventions import predicted
    from torchvision.ops.misc import Permute

    graph = graph_of("input: {shape: [4, 5, 9], batch: 2}\nlayers:\n  - to_tokens: {grid: true}\n"
                     "  - window_attention_v2: {heads: 2, window: 4, shift: 2}\n")
    model = torch.nn.Sequential(Permute([0, 2, 3, 1]), tv_swin.ShiftedWindowAttentionV2(4, [4, 4], [2, 2], 2)).eval()
    real = tool_runs.measure(model, (torch.randn(2, 4, 5, 9),), False)
    pred = predicted(graph)
    compared = {k: (pred[k], v) for k, v in real.items() if k in pred}
    assert len(compared) >= 2 * len(tool_runs.installed()) - 2, compared
    assert real.get("ptflops", 194_048) == 194_048
    assert {k: p for k, (p, _) in compared.items()} == {k: v for k, (_, v) in compared.items()}
