"""`convcost import` of timm's windowed attention (importer/windows.py): the window partition a timm
SwinTransformerBlock writes in its forward (roll, pad, view/permute into [B·nW, Nw, C], its WindowAttention, the
reverse) is one `window_attention`, with the model's params, buffers and MACs as torch counts them, and `verify
--reference` passes. The factories are tests/timm_window_factories.py (timm's own modules)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from convcost.api import analyze_file
from convcost.cli import app

torch = pytest.importorskip("torch")
pytest.importorskip("fvcore")
pytest.importorskip("timm")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

FACTORIES = Path(__file__).resolve().parent / "timm_window_factories.py"
runner = CliRunner()


def run_import(factory: str, shape: str, out: Path, *args: str) -> Result:
    more = [o for a in args for o in ("--reference-arg", a)]
    return runner.invoke(app, ["import", f"{FACTORIES}:{factory}", "--input", shape, "-o", str(out), *more])


def torch_counts(factory: str, shape: tuple[int, ...], **kwargs: object) -> tuple[int, int, int]:
    """(params, buffers, FlopCounterMode FLOPs / 2) of timm's module, measured by torch."""
    model = getattr(importlib.import_module("timm_window_factories"), factory)(**kwargs).eval()
    with FlopCounterMode(display=False) as fc:
        model(torch.zeros(1, *shape))
    return sum(p.numel() for p in model.parameters()), sum(b.numel() for b in model.buffers()), fc.get_total_flops() // 2


def spec_counts(spec: Path) -> tuple[int, int, int]:
    t = analyze_file(spec)[0].total
    return t.params, t.buffers, t.macs


def verify(spec: Path, factory: str) -> Result:
    return runner.invoke(app, ["verify", str(spec), "--reference", f"{FACTORIES}:{factory}"])


def test_swin_blocks_are_window_attentions(tmp_path: Path) -> None:
    """Two SwinTransformerBlocks on an 8×8 grid of 16, window 4 (4 windows of 16 tokens), 2 heads: the first plain,
    the second shifted by 2, its shift mask the block's attn_mask buffer [4, 16, 16]."""
    spec = tmp_path / "blocks.yaml"
    r = run_import("swin_blocks", "3,32,32", spec)
    assert r.exit_code == 0, r.output
    text = spec.read_text()
    assert "- window_attention: {name: attn, heads: 2, window: 4}" in text, text
    assert "- window_attention: {name: attn, heads: 2, window: 4, shift: 2, mask_buffer: true}" in text, text
    for word in ("roll", "unsupported", "permute: {name: permute, dims: [0, 1, 3, 2, 4, 5]}"):
        assert word not in text.split("input:")[1], text
    assert spec_counts(spec) == torch_counts("swin_blocks", (3, 32, 32))
    layers = {lc.node.name: lc.cost for lc in analyze_file(spec)[0].layers}
    # the shifted block's attention: its index 16·16 and the mask 4·16·16; the plain one's index alone
    assert layers["blocks.1.attn"].buffers == 16 * 16 + 4 * 16 * 16
    assert layers["blocks.0.attn"].buffers == 16 * 16
    # each: qkv 64·16·48, q·kᵀ and a·v 4·16²·16 each, proj 64·16·16
    assert layers["blocks.1.attn"].macs == 64 * 16 * 48 + 2 * 4 * 16 * 16 * 16 + 64 * 16 * 16
    v = verify(spec, "swin_blocks")
    assert v.exit_code == 0, v.output
    # the spec's own torch build (the mask a buffer of its module) against every counter's prediction
    v = runner.invoke(app, ["verify", str(spec)])
    assert v.exit_code == 0, v.output


def test_timm_swin_imports_exactly(tmp_path: Path) -> None:
    """timm's SwinTransformer (its PatchEmbed to a token grid, PatchMerging written as reshape/permute/flatten, a
    LayerNorm and its head): params, buffers and MACs as torch counts them, verify --reference passes, and the
    blocks fold (one SwinTransformerBlock definition)."""
    spec = tmp_path / "swin.yaml"
    r = run_import("swin", "3,32,32", spec)
    assert r.exit_code == 0, r.output
    text = spec.read_text()
    assert "  SwinTransformerBlock:\n" in text and "shift: 2, mask_buffer: true}" in text, text
    assert spec_counts(spec) == torch_counts("swin", (3, 32, 32))
    v = verify(spec, "swin")
    assert v.exit_code == 0, v.output


def test_fused_window_attention_is_refused(tmp_path: Path) -> None:
    """With TIMM_FUSED_ATTN=2 timm's WindowAttention runs F.scaled_dot_product_attention with the bias as its mask:
    not what window_attention builds (its matmuls), so import says so (and exits 2)."""
    r = run_import("swin_blocks", "3,32,32", tmp_path / "s.yaml", "fused=true")
    assert r.exit_code == 2
    assert "timm's WindowAttention 'blocks.0.attn' on its fused path" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 2, r.stderr  # the block after it reads what it makes: not listed


