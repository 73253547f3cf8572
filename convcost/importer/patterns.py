"""Patterns over several nodes of the recorded graph (torch-free), recognised before the single-node ops:

- tokens (a ViT in torchvision's or timm's layout): ``x.flatten(2).transpose(1, 2)`` → `to_tokens`,
  ``x.transpose(1, 2).reshape(B, D, H, W)`` → `to_map`, ``torch.cat([cls.expand(B, -1, -1), x], 1)`` with a
  [1, 1, D] parameter → `class_token`, ``x + pos`` with a [1, N, D] parameter → `pos_embed` (named after the
  parameter's path);
- LayerNorm2d (torchvision's, timm's): ``x.permute(0, 2, 3, 1)``, layer norm over C, ``permute(0, 3, 1, 2)`` in one
  module → `layernorm` over the channels;
- channels-last runs (ConvNeXt's block): from a permute to channels-last to the permutes back, layer norms, linears,
  activations and per-channel scales act at every position of the map → `layernorm: {channels_last: true}`,
  `linear: {over: channels}`, `layer_scale`; the permutes pass the map through;
- layer scale: a map times a parameter of one value per channel (``gamma`` [C, 1, 1], or ``gamma.reshape(1, -1, 1, 1)``)
  → `layer_scale`, named after the parameter's path;
- a batch norm as elementwise ops on four [C] buffers (torchvision's FrozenBatchNorm2d) → `batchnorm: {fixed: true}`
  (importer/frozen_bn.py);
- channel shuffle: ``x.view(B, g, C // g, H, W).transpose(1, 2).contiguous().view(B, C, H, W)`` (any spelling: reshape,
  unflatten, permute, flatten) → `channel_shuffle`, named after the swap.

Each pattern registers a *trigger* on the first node of what it matches: called when recognition reaches that node
(the layouts of what came before known), it returns what the node is (or None: the node is left to aten_ops.py)
and claims the pattern's later nodes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .aten_ops import _affine_norm
from .flow import first_tensor, numel
from .found import Emit, Found, Pass, Refuse, Skip
from .frozen_bn import frozen_batchnorm
from .graph import Node, V
from .partitions import timm_partition_attention
from .windows import timm_window_attention

if TYPE_CHECKING:
    from .recognise import Context

Trigger = Callable[[Node], Found]
Claims = dict[int, "Found | Trigger"]

RESHAPE = ("view", "_unsafe_view", "reshape", "flatten", "unflatten")
SWAP = ("transpose", "permute", "t", "swapaxes", "swapdims")
ELEMENTWISE = frozenset({"relu", "relu_", "gelu", "gelu_", "sigmoid", "sigmoid_", "silu", "silu_", "hardswish", "hardswish_",
                         "hardsigmoid", "hardsigmoid_", "mish", "mish_", "tanh", "tanh_", "hardtanh", "hardtanh_",
                         "leaky_relu", "leaky_relu_", "elu", "elu_", "softplus", "celu", "celu_", "threshold",
                         "threshold_", "log_sigmoid_forward"})


def find_patterns(ctx: Context) -> Claims:
    finders = (_to_tokens, _to_map, _class_token, _pos_embed, _layernorm2d, _channels_last, _layer_scale, _shuffle,
               _qkv_attention, _token_batchnorm, frozen_batchnorm)
    claims: Claims = {}
    for n in ctx.rec.nodes:
        triggers = [t for find in finders if (t := find(ctx, n, claims)) is not None]
        if triggers:
            claims.setdefault(n.index, _first(triggers))
    for call in ctx.rec.calls:
        timm_window_attention(ctx, call, claims)  # the window partition around it (importer/windows.py)
        timm_partition_attention(ctx, call, claims)  # MaxViT's block and grid partitions (importer/partitions.py)
    return claims


def _first(triggers: list[Trigger]) -> Trigger:
    """The first of a node's patterns that matches when recognition reaches it."""

    def trigger(node: Node) -> Found:
        for t in triggers:
            found = t(node)
            if found is not None:
                return found
        return None

    return trigger


