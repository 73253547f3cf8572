"""Expansion: the spec's layers (ops, macros, block calls, repeats, structures) into op nodes.

Naming: every layer gets a dotted path. Inside a scope, unnamed layers are called after their op
with a per-scope counter (conv1, bn1, conv2...). Block calls, repeats, named seqs, branches and
shortcuts open scopes; unnamed residual/concat/gate structures are transparent, so a ResNet
bottleneck reads layer1.0.conv1 ... layer1.0.shortcut.conv1 like torchvision.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..errors import Loc, SpecError, did_you_mean
from ..frontend.source import YMap, shorten
from ..frontend.spec import ITEM_KEYS, Branch, Item, SpecFile
from ..frontend.structures import STRUCTURES
from ..ops.macros import MACROS
from ..ops.registry import NoArgs, OpRule, Shape, ShapeError
from ..ops.registry import rule as op_rule
from .limits import ITERATION_STEPS, MAX_LAYERS, MAX_NESTING, MAX_REPEAT
from .naming import Frame, Names
from .nodes import INPUT, Node
from .values import Values, got


def first_iteration(item: Item) -> Item:
    """The item with its ``first:`` arguments laid over its own (the first iteration of a repeat)."""
    assert item.args is not None and item.first is not None
    items = {k: v for k, v in item.args.items.items() if k != "first"} | item.first.items
    keys = {k: v for k, v in item.args.keys.items() if k != "first"} | item.first.keys
    return dataclasses.replace(item, args=YMap(items, keys, item.args.loc), first=None)


class Expander:
    """Emits the nodes of one model. ``inp`` arguments are the index of the node feeding a layer."""

    def __init__(self, spec: SpecFile, values: Values, names: Names, input_shape: Shape) -> None:
        self.spec = spec
        self.values = values
        self.budget = values.budget
        self.names = names
        self.input_shape = input_shape
        self.nodes: list[Node] = []
        self.calls: list[str] = []
        self.globals: dict[str, Any] = {}  # file and model vars: visible in every block

    def shape_of(self, index: int) -> Shape:
        return self.input_shape if index == INPUT else self.nodes[index].shape

    def item_env(self, env: Mapping[str, Any], inp: int) -> dict[str, Any]:
        shape = self.shape_of(inp)
        out = dict(env)
        out["in_channels"] = shape[0] if shape else 1
        if len(shape) == 3:
            out["in_height"], out["in_width"] = shape[1], shape[2]
        return out

    def name_in(self, frame: Frame, item: Item, hint: str, env: Mapping[str, Any]) -> str:
        written = self.values.value(item.name, env) if item.name is not None else None
        return self.names.name_in(frame, written, item.name, hint, item.loc)

    # ---- structure -------------------------------------------------------------------------
    def seq(self, items: tuple[Item, ...], env: Mapping[str, Any], inp: int, frame: Frame, depth: int) -> int:
        for item in items:
            inp = self.item(item, env, inp, frame, depth)
        return inp

    def item(self, item: Item, env: Mapping[str, Any], inp: int, frame: Frame, depth: int) -> int:
        if depth > MAX_NESTING:
            raise SpecError(
                f"layers are nested more than {MAX_NESTING} levels deep (limit, see docs/limits.md); "
                "flatten some blocks or seqs",
                item.loc,
            )
        self.budget.spend(1 + len(env) // 16, item.loc)
        env = self.item_env(env, inp)
        if item.when is not None and not self.values.flag(item.when, env, "when"):
            return inp
        if item.repeat is None:
            return self.once(item, env, inp, frame, depth)
        times = self.values.value(item.repeat, env)
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise SpecError(f"'repeat' must be a positive integer, got {got(item.repeat, times)}", item.repeat.loc)
        if times > MAX_REPEAT:
            raise SpecError(
                f"'repeat: {times:,}' is more than the limit of {MAX_REPEAT:,} (see docs/limits.md)", item.repeat.loc
            )
        name = self.name_in(frame, item, self.hint(item), env)
        outer = self.names.open_scope(frame, name, "repeat", f"{item.op} ×{times}", item.loc)
        for i in range(times):
            self.budget.spend(ITERATION_STEPS + len(env) // 16, item.loc)
            inner_env = self.item_env({**env, "i": i}, inp)
            inner = self.names.open_scope(outer, str(i), "iteration", item.op, item.loc)
            this = first_iteration(item) if i == 0 and item.first is not None else item
            inp = self.once(this, inner_env, inp, inner, depth + 1, scoped=True)
        return inp

    def hint(self, item: Item) -> str:
        return item.word or item.op

    def once(
        self, item: Item, env: Mapping[str, Any], inp: int, frame: Frame, depth: int, scoped: bool = False
    ) -> int:
        """One instance of an item. ``scoped``: ``frame`` is already this item's own scope."""
        if item.kind == "op":
            name = frame.path[-1] if scoped else self.name_in(frame, item, self.hint(item), env)
            path = frame.path[:-1] if scoped else frame.path
            rule = op_rule(item.op)
            args = self.values.make_args(rule.args, item.args, env, f"{item.op} '{'.'.join((*path, name))}'", item.loc)
            return self.emit(rule, args, (inp,), path, name, item)
        if item.kind == "macro":
            return self.macro(item, env, inp, frame, scoped)
        if item.kind == "block":
            return self.block(item, env, inp, frame, depth, scoped)
        return self.struct(item, env, inp, frame, depth, scoped)

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
        return inp

    def block(
        self, item: Item, env: Mapping[str, Any], inp: int, frame: Frame, depth: int, scoped: bool
    ) -> int:
        block = self.spec.blocks[item.op]
        if item.op in self.calls:
            chain = " → ".join([*self.calls[self.calls.index(item.op):], item.op])
            raise SpecError(f"block '{item.op}' uses itself ({chain})", item.loc)
        inner = frame if scoped else self.names.open_scope(
            frame, self.name_in(frame, item, item.op, env), "block", item.op, item.loc
        )
        if scoped:
            self.names.relabel_last(frame.path, "block", item.op, item.loc)
        args = item.args.items if item.args else {}
        for key, kloc in (item.args.keys.items() if item.args else ()):
            if key not in block.params and key not in ITEM_KEYS:
                params = ", ".join(block.params) or "none"
                raise SpecError(
                    f"block '{item.op}' has no parameter '{shorten(key)}'{did_you_mean(key, list(block.params))}; "
                    f"its parameters: {params}",
                    kloc,
                )
        self.budget.spend(1 + (len(self.globals) + len(block.params)) // 16, item.loc)
        local: dict[str, Any] = dict(self.globals)
        for pname, default in block.params.items():
            if pname in args:
                local[pname] = self.values.value(args[pname], env)
            elif default is not None:
                local[pname] = self.values.value(default, local)
            else:
                raise SpecError(f"block '{item.op}' needs parameter '{pname}'; pass it: '{item.op}: {{{pname}: ...}}'", item.loc)
        local = self.values.env_with(self.item_env(local, inp), block.vars)
        self.calls.append(item.op)
        try:
            return self.seq(block.layers, local, inp, inner, depth + 1)
        finally:
            self.calls.pop()

    def struct(
        self, item: Item, env: Mapping[str, Any], inp: int, frame: Frame, depth: int, scoped: bool
    ) -> int:
        if item.op == "seq":
            inner = frame if scoped else self.names.open_scope(
                frame, self.name_in(frame, item, "seq", env), "seq", "seq", item.loc
            )
            return self.seq(item.branches[0].items, env, inp, inner, depth + 1)
        # Parallel structures: transparent unless named (or repeated).
        if scoped:
            inner = frame
        elif item.name is not None:
            inner = self.names.open_scope(frame, self.name_in(frame, item, item.op, env), item.op, item.op, item.loc)
        else:
            inner = frame
        if item.op == "residual" and not self.connected(item, env):  # the body alone: no shortcut, no add
            return self.seq(item.branches[0].items, env, inp, inner, depth + 1)
        join = STRUCTURES[item.op].join
        assert join is not None  # only 'seq' joins nothing
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
            bname = (
                self.names.name_in(inner, None, None, "branch", br.loc) if br.name is None
                else self.names.branch_name(inner, br.name, br.loc)
            )
            bframe = self.names.open_scope(inner, bname, "branch", f"{item.op} branch", br.loc)
            outs.append(self.seq(br.items, env, inp, bframe, depth + 1))
        rule = op_rule(join)
        name = self.names.name_in(inner, None, None, join, item.loc)
        return self.emit(rule, NoArgs(), tuple(outs), inner.path, name, item)

    def connected(self, item: Item, env: Mapping[str, Any]) -> bool:
        node = item.args.get("connect") if item.args else None
        return True if node is None else self.values.flag(node, env, "connect")

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
        self.budget.spend(1 + len(path), item.loc)  # analysis and renderers do work per scope level of each layer
        full = ".".join((*path, name))
        in_shapes = tuple(self.shape_of(i) for i in inputs)
        try:
            shape = rule.shape(args, in_shapes)
        except ShapeError as e:
            raise SpecError(f"{rule.name} '{full}': {e.message}", self.arg_loc(item, e.arg)) from None
        node = Node(len(self.nodes), full, rule.name, args, inputs, in_shapes, shape, path, item.loc)
        self.nodes.append(node)
        return node.index
