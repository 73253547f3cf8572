"""timm's Swin window attention (torch-free): the windows a SwinTransformerBlock cuts in its forward, around its
WindowAttention module, as one `window_attention` layer.

timm writes the partition as functions of the block's ``_attn`` (timm/models/swin_transformer.py), so the windows
move into the batch dim ([B·nW, Nw, C]), which no per-sample op can write; the whole is torchvision's
ShiftedWindowAttention, which convcost's `window_attention` counts:

- ``torch.roll(x, (-s0, -s1), (1, 2))`` (shifted blocks only), ``F.pad(x, (0, 0, 0, pw, 0, ph))`` to whole windows,
  ``x.view(B, Hp/wh, wh, Wp/ww, ww, C).permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, wh, ww, C)``, ``.view(-1, Nw, C)``;
- ``self.attn(x_windows, mask=self.attn_mask)``: timm's WindowAttention (by its class) on its default path (``use_fused_attn(
  experimental=True)`` is off unless TIMM_FUSED_ATTN=2): qkv nn.Linear, ``q * scale @ k.transpose(-2, -1)``, the relative
  position bias gathered from its table, the shift mask (the block's ``attn_mask`` buffer, made once at init: the op's
  ``mask_buffer``), softmax, ``@ v``, proj nn.Linear;
- the reverse: ``view(-1, wh, ww, C)``, ``view(-1, Hp/wh, Wp/ww, wh, ww, C).permute(0, 1, 3, 2, 4, 5).contiguous().view(-1,
  Hp, Wp, C)``, the crop ``[:, :H, :W, :]``, ``torch.roll(x, (s0, s1), (1, 2))``.

timm rolls before it pads, torchvision (and convcost) after: the same where no padding is needed (every timm Swin at its
own input size); a shifted block on a grid that needs padding computes something else and is refused.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from .flow import first_tensor
from .found import Emit, Found, Refuse, Skip
from .graph import ModuleCall, Node

if TYPE_CHECKING:
    from .patterns import Claims, Trigger
    from .recognise import Context

TIMM_WINDOW_ATTENTION = "timm.models.swin_transformer.WindowAttention"
RESHAPE = ("view", "_unsafe_view", "reshape", "flatten", "unflatten")
# what timm's WindowAttention runs that moves data only (the rest is its arithmetic, checked op by op)
MOVES = frozenset((*RESHAPE, "permute", "transpose", "clone", "contiguous", "unsqueeze", "squeeze", "unbind", "select",
                             "expand", "alias", "detach", "dropout"))
SWAP_WINDOWS = (0, 1, 3, 2, 4, 5)  # [B, Hp/wh, wh, Wp/ww, ww, C] <-> [B, Hp/wh, Wp/ww, wh, ww, C]


def timm_window_attention(ctx: Context, call: ModuleCall, claims: Claims) -> None:
    """A call of timm's WindowAttention: the block's window partition before it and the reverse after it, a trigger on
    the partition's first node (the roll, the pad or the view) that writes them all as one `window_attention` at the
    reverse's last node."""
    timm = call.qualname == TIMM_WINDOW_ATTENTION or TIMM_WINDOW_ATTENTION in ctx.rec.bases.get(call.path, ())
    if not timm or not call.ins or not call.outs:  # a subclass: its forward's arithmetic is checked (_attention)
        return
    match = _match(ctx, call)
    if match is None:
        return  # not the block's spelling: the nodes are read one by one (and the batch views refused)
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


def _either(first: Trigger, then: Any) -> Trigger:
    def trigger(node: Node) -> Found:
        found = first(node)
        return found if found is not None else then(node) if callable(then) else then

    return trigger


def _reader(ctx: Context, v: int) -> Node | None:
    """The one node that reads ``v`` (looking through copies), or None."""
    readers = ctx.flow.ahead(v)
    return readers[0] if len(readers) == 1 else None


def _perm(n: Node | None) -> tuple[int, ...] | None:
    if n is None or n.op != "permute" or not isinstance(n.args.get("dims"), list):
        return None
    return tuple(int(d) % 6 for d in n.args["dims"])


