"""timm's MaxViT partition attention (torch-free): the block or grid partition a PartitionAttentionCl cuts in its
``_partition_attn``, around its AttentionCl module, as one `partition_attention` layer.

timm writes the partition as functions (timm/models/maxxvit.py), so the windows move into the batch dim ([B·nW, p0,
p1, C]), which no per-sample op can write; the whole is convcost's `partition_attention` (ops/partition.py):

- ``window_partition``: ``x.view(B, H/p0, p0, W/p1, p1, C).permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, p0, p1, C)``;
  ``grid_partition``: ``x.view(B, p0, H/p0, p1, W/p1, C).permute(0, 2, 4, 1, 3, 5).contiguous().view(-1, p0, p1, C)``;
- ``self.attn(partitioned)``: timm's AttentionCl (by its class) on its fused path (``use_fused_attn()``, timm's
  default): qkv nn.Linear, the heads split (``head_first``: ``view(B, -1, heads, 3·d).transpose(1, 2).chunk(3, 3)``,
  else ``reshape(B, -1, 3, heads, d).transpose(1, 3).unbind(2)``), RelPosBiasTf's bias (its table gathered by two
  torch.einsum with its one-hot lookups), F.scaled_dot_product_attention with that bias as its mask, proj nn.Linear;
- ``window_reverse``: ``view(-1, H/p0, W/p1, p0, p1, C).permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, H, W, C)``;
  ``grid_reverse``: the same views with ``permute(0, 3, 1, 4, 2, 5)``.

Refused (exit 2, naming the attention): AttentionCl off its fused path (``TIMM_FUSED_ATTN=0``: q·kᵀ and a·v as matmuls),
another relative position bias (RelPosBias's table[index], RelPosMlp) or none, and any other arithmetic in the call.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from .flow import first_tensor
from .found import Emit, Found, Refuse, Skip
from .graph import ModuleCall, Node
from .windows import MOVES, RESHAPE, _either, _perm, _reader

if TYPE_CHECKING:
    from .patterns import Claims
    from .recognise import Context

TIMM_ATTENTION_CL = "timm.models.maxxvit.AttentionCl"
# the partition's permute and the reverse's, by `grid`
PARTITION = {False: (0, 1, 3, 2, 4, 5), True: (0, 2, 4, 1, 3, 5)}
REVERSE = {False: (0, 1, 3, 2, 4, 5), True: (0, 3, 1, 4, 2, 5)}
SPLITS = frozenset(("split", "split_with_sizes", "chunk"))  # head_first's chunk(3, dim=3)
EINSUMS = ("nhw,ixh->nixw", "nixw,jyw->nijxy")  # timm's reindex_2d_einsum_lookup


def timm_partition_attention(ctx: Context, call: ModuleCall, claims: Claims) -> None:
    """A call of timm's AttentionCl: the partition before it and the reverse after it, a trigger on the partition's
    first view that writes them all as one `partition_attention` at the reverse's last view."""
    timm = call.qualname == TIMM_ATTENTION_CL or TIMM_ATTENTION_CL in ctx.rec.bases.get(call.path, ())
    if not timm or not call.ins or not call.outs:
        return
    match = _match(ctx, call)
    if match is None:
        return  # not PartitionAttentionCl's spelling: the nodes are read one by one (and the batch views refused)
    start, inner, end, x, found = match

    def trigger(node: Node) -> Found:
        if ctx.layout(x) != "grid":
            return None
        for i in inner:
            claims[i] = Skip()
        claims[end.index] = found  # refused: the reverse is a part after the refused partition, not listed again
        return found if isinstance(found, Refuse) else Skip()

    earlier = claims.get(start.index)
    claims[start.index] = trigger if earlier is None else _either(trigger, earlier)


