"""Timing callables in interleaved rounds: the method behind `profile` and `calibrate`.

Every unit (a model, a block, a layer, a micro-benchmark) is warmed up, then given a number of
calls per measurement so that one measurement lasts about ``min_time / repeats`` seconds. Then
``repeats`` rounds each measure every unit once, in turn: a change of load on a shared machine
hits all units alike instead of whichever happened to run then, and the spread between a unit's
repeats shows how steady the machine was.

* CPU: ``time.perf_counter`` around a block of calls, garbage collection paused; the per-call
  time is the block's time / its calls.
* CUDA: ``torch.cuda.synchronize()``, then a ``torch.cuda.Event`` pair recorded around the block
  of calls on the current stream, read after synchronising the end event.

torch is imported inside the functions only.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

MAX_CALLS = 1_000_000  # calls in one measurement (a no-op unit would otherwise ask for billions)
ESTIMATE_S = 1e-3  # the first estimate of a call's time runs calls for at least this long


@dataclass(frozen=True)
class Timing:
    """Per-call times of repeated measurements (one per round)."""

    times_s: tuple[float, ...]
    calls_per_run: int

    @property
    def runs(self) -> int:
        return len(self.times_s)

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s)

    @property
    def iqr_s(self) -> float:
        """Interquartile range (0 with fewer than 2 measurements)."""
        if len(self.times_s) < 2:
            return 0.0
        q = statistics.quantiles(self.times_s, n=4, method="inclusive")
        return q[2] - q[0]

    @property
    def spread_pct(self) -> float | None:
        """The IQR as a percentage of the median (None when the median is 0)."""
        return 100 * self.iqr_s / self.median_s if self.median_s > 0 else None

    @property
    def min_s(self) -> float:
        return min(self.times_s)

    @property
    def max_s(self) -> float:
        return max(self.times_s)


Step = Callable[[int, int], None]  # (unit index, round index) before each measurement


def method_text(device: str, repeats: int, cudnn_benchmark: bool | None = None) -> str:
    if device == "cuda":
        bench = "" if cudnn_benchmark is None else f", cudnn.benchmark {'on' if cudnn_benchmark else 'off'}"
        return f"{repeats} interleaved repeats of torch.cuda.Event-timed blocks of calls{bench}; median and IQR"
    return f"{repeats} interleaved repeats of perf_counter-timed blocks of calls, gc paused; median and IQR"


class _Clock:
    """Runs ``number`` calls of a function and returns the seconds per call."""

    def __init__(self, device: str) -> None:
        self.cuda = device == "cuda"
        if self.cuda:
            import torch

            self.torch = torch

    def per_call(self, fn: Callable[[], Any], number: int) -> float:
        if self.cuda:
            torch = self.torch
            torch.cuda.synchronize()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(number):
                fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3 / number  # elapsed_time is in ms
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - t0) / number


def calls_for(per_call_s: float, target_s: float) -> int:
    """Calls one measurement needs to last ``target_s`` at ``per_call_s`` each (1 to MAX_CALLS)."""
    if per_call_s <= 0:
        return MAX_CALLS
    return max(1, min(MAX_CALLS, math.ceil(target_s / per_call_s)))


def time_interleaved(
    fns: Sequence[Callable[[], Any]],
    *,
    device: str = "cpu",
    min_time: float = 0.2,
    repeats: int = 5,
    warmup: int = 3,
    step: Step | None = None,
) -> list[Timing]:
    """Time each function: ``warmup`` calls, then ``repeats`` rounds of one measurement each, interleaved.

    ``min_time`` is the seconds of timed calls per function over all rounds (at least one call per round).
    """
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    clock = _Clock(device)
    target = min_time / repeats
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        numbers = []
        for fn in fns:
            for _ in range(warmup):
                fn()
            n, t = 1, clock.per_call(fn, 1)
            while t * n < ESTIMATE_S and n < MAX_CALLS and t * n < target:  # a better estimate of short calls
                n = min(MAX_CALLS, n * 10)
                t = clock.per_call(fn, n)
            numbers.append(calls_for(t, target))
        times: list[list[float]] = [[] for _ in fns]
        for r in range(repeats):
            for i, fn in enumerate(fns):
                if step:
                    step(i, r)
                times[i].append(clock.per_call(fn, numbers[i]))
    finally:
        if gc_was_on:
            gc.enable()
    return [Timing(tuple(ts), n) for ts, n in zip(times, numbers)]
