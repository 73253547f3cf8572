"""`convcost import`'s recognition: the recorded aten graph (importer/record.py) → convcost layers (torch-free).

Patterns over several nodes first (importer/patterns.py: tokens, channels-last runs, LayerNorm2d, layer scale,
channel slices and shuffles, attention), then each remaining node that reads the model's data on its own
(importer/aten_ops.py). Nodes that read only parameters and buffers (a weight standardised in the forward) or only
tensors made in the forward (an arange) are no layers: a layer that reads such a weight holds the parameters it
comes from.

Layers are named by module path, as torch's nn_module_stack gives them: a module whose call is one layer (an
nn.Conv2d, an nn.ReLU, a LayerNorm2d) names it (``layer1.0.conv1``; a module called again ``relu_1``); the layers
of a module with more in it are named after the function the code called, per module (``layer1.0.add``,
``features.3.chunk_1``); a layer that stands for a parameter of the model (a class token, a position embedding, a
layer scale) after the parameter's path.

Anything convcost cannot write is *unsupported*: listed, with its traced output shape, so the layers after it
are still sized right (importer/trace.py decides what to do with them).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError
from ..ops.registry import ArgError, ShapeError, rule
from ..ops.shapes import Shape, TokenGrid, Tokens, torch_dims
from ..ops.shapes import layout as shape_layout
from .aten_ops import leaf_op
from .flow import Flow, numel
from .found import Emit, Found, Pass, Refuse, Several
from .graph import Node, Recording, V
from .meets import met
from .patterns import find_patterns
from .tree import INPUT, ImportedLayer, input_key, is_input

# aten ops torch's FlopCounterMode counts: a node of these that feeds no output still costs what it computes
COUNTED = frozenset({"convolution", "_convolution", "mm", "addmm", "bmm", "baddbmm", "matmul", "linear", "einsum",
                     "scaled_dot_product_attention", "_scaled_dot_product_flash_attention_for_cpu", "module"})
RANDOM = frozenset({"bernoulli", "bernoulli_", "rand", "randn", "rand_like", "randn_like", "randint", "normal", "normal_",
                    "uniform_", "exponential_", "native_dropout", "multinomial"})


@dataclass(frozen=True)
class Unsupported:
    where: str  # the layer's key: module path, or module path and function
    what: str
    after: bool = False  # it reads an unsupported part: likely its consequence (its input's layout is a guess)


@dataclass(eq=False)
class Proto:
    """A layer before its name: the node it comes from, the module call it ran in, the function it is named after."""

    op: str
    args: dict[str, Any]
    ins: tuple[Any, ...]  # Proto or INPUT per data input
    call: int
    fn: str
    node: int
    shape: tuple[int, ...]  # its output, as torch holds it (batch first)
    tensors: tuple[str, ...] = ()
    name: str = ""
    suffix: str = ""
    why: str = ""  # unsupported: why
    after: bool = False  # reads an unsupported part, or a layer after one (its input's layout is a guess)
    part: tuple[int, int] | None = None  # (k, n): part k of a node's n outputs (a chunk's): named in order
    layout: str = "map"  # of what it makes: 'map' or 'tokens'
    roles: tuple[tuple[str, str], ...] = ()  # (the op's name of a parameter, its path)
    tied: dict[str, str] = field(default_factory=dict)  # parameter -> the key of the earlier layer holding it
    key: str = ""
    path: tuple[str, ...] = ()
    source: str = ""  # the torch path it is named after (module path, or module path and function), as torch spells it
    form: str = "module"  # how it met torch: module, function or subclass (importer/meets.py)
    note: str = ""  # ... where that is only the nearest form
    spans: bool = False  # its output is not its module's (Emit.spans): its traced shape is the layer's


class Context:
    """What the op recognisers read: the graph, each data value's layout, the parameters a weight comes from."""

    def __init__(self, rec: Recording) -> None:
        self.rec = rec
        self.flow = Flow(rec)
        self.constants = constant_inputs(self.flow)
        if self.constants:
            self.flow = Flow(rec, self.constants)
        self.layouts: dict[int, str] = {}
        self.random: set[int] = set()
        for n in rec.nodes:
            if n.op in RANDOM or (any(v in self.random for v in n.tensors()) and not self.data_ins(n)):
                self.random.update(n.outs)

    def layout(self, v: int) -> str:
        """'map' (channels first, or a flat vector), 'tokens' ([B, N, D]) or 'grid' ([B, H, W, D] or [B, T, H, W, D] tokens)."""
        return self.layouts.get(v, "map")

    def shown(self, v: int) -> str:
        shape = list(self.flow.shape(v))
        return f"{self.layout(v)} {shape}" if self.layout(v) != "map" else str(shape)

    def cshape(self, v: int) -> Shape:
        """The value's shape as a spec has it: per sample, tokens and grids as such (ops/shapes.py)."""
        dims = self.flow.shape(v)[1:]
        layout = self.layout(v)
        if layout == "tokens" and len(dims) == 2:
            return Tokens(*dims)
        if layout == "grid" and len(dims) >= 3:
            return TokenGrid(*dims)
        return dims

    def shape_of(self, op: str, args: dict[str, Any], ins: tuple[int, ...]) -> tuple[tuple[int, ...], str] | str:
        """(per-sample dims, layout) of ``op`` with ``args`` on the values ``ins``, by the op's own rules (what analyze
        will find), or why the op refuses them."""
        return self.shape_on(op, args, tuple(self.cshape(v) for v in ins))

    def shape_on(self, op: str, args: dict[str, Any], shapes: tuple[Shape, ...]) -> tuple[tuple[int, ...], str] | str:
        """:meth:`shape_of` on spec shapes (a layer's that no traced value has: the first of two a node becomes)."""
        r = rule(op)
        try:
            fields = r.arg_fields()
            bad = [k for k in args if k not in fields]
            if bad:
                return f"{op} has no argument {bad[0]}"
            made = r.args(**{k: fields[k].metadata["convert"](v) for k, v in args.items()})
            if r.resolve is not None:
                made = r.resolve(made, shapes)
            out = r.shape(made, shapes)
        except ShapeError as e:
            return e.message
        except (ArgError, TypeError) as e:
            return str(e)
        return torch_dims(out), {"token_grid": "grid"}.get(shape_layout(out), shape_layout(out))

    def data_ins(self, n: Node) -> list[int]:
        return [v for v in n.tensors() if self.flow.data(v)]

    def used_output(self, n: Node, k: int) -> bool:
        return len(n.outs) > k and bool(self.flow.users.get(n.outs[k]))

    def held(self, v: int | None, what: str, want: str = "param") -> tuple[str, ...] | Refuse:
        """The parameter path a layer's weight ``v`` holds: a parameter, or a tensor computed from one parameter alone
        with as many values (timm's StdConv standardises its weight in the forward); else why not."""
        if v is None:
            return ()
        if self.flow.data(v):
            return Refuse(f"a {what} computed from the model's input: convcost's layers hold their weights")
        paths = sorted(self.flow.sources.get(v, ()))
        if len(paths) != 1:
            return Refuse(f"a {what} computed from {len(paths)} tensors ({', '.join(paths) or 'none of the model'}): convcost's "
                          "layers hold their weights")
        kind, shape = self.rec.tensors[paths[0]]
        if kind != want:
            return Refuse(f"a {what} held as a {'parameter' if kind == 'param' else kind} ({paths[0]}): convcost counts it as "
                          f"a {'parameter' if want == 'param' else want}")
        if numel(shape) != numel(self.flow.shape(v)):
            return Refuse(f"a {what} of {list(self.flow.shape(v))} made from {paths[0]} {list(shape)}: convcost's layers hold "
                          "their weights")
        return (paths[0],)

    def sibling(self, v: int | None, name: str) -> str | None:
        """The path of the tensor ``name`` beside the parameter or buffer ``v`` (BatchNorm's num_batches_tracked)."""
        path = self.flow.param(v) if v is not None else None
        if path is None:
            return None
        found = f"{path.rpartition('.')[0]}.{name}" if "." in path else name
        return found if found in self.rec.tensors else None


