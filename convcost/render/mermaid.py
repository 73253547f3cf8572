"""The layer graph as a mermaid flowchart, collapsed to blocks at a depth so big nets stay readable."""

from __future__ import annotations

import re

from ..cost import Cost
from ..costmodel.analysis import Analysis
from ..graph.build import Graph, Node
from ..ops.shapes import fmt_shape
from ..units import human
from .text import unique

MAX_CHART_NODES = 40


def node_path(node: Node) -> tuple[str, ...]:
    return (*node.scope, node.short_name)


def auto_depth(graph: Graph, limit: int = MAX_CHART_NODES) -> int:
    """The deepest level whose collapsed chart has at most ``limit`` boxes (at least 1)."""
    deepest = max(len(node_path(n)) for n in graph.nodes)
    best = 1
    for d in range(1, deepest + 1):
        if len({node_path(n)[:d] for n in graph.nodes}) <= limit:
            best = d
    return best


def sanitize_id(name: str, taken: set[str]) -> str:
    """A mermaid-safe, unique node id: letters, digits and '_', starting with a letter."""
    return unique("n_" + re.sub(r"[^A-Za-z0-9_]", "_", name), taken)


def label_text(text: str) -> str:
    """Text inside a quoted mermaid label: quotes and angle brackets become entity codes."""
    return text.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def mermaid_flowchart(a: Analysis, depth: int | None = None) -> tuple[str, int]:
    """The flowchart text (without the fence) and the depth used."""
    g = a.graph
    d = depth if depth is not None else auto_depth(g)
    scope_labels = {s.path: s.label for s in g.scopes}
    groups: dict[tuple[str, ...], list[int]] = {}
    for n in g.nodes:
        groups.setdefault(node_path(n)[:d], []).append(n.index)
    taken: set[str] = {"n_input"}
    lines = ["flowchart TD"]
    input_ids: dict[int, str] = {}
    for inp in g.inputs:  # one model input: 'n_input'; several: a box for each, by name
        input_ids[inp.index] = "n_input" if len(g.inputs) == 1 else sanitize_id("input_" + inp.name, taken)
        label = ("input " if len(g.inputs) == 1 else f"input {inp.name} ") + str(g.batch) + "×" + fmt_shape(inp.shape)
        lines.append(f'    {input_ids[inp.index]}["{label_text(label)}"]')
    ids = {key: sanitize_id(".".join(key), taken) for key in groups}
    group_of = {i: key for key, members in groups.items() for i in members}
    for key, members in groups.items():
        cost = sum((a.layers[i].cost for i in members), Cost())
        last = g.nodes[members[-1]]
        if len(members) == 1 and node_path(g.nodes[members[0]]) == key:
            kind = last.op
        else:
            kind = f"{scope_labels.get(key, 'block')}, {len(members)} layers"
        text = f"{label_text('.'.join(key))}<br/>{label_text(kind)} → {fmt_shape(last.shape)}"
        if cost.macs:
            text += f"<br/>{human(cost.macs)} MACs"
        lines.append(f'    {ids[key]}["{text}"]')
    edges: dict[tuple[str, str], None] = {}  # an ordered set: O(1) membership on 50,000-layer nets
    for n in g.nodes:
        dst = ids[group_of[n.index]]
        for i in n.inputs:
            src = input_ids[i] if i < 0 else ids[group_of[i]]
            if src != dst:
                edges[src, dst] = None
    if g.several:  # several outputs: a box for each, by name
        for n in g.output_nodes:
            out_id = sanitize_id("output_" + n.name, taken)
            lines.append(f'    {out_id}["{label_text(f"output {n.name} {g.batch}×{fmt_shape(n.shape)}")}"]')
            edges[ids[group_of[n.index]], out_id] = None
    lines += [f"    {s} --> {t}" for s, t in edges]
    return "\n".join(lines), d