# ---- helpers -------------------------------------------------------------------------------------------------------
def _dims(n: Node, rank: int) -> tuple[int, ...] | None:
    """The permutation a transpose / permute node applies, made non-negative; None for any other node."""
    if n.op == "permute":
        dims = n.args.get("dims")
        return tuple(int(d) % rank for d in dims) if isinstance(dims, list) and len(dims) == rank else None
    if n.op in ("transpose", "swapaxes", "swapdims"):
        a, b = int(n.args.get("dim0", 0)) % rank, int(n.args.get("dim1", 0)) % rank
        order = list(range(rank))
        order[a], order[b] = order[b], order[a]
        return tuple(order)
    if n.op == "t" and rank == 2:
        return (1, 0)
    return None


def _only(ctx: Context, v: int, reader: Node) -> bool:
    """Whether ``reader`` is all that reads ``v`` (looking through copies)."""
    return [u.index for u in ctx.flow.ahead(v)] == [reader.index]


def _readers(ctx: Context, v: int) -> list[Node]:
    return ctx.flow.ahead(v)


def _in(ctx: Context, n: Node) -> int | None:
    """The data tensor a one-input node reads, before any copies."""
    x = first_tensor(n)
    return ctx.flow.back(x) if x is not None and ctx.flow.data(x) else None


def _shape(ctx: Context, v: int) -> tuple[int, ...]:
    return ctx.flow.shape(v)


# ---- tokens --------------------------------------------------------------------------------------------------------
def _swaps_1_2(ctx: Context, n: Node) -> bool:
    if n.op not in SWAP or not n.outs:
        return False
    return _dims(n, len(_shape(ctx, n.outs[0]))) == (0, 2, 1)


def _to_tokens(ctx: Context, n: Node, claims: Claims) -> Trigger | None:
    """``x.flatten(2)`` (a [B, C, H·W] view of a [B, C, H, W] map) read only by ``transpose(1, 2)``: to_tokens at the
    transpose, the view passes."""
    if n.op not in RESHAPE or not n.outs:
        return None
    x = _in(ctx, n)
    if x is None:
        return None
    ins, out = _shape(ctx, x), _shape(ctx, n.outs[0])
    if not (len(ins) == 4 and len(out) == 3 and out == (ins[0], ins[1], ins[2] * ins[3])):
        return None
    readers = _readers(ctx, n.outs[0])
    if len(readers) != 1 or not _swaps_1_2(ctx, readers[0]):
        return None
    swap = readers[0]

    def trigger(node: Node) -> Found:
        if ctx.layout(x) != "map":
            return None
        claims[swap.index] = Emit("to_tokens", {}, (x,), layout="tokens")
        return Skip()

    return trigger


def _to_map(ctx: Context, n: Node, claims: Claims) -> Trigger | None:
    """``transpose(1, 2)`` of [B, N, D] tokens read only by a reshape to [B, D, H, W], H·W = N: to_map at the reshape."""
    if not _swaps_1_2(ctx, n):
        return None
    x = _in(ctx, n)
    readers = _readers(ctx, n.outs[0])
    if x is None or len(readers) != 1 or readers[0].op not in RESHAPE or not readers[0].outs:
        return None
    back = readers[0]
    ins, out = _shape(ctx, x), _shape(ctx, back.outs[0])
    if not (len(ins) == 3 and len(out) == 4 and out[:2] == (ins[0], ins[2]) and out[2] * out[3] == ins[1]):
        return None

    def trigger(node: Node) -> Found:
        if ctx.layout(x) != "tokens":
            return None
        h, w = out[2], out[3]
        claims[back.index] = Emit("to_map", {} if h == w else {"height": h, "width": w}, (x,), layout="map")
        return Skip()

    return trigger


def _class_token(ctx: Context, n: Node, claims: Claims) -> Trigger | None:
    """``torch.cat([self.class_token.expand(B, -1, -1), x], dim=1)``, a [1, 1, D] parameter before [B, N, D] tokens."""
    if n.op not in ("cat", "concat") or not n.outs:
        return None
    parts = n.args.get("tensors") or []
    if len(parts) != 2 or not all(isinstance(p, V) for p in parts) or int(n.args.get("dim", 0)) % 3 != 1:
        return None
    cls, x = parts[0].id, parts[1].id
    if not ctx.flow.data(x) or len(_shape(ctx, x)) != 3:
        return None
    path = _expanded_param(ctx, cls)
    if path is None or ctx.rec.tensors[path][1] not in ((1, 1, _shape(ctx, x)[2]), (1, _shape(ctx, x)[2])):
        return None

    def trigger(node: Node) -> Found:
        if ctx.layout(x) != "tokens":
            return None
        return Emit("class_token", {}, (x,), (path,), name=path, layout="tokens")

    return trigger