# aten ops of a weight whose 'input' may be a tensor made in the forward from no input or weight
WEIGHTED = frozenset({"convolution", "_convolution", "linear"})


def constant_inputs(flow: Flow) -> frozenset[int]:
    """Tensors made in the forward from no input, weight or buffer (of the batch's size in front) that a conv or linear
    reads as its input, whose result then meets the model's data: EdgeNeXt's Fourier position grid, a 1×1 conv of it
    added to the tokens. Each is a `constant` layer: the conv's MACs and weights are counted where the model computes
    them."""
    batch = flow.shape(flow.rec.inputs[0])[0] if flow.rec.inputs else 1
    found = set()
    for n in flow.rec.nodes:
        x, w = n.args.get("input"), n.args.get("weight")
        if n.op not in WEIGHTED or not isinstance(x, V) or not isinstance(w, V) or not n.outs:
            continue
        shape = flow.shape(x.id)
        if flow.origin.get(x.id) != "const" or not flow.weight(w.id) or len(shape) < 2 or shape[0] != batch:
            continue
        if flow.producer(x.id) is not None and _meets_data(flow, n.outs[0]):
            found.add(x.id)
    return frozenset(found)


def _meets_data(flow: Flow, v: int) -> bool:
    """Whether what is made from ``v`` (through tensors not of the model's data) is read with the model's data."""
    todo, seen = [v], {v}
    while todo:
        u = todo.pop()
        for r in flow.users.get(u, []):
            if any(flow.data(t) for t in r.tensors()):
                return True
            for o in r.outs:
                if o not in seen:
                    seen.add(o)
                    todo.append(o)
    return False


