"""How far the predicted times are from the measured ones: `convcost profile --accuracy`. No torch.

The error of a unit (a model, a block, a layer) is (predicted − measured median) / measured median:
+20 % means the prediction is 20 % slow, −20 % that the unit ran 20 % longer than predicted. A set
of errors is summarised by the median and the 90th percentile of their absolute values.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from ..costmodel.calibration import Calibration
from ..costmodel.kinds import KINDS
from .profiling import Measured, ProfileRun


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation between the sorted values (numpy's default)."""
    if not values:
        raise ValueError("no values")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass(frozen=True)
class ErrorStats:
    """The errors of a set of units, in %."""

    count: int
    median_abs: float  # median |error|
    p90_abs: float  # 90th percentile of |error|
    median: float  # median signed error (the bias)
    worst: float  # the signed error of the largest magnitude
    worst_name: str

    @staticmethod
    def of(named: list[tuple[str, float]]) -> ErrorStats | None:
        if not named:
            return None
        absolute = [abs(e) for _, e in named]
        worst_name, worst = max(named, key=lambda p: abs(p[1]))
        return ErrorStats(
            len(named), statistics.median(absolute), percentile(absolute, 90), statistics.median(e for _, e in named),
            worst, worst_name,
        )


def _errors(units: list[tuple[str, Measured]]) -> list[tuple[str, float]]:
    return [(name, u.error_pct) for name, u in units if u.error_pct is not None]


@dataclass(frozen=True)
class KindErrors:
    kind: str
    stats: ErrorStats
    predicted_share: float  # the share of all layers' predicted time that is this kind's, in %


@dataclass(frozen=True)
class Level:
    """How fast a run measured the very work its calibration timed: the layers of exactly a calibration point's op
    (or kind, where the op has no curve of its own) and size (FLOPs or bytes, to the file's 5 digits), each measured
    time over that point's. 1.00: the calibration ran at the run's speed; 1.26: it ran 1.26× faster than the run
    did the same work, and every prediction is about that much too fast. A check of the calibration against the run,
    never part of a prediction (it reads measured times)."""

    ratio: float | None  # the median of measured / calibrated time; None when no layer matched
    layers: int  # how many layers matched


def calibration_level(layers: Iterable[tuple[str, str, float, float, float]], cal: Calibration) -> Level:
    """``layers``: (latency kind, op, FLOPs, bytes moved, measured median s) of each measured layer."""
    ratios = []
    for kind, op, flops, nbytes, measured in layers:
        if kind not in KINDS or measured <= 0:
            continue  # views: no curve
        curve, own = cal.curve(kind, op)
        if curve is None or not own:
            continue  # a fallback curve's points are another kind's work
        size = float(f"{flops if KINDS[kind].compute else nbytes:.5g}")  # as the file writes a point's size
        point = next((p for p in curve.points if p.size == size), None)
        if point is not None and point.time_s:
            ratios.append(measured / point.time_s)
    return Level(statistics.median(ratios) if ratios else None, len(ratios))


@dataclass(frozen=True)
class Accuracy:
    models: ErrorStats | None
    blocks: ErrorStats | None
    layers: ErrorStats | None
    kinds: tuple[KindErrors, ...]  # layer errors by kind, the kind with the most predicted time first
    level: Level | None = None  # None: predicted from nominal peaks, no calibration to check


def accuracy(run: ProfileRun) -> Accuracy:
    models = _errors([(m.graph.model, m.whole) for m in run.models])
    blocks = _errors([(f"{m.graph.model}: {b.name}", b) for m in run.models for b in m.blocks])
    layers = [(f"{m.graph.model}: {u.name}", u) for m in run.models for u in m.layers]
    by_kind: dict[str, list[tuple[str, Measured]]] = {}
    for name, u in layers:
        by_kind.setdefault(u.latency_kind, []).append((name, u))
    total = sum(u.span.ideal_s for _, u in layers)
    kinds = []
    for kind, units in by_kind.items():
        stats = ErrorStats.of(_errors(units))
        if stats is not None:
            share = 100 * sum(u.span.ideal_s for _, u in units) / total if total else 0.0
            kinds.append(KindErrors(kind, stats, share))
    kinds.sort(key=lambda k: -k.predicted_share)
    cal = run.fit.calibration
    level = None if cal is None else calibration_level(
        ((u.latency_kind, u.kind, u.span.flops, u.span.bytes, u.timing.median_s) for _, u in layers if u.timing), cal
    )
    return Accuracy(ErrorStats.of(models), ErrorStats.of(blocks), ErrorStats.of(_errors(layers)), tuple(kinds), level)