def _match(ctx: Context, call: ModuleCall) -> tuple[Node, list[int], Node, int, Found] | None:
    """(the partition's first node, the nodes it claims, the reverse's last node, the grid it reads, what it is)."""
    flow = ctx.flow
    shape = flow.shape
    chain: list[Node] = []
    # ---- back from the windows the attention reads: views, the window swap, the 6-D view, pad, roll ----
    v = flow.back(call.ins[0])
    if len(shape(v)) != 3:
        return None
    bnw, nw_tokens, c = shape(v)
    p = flow.producer(v)
    while p is not None and p.op in RESHAPE and first_tensor(p) is not None:
        chain.append(p)
        v = flow.back(first_tensor(p))  # type: ignore[arg-type]
        p = flow.producer(v)
    if _perm(p) != SWAP_WINDOWS or p is None:
        return None
    chain.append(p)
    v = flow.back(first_tensor(p))  # type: ignore[arg-type]
    split = flow.producer(v)
    if split is None or split.op not in RESHAPE or len(shape(v)) != 6:
        return None
    chain.append(split)
    b, nh, wh, nw, ww, c6 = shape(v)
    v = flow.back(first_tensor(split))  # type: ignore[arg-type]
    if shape(v) != (b, nh * wh, nw * ww, c) or c6 != c or bnw != b * nh * nw or nw_tokens != wh * ww:
        return None
    hp, wp = nh * wh, nw * ww
    p = flow.producer(v)
    padded = False
    if p is not None and p.op == "constant_pad_nd":
        pad = [int(k) for k in p.args.get("pad", [])]
        if len(pad) != 6 or pad[:3] != [0, 0, 0] or pad[4] != 0 or p.args.get("value", 0) != 0:
            return None
        padded = any(pad)
        chain.append(p)
        v = flow.back(first_tensor(p))  # type: ignore[arg-type]
        p = flow.producer(v)
    shift = (0, 0)
    if p is not None and p.op == "roll":
        shift = _shifts(p, -1)  # type: ignore[assignment]
        if shift is None:
            return None
        chain.append(p)
        v = flow.back(first_tensor(p))  # type: ignore[arg-type]
    x = v
    h, w = shape(x)[1:3] if len(shape(x)) == 4 else (0, 0)
    if len(shape(x)) != 4 or shape(x)[3] != c or not (hp - wh < h <= hp and wp - ww < w <= wp):
        return None
    # ---- on from its output: views, the window swap back, the view to the padded grid, the crop, the roll back ----
    ends: list[Node] = []
    o = call.outs[0] if call.outs else None
    r = _reader(ctx, o) if o is not None else None
    while r is not None and r.op in RESHAPE:
        ends.append(r)
        r = _reader(ctx, r.outs[0])
    if _perm(r) != SWAP_WINDOWS or r is None or not ends or shape(ends[-1].outs[0]) != (b, nh, nw, wh, ww, c):
        return None
    ends.append(r)
    r = _reader(ctx, r.outs[0])
    if r is None or r.op not in RESHAPE or shape(r.outs[0]) != (b, hp, wp, c):
        return None
    ends.append(r)
    r = _reader(ctx, r.outs[0])
    while r is not None and r.op == "slice" and int(r.args.get("dim", 0)) in (1, 2) and int(r.args.get("start") or 0) == 0:
        ends.append(r)
        r = _reader(ctx, r.outs[0])
    if shape(ends[-1].outs[0]) != shape(x):
        return None
    if any(shift):
        if r is None or r.op != "roll" or _shifts(r, 1) != shift:
            return None
        ends.append(r)
    chain.reverse()
    inner = [m.index for m in chain[1:] + ends[:-1]] + list(range(call.first, call.last))
    if any(_reader(ctx, m.outs[0]) is None for m in chain + ends[:-1]):
        return None  # a part of the windows read by something else as well
    refused = _refused_shift(call.path, (wh, ww), (hp, wp), shift)
    if refused is not None:
        return chain[0], inner, ends[-1], x, refused
    if padded and any(shift):
        return chain[0], inner, ends[-1], x, Refuse(
            "roll: timm's Swin block rolls the grid before it pads it to whole windows; convcost's window_attention pads "
            "first, then rolls (torchvision's order): another computation")
    return chain[0], inner, ends[-1], x, _attention(ctx, call, (wh, ww), shift, (nh * nw, wh * ww, c), x, ends[-1])


