"""A well-known tool's numbers for an analysed model, from the spec alone: what `--convention NAME` prints.

No torch here: each op's definition predicts what each tool reports for it (ops/counting.py, the op's
``Counting``), crosscheck/counters.py sums them; this module lays them out per layer, per scope and in total
for the renderers, analyze, compare, check and report. ``verify`` and tests/test_conventions_zoo.py prove
the predictions against the real tools.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the counters load only when a convention is asked for (start-up time)
    from ..crosscheck.counters import Chosen, CounterTotals, Prediction
    from .analysis import Analysis, LayerCost, Row

DEFAULT = "convcost"  # convcost's own counts: conv/linear/matmul MACs, FLOPs = 2·MACs + the non-MAC ops


@dataclass(frozen=True)
class ConventionView:
    """One tool's numbers for one analysis: per layer (None: the tool does not see it), per scope, in total."""

    chosen: Chosen
    analysis: Analysis
    layers: dict[str, Prediction]  # layer name -> the tool's count
    totals: CounterTotals
    params_layers: dict[str, Prediction | None]  # layer name -> the parameters the tool counts of it (None: it prints none)

    @property
    def name(self) -> str:
        return self.chosen.name

    @property
    def total(self) -> int:
        return self.totals.total

    @property
    def params(self) -> int | None:
        """The parameter count the tool prints (None: it prints none)."""
        return self.totals.params

    @cached_property
    def scopes(self) -> dict[tuple[str, ...], int]:
        out: dict[tuple[str, ...], int] = {}
        for lc in self.analysis.layers:
            value = self.layers[lc.node.name].value or 0
            for k in range(1, len(lc.node.scope) + 1):
                out[lc.node.scope[:k]] = out.get(lc.node.scope[:k], 0) + value
        return out

    def params_of(self, lc: LayerCost) -> int:
        p = self.params_layers[lc.node.name]
        return (p.value or 0) if p is not None else lc.cost.params

    def row_value(self, row: Row) -> int | None:
        """The tool's count for a row of the layer tree: a layer's, a scope's subtotal; None for a layer it does
        not see and for the parts of a layer (its count is the layer's)."""
        if row.is_part:
            return None
        if row.is_scope or row.collapsed:
            return self.scopes.get(row.path, 0)
        return self.layers[row.name].value


def view(analysis: Analysis, chosen: Chosen) -> ConventionView:
    """What the chosen tool reports for ``analysis`` (with or without gradients, as ``chosen`` says)."""
    from ..crosscheck.counters import baseline_macs, per_layer, totals
    from ..ops.counting import counters_with_grad

    batch = analysis.graph.batch
    pairs = [(lc.node, lc.cost) for lc in analysis.layers]
    with counters_with_grad(chosen.grad):
        both = {node.name: per_layer(chosen.convention, node, cost, batch) for node, cost in pairs}
        t = totals(chosen.convention, pairs, batch, baseline_macs(pairs))
    return ConventionView(chosen, analysis, {k: v[0] for k, v in both.items()}, t, {k: v[1] for k, v in both.items()})


def parse(name: str | None) -> Chosen | None:
    """A --convention value: None (or 'convcost') for convcost's own counts; ValueError for an unknown name."""
    if name is None or name == DEFAULT:
        return None
    from ..crosscheck.counters import choose

    return choose(name)


def views(analyses: list[Analysis], chosen: Chosen | None) -> list[ConventionView] | None:
    return None if chosen is None else [view(a, chosen) for a in analyses]
