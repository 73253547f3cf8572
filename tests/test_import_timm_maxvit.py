"""`convcost import` of timm's MaxViT partition attention (importer/partitions.py): the block or grid partition a
PartitionAttentionCl writes in its forward (views and a permute into [B·nW, p0, p1, C], its AttentionCl on the fused
path with RelPosBiasTf's bias, the reverse) is one `partition_attention`, with the model's params, buffers and MACs as
torch counts them, and `verify --reference` passes. The factories are tests/timm_maxvit_factories.py (timm's own
modules)."""

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
from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

FACTORIES = Path(__file__).resolve().parent / "timm_maxvit_factories.py"
runner = CliRunner()


def run_import(factory: str, shape: str, out: Path, *args: str) -> Result:
    more = [o for a in args for o in ("--reference-arg", a)]
    return runner.invoke(app, ["import", f"{FACTORIES}:{factory}", "--input", shape, "-o", str(out), *more])


def torch_counts(factory: str, shape: tuple[int, ...], **kwargs: object) -> tuple[int, int, int]:
    """(params, buffers, FlopCounterMode FLOPs / 2) of timm's module, measured by torch on the math path."""
    model = getattr(importlib.import_module("timm_maxvit_factories"), factory)(**kwargs).eval()
    with sdpa_kernel([SDPBackend.MATH]), FlopCounterMode(display=False) as fc:
        model(torch.zeros(1, *shape))
    return sum(p.numel() for p in model.parameters()), sum(b.numel() for b in model.buffers()), fc.get_total_flops() // 2


def spec_counts(spec: Path) -> tuple[int, int, int]:
    t = analyze_file(spec)[0].total
    return t.params, t.buffers, t.macs


def verify(spec: Path, factory: str, *args: str) -> Result:
    more = [o for a in args for o in ("--reference-arg", a)]
    return runner.invoke(app, ["verify", str(spec), "--reference", f"{FACTORIES}:{factory}", *more])


def test_block_and_grid_attention_are_partition_attentions(tmp_path: Path) -> None:
    """timm's block then grid PartitionAttentionCl on an 8×8 grid of 16 (2 heads of 8), partition 4×4 (4 windows of
    16 tokens), head_first=False (MaxViT's TensorFlow layout)."""
    spec = tmp_path / "blocks.yaml"
    r = run_import("maxvit_blocks", "3,32,32", spec)
    assert r.exit_code == 0, r.output
    text = spec.read_text()
    assert "- partition_attention: {name: attn, heads: 2, window: 4, head_first: false}" in text, text
    assert "- partition_attention: {name: attn, heads: 2, window: 4, grid: true, head_first: false}" in text, text
    assert "unsupported" not in text.split("input:")[1] and "permute: {name: permute, dims: [0, 1, 3" not in text, text
    assert spec_counts(spec) == torch_counts("maxvit_blocks", (3, 32, 32))
    layers = {lc.node.name: lc.cost for lc in analyze_file(spec)[0].layers}
    for name in ("blocks.0.attn", "blocks.1.attn"):
        # qkv 64·16·48, q·kᵀ and a·v 4·16²·16 each, proj 64·16·16; the bias gather's einsums: 2·4·4·7·7 = 1,568 and
        # 2·4·4·7·4·4 = 3,584
        assert layers[name].macs == 64 * 16 * 48 + 2 * 4 * 16 * 16 * 16 + 64 * 16 * 16 + 1568 + 3584
        # qkv 16·48 + 48, proj 16·16 + 16, the table 2·7·7; the lookups [4, 4, 7] twice (buffers)
        assert (layers[name].params, layers[name].buffers) == (16 * 48 + 48 + 16 * 16 + 16 + 2 * 7 * 7, 2 * 4 * 4 * 7)
    v = verify(spec, "maxvit_blocks")
    assert v.exit_code == 0, v.output
    # the spec's own torch build against every counter's prediction (FlopCounterMode on CPU, fvcore's einsums)
    v = runner.invoke(app, ["verify", str(spec)])
    assert v.exit_code == 0, v.output


def test_head_first_is_read(tmp_path: Path) -> None:
    spec = tmp_path / "hf.yaml"
    r = run_import("maxvit_blocks", "3,32,32", spec, "head_first=true")
    assert r.exit_code == 0, r.output
    assert "- partition_attention: {name: attn, heads: 2, window: 4}" in spec.read_text(), spec.read_text()
    assert verify(spec, "maxvit_blocks", "head_first=true").exit_code == 0
    # the spec of head_first=false is not this model: the heads are cut from qkv's output otherwise
    assert verify(spec, "maxvit_blocks").exit_code == 1


def test_a_small_timm_maxvit_imports_exactly(tmp_path: Path) -> None:
    """timm's MaxxVit with maxvit_tiny_tf's configuration, narrow, at 64×64 (partitions 2×2): every part of it (the
    'same'-padded stem, MbConvBlock, the channels-last blocks between permutes, the head) as torch counts it."""
    spec = tmp_path / "maxvit.yaml"
    r = run_import("maxvit_tiny", "3,64,64", spec)
    assert r.exit_code == 0, r.output
    assert spec_counts(spec) == torch_counts("maxvit_tiny", (3, 64, 64))
    v = verify(spec, "maxvit_tiny")
    assert v.exit_code == 0, v.output


@pytest.mark.parametrize(("args", "says"), [
    # TIMM_FUSED_ATTN=0: q·kᵀ and a·v as matmuls (what FlopCounterMode and fvcore see differs)
    (("fused=false",), "timm's AttentionCl 'blocks.0.attn' off its fused path"),
    # timm's RelPosBias: table[index], no einsum (what FlopCounterMode counts differs: no gather MACs)
    (("rel_pos=bias",), "ran index×1, linear×2, scaled_dot_product_attention×1, not its own forward's arithmetic with "
                        "RelPosBiasTf"),
])
def test_an_attention_partition_attention_does_not_count_is_refused(tmp_path: Path, args: tuple[str, ...],
                                                                     says: str) -> None:
    spec = tmp_path / "s.yaml"
    r = run_import("maxvit_blocks", "3,32,32", spec, *args)
    assert r.exit_code == 2, r.output
    assert says in r.stderr and "Traceback" not in r.output, r.stderr
    # one line per kind of refusal: the block's and the grid's attention (the views around them are parts of it)
    assert "moves the batch dim" not in r.stderr and "not a convcost op" not in r.stderr, r.stderr
    assert not spec.exists()
