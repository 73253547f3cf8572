"""A graph as *steps*, the ops `verify --reference` compares (structure.py pairs them), and when two are the same.

Each side's graph (the spec's, and the model's as convcost's importer reads it: model_graph.py) becomes a list of
steps first:

- pass-through layers (category ``identity``: identity, dropout) drop out; their readers read their input;
- an op that is a composition of others (its rule's ``lowered``: ``patch_embed`` is a conv, then ``to_tokens``)
  becomes those ops, so a model written either way compares equal (macros are expanded in the graph already);
- on the model's side, a region (a module with a layer convcost cannot read) is one opaque step named after the
  module, and a run of opaque steps one after another is one too.

A step is its op, its arguments (after the op's ``resolve``: one value per spatial dim) and its output shape.
Torch-free.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..graph.build import Graph, Node
from ..ops.registry import ShapeError, compared_args, rule
from ..ops.shapes import Shape, numel
from .model_graph import Region


@dataclass(frozen=True)
class Step:
    """One op of one side, after pass-through layers dropped out and compositions were lowered."""

    index: int
    name: str  # the spec's layer name, or the model's module path (the importer's key)
    kind: str  # what to call it: the spec's op, or the model's module class ('GELU'; the op for a function)
    op: str
    args: Any
    shape: Shape
    inputs: tuple[int, ...]  # steps of the same side; negative: the model's inputs (the graph's numbering)
    node: int  # the graph node it comes from (a lowered node gives several steps)
    first: bool = True  # the first step of its node: where the node's weights are compared
    opaque: str = ""  # model side: why convcost cannot read it (compared with nothing)
    unsure: bool = False  # model side: its shape follows from an opaque step's stand-in (not compared)
    parts: tuple[str, ...] = ()  # a chain of opaque steps made one: each one's name (their counts add up)


@dataclass(frozen=True)
class Side:
    steps: tuple[Step, ...]
    outputs: tuple[int, ...]  # steps (or inputs) that are the graph's outputs


# ---- a graph's steps ------------------------------------------------------------------------------------------------
def side(graph: Graph, name: Callable[[Node], str] = lambda n: n.name, kind: Callable[[Node], str] = lambda n: "",
         opaque: Mapping[int, str] | None = None, unsure: frozenset[int] = frozenset(),
         regions: Sequence[Region] = (), unshaped: Mapping[int, tuple[str, Any]] | None = None) -> Side:
    """A graph's steps: pass-through layers dropped, compositions lowered (see the module docstring); each region
    (model_graph.py: a module with a layer convcost cannot read) one opaque step named after its module. ``kind``:
    what to call a node's step ('' for its op: a model's module class, where a module computes it)."""
    opaque = opaque or {}
    region_of = {k: r for r in regions for k in r.nodes}
    out: list[Step] = []
    stands: dict[int, int] = {}  # graph node -> the step (or input) giving its output

    def at(i: int) -> int:
        return i if i < 0 else stands[i]

    for n in graph.nodes:
        region = region_of.get(n.index)
        if region is not None:
            if n.index == max(region.nodes):
                ins = tuple(dict.fromkeys(at(i) for k in sorted(region.nodes) for i in graph.nodes[k].inputs
                                          if i not in region.nodes))
                out_node = graph.nodes[region.output]
                out.append(Step(len(out), region.name, region.kind, out_node.op, out_node.args, out_node.shape, ins,
                                region.output, True, region.why, True))
                for k in region.nodes:
                    stands[k] = len(out) - 1
            continue
        ins = tuple(at(i) for i in n.inputs)
        why = opaque.get(n.index, "")
        if unshaped and n.index in unshaped:  # an identity in the graph standing in for what the model runs there
            op, args = unshaped[n.index]
            out.append(Step(len(out), name(n), kind(n) or op, op, args, n.shape, ins, n.index, True, "", True))
            stands[n.index] = len(out) - 1
            continue
        if n.rule.category == "identity" and not why and len(ins) == 1:
            stands[n.index] = ins[0]
            continue
        shapes = tuple(out[i].shape if i >= 0 else graph.shape_of(i) for i in ins)
        lowered = None if why else _lower(n, ins, shapes, len(out))
        if lowered is None:
            lowered = [(n.op, n.args, n.shape, ins)]
        base = len(out)
        for k, (op, args, shape, inputs) in enumerate(lowered):
            shown = (kind(n) or ("unread" if why else op)) if k == 0 else op
            out.append(Step(len(out), name(n), shown, op, args, shape, inputs, n.index, k == 0, why,
                            n.index in unsure))
        stands[n.index] = base + len(lowered) - 1
    return _chains(out, tuple(at(i) for i in graph.outputs))


def _chains(steps: list[Step], outputs: tuple[int, ...]) -> Side:
    """Each chain of opaque steps (one reads only the one before, which nothing else reads) made one step: what
    convcost cannot read between two ops it can (a reshape, a permute and an attention it cannot read) stands for
    whatever the spec has there, as one part."""
    readers = readers_of(steps)
    into: dict[int, int] = {}  # step -> the later step of its chain it is merged into
    before: dict[int, int] = {}  # and back
    for st in steps:
        if st.opaque and len(st.inputs) == 1:
            i = st.inputs[0]
            if i >= 0 and steps[i].opaque and readers.get(i) == [st.index] and i not in outputs:
                into[i], before[st.index] = st.index, i
    if not into:
        return Side(tuple(steps), outputs)
    members: dict[int, list[int]] = {}
    for st in steps:
        if st.index in into:
            continue
        chain = [st.index]
        while chain[0] in before:
            chain.insert(0, before[chain[0]])
        members[st.index] = chain
    new_index: dict[int, int] = {}
    kept = [st for st in steps if st.index not in into]
    for k, st in enumerate(kept):
        for i in members[st.index]:
            new_index[i] = k

    def at(i: int) -> int:
        return i if i < 0 else new_index[i]

    out = []
    for k, st in enumerate(kept):
        chain = [steps[i] for i in members[st.index]]
        first = chain[0]
        name = st.name if len(chain) == 1 else f"{first.name} … {st.name}"
        out.append(dataclasses.replace(st, index=k, name=name, inputs=tuple(at(i) for i in first.inputs),
                                       parts=tuple(c.name for c in chain) if len(chain) > 1 else ()))
    return Side(tuple(out), tuple(at(o) for o in outputs))


def _lower(n: Node, ins: tuple[int, ...], in_shapes: tuple[Shape, ...],
           base: int) -> list[tuple[str, Any, Shape, tuple[int, ...]]] | None:
    """The node as the ops its rule says it computes, with their resolved arguments and shapes (None: itself);
    their steps will be numbered from ``base``."""
    lower = n.rule.lowered
    if lower is None:
        return None
    computes = lower(n.args, in_shapes)
    if computes is None:
        return None
    items: list[tuple[str, Any, Shape, tuple[int, ...]]] = []
    for op, args, refs in computes:
        r = rule(op)
        got = tuple(in_shapes[-1 - j] if j < 0 else items[j][2] for j in refs)
        try:
            args = r.resolve(args, got) if r.resolve is not None else args
            shape = r.shape(args, got)
        except ShapeError:  # pragma: no cover - a lowering that does not fit its own op's input: compare it whole
            return None
        items.append((op, args, shape, tuple(ins[-1 - j] if j < 0 else base + j for j in refs)))
    return items


# ---- the same op -------------------------------------------------------------------------------------------
def same_op(s: Step, m: Step) -> bool:
    """The same op and arguments, and (unless the model's shape is unsure) the same number of output values:
    a patch embedding's 196×768 tokens are a 768×14×14 map laid out otherwise."""
    same_size = m.unsure or numel(s.shape) == numel(m.shape)
    return s.op == m.op and compared_values(s.args) == compared_values(m.args) and same_size


def compared_values(args: Any) -> tuple[tuple[str, Any], ...]:
    """The arguments compared (registry.compared_args), one value for all spatial dims where they agree: a
    layer's ``kernel`` fitted to its input, (3, 3), and one not fitted (an unshaped step's), 3, are the same."""
    return tuple((name, v[0] if isinstance(v, tuple) and v and all(x == v[0] for x in v) else v)
                 for name, v in compared_args(args))


def readers_of(steps: Sequence[Step]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = defaultdict(list)
    for st in steps:
        for i in dict.fromkeys(st.inputs):
            out[i].append(st.index)
    return out
