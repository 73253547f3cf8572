"""Top-level blocks of a graph: what `profile` times one by one and the roofline sums up.

A top-level block is a top-level scope (a block call, a repeat, a named branch) or a layer that
sits at the top level itself. The graph builder emits a scope's layers one after another, so a
block is a contiguous run of nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

from .build import Graph, Node


@dataclass(frozen=True)
class Segment:
    name: str
    kind: str  # the scope's kind ('block', 'repeat', 'branch', ...) or the layer's op
    nodes: tuple[Node, ...]

    @property
    def indices(self) -> tuple[int, ...]:
        return tuple(n.index for n in self.nodes)


def top_level_segments(graph: Graph) -> list[Segment]:
    """The top-level blocks in node order (linear: each block's nodes are gathered in a list)."""
    kinds = {s.path: s.kind for s in graph.scopes}
    runs: list[tuple[str, str, list[Node]]] = []
    key_of_last: str | None = None
    for n in graph.nodes:
        key = n.scope[0] if n.scope else n.short_name
        if runs and key == key_of_last and n.scope:
            runs[-1][2].append(n)
        else:
            kind = kinds.get(n.scope[:1], "layer") if n.scope else n.op
            runs.append((key, kind, [n]))
        key_of_last = key
    return [Segment(name, kind, tuple(nodes)) for name, kind, nodes in runs]