def _match(ctx: Context, call: ModuleCall) -> tuple[Node, list[int], Node, int, Found] | None:
    """(the partition's first node, the nodes it claims, the reverse's last node, the grid it reads, what it is)."""
    flow = ctx.flow
    shape = flow.shape
    v = flow.back(call.ins[0])
    if len(shape(v)) != 4:
        return None
    bnw, p0, p1, c = shape(v)
    last = flow.producer(v)  # view(-1, p0, p1, C)
    if last is None or last.op not in RESHAPE or first_tensor(last) is None:
        return None
    v = flow.back(first_tensor(last))  # type: ignore[arg-type]
    perm = flow.producer(v)
    grid = next((g for g, dims in PARTITION.items() if _perm(perm) == dims), None)
    if perm is None or grid is None:
        return None
    v = flow.back(first_tensor(perm))  # type: ignore[arg-type]
    split = flow.producer(v)
    if split is None or split.op not in RESHAPE or len(shape(v)) != 6 or first_tensor(split) is None:
        return None
    b, a0, a1, a2, a3, c6 = shape(v)
    x = flow.back(first_tensor(split))  # type: ignore[arg-type]
    h, w = a0 * a1, a2 * a3
    sizes = (a0, a2) if grid else (a1, a3)
    if shape(x) != (b, h, w, c) or c6 != c or sizes != (p0, p1) or bnw != b * (h // p0) * (w // p1):
        return None
    chain = [split, perm, last]
    # ---- on from its output: view(-1, H/p0, W/p1, p0, p1, C), the permute back, view(-1, H, W, C) ----
    ends: list[Node] = []
    r = _reader(ctx, call.outs[0])
    if r is None or r.op not in RESHAPE or shape(r.outs[0]) != (b, h // p0, w // p1, p0, p1, c):
        return None
    ends.append(r)
    r = _reader(ctx, r.outs[0])
    if _perm(r) != REVERSE[grid] or r is None:
        return None
    ends.append(r)
    r = _reader(ctx, r.outs[0])
    if r is None or r.op not in RESHAPE or shape(r.outs[0]) != (b, h, w, c):
        return None
    ends.append(r)
    if any(_reader(ctx, m.outs[0]) is None for m in chain + ends[:-1]):
        return None  # a part of the windows read by something else as well
    inner = [m.index for m in chain[1:] + ends[:-1]] + list(range(call.first, call.last))
    return chain[0], inner, ends[-1], x, _attention(ctx, call, (p0, p1), grid, c, x, ends[-1])


def _attention(ctx: Context, call: ModuleCall, window: tuple[int, int], grid: bool, c: int, x: int, end: Node) -> Found:
    """The `partition_attention` layer timm's AttentionCl is (checked against what its call ran), or why not."""
    path, rec = call.path, ctx.rec
    nodes = rec.nodes[call.first:call.last]
    ops = Counter(m.op for m in nodes if m.op not in MOVES and m.op not in SPLITS)
    if "scaled_dot_product_attention" not in ops:
        return Refuse(f"timm's AttentionCl '{path}' off its fused path (TIMM_FUSED_ATTN=0: q·kᵀ and a·v as matmuls): "
                      "convcost's partition_attention runs F.scaled_dot_product_attention, as timm does by default")
    if ops != Counter(linear=2, einsum=2, scaled_dot_product_attention=1):
        ran = ", ".join(f"{o}×{k}" for o, k in sorted(ops.items()))
        return Refuse(f"timm's AttentionCl '{path}' ran {ran}, not its own forward's arithmetic with RelPosBiasTf (2 "
                      "linear, the bias table's 2 einsum lookups, F.scaled_dot_product_attention): another relative "
                      "position bias, or a changed forward, which partition_attention does not count")
    einsums = [m for m in nodes if m.op == "einsum"]
    sdpa = next(m for m in nodes if m.op == "scaled_dot_product_attention")
    tensor = rec.tensors.get
    rel = f"{path}.rel_pos"
    table = tensor(f"{rel}.relative_position_bias_table")
    lookups = (tensor(f"{rel}.height_lookup"), tensor(f"{rel}.width_lookup"))
    qkv, proj = tensor(f"{path}.qkv.weight"), tensor(f"{path}.proj.weight")
    equations = tuple(str(m.args.get("equation", "")).replace(" ", "") for m in einsums)
    mask = sdpa.args.get("attn_mask")
    mask_from = ctx.flow.sources.get(mask.id, frozenset()) if hasattr(mask, "id") else frozenset()
    p0, p1 = window
    if (table is None or None in lookups or equations != EINSUMS or qkv is None or proj is None
            or mask_from != {f"{rel}.relative_position_bias_table", f"{rel}.height_lookup", f"{rel}.width_lookup"}
            or lookups[0][1] != (p0, p0, 2 * p0 - 1) or lookups[1][1] != (p1, p1, 2 * p1 - 1)  # type: ignore[index]
            or table[1][1:] != (2 * p0 - 1, 2 * p1 - 1)):
        return Refuse(f"timm's AttentionCl '{path}' with a bias that is not RelPosBiasTf's for a {list(window)} "
                      "partition (its table gathered by two einsum lookups): partition_attention counts that one")
    heads = table[1][0]
    if qkv[1] != (3 * c, c) or proj[1] != (c, c) or c % heads:
        return Refuse(f"timm's AttentionCl '{path}' with heads not C / heads wide, or another output width: "
                      "partition_attention's are")
    if sdpa.args.get("is_causal") or sdpa.args.get("dropout_p") or sdpa.args.get("scale") is not None:
        return Refuse(f"timm's AttentionCl '{path}' calls F.scaled_dot_product_attention with is_causal, dropout or a "
                      "scale: partition_attention's is timm's eval call (1/√d, no dropout)")
    heads_view = _reader(ctx, next(m for m in nodes if m.op == "linear").outs[0])  # qkv's output split into heads
    rank = len(ctx.flow.shape(heads_view.outs[0])) if heads_view is not None and heads_view.op in RESHAPE else 0
    if rank not in (4, 5):
        return Refuse(f"timm's AttentionCl '{path}' splits qkv's output into heads otherwise than timm does (a view to "
                      "[B, N, heads, 3·d] or [B, N, 3, heads, d])")
    head_first = rank == 4
    args: dict[str, Any] = {"heads": heads, "window": p0 if p0 == p1 else list(window)}
    if grid:
        args["grid"] = True
    if not head_first:
        args["head_first"] = False
    args["qkv_bias"] = f"{path}.qkv.bias" in rec.tensors
    args["bias"] = f"{path}.proj.bias" in rec.tensors
    tensors = tuple(t for t in rec.tensors if t.startswith(f"{path}.") and t not in rec.tied)
    return Emit("partition_attention", args, (x,), tensors, out=end.outs[0], name=path, layout="grid", spans=True)
