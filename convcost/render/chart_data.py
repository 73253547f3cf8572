"""What the charts show, apart from how they are drawn: bars by block and by op type, bars per model and
per block of a comparison. matplotlib (render/chart.py) and mermaid's xychart-beta (render/mermaid.py)
draw the same data."""

from __future__ import annotations

from dataclasses import dataclass

from ..cost import TITLES, metric
from ..costmodel.analysis import Analysis
from ..costmodel.compare import Comparison, block_costs


@dataclass(frozen=True)
class Bars:
    """Bars of one or more series over categories (a grouped bar chart when there are several series)."""

    title: str
    categories: tuple[str, ...]
    series: tuple[tuple[str, tuple[float, ...]], ...]  # (name, one value per category)
    unit: str = ""  # what the values count: 'MACs', '% of MACs'...

    def __post_init__(self) -> None:
        assert all(len(v) == len(self.categories) for _, v in self.series)


def share(part: float, whole: float) -> float:
    return round(100 * part / whole, 2) if whole else 0.0


def by_block(a: Analysis, depth: int = 1) -> dict[str, tuple[int, int]]:
    """(MACs, params) of each block at ``depth`` (a layer at a shallower depth is its own block), in order."""
    return {name: (c.macs, c.params) for name, c in block_costs(a, depth).items()}


def by_op(a: Analysis) -> dict[str, tuple[int, int]]:
    """(MACs, params) of each op type (a conv by its kind: 'conv 1×1', 'conv 3×3 depthwise'...), most MACs first
    (then most params, then by name)."""
    from .breakdown import op_kind

    sums: dict[str, tuple[int, int]] = {}
    for lc in a.layers:
        kind = op_kind(lc.node)
        macs, params = sums.get(kind, (0, 0))
        sums[kind] = (macs + lc.cost.macs, params + lc.cost.params)
    return dict(sorted(sums.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0])))


def where_cost_goes(a: Analysis, depth: int = 1, limit: int = 12) -> tuple[Bars, Bars]:
    """Shares of MACs and params by block and by op type (the ``limit`` largest; the rest as 'other')."""
    total = a.total

    def bars(title: str, groups: dict[str, tuple[int, int]]) -> Bars:
        items = list(groups.items())
        if len(items) > limit:
            keep = sorted(items, key=lambda kv: -max(share(kv[1][0], total.macs), share(kv[1][1], total.params)))[:limit - 1]
            kept = {k for k, _ in keep}
            rest = [v for k, v in items if k not in kept]
            items = [kv for kv in items if kv[0] in kept] + [("other", (sum(m for m, _ in rest), sum(p for _, p in rest)))]
        return Bars(
            title,
            tuple(k for k, _ in items),
            (("% of MACs", tuple(share(m, total.macs) for _, (m, _) in items)),
             ("% of params", tuple(share(p, total.params) for _, (_, p) in items))),
            "%",
        )

    return bars(f"{a.graph.model}: by block (depth {depth})", by_block(a, depth)), bars(f"{a.graph.model}: by op type", by_op(a))


def model_bars(comp: Comparison, names: tuple[str, ...] = ("params", "macs", "flops", "activations")) -> list[Bars]:
    """One bar per model for each metric (each its own scale)."""
    labels = tuple(e.label for e in comp.entries)
    return [Bars(TITLES[n], labels, ((TITLES[n], tuple(float(comp.value(e, n)) for e in comp.entries)),), TITLES[n])
            for n in names]


def block_bars(comp: Comparison, name: str = "macs", depth: int = 1) -> Bars | None:
    """Grouped bars per block that the models share (alike blocks only: costmodel/compare.py), one bar per model."""
    entries, rows, _ = comp.alike_blocks(depth)
    rows = [r for r in rows if r.shared and any(c is not None and metric(c, name) for c in r.costs)]
    if not rows:
        return None
    series = tuple(
        (e.label, tuple(float(metric(r.costs[k], name)) if r.costs[k] is not None else 0.0 for r in rows))
        for k, e in enumerate(entries)
    )
    return Bars(f"{TITLES[name]} per block (depth {depth})", tuple(r.name for r in rows), series, TITLES[name])
