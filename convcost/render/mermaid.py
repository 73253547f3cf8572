"""The layer graph as a mermaid flowchart that fits where it is read, and mermaid bar charts (xychart-beta).

A report is read in GitHub's 1,012 px column: a tall ribbon of alike boxes says little. So the graph is
collapsed to the deepest level of blocks whose chart stays short (an estimated ``MAX_HEIGHT_PX`` tall and
``MAX_CHART_NODES`` boxes in all), runs of identical blocks fold into one box ('layer3.1–5 ×5'), and each
box is shaded by its share of the model's MACs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..cost import Cost
from ..costmodel.analysis import Analysis
from ..errors import escape_controls
from ..graph.build import Graph, Node
from ..ops.shapes import fmt_shape
from ..units import human
from .text import unique

MAX_CHART_NODES = 40
MAX_HEIGHT_PX = 1_500  # the tallest chart drawn, as estimated below (GitHub's column: about a screen and a half)
# mermaid 11 draws a box 30 px plus 24 px a line of label tall, with 50 px between ranks (measured with
# benchmarks/render_reports.py: ResNet-50's 12-box chain estimates 1,656 px and renders 1,742)
BOX_PX, LINE_PX, GAP_PX = 30, 24, 50
SHORT_CHAIN = 6  # a chain of at most this many boxes is still worth drawing; a longer one is a ribbon
# Shades by share of the model's MACs: (at least this %, class name, fill colour)
SHADES = ((20.0, "macs20", "#e8590c"), (5.0, "macs5", "#ffa94d"), (1.0, "macs1", "#ffe8cc"))
SHADE_NOTE = "Boxes are shaded by their share of the model's MACs: ≥ 20 % dark orange, 5–20 % orange, 1–5 % light."


def node_path(node: Node) -> tuple[str, ...]:
    return (*node.scope, node.short_name)


@dataclass(frozen=True)
class Box:
    """One box of the collapsed graph: a layer, a block, or a folded run of identical blocks."""

    key: tuple[str, ...]
    members: tuple[int, ...]  # node indices
    text: str  # the label's first line
    kind: str
    shape: str
    cost: Cost
    run: int = 1  # how many identical blocks it stands for


@dataclass(frozen=True)
class Layout:
    depth: int
    boxes: tuple[Box, ...]
    edges: tuple[tuple[int, int], ...]  # box index -> box index; -1 - k: model input k
    height: int  # estimated px from the top of the input's box to the bottom of the last box

    @property
    def chain(self) -> bool:
        """Every box has at most one box before it and one after it: a ribbon."""
        ins: dict[int, int] = {}
        outs: dict[int, int] = {}
        for s, t in self.edges:
            ins[t] = ins.get(t, 0) + 1
            outs[s] = outs.get(s, 0) + 1
        return all(v <= 1 for v in ins.values()) and all(v <= 1 for v in outs.values())


def deepest(graph: Graph) -> int:
    return max(len(node_path(n)) for n in graph.nodes)


def _groups(graph: Graph, depth: int) -> dict[tuple[str, ...], list[int]]:
    groups: dict[tuple[str, ...], list[int]] = {}
    for n in graph.nodes:
        groups.setdefault(node_path(n)[:depth], []).append(n.index)
    return groups


def layout(a: Analysis, depth: int, fold: bool = True) -> Layout:
    """The graph collapsed to ``depth`` levels; consecutive identical blocks folded when ``fold``."""
    g = a.graph
    scope_labels = {s.path: s.label for s in g.scopes}
    groups = _groups(g, depth)
    keys = list(groups)
    group_of = {i: k for k, key in enumerate(keys) for i in groups[key]}
    raw: list[Box] = []
    sources: list[set[int]] = []  # what enters each group from outside (group indices; inputs negative)
    for k, key in enumerate(keys):
        members = groups[key]
        last = g.nodes[members[-1]]
        single = len(members) == 1 and node_path(g.nodes[members[0]]) == key
        kind = last.op if single else f"{scope_labels.get(key, 'block')}, {len(members)} layers"
        cost = sum((a.layers[i].cost for i in members), Cost())
        raw.append(Box(key, tuple(members), ".".join(key), kind, fmt_shape(last.shape), cost))
        src: set[int] = set()
        for i in members:
            for j in g.nodes[i].inputs:
                s = j if j < 0 else group_of[j]
                if s != k:
                    src.add(s)
        sources.append(src)
    # fold runs: key[:-1] equal, last parts consecutive numbers, same kind/shape/cost, each fed by the one before
    rep = list(range(len(raw)))
    boxes: list[Box] = []
    index_of: dict[int, int] = {}
    k = 0
    while k < len(raw):
        j = k
        while fold and j + 1 < len(raw) and _continues(raw[j], raw[j + 1]) and sources[j + 1] == {j}:
            j += 1
        first = raw[k]
        if j > k:
            last_part = raw[j].key[-1]
            name = f"{first.text}–{_short(first.key[-1], last_part, raw[j].text)} ×{j - k + 1}"
            members = tuple(i for r in raw[k:j + 1] for i in r.members)
            cost = sum((r.cost for r in raw[k:j + 1]), Cost())
            boxes.append(Box(first.key, members, name, first.kind, raw[j].shape, cost, j - k + 1))
        else:
            boxes.append(first)
        for r in range(k, j + 1):
            rep[r] = len(boxes) - 1
        k = j + 1
    for r, b in enumerate(rep):
        index_of[r] = b
    edges: dict[tuple[int, int], None] = {}
    for k, src in enumerate(sources):
        for s in src:
            a_ = s if s < 0 else index_of[s]
            b_ = index_of[k]
            if a_ != b_:
                edges[a_, b_] = None
    heights = [BOX_PX + LINE_PX * (3 if b.cost.macs else 2) + GAP_PX for b in boxes]
    return Layout(depth, tuple(boxes), tuple(edges), _height(heights, list(edges)))


def _short(first: str, last: str, full: str) -> str:
    """'layer3.1'–'5': the last part of a run's last name, or its whole name when the parents differ."""
    return last if first.isdigit() and last.isdigit() else full