PYTHON_READS = frozenset({"_local_scalar_dense", "is_nonzero", "equal"})  # aten ops that hand a value to Python


@dataclass
class Recognised:
    layers: list[Proto] = field(default_factory=list)
    unsupported: list[Unsupported] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    read: set[str] = field(default_factory=set)  # every parameter / buffer path the forward read


def recognise(rec: Recording) -> Recognised:
    ctx = Context(rec)
    flow = ctx.flow
    claims = find_patterns(ctx)
    protos: list[Proto] = []
    src: dict[int, Any] = {v: input_key(k) for k, v in enumerate(rec.inputs)}
    ctx.layouts.update({v: "map" for v in rec.inputs})
    writes = {n.index: base for n in rec.nodes if (base := _written_view(ctx, n)) is not None}
    alive: set[int] = {v for _, v in rec.outputs if v is not None}
    for n in reversed(rec.nodes):
        if any(o in alive for o in n.outs) or n.index in writes:
            alive.update(n.tensors())

    def live(n: Node) -> bool:
        return any(o in alive for o in n.outs) or n.index in writes

    def made(v: int) -> Any:
        """The layer (or INPUT) value ``v`` comes from: the nearest one back, where a pattern's inner node made none."""
        todo, seen = [v], set()
        while todo:
            u = todo.pop(0)
            if u in src:
                return src[u]
            seen.add(u)
            p = flow.producer(u)
            todo += [t for t in (p.tensors() if p is not None else []) if flow.data(t) and t not in seen]
        return INPUT

    def make(e: Emit, n: Node, out: int | None, prev: Proto | None) -> Proto | None:
        ins = [prev if v == -1 and prev is not None else made(v) for v in e.ins]
        shape = flow.shape(out) if out is not None and out >= 0 else prev_shape(e, n)
        p = Proto(e.op, dict(e.args), tuple(ins), n.call, e.fn or n.fn, n.index, shape, e.tensors, e.name, e.suffix,
                  after=any(isinstance(i, Proto) and (i.why or i.after) for i in ins), roles=e.roles, spans=e.spans)
        protos.append(p)
        first = e.ins[0] if e.ins else None
        p.layout = e.layout or (prev.layout if first == -1 and prev is not None else
                                ctx.layout(first) if first is not None and first >= 0 else "map")
        if out is not None:
            src[out] = p
            ctx.layouts[out] = p.layout
        return p

    def prev_shape(e: Emit, n: Node) -> tuple[int, ...]:
        """A layer inside a node's several (the pool before a mean's flatten): its shape from its op."""
        x = flow.shape(e.ins[0])
        return (*x[:2], *(1 for _ in x[2:])) if e.op == "global_avgpool" else flow.shape(n.outs[0])

    for n in rec.nodes:
        claim = claims.get(n.index)
        found: Found = claim(n) if callable(claim) else claim
        made_here = [o for o in n.outs if o in ctx.constants]
        if made_here and rec.inputs:  # a tensor made in the forward that a conv reads: a `constant` of its shape
            shape = list(flow.shape(made_here[0])[1:])
            make(Emit("constant", {"shape": shape}, (rec.inputs[0],), fn="constant"), n, made_here[0], None)
            continue
        if found is None and flow.passes(n) and ctx.data_ins(n):
            found = Pass(flow.source(n) or n.tensors()[0])
        if found is None:
            if not ctx.data_ins(n) or not any(flow.data(o) for o in n.outs):
                continue  # a weight or a constant computed in the forward: layers that read it hold what it comes from
            if not live(n) and n.op not in COUNTED:
                continue  # read by Python, not by the model's outputs: `if y.sum() > 0`, a shape check
            random = [v for v in n.tensors() if v in ctx.random]
            if n.index in writes:
                found = Refuse(f"{n.fn}: an in-place write into a slice or view of a tensor (x[...] = y, x[:, 1:] += y): "
                               "convcost's layers make new tensors")
            elif random:
                found = Refuse(f"{n.fn} of random values (dropout or stochastic depth in training mode): convcost counts "
                               "inference (call model.eval())")
            else:
                found = leaf_op(n, ctx)
        if isinstance(found, Pass):
            if n.outs and found.value in src:
                src[n.outs[0]] = src[found.value]
                ctx.layouts[n.outs[0]] = ctx.layout(found.value)
        elif isinstance(found, Emit):
            make(found, n, found.out if found.out is not None else (n.outs[0] if n.outs else None), None)
        elif isinstance(found, Several):
            prev: Proto | None = None
            for k, e in enumerate(found.layers):
                last = k == len(found.layers) - 1
                out = e.out if e.out is not None and e.out >= 0 else (n.outs[0] if last and n.outs else None)
                layer = make(e, n, out, prev)
                if layer is not None and e.op == "chunk":
                    layer.part = (int(e.args["index"]), int(e.args.get("count", 0)) or len(n.outs))
                    layer.args.pop("count", None)
                prev = layer
        elif isinstance(found, Refuse):
            ins = tuple(dict.fromkeys(made(v) for v in ctx.data_ins(n)))
            for k, o in enumerate(n.outs):
                if k and not flow.users.get(o):
                    continue
                after = not found.whatever and any(isinstance(i, Proto) and (i.why or i.after) for i in ins)
                p = Proto("unsupported", {}, ins, n.call, n.fn, n.index, flow.shape(o), why=found.why, after=after)
                protos.append(p)
                src[o] = p
                if n.index in writes and k == 0:  # what reads the tensor written into reads this part
                    src[writes[n.index]] = p
                same = [v for v in ctx.data_ins(n) if len(flow.shape(v)) == len(flow.shape(o))]
                ctx.layouts[o] = p.layout = ctx.layout(same[0]) if same else "map"
    for p in protos:
        if not p.why:
            how = met(rec, p.op, p.call, p.node)
            p.form, p.note = how.form, how.note
    out = Recognised(protos)
    # a tensor read only as a Python number (``float(self.t.item())``, ``if self.t > 0``) is in no layer: the spec holds the
    # number; kept as an `unused` row, so the totals still equal torch's sum(numel)
    out.read = {p for n in rec.nodes if n.op not in PYTHON_READS for v in n.tensors() for p in flow.sources.get(v, ())}
    out.read |= {t for p in protos for t in p.tensors}
    for n in rec.nodes:  # a module kept whole holds its tensors, convcost's op or not
        if n.kind == "module":
            path = rec.calls[n.call].path
            out.read |= {t for t in rec.tensors if t.startswith(f"{path}.") or not path}
    for label, v in rec.outputs:
        if v is None:
            out.unsupported.append(Unsupported("output", f"the model's output {label} is not a tensor"))
        elif v in src:
            out.outputs.append(src[v])  # a Proto (keyed once named) or an input's key
        else:
            out.unsupported.append(Unsupported("output", f"the model's output {label} is not computed from its input"))
    return out