def learned(ctx: Context, v: Any) -> str | None:
    """The path of the parameter ``v`` is (or is a view of), not a buffer's: a class token, position embedding or layer
    scale holds params; a buffer read so is the general op's `buffer` (an input normalisation's mean and std)."""
    p = ctx.flow.param(v)
    return p if p is not None and ctx.rec.tensors[p][0] == "param" else None


def _expanded_param(ctx: Context, v: int) -> str | None:
    """The parameter ``v`` is an expand (or a copy, or a view) of."""
    p = learned(ctx, v)
    if p is not None:
        return p
    n = ctx.flow.producer(v)
    if n is None or n.op != "expand":
        return None
    return learned(ctx, first_tensor(n))


def _pos_embed(ctx: Context, n: Node, claims: Claims) -> Trigger | None:
    """``x + self.pos_embedding`` (either order) with a [1, N, D] parameter and [B, N, D] tokens."""
    if n.op not in ("add", "add_") or n.args.get("alpha", 1) != 1 or not n.outs:
        return None
    a, b = n.args.get("self"), n.args.get("other")
    if not (isinstance(a, V) and isinstance(b, V)):
        return None
    for x, p in ((a.id, b.id), (b.id, a.id)):
        path = learned(ctx, p) if ctx.flow.data(x) else None
        shape = _shape(ctx, x)
        if path is not None and len(shape) == 3 and ctx.rec.tensors[path][1] in ((1, *shape[1:]), shape[1:]):

            def trigger(node: Node, x: int = x, path: str = path) -> Found:
                if ctx.layout(x) != "tokens":
                    return None
                return Emit("pos_embed", {}, (x,), (path,), name=path, layout="tokens")

            return trigger
    return None


# ---- LayerNorm2d, channels-last runs, layer scale ------------------------------------------------------------------
def _to_last(ctx: Context, n: Node) -> bool:
    """``x.permute(0, 2, 3, 1)`` (``(0, 2, 3, 4, 1)`` of a 3-D map): channels to the end."""
    if n.op != "permute" or not n.outs:
        return False
    rank = len(_shape(ctx, n.outs[0]))
    return rank in (4, 5) and _dims(n, rank) == (0, *range(2, rank), 1)


def _to_first(ctx: Context, n: Node) -> bool:
    """``x.permute(0, 3, 1, 2)`` (``(0, 4, 1, 2, 3)``): channels back after the batch."""
    if n.op != "permute" or not n.outs:
        return False
    rank = len(_shape(ctx, n.outs[0]))
    return rank in (4, 5) and _dims(n, rank) == (0, rank - 1, *range(1, rank - 1))


def _layernorm2d(ctx: Context, n: Node, claims: Claims) -> Trigger | None:
    """torchvision's and timm's LayerNorm2d: ``x.permute(0, 2, 3, 1)``, ``F.layer_norm(x, (C,), w, b, eps)``,
    ``x.permute(0, 3, 1, 2)`` in one module call: the permute back is a `layernorm` over the channels."""
    if not _to_last(ctx, n):
        return None
    x = _in(ctx, n)
    readers = _readers(ctx, n.outs[0])
    if x is None or len(readers) != 1 or readers[0].op not in ("native_layer_norm", "layer_norm"):
        return None
    norm = readers[0]
    ends = _readers(ctx, norm.outs[0])
    c = _shape(ctx, x)[1]
    if (len(ends) != 1 or not _to_first(ctx, ends[0]) or list(norm.args.get("normalized_shape", ())) != [c]
            or len({n.call, norm.call, ends[0].call}) != 1 or any(ctx.used_output(norm, k) for k in (1, 2))):
        return None
    end = ends[0]

    def trigger(node: Node) -> Found:
        if ctx.layout(x) != "map":
            return None
        found = _affine_norm(norm, ctx, "layernorm", {"eps": norm.args.get("eps", 1e-5)}, x)
        if isinstance(found, Refuse):
            return None  # the channels-last run (next) says why
        claims[norm.index] = Skip()
        claims[end.index] = found
        return Skip()

    return trigger


_PER_POSITION = {"layernorm": {"channels_last": True}, "linear": {"over": "channels"}}


