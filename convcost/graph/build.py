"""Layer graph with shapes: the spec expanded (blocks, repeats, macros) into a DAG of op nodes.

Naming: every layer gets a dotted path. Inside a scope, unnamed layers are called after their op
with a per-scope counter (conv1, bn1, conv2...). Block calls, repeats, named seqs, branches and
shortcuts open scopes; unnamed residual/concat/gate structures are transparent, so a ResNet
bottleneck reads layer1.0.conv1 ... layer1.0.shortcut.conv1 like torchvision.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import Loc, SpecError, UsageError, did_you_mean
from ..frontend.expr import substitute
from ..frontend.source import YMap, YNode, YScalar, YSeq, shorten, type_name
from ..frontend.spec import ITEM_KEYS, NAME_RE, Branch, Item, ModelSpec, SpecFile, check_name_length
from ..ops.macros import MACROS
from ..ops.registry import ArgError, NoArgs, OpRule, Shape, ShapeError, _show, pos_int
from ..ops.registry import arg_fields as _fields_of
from ..ops.registry import rule as op_rule
from ..util.gcpause import paused_gc

INPUT = -1
INPUT_NAME = "input"  # how outputs name the model input (JSON 'inputs'): no top-level layer may take it
MAX_LAYERS = 50_000  # the largest CNNs have a few thousand; rendering 50,000 takes seconds
MAX_REPEAT = 10_000
MAX_BATCH = 1_000_000
MAX_NESTING = 64
# Work budget of one model's expansion, in steps: a layer instance visited (even one that 'when'
# skips), a block call, an expression evaluated, each scope level of an emitted layer: 1 each; a
# repeat iteration (it opens a scope that is kept): ITERATION_STEPS; an expression: 1 per 2 characters;
# larger environments cost proportionally more. A step is about a microsecond of work. It bounds the time and
# memory of building AND analysing/rendering a graph whatever the spec does (docs/limits.md).
MAX_STEPS = 1_000_000
ITERATION_STEPS = 4
LIST_ITEMS_PER_STEP = 2  # building a list value from the spec: 1 step per 2 items
NAME_CHARS_PER_STEP = 8  # an emitted layer's dotted name is kept and printed several times: 1 step per 8 characters


@dataclass(frozen=True)
class Node:
    """One op in the graph. ``inputs`` are node indices (INPUT for the model input)."""

    index: int
    name: str
    op: str
    args: Any
    inputs: tuple[int, ...]
    in_shapes: tuple[Shape, ...]
    shape: Shape
    scope: tuple[str, ...]
    loc: Loc

    @property
    def rule(self) -> OpRule:
        return op_rule(self.op)

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class Scope:
    """A named group of layers: a block call, a repeat and its iterations, a branch, a shortcut."""

    path: tuple[str, ...]
    kind: str
    label: str
    loc: Loc

    @property
    def name(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class Graph:
    model: str
    file: str
    batch: int
    input_shape: Shape
    nodes: tuple[Node, ...]
    scopes: tuple[Scope, ...]
    description: str = ""

    @property
    def output(self) -> Node:
        return self.nodes[-1]

    def shape_of(self, index: int) -> Shape:
        return self.input_shape if index == INPUT else self.nodes[index].shape


def got(node: YNode, value: Any) -> str:
    """What a value turned out to be, for a message: the value of an expression beside its text."""
    if isinstance(node, YScalar) and isinstance(node.value, str) and "$" in node.value:
        return f"{shorten(_show(value))} (from '{shorten(node.value)}')"
    return type_name(node)


@dataclass
class _Frame:
    """Naming state of one scope."""

    path: tuple[str, ...]
    counters: Counter[str] = field(default_factory=Counter)
    taken: dict[str, Loc] = field(default_factory=dict)


def build_graph(spec: SpecFile, model: str, batch: int | None = None) -> Graph:
    found = spec.model(model)
    with paused_gc():
        return _Builder(spec, found).build(batch)


def first_iteration(item: Item) -> Item:
    """The item with its ``first:`` arguments laid over its own (the first iteration of a repeat)."""
    assert item.args is not None and item.first is not None
    items = {k: v for k, v in item.args.items.items() if k != "first"} | item.first.items
    keys = {k: v for k, v in item.args.keys.items() if k != "first"} | item.first.keys
    return dataclasses.replace(item, args=YMap(items, keys, item.args.loc), first=None)


class _Builder:
    def __init__(self, spec: SpecFile, model: ModelSpec) -> None:
        self.spec = spec
        self.model = model
        self.nodes: list[Node] = []
        self.scopes: list[Scope] = []
        self.batch = 1
        self.input_shape: Shape = ()
        self.calls: list[str] = []
        self.globals: dict[str, Any] = {}  # file and model vars: visible in every block
        self.steps = 0
        self.other_steps = sum(n for m, n in spec.work.items() if m != model.name)  # the file's other models

    # ---- entry ---------------------------------------------------------------------------
    def build(self, batch: int | None) -> Graph:
        env = self.env_with({}, self.spec.vars)
        env = self.env_with(env, self.model.vars)
        self.globals = env
        inp = self.model.input
        dims = []
        for d in inp.shape:
            dims.append(self.int_value(d, env, "input size"))
        self.input_shape = tuple(dims)
        if batch is not None:
            if batch > MAX_BATCH:
                raise UsageError(f"--batch {batch:,} is too large (limit {MAX_BATCH:,}, see docs/limits.md)")
            self.batch = batch
        else:
            self.batch = self.int_value(inp.batch, env, "batch") if inp.batch else 1
            if self.batch > MAX_BATCH:
                raise SpecError(
                    f"batch {self.batch:,} is too large (limit {MAX_BATCH:,}, see docs/limits.md)",
                    inp.batch.loc if inp.batch else inp.loc,
                )
        if not self.model.layers:
            raise SpecError(f"model '{self.model.name}' has an empty 'layers' list; add at least one layer", self.model.loc)
        self.seq(self.model.layers, env, INPUT, _Frame(()), 0)
        if not self.nodes:
            raise SpecError(
                f"model '{self.model.name}' has no layers: 'when' conditions skipped them all or its structures are "
                "empty",
                self.model.loc,
            )
        used = {n.scope[:k] for n in self.nodes for k in range(1, len(n.scope) + 1)}
        scopes = tuple(s for s in self.scopes if s.path in used)  # drop scopes left empty by 'when'
        self.spec.work[self.model.name] = self.steps
        return Graph(
            self.model.name, self.spec.path, self.batch, self.input_shape, tuple(self.nodes), scopes,
            self.model.description,
        )

    def spend(self, steps: int, loc: Loc) -> None:
        """Charge ``steps`` to the work budget; past MAX_STEPS the build stops with a message."""
        self.steps += steps
        if self.steps + self.other_steps > MAX_STEPS:
            what = f"model '{self.model.name}'" if not self.other_steps else (
                f"the models of this spec (up to model '{self.model.name}')"
            )
            raise SpecError(
                f"{what} take{'s' if not self.other_steps else ''} more than {MAX_STEPS:,} steps to expand "
                "(limit, see docs/limits.md); lower 'repeat' counts, nesting or the number of layers",
                loc,
            )

    # ---- values ----------------------------------------------------------------------------
    def env_with(self, env: Mapping[str, Any], vars_node: YMap | None) -> dict[str, Any]:
        out = dict(env)
        if vars_node:
            for key, node in vars_node.items.items():
                out[key] = self.value(node, out)
        return out

    def value(self, node: YNode, env: Mapping[str, Any]) -> Any:
        if isinstance(node, YScalar):
            if isinstance(node.value, str) and "$" in node.value:
                self.spend(1 + len(node.value) // 2, node.loc)  # evaluating costs ~0.7 µs per character
                # calls and comparisons over big lists cost their size (expr.SIZE_PER_STEP)
                return substitute(node.value, env, node.loc, lambda steps: self.spend(steps, node.loc))
            return node.value
        if isinstance(node, YSeq):
            self.spend(len(node.items) // LIST_ITEMS_PER_STEP, node.loc)  # a list is built again at every use
            return [self.value(n, env) for n in node.items]
        raise SpecError("expected a number, string, boolean or list here, got a mapping", node.loc)

    def int_value(self, node: YNode, env: Mapping[str, Any], what: str) -> int:
        try:
            return pos_int(self.value(node, env))
        except ArgError as e:
            raise SpecError(f"{what} {e}", node.loc) from None

    def make_args(self, args_type: type, args: YMap | None, env: Mapping[str, Any], what: str, loc: Loc) -> Any:
        kwargs: dict[str, Any] = {}
        fields = _fields_of(args_type)
        for key, node in (args.items.items() if args else ()):
            if key in ITEM_KEYS:
                continue
            f = fields[key]  # names were checked by the spec parser
            value = self.value(node, env)
            try:
                kwargs[key] = f.metadata["convert"](value)
            except ArgError as e:
                raise SpecError(f"{what}: '{key}' {e}", node.loc) from None
        for name, f in fields.items():
            if name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise SpecError(f"{what}: missing required argument '{name}'", loc)
        return args_type(**kwargs)

    # ---- names -----------------------------------------------------------------------------
    def name_in(self, frame: _Frame, item_name: YNode | None, hint: str, env: Mapping[str, Any], loc: Loc) -> str:
        if item_name is not None:
            value = self.value(item_name, env)
            if not isinstance(value, str) or not NAME_RE.fullmatch(value):
                raise SpecError(
                    f"layer name must be letters, digits, '_' or '-', got {type_name(item_name)}", item_name.loc
                )
            check_name_length(value, "layer name", item_name.loc)
            if value == INPUT_NAME and not frame.path:
                raise SpecError(
                    f"layer name '{INPUT_NAME}' is reserved at the top level: it names the model's input (as in the "
                    "JSON 'inputs' lists); choose another name",
                    item_name.loc,
                )
            if value in frame.taken:
                first = frame.taken[value]
                raise SpecError(f"duplicate layer name '{shorten(value)}' (first used at line {first.line})", item_name.loc)
            frame.taken[value] = item_name.loc
            return value
        while True:
            frame.counters[hint] += 1
            candidate = f"{hint}{frame.counters[hint]}"
            if candidate not in frame.taken:
                frame.taken[candidate] = loc
                return candidate

    def open_scope(self, frame: _Frame, name: str, kind: str, label: str, loc: Loc) -> _Frame:
        path = (*frame.path, name)
        self.scopes.append(Scope(path, kind, label, loc))
        return _Frame(path)

    # ---- structure -------------------------------------------------------------------------
    def seq(self, items: tuple[Item, ...], env: Mapping[str, Any], inp: int, frame: _Frame, depth: int) -> int:
        for item in items:
            inp = self.item(item, env, inp, frame, depth)
        return inp

    def item_env(self, env: Mapping[str, Any], inp: int) -> dict[str, Any]:
        shape = self.shape_of(inp)
        out = dict(env)
        out["in_channels"] = shape[0] if shape else 1
        if len(shape) >= 3:  # C×H×W and C×D×H×W
            out["in_height"], out["in_width"] = shape[-2], shape[-1]
        return out

    def shape_of(self, index: int) -> Shape:
        return self.input_shape if index == INPUT else self.nodes[index].shape

    def item(self, item: Item, env: Mapping[str, Any], inp: int, frame: _Frame, depth: int) -> int:
        if depth > MAX_NESTING:
            raise SpecError(
                f"layers are nested more than {MAX_NESTING} levels deep (limit, see docs/limits.md); "
                "flatten some blocks or seqs",
                item.loc,
            )
        self.spend(1 + len(env) // 16, item.loc)
        env = self.item_env(env, inp)
        if item.when is not None:
            cond = self.value(item.when, env)
            if not isinstance(cond, bool):
                raise SpecError(f"'when' must be true or false, got {got(item.when, cond)}", item.when.loc)
            if not cond:
                return inp
        if item.repeat is None:
            return self.once(item, env, inp, frame, depth)
        times = self.value(item.repeat, env)
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise SpecError(f"'repeat' must be a positive integer, got {got(item.repeat, times)}", item.repeat.loc)
        if times > MAX_REPEAT:
            raise SpecError(
                f"'repeat: {times:,}' is more than the limit of {MAX_REPEAT:,} (see docs/limits.md)", item.repeat.loc
            )
        name = self.name_in(frame, item.name, self.hint(item), env, item.loc)
        outer = self.open_scope(frame, name, "repeat", f"{item.op} ×{times}", item.loc)
        for i in range(times):
            self.spend(ITERATION_STEPS + len(env) // 16, item.loc)
            inner_env = self.item_env({**env, "i": i}, inp)
            inner = self.open_scope(outer, str(i), "iteration", item.op, item.loc)
            this = first_iteration(item) if i == 0 and item.first is not None else item
            inp = self.once(this, inner_env, inp, inner, depth + 1, scoped=True)
        return inp

    def hint(self, item: Item) -> str:
        return item.word or item.op

    def once(
        self, item: Item, env: Mapping[str, Any], inp: int, frame: _Frame, depth: int, scoped: bool = False
    ) -> int:
        """One instance of an item. ``scoped``: ``frame`` is already this item's own scope."""
        if item.kind == "op":
            name = frame.path[-1] if scoped else self.name_in(frame, item.name, self.hint(item), env, item.loc)
            path = frame.path[:-1] if scoped else frame.path
            rule = op_rule(item.op)
            args = self.make_args(rule.args, item.args, env, f"{item.op} '{'.'.join((*path, name))}'", item.loc)
            return self.emit(rule, args, (inp,), path, name, item)
        if item.kind == "macro":
            return self.macro(item, env, inp, frame, scoped)
        if item.kind == "block":
            return self.block(item, env, inp, frame, depth, scoped)
        return self.struct(item, env, inp, frame, depth, scoped)

    def macro(self, item: Item, env: Mapping[str, Any], inp: int, frame: _Frame, scoped: bool) -> int:
        m = MACROS[item.op]
        label = ".".join(frame.path) if scoped else None
        name = frame.path[-1] if scoped else self.name_in(frame, item.name, item.op, env, item.loc)
        path = frame.path[:-1] if scoped else frame.path
        full = ".".join((*path, name)) if label is None else label
        args = self.make_args(m.args, item.args, env, f"{item.op} '{full}'", item.loc)
        try:
            parts = m.expand(args, self.shape_of(inp))
        except ShapeError as e:
            raise SpecError(f"{item.op} '{full}': {e.message}", self.arg_loc(item, e.arg)) from None
        if len(parts) == 1:
            hint, op, op_args = parts[0]
            rule = op_rule(op)
            return self.emit(rule, op_args, (inp,), path, name, item)
        inner = frame if scoped else self.open_scope(frame, name, "macro", item.op, item.loc)
        for hint, op, op_args in parts:
            rule = op_rule(op)
            inp = self.emit(rule, op_args, (inp,), inner.path, self.name_in(inner, None, hint, env, item.loc), item)
        return inp

    def block(
        self, item: Item, env: Mapping[str, Any], inp: int, frame: _Frame, depth: int, scoped: bool
    ) -> int:
        block = self.spec.blocks[item.op]
        if item.op in self.calls:
            chain = " → ".join([*self.calls[self.calls.index(item.op):], item.op])
            raise SpecError(f"block '{item.op}' uses itself ({chain})", item.loc)
        inner = frame if scoped else self.open_scope(
            frame, self.name_in(frame, item.name, item.op, env, item.loc), "block", item.op, item.loc
        )
        if scoped:
            self.scopes[-1] = Scope(frame.path, "block", item.op, item.loc)
        args = item.args.items if item.args else {}
        for key, kloc in (item.args.keys.items() if item.args else ()):
            if key not in block.params and key not in ITEM_KEYS:
                params = ", ".join(block.params) or "none"
                raise SpecError(
                    f"block '{item.op}' has no parameter '{shorten(key)}'{did_you_mean(key, list(block.params))}; "
                    f"its parameters: {params}",
                    kloc,
                )
        self.spend(1 + (len(self.globals) + len(block.params)) // 16, item.loc)
        local: dict[str, Any] = dict(self.globals)
        for pname, default in block.params.items():
            if pname in args:
                local[pname] = self.value(args[pname], env)
            elif default is not None:
                local[pname] = self.value(default, local)
            else:
                raise SpecError(f"block '{item.op}' needs parameter '{pname}'; pass it: '{item.op}: {{{pname}: ...}}'", item.loc)
        local = self.env_with(self.item_env(local, inp), block.vars)
        self.calls.append(item.op)
        try:
            return self.seq(block.layers, local, inp, inner, depth + 1)
        finally:
            self.calls.pop()

    def struct(
        self, item: Item, env: Mapping[str, Any], inp: int, frame: _Frame, depth: int, scoped: bool
    ) -> int:
        if item.op == "seq":
            inner = frame if scoped else self.open_scope(
                frame, self.name_in(frame, item.name, "seq", env, item.loc), "seq", "seq", item.loc
            )
            return self.seq(item.branches[0].items, env, inp, inner, depth + 1)
        # Parallel structures: transparent unless named (or repeated).
        if scoped:
            inner = frame
        elif item.name is not None:
            inner = self.open_scope(frame, self.name_in(frame, item.name, item.op, env, item.loc), item.op, item.op, item.loc)
        else:
            inner = frame
        if item.op == "residual" and not self.connected(item, env):  # the body alone: no shortcut, no add
            return self.seq(item.branches[0].items, env, inp, inner, depth + 1)
        join = {"residual": "add", "gate": "multiply"}.get(item.op, item.op)
        branches: tuple[Branch, ...] = item.branches
        if item.op == "gate":
            branches = (Branch("identity", (), item.loc), branches[0])
        outs = []
        for br in branches:
            if not br.items:
                outs.append(inp)  # an empty branch is the identity
                continue
            if item.op in ("residual", "gate") and br.name is None:  # the body lives in the enclosing scope
                outs.append(self.seq(br.items, env, inp, inner, depth + 1))
                continue
            # unnamed branches count on in their scope: branch1, branch2, then branch3... for the next
            bname = self.name_in(inner, None, "branch", env, br.loc) if br.name is None else self.branch_name(inner, br)
            bframe = self.open_scope(inner, bname, "branch", f"{item.op} branch", br.loc)
            outs.append(self.seq(br.items, env, inp, bframe, depth + 1))
        rule = op_rule(join)
        name = self.name_in(inner, None, join, env, item.loc)
        return self.emit(rule, NoArgs(), tuple(outs), inner.path, name, item)

    def connected(self, item: Item, env: Mapping[str, Any]) -> bool:
        node = item.args.get("connect") if item.args else None
        if node is None:
            return True
        value = self.value(node, env)
        if not isinstance(value, bool):
            raise SpecError(f"'connect' must be true or false, got {got(node, value)}", node.loc)
        return value

    def branch_name(self, frame: _Frame, br: Branch) -> str:
        assert br.name is not None
        if br.name in frame.taken:
            raise SpecError(f"duplicate name '{shorten(br.name)}' in this scope", br.loc)
        frame.taken[br.name] = br.loc
        return br.name

    # ---- emit ------------------------------------------------------------------------------
    def arg_loc(self, item: Item, arg: str | None) -> Loc:
        if arg and item.args and arg in item.args.items:
            return item.args.items[arg].loc
        return item.loc

    def emit(self, rule: OpRule, args: Any, inputs: tuple[int, ...], path: tuple[str, ...], name: str, item: Item) -> int:
        if len(self.nodes) >= MAX_LAYERS:
            raise SpecError(
                f"model has more than {MAX_LAYERS:,} layers (limit, see docs/limits.md); lower 'repeat' counts",
                item.loc,
            )
        full = ".".join((*path, name))
        # analysis and renderers do work per scope level of each layer, and hold and print its dotted name
        self.spend(1 + len(path) + len(full) // NAME_CHARS_PER_STEP, item.loc)
        in_shapes = tuple(self.shape_of(i) for i in inputs)
        try:
            if rule.resolve is not None:  # arguments fitted to the input's rank (ops/spatial.py)
                args = rule.resolve(args, in_shapes)
            shape = rule.shape(args, in_shapes)
        except ShapeError as e:
            raise SpecError(f"{rule.name} '{full}': {e.message}", self.arg_loc(item, e.arg)) from None
        node = Node(len(self.nodes), full, rule.name, args, inputs, in_shapes, shape, path, item.loc)
        self.nodes.append(node)
        return node.index
