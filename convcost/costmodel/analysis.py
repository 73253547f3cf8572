"""Per-layer cost records for a graph, scope subtotals, and the rows of the layer tree."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

from ..cost import Cost
from ..graph.build import Graph, Node, Scope
from ..ops.registry import Shape
from ..util.gcpause import paused_gc


# LayerCost and Row are NamedTuples, not frozen dataclasses: cheaper to create, the classes at start-up and
# one record per layer (frontend/source.py). Analysis caches its totals (cached_property): a dataclass.
class LayerCost(NamedTuple):
    node: Node
    cost: Cost


class Row(NamedTuple):
    """One line of the layer tree: a scope (with its subtotal) or a layer."""

    path: tuple[str, ...]
    depth: int
    is_scope: bool
    op: str
    shape: Shape
    cost: Cost
    collapsed: bool = False
    is_part: bool = False  # a piece of the layer above it (attention's QKᵀ...): already in that layer's cost

    @property
    def name(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class Analysis:
    """The cost of every layer of a graph, with totals by scope, category and op."""

    graph: Graph
    layers: tuple[LayerCost, ...]

    @cached_property
    def total(self) -> Cost:
        return sum((lc.cost for lc in self.layers), Cost())

    @cached_property
    def uncounted(self) -> tuple[str, ...]:
        """The layers whose arithmetic no total holds: `unsupported` parts of an imported model (ops/imported.py)."""
        return tuple(lc.node.name for lc in self.layers if lc.node.op == "unsupported")

    @cached_property
    def scope_totals(self) -> dict[tuple[str, ...], Cost]:
        """Subtotal of every scope, in one pass over the layers."""
        totals: dict[tuple[str, ...], Cost] = {}
        for lc in self.layers:
            scope = lc.node.scope
            for k in range(1, len(scope) + 1):
                p = scope[:k]
                totals[p] = totals.get(p, Cost()) + lc.cost
        return totals

    def scope_total(self, path: tuple[str, ...]) -> Cost:
        return self.scope_totals.get(tuple(path), Cost())

    def by_category(self) -> dict[str, Cost]:
        out: dict[str, Cost] = {}
        for lc in self.layers:
            cat = lc.node.rule.category
            out[cat] = out.get(cat, Cost()) + lc.cost
        return out

    def by_op(self) -> dict[str, Cost]:
        out: dict[str, Cost] = {}
        for lc in self.layers:
            out[lc.node.op] = out.get(lc.node.op, Cost()) + lc.cost
        return out

    def rows(self, depth: int | None = None) -> list[Row]:
        """The layer tree in graph order.

        With ``depth`` N only the first N levels are shown; scopes on level N are collapsed to one
        subtotal row (depth 1: the top-level table, e.g. conv1, layer1..4, fc of a ResNet).
        """
        scopes: dict[tuple[str, ...], Scope] = {s.path: s for s in self.graph.scopes}
        totals = self.scope_totals
        last_shape: dict[tuple[str, ...], Shape] = {}
        for lc in self.layers:
            scope = lc.node.scope
            for k in range(1, len(scope) + 1):
                last_shape[scope[:k]] = lc.node.shape
        rows: list[Row] = []
        opened: set[tuple[str, ...]] = set()
        for lc in self.layers:
            node = lc.node
            scope = node.scope
            for k in range(1, len(scope) + 1):
                p = scope[:k]
                if p in opened:
                    continue
                opened.add(p)
                level = k - 1
                if depth is not None and level >= depth:
                    break
                collapsed = depth is not None and level == depth - 1
                rows.append(Row(p, level, True, scopes[p].label, last_shape[p], totals[p], collapsed))
            if depth is not None and len(scope) >= depth:
                continue
            rows.append(Row((*scope, node.short_name), len(scope), False, node.op, node.shape, lc.cost))
            if node.rule.parts is not None and (depth is None or len(scope) + 1 < depth):
                for part in node.rule.parts(node.args, node.in_shapes, node.shape, self.graph.batch):
                    rows.append(Row((*scope, node.short_name, part.name), len(scope) + 1, False, part.op, part.shape,
                                    part.cost, is_part=True))
        return rows


def _cost(node: Node, batch: int) -> Cost:
    """The op's cost of the layer; its `tied` parameters (an earlier layer's) are counted there, not again."""
    cost = node.rule.cost(node.args, node.in_shapes, node.shape, batch)
    return dataclasses.replace(cost, params=cost.params - node.tied_params()) if node.tied else cost


def analyze(graph: Graph) -> Analysis:
    with paused_gc():
        layers = tuple(LayerCost(node, _cost(node, graph.batch)) for node in graph.nodes)
    return Analysis(graph, layers)
