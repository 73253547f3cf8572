"""The aten ops no named op covers, as the spec's general tensor ops (torch-free; docs/spec.md, *aten ops and the
general ops*): views (reshape, permute, transpose, slice, select, chunk), pad, elementwise arithmetic and math with
another output, a number or a learned tensor, reductions, softmax over any dim, matmul / einsum /
scaled_dot_product_attention, and cat / stack along any dim. Dims are the aten op's own (the batch is 0), sizes per
sample. Each result is checked with the op's own shape rule (Context.shape_of), so the layout it writes is the one
analyze will find, and a node the op cannot express (a view across the batch) is refused with the op's reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .found import Emit, Found, Pass, Refuse, Several
from .graph import V

if TYPE_CHECKING:
    from .graph import Node
    from .recognise import Context

GeneralFn = Callable[["Node", "Context"], Found]
GENERAL: dict[str, GeneralFn] = {}


def general(*names: str) -> Callable[[GeneralFn], GeneralFn]:
    def deco(fn: GeneralFn) -> GeneralFn:
        for n in names:
            GENERAL[n] = fn
        return fn

    return deco


def _v(a: Any) -> int | None:
    return a.id if isinstance(a, V) else None


def emit(c: Context, n: Node, op: str, args: dict[str, Any], ins: tuple[int, ...], tensors: tuple[str, ...] = (),
         out: int | None = None) -> Found:
    """The general op's layer, if its shape rule takes these arguments and inputs and gives the traced shape."""
    found = c.shape_of(op, args, ins)
    if isinstance(found, str):
        return Refuse(f"{n.fn} as `{op}`: {found}")
    shape, layout = found
    value = out if out is not None else n.outs[0]
    if layout == "map" and op in VIEWS and len(shape) >= 2 and _per_token_readers(c, value):
        args = {**args, "layout": "tokens" if len(shape) == 2 else "grid"}  # what a linear or layer norm reads per token
        made = c.shape_of(op, args, ins)
        if isinstance(made, str):
            return Refuse(f"{n.fn} as `{op}`: {made}")
        layout = made[1]
    if tuple(shape) != c.flow.shape(value)[1:]:
        return Refuse(f"{n.fn} as `{op}` makes {list(shape)} per sample, the model {list(c.flow.shape(value)[1:])}")
    return Emit(op, args, ins, tensors, out=out, layout=layout)


ELEMENTWISE = frozenset({"relu", "gelu", "silu", "sigmoid", "tanh", "hardswish", "hardsigmoid", "mish", "elu", "leaky_relu",
                         "hardtanh", "softplus", "celu", "threshold", "log_sigmoid_forward", "clamp", "neg",
                         "abs", "exp", "sqrt", "square", "addcmul"})
VIEWS = frozenset({"reshape", "permute", "transpose", "flatten", "unflatten", "select"})
PER_TOKEN = frozenset({"linear", "native_layer_norm", "layer_norm"})


def _per_token_readers(c: Context, v: int, depth: int = 4) -> bool:
    """Whether ``v`` is read as tokens: by a linear or a layer norm over its last dim, or by an elementwise op with
    tokens of its shape (a residual add of a token-mixing MLP's transposed output), looking on through elementwise ops
    of one output (a layer scale)."""
    for r in c.flow.ahead(v):
        ins = r.tensors()
        if r.op in PER_TOKEN and ins and c.flow.back(ins[0]) == v:
            return True
        elementwise = r.op.rstrip("_") in BINARY or r.op.rstrip("_") in ELEMENTWISE
        if not elementwise or not r.outs:
            continue
        others = [o for o in ins if c.flow.back(o) != v and c.flow.data(o)]
        if any(c.layout(c.flow.back(o)) != "map" and c.flow.shape(o) == c.flow.shape(v) for o in others):
            return True
        if not others and depth and c.flow.shape(r.outs[0]) == c.flow.shape(v) and _per_token_readers(c, r.outs[0], depth - 1):
            return True
    return False


def _one(n: Node, c: Context) -> int | None:
    x = c.flow.source(n)
    return x if x is not None and c.flow.data(x) else None