VIEWS = frozenset({"slice", "select", "view", "_unsafe_view", "as_strided", "diagonal", "narrow", "unsqueeze", "squeeze",
                   "transpose", "permute", "t", "expand", "unfold", "alias", "index"})


def _written_view(ctx: Context, n: Node) -> int | None:
    """The tensor an in-place op writes into through a view of it (``x[:, 1:] += y``, ``x[..., 0] = y``): the view's
    base, or None."""
    if not (n.op.endswith("_") or n.op in ("copy_", "index_put_")) or n.op in ("as_strided_",):
        return None
    target = ctx.flow.source(n)
    p = ctx.flow.producer(target) if target is not None else None
    if p is None or p.op not in VIEWS or not ctx.flow.data(target):
        return None
    base = p.tensors()[0] if p.tensors() else None
    while base is not None and (q := ctx.flow.producer(base)) is not None and q.op in VIEWS and q.tensors():
        base = q.tensors()[0]
    if base is None or not any(u.index > n.index for u in ctx.flow.users.get(base, [])):
        return None  # nothing reads the tensor after the write (an in-place ReLU of a flat view): an ordinary op
    return base


def tie(protos: list[Proto]) -> None:
    """A parameter a layer holds that an earlier layer holds too (``b.weight = a.weight``, a module called twice) is
    that layer's: `tied` to it, counted once, where both call it the same ('weight', 'bias'); else the later layer is
    unsupported (shared weights convcost cannot write)."""
    held: dict[str, tuple[Proto, str]] = {}
    for p in protos:
        if p.why:
            continue
        roles = dict(p.roles)
        role_of = {path: role for role, path in roles.items()}
        for path in p.tensors:
            first = held.get(path)
            if first is None:
                held[path] = (p, role_of.get(path, ""))
                continue
            other, their_role = first
            role = role_of.get(path, "")
            if role and role == their_role and p.op == other.op:
                p.tied[role] = other.key
            else:
                p.why = (f"{p.op} holds {path}, a tensor '{other.key}' ({other.op}) holds too (shared weights): convcost "
                         "writes a weight or bias shared by layers of one op, in the same role (tied)")