def _channels_last(ctx: Context, n: Node, claims: Claims) -> Trigger | None:
    """A permute to channels-last whose readers, up to the permutes back, all act at every position of the map."""
    if not _to_last(ctx, n):
        return None
    x = _in(ctx, n)
    if x is None:
        return None

    def trigger(node: Node) -> Found:
        if ctx.layout(x) != "map":
            return None
        inside: dict[int, Found] = {}
        ends: list[Node] = []
        todo, why = list(_readers(ctx, node.outs[0])), None
        while todo and why is None:
            r = todo.pop()
            if r.index in inside or r in ends:
                continue
            if _to_first(ctx, r):
                ends.append(r)
                continue
            found = _per_position(ctx, r)
            if isinstance(found, str):
                why = f"'{r.fn}' reads it: {found}"
                break
            inside[r.index] = found
            for o in r.outs[:1]:
                todo.extend(_readers(ctx, o))
        if why is None and not ends:
            why = "the model's output is channels-last"
        if why is not None:
            return None  # not a clean run: the permutes are general ops (importer/general.py), as the code writes them
        claims.update(inside)
        for e in ends:
            src = first_tensor(e)
            claims[e.index] = Pass(ctx.flow.back(src)) if src is not None else Skip()
        return Pass(x)

    return trigger


def _per_position(ctx: Context, n: Node) -> Found | str:
    """What a node between a permute to channels-last and back is at every position of the channels-first map, or
    why it is not such a node."""
    data = ctx.data_ins(n)
    if n.op in ("native_layer_norm", "layer_norm"):
        x = first_tensor(n)
        if x is None or list(n.args.get("normalized_shape", ())) != [_shape(ctx, x)[-1]]:
            return f"a layer norm over {n.args.get('normalized_shape')}: not the channels"
        found = _affine_norm(n, ctx, "layernorm", {"eps": n.args.get("eps", 1e-5), "channels_last": True}, ctx.flow.back(x))
        return found if not isinstance(found, Refuse) else found.why
    if n.op == "linear":
        w, b = n.args.get("weight"), n.args.get("bias")
        x = first_tensor(n)
        if not isinstance(w, V) or x is None:
            return "a linear without a traced weight"
        held = [ctx.held(t.id, "linear's weight") for t in (w, b) if isinstance(t, V)]
        bad = next((h for h in held if isinstance(h, Refuse)), None)
        if bad is not None:
            return bad.why
        tensors = tuple(p for h in held for p in h)  # type: ignore[union-attr]
        return Emit("linear", {"out": _shape(ctx, w.id)[0], "bias": isinstance(b, V), "over": "channels"},
                    (ctx.flow.back(x),), tensors, roles=tuple(zip(("weight", "bias"), tensors)))
    if len(set(data)) != 1:
        return f"it reads {len(set(data))} tensors"
    if n.op in ELEMENTWISE:
        from .aten_ops import leaf_op

        found = leaf_op(n, ctx)
        if isinstance(found, Emit):
            return Emit(found.op, found.args, (ctx.flow.back(data[0]),))
        return found.why if isinstance(found, Refuse) else f"'{n.fn}' does not act on each position alone"
    if n.op in ("mul", "mul_"):
        found = _scale(ctx, n, last=True)
        if found is not None:
            return found
    return f"{n.fn} does not act on each position alone"


def _scale(ctx: Context, n: Node, last: bool) -> Emit | None:
    """A map (channels-last when ``last``) times a parameter of one value per channel: `layer_scale`."""
    a, b = n.args.get("self"), n.args.get("other")
    if not (isinstance(a, V) and isinstance(b, V)):
        return None
    for x, p in ((a.id, b.id), (b.id, a.id)):
        path = learned(ctx, p) if ctx.flow.data(x) else None
        shape = _shape(ctx, x)
        if path is None or len(shape) not in (3, 4, 5):
            continue
        c = shape[-1] if last else shape[1]
        pshape = _shape(ctx, p)
        per_channel = ((c,) if last else (c, *(1 for _ in shape[2:])))
        if numel(pshape) == c and tuple(d for d in pshape if d != 1) == (c,) and (
                pshape[-len(per_channel):] == per_channel or tuple(pshape) == (1, *per_channel)):
            return Emit("layer_scale", {}, (ctx.flow.back(x),), (path,), name=path)
    return None


