"""The imported layers as a tree a spec can say: module scopes, recovered structures, block calls.

Torch-free; used by importer/write.py (``convcost import``). Three steps, each on the result of the last:

1. :func:`scopes`: the flat, ordered layers (importer/trace.py) nested into the scopes of their module
   paths (``layer1.0.conv1`` is ``conv1`` in ``0`` in ``layer1``).
2. :func:`recover`: a join whose inputs all come from one point is the structure a spec writes for it
   (``residual`` for ``out += identity``, ``gate`` for ``x * se(x)``, ``concat`` of branches for Inception),
   so a module's layers read only its own outputs and its input, which a block can say.
3. fold.py folds repeated identical modules into blocks.

Every element knows the keys it produces, the keys it reads from outside and its output key: that is all
the recovery and the folding need to check that a rewrite keeps the graph.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

from ..render.text import unique

INPUT = "<input>"  # the key of the model's (first) input in ImportedLayer.inputs


def input_key(k: int) -> str:
    """The key of the model's input ``k`` (0: INPUT, the only one of most models)."""
    return INPUT if k == 0 else f"<input {k}>"


def is_input(key: object) -> bool:
    return isinstance(key, str) and key.startswith("<input")


OUTPUT = "<output>"  # a reader standing for the model's outputs


@dataclass(frozen=True)
class ImportedLayer:
    """One layer of an imported model: its module path (the last part its name), the op and its arguments,
    and the keys of the layers it reads (INPUT for the model's input)."""

    key: str  # unique: the module path, or the module path and the call ('relu_1') for a module called again
    path: tuple[str, ...]  # scope path + name as the spec should call it
    op: str
    args: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    comment: str = ""  # written above the layer
    source: str = ""  # the torch path it comes from (module path, module path and function, parameter path)
    tied: dict[str, str] = field(default_factory=dict)  # parameter ('weight') -> key of the earlier layer holding it
    form: str = "module"  # how it met torch, as the spec's `torch` key says it: module, function or subclass
    note: str = ""  # why that form is only the nearest one (importer/meets.py), written above the layer as a comment;
    # unlike ``comment`` it does not make verify --reference's model side opaque: the layer is read as it is
    holds: tuple[str, ...] = ()  # tensors it holds outside the module it is named after (timm Swin's block's attn_mask,
    # read by its WindowAttention): verify --reference counts them with that module
    traced: tuple[int, ...] = ()  # its output per sample as traced, where that is not its module's output (timm's
    # WindowAttention returns windows; the layer, the reverse folded in, the grid): verify --reference's model shape


@dataclass(eq=False)
class Layer:
    layer: ImportedLayer
    keys: frozenset[str] = frozenset()
    reads: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self.keys = frozenset((self.layer.key,))
        self.reads = frozenset(self.layer.inputs)

    @property
    def out(self) -> str:
        return self.layer.key


@dataclass(eq=False)
class Scope:
    """A module's scope: a ``seq`` named after the module (``name``), or a block call once folded."""

    name: str
    items: list[Item]
    path: tuple[str, ...]  # the module path
    cls: str = ""  # the module's class
    source: str = ""  # the module's name as torch spells it, where the spec's differs (a spec name has no 'ü')
    branch: bool = False  # a concat branch: written as the branch itself, so never folded into a call
    keys: frozenset[str] = frozenset()
    reads: frozenset[str] = frozenset()
    out: str = ""


@dataclass(eq=False)
class Struct:
    """A recovered structure: ``residual`` (branches: body, shortcut), ``gate`` (body) or ``concat``
    (branches: a Scope each, or None for the identity), joined by ``join`` on the input ``x``."""

    op: str
    branches: list[list[Item]]
    join: Layer
    x: str
    names: list[str] = field(default_factory=list)  # concat: the branches' names
    keys: frozenset[str] = frozenset()
    reads: frozenset[str] = frozenset()

    @property
    def out(self) -> str:
        return self.join.out


@dataclass(eq=False)
class Call:
    """A folded module: a block call (``repeat`` > 0: the iterations of an nn.Sequential of them), or (``flat``) a run of
    a group of layers repeated in a flat nn.Sequential (VGG's conv, ReLU pairs), named where they are."""

    name: str
    block: Any  # fold.Block
    values: list[dict[str, Any]]  # per iteration: parameter -> value
    entry: str
    out: str
    keys: frozenset[str]
    reads: frozenset[str]
    iter_outs: tuple[str, ...] = ()  # repeat: each iteration's output key
    repeat: int = 0
    each: str = ""  # repeat: its iterations are named this and their index (RegNet's 'block2-': block2-0, block2-1...)
    flat: bool = False  # `scope: false`: the block's layers are named in the enclosing scope (a flat nn.Sequential's run)
    layers: tuple[tuple[str, str], ...] = ()  # flat: (key, name) of every layer it names there, in order


