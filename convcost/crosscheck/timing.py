"""Timing callables in interleaved rounds: the method behind `profile` and `calibrate`.

Every unit (a model, a block, a layer, a micro-benchmark) is warmed up, then given a number of
calls per measurement so that one measurement lasts about ``min_time / repeats`` seconds. Then
``repeats`` rounds each measure every unit once, in turn: a change of load on a shared machine
hits all units alike instead of whichever happened to run then, and the spread between a unit's
repeats shows how steady the machine was.

* CPU: ``time.perf_counter`` around a block of calls, garbage collection paused; the per-call
  time is the block's time / its calls. With ``clock='cpu'`` (one thread only), ``time.thread_time``
  instead: the CPU time of the calling thread, which is what the work takes when it has a core to
  itself -- on a machine shared with other jobs, wall time also counts the time spent waiting for one.
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

from ..errors import UsageError

PROBE_PASSES = 5  # the fewest passes of a LayerProbe per measurement: its per-layer times are medians over them
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


CLOCKS = ("wall", "cpu")


def method_text(device: str, repeats: int, cudnn_benchmark: bool | None = None, clock: str = "wall") -> str:
    if device == "cuda":
        bench = "" if cudnn_benchmark is None else f", cudnn.benchmark {'on' if cudnn_benchmark else 'off'}"
        return f"{repeats} interleaved repeats of torch.cuda.Event-timed blocks of calls{bench}; median and IQR"
    timer = "thread_time (CPU time of the one thread)" if clock == "cpu" else "perf_counter"
    return f"{repeats} interleaved repeats of {timer}-timed blocks of calls, gc paused; median and IQR"


class _Clock:
    """Runs ``number`` calls of a function and returns the seconds per call."""

    def __init__(self, device: str, clock: str = "wall") -> None:
        if clock not in CLOCKS or (clock == "cpu" and device != "cpu"):
            raise ValueError(f"clock {clock!r} on {device}")
        self.cuda = device == "cuda"
        self.now = time.thread_time if clock == "cpu" else time.perf_counter
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
        now = self.now
        t0 = now()
        for _ in range(number):
            fn()
        return (now() - t0) / number


SETTLE_BYTES = 30 * 2**20  # under glibc's largest dynamic mmap threshold (32 MiB on 64-bit)


def settle_cpu_allocator() -> None:
    """Put glibc's allocator in the state a long-running process reaches: allocate and free one ~30 MiB block.

    glibc serves large blocks (over its mmap threshold, 128 kiB at first) with fresh pages from the kernel,
    which fault and are zeroed on first touch; freeing such a block raises the threshold to its size. Until
    some large block has been freed, a model's every large output pays those page faults (measured: +70 % on
    the ResNet bottleneck block), while a layer timed alone keeps reusing one warm buffer. After this, neither
    pays them, as in any process that has run a model for a while. Elsewhere it only costs an allocation.
    """
    import torch

    block = torch.empty(SETTLE_BYTES, dtype=torch.uint8)
    block[::4096] = 1  # touch every page: the block is really mapped
    del block


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
    clock: str = "wall",
    after: Step | None = None,
    min_calls: Sequence[int] = (),
) -> list[Timing]:
    """Time each function: ``warmup`` calls (at least one: the last gives a first estimate of its time), then
    ``repeats`` rounds of one measurement each, interleaved.

    ``min_time`` is the seconds of timed calls per function over all rounds (at least one call per round).
    ``step`` and ``after`` are called before and after each measurement with the function's index and the round;
    ``min_calls[i]``, where given, is the fewest calls one measurement of function ``i`` makes.
    """
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    timer = _Clock(device, clock)
    target = min_time / repeats
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        numbers = []
        for fn in fns:
            for _ in range(warmup - 1):
                fn()
            n, t = 1, timer.per_call(fn, 1)  # the last warm-up call, timed: a first estimate
            while t * n < ESTIMATE_S and n < MAX_CALLS and t * n < target:  # a better estimate of short calls
                n = min(MAX_CALLS, n * 10)
                t = timer.per_call(fn, n)
            numbers.append(max(calls_for(t, target), min_calls[len(numbers)] if len(numbers) < len(min_calls) else 1))
        times: list[list[float]] = [[] for _ in fns]
        for r in range(repeats):
            for i, fn in enumerate(fns):
                if step:
                    step(i, r)
                times[i].append(timer.per_call(fn, numbers[i]))
                if after:
                    after(i, r)
    finally:
        if gc_was_on:
            gc.enable()
    return [Timing(tuple(ts), n) for ts, n in zip(times, numbers)]


class LayerProbe:
    """A model's forward pass that reads the clock between its layers: each layer's time *in the model*
    (its input fresh from the layer before, the other layers' weights through the caches, its inputs freed
    after their last use, as torch_build.GraphModule.forward does).

    Each call is one pass; :meth:`take` returns each layer's median over the passes since the last take (a
    median: a pass in which the OS ran something else on the core slows a few layers several-fold). The cost
    of one clock read is measured first and taken off each layer's time. On CUDA, an event is recorded
    between the layers and read after the pass (which ends in a synchronisation).
    """

    def __init__(self, steps: Sequence[tuple[int, Callable[..., Any], tuple[int, ...], tuple[int, ...]]],
                 inputs: dict[int, Any], device: str = "cpu", clock: str = "wall") -> None:
        self.steps = steps  # (output index, module, input indices, indices freed after it)
        self.inputs = inputs
        self.cuda = device == "cuda"
        self.now = time.thread_time if clock == "cpu" else time.perf_counter
        self.passes: list[list[float]] = []
        self.read_s = 0.0 if self.cuda else self._read_cost()
        if self.cuda:
            import torch

            self.events = [torch.cuda.Event(enable_timing=True) for _ in range(len(steps) + 1)]

    def _read_cost(self) -> float:
        now, best = self.now, math.inf
        for _ in range(5):
            t0 = now()
            for _ in range(100):
                now()
            best = min(best, (now() - t0) / 101)
        return best

    def __call__(self) -> None:
        outs = dict(self.inputs)
        times = [0.0] * len(self.steps)
        if self.cuda:
            events = self.events
            events[0].record()
            for k, (index, module, inputs, frees) in enumerate(self.steps):
                outs[index] = module(*(outs[i] for i in inputs))
                for i in frees:
                    del outs[i]
                events[k + 1].record()
            events[-1].synchronize()
            for k in range(len(self.steps)):
                times[k] = events[k].elapsed_time(events[k + 1]) / 1e3
        else:
            now, read = self.now, self.read_s
            t = now()
            for k, (index, module, inputs, frees) in enumerate(self.steps):
                outs[index] = module(*(outs[i] for i in inputs))
                for i in frees:
                    del outs[i]
                t2 = now()
                times[k] = max(t2 - t - read, 0.0)
                t = t2
        self.passes.append(times)

    def take(self) -> list[float]:
        """The median time of each layer over the passes since the last take (which it forgets)."""
        passes, self.passes = self.passes, []
        if not passes:
            return [0.0] * len(self.steps)
        return [statistics.median(p[k] for p in passes) for k in range(len(self.steps))]


def time_cpu(fn: Callable[[], Any], threads: int | None, min_time: float, warmup: int, min_runs: int = 5) -> Timing:
    """One function on the CPU (``threads``: torch.set_num_threads meanwhile): ``min_runs`` measurements."""
    import torch

    before = torch.get_num_threads()
    try:
        if threads:
            torch.set_num_threads(threads)
        return time_interleaved([fn], device="cpu", min_time=min_time, repeats=min_runs, warmup=warmup)[0]
    finally:
        torch.set_num_threads(before)


def time_cuda(fn: Callable[[], Any], min_time: float, warmup: int, min_runs: int = 10) -> Timing:
    """One function on the current CUDA device, timed with CUDA events: ``min_runs`` measurements."""
    return time_interleaved([fn], device="cuda", min_time=min_time, repeats=min_runs, warmup=warmup)[0]


def check_clock(clock: str, device: str, threads: int | None) -> None:
    """--clock cpu times the calling thread: only a one-thread CPU run does all its work there."""
    if clock == "wall":
        return
    if clock != "cpu":
        raise UsageError(f"--clock must be wall or cpu, got '{clock}'")
    if device != "cpu":
        raise UsageError("--clock cpu measures CPU time: it applies to --device cpu (CUDA is timed with events)")
    if threads != 1:
        raise UsageError(
            f"--clock cpu measures the CPU time of one thread, but this run uses {threads} threads; add --threads 1"
        )