def _continues(a: Box, b: Box) -> bool:
    """Block ``b`` is the next of a run after ``a``: siblings with consecutive numbers, alike in every count."""
    if len(a.key) < 2 or a.key[:-1] != b.key[:-1] or not (a.key[-1].isdigit() and b.key[-1].isdigit()):
        return False
    if int(b.key[-1]) != int(a.key[-1]) + 1:
        return False
    return (a.kind, a.shape, a.cost) == (b.kind, b.shape, b.cost) and len(a.members) == len(b.members)


def _height(heights: list[int], edges: list[tuple[int, int]]) -> int:
    """The longest path in px, the input's one-line box on top (a topological walk: linear in boxes and edges)."""
    n = len(heights)
    top = BOX_PX + LINE_PX + GAP_PX  # the input's box
    below = list(heights)  # px from the top of the chart to the bottom of each box
    after: dict[int, list[int]] = {}
    waiting = [0] * n
    for s, t in edges:
        if s < 0:
            below[t] = max(below[t], top + heights[t])
        else:
            after.setdefault(s, []).append(t)
            waiting[t] += 1
    ready = [k for k in range(n) if not waiting[k]]
    while ready:
        s = ready.pop()
        for t in after.get(s, ()):
            below[t] = max(below[t], below[s] + heights[t])
            waiting[t] -= 1
            if not waiting[t]:
                ready.append(t)
    return max(below, default=top) - GAP_PX


def fitting(a: Analysis, limit: int = MAX_CHART_NODES, height: int = MAX_HEIGHT_PX) -> list[Layout]:
    """The folded layouts, shallow to deep, with at most ``limit`` boxes and at most ``height`` px tall."""
    out = []
    for d in range(1, deepest(a.graph) + 1):
        if len(_groups(a.graph, d)) > 4 * limit:  # far too many even before folding: deeper levels have more
            break
        lay = layout(a, d)
        if len(lay.boxes) <= limit and lay.height <= height:
            out.append(lay)
    return out


def auto_depth(a: Analysis | Graph, limit: int = MAX_CHART_NODES, height: int = MAX_HEIGHT_PX) -> int:
    """The deepest level whose folded chart fits (:func:`fitting`); 1 when none does."""
    if isinstance(a, Graph):
        from ..costmodel.analysis import analyze

        a = analyze(a)
    found = fitting(a, limit, height)
    return found[-1].depth if found else 1