# ---- names ---------------------------------------------------------------------------------------------------------
_BAD = re.compile(r"[^A-Za-z0-9_\-]")


def name_layers(rec: Recording, protos: list[Proto]) -> None:
    """Give every layer its key and path (see the module docstring)."""
    calls = rec.calls
    below: set[int] = set()  # calls with a layer in a call inside them
    own: dict[int, set[int]] = defaultdict(set)  # call -> the nodes its unnamed layers come from
    for p in protos:
        if not p.name:
            own[p.call].add(p.node)
        c = calls[p.call].parent if p.call >= 0 else -1
        while c >= 0 and c not in below:
            below.add(c)
            c = calls[c].parent
    counts: dict[str, int] = {}
    taken: set[str] = set()
    parts_named: dict[int, list[tuple[str, tuple[str, ...]]]] = {}

    def key_for(path: str) -> tuple[str, tuple[str, ...]]:
        parts = spec_parts(path)
        while True:
            n = counts.get(path, 0)
            counts[path] = n + 1
            p = (*parts[:-1], f"{parts[-1]}_{n}") if n else parts
            key = ".".join(p)
            if key not in taken:
                taken.add(key)
                return key, p

    for p in protos:
        call = calls[p.call] if p.call >= 0 else None
        scope = call.path if call is not None else ""
        if p.part is not None:
            k, count = p.part
            if p.node not in parts_named:
                parts_named[p.node] = [key_for(_join(scope, p.fn)) for _ in range(count)]
            p.key, p.path = parts_named[p.node][k]
            p.source = _join(scope, p.fn)
            continue
        if p.name:
            path = p.name
        elif call is not None and scope and p.call not in below and len(own[p.call]) == 1:
            path = scope  # the module's one layer
        else:
            path = _join(scope, p.fn)
        if p.suffix:
            path += p.suffix
        p.key, p.path = key_for(path)
        p.source = path


