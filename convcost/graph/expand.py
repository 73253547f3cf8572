"""Expansion: the spec's layers (ops, macros, block calls, repeats, structures) into op nodes.

Naming: every layer gets a dotted path. Inside a scope, unnamed layers are called after their op
with a per-scope counter (conv1, bn1, conv2...). Block calls, repeats, named seqs, branches and
shortcuts open scopes; unnamed residual/concat/gate structures are transparent, so a ResNet
bottleneck reads layer1.0.conv1 ... layer1.0.shortcut.conv1 like torchvision.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import Loc, SpecError, did_you_mean
from ..frontend.source import YMap, YNode, YScalar, YSeq, shorten
from ..frontend.spec import (
    JOINS,
    LAYER_KEYS,
    NO_OP,
    BlockSpec,
    Branch,
    Item,
    SpecFile,
    check_keys,
    op_arg_names,
    resolve_op,
    scope_misplaced,
)
from ..frontend.structures import STRUCTURES
from ..ops.counting import FORMS, FUNCTION, MODULE, SUBCLASS
from ..ops.registry import MACROS, MANY, ArgError, OpRule, Shape, ShapeError, _show
from ..ops.registry import rule as op_rule
from ..ops.shapes import is_tokens
from .limits import ITERATION_STEPS, MAX_LAYERS, MAX_NESTING, MAX_RECURSION, MAX_REPEAT, NAME_CHARS_PER_STEP, LimitError
from .naming import Frame, Names, auto_name
from .nodes import Input, Node, producer
from .values import Values, got

if TYPE_CHECKING:
    from ..ops.resample import ChunkArgs


class InBlock(SpecError):
    """An error inside a block's layers, with the call that reached it ('... (in block 'b' called at L:C)')."""


def first_iteration(item: Item) -> Item:
    """The item with its ``first:`` arguments laid over its own (the first iteration of a repeat)."""
    assert item.args is not None and item.first is not None
    items = {k: v for k, v in item.args.items.items() if k != "first"} | item.first.items
    keys = {k: v for k, v in item.args.keys.items() if k != "first"} | item.first.keys
    return item._replace(args=YMap(items, keys, item.args.loc), first=None)


class FlatCall:
    """A block call, seq or iteration with ``scope: false``: its layers are named in the enclosing scope ('conv2' after
    a conv1 there), and read one another by the names they would have in a scope of their own ('conv1')."""

    __slots__ = ("counters", "names")

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.names: dict[str, str] = {}  # its own name -> the name in the caller's scope

    def name(self, given: str, written: bool, hint: str) -> None:
        own = given if written else auto_name(hint, self.counters, self.names)
        self.names[own] = given


