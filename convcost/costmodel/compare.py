"""Side-by-side comparison of several analysed models: totals, changes against the first, and
per-block alignment where the models share block names."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..cost import Cost, metric
from ..errors import UsageError
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


def load_analyses(specs: list[str], models: list[str] | None, batch: int | None) -> list[Analysis]:
    """Every model of every spec, or with ``models`` those models, in the order named.

    ``compare a.yaml b.yaml -m net`` compares model 'net' of both files; a name that is in none of
    the files is an error (api.select_across).
    """
    return analyze_across(open_specs(specs), models, batch)


def make_comparison(analyses: list[Analysis]) -> Comparison:
    if len(analyses) < 2:
        only = analyses[0].graph.model if analyses else "nothing"
        raise UsageError(
            f"compare needs at least two models, got {len(analyses)} ({only}); "
            "give several spec files, a file with several models, or --model twice"
        )
    return Comparison(tuple(Entry(lab, a) for lab, a in zip(labels_for(analyses), analyses, strict=True)))