Item = Union[Layer, Scope, Struct, Call]


def finish(item: Scope | Struct) -> None:
    """Set the keys an element produces and the keys it reads from outside."""
    children = list(walk_items(item))
    keys = frozenset().union(*(c.keys for c in children))
    if isinstance(item, Struct):
        keys |= item.join.keys
        reads = frozenset().union(*(c.reads for c in children), item.join.reads, {item.x})
    else:
        reads = frozenset().union(*(c.reads for c in children))
        item.out = children[-1].out if children else ""
    item.keys, item.reads = keys, reads - keys


def item_lists(item: Scope | Struct) -> Iterator[list[Item]]:
    """The lists of elements inside: a scope's, or a structure's branches."""
    if isinstance(item, Scope):
        yield item.items
    else:
        yield from item.branches


def walk_items(item: Scope | Struct) -> Iterator[Item]:
    for lst in item_lists(item):
        yield from lst


def finish_all(item: Scope | Struct) -> None:
    """:func:`finish` every scope and structure inside ``item``, innermost first, then ``item``."""
    for it in walk_items(item):
        if isinstance(it, (Scope, Struct)):
            finish_all(it)
    finish(item)


def scopes(layers: Sequence[ImportedLayer], classes: Mapping[str, str]) -> Scope:
    """The layers nested into their module scopes, in order; a scope the forward leaves and enters again
    is a second scope of the same name (the writer renames it)."""
    root = Scope("", [], ())
    stack = [root]
    for layer in layers:
        scope = layer.path[:-1]
        depth = 0
        while depth < len(scope) and depth + 1 < len(stack) and stack[depth + 1].name == scope[depth]:
            depth += 1
        del stack[depth + 1:]
        torch_parts = layer.source.split(".") if layer.source else []
        for part in scope[depth:]:
            path = (*stack[-1].path, part)
            child = Scope(part, [], path, classes.get(".".join(path), ""))
            k = len(path) - 1
            if k < len(torch_parts) and torch_parts[k] != part:
                child.source = torch_parts[k]
            stack[-1].items.append(child)
            stack.append(child)
        stack[-1].items.append(Layer(layer))
    finish_all(root)
    return root



# ---- structure recovery ------------------------------------------------------------------------
def readers_of(layers: Sequence[ImportedLayer], outputs: Sequence[str]) -> dict[str, set[str]]:
    readers: dict[str, set[str]] = {}
    for layer in layers:
        for k in layer.inputs:
            readers.setdefault(k, set()).add(layer.key)
    for k in outputs:
        readers.setdefault(k, set()).add(OUTPUT)
    return readers


def recover(scope: Scope, readers: Mapping[str, set[str]]) -> None:
    """Rewrite, inside out, each join whose inputs all come from one point into its structure."""
    for item in scope.items:
        if isinstance(item, Scope):
            recover(item, readers)
    j = 0
    shortcut = False  # a scope holds one residual shortcut: the spec names its scope 'shortcut'
    while j < len(scope.items):
        item = scope.items[j]
        if isinstance(item, Layer) and item.layer.op in ("add", "multiply", "concat") and not _general(item.layer):
            found = _structure(scope.items, j, readers)
            if found is not None and found[1].op == "residual" and found[1].branches[1] and "shortcut" in \
                    _names_here(scope.items[:found[0]] + scope.items[j + 1:] + found[1].branches[0]):
                found = None  # something else written in the scope is named 'shortcut' already
            if found is not None and not (shortcut and found[1].op == "residual" and found[1].branches[1]):
                i, struct = found
                shortcut |= struct.op == "residual" and bool(struct.branches[1])
                scope.items[i:j + 1] = [struct]
                j = i
        j += 1
    finish(scope)


def _general(layer: ImportedLayer) -> bool:
    """A join written as a general op (a number or a learned tensor as an operand, a dim other than the channels):
    no structure."""
    return any(layer.args.get(k) not in (None, False) for k in ("scalar", "param", "buffer", "const", "reverse")) or \
        layer.args.get("dim") not in (None, 1)


def _names_here(items: list[Item]) -> set[str]:
    """The names the items give in the scope they are written in (a residual's body and a gate's are written there)."""
    names: set[str] = set()
    for it in items:
        if isinstance(it, Layer):
            names.add(it.layer.path[-1])
        elif isinstance(it, Scope):
            names.add(it.name)
        elif isinstance(it, Struct) and it.op in ("residual", "gate"):
            names |= _names_here(it.branches[0])
    return names


