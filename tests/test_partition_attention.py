"""`partition_attention` (ops/partition.py): MaxViT's block and grid attention as timm writes it. Its counts by hand,
against timm's own PartitionAttentionCl under FlopCounterMode (at batch 1 and 2: the bias gather's einsums run once
per forward, not per sample), and its shape rule's refusals."""

from __future__ import annotations

import pytest
from conftest import analysis_of

from convcost.errors import SpecError


def _layer(text: str, batch: int = 1):  # type: ignore[no-untyped-def]
    return analysis_of(f"input: {{shape: [3, 16, 12], batch: {batch}}}\nlayers:\n"
                       "  - patch_embed: {out: 16, patch: 2, grid: true}\n" + text).layers[-1].cost


def test_block_attention_counts_by_hand() -> None:
    # an 8×6 grid of 16 tokens wide, 2 heads of 8, windows 4×2: 48 tokens, 6 windows of 8
    c = _layer("  - partition_attention: {heads: 2, window: [4, 2]}\n")
    qkv, proj = 48 * 16 * 48, 48 * 16 * 16
    scores = 2 * 6 * 8 * 8  # heads · windows · Nw²
    # the gather: 'nhw,ixh->nixw' 2·4·4·3·7 and 'nixw,jyw->nijxy' 2·4·4·3·2·2
    gather = 2 * 4 * 4 * 3 * 7 + 2 * 4 * 4 * 3 * 2 * 2
    assert c.macs == qkv + 2 * scores * 8 + proj + gather
    assert c.params == 16 * 48 + 48 + 16 * 16 + 16 + 2 * 7 * 3  # qkv, proj, the table [2, 7, 3]
    assert c.buffers == 4 * 4 * 7 + 2 * 2 * 3  # the lookups [4, 4, 7] and [2, 2, 3]
    # at batch 2 everything doubles but the gather, which reads no sample
    assert _layer("  - partition_attention: {heads: 2, window: [4, 2]}\n", batch=2).macs == 2 * (c.macs - gather) + gather


def test_grid_attention_counts_as_block_attention() -> None:
    # the same windows' sizes, other tokens in them: the same counts
    block = _layer("  - partition_attention: {heads: 2, window: [4, 2]}\n")
    grid = _layer("  - partition_attention: {heads: 2, window: [4, 2], grid: true, head_first: false}\n")
    assert (block.macs, block.params, block.buffers) == (grid.macs, grid.params, grid.buffers)


@pytest.mark.parametrize(("args", "says"), [
    ("heads: 2, window: 4", "the width 6 is not a multiple of the window 4"),
    ("heads: 2, window: [2, 4], grid: true", "the width 6 is not a multiple of the grid 4"),
    ("heads: 3, window: 2", "heads=3 must divide the token width 16"),
])
def test_a_partition_timm_cannot_cut_is_refused(args: str, says: str) -> None:
    with pytest.raises(SpecError, match=says):
        _layer(f"  - partition_attention: {{{args}}}\n")


torch = pytest.importorskip("torch")
pytest.importorskip("timm")


@pytest.mark.parametrize("kind", ["block", "grid"])
@pytest.mark.parametrize("batch", [1, 2])
def test_the_counts_are_timm_s(kind: str, batch: int) -> None:
    """timm's PartitionAttentionCl._partition_attn on an 8×6 grid under FlopCounterMode (its MACs: FLOPs / 2), its
    parameters and buffers, against the layer's."""
    from timm.models.maxxvit import MaxxVitTransformerCfg, PartitionAttentionCl
    from torch.utils.flop_counter import FlopCounterMode

    cfg = MaxxVitTransformerCfg(dim_head=8, head_first=False, rel_pos_type="bias_tf", window_size=(4, 2))
    block = PartitionAttentionCl(16, kind, cfg).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        block._partition_attn(torch.zeros(batch, 8, 6, 16))
    attn = block.attn
    c = _layer(f"  - partition_attention: {{heads: 2, window: [4, 2], grid: {str(kind == 'grid').lower()}, "
               "head_first: false}\n", batch=batch)
    assert c.macs == fc.get_total_flops() // 2
    assert c.params == sum(p.numel() for p in attn.parameters())
    assert c.buffers == sum(b.numel() for b in attn.buffers())


@pytest.mark.parametrize("kind", ["block", "grid"])
@pytest.mark.parametrize("head_first", [False, True])
def test_the_build_computes_timm_s_attention(kind: str, head_first: bool) -> None:
    """The layer's torch module (what verify builds and runs the counters on), given timm's weights, computes what
    timm's PartitionAttentionCl._partition_attn computes, and runs the same counted ops (FlopCounterMode's FLOPs,
    with its backward)."""
    from timm.models.maxxvit import MaxxVitTransformerCfg, PartitionAttentionCl
    from torch.utils.flop_counter import FlopCounterMode

    from convcost.modules.partition import PartitionAttention

    torch.manual_seed(0)
    cfg = MaxxVitTransformerCfg(dim_head=8, head_first=head_first, rel_pos_type="bias_tf", window_size=(4, 2))
    timm_block = PartitionAttentionCl(16, kind, cfg).eval()
    mine = PartitionAttention(16, 2, (4, 2), kind == "grid", head_first, True, True).eval()
    attn = timm_block.attn
    mine.qkv.load_state_dict(attn.qkv.state_dict())
    mine.proj.load_state_dict(attn.proj.state_dict())
    with torch.no_grad():
        mine.relative_position_bias_table.copy_(attn.rel_pos.relative_position_bias_table)
    assert torch.equal(mine.height_lookup, attn.rel_pos.height_lookup)
    assert torch.equal(mine.width_lookup, attn.rel_pos.width_lookup)
    x = torch.randn(2, 8, 6, 16, requires_grad=True)
    flops = []
    for run in (timm_block._partition_attn, mine):
        with FlopCounterMode(display=False) as fc:
            y = run(x)
            y.square().sum().backward()
        flops.append((y.detach(), fc.get_total_flops()))
    assert torch.allclose(flops[0][0], flops[1][0], atol=1e-6) and flops[0][1] == flops[1][1]


@pytest.mark.parametrize(("grid", "size"), [(False, (4, 2)), (True, (4, 2)), (True, (2, 3))])
def test_the_receptive_field_is_what_each_output_reads_in_torch(grid: bool, size: tuple[int, int]) -> None:
    """On an 8×6 grid, the input positions each output position's gradient reaches through the layer's torch module
    are the positions its `rf` taps name (block: its window; grid: the tokens H/p0 and W/p1 apart)."""
    from convcost.modules.partition import PartitionAttention
    from convcost.ops.partition import PartitionAttentionArgs, _rf
    from convcost.ops.shapes import TokenGrid

    torch.manual_seed(0)
    h, w = 8, 6
    m = PartitionAttention(8, 2, size, grid, False, True, True)
    rf = _rf(PartitionAttentionArgs(heads=2, window=size, grid=grid), (TokenGrid(h, w, 8),), TokenGrid(h, w, 8))

    def reads(t, o: int) -> set[int]:  # type: ignore[no-untyped-def]
        m_, rho = divmod(o, t.period)
        return {m_ * t.step + k for k in t.taps[rho]}

    for r in range(h):
        for c in range(w):
            x = torch.randn(1, h, w, 8, requires_grad=True)
            m(x)[0, r, c].sum().backward()
            seen = {(i, j) for i in range(h) for j in range(w) if x.grad[0, i, j].abs().sum() > 0}
            assert seen == {(i, j) for i in reads(rf.dims[0], r) for j in reads(rf.dims[1], c)}, (r, c)
