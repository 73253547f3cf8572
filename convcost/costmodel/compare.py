"""Side-by-side comparison of several analysed models: totals, changes against the first, and
per-block alignment where the models share block names."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..cost import Cost, metric
from ..errors import UsageError
from ..frontend.spec import SpecFile
from ..graph.settings import Settings
from ..ops.registry import Shape
from ..pipeline import analyze_across, open_specs
from .analysis import Analysis


@dataclass(frozen=True)
class Entry:
    label: str
    analysis: Analysis


@dataclass(frozen=True)
class BlockRow:
    """One aligned block: its name and each entry's cost (None where the entry has no such block)."""

    name: str
    costs: tuple[Cost | None, ...]

    @property
    def shared(self) -> bool:
        return sum(c is not None for c in self.costs) >= 2


@dataclass(frozen=True)
class Block:
    """A block of one model at a depth of the layer tree: a layer, or a scope's layers summed.

    ``kind`` is the layer's op, or the scope's label ('bottleneck ×3', 'concat branch'); ``inputs`` the
    shapes that enter it from outside; ``output`` the shape its last layer makes."""

    name: str
    kind: str
    inputs: tuple[Shape, ...]
    output: Shape
    cost: Cost

    @property
    def signature(self) -> tuple[str, Shape]:
        return self.kind, self.output


@dataclass(frozen=True)
class AlikeRow:
    """A block of the first model and its counterparts: alike blocks (same kind, same output shape) of the other
    models, found by name or else by their place in the structure; None where a model has none."""

    name: str
    kind: str
    output: Shape
    blocks: tuple[Block | None, ...]

    @property
    def costs(self) -> tuple[Cost | None, ...]:
        return tuple(b.cost if b is not None else None for b in self.blocks)

    @property
    def shared(self) -> bool:
        return sum(b is not None for b in self.blocks) >= 2


@dataclass(frozen=True)
class Comparison:
    entries: tuple[Entry, ...]

    @property
    def base(self) -> Entry:
        return self.entries[0]

    def value(self, entry: Entry, name: str) -> int:
        return metric(entry.analysis.total, name)

    def change(self, entry: Entry, name: str) -> float | None:
        """Relative change against the first entry, in percent (None when the first is zero)."""
        return change_pct(self.value(entry, name), self.value(self.base, name))

    def blocks(self, depth: int = 1) -> tuple[tuple[Entry, ...], list[BlockRow]]:
        """Costs per block path cut to ``depth`` levels, aligned by name.

        Only entries that share at least one block name with another entry take part; the rows
        are every block of those entries (None where an entry has no such block).
        """
        per_entry = [block_costs(e.analysis, depth) for e in self.entries]
        seen = Counter(name for d in per_entry for name in d)
        keep = [k for k, d in enumerate(per_entry) if any(seen[n] > 1 for n in d)]
        order = merged_order([list(per_entry[k]) for k in keep])
        rows = [BlockRow(name, tuple(per_entry[k].get(name) for k in keep)) for name in order]
        return tuple(self.entries[k] for k in keep), rows


    def alike_blocks(self, depth: int = 1) -> tuple[tuple[Entry, ...], list[AlikeRow], dict[str, list[str]]]:
        """Blocks of the first model beside the alike blocks of the others (see :func:`match_blocks`), only
        rows where at least two models have the block; and, per model, its blocks that have no counterpart."""
        per_entry = [model_blocks(e.analysis, depth) for e in self.entries]
        base = per_entry[0]
        matches = [match_blocks(base, other) for other in per_entry[1:]]
        rows = []
        for k, b in enumerate(base):
            found = tuple(m.get(k) for m in matches)
            if any(f is not None for f in found):
                rows.append(AlikeRow(b.name, b.kind, b.output, (b, *found)))
        unmatched: dict[str, list[str]] = {}
        paired = [{id(r.blocks[j]) for r in rows if r.blocks[j] is not None} for j in range(len(self.entries))]
        for j, (e, blocks) in enumerate(zip(self.entries, per_entry)):
            lone = [b.name for b in blocks if id(b) not in paired[j]]
            if lone:
                unmatched[e.label] = lone
        return self.entries, rows, unmatched

    def output_mismatch(self) -> list[str]:
        """Labels of the models whose outputs differ from the first's (not drop-in replacements for it)."""
        base = self.base.analysis.graph
        return [e.label for e in self.entries[1:] if _outputs(e.analysis) != _outputs(self.base.analysis) or
                e.analysis.graph.batch != base.batch]


def _outputs(a: Analysis) -> tuple[Shape, ...]:
    return tuple(n.shape for n in a.graph.output_nodes)


def model_blocks(a: Analysis, depth: int) -> list[Block]:
    """The blocks of a model at ``depth`` (the same partition of the layers as :func:`block_costs`), in order."""
    g = a.graph
    scopes = {s.path: s.label for s in g.scopes}
    members: dict[tuple[str, ...], list[int]] = {}
    for lc in a.layers:
        members.setdefault((*lc.node.scope, lc.node.short_name)[:depth], []).append(lc.node.index)
    out = []
    for key, indices in members.items():
        inside = set(indices)
        entering: dict[Shape, None] = {}
        for i in indices:
            for src in g.nodes[i].inputs:
                if src not in inside:
                    entering[g.shape_of(src)] = None
        last = g.nodes[indices[-1]]
        single = len(indices) == 1 and (*last.scope, last.short_name) == key
        kind = last.op if single else scopes.get(key, "block")
        cost = sum((a.layers[i].cost for i in indices), Cost())
        out.append(Block(".".join(key), kind, tuple(entering), last.shape, cost))
    return out


