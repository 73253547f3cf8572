"""What each well-known counter reports for a layer: its convention, as a prediction.

No torch here: a convention is a function of the graph node and its analytic cost. What each counter
reports for an op is part of that op's definition (its ``Counting`` record, convcost/ops/counting.py);
this module only runs them. ``verify`` runs fvcore and FlopCounterMode and checks these predictions
layer by layer; ``--explain`` sums them by op category to say why the tools' totals differ.

Sources (read, not guessed):
- fvcore 0.1.5 ``fvcore/nn/flop_count.py`` (``_DEFAULT_SUPPORTED_OPS``), ``jit_handles.py``
  (conv/linear/batch_norm/elementwise handles) and ``jit_analysis.py`` (``_IGNORED_OPS``).
- torch 2.13 ``torch/utils/flop_counter.py`` (``flop_registry``: mm/addmm/bmm/convolution/attention).
- ptflops 0.7.5 ``ptflops/pytorch_ops.py``: ``MODULES_MAPPING`` (module hooks of the pytorch
  backend) and ``FUNCTIONAL_MAPPING``, the torch functionals it patches by default
  (``count_functional=True``): some activations' and the pooling functionals. A module that calls
  a patched functional is counted twice, once by its hook and once by the patch; that is what
  ptflops reports, so it is what is modelled.
- thop 0.1.1 ``thop/profile.py`` ``register_hooks`` with ``thop/vision/basic_hooks.py``.
These two are *modelled*, not run by ``verify`` (convcost does not depend on them); the test suite
runs both, when installed (the dev extra), and checks every model here against them exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from ..cost import Cost
from ..graph.build import Node
from ..ops.counting import Counted, Counting, PredictFn, Prediction, for_rank

__all__ = ["CONVENTIONS", "RUN", "Convention", "Explanation", "Prediction", "Status", "explain"]


class Status(str, Enum):
    """How one verify check came out (a str: JSON and comparisons with "ok" see the plain value)."""

    OK = "ok"
    MISMATCH = "mismatch"
    NOT_COMPARED = "not_compared"

    def __str__(self) -> str:
        return self.value


Entry = Callable[[Counting], Counted]  # which of an op's Counting fields is this counter's


def _predictor(entry: Entry) -> PredictFn:
    return lambda node, cost, batch: entry(node.rule.counting).predict(node, cost, batch)


@dataclass(frozen=True)
class Convention:
    """One counter; what it reports for each op is in the op's definition (ops/counting.py)."""

    key: str
    label: str
    runs: bool  # True: verify runs the real tool; False: modelled from its source only
    unit: str
    entry: Entry
    predict: PredictFn

    @staticmethod
    def of(key: str, label: str, runs: bool, unit: str, entry: Entry) -> Convention:
        return Convention(key, label, runs, unit, entry, _predictor(entry))


FVCORE = Convention.of("fvcore", "fvcore", True, "flops (= MACs for conv/linear)", lambda c: c.fvcore)
FLOP_COUNTER = Convention.of("flop_counter", "FlopCounterMode", True, "FLOPs (= 2 × MACs)", lambda c: c.flop_counter)
PTFLOPS = Convention.of("ptflops", "ptflops-style", False, "MACs + hooks", lambda c: c.ptflops)
THOP = Convention.of("thop", "thop-style", False, "MACs + hooks", lambda c: c.thop)
CONVENTIONS: tuple[Convention, ...] = (FVCORE, FLOP_COUNTER, PTFLOPS, THOP)
RUN = tuple(c for c in CONVENTIONS if c.runs)


# ---- --explain: totals by op category ---------------------------------------------------------
@dataclass(frozen=True)
class Difference:
    category: str
    delta: int
    why: str


@dataclass(frozen=True)
class CounterTotals:
    convention: Convention
    total: int
    parts: dict[str, int]
    differences: tuple[Difference, ...]  # against conv+linear MACs, largest first
    unseen: dict[str, int]  # op category -> number of layers this counter cannot see


@dataclass(frozen=True)
class Explanation:
    baseline: int  # analytic conv+linear MACs
    baseline_parts: dict[str, int]
    counters: tuple[CounterTotals, ...]


def explain(layers: list[tuple[Node, Cost]], batch: int) -> Explanation:
    base: dict[str, int] = {}
    for node, cost in layers:
        if cost.macs:
            cat = node.rule.counting.category
            base[cat] = base.get(cat, 0) + cost.macs
    out = []
    for conv in CONVENTIONS:
        parts: dict[str, int] = {}
        unseen: dict[str, int] = {}
        whys: dict[str, list[str]] = {}  # category -> the definitions' reasons (distinct, in order)
        for node, cost in layers:
            counting = node.rule.counting
            counted = conv.entry(counting)
            if counted.why:
                reasons = whys.setdefault(counted.part or counting.category, [])
                why = for_rank(counted.why, node)
                if why not in reasons:
                    reasons.append(why)
            p = conv.predict(node, cost, batch)
            if p.value is None:
                unseen[counting.category] = unseen.get(counting.category, 0) + 1
            for cat, n in p.parts:
                parts[cat] = parts.get(cat, 0) + n
        diffs = []
        for cat in sorted(set(parts) | set(base)):
            delta = parts.get(cat, 0) - base.get(cat, 0)
            if delta:
                why = "; ".join(whys[cat]) if cat in whys else (f"{conv.label} does not count {cat}" if delta < 0 else "")
                diffs.append(Difference(cat, delta, why))
        diffs.sort(key=lambda d: -abs(d.delta))
        out.append(CounterTotals(conv, sum(parts.values()), parts, tuple(diffs), unseen))
    return Explanation(sum(base.values()), base, tuple(out))