def _structure(items: list[Item], j: int, readers: Mapping[str, set[str]]) -> tuple[int, Struct] | None:
    """The smallest run items[i:j] that, with the join items[j], is one structure on one input x."""
    join = items[j]
    assert isinstance(join, Layer)
    ins = join.layer.inputs
    if len(ins) < 2 or len(set(ins)) != len(ins):
        return None
    region: set[str] = set()
    need: set[str] = set()
    for i in range(j - 1, -1, -1):
        item = items[i]
        if any(r not in region and r not in item.keys and r != join.out for k in item.keys for r in readers.get(k, ())):
            return None  # read after the join: this run and every larger one is not closed
        region |= item.keys
        need = (need - item.keys) | set(item.reads - region)
        x = items[i - 1].out if i > 0 else (next(iter(need)) if len(need) == 1 else None)
        if x is None or not need <= {x}:
            continue
        outs = {it.out: it for it in items[i:j]}
        if not all(k == x or k in outs for k in ins):
            continue
        struct = _partition(items[i:j], join, x)
        if struct is not None:
            finish(struct)
            return i, struct
    return None


def _partition(run: list[Item], join: Layer, x: str) -> Struct | None:
    """The run split into one branch per join input (its producers back to x), if they cover it disjointly."""
    producer = {k: it for it in run for k in it.keys}
    branches: list[list[Item]] = []
    seen: set[int] = set()
    for k in join.layer.inputs:
        if k == x:
            branches.append([])
            continue
        members: set[int] = set()
        todo = [producer[k]]
        while todo:
            it = todo.pop()
            if id(it) in members:
                continue
            members.add(id(it))
            todo.extend(producer[r] for r in it.reads if r in producer)
        if members & seen:
            return None
        seen |= members
        branches.append([it for it in run if id(it) in members])
    if len(seen) != len(run):
        return None
    op = join.layer.op
    if op == "add" and len(branches) == 2 and any(branches):
        body, shortcut = branches if branches[0] and (not branches[1] or _body_first(run, branches[0], branches[1])) \
            else branches[::-1]
        if shortcut and "shortcut" in _names_here(body):  # a module named 'shortcut' in the body: it is the shortcut
            body, shortcut = shortcut, body
        if shortcut and "shortcut" in _names_here(body):
            return None
        return Struct("residual", [body, shortcut], join, x)
    if op == "multiply" and len(branches) == 2 and sum(1 for b in branches if b) == 1:
        return Struct("gate", [next(b for b in branches if b)], join, x)
    if op == "concat" and _is_split(branches, x):
        return Struct("split", branches, join, x, _branch_names([b[1] if len(b) > 1 else None for b in branches]))
    if op == "concat" and all(not b or (len(b) == 1 and isinstance(b[0], Scope)) for b in branches):
        return Struct("concat", branches, join, x, _branch_names([b[0] if b else None for b in branches]))
    return None


def _is_split(branches: list[list[Item]], x: str) -> bool:
    """ShuffleNetV2's ``x1, x2 = x.chunk(2, 1); cat([x1, branch2(x2)])``: branch k is part k of x (a `chunk`
    layer) and at most one module reading it, the parts all of one split of x, joined in order."""
    chunks = [b[0].layer for b in branches if b and isinstance(b[0], Layer) and b[0].layer.op == "chunk"]
    if len(chunks) != len(branches) or len(branches) < 2:
        return False
    split = {(c.args.get("parts"), tuple(c.args.get("sizes") or ())) for c in chunks}
    parts = len(chunks[0].args.get("sizes") or ()) or chunks[0].args.get("parts") or 2
    if len(split) != 1 or parts != len(branches):
        return False
    for k, b in enumerate(branches):
        c = b[0]
        assert isinstance(c, Layer)
        if c.layer.inputs != (x,) or c.layer.args.get("index") != k or len(b) > 2:
            return False
        if len(b) == 2 and not (isinstance(b[1], Scope) and b[1].reads == {c.out}):
            return False
    return True


def _branch_names(scopes: list[Any]) -> list[str]:
    """A branch is named after its module (whose scope it becomes); one without is 'identity' (then 'identity_2')."""
    names = [s.name if isinstance(s, Scope) else "" for s in scopes]
    taken = {n for n in names if n}
    for k, n in enumerate(names):
        if not n:
            names[k] = unique("identity", taken)
    for sc in scopes:
        if isinstance(sc, Scope):
            sc.branch = True
    return names


def _body_first(run: list[Item], a: list[Item], b: list[Item]) -> bool:
    """Branch ``a`` of an add is the residual's body, ``b`` its shortcut: the one with more layers is the body (RegNet's
    ``proj(x) + f(x)`` is f's residual with a projection shortcut, as its blocks without ``proj`` are f's residual
    with the identity: one block folds both), else the one that runs first."""
    na, nb = _count(a), _count(b)
    return na > nb if na != nb else run.index(a[0]) < run.index(b[0])


def _count(items: list[Item]) -> int:
    return sum(_count(lst) for it in items if isinstance(it, (Scope, Struct)) for lst in item_lists(it)) + \
        sum(1 for it in items if isinstance(it, (Layer, Call)))

