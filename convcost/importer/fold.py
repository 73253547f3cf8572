"""Repeated identical modules folded into blocks (``convcost import``; torch-free).

Works on the tree of importer/tree.py, inside out (a module's sub-modules are folded before the module
is compared with others):

- Modules of the same class whose layers match, up to argument values, become one **block**. An argument
  whose value differs between them becomes a parameter (arguments that always agree share one), with the
  most common value as its default. A residual's shortcut that only some have (ResNet's ``downsample``)
  is in the block with ``when:`` on a flag parameter; a module that is a residual in some places and its
  body alone in others (MobileNetV2's inverted residual) gets ``connect:`` on a flag.
- A module whose layers are all calls of one block named ``0``, ``1``, ... in a chain (an nn.Sequential of
  them: a ResNet stage) becomes one call with ``repeat``; a parameter that differs only on the first
  iteration goes into ``first:``, one that differs otherwise is a list indexed by ``i``; named ``p0``, ``p1``... (RegNet's
  ``block2-0``) its iterations are named ``each: 'p${i}'``.
- A group of layers repeated one after the other in a flat nn.Sequential (VGG's conv and ReLU, named by their
  index in ``features``) becomes a block whose layers are named by a parameter, called with ``repeat`` and
  ``scope: false`` (:func:`fold_runs`).

A module can be folded when it reads one input, implicitly (no ``from:`` inside it names anything outside
it), and only its output is read from outside. Concat branches stay written out (their scope is the
branch). Nothing here changes what the spec computes: the block's layers are the module's.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..frontend.spec import LAYER_KEYS, RESERVED_VARS
from ..ops.registry import lookup
from ..render.text import unique
from .tree import Call, Item, Layer, Scope, Struct, finish, finish_all, item_lists

_ABSENT = object()  # a value a module does not have (inside a shortcut it lacks)
ACTIVATION = "<activation>"  # the op kind of every activation (_op_kind)
OP_SLOT = "$op"  # the slot of a template layer's op (no argument is named so): a parameter naming the op, '- $act'
NAME_SLOT = "$name"  # the slot of a template item's name, where members number it otherwise (a merged chain's)
MIN_LAYERS = 2  # a module of one layer is not worth a block
# names a block parameter cannot take: the spec's own variables (docs/spec.md, "Variables in scope"), the keys
# every call takes (name, repeat, when, first, frozen, from), and the words expressions read as values
RESERVED_PARAMS = frozenset({*RESERVED_VARS, *LAYER_KEYS, "true", "false", "none"})


@dataclass(frozen=True)
class Param:
    name: str
    default: Any


@dataclass(eq=False)
class Block:
    """A block definition: ``template`` is one member's tree with the optional parts the others have; ``slots``
    maps a template value (a layer's argument, a call's parameter, a flag) to the parameter that gives it."""

    name: str
    template: Scope
    params: list[Param]
    slots: dict[tuple[int, str], str]  # (id of template node, field) -> parameter name
    flags: dict[tuple[int, str], str] = field(default_factory=dict)  # (id(struct), 'when'|'connect') -> param
    member_values: list[dict[str, Any]] = field(default_factory=list)  # each folded module's parameter values
    members: dict[int, int] = field(default_factory=dict)  # id(module scope) -> its index in member_values
    index: str = ""  # a flat run's block: the parameter naming its layers (the index of the first in the enclosing scope)


def fold(root: Scope, reserved: Callable[[str], bool], readers: Mapping[str, set[str]]) -> list[Block]:
    """Fold ``root``'s repeated modules into blocks (in place); the blocks, in the order first used. ``readers``:
    who reads each key (tree.readers_of), to keep a module whose inner layers are read from outside."""
    blocks: list[Block] = []
    parents: dict[int, list[Item]] = {}
    by_height: dict[int, list[Scope]] = {}
    _index(root, parents, by_height)
    names: set[str] = set()
    for h in sorted(by_height):
        level = [s for s in by_height[h] if not s.branch]
        calls: dict[int, Call] = {}
        for s in level:
            collapsed = _repeat(s)
            if collapsed is not None:
                calls[id(s)] = collapsed
        groups: dict[tuple[Any, ...], list[list[Scope]]] = {}
        # a repeat that is a chain may instead be a member lacking some items of a longer module's block (MobileNetV3's
        # row 1: two Conv2dNormActivation, a repeat, where the other rows hold three or four): a group of its own,
        # taken by _merge_chains or left a repeat
        repeats = {id(s) for s in level if id(s) in calls and _chain(s) and _foldable(s, readers)}
        for s in level:
            if id(s) in repeats:
                groups[("repeat", id(s))] = [[s]]
            if id(s) in calls or not _foldable(s, readers):
                continue
            key = (s.cls, _shape(s.items, True))
            for group in groups.setdefault(key, []):
                # group[0] has every optional part a member has (it is the template): comparing with it is enough
                if _compatible(group[0], s):
                    pg, ps = _presence(group[0].items, True), _presence(s.items, True)
                    if all(a >= b for a, b in zip(pg, ps)):
                        group.append(s)
                        break
                    if all(a <= b for a, b in zip(pg, ps)):
                        group.insert(0, s)  # the first member is the template: it has every optional part
                        break
            else:
                groups[key].append([s])
        aligned = _merge_chains([g for variants in groups.values() for g in variants], repeats)
        for r in repeats & aligned.keys():
            del calls[r]
        for variants in groups.values():
            for group in variants:
                if len(group) < 2 or max(_size(s) for s in group) < MIN_LAYERS:
                    continue
                block = _make_block(group, names, reserved, aligned)
                blocks.append(block)
                for s in group:
                    calls[id(s)] = _call(block, s)
        for s in level:
            call = calls.get(id(s))
            if call is not None:
                siblings = parents[id(s)]
                siblings[next(k for k, it in enumerate(siblings) if it is s)] = call
        finish_all(root)
    blocks += fold_runs(root, names, reserved)
    finish_all(root)
    order = {id(b): k for k, b in enumerate(_calls_in_order(root, blocks))}
    return sorted(blocks, key=lambda b: order.get(id(b), len(order)))


def _index(scope: Scope, parents: dict[int, list[Item]], by_height: dict[int, list[Scope]]) -> int:
    """Record each scope's containing list and height (1: only layers inside), except inside residual
    shortcuts; returns the height."""
    height = max((_index_list(lst, parents, by_height) for lst in item_lists(scope)), default=0)
    if scope.path:
        by_height.setdefault(height + 1, []).append(scope)
    return height + 1


def _index_list(items: list[Item], parents: dict[int, list[Item]], by_height: dict[int, list[Scope]]) -> int:
    height = 0
    for it in items:
        if isinstance(it, Scope):
            parents[id(it)] = items
            height = max(height, _index(it, parents, by_height))
        elif isinstance(it, Struct):  # a shortcut is part of its module (it may be optional there): not folded alone
            kept = it.branches[:1] if it.op == "residual" else it.branches
            height = max(height, *(_index_list(br, parents, by_height) for br in kept))
    return height


def _calls_in_order(scope: Scope | Struct, blocks: list[Block]) -> list[Block]:
    seen: list[Block] = []

    def visit(items: list[Item]) -> None:
        for it in items:
            if isinstance(it, Call):
                if it.block not in seen:
                    visit(it.block.template.items)
                    seen.append(it.block)
            elif isinstance(it, (Scope, Struct)):
                for lst in item_lists(it):
                    visit(lst)

    for lst in item_lists(scope):
        visit(lst)
    return seen


# ---- what can be folded ------------------------------------------------------------------------
def explicit_reads(items: list[Item], previous: str) -> tuple[set[str], str]:
    """The keys ``items`` name with ``from:`` when written after ``previous``, and the last output."""
    named: set[str] = set()
    for it in items:
        if isinstance(it, Layer):
            if it.layer.inputs != (previous,):
                named |= set(it.layer.inputs)
        elif isinstance(it, Scope):
            inner, _ = explicit_reads(it.items, previous)
            named |= inner
        elif isinstance(it, Struct):
            if it.x != previous:
                named.add(it.x)
            for br in it.branches:
                named |= explicit_reads(br, it.x)[0]
        elif it.entry != previous:
            named.add(it.entry)
        previous = it.out
    return named, previous


def _foldable(s: Scope, readers: Mapping[str, set[str]]) -> bool:
    """One input, read implicitly, and nothing but the output read from outside (a call names only its output); no
    layer tied to another's weights (a block's layers are its own)."""
    if len(s.reads) != 1 or any(r not in s.keys for k in s.keys - {s.out} for r in readers.get(k, ())):
        return False
    if any(isinstance(it, Layer) and it.layer.tied for it in _layers(s.items)):
        return False
    (entry,) = s.reads
    named, _ = explicit_reads(s.items, entry)
    return named <= s.keys


def _size(s: Scope) -> int:
    return sum(1 for _ in _layers(s.items))


def _layers(items: list[Item]) -> Iterator[Item]:
    for it in items:
        if isinstance(it, (Layer, Call)):
            yield it
        elif isinstance(it, Scope):
            yield from _layers(it.items)
        else:
            for br in it.branches:
                yield from _layers(br)
            yield it.join


# ---- shapes: what must be equal for two modules to share a block --------------------------------
def _whole_residual(items: list[Item]) -> Struct | None:
    """The residual a module is, when it is one with an identity shortcut (its body may stand alone)."""
    if len(items) == 1 and isinstance(items[0], Struct) and items[0].op == "residual" and not items[0].branches[1]:
        return items[0]
    return None


def _shape(items: list[Item], top: bool = False) -> tuple[Any, ...]:
    """The structure without values; a residual's shortcut and (``top``) a whole-module residual are left
    out (they may be optional), and references are by position in the module."""
    whole = _whole_residual(items) if top else None
    if whole is not None:
        items = whole.branches[0]
    return tuple(_node_shape(it) for it in items)


def _node_shape(it: Item) -> tuple[Any, ...]:
    if isinstance(it, Layer):
        return ("L", it.layer.path[-1], _op_kind(it.layer.op), tuple(sorted(it.layer.args)), len(it.layer.inputs),
                it.layer.comment, it.layer.note, it.layer.form)
    if isinstance(it, Scope):
        return ("S", it.name, _shape(it.items))
    if isinstance(it, Call):  # a repeat's values are part of its shape: iterations are not parameters
        return ("B", id(it.block), it.name, it.repeat, it.each, it.flat, repr(call_args(it)) if it.repeat else "")
    if it.op == "residual":
        return ("R", _shape(it.branches[0]))
    return (it.op, tuple(it.names), tuple(_shape(b) for b in it.branches))


def _op_kind(op: str) -> str:
    """What must be equal of two layers' ops: an activation may be another activation taking the same arguments
    (MobileNetV3's rows, ReLU or Hardswish: one block whose layer is ``- $act``, docs/spec.md), any other op itself."""
    r = lookup(op)
    return ACTIVATION if r is not None and r.category == "activation" else op


def _compatible(a: Scope, b: Scope) -> bool:
    """Same references inside, and the optional parts both have are the same."""
    (ea,), (eb,) = a.reads, b.reads
    return _refs(_body(a.items), ea) == _refs(_body(b.items), eb) and _optional_match(a.items, b.items, True)


def _body(items: list[Item]) -> list[Item]:
    whole = _whole_residual(items)
    return whole.branches[0] if whole is not None else items


def _refs(items: list[Item], entry: str) -> tuple[Any, ...]:
    """Each layer's (and block call's) inputs as positions in ``items`` (the entry: -1), in order. A structure's
    join and a residual's shortcut are left out: the structure says what they read (a shortcut is compared alone)."""
    order = list(_plain_layers(items))
    pos = {entry: -1, **{lay.out: k for k, lay in enumerate(order)}}
    return tuple(tuple(pos.get(r, -2) for r in (lay.layer.inputs if isinstance(lay, Layer) else (lay.entry,)))
                 for lay in order)


def _plain_layers(items: list[Item]) -> Iterator[Item]:
    for it in items:
        if isinstance(it, (Layer, Call)):
            yield it
        elif isinstance(it, Scope):
            yield from _plain_layers(it.items)
        else:
            for br in it.branches[:1] if it.op == "residual" else it.branches:
                yield from _plain_layers(br)


def _optional_match(a: list[Item], b: list[Item], top: bool = False) -> bool:
    wa, wb = (_whole_residual(a), _whole_residual(b)) if top else (None, None)
    a = wa.branches[0] if wa else a
    b = wb.branches[0] if wb else b
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if isinstance(x, Scope) and isinstance(y, Scope):
            if not _optional_match(x.items, y.items):
                return False
        elif isinstance(x, Struct) and isinstance(y, Struct):
            if x.op == "residual" and x.branches[1] and y.branches[1]:
                same = _shape(x.branches[1]) == _shape(y.branches[1]) and _refs(x.branches[1], x.x) == _refs(y.branches[1], y.x)
                if not same or not _optional_match(x.branches[1], y.branches[1]):
                    return False
            for bx, by in zip(x.branches[:1] if x.op == "residual" else x.branches, y.branches):
                if not _optional_match(bx, by):
                    return False
    return True


# ---- modules whose layers are another's with some left out ---------------------------------------------
MAX_ABSENT = 2  # the most items of a chain a member may lack (MobileNetV3's row 1: no expanding conv, no SE)
MAX_ALIGNMENTS = 2000  # the most ways of placing a member's items among the template's looked at


def _chain(s: Scope) -> bool:
    """The module's items are layers, block calls and scopes, each reading the one before alone (none a structure, a
    flat run or a repeat): a member may lack some of them, the next then reading the one before those."""
    if len(s.reads) != 1 or not s.items:
        return False
    (previous,) = s.reads
    for it in s.items:
        if isinstance(it, Layer):
            if it.layer.inputs != (previous,):
                return False
        elif isinstance(it, Call):
            if it.flat or it.repeat or it.entry != previous:
                return False
        elif not isinstance(it, Scope) or it.reads != {previous}:
            return False
        previous = it.out
    return True


def _unnamed(it: Item) -> tuple[Any, ...]:
    """An item's shape without its name (a member's items may be numbered otherwise: nn.Sequential's indices)."""
    shape = _node_shape(it)
    return shape[:2] + shape[3:] if isinstance(it, Call) else shape[:1] + shape[2:]


def _item_name(it: Item) -> str:
    return it.layer.path[-1] if isinstance(it, Layer) else it.name if isinstance(it, (Scope, Call)) else ""


def _agreement(t: Item, m: Item) -> int:
    """How many of two items' values are equal (their arguments or parameters, a layer's op; not their names, which
    a member lacking an item before them numbers otherwise)."""
    if isinstance(t, Layer) and isinstance(m, Layer):
        return sum(_same(v, m.layer.args.get(a, _ABSENT)) for a, v in t.layer.args.items()) + int(t.layer.op == m.layer.op)
    if isinstance(t, Call) and isinstance(m, Call):
        return sum(_same(v, m.values[0].get(a, _ABSENT)) for a, v in t.values[0].items())
    return 0


def _align(group: list[Scope], member: Scope) -> list[int] | None:
    """The positions among the items of ``group``'s modules (each one item list) of ``member``'s, in order (the others
    it lacks), where it holds the same items but for at most MAX_ABSENT it lacks; None where it does not. Of several
    placements, the one whose items agree most with the group's at their positions (MobileNetV3's row 1 lacks the
    expanding conv: its 3×3 depthwise conv is placed at the others' depthwise conv, not at their 1×1)."""
    from itertools import combinations
    from math import comb

    t, m = group[0].items, member.items
    if not 0 < len(t) - len(m) <= MAX_ABSENT or comb(len(t), len(m)) > MAX_ALIGNMENTS:
        return None
    tu, mu = [_unnamed(x) for x in t], [_unnamed(x) for x in m]
    best: tuple[int, list[int]] | None = None
    for pos in combinations(range(len(t)), len(m)):
        if all(tu[p] == mu[k] for k, p in enumerate(pos)):
            score = sum(_agreement(g.items[p], m[k]) for g in group for k, p in enumerate(pos))
            if best is None or score > best[0]:
                best = (score, list(pos))
    return best[1] if best else None


def _merge_chains(groups: list[list[Scope]], repeats: set[int]) -> dict[int, list[int]]:
    """Merge (in place) each group of chain modules into a group of the same class whose template has every item its
    members have and up to MAX_ABSENT more (torchvision's Conv2dNormActivation without its activation, MobileNetV3's
    inverted residual without its SE or expanding conv): the block then has the template's items, a missing
    activation is ``$act`` none, any other missing item is under ``when:`` on a flag, and an item numbered otherwise
    is named by a parameter. A module in ``repeats`` (a repeat otherwise) only joins another's group. Returns each moved
    member's positions among its new template's items (by id)."""
    aligned: dict[int, list[int]] = {}
    chains = sorted((g for g in groups if g and all(_chain(s) for s in g)), key=lambda g: -len(g[0].items))
    for k, small in enumerate(chains):
        for big in chains[:k]:
            if not big or big[0].cls != small[0].cls or len(big[0].items) <= len(small[0].items) or id(big[0]) in repeats:
                continue
            where = [_align([g for g in big if id(g) not in aligned], s) for s in small]
            if all(w is not None for w in where):
                for s, w in zip(small, where):
                    assert w is not None
                    aligned[id(s)] = w
                big.extend(small)
                small.clear()
                break
    return aligned


def _spread(template: Scope, member: Scope, aligned: Mapping[int, list[int]]) -> list[Item | None]:
    """A member's items at its template's positions (None where it lacks one)."""
    pos = aligned.get(id(member))
    if pos is None:
        return list(member.items)
    out: list[Item | None] = [None] * len(template.items)
    for k, p in enumerate(pos):
        out[p] = member.items[k]
    return out


def _presence_values(template: Scope, items: list[Item | None], into: dict[tuple[int, str], Any],
                     where: dict[tuple[int, str], str]) -> None:
    """A merged chain member's values for what it may lack or name otherwise: an activation it lacks is ``$act`` none
    (OP_SLOT None), any other item a ``when`` flag; each item's name a NAME_SLOT."""
    for x, y in zip(template.items, items):
        if isinstance(x, Layer) and _op_kind(x.layer.op) == ACTIVATION:
            if y is None:
                into[(id(x), OP_SLOT)] = None
        else:
            into[(id(x), "when")] = y is not None
            where[(id(x), "when")] = "with_" + _ident(x.block.name if isinstance(x, Call) else
                                                      x.cls or x.name if isinstance(x, Scope) else x.layer.op)
        into[(id(x), NAME_SLOT)] = _item_name(y) if y is not None else _ABSENT
        where[(id(x), NAME_SLOT)] = "at"


# ---- making a block ------------------------------------------------------------------------------
def _make_block(group: list[Scope], names: set[str], reserved: Callable[[str], bool],
                aligned: Mapping[int, list[int]] | None = None) -> Block:
    template = group[0]
    columns: dict[tuple[int, str], list[Any]] = {}
    where: dict[tuple[int, str], str] = {}
    merged = aligned is not None and any(id(s) in aligned for s in group)
    for k, s in enumerate(group):
        values: dict[tuple[int, str], Any] = {}
        if merged:
            assert aligned is not None
            items = _spread(template, s, aligned)
            _values(template.items, items, values, where, True)
            _presence_values(template, items, values, where)
        else:
            _values(template.items, s.items, values, where, True)
        for slot, v in values.items():
            columns.setdefault(slot, [_ABSENT] * len(group))[k] = v
    params: list[Param] = []
    slots: dict[tuple[int, str], str] = {}
    flags: dict[tuple[int, str], str] = {}
    chosen: list[tuple[list[Any], str]] = []
    taken: set[str] = set(RESERVED_PARAMS)
    for slot, col in columns.items():
        present = [v for v in col if v is not _ABSENT]
        if all(_same(v, present[0]) for v in present) and (slot[1] not in ("when", "connect") or _ABSENT not in col):
            continue  # a constant
        # a column that agrees with a parameter's wherever both have a value shares it
        match = next((c for c in chosen if all(x is _ABSENT or y is _ABSENT or _same(x, y) for x, y in zip(col, c[0]))),
                     None)
        if match is None:
            match = (list(col), unique(_ident(where[slot]), taken))
            chosen.append(match)
        for k, v in enumerate(col):
            if match[0][k] is _ABSENT:
                match[0][k] = v
        (flags if slot[1] in ("when", "connect") else slots)[slot] = match[1]
    for col, pname in chosen:
        # a default of ~ would make the parameter required: a call with None passes it (`align_corners: ~`)
        present = [v for v in col if v is not _ABSENT and v is not None]
        default = Counter(_hashable(v) for v in present).most_common(1)[0][0] if present else False
        params.append(Param(pname, _unhash(default)))
    name = _ident(group[0].cls or group[0].name, capital=True)
    if reserved(name):
        name += "_block"
    name = unique(name, names)
    defaults = {p.name: p.default for p in params}
    member_values = [{pname: col[k] if col[k] is not _ABSENT else defaults[pname] for col, pname in chosen}
                     for k in range(len(group))]
    return Block(name, template, params, slots, flags, member_values, {id(s): k for k, s in enumerate(group)})


def _call(block: Block, s: Scope) -> Call:
    (entry,) = s.reads
    return Call(s.name, block, [block.member_values[block.members[id(s)]]], entry, s.out, s.keys, s.reads)


def _presence(items: list[Item], top: bool = False) -> tuple[bool, ...]:
    """Which optional parts a module has, in order: the whole-module residual, then each residual's shortcut."""
    whole = _whole_residual(items) if top else None
    out: list[bool] = [whole is not None] if top else []
    for it in whole.branches[0] if whole is not None else items:
        if isinstance(it, Scope):
            out.extend(_presence(it.items))
        elif isinstance(it, Struct):
            if it.op == "residual":
                out.append(bool(it.branches[1]))
            for br in it.branches[:1] if it.op == "residual" else it.branches:
                out.extend(_presence(br))
    return tuple(out)


def _values(t: list[Item], m: Sequence[Item | None] | None, into: dict[tuple[int, str], Any], where: dict[tuple[int, str], str],
            top: bool = False, prefix: tuple[str, ...] = ()) -> None:
    """Member ``m``'s value for each slot of template ``t`` (``m`` None: it lacks this part), and a name for
    each slot (``where``: the names of the layers and scopes down to it, numbers left out, and the argument)."""
    if top:
        wt = _whole_residual(t)
        if wt is not None:
            wm = _whole_residual(m) if m is not None else None
            into[(id(wt), "connect")] = wm is not None
            where[(id(wt), "connect")] = "residual"
            _values(wt.branches[0], wm.branches[0] if wm is not None else m, into, where)
            return
    for k, x in enumerate(t):
        y = m[k] if m is not None else None
        if isinstance(x, Layer):
            if _op_kind(x.layer.op) == ACTIVATION:
                slot = (id(x), OP_SLOT)
                where[slot] = _slot_name((*prefix, x.layer.path[-1]), "act")
                into[slot] = y.layer.op if isinstance(y, Layer) else _ABSENT
            for arg in x.layer.args:
                slot = (id(x), arg)
                where[slot] = _slot_name((*prefix, x.layer.path[-1]), arg)
                into[slot] = y.layer.args.get(arg, _ABSENT) if isinstance(y, Layer) else _ABSENT
        elif isinstance(x, Call):
            for p in x.block.params:
                slot = (id(x), p.name)
                where[slot] = _slot_name((*prefix, x.name), p.name)
                into[slot] = y.values[0].get(p.name, p.default) if isinstance(y, Call) else _ABSENT
        elif isinstance(x, Scope):
            _values(x.items, y.items if isinstance(y, Scope) else None, into, where, False, (*prefix, x.name))
        elif isinstance(x, Struct):
            ys = y if isinstance(y, Struct) else None
            if x.op == "residual":
                _values(x.branches[0], ys.branches[0] if ys else None, into, where, False, prefix)
                if x.branches[1]:
                    has = bool(ys.branches[1]) if ys else False
                    slot = (id(x), "when")
                    into[slot] = has if ys else _ABSENT
                    first = x.branches[1][0]
                    where[slot] = _slot_name((*prefix, first.name if isinstance(first, Scope) else "shortcut"), "")
                    _values(x.branches[1], ys.branches[1] if has and ys else None, into, where, False, prefix)
            else:
                for k2, br in enumerate(x.branches):  # a branch's module names its values (its scope is the branch)
                    _values(br, ys.branches[k2] if ys else None, into, where, False, prefix)


def _slot_name(parts: tuple[str, ...], arg: str) -> str:
    """``conv1_out`` for conv1's out, ``out`` for a numbered layer's (an nn.Sequential's ``0``)."""
    words = [p for p in parts if not p.isdigit()] + ([arg] if arg else [])
    return "_".join(words) if words else "value"


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _hashable(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def _unhash(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def _ident(text: str, capital: bool = False) -> str:
    out = re.sub(r"[^A-Za-z0-9_]", "_", text)
    if not out or out[0].isdigit():
        out = ("B" if capital else "p") + "_" + out
    return out



# ---- runs of a group of layers in a flat nn.Sequential -----------------------------------------------
MAX_GROUP = 16  # the most layers of a group looked for (VGG's is 2: a conv and its ReLU)
INDEX_PARAM = "at"  # the parameter of a flat run's block naming its layers: the index of its first layer


def fold_runs(root: Scope, names: set[str], reserved: Callable[[str], bool]) -> list[Block]:
    """Groups of layers that repeat one after the other in a flat nn.Sequential (layers named by consecutive
    numbers, each reading the one before: VGG's ``features``, conv and ReLU 13 times between max pools) become
    calls with ``repeat`` and ``scope: false`` (docs/spec.md, *Names*) of a block whose layers are named by a
    parameter, the index of its first layer (``name: $at``, ``name: '${at + 1}'``), so every layer keeps its name.
    A group's layers match as a module's do (op kind, argument names; the values become parameters). The group that
    saves the most lines is folded first, then the next among the layers left, while one saves any (the block's
    own lines counted). In place, on ``root``'s module scopes (not inside blocks); the blocks made."""
    lists = [root.items, *(s.items for s in _scopes(root))]
    made: list[Block] = []
    while True:
        chains = [_Chain(items) for items in lists]
        best: tuple[int, int, list[tuple[list[Item], int, int]]] | None = None
        for key in dict.fromkeys(key for c in chains for key in c.candidates()):
            p = len(key)
            runs = [(c.items, start, count) for c in chains for start, count in c.runs(key)]
            saved = sum(p * count - 1 for _, _, count in runs) - (p + 4)  # the block: name, params, layers:, p layers
            if saved > 0 and (best is None or saved > best[0]):
                best = (saved, p, runs)
        if best is None:
            return made
        made.append(_fold_run(best[2], best[1], names, reserved))


def _scopes(item: Scope | Struct) -> Iterator[Scope]:
    for lst in item_lists(item):
        for it in lst:
            if isinstance(it, Scope):
                yield it
            if isinstance(it, (Scope, Struct)):
                yield from _scopes(it)


class _Chain:
    """A list of items as a flat nn.Sequential's run sees it: each item's shape without its name (None: not a layer a
    run can hold: one input, no tied weights, named by a number), and how many items before it it follows in a chain
    (the next number, reading the one before's output alone)."""

    def __init__(self, items: list[Item]) -> None:
        self.items = items
        self.shapes = [_flat_node(it) for it in items]
        self.linked = [0] * len(items)
        for k in range(1, len(items)):
            a, b = items[k - 1], items[k]
            if self.shapes[k - 1] is not None and self.shapes[k] is not None and isinstance(a, Layer) and \
                    isinstance(b, Layer) and int(b.layer.path[-1]) == int(a.layer.path[-1]) + 1 and b.layer.inputs == (a.out,):
                self.linked[k] = self.linked[k - 1] + 1

    def chained(self, start: int, n: int) -> bool:
        """items[start:start + n] are one chain."""
        return self.linked[start + n - 1] >= n - 1

    def candidates(self) -> Iterator[tuple[Any, ...]]:
        """Each group of 2..MAX_GROUP chained layers followed by itself (its shapes)."""
        for j in range(len(self.items)):
            for p in range(2, MAX_GROUP + 1):
                if j + 2 * p > len(self.items) or not self.chained(j, 2 * p):
                    break
                if self.shapes[j:j + p] == self.shapes[j + p:j + 2 * p]:
                    yield tuple(self.shapes[j:j + p])

    def runs(self, key: tuple[Any, ...]) -> list[tuple[int, int]]:
        """(start, count) of each run of two or more groups ``key`` one after the other, left to right."""
        p, found, j = len(key), [], 0
        group = list(key)
        while j + 2 * p <= len(self.items):
            count = 0
            while j + (count + 1) * p <= len(self.items) and self.shapes[j + count * p:j + (count + 1) * p] == group \
                    and self.chained(j, (count + 1) * p):
                count += 1
            if count >= 2:
                found.append((j, count))
                j += count * p
            else:
                j += 1
        return found


def _flat_node(it: Item) -> tuple[Any, ...] | None:
    if not isinstance(it, Layer) or len(it.layer.inputs) != 1 or it.layer.tied or not _index_name(it.layer.path[-1]):
        return None
    shape = _node_shape(it)
    return shape[:1] + shape[2:]


def _index_name(name: str) -> bool:
    return name.isdigit() and name.isascii() and (name == "0" or not name.startswith("0"))


def _fold_run(runs: list[tuple[list[Item], int, int]], p: int, names: set[str], reserved: Callable[[str], bool]) -> Block:
    """One block for every group of the runs, and each run one flat call of it (in place)."""
    groups: list[Scope] = []
    for items, start, count in runs:
        for k in range(count):
            part = items[start + k * p:start + (k + 1) * p]
            cls = "".join(_ident(it.layer.op).capitalize() for it in part if isinstance(it, Layer))  # ConvRelu
            group = Scope("", list(part), (), cls)
            finish(group)
            groups.append(group)
    block = _make_block(groups, names, reserved)
    block.index = unique(INDEX_PARAM, {*RESERVED_PARAMS, *(q.name for q in block.params)})
    block.params.append(Param(block.index, None))  # required: every call says where its layers sit
    for values, group in zip(block.member_values, groups):
        first = group.items[0]
        assert isinstance(first, Layer)
        values[block.index] = int(first.layer.path[-1])
    offsets = [sum(count for _, _, count in runs[:k]) for k in range(len(runs))]  # each run's first group in groups
    for k in sorted(range(len(runs)), key=lambda k: (id(runs[k][0]), -runs[k][1])):  # back to front: starts stay true
        items, start, count = runs[k]
        at = offsets[k]
        run = items[start:start + count * p]
        layers = [it for it in run if isinstance(it, Layer)]
        call = Call("", block, block.member_values[at:at + count], layers[0].layer.inputs[0], run[-1].out,
                    frozenset(it.out for it in layers), frozenset(layers[0].layer.inputs),
                    tuple(run[(g + 1) * p - 1].out for g in range(count)), count, flat=True,
                    layers=tuple((it.out, it.layer.path[-1]) for it in layers))
        items[start:start + count * p] = [call]
    return block


# ---- repeat -------------------------------------------------------------------------------------
def _repeat(s: Scope) -> Call | None:
    """An nn.Sequential of calls of one block named 0, 1, ... (or a common prefix and 0, 1, ...: RegNet's block2-0,
    block2-1...) in a chain, one or more: one call with ``repeat`` (and ``each`` for the prefix; a stage of one unit is
    ``repeat: 1``, written like the stages beside it)."""
    items = s.items
    if not items or not all(isinstance(c, Call) and c.repeat == 0 and not c.flat for c in items):
        return None
    calls = [c for c in items if isinstance(c, Call)]
    prefix = iteration_prefix([c.name for c in calls])
    if prefix is None or any(c.block is not calls[0].block for c in calls):
        return None
    if any(calls[k].entry != calls[k - 1].out for k in range(1, len(calls))):
        return None
    values = [c.values[0] for c in calls]
    for p in calls[0].block.params:
        vs = [v[p.name] for v in values]
        if not all(_same(v, vs[1]) for v in vs[1:]) and not all(isinstance(v, (bool, int, float)) for v in vs):
            return None  # a list of texts or lists cannot be indexed by i in an expression
    return Call(s.name, calls[0].block, values, calls[0].entry, s.out, s.keys, s.reads,
                tuple(c.out for c in calls), len(calls), each=prefix)


def iteration_prefix(names: list[str]) -> str | None:
    """``p`` where the names are ``p0``, ``p1``, ... in order (``''`` for 0, 1, ...: an nn.Sequential's), else None."""
    prefix = names[0][:-1]
    if not names[0].endswith("0") or any(n != f"{prefix}{k}" for k, n in enumerate(names)):
        return None
    return prefix


def call_args(call: Call) -> tuple[dict[str, Any], dict[str, Any]]:
    """(arguments, first) of a call: the parameters that differ from the block's defaults; for a repeat, the
    value on iterations 1..n-1 (or a list indexed by i) with the first iteration's difference in ``first``."""
    args: dict[str, Any] = {}
    first: dict[str, Any] = {}
    for p in call.block.params:
        vs = [v[p.name] for v in call.values]
        if p.name == call.block.index:  # a flat run: where each iteration's layers sit, the first's index and a step
            args[p.name] = _progression(vs)
            continue
        rest = vs[1:] if len(vs) > 1 else vs
        if all(_same(v, rest[0]) for v in rest):
            if not _same(rest[0], p.default):
                args[p.name] = rest[0]
            if not _same(vs[0], rest[0]):
                first[p.name] = vs[0]
        else:
            args[p.name] = "${[" + ", ".join(_expr(v) for v in vs) + "][i]}"
    return args, first


def _progression(vs: list[int]) -> Any:
    """The index of a flat run's iterations: ``5`` for one, ``'${5 + 2 * i}'`` for 5, 7, 9 (always a step: its groups
    follow one another)."""
    if len(vs) == 1:
        return vs[0]
    step = vs[1] - vs[0]
    return f"${{{step} * i}}" if vs[0] == 0 else f"${{{vs[0]} + {step} * i}}"


def _expr(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v)


def param_of(block: Block, node: Any, arg: str) -> str | None:
    """The parameter that gives ``arg`` of template node ``node`` (None: the value is the same everywhere); ``arg``
    OP_SLOT: the parameter naming a layer's op."""
    return block.slots.get((id(node), arg))


def flag_of(block: Block, node: Any, kind: str) -> str | None:
    """The flag parameter of a template residual: 'when' (its shortcut) or 'connect' (the whole residual)."""
    return block.flags.get((id(node), kind))