class Expander:
    """Emits the nodes of one model. ``inp`` arguments are the index of the node feeding a layer."""

    def __init__(self, spec: SpecFile, values: Values, names: Names, inputs: tuple[Input, ...]) -> None:
        self.spec = spec
        self.values = values
        self.budget = values.budget
        self.names = names
        self.inputs = inputs
        self.nodes: list[Node] = []
        self.calls: list[str] = []  # the blocks being expanded, outermost first
        self.call_items: list[Item] = []  # their calls
        self.globals: dict[str, Any] = {}  # file and model vars: visible in every block
        # Every output a later layer may read by name: the model's inputs, each node, each finished scope.
        self.produced: dict[str, int] = {i.name: i.index for i in inputs}
        self.iterations: dict[str, list[int]] = {}  # a repeat's scope -> its iterations' outputs, in order ('m.*')
        self.model_layers: tuple[Item, ...] = ()  # for messages
        self.form = MODULE  # how layers meet torch: the 'torch' of the innermost item that sets it (else the model's)
        self.form_at: Loc | None = None  # where an op's own 'torch' key is: its op must have that form
        self.frozen = False  # the 'frozen' of the innermost item that sets it (else the model's, the file's)
        # The block calls, seqs and iterations with 'scope: false' being expanded, innermost last: the enclosing scope's
        # path and the names their layers would have had in a scope of their own ('conv1') -> the names they have there.
        self.flat_calls: list[tuple[tuple[str, ...], FlatCall]] = []

    def shape_of(self, index: int) -> Shape:
        return producer(self.inputs, self.nodes, index).shape

    def name_of(self, index: int) -> str:
        return producer(self.inputs, self.nodes, index).name

    def close(self, frame: Frame, out: int) -> int:
        """A scope is complete: its name now stands for its output."""
        self.produced[".".join(frame.path)] = out
        return out

    # ---- references ('from') -----------------------------------------------------------------
    def resolve(self, node: YNode, env: Mapping[str, Any], frame: Frame, what: str = "from") -> int:
        """The output a name refers to, looked up from ``frame`` outwards (a relative name inside a
        block or scope, or the full dotted path as `analyze` shows it)."""
        ref = self.values.value(node, env)
        if isinstance(ref, int) and not isinstance(ref, bool) and ref >= 0:
            ref = str(ref)  # a numeric name: 'from: 6'
        if not isinstance(ref, str) or not ref:
            raise SpecError(f"'{what}' must name an earlier output, got {got(node, ref)}", node.loc)
        return self.lookup(ref, node, frame, what)

    def lookup(self, ref: str, node: YNode, frame: Frame, what: str) -> int:
        path = frame.path
        self.budget.spend(1 + len(path), node.loc)
        for k in range(len(path), -1, -1):
            found = self.produced.get(".".join((*path[:k], self.own(ref, path[:k]))))
            if found is not None:
                return found
        raise SpecError(self.unknown(ref, path, node.loc, what), node.loc)

    def own(self, ref: str, path: tuple[str, ...]) -> str:
        """``ref`` as read in scope ``path``: inside a block called there with ``scope: false``, a name the block gives
        one of its own layers ('conv1') is that layer, whatever the caller's scope calls it ('conv2')."""
        for at, call in reversed(self.flat_calls):
            if at == path:
                head, dot, rest = ref.partition(".")
                if head in call.names:
                    return call.names[head] + dot + rest
        return ref

    def resolve_all(self, node: YNode, env: Mapping[str, Any], frame: Frame) -> list[int]:
        """One entry of a join's 'from' list: a name, or 'name.*' for every iteration of a repeat in order
        (C2f's ``[cv1, m.*]``: the outputs of m.0, m.1...)."""
        ref = self.values.value(node, env)
        if not (isinstance(ref, str) and ref.endswith(".*")):
            return [self.resolve(node, env, frame)]
        head = ref[:-2]
        self.lookup(head, node, frame, "from")  # an unknown name fails here, with its message
        full = next(
            p for k in range(len(frame.path), -1, -1)
            if (p := ".".join((*frame.path[:k], self.own(head, frame.path[:k])))) in self.produced
        )
        found = list(self.iterations.get(full, ()))  # a repeat's iterations (named 0, 1... or by 'each')
        while full not in self.iterations and (i := self.produced.get(f"{full}.{len(found)}")) is not None:
            found.append(i)  # a scope of outputs named 0, 1...
        if not found:
            raise SpecError(f"'{shorten(ref)}' reads every iteration of a repeat, but '{shorten(head)}' has none "
                            f"('{shorten(head)}.0' ...)", node.loc)
        self.budget.spend(len(found), node.loc)
        return found

    def unknown(self, ref: str, path: tuple[str, ...], loc: Loc, what: str) -> str:
        shown = shorten(ref)
        for k in range(len(path), 0, -1):
            if ".".join(path[:k]) in (ref, ".".join((*path[:k - 1], ref))):
                return f"'{shown}' is still being built here ('{what}' is inside it); read an output of a layer before it"
        later = _written_names(self.spec, self.model_layers).get(ref.rsplit(".", 1)[-1])
        if later is not None and later.file == loc.file and (later.line, later.col) > (loc.line, loc.col):
            return (
                f"'{shown}' refers forward: it is defined at line {later.line}, after this layer; "
                "a layer can read only the outputs of layers before it"
            )
        visible: set[str] = set()
        for name in self.produced:
            for k in range(len(path), -1, -1):
                prefix = ".".join(path[:k])
                if not prefix or name.startswith(prefix + "."):
                    visible.add(name[len(prefix) + 1:] if prefix else name)
                    break
        return f"unknown name '{shown}' in '{what}'{did_you_mean(ref, visible)}; it must name an earlier layer or input"

    def item_env(self, env: Mapping[str, Any], inp: int) -> dict[str, Any]:
        shape = self.shape_of(inp)
        out = dict(env)
        out["in_channels"] = shape[-1] if is_tokens(shape) else (shape[0] if shape else 1)  # tokens: their width D
        if len(shape) >= 3:  # C×H×W and C×D×H×W
            out["in_height"], out["in_width"] = shape[-2], shape[-1]
        return out

    def name_in(self, frame: Frame, item: Item, hint: str, env: Mapping[str, Any]) -> str:
        written = self.values.value(item.name, env) if item.name is not None else None
        name = self.names.name_in(frame, written, item.name, hint, item.loc)
        for at, call in self.flat_calls:  # the name the layer has in each flat block call's own terms
            if at == frame.path:
                call.name(name, item.name is not None, hint)
        return name

    # ---- structure -------------------------------------------------------------------------
    def seq(self, items: tuple[Item, ...], env: Mapping[str, Any], inp: int, frame: Frame, depth: int) -> int:
        for item in items:
            inp = self.item(item, env, inp, frame, depth)
        return inp

    def item(self, item: Item, env: Mapping[str, Any], inp: int, frame: Frame, depth: int) -> int:
        if depth > MAX_NESTING:
            raise LimitError(
                f"layers are nested more than {MAX_NESTING} levels deep (limit, see docs/limits.md); "
                "flatten some blocks or seqs",
                item.loc,
            )
        self.budget.spend(1 + len(env) // 16, item.loc)
        source, failed = inp, None
        if item.source is not None and not isinstance(item.source, YSeq):
            try:
                source = self.resolve(item.source, env, frame)
            except SpecError as e:  # no error for a layer that 'when' leaves out (its source may not exist then)
                failed = e
        env = self.item_env(env, source)
        if item.when is not None and not self.values.flag(item.when, env, "when"):
            return inp
        if failed is not None:
            raise failed
        if item.kind == "param":  # '- $act': the op the parameter names, or nothing for 'none'
            chosen = self.chosen_op(item, env)
            if chosen is None:
                return inp
            item = chosen
        inp = source
        form = item.args.get("torch") if item.args is not None else None
        if form is None and item.frozen is None:
            return self.instances(item, env, inp, frame, depth)
        outer = self.form, self.form_at, self.frozen
        if form is not None:
            self.form = self.form_value(form, env)
            self.form_at = form.loc if item.kind == "op" else None  # on a block or structure: the default inside
        if item.frozen is not None:
            self.frozen = self.values.flag(item.frozen, env, "frozen")
        try:
            return self.instances(item, env, inp, frame, depth)
        finally:
            self.form, self.form_at, self.frozen = outer

    def form_value(self, node: YNode, env: Mapping[str, Any]) -> str:
        """A 'torch' value: module, function or subclass."""
        value = self.values.value(node, env)
        if value not in FORMS:
            written = isinstance(node, YScalar) and isinstance(node.value, str) and "$" in node.value
            raise SpecError(f"'torch' must be one of {', '.join(FORMS)}, got {got(node, value) if written else _show(value)}",
                            node.loc)
        return str(value)

    def instances(self, item: Item, env: Mapping[str, Any], inp: int, frame: Frame, depth: int) -> int:
        """The item once, or each iteration of its ``repeat``; ``scope: false``: with no scope of its own."""
        flat = item.scope is not None and not self.values.flag(item.scope, env, "scope")
        if flat and item.name is not None:
            each = " (with 'repeat', 'each' names each iteration)" if item.repeat is not None else ""
            raise SpecError(f"'name' names the scope of '{item.op}', and 'scope: false' opens none: leave out one of "
                            f"them{each}", item.name.loc)
        if item.repeat is None:
            if flat and item.kind != "block" and item.op != "seq":  # a '$act' that chose an op
                assert item.scope is not None
                raise SpecError(scope_misplaced(item.op), item.scope.loc)
            return self.once(item, env, inp, frame, depth, flat=flat)
        times = self.values.value(item.repeat, env)
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise SpecError(f"'repeat' must be a positive integer, got {got(item.repeat, times)}", item.repeat.loc)
        if times > MAX_REPEAT:
            raise SpecError(
                f"'repeat: {times:,}' is more than the limit of {MAX_REPEAT:,} (see docs/limits.md)", item.repeat.loc
            )
        if flat:
            return self.flat_instances(item, env, inp, frame, depth, times)
        name = self.name_in(frame, item, self.hint(item), env)
        outer = self.names.open_scope(frame, name, "repeat", f"{item.op} ×{times}", item.loc)
        outs = []
        for i in range(times):
            self.budget.spend(ITERATION_STEPS + len(env) // 16, item.loc)
            inner_env = self.item_env({**env, "i": i}, inp)
            label = str(i) if item.each is None else self.names.name_in(
                outer, self.values.value(item.each, inner_env), item.each, "", item.each.loc
            )
            inner = self.names.open_scope(outer, label, "iteration", item.op, item.loc)
            this = first_iteration(item) if i == 0 and item.first is not None else item
            inp = self.close(inner, self.once(this, inner_env, inp, inner, depth + 1, scoped=True))
            outs.append(inp)
        self.iterations[".".join(outer.path)] = outs
        return self.close(outer, inp)

    def flat_instances(self, item: Item, env: Mapping[str, Any], inp: int, frame: Frame, depth: int, times: int) -> int:
        """A repeat with ``scope: false``: each iteration written in the enclosing scope, named by ``each`` (a block
        call's or seq's scope, or the layer itself), or without ``each`` its layers named there as if written there."""
        for i in range(times):
            self.budget.spend(ITERATION_STEPS + len(env) // 16, item.loc)
            inner_env = self.item_env({**env, "i": i}, inp)
            this = first_iteration(item) if i == 0 and item.first is not None else item
            if item.each is not None:
                inp = self.once(this._replace(name=item.each), inner_env, inp, frame, depth + 1)
            else:
                inp = self.once(this, inner_env, inp, frame, depth + 1, flat=True)
        return inp

    def chosen_op(self, item: Item, env: Mapping[str, Any]) -> Item | None:
        """The item of an op named by a parameter ('- $act'): checked like a layer written with that op; None
        when the parameter is 'none' or null (the layer is left out)."""
        word = self.values.value(YScalar(item.op, item.loc), env)
        if word is None or word == NO_OP:
            return None
        if not isinstance(word, str):
            raise SpecError(
                f"'{shorten(item.op)}' must name an op, a block or '{NO_OP}', got {got(YScalar(item.op, item.loc), word)}",
                item.loc,
            )
        via = f" (the value of '{shorten(item.op)}')"
        kind, op = resolve_op(word, item.loc, list(self.spec.blocks), via)
        if kind == "struct":
            raise SpecError(
                f"'{shorten(item.op)}' names the structure '{op}'; a parameter can name an op or a block, and a "
                f"structure is written out with its layers",
                item.loc,
            )
        if kind != "block" and item.args is not None:
            allowed = op_arg_names(kind, op)
            check_keys(item.args, (*allowed, *LAYER_KEYS), f"'{op}'{via}")
            if item.first is not None:
                check_keys(item.first, allowed, f"'first' of '{op}'{via}")
        return item._replace(kind=kind, op=op, word=word)

    def hint(self, item: Item) -> str:
        return item.word or item.op

    def once(
        self, item: Item, env: Mapping[str, Any], inp: int, frame: Frame, depth: int, scoped: bool = False,
        flat: bool = False,
    ) -> int:
        """One instance of an item. ``scoped``: ``frame`` is already this item's own scope; ``flat``: a block call or
        seq opens none (``scope: false``), its layers are named in ``frame``."""
        if item.kind == "op":
            name = frame.path[-1] if scoped else self.name_in(frame, item, self.hint(item), env)
            path = frame.path[:-1] if scoped else frame.path
            rule = op_rule(item.op)
            args = self.values.make_args(rule.args, item.args, env, f"{item.op} '{'.'.join((*path, name))}'", item.loc)
            if isinstance(item.source, YSeq):  # an op of several inputs reading a 'from' list (matmul, einsum...)
                refs = self.refs(item, env, frame, rule)
                index = self.emit(rule, args, refs, path, name, item, tuple(f"'{self.name_of(i)}'" for i in refs))
            elif rule.inputs[0] > 1:  # one input to an op that reads several (sdpa's q, k, v): its shape rule never sees it
                raise SpecError(f"'{item.op}' reads {_how_many(*rule.inputs)} outputs from a 'from' list, got 1", item.loc)
            else:
                index = self.emit(rule, args, (inp,), path, name, item)
            if item.tied is not None:
                self.tie(index, item.tied, env, frame)
            return index
        if item.kind == "macro":
            return self.macro(item, env, inp, frame, scoped)
        if flat:  # its layers read one another by the names they would have in a scope of their own
            self.flat_calls.append((frame.path, FlatCall()))
        try:
            if item.kind == "block":
                return self.block(item, env, inp, frame, depth, scoped, flat)
            return self.struct(item, env, inp, frame, depth, scoped, flat)
        finally:
            if flat:
                self.flat_calls.pop()

    def macro(self, item: Item, env: Mapping[str, Any], inp: int, frame: Frame, scoped: bool) -> int:
        m = MACROS[item.op]
        label = ".".join(frame.path) if scoped else None
        name = frame.path[-1] if scoped else self.name_in(frame, item, item.op, env)
        path = frame.path[:-1] if scoped else frame.path
        full = ".".join((*path, name)) if label is None else label
        args = self.values.make_args(m.args, item.args, env, f"{item.op} '{full}'", item.loc)
        try:
            parts = m.expand(args, self.shape_of(inp))
        except ShapeError as e:
            raise SpecError(f"{item.op} '{full}': {e.message}", self.arg_loc(item, e.arg)) from None
        if len(parts) == 1:
            hint, op, op_args = parts[0]
            rule = op_rule(op)
            return self.emit(rule, op_args, (inp,), path, name, item)
        inner = frame if scoped else self.names.open_scope(frame, name, "macro", item.op, item.loc)
        for hint, op, op_args in parts:
            rule = op_rule(op)
            inp = self.emit(rule, op_args, (inp,), inner.path, self.names.name_in(inner, None, None, hint, item.loc), item)
        return self.close(inner, inp)

    def block(
        self, item: Item, env: Mapping[str, Any], inp: int, frame: Frame, depth: int, scoped: bool, flat: bool = False
    ) -> int:
        block = self.spec.blocks[item.op]
        if item.op in self.calls:
            self.check_recursion(item)
        inner = frame if scoped or flat else self.names.open_scope(
            frame, self.name_in(frame, item, item.op, env), "block", item.op, item.loc
        )
        if scoped:
            self.names.relabel_last(frame.path, "block", item.op, item.loc)
        args = item.args.items if item.args else {}
        for key, kloc in (item.args.keys.items() if item.args else ()):
            if key not in block.params and key not in LAYER_KEYS:
                params = ", ".join(block.params) or "none"
                raise SpecError(
                    f"block '{item.op}' has no parameter '{shorten(key)}'{did_you_mean(key, list(block.params))}; "
                    f"its parameters: {params}",
                    kloc,
                )
        self.budget.spend(1 + (len(self.globals) + len(block.params)) // 16, item.loc)
        self.calls.append(item.op)
        self.call_items.append(item)
        try:
            out = self.block_body(item, block, args, env, inp, inner, depth)
            return out if flat else self.close(inner, out)
        except (LimitError, InBlock):  # a limit is the same at every call; an inner call already said where
            raise
        except SpecError as e:  # most errors inside a block depend on its arguments and input: say which call
            if e.loc == item.loc:
                raise
            raise InBlock(f"{e.message} (in block '{item.op}' called at {item.loc})", e.loc) from None
        finally:
            self.calls.pop()
            self.call_items.pop()

    def check_recursion(self, item: Item) -> None:
        """A block calling itself (directly or through others) needs a 'when:' guard on one of the calls of the
        cycle, and stops within MAX_RECURSION levels."""
        start = self.calls.index(item.op)
        chain = " → ".join([*self.calls[start:], item.op])
        if not any(it.when is not None for it in (*self.call_items[start + 1:], item)):
            raise LimitError(
                f"block '{item.op}' uses itself ({shorten(chain, 200)}); a block can call itself only behind a "
                "'when:' guard that stops it",
                item.loc,
            )
        if self.calls.count(item.op) >= MAX_RECURSION:
            raise LimitError(
                f"block '{item.op}' calls itself more than {MAX_RECURSION} levels deep (limit, see docs/limits.md); "
                "does its 'when:' guard ever turn false?",
                item.loc,
            )

    def block_body(
        self, item: Item, block: BlockSpec, args: Mapping[str, YNode], env: Mapping[str, Any], inp: int, inner: Frame,
        depth: int,
    ) -> int:
        local: dict[str, Any] = dict(self.globals)
        for pname, default in block.params.items():
            if pname in args:
                local[pname] = self.values.value(args[pname], env)
            elif default is not None:
                local[pname] = self.values.value(default, local)
            else:
                raise SpecError(f"block '{item.op}' needs parameter '{pname}'; pass it: '{item.op}: {{{pname}: ...}}'", item.loc)
        local = self.item_env(local, inp)
        # the block's own input, by name: in_channels changes from layer to layer inside the block
        local["block_in_channels"] = local["in_channels"]
        for dim in ("height", "width"):
            if f"in_{dim}" in local:
                local[f"block_in_{dim}"] = local[f"in_{dim}"]
        local = self.values.env_with(local, block.vars)
        return self.seq(block.layers, local, inp, inner, depth + 1)

    def struct(
        self, item: Item, env: Mapping[str, Any], inp: int, frame: Frame, depth: int, scoped: bool, flat: bool = False
    ) -> int:
        if isinstance(item.source, YSeq) or (item.op in JOINS and not item.branches):
            # a join of earlier outputs, by name, or the join's op on one input ('add: {scalar: 1}'): one node
            name = frame.path[-1] if scoped else self.name_in(frame, item, join_of(item.op), env)
            path = frame.path[:-1] if scoped else frame.path
            rule = op_rule(join_of(item.op))
            args = self.join_args(item, rule, env, ".".join((*path, name)))
            if not isinstance(item.source, YSeq):
                return self.emit(rule, args, (inp,), path, name, item)
            refs = tuple(i for n in item.source.items for i in self.resolve_all(n, env, frame))
            if len(refs) < 2:
                raise SpecError(f"'{item.op}' needs at least two outputs to join, got {len(refs)}", item.source.loc)
            labels = tuple(f"'{self.name_of(i)}'" for i in refs)
            return self.emit(rule, args, refs, path, name, item, labels)
        if item.op == "seq":
            if flat:  # scope: false: its layers as if written here
                return self.seq(item.branches[0].items, env, inp, frame, depth + 1)
            inner = frame if scoped else self.names.open_scope(
                frame, self.name_in(frame, item, "seq", env), "seq", "seq", item.loc
            )
            return self.close(inner, self.seq(item.branches[0].items, env, inp, inner, depth + 1))
        # Parallel structures: transparent unless named (or repeated).
        if scoped:
            inner = frame
        elif item.name is not None:
            inner = self.names.open_scope(frame, self.name_in(frame, item, item.op, env), item.op, item.op, item.loc)
        else:
            inner = frame
        if item.op == "residual" and not self.connected(item, env):  # the body alone: no shortcut, no add
            return self.close(inner, self.seq(item.branches[0].items, env, inp, inner, depth + 1))
        join = join_of(item.op)
        branches: tuple[Branch, ...] = item.branches
        if item.op == "gate":
            branches = (Branch("identity", (), item.loc), branches[0])
        slices = self.split_parts(item, env, inp, len(branches)) if item.op == "split" else None
        outs = []
        for k, br in enumerate(branches):
            if slices is not None:  # a split: every branch (an empty one too) opens its scope and takes its slice
                bname = (
                    self.names.name_in(inner, None, None, "branch", br.loc) if br.name is None
                    else self.names.branch_name(inner, br.name, br.loc)
                )
                bframe = self.names.open_scope(inner, bname, "branch", "split branch", br.loc)
                chunk = self.names.name_in(bframe, None, None, "chunk", br.loc)
                part = self.emit(op_rule("chunk"), slices[k], (inp,), bframe.path, chunk, item)
                outs.append(self.close(bframe, self.seq(br.items, env, part, bframe, depth + 1)))
                continue
            if not br.items:
                outs.append(inp)  # an empty branch is the identity
                continue
            if item.op in ("residual", "gate") and br.name is None:  # the body lives in the enclosing scope
                outs.append(self.seq(br.items, env, inp, inner, depth + 1))
                continue
            # unnamed branches count on in their scope: branch1, branch2, then branch3... for the next
            bname = (
                self.names.name_in(inner, None, None, "branch", br.loc) if br.name is None
                else self.names.branch_name(inner, br.name, br.loc)
            )
            bframe = self.names.open_scope(inner, bname, "branch", f"{item.op} branch", br.loc)
            outs.append(self.close(bframe, self.seq(br.items, env, inp, bframe, depth + 1)))
        if item.op == "gate" and outs[1] == inp:  # not x * x: a gate without a body is a spec mistake
            raise SpecError(
                "'gate' has no layers in its body ('when' left them all out, or it is empty); a gate multiplies "
                "its input by its body's output",
                item.loc,
            )
        rule = op_rule(join)
        name = self.names.name_in(inner, None, None, join, item.loc)
        args = self.join_args(item, rule, env, ".".join((*inner.path, name)))
        labels, at, note = None, None, ""
        if any(br.name is not None for br in item.branches) and item.op not in ("residual", "gate"):
            labels = tuple(f"branch '{br.name}'" if br.name else f"branch {k}" for k, br in enumerate(branches, 1))
        if item.op == "gate":  # a width mismatch is the body's doing: point at the layer that made the width
            body, maker = self.nodes[outs[1]], self.width_maker(outs[1], inp)
            labels, at = ("the gate's input", f"the gate body's output '{body.name}'"), maker.loc
            if maker is not body:
                note = f"; its width comes from '{maker.name}'"
        return self.close(inner, self.emit(rule, args, tuple(outs), inner.path, name, item, labels, at, note))

    def join_args(self, item: Item, rule: OpRule, env: Mapping[str, Any], full: str) -> Any:
        """The arguments of a structure's join op: those written in a join's mapping ('concat: {dim: 2, ...}'),
        the defaults for residual and gate."""
        fields = rule.arg_fields()
        written = None
        if item.op in JOINS and item.args is not None:
            keys = {k: v for k, v in item.args.keys.items() if k in fields}
            written = YMap({k: item.args.items[k] for k in keys}, keys, item.args.loc)
        return self.values.make_args(rule.args, written, env, f"{rule.name} '{full}'", item.loc)

    def refs(self, item: Item, env: Mapping[str, Any], frame: Frame, rule: OpRule) -> tuple[int, ...]:
        """The outputs an op of several inputs reads from its 'from' list, as many as it takes."""
        assert isinstance(item.source, YSeq)
        refs = tuple(i for n in item.source.items for i in self.resolve_all(n, env, frame))
        least, most = max(2, rule.inputs[0]), rule.inputs[1]
        if not least <= len(refs) <= most:
            raise SpecError(f"'{item.op}' reads {_how_many(least, most)} outputs from a 'from' list, got {len(refs)}",
                            item.source.loc)
        return refs

    def width_maker(self, out: int, start: int) -> Node:
        """The layer that set the channel count of ``out``: back through layers that keep their input's width
        (bn, relu, sigmoid...), not past ``start``."""
        node = self.nodes[out]
        while len(node.inputs) == 1 and node.inputs[0] >= 0 and node.inputs[0] != start \
                and node.in_shapes[0][:1] == node.shape[:1]:
            node = self.nodes[node.inputs[0]]
        return node

    def split_parts(self, item: Item, env: Mapping[str, Any], inp: int, n: int) -> list[ChunkArgs]:
        """The channel slice of each of a split's ``n`` branches: equal parts, or the spec's ``sizes``."""
        from ..ops.resample import ChunkArgs, pos_int_list  # only specs with a split need the chunk op

        c = self.shape_of(inp)[0]
        node = item.args.get("sizes") if item.args else None
        if node is None:
            if c % n:
                raise SpecError(f"split: {c} channels do not split into {n} equal branches; give 'sizes'", item.loc)
            return [ChunkArgs(index=k, parts=n) for k in range(n)]
        value = self.values.value(node, env)
        try:
            sizes = pos_int_list(value)
        except ArgError as e:
            raise SpecError(f"split: 'sizes' {e}", node.loc) from None
        if len(sizes) != n:
            raise SpecError(f"split: 'sizes' lists {len(sizes)} parts for {n} branches", node.loc)
        if sum(sizes) != c:
            shown = ", ".join(map(str, sizes))
            raise SpecError(f"split: sizes [{shown}] sum to {sum(sizes)}, but the input has {c} channels", node.loc)
        return [ChunkArgs(index=k, sizes=sizes) for k in range(n)]

    def connected(self, item: Item, env: Mapping[str, Any]) -> bool:
        node = item.args.get("connect") if item.args else None
        return True if node is None else self.values.flag(node, env, "connect")

    # ---- emit ------------------------------------------------------------------------------
    def arg_loc(self, item: Item, arg: str | None) -> Loc:
        if arg and item.args and arg in item.args.items:
            return item.args.items[arg].loc
        return item.loc

    def tie(self, index: int, tied: YMap, env: Mapping[str, Any], frame: Frame) -> None:
        """Check a layer's `tied` (each parameter it names is one of its own, and the earlier layer's of the same name and
        shape) and record it on the node."""
        node = self.nodes[index]
        own = node.tensors()
        found = []
        for tensor, ref in tied.items.items():
            if tensor not in own:
                raise SpecError(f"{node.op} '{node.name}': 'tied' names '{shorten(tensor)}', a parameter it does not hold "
                                f"(it holds {', '.join(own) or 'none'})", tied.keys[tensor])
            other = self.resolve(ref, env, frame, "tied")
            if other < 0 or other == index:
                raise SpecError(f"{node.op} '{node.name}': 'tied' must name an earlier layer, got '{shorten(str(ref.value))}'",
                                ref.loc)
            theirs = self.nodes[other].tensors()
            if theirs.get(tensor) != own[tensor]:
                have = f"{list(theirs[tensor])}" if tensor in theirs else "none"
                raise SpecError(f"{node.op} '{node.name}': its {tensor} {list(own[tensor])} cannot be "
                                f"'{self.nodes[other].name}'s {tensor} ({have})", ref.loc)
            found.append((tensor, other))
        self.nodes[index] = node._replace(tied=tuple(found))

    def emit(
        self, rule: OpRule, args: Any, inputs: tuple[int, ...], path: tuple[str, ...], name: str, item: Item,
        labels: tuple[str, ...] | None = None, at: Loc | None = None, note: str = "",
    ) -> int:
        """Add a node. ``labels``: how a shape error names the inputs (instead of 'branch 1', 'branch 2'...);
        ``at``: where a shape error points (instead of the item or its argument); ``note``: added to it."""
        if len(self.nodes) >= MAX_LAYERS:
            raise LimitError(
                f"model has more than {MAX_LAYERS:,} layers (limit, see docs/limits.md); lower 'repeat' counts",
                item.loc,
            )
        full = ".".join((*path, name))
        # analysis and renderers do work per scope level of each layer, and hold and print its dotted name
        self.budget.spend(1 + len(path) + len(full) // NAME_CHARS_PER_STEP, item.loc)
        in_shapes = tuple(self.shape_of(i) for i in inputs)
        try:
            if rule.resolve is not None:  # arguments fitted to the input's rank (ops/spatial.py)
                args = rule.resolve(args, in_shapes)
            shape = rule.shape(args, in_shapes)
        except ShapeError as e:
            message = e.message
            if labels is not None:
                message = re.sub(r"\bbranch (\d+)\b", lambda m: labels[int(m.group(1)) - 1], message)
            raise SpecError(f"{rule.name} '{full}': {message}{note}", at or self.arg_loc(item, e.arg)) from None
        self.produced[full] = len(self.nodes)
        node = Node(len(self.nodes), full, rule.name, args, inputs, in_shapes, shape, path, item.loc,
                    frozen=self.frozen, form=self.form_for(rule, full))
        self.nodes.append(node)
        return node.index


    def form_for(self, rule: OpRule, full: str) -> str:
        """How a layer of ``rule`` meets torch: the form in force where the op has it, else a module; an op's
        own 'torch' key names a form its op has."""
        forms = rule.counting.forms()
        if self.form in forms:
            return self.form
        if self.form_at is not None:
            how = " or ".join(
                {MODULE: "a module", FUNCTION: f"a function ({rule.counting.function})", SUBCLASS: "a subclass"}[f]
                for f in forms
            )
            raise SpecError(f"{rule.name} '{full}': 'torch: {self.form}' is not how {rule.name} can be built; it meets "
                            f"torch as {how}", self.form_at)
        return MODULE


def _how_many(least: int, most: int) -> str:
    """How many outputs an op reads, for a message: '2', '3 or 4', '2 to 8', 'at least 2'."""
    if most >= MANY:
        return f"at least {least}"
    return str(least) if most == least else f"{least} or {most}" if most == least + 1 else f"{least} to {most}"


def join_of(structure: str) -> str:
    join = STRUCTURES[structure].join
    assert join is not None, structure  # only 'seq' joins nothing
    return join


def _written_names(spec: SpecFile, layers: tuple[Item, ...]) -> dict[str, Loc]:
    """Every name written literally in the model and its blocks (for 'refers forward' messages)."""
    out: dict[str, Loc] = {}

    def walk(items: tuple[Item, ...]) -> None:
        for it in items:
            if isinstance(it.name, YScalar) and isinstance(it.name.value, str) and "$" not in it.name.value:
                out.setdefault(it.name.value, it.name.loc)
            for br in it.branches:
                if br.name is not None:
                    out.setdefault(br.name, br.loc)
                walk(br.items)

    walk(layers)
    for block in spec.blocks.values():
        walk(block.layers)
    return out