MAX_PART = 100  # frontend/spec.py's MAX_NAME_CHARS


def spec_name(part: str) -> str:
    """A torch name (a module's, a parameter's: any text) as a name the spec accepts: letters, digits, '_' and '-', not
    starting with '-', at most 100 characters; accents dropped ('über' → 'uber'), anything else '_' ('a b' → 'a_b',
    '$x' → '_x'); a long one cut, with a hash of the whole so two long names stay apart."""
    import hashlib
    import unicodedata

    ascii_ = unicodedata.normalize("NFKD", part).encode("ascii", "ignore").decode()
    name = _BAD.sub("_", ascii_) or "_"
    if name.startswith("-"):
        name = "_" + name
    if len(name) > MAX_PART:
        name = name[: MAX_PART - 9] + "_" + hashlib.sha1(part.encode()).hexdigest()[:8]
    return name


def spec_parts(path: str) -> tuple[str, ...]:
    """A dotted torch path as the spec's name parts: each part :func:`spec_name`'d; 'input' at the top level (the
    model's input's name there) is 'input_'; '' (the model itself) is 'model'."""
    parts = tuple(spec_name(p) for p in path.split(".")) if path else ("model",)
    return ("input_", *parts[1:]) if parts[0] == "input" else parts


def _join(scope: str, fn: str) -> str:
    return f"{scope}.{fn}" if scope else fn


def _holds(p: Proto, modules: frozenset[str]) -> tuple[str, ...]:
    """The tensors ``p`` holds outside the module it is named after, other than its weights' (a weight tied to another
    module's is that module's)."""
    if p.source not in modules:
        return ()
    weights = {path for _, path in p.roles}
    return tuple(t for t in p.tensors if not t.startswith(f"{p.source}.") and t not in weights)


def _dims(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def to_layers(protos: list[Proto], allow: bool, modules: frozenset[str] = frozenset()) -> list[ImportedLayer]:
    """The named layers as import writes them; unsupported ones only when allowed: an `unsupported` row with the traced
    shape, reading its first input (the layers after it are sized right; its arithmetic is not counted). A layer named
    after one of the ``modules`` (paths) that holds tensors outside it says which (`holds`)."""
    out = []
    for p in protos:
        if p.why and not allow:
            continue
        ins = tuple(i if is_input(i) else i.key for i in p.ins)
        if p.why:
            if len(p.shape) < 1 or p.shape[0] != 1:  # traced at batch 1: this part's output moved the batch dim
                raise UsageError(f"{p.key}: {p.why}; its output, {_dims(p.shape)} from a batch of 1, has no batch dim "
                                 "first: an `unsupported` row keeps a shape per sample and cannot stand for it (the layers "
                                 "after it would be sized wrong), so --allow-unsupported cannot write this model")
            shape = list(p.shape[1:]) or [1]
            tokens = p.layout == "tokens" and len(shape) == 2
            grid = p.layout == "grid" and len(shape) >= 3  # channels-last: what reads it reads a grid (review rev20)
            args: dict[str, Any] = {"shape": shape, **({"tokens": True} if tokens else {}), **({"grid": True} if grid else {}),
                                    "what": p.why}
            out.append(ImportedLayer(p.key, p.path, "unsupported", args, ins[:1], source=p.source))
        else:
            out.append(ImportedLayer(p.key, p.path, p.op, p.args, ins, note=f"torch: {p.note}" if p.note else "",
                                     source=p.source, tied=dict(p.tied), form=p.form, holds=_holds(p, modules),
                                     traced=p.shape[1:] if p.spans else ()))
    return out