def match_blocks(base: list[Block], other: list[Block]) -> dict[int, Block]:
    """For blocks of ``base`` (by index), the alike block of ``other``: first the one of the same name when it is
    alike (same kind, same output shape), then, in order, alike blocks of other names (the longest common
    subsequence of the remaining signatures, so that renamed blocks in the same places pair up).

    A 5×5 conv 192→32 and a 1×1 conv 192→16 both called 'conv1' are not alike (the outputs differ): they
    are not paired, however they are named."""
    found: dict[int, Block] = {}
    by_name = {b.name: b for b in other}
    used: set[int] = set()
    for k, b in enumerate(base):
        o = by_name.get(b.name)
        if o is not None and o.signature == b.signature:
            found[k] = o
            used.add(id(o))
    rest_base = [k for k in range(len(base)) if k not in found]
    rest_other = [o for o in other if id(o) not in used]
    n, m = len(rest_base), len(rest_other)
    if n and m and n * m <= 4_000_000:  # a longest common subsequence over signatures: O(n·m)
        sig_b = [base[k].signature for k in rest_base]
        sig_o = [o.signature for o in rest_other]
        table = [[0] * (m + 1) for _ in range(n + 1)]
        for i in range(n - 1, -1, -1):
            row, below = table[i], table[i + 1]
            for j in range(m - 1, -1, -1):
                row[j] = below[j + 1] + 1 if sig_b[i] == sig_o[j] else max(below[j], row[j + 1])
        i = j = 0
        while i < n and j < m:
            if sig_b[i] == sig_o[j]:
                found[rest_base[i]] = rest_other[j]
                i, j = i + 1, j + 1
            elif table[i + 1][j] >= table[i][j + 1]:
                i += 1
            else:
                j += 1
    return found


def change_pct(value: int, base: int) -> float | None:
    if base == 0:
        return None if value else 0.0
    return 100.0 * (value - base) / base


def block_costs(a: Analysis, depth: int) -> dict[str, Cost]:
    """Layer costs summed by their path cut to ``depth`` components (a partition of the layers)."""
    out: dict[str, Cost] = {}
    for lc in a.layers:
        key = ".".join((*lc.node.scope, lc.node.short_name)[:depth])
        out[key] = out.get(key, Cost()) + lc.cost
    return out


def merged_order(lists: list[list[str]]) -> list[str]:
    """All names once: the first list's order; a newcomer goes after its predecessor in its own list,
    or before its successor there, or at the end.

    Linear in the number of names: the order is a linked list (``after``/``before`` maps), so an
    insertion in the middle costs O(1). Names within one list are unique (they are dict keys), so a
    newcomer's predecessor is always placed already; only a list's first name looks ahead.
    """
    head: str | None = None
    tail: str | None = None
    after: dict[str, str | None] = {}
    before: dict[str, str | None] = {}

    def link(name: str, prev: str | None) -> None:
        """Insert ``name`` right after ``prev`` (None: at the front)."""
        nonlocal head, tail
        nxt = head if prev is None else after[prev]
        before[name], after[name] = prev, nxt
        if prev is None:
            head = name
        else:
            after[prev] = name
        if nxt is None:
            tail = name
        else:
            before[nxt] = name

    for names in lists:
        for k, name in enumerate(names):
            if name in after:
                continue
            if k and names[k - 1] in after:
                link(name, names[k - 1])
                continue
            later = next((n for n in names[k + 1:] if n in after), None)
            link(name, tail if later is None else before[later])
    order: list[str] = []
    node = head
    while node is not None:
        order.append(node)
        node = after[node]
    return order


def labels_for(analyses: list[Analysis]) -> list[str]:
    """Model names; a name that occurs more than once is qualified as 'file-stem:model'."""
    names = Counter(a.graph.model for a in analyses)
    labels = [a.graph.model if names[a.graph.model] == 1 else f"{Path(a.graph.file).stem}:{a.graph.model}"
              for a in analyses]
    counts = Counter(labels)
    seen: Counter[str] = Counter()
    out = []
    for lab in labels:
        if counts[lab] > 1:
            seen[lab] += 1
            lab = f"{lab}#{seen[lab]}"
        out.append(lab)
    return out


def load_analyses(
    specs: list[str] | list[str | SpecFile | None], models: list[str] | None, batch: int | None, settings: Settings | None = None
) -> list[Analysis]:
    """Every model of every spec, or with ``models`` those models, in the order named.

    ``compare a.yaml b.yaml -m net`` compares model 'net' of both files; a name that is in none of
    the files is an error (api.select_across).
    """
    return analyze_across(open_specs(specs), models, batch, settings)


def make_comparison(analyses: list[Analysis]) -> Comparison:
    if len(analyses) < 2:
        only = analyses[0].graph.model if analyses else "nothing"
        raise UsageError(
            f"compare needs at least two models, got {len(analyses)} ({only}); "
            "give several spec files, a file with several models, or --model twice"
        )
    return Comparison(tuple(Entry(lab, a) for lab, a in zip(labels_for(analyses), analyses, strict=True)))