def _layer_scale(ctx: Context, n: Node, claims: Claims) -> Trigger | None:
    """``self.layer_scale * x`` with a [C, 1, 1] parameter (or ``x.mul(gamma.reshape(1, -1, 1, 1))``) on a map."""
    if n.op not in ("mul", "mul_"):
        return None
    found = _scale(ctx, n, last=False)
    if found is None:
        return None

    def trigger(node: Node) -> Found:
        return found if ctx.layout(found.ins[0]) == "map" else None

    return trigger


# ---- channel shuffle ---------------------------------------------------------------------------------------------------
def _groups(ctx: Context, n: Node) -> int | None:
    """g, where ``n`` reshapes a [B, C, *S] map to [B, g, C/g, *S]."""
    if n.op not in RESHAPE or not n.outs:
        return None
    x = _in(ctx, n)
    if x is None:
        return None
    ins, out = _shape(ctx, x), _shape(ctx, n.outs[0])
    if len(ins) < 3 or len(out) != len(ins) + 1:
        return None
    return out[1] if out[0] == ins[0] and out[1] * out[2] == ins[1] and out[3:] == ins[2:] else None


def _merges(ctx: Context, n: Node) -> bool:
    """[B, a, b, *S] reshaped to [B, a·b, *S]: a channel shuffle's last step."""
    x = first_tensor(n) if n.op in RESHAPE and n.outs else None
    if x is None:
        return False
    ins, out = _shape(ctx, x), _shape(ctx, n.outs[0])
    return len(ins) >= 4 and len(out) == len(ins) - 1 and out[0] == ins[0] and out[1] == ins[1] * ins[2] and out[2:] == ins[3:]


def _shuffle(ctx: Context, n: Node, claims: Claims) -> Trigger | None:
    g = _groups(ctx, n)
    if g is None:
        return None
    x = _in(ctx, n)
    readers = _readers(ctx, n.outs[0])
    if x is None or len(readers) != 1 or readers[0].op not in SWAP:
        return None
    swap = readers[0]
    rank = len(_shape(ctx, swap.outs[0]))
    ends = _readers(ctx, swap.outs[0])
    if _dims(swap, rank) != (0, 2, 1, *range(3, rank)) or not ends or not all(_merges(ctx, e) for e in ends):
        return None

    def trigger(node: Node) -> Found:
        if ctx.layout(x) != "map":
            return None
        claims[swap.index] = Emit("channel_shuffle", {"groups": g}, (x,))
        for e in ends:
            claims[e.index] = Pass(swap.outs[0])
        return Skip()

    return trigger


# ---- attention (timm's Attention, and the same code elsewhere) -----------------------------------------------------
def _one_reader(ctx: Context, v: int, *ops: str) -> Node | None:
    readers = _readers(ctx, v)
    return readers[0] if len(readers) == 1 and readers[0].op in ops else None