def test_a_shifted_block_that_pads_is_refused(tmp_path: Path) -> None:
    """A 6×6 grid with window 4: padded to 8×8, and timm rolls before it pads (torchvision, and convcost, after):
    another computation, refused at the roll."""
    r = run_import("swin_blocks", "3,24,24", tmp_path / "s.yaml", "grid=6")
    assert r.exit_code == 2
    assert "rolls the grid before it pads it to whole windows" in r.stderr, r.stderr
    # the roll back is a part after it, not a second refusal ('roll is not a convcost op')
    assert len(r.stderr.strip().splitlines()) == 2 and "not a convcost op" not in r.stderr, r.stderr


@pytest.mark.parametrize(("args", "says"), [
    # always_partition keeps the shift on a 4×4 grid of one 4×4 window: timm rolls and masks (a [1, 16, 16] attn_mask),
    # window_attention drops the shift there (torchvision's rule): written, it counted 256 buffers and 1·2·16² adds less
    (("grid=4", "always_partition=true"), "shifts the height by 2 on a grid of one window"),
    # timm keeps a shift of a whole window (4 of 4); window_attention refuses it: written, analyze rejected the spec
    (("shift=4",), "shifts the height by 4, not smaller than its window 4"),
])
def test_a_shift_window_attention_cannot_count_is_refused(tmp_path: Path, args: tuple[str, ...], says: str) -> None:
    spec = tmp_path / "s.yaml"
    r = run_import("swin_blocks", "3,16,16" if "grid=4" in args else "3,32,32", spec, *args)
    assert r.exit_code == 2, r.output
    assert says in r.stderr and "Traceback" not in r.output, r.stderr
    assert not spec.exists()


@pytest.mark.parametrize(("factory", "ran"), [
    # the shifted block's attention without its mask: one add (the bias) where a shifted window_attention counts two
    ("swin_blocks_unmasked", "ran add×1, index×1, linear×2, matmul×2, mul×1, softmax×1"),
    # a forward without the bias, mask and softmax: what FlopCounterMode counts is unchanged (verify --reference said
    # "every op, argument and count agrees" of the spec with them)
    ("swin_blocks_no_softmax", "ran linear×2, matmul×2, mul×1,"),
])
def test_a_window_attention_running_other_arithmetic_is_refused(tmp_path: Path, factory: str, ran: str) -> None:
    spec = tmp_path / "s.yaml"
    r = run_import(factory, "3,32,32", spec)
    assert r.exit_code == 2, r.output
    assert ran in r.stderr and "not its own forward's arithmetic" in r.stderr, r.stderr
    assert not spec.exists()
    # the spec written for timm's own blocks does not describe it either
    good = tmp_path / "good.yaml"
    assert run_import("swin_blocks", "3,32,32", good).exit_code == 0
    assert verify(good, factory).exit_code == 1


def test_a_subclass_of_timm_window_attention_imports_as_timm_s(tmp_path: Path) -> None:
    """A user's subclass of WindowAttention running timm's forward is the same window_attention (it was refused as
    'a view that moves the batch dim' and 'roll is not a convcost op'); its counts are torch's."""
    spec = tmp_path / "sub.yaml"
    r = run_import("swin_blocks_subclassed", "3,32,32", spec)
    assert r.exit_code == 0, r.output
    assert "- window_attention: {name: attn, heads: 2, window: 4, shift: 2, mask_buffer: true}" in spec.read_text()
    assert spec_counts(spec) == torch_counts("swin_blocks_subclassed", (3, 32, 32))
    v = verify(spec, "swin_blocks_subclassed")
    assert v.exit_code == 0, v.output


def test_unshifted_blocks_on_a_padded_grid_verify(tmp_path: Path) -> None:
    """Two unshifted blocks on a 6×6 grid, window 4: timm pads to 8×8 (4 windows) and crops back, as window_attention
    counts; its WindowAttention module returns the windows [4, 16, 16], the layer the 6×6 grid: verify --reference
    compares the layer's traced output (it failed 'output: spec 1×36×16, model 4×16×16'), at batch 2 too."""
    spec = tmp_path / "pad.yaml"
    r = run_import("swin_blocks", "3,24,24", spec, "grid=6", "shift=0")
    assert r.exit_code == 0, r.output
    assert spec_counts(spec) == torch_counts("swin_blocks", (3, 24, 24), grid=6, shift=0)
    for batch in ("1", "2"):
        v = runner.invoke(app, ["verify", str(spec), "--reference", f"{FACTORIES}:swin_blocks", "--reference-arg", "grid=6",
                                "--reference-arg", "shift=0", "-b", batch])
        assert v.exit_code == 0, v.output
    # a spec of window 3 (6×6 in 4 windows of 9, no padding) is not this model
    spec.write_text(spec.read_text().replace("window: 4", "window: 3"))
    v = runner.invoke(app, ["verify", str(spec), "--reference", f"{FACTORIES}:swin_blocks", "--reference-arg", "grid=6",
                            "--reference-arg", "shift=0"])
    assert v.exit_code == 1, v.output