def graph_depth(a: Analysis) -> int | None:
    """The depth a report draws the graph at: the deepest fitting level that is not a ribbon (a long chain of
    boxes, which a bar chart shows better), or a short chain; None: draw no graph."""
    found = fitting(a)
    for lay in reversed(found):
        if len(lay.boxes) > 1 and (not lay.chain or len(lay.boxes) <= SHORT_CHAIN):
            return lay.depth
    if len(a.graph.nodes) == 1:
        return 1
    return None if found or layout(a, 1).chain else 1


def sanitize_id(name: str, taken: set[str]) -> str:
    """A mermaid-safe, unique node id: letters, digits and '_', starting with a letter."""
    return unique("n_" + re.sub(r"[^A-Za-z0-9_]", "_", name), taken)


def label_text(text: str) -> str:
    """Text inside a quoted mermaid label: on one line (a file name's newline cannot end the diagram's fence), quotes
    and angle brackets as entity codes."""
    return escape_controls(text).replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def shade(part: int, whole: int) -> str | None:
    if not whole or not part:
        return None
    pct = 100 * part / whole
    return next((name for at, name, _ in SHADES if pct >= at), None)


def mermaid_flowchart(a: Analysis, depth: int | None = None, fold: bool = True) -> tuple[str, int]:
    """The flowchart text (without the fence) and the depth used."""
    g = a.graph
    d = depth if depth is not None else auto_depth(a)
    lay = layout(a, d, fold)
    total = a.total.macs
    taken: set[str] = {"n_input"}
    lines = ["flowchart TD"]
    input_ids: dict[int, str] = {}
    for inp in g.inputs:  # one model input: 'n_input'; several: a box for each, by name
        input_ids[inp.index] = "n_input" if len(g.inputs) == 1 else sanitize_id("input_" + inp.name, taken)
        label = ("input " if len(g.inputs) == 1 else f"input {inp.name} ") + str(g.batch) + "×" + fmt_shape(inp.shape)
        lines.append(f'    {input_ids[inp.index]}["{label_text(label)}"]')
    ids = [sanitize_id(".".join(b.key), taken) for b in lay.boxes]
    classes: dict[str, list[str]] = {}
    for box, nid in zip(lay.boxes, ids):
        text = f"{label_text(box.text)}<br/>{label_text(box.kind)} → {box.shape}"
        if box.cost.macs:
            share = f"{100 * box.cost.macs / total:.1f} %" if total else ""
            text += f"<br/>{human(box.cost.macs)} MACs ({share})" if share else f"<br/>{human(box.cost.macs)} MACs"
        lines.append(f'    {nid}["{text}"]')
        cls = shade(box.cost.macs, total)
        if cls:
            classes.setdefault(cls, []).append(nid)
    box_of = {i: k for k, b in enumerate(lay.boxes) for i in b.members}
    edges = [f"    {input_ids[s] if s < 0 else ids[s]} --> {ids[t]}" for s, t in lay.edges]
    if g.several:  # several outputs: a box for each, by name
        for n in g.output_nodes:
            out_id = sanitize_id("output_" + n.name, taken)
            lines.append(f'    {out_id}["{label_text(f"output {n.name} {g.batch}×{fmt_shape(n.shape)}")}"]')
            edges.append(f"    {ids[box_of[n.index]]} --> {out_id}")
    lines += edges
    for _, name, fill in SHADES:
        if name in classes:
            lines.append(f"    classDef {name} fill:{fill},stroke:#7f3b08")
            lines.append(f"    class {','.join(classes[name])} {name}")
    return "\n".join(lines), d


# ---- bar charts -----------------------------------------------------------------------------------
def xychart(title: str, categories: Sequence[str], values: Sequence[float], axis: str, horizontal: bool | None = None) -> str:
    """A mermaid ``xychart-beta`` bar chart (GitHub renders it natively; no plotting library needed).
    Many categories are drawn horizontally, so that their names stay readable."""
    horizontal = len(categories) > 8 if horizontal is None else horizontal
    top = max(values, default=0) or 1
    cats = ", ".join('"' + label_text(c).replace("#quot;", "'") + '"' for c in categories)
    return "\n".join([
        "xychart-beta" + (" horizontal" if horizontal else ""),
        f'    title "{label_text(title)}"',
        f"    x-axis [{cats}]",
        f'    y-axis "{label_text(axis)}" 0 --> {_nice(top * 1.05)}',
        f"    bar [{', '.join(f'{v:.4g}' for v in values)}]",
    ])


def _nice(x: float) -> str:
    return f"{x:.3g}"