def _qkv_attention(ctx: Context, n: Node, claims: Claims) -> Trigger | None:
    """timm's Attention with its fused path: ``qkv = self.qkv(x).reshape(B, N, 3, H, d).permute(2, 0, 3, 1, 4)``,
    ``q, k, v = qkv.unbind(0)``, ``F.scaled_dot_product_attention(q, k, v)`` (no mask), ``x.transpose(1, 2).reshape(B, N,
    H·d)``, ``self.proj(x)``: one `attention` layer (heads H, head_dim d, ``sdpa: true``), named after the module the
    attention runs in.
    The trigger is the qkv linear; every node up to the projection is read by the next alone."""
    if n.op != "linear" or not n.outs:
        return None
    x = first_tensor(n)
    view = _one_reader(ctx, n.outs[0], *RESHAPE)
    if x is None or view is None or len(_shape(ctx, x)) != 3:
        return None
    b, t, d = _shape(ctx, x)
    vshape = _shape(ctx, view.outs[0])
    if len(vshape) != 5 or vshape[:3] != (b, t, 3):
        return None
    heads, head_dim = vshape[3], vshape[4]
    perm = _one_reader(ctx, view.outs[0], "permute")
    if perm is None or _dims(perm, 5) != (2, 0, 3, 1, 4):
        return None
    unbind = _one_reader(ctx, perm.outs[0], "unbind")
    if unbind is None or int(unbind.args.get("dim", 0)) != 0 or len(unbind.outs) != 3:
        return None
    sdpa = _one_reader(ctx, unbind.outs[0], "scaled_dot_product_attention")
    if sdpa is None or [a.id if isinstance(a, V) else None for a in (sdpa.args.get(k) for k in ("query", "key", "value"))] \
            != [ctx.flow.back(o) for o in unbind.outs] or any(_readers(ctx, o) != [sdpa] for o in unbind.outs):
        return None
    scale = sdpa.args.get("scale")
    if sdpa.args.get("attn_mask") is not None or sdpa.args.get("is_causal") or scale not in (None, head_dim ** -0.5):
        return None
    swap = _one_reader(ctx, sdpa.outs[0], *SWAP)
    back = _one_reader(ctx, swap.outs[0], *RESHAPE) if swap is not None and _dims(swap, 4) == (0, 2, 1, 3) else None
    merged = back is not None and _shape(ctx, back.outs[0]) == (b, t, heads * head_dim)
    proj = _one_reader(ctx, back.outs[0], "linear") if merged and back is not None else None
    if proj is None or _shape(ctx, proj.outs[0]) != (b, t, d):
        return None
    qkv_w, qkv_b, out_w, out_b = (a if isinstance(a, V) else None for a in
                                  (n.args.get("weight"), n.args.get("bias"), proj.args.get("weight"), proj.args.get("bias")))
    held = [ctx.held(w.id, "attention's weight") for w in (qkv_w, qkv_b, out_w, out_b) if w is not None]
    if any(isinstance(h, Refuse) for h in held):
        return None
    tensors = tuple(p for h in held for p in h)  # type: ignore[union-attr]
    args: dict[str, Any] = {"heads": heads}
    if heads * head_dim != d:
        args["head_dim"] = head_dim
    # built as the model computes it (F.scaled_dot_product_attention between the projections, not nn.MultiheadAttention),
    # so what a counter sees of the spec's layer is what it sees of the model's (fvcore: the projections only)
    args.update({"qkv_bias": qkv_b is not None, "bias": out_b is not None, "sdpa": True})
    name = ctx.flow.scope(sdpa)

    def trigger(node: Node) -> Found:
        if ctx.layout(ctx.flow.back(x)) != "tokens":
            return None
        for m in (view, perm, unbind, sdpa, swap, back):
            claims[m.index] = Skip()  # type: ignore[union-attr]
        claims[proj.index] = Emit("attention", args, (ctx.flow.back(x),), tensors, name=name, layout="tokens")
        return Skip()

    return trigger


# ---- a batch norm over tokens (LeViT) ----------------------------------------------------------------------------
BATCH_NORMS = ("native_batch_norm", "_native_batch_norm_legit_no_training", "_native_batch_norm_legit", "batch_norm")


def _token_batchnorm(ctx: Context, n: Node, claims: Claims) -> Trigger | None:
    """timm's LeViT LinearNorm: ``bn(x.flatten(0, 1)).reshape_as(x)`` of tokens [B, N, C] (a BatchNorm1d over the C
    channels of every token): the same arithmetic as ``bn(x.transpose(1, 2)).transpose(1, 2)``, which a spec writes
    per sample: transpose, `batchnorm` of the [C, N] map, transpose back."""
    if n.op not in RESHAPE or not n.outs:
        return None
    x = _in(ctx, n)
    if x is None:
        return None
    ins, out = _shape(ctx, x), _shape(ctx, n.outs[0])
    if not (len(ins) == 3 and out == (ins[0] * ins[1], ins[2])):
        return None
    readers = _readers(ctx, n.outs[0])
    if len(readers) != 1 or readers[0].op not in BATCH_NORMS:
        return None
    norm = readers[0]
    ends = _readers(ctx, norm.outs[0])
    if len(ends) != 1 or ends[0].op not in RESHAPE or _shape(ctx, ends[0].outs[0]) != ins:
        return None
    end = ends[0]

    def trigger(node: Node) -> Found:
        if ctx.layout(x) != "tokens":
            return None
        ctx.layouts[n.outs[0]] = "map"  # what the batch norm reads: the [C, N] map
        claims[end.index] = Emit("transpose", {"dim0": 1, "dim1": 2, "layout": "tokens"}, (norm.outs[0],), layout="tokens")
        return Emit("transpose", {"dim0": 1, "dim1": 2, "layout": "map"}, (x,), layout="map")

    return trigger