def _refused_shift(path: str, window: tuple[int, int], padded: tuple[int, int], shift: tuple[int, int]) -> Refuse | None:
    """Why a timm block's shift is not one `window_attention` counts, or None: convcost's shift is smaller than the
    window, and dropped along a dim that is one window (torchvision's rule); timm keeps any shift it is given
    (``always_partition=True`` keeps it on a grid of one window: it rolls and masks there)."""
    for i, dim in enumerate(("height", "width")):
        if shift[i] >= window[i]:
            return Refuse(f"roll: timm's Swin block around '{path}' shifts the {dim} by {shift[i]}, not smaller than its "
                          f"window {window[i]}: convcost's window_attention's shift must be")
        if shift[i] and window[i] >= padded[i]:
            return Refuse(f"roll: timm's Swin block around '{path}' shifts the {dim} by {shift[i]} on a grid of one window "
                          f"({padded[i]} ≤ window {window[i]}; timm's always_partition=True): it rolls and masks there, "
                          "convcost's window_attention (torchvision's) drops such a shift")
    return None


def _shifts(n: Node, sign: int) -> tuple[int, int] | None:
    """(s0, s1) of ``torch.roll(x, (sign·s0, sign·s1), (1, 2))``, or None."""
    shifts, dims = n.args.get("shifts"), n.args.get("dims")
    if not isinstance(shifts, list) or not isinstance(dims, list) or [int(d) for d in dims] != [1, 2] or len(shifts) != 2:
        return None
    s = (sign * int(shifts[0]), sign * int(shifts[1]))
    return s if min(s) >= 0 else None


def _attention(ctx: Context, call: ModuleCall, window: tuple[int, int], shift: tuple[int, int],
               windows: tuple[int, int, int], x: int, end: Node) -> Found:
    """The `window_attention` layer timm's WindowAttention is (checked against what its call ran), or why not."""
    path, rec = call.path, ctx.rec
    nodes = rec.nodes[call.first:call.last]
    ops = [m.op for m in nodes]
    if "scaled_dot_product_attention" in ops or ops.count("matmul") != 2:
        return Refuse(f"timm's WindowAttention '{path}' on its fused path (TIMM_FUSED_ATTN=2: F.scaled_dot_product_"
                      "attention with the bias as its mask): convcost's window_attention runs q·kᵀ and a·v as matmuls")
    arithmetic = Counter("softmax" if o == "_softmax" else o for o in ops if o not in MOVES)
    expected = Counter(linear=2, mul=1, matmul=2, index=1, add=2 if any(shift) else 1, softmax=1)
    if arithmetic != expected:
        ran = ", ".join(f"{o}×{k}" for o, k in sorted(arithmetic.items()))
        return Refuse(f"timm's WindowAttention '{path}' ran {ran}, not its own forward's arithmetic (2 linear, q's scale, "
                      f"2 matmul, the bias table's gather and add, {'the shift mask add, ' if any(shift) else ''}softmax): "
                      "a changed forward, or a shift mask missing or extra, which window_attention does not count")
    n_windows, size, c = windows
    tensor = rec.tensors.get
    qkv, proj, table = tensor(f"{path}.qkv.weight"), tensor(f"{path}.proj.weight"), tensor(f"{path}.relative_position_bias_table")
    if qkv is None or proj is None or table is None or qkv[1] != (3 * c, c) or proj[1] != (c, c):
        return Refuse(f"timm's WindowAttention '{path}' with heads not C / heads wide: convcost's window_attention's are")
    heads = table[1][1]
    if table[1][0] != (2 * window[0] - 1) * (2 * window[1] - 1) or c % heads:
        return Refuse(f"timm's WindowAttention '{path}' with a relative position bias table of {list(table[1])} for a "
                      f"{list(window)} window")
    # the shift mask: a buffer of the block's read inside the call (timm's attn_mask), or made in the forward
    mine = f"{path}."
    outside = sorted({q for m in nodes for t in m.tensors() for q in ctx.flow.sources.get(t, ())
                      if not q.startswith(mine)})
    if outside and (not any(shift) or len(outside) != 1 or tensor(outside[0]) != ("buffer", (n_windows, size, size))):
        return Refuse(f"timm's WindowAttention '{path}' called with {', '.join(outside)}: convcost's window_attention reads a "
                      "shift mask [nW, Nw, Nw] in shifted windows only")
    args: dict[str, Any] = {"heads": heads, "window": window[0] if window[0] == window[1] else list(window)}
    if any(shift):
        args["shift"] = shift[0] if shift[0] == shift[1] else list(shift)
    args["qkv_bias"] = f"{path}.qkv.bias" in rec.tensors
    args["bias"] = f"{path}.proj.bias" in rec.tensors
    if outside:
        args["mask_buffer"] = True
    tensors = tuple(t for t in rec.tensors if t.startswith(mine) and t not in rec.tied) + tuple(outside)
    return Emit("window_attention", args, (x,), tensors, out=end.outs[0], name=path, layout="grid", spans=True)