# ---- views -------------------------------------------------------------------------------------------------------
@general("view", "_unsafe_view", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "expand", "alias", "t")
def reshape(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None:
        return None
    shape, out = c.flow.shape(x), c.flow.shape(n.outs[0])
    if shape == out:
        return Pass(x)
    if n.op == "expand":
        readers = c.flow.ahead(n.outs[0])
        if readers and all(r.op in BINARY or r.op.rstrip("_") in BINARY for r in readers):
            return Pass(x)  # broadcast by the elementwise op that reads it
        return _expand(n, c, x, shape, out)
    if not out or not shape or out[0] != shape[0]:
        if n.fn == "squeeze" and shape[0] == 1 and len(out) < len(shape):  # x.squeeze(): at the traced batch of 1, the batch too
            return Refuse(f"{n.fn} of {c.shown(x)} to {list(out)}: x.squeeze() drops the batch dim too at batch 1, where import "
                          "traces the model; name the dims it should drop (x.squeeze((2, 3)), x.flatten(1))")
        return Refuse(f"{n.fn} of {c.shown(x)} to {list(out)}: it moves the batch dim; convcost counts per sample")
    spelled = _as_written(n.fn, shape, out)
    if spelled is not None:
        found = emit(c, n, *spelled, (x,))
        if not isinstance(found, Refuse):
            return found
    return emit(c, n, "reshape", {"shape": list(out[1:])}, (x,))


def _expand(n: Node, c: Context, x: int, shape: tuple[int, ...], out: tuple[int, ...]) -> Found:
    """``x.expand(B, ...)`` read by more than an elementwise op: a view (`expand`), or where the code copies it
    (``.contiguous()``, a reshape that must copy: aten's clone) the copy it becomes, a `tile` of the size-1 dims."""
    if len(out) != len(shape) or out[0] != shape[0]:
        return Refuse(f"{n.fn} of {c.shown(x)} to {list(out)}: it adds or grows a dim in front of the batch; convcost "
                      "counts per sample")
    users = c.flow.users.get(n.outs[0], [])
    if users and all(u.op in ("clone", "contiguous") for u in users):
        return emit(c, n, "tile", {"sizes": [o // s for s, o in zip(shape[1:], out[1:])]}, (x,))
    return emit(c, n, "expand", {"sizes": list(out[1:])}, (x,))


@general("repeat")
def repeat(n: Node, c: Context) -> Found:
    """``x.repeat(...)``, ``torch.tile`` (aten's repeat) as `tile`, one count per dim; the batch's must be 1, and no dim added in
    front of it."""
    x = _one(n, c)
    if x is None:
        return None
    shape = c.flow.shape(x)
    counts = [int(r) for r in n.args.get("repeats", [])]
    if len(counts) != len(shape) or counts[0] != 1:
        return Refuse(f"{n.fn}{tuple(counts)} of {c.shown(x)}: it repeats or adds a dim in front of the batch; convcost "
                      "counts per sample")
    return emit(c, n, "tile", {"sizes": counts[1:]}, (x,))


@general("flip")
def flip(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None:
        return None
    rank = len(c.flow.shape(x))
    dims = [int(d) % rank for d in n.args.get("dims", [])]
    if 0 in dims:
        return Refuse(f"{n.fn} of the batch dim of {c.shown(x)}: convcost counts per sample")
    if not dims:
        return Pass(x)
    return emit(c, n, "flip", {"dims": dims}, (x,))


@general("roll")
def roll(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None:
        return None
    rank = len(c.flow.shape(x))
    shifts, dims = n.args.get("shifts", []), n.args.get("dims", [])
    shifts = [int(s) for s in ([shifts] if isinstance(shifts, int) else shifts)]
    dims = [int(d) % rank for d in ([dims] if isinstance(dims, int) else dims)]
    if not dims or 0 in dims:
        return Refuse(f"{n.fn} of {c.shown(x)} {'over every value' if not dims else 'along the batch dim'}: it moves "
                      "values between samples; convcost counts per sample (give torch.roll its dims)")
    return emit(c, n, "roll", {"shifts": shifts, "dims": dims}, (x,))


def _as_written(fn: str, shape: tuple[int, ...], out: tuple[int, ...]) -> tuple[str, dict[str, Any]] | None:
    """``x.flatten(s, e)`` as `flatten: {start, end}`, ``x.unflatten(d, sizes)`` as `unflatten: {dim, sizes}`, where
    the code called them and the shapes say which dims (the first that differ); else None (a `reshape`)."""
    s = next((k for k, (a, b) in enumerate(zip(shape, out)) if a != b), min(len(shape), len(out)))
    if fn == "flatten" and len(out) < len(shape) and 1 <= s:
        e = s + len(shape) - len(out)
        if shape[e + 1:] == out[s + 1:]:
            return "flatten", {"start": s, **({"end": e} if e != len(shape) - 1 else {})}
    if fn == "unflatten" and len(out) > len(shape) and 1 <= s:
        k = len(out) - len(shape)
        if shape[s + 1:] == out[s + k + 1:]:
            return "unflatten", {"dim": s, "sizes": list(out[s:s + k + 1])}
    return None


@general("permute")
def permute(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None:
        return None
    rank = len(c.flow.shape(x))
    dims = [int(d) % rank for d in n.args.get("dims", [])]
    if dims and _unbound(c, n.outs[0], dims):
        return Pass(x)  # each part its unbind's: a select and a permute per sample (batch_second_unbind)
    if not dims or dims[0] != 0:
        return Refuse(f"{n.fn}{tuple(dims)} of {c.shown(x)}: it moves the batch dim; convcost counts per sample")
    return emit(c, n, "permute", {"dims": dims}, (x,))


@general("transpose", "swapaxes", "swapdims")
def transpose(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None:
        return None
    rank = len(c.flow.shape(x))
    a, b = int(n.args.get("dim0", 0)) % rank, int(n.args.get("dim1", 0)) % rank
    if 0 in (a, b):
        return Refuse(f"{n.fn}({a}, {b}) of {c.shown(x)}: it moves the batch dim; convcost counts per sample")
    return emit(c, n, "transpose", {"dim0": a, "dim1": b}, (x,))


@general("slice")
def slice_(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None:
        return None
    shape = c.flow.shape(x)
    dim = int(n.args.get("dim", 0)) % len(shape)
    size = shape[dim]
    start, end, step = n.args.get("start"), n.args.get("end"), int(n.args.get("step", 1))
    start = 0 if start is None else max(0, start + size if start < 0 else min(start, size))
    end = size if end is None else max(0, end + size if end < 0 else min(end, size))
    if start == 0 and end == size and step == 1:
        return Pass(x)
    if dim == 0:
        return Refuse(f"{n.fn}: slicing the batch dim; convcost counts per sample")
    args: dict[str, Any] = {"dim": dim, "start": start, "stop": end}
    if step != 1:
        args["step"] = step
    return emit(c, n, "slice", args, (x,))


@general("select")
def select(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None:
        return None
    dim = int(n.args.get("dim", 0)) % len(c.flow.shape(x))
    if dim == 0:
        return Refuse(f"{n.fn}: indexing the batch dim; convcost counts per sample")
    return emit(c, n, "select", {"dim": dim, "index": int(n.args.get("index", 0))}, (x,))


def _unbound(c: Context, v: int, dims: list[int]) -> bool:
    """Whether ``x.permute(dims)`` (``v``) moves a dim in front of the batch (now second) and is read only by
    ``unbind(0)``: timm's ``qkv.reshape(B, N, 3, H, d).permute(2, 0, 3, 1, 4).unbind(0)``, whose parts have a
    per-sample spelling (:func:`batch_second_unbind`)."""
    readers = c.flow.users.get(v, [])
    return (len(dims) > 2 and dims[0] != 0 and dims[1] == 0 and bool(readers)
            and all(r.op == "unbind" and int(r.args.get("dim", 0)) == 0 and c.flow.source(r) == v for r in readers))


def batch_second_unbind(n: Node, c: Context, v: int) -> Found:
    """``x.permute(dims).unbind(0)`` with the batch second after the permute: part k is ``x.select(dims[0], k)`` with
    the other dims permuted as ``dims[1:]`` (the batch first again), written as a `select` and, where it moves a dim,
    a `permute`."""
    perm = c.flow.producer(v)
    assert perm is not None
    x = c.flow.source(perm)
    assert x is not None
    rank = len(c.flow.shape(x))
    dims = [int(d) % rank for d in perm.args.get("dims", [])]
    a = dims[0]
    rest = [d - (d > a) for d in dims[1:]]
    layers: list[Emit] = []
    for k, o in enumerate(n.outs):
        if not c.flow.users.get(o):
            continue
        pick = {"dim": a, "index": k}
        if rest == list(range(len(rest))):
            found = emit(c, n, "select", pick, (x,), out=o)
            if not isinstance(found, Emit):
                return found
            layers.append(found)
            continue
        picked = c.shape_of("select", pick, (x,))
        if isinstance(picked, str):
            return Refuse(f"{n.fn} of {perm.fn}{tuple(dims)} as `select`: {picked}")
        turn: dict[str, Any] = {"dims": rest}
        if not _per_token_readers(c, o):  # tokens or a grid only where a linear or layer norm reads them per token
            turn["layout"] = "map"
        made = c.shape_on("permute", turn, (_spec_shape(*picked),))
        if isinstance(made, str):
            return Refuse(f"{n.fn} of {perm.fn}{tuple(dims)} as `permute`: {made}")
        if tuple(made[0]) != c.flow.shape(o)[1:]:
            return Refuse(f"{n.fn} of {perm.fn}{tuple(dims)} makes {list(made[0])} per sample, the model "
                          f"{list(c.flow.shape(o)[1:])}")
        layers += [Emit("select", pick, (x,), layout=picked[1], fn=n.fn),
                   Emit("permute", turn, (-1,), out=o, layout=made[1], fn=n.fn)]
    return Several(tuple(layers))


def _spec_shape(dims: tuple[int, ...], layout: str) -> Any:
    from ..ops.shapes import TokenGrid, Tokens

    if layout == "tokens" and len(dims) == 2:
        return Tokens(*dims)
    if layout == "grid" and len(dims) == 3:
        return TokenGrid(*dims)
    return tuple(dims)


@general("split", "split_with_sizes", "unsafe_split", "unsafe_split_with_sizes", "chunk", "unbind")
def split(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None:
        return None
    shape = c.flow.shape(x)
    dim = int(n.args.get("dim", 0)) % len(shape)
    producer = c.flow.producer(x)
    if n.op == "unbind" and dim == 0 and producer is not None and producer.op == "permute" and _unbound(
            c, x, [int(d) % len(shape) for d in producer.args.get("dims", [])]):
        return batch_second_unbind(n, c, x)
    if dim == 0:
        return Refuse(f"{n.fn}: splitting the batch dim; convcost counts per sample")
    layers = []
    for k, o in enumerate(n.outs):
        if not c.flow.users.get(o):
            continue
        if n.op == "unbind":
            found = emit(c, n, "select", {"dim": dim, "index": k}, (x,), out=o)
        else:
            sizes = [c.flow.shape(p)[dim] for p in n.outs]
            args: dict[str, Any] = {"index": k, "dim": dim}
            if n.op.endswith("with_sizes") or len(set(sizes)) > 1:
                args["sizes"] = sizes
            elif len(sizes) != 2:
                args["parts"] = len(sizes)
            found = emit(c, n, "chunk", args, (x,), out=o)
            if isinstance(found, Emit):
                found = Emit(found.op, {**found.args, "count": len(sizes)}, found.ins, out=o, layout=found.layout)
        if not isinstance(found, Emit):
            return found
        layers.append(found)
    return Several(tuple(layers))


_PAD_MODES = {"constant_pad_nd": "constant", "reflection_pad1d": "reflect", "reflection_pad2d": "reflect",
              "reflection_pad3d": "reflect", "replication_pad1d": "replicate", "replication_pad2d": "replicate",
              "replication_pad3d": "replicate", "_pad_circular": "circular"}


@general("constant_pad_nd", "pad", *_PAD_MODES)
def pad(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None:
        return None
    mode = n.args.get("mode", _PAD_MODES.get(n.op, "constant"))
    args: dict[str, Any] = {"pad": list(n.args.get("pad") or n.args.get("padding") or [])}
    if n.args.get("padding_written") == "same":
        return Pass(x)  # a conv's padding='same' (an even kernel: torch pads the extra side itself): the conv says 'same'
    if not any(args["pad"]):
        return Pass(x)  # nothing added on any side (video Swin's PatchEmbed3d at a size its patch divides): the input
    if mode != "constant":
        args["mode"] = mode
    value = float(n.args.get("value") or 0)
    if value:
        args["value"] = value if value - value == 0 else ("-inf" if value < 0 else "inf")  # ±inf written as the spec reads it
    return emit(c, n, "pad", args, (x,))


# ---- elementwise -------------------------------------------------------------------------------------------------
BINARY = {"add": "add", "mul": "multiply", "sub": "sub", "div": "div", "pow": "pow", "maximum": "maximum",
          "minimum": "minimum", "rsub": "sub", **{op: op for op in ("gt", "lt", "ge", "le", "eq", "ne")}}


@general(*BINARY, *(f"{op}_" for op in BINARY))
def binary(n: Node, c: Context) -> Found:
    """x ∘ y of two outputs, x ∘ 2 (``scalar``), x ∘ w of a learned tensor (``param``) or of a buffer (``buffer``:
    ``(x - self.mean) / self.std``); the number or tensor on the left is ``reverse`` (1 - x: aten's rsub)."""
    op = BINARY[n.op.rstrip("_")]
    if n.args.get("alpha", 1) != 1:
        return Refuse(f"{n.fn} with alpha={n.args.get('alpha')}: convcost's {op} has none")
    a, b = n.args.get("self", n.args.get("input")), n.args.get("other", n.args.get("exponent"))
    left, right = (b, a) if n.op == "rsub" else (a, b)
    vl, vr = _v(left), _v(right)
    data_l, data_r = vl is not None and c.flow.data(vl), vr is not None and c.flow.data(vr)
    if data_l and data_r:
        return emit(c, n, op, {}, (vl, vr))  # type: ignore[arg-type]
    if not (data_l or data_r):
        return None
    x, other, reverse = (vl, right, False) if data_l else (vr, left, True)
    assert x is not None
    vo = _v(other)
    if vo is None:
        if not isinstance(other, (int, float)) or isinstance(other, bool):
            return Refuse(f"{n.fn} with {other!r}: convcost's {op} takes a number, a learned tensor or another output")
        return emit(c, n, op, {"scalar": float(other), **({"reverse": True} if reverse else {})}, (x,))
    if not c.flow.sources.get(vo):  # made in the forward from no input, weight or buffer (YOLO's anchor points)
        return emit(c, n, op, {"const": list(c.flow.shape(vo)), **({"reverse": True} if reverse else {})}, (x,))
    if _held_kind(c, vo) == "buffer":  # an input normalisation's mean and std: counted as buffers, not params
        kept = c.held(vo, f"buffer {n.fn} reads", "buffer")
        if isinstance(kept, Refuse):
            return kept
        args = {"buffer": list(c.flow.shape(vo)) or [1], **({"reverse": True} if reverse else {})}
        return emit(c, n, op, args, (x,), tensors=kept)
    held = c.held(vo, f"tensor {n.fn} reads")
    gathered = _gathered(c, vo) if isinstance(held, Refuse) else None
    if gathered is not None:  # a relative position bias: table[index]
        (table, tshape), (index, ishape) = gathered
        args = {"param": list(c.flow.shape(vo)), "table": list(tshape), "index": list(ishape),
                **({"reverse": True} if reverse else {})}
        return emit(c, n, op, args, (x,), tensors=(table, index))
    if isinstance(held, Refuse):
        return held
    # a 0-d parameter (ReZero's alpha, a learned temperature) broadcasts as one of shape [1] does: the same value count
    args = {"param": list(c.flow.shape(vo)) or [1], **({"reverse": True} if reverse else {})}
    return emit(c, n, op, args, (x,), tensors=held)


def _held_kind(c: Context, v: int) -> str | None:
    """'param' or 'buffer': what the model holds ``v`` as, where it is made from one such tensor alone; else None."""
    paths = c.flow.sources.get(v, ())
    return c.rec.tensors[next(iter(paths))][0] if len(paths) == 1 else None


def _gathered(c: Context, v: int) -> tuple[tuple[str, tuple[int, ...]], tuple[str, tuple[int, ...]]] | None:
    """((table path, shape), (index path, shape)) where ``v`` is made from one parameter and one buffer alone (a
    relative position bias, ``table[index]`` and views of it), else None."""
    paths = sorted(c.flow.sources.get(v, ()))
    if len(paths) != 2:
        return None
    kinds = {c.rec.tensors[p][0]: (p, tuple(c.rec.tensors[p][1])) for p in paths}
    if set(kinds) != {"param", "buffer"}:
        return None
    return kinds["param"], kinds["buffer"]


_MATH = ("sqrt", "rsqrt", "exp", "log", "abs", "neg", "reciprocal", "square", "sin", "cos", "erf")


@general(*_MATH, *(f"{m}_" for m in _MATH))
def math(n: Node, c: Context) -> Found:
    x = _one(n, c)
    return None if x is None else emit(c, n, n.op.rstrip("_"), {}, (x,))


@general("clamp", "clamp_", "clamp_min", "clamp_min_", "clamp_max", "clamp_max_")
def clamp(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None:
        return None
    args: dict[str, Any] = {}
    lo, hi = n.args.get("min"), n.args.get("max")  # clamp(x, min, max), clamp_min(x, min), clamp_max(x, max)
    if isinstance(lo, V) or isinstance(hi, V):
        return Refuse(f"{n.fn} with tensor bounds: convcost's clamp takes numbers")
    if lo is not None:
        args["min"] = float(lo)
    if hi is not None:
        args["max"] = float(hi)
    return emit(c, n, "clamp", args, (x,))


@general("addcmul", "addcmul_")
def addcmul(n: Node, c: Context) -> Found:
    """``torch.addcmul(s, t1, t2)`` = s + t1 · t2 (timm's Affine, GRN): a product, then a sum, each with an output or a
    learned tensor."""
    s, t1, t2 = (_v(n.args.get(k)) for k in ("self", "tensor1", "tensor2"))
    if n.args.get("value", 1) != 1 or None in (s, t1, t2):
        return Refuse(f"{n.fn} with a value or a number operand: convcost writes s + t1 · t2 only")
    assert s is not None and t1 is not None and t2 is not None
    data = [v for v in (t1, t2) if c.flow.data(v)]
    if not data:
        return None
    mid = -1  # the product, before the sum
    if len(data) == 2:
        product = (Emit("multiply", {}, (t1, t2)),)
    else:
        w = t2 if data[0] == t1 else t1
        held = c.held(w, f"tensor {n.fn} multiplies")
        if isinstance(held, Refuse):
            return held
        product = (Emit("multiply", {"param": list(c.flow.shape(w))}, (data[0],), held),)
    if c.flow.data(s):
        total = Emit("add", {}, (mid, s))
    else:
        held = c.held(s, f"tensor {n.fn} adds")
        if isinstance(held, Refuse):
            return held
        total = Emit("add", {"param": list(c.flow.shape(s))}, (mid,), held)
    return Several((*product, total))


# ---- selection ------------------------------------------------------------------------------------------------
@general("where")
def where(n: Node, c: Context) -> Found:
    """``torch.where(mask, x, y)`` with the mask computed from the input (a comparison); x and y traced outputs, or one
    of them a number (``scalar``) or a tensor made in the forward (``const``)."""
    mask = _v(n.args.get("condition"))
    if mask is None or not c.flow.data(mask):
        return None if mask is None or not any(c.flow.data(v) for v in n.tensors()) else Refuse(
            f"{n.fn} with a mask not computed from the model's input: convcost's where reads a comparison's mask")
    a, b = n.args.get("self"), n.args.get("other")
    va, vb = _v(a), _v(b)
    data_a, data_b = va is not None and c.flow.data(va), vb is not None and c.flow.data(vb)
    if data_a and data_b:
        return emit(c, n, "where", {}, (mask, va, vb))  # type: ignore[arg-type]
    if not (data_a or data_b):
        return Refuse(f"{n.fn} of a mask and two values made from no input: convcost's where picks between outputs")
    x, other = (va, b) if data_a else (vb, a)
    assert x is not None
    args: dict[str, Any] = {} if data_a else {"reverse": True}
    vo = _v(other)
    if vo is None and isinstance(other, (int, float)) and not isinstance(other, bool):
        return emit(c, n, "where", {"scalar": float(other), **args}, (mask, x))
    if vo is not None and not c.flow.sources.get(vo) and not c.flow.data(vo):
        return emit(c, n, "where", {"const": list(c.flow.shape(vo)) or [1], **args}, (mask, x))
    return Refuse(f"{n.fn} with a parameter or buffer as a value: convcost's where takes outputs, numbers or constants")


def _index_operand(c: Context, n: Node, v: int) -> tuple[dict[str, Any], tuple[str, ...]] | Refuse:
    """An index tensor as `index_select` writes it: its length, and whether the model holds it as a buffer."""
    shape = c.flow.shape(v)
    if len(shape) != 1 or "bool" in c.rec.values[v].dtype:
        return Refuse(f"{n.fn} by a {'mask' if 'bool' in c.rec.values[v].dtype else f'{len(shape)}-D index'}: convcost "
                      "selects along one dim by a 1-D index (a mask's result depends on the values)")
    if c.flow.data(v):
        return Refuse(f"{n.fn} by an index computed from the model's input: which positions it picks depends on the "
                      "values; convcost selects by a fixed index")
    if _held_kind(c, v) == "buffer":
        held = c.held(v, "index", "buffer")
        if isinstance(held, Refuse):
            return held
        return {"index": shape[0], "buffer": True}, held
    if c.flow.sources.get(v):
        return Refuse(f"{n.fn} by an index made from a parameter: convcost selects by a buffer or a constant index")
    return {"index": shape[0]}, ()


@general("index_select")
def index_select(n: Node, c: Context) -> Found:
    x, index = _one(n, c), _v(n.args.get("index"))
    if x is None or index is None:
        return None
    dim = int(n.args.get("dim", 0)) % len(c.flow.shape(x))
    if dim == 0:
        return Refuse(f"{n.fn}: selecting along the batch dim; convcost counts per sample")
    found = _index_operand(c, n, index)
    if isinstance(found, Refuse):
        return found
    args, held = found
    return emit(c, n, "index_select", {"dim": dim, **args}, (x,), tensors=held)


@general("index")
def index(n: Node, c: Context) -> Found:
    """``x[:, idx]`` (aten's index with one 1-D index tensor and the dims before it whole): an `index_select`."""
    x = _one(n, c)
    if x is None:
        return None
    indices = list(n.args.get("indices") or [])
    given = [k for k, t in enumerate(indices) if t is not None]
    if len(given) != 1 or _v(indices[given[0]]) is None:
        return Refuse(f"x[...] as aten.{n.op} with {len(given)} index tensors: convcost selects along one dim by one "
                      "1-D index (x[:, [2, 0, 1]])")
    dim = given[0]
    if dim == 0:
        return Refuse(f"x[...] as aten.{n.op}: indexing the batch dim; convcost counts per sample")
    found = _index_operand(c, n, _v(indices[dim]))  # type: ignore[arg-type]
    if isinstance(found, Refuse):
        return Refuse(found.why.replace(f"{n.fn} by", f"x[...] as aten.{n.op} by", 1))
    args, held = found
    return emit(c, n, "index_select", {"dim": dim, **args}, (x,), tensors=held)


@general("topk")
def topk(n: Node, c: Context) -> Found:
    """``torch.topk(x, k, dim)`` whose indices nothing reads: its values."""
    x = _one(n, c)
    if x is None:
        return None
    if c.used_output(n, 1):
        return Refuse(f"{n.fn} with its indices used: convcost's topk gives the values only")
    rank = len(c.flow.shape(x))
    dim = int(n.args.get("dim", -1))
    if dim % rank == 0:
        return Refuse(f"{n.fn} along the batch dim; convcost counts per sample")
    args: dict[str, Any] = {"k": int(n.args.get("k", 1)), "dim": dim if dim < 0 else dim % rank}
    if not n.args.get("largest", True):
        args["largest"] = False
    return emit(c, n, "topk", args, (x,), out=n.outs[0])


@general("grid_sampler", "grid_sampler_2d")
def grid_sample(n: Node, c: Context) -> Found:
    """``F.grid_sample(x, grid, ...)`` of a map, the grid another output or a parameter [1, Ho, Wo, 2]."""
    from ..ops.sampling import MODE_OF, PADDING_OF

    x, grid = _v(n.args.get("input")), _v(n.args.get("grid"))
    if x is None or grid is None or not c.flow.data(x):
        return None if x is None or not c.flow.data(x) else Refuse(f"{n.fn} without a traced grid")
    mode, padding = MODE_OF.get(n.args.get("interpolation_mode", 0)), PADDING_OF.get(n.args.get("padding_mode", 0))
    if mode is None or padding is None:
        return Refuse(f"{n.fn} with interpolation mode {n.args.get('interpolation_mode')} or padding mode "
                      f"{n.args.get('padding_mode')}: convcost's grid_sample knows bilinear, nearest, bicubic and zeros, "
                      "border, reflection")
    args: dict[str, Any] = {"mode": mode, "padding_mode": padding, "align_corners": bool(n.args.get("align_corners"))}
    if c.flow.data(grid):
        return emit(c, n, "grid_sample", args, (x, grid))
    held = c.held(grid, f"grid {n.fn} reads")
    if isinstance(held, Refuse):
        return held
    shape = c.rec.tensors[held[0]][1]
    if len(shape) != 4 or shape[0] != 1 or shape[3] != 2:
        return Refuse(f"{n.fn} with a learned grid of {list(shape)}: convcost's learned grid is [1, Ho, Wo, 2], expanded "
                      "over the batch")
    return emit(c, n, "grid_sample", {**args, "grid": [shape[1], shape[2]]}, (x,), tensors=held)


# ---- reductions, softmax -------------------------------------------------------------------------------------------
def _reduced_dims(dims: Any, rank: int) -> list[int]:
    """A reduction's `dim` (None: every dim but the batch; one dim; a list) as non-negative dims of a rank-``rank``
    tensor."""
    dims = list(range(1, rank)) if dims is None else ([dims] if isinstance(dims, int) else list(dims))
    return [int(d) % rank for d in dims]


@general("mean", "sum", "amax", "amin")
def reduce(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None:
        return None
    dims = n.args.get("dim")
    args: dict[str, Any] = {"dims": _reduced_dims(None if dims == [] else dims, len(c.flow.shape(x)))}  # []: all
    if n.args.get("keepdim"):
        args["keepdim"] = True
    return emit(c, n, n.op, args, (x,))


@general("max", "min")
def max_values(n: Node, c: Context) -> Found:
    """``torch.max(x, dim)`` / ``x.min(dim=1, keepdim=True)`` whose indices nothing reads (CBAM's ``torch.max(x, 1,
    keepdim=True)[0]``, ``.values``): the `amax` / `amin` over that dim; the indices (a reading of positions) are refused."""
    x = _one(n, c)
    dim = n.args.get("dim")
    if x is None or not isinstance(dim, int) or len(n.outs) != 2:
        return None  # torch.max(x) of every value (the batch too), torch.max(x, y) of two tensors: not a reduction per sample
    if c.used_output(n, 1):
        return Refuse(f"{n.fn} with its indices used: convcost's a{n.op} gives the values only")
    args: dict[str, Any] = {"dims": _reduced_dims(dim, len(c.flow.shape(x)))}
    if n.args.get("keepdim"):
        args["keepdim"] = True
    return emit(c, n, f"a{n.op}", args, (x,), out=n.outs[0])


@general("linalg_vector_norm", "norm")
def norm(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None:
        return None
    args: dict[str, Any] = {"dims": _reduced_dims(n.args.get("dim"), len(c.flow.shape(x)))}
    p = n.args.get("ord", n.args.get("p", 2))
    if p not in (2, 2.0, None):
        args["p"] = float(p)
    if n.args.get("keepdim"):
        args["keepdim"] = True
    return emit(c, n, "norm", args, (x,))


@general("var", "std")
def var(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None:
        return None
    args: dict[str, Any] = {"dims": _reduced_dims(n.args.get("dim"), len(c.flow.shape(x)))}
    correction = n.args.get("correction")
    if correction is not None and correction != 1:
        args["correction"] = int(correction)
    if n.args.get("keepdim"):
        args["keepdim"] = True
    return emit(c, n, n.op, args, (x,))


@general("_softmax", "softmax", "_log_softmax", "log_softmax")
def softmax(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None:
        return None
    dim = int(n.args.get("dim", -1))
    dim = dim if dim < 0 else dim % len(c.flow.shape(x))  # -1 as the code wrote it: the last dim at any rank
    op = "log_softmax" if "log" in n.op else "softmax"
    return emit(c, n, op, {"dim": dim}, (x,))


# ---- products ------------------------------------------------------------------------------------------------------
@general("matmul", "bmm", "mm")
def matmul(n: Node, c: Context) -> Found:
    a, b = _v(n.args.get("self", n.args.get("input"))), _v(n.args.get("other", n.args.get("mat2")))
    if a is None or b is None:
        return None
    call = {"bmm": "bmm", "mm": "matmul"}.get(n.op, "operator" if n.fn == "matmul" and n.kind == "function" else "matmul")
    args: dict[str, Any] = {} if call == "operator" else {"call": call}
    if c.flow.data(a) and c.flow.data(b):
        return emit(c, n, "matmul", args, (a, b))
    x, w, reverse = (a, b, False) if c.flow.data(a) else (b, a, True)
    if not c.flow.data(x):
        return None
    held = c.held(w, "matmul's weight")
    if isinstance(held, Refuse):
        return held
    args = {**args, "param": list(c.flow.shape(w))}
    if reverse:
        args["reverse"] = True
    return emit(c, n, "matmul", args, (x,), tensors=held)


@general("einsum")
def einsum(n: Node, c: Context) -> Found:
    """torch.einsum of two or three operands: traced outputs, the last may be a learned tensor (`param`)."""
    ops = [_v(t) for t in n.args.get("tensors", [])]
    if len(ops) not in (2, 3) or None in ops:
        return Refuse(f"{n.fn} of {len(ops)} operands: convcost's einsum takes two or three")
    vals = [v for v in ops if v is not None]
    args: dict[str, Any] = {"equation": str(n.args.get("equation", "")).replace(" ", "")}
    if all(c.flow.data(v) for v in vals):
        return emit(c, n, "einsum", args, tuple(vals))
    if not all(c.flow.data(v) for v in vals[:-1]):
        return Refuse(f"{n.fn} with a learned tensor before the last operand: convcost's einsum takes it last")
    held = c.held(vals[-1], "einsum's weight")
    if isinstance(held, Refuse):
        return held
    return emit(c, n, "einsum", {**args, "param": list(c.flow.shape(vals[-1]))}, tuple(vals[:-1]), tensors=held)


@general("scaled_dot_product_attention")
def sdpa(n: Node, c: Context) -> Found:
    ins = [_v(n.args.get(k)) for k in ("query", "key", "value")]
    if None in ins or not all(c.flow.data(v) for v in ins if v is not None):
        return Refuse(f"{n.fn} of q, k or v not computed from the model's input: convcost's reads traced outputs")
    args: dict[str, Any] = {}
    tensors: tuple[str, ...] = ()
    mask = n.args.get("attn_mask")
    vm = _v(mask)
    if mask is not None and (vm is None or c.flow.data(vm)):
        ins.append(vm)
    elif vm is not None:  # held by the model: a learned mask, or one gathered from a table (a relative position bias)
        held = c.held(vm, f"mask {n.fn} reads")
        gathered = _gathered(c, vm) if isinstance(held, Refuse) else None
        if gathered is not None:
            (table, tshape), (index, ishape) = gathered
            args = {"mask": list(c.flow.shape(vm)), "table": list(tshape), "index": list(ishape)}
            tensors = (table, index)
        elif isinstance(held, Refuse):
            return held
        else:
            args, tensors = {"mask": list(c.flow.shape(vm))}, held
    if None in ins:
        return Refuse(f"{n.fn} with a mask that is no tensor: convcost's takes a tensor")
    if n.args.get("is_causal"):
        args["is_causal"] = True
    if n.args.get("scale") is not None:
        args["scale"] = float(n.args["scale"])
    if n.args.get("dropout_p"):
        return Refuse(f"{n.fn} with dropout_p={n.args['dropout_p']}: it drops attention weights at random in eval mode too "
                      "(it does not read model.training); convcost counts inference, without dropout (pass dropout_p=0.0 "
                      "outside training, as timm's `self.attn_drop.p if self.training else 0.`)")
    return emit(c, n, "scaled_dot_product_attention", args, tuple(v for v in ins if v is not None), tensors=tensors)


@general("cat", "concat", "concatenate", "stack")
def cat(n: Node, c: Context) -> Found:
    ids = [_v(t) for t in n.args.get("tensors") or []]
    if any(i is None or not c.flow.data(i) for i in ids):
        return None
    dim = int(n.args.get("dim", 0))
    rank = len(c.flow.shape(n.outs[0]))
    if dim % rank == 0:
        return Refuse(f"{n.fn} along the batch dim; convcost counts per sample")
    op = "stack" if n.op == "stack" else "concat"
    return emit(c, n, op, {"dim": dim % rank}, tuple(i for i in ids if i is not None))
