"""Work bounds for tests, instead of wall-clock limits (which fail on a busy machine and pass on a fast one).

``measure()`` counts what a block of code does, the same on any machine and under any load:

- ``calls``: Python function calls (cProfile, which is written in C: about 2× slower than plain, while a
  Python-level profile hook is 5-10×). Uncharged work shows here: a loop in Python, or an expression
  evaluated a million times because a step was charged too little;
- ``peak_bytes`` (with ``memory=True``): the peak of the memory Python allocated during the block
  (tracemalloc), which catches a huge integer or string built in C, where no call is counted.

A hang is still a hang: ``cpu_guard`` turns one into a failure, counting this process's CPU time only
(``ITIMER_VIRTUAL``), so other jobs on the machine cannot trip it. It is a guard against a stuck CI job,
set far above any test's work, never a speed check. How long things take is measured in benchmarks/.
"""

from __future__ import annotations

import cProfile
import signal
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

GUARD_CPU_S = 300  # a hang guard only: the heaviest test here does about 10 s of work on a slow machine
# How long a child process or thread may take before a test calls it hung (wall clock, the only kind a child
# has): a guard against a stuck CI job, about 100 times what the slowest child takes on a busy 2-core machine.
HANG_GUARD_S = 600


@dataclass
class Work:
    calls: int = 0
    peak_bytes: int = 0


class Hang(Exception):
    pass


@contextmanager
def cpu_guard(seconds: int = GUARD_CPU_S) -> Iterator[None]:
    """Raise Hang after ``seconds`` of this process's own CPU time (main thread, Unix; elsewhere no guard)."""
    if not hasattr(signal, "ITIMER_VIRTUAL"):  # pragma: no cover - Windows
        yield
        return

    def on_timer(signum: int, frame: object) -> None:
        raise Hang(f"still running after {seconds} s of CPU time: a hang")

    old = signal.signal(signal.SIGVTALRM, on_timer)
    signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, old)


@contextmanager
def measure(memory: bool = False, guard_s: int = GUARD_CPU_S) -> Iterator[Work]:
    """Count the calls (and with ``memory`` the peak bytes) of the block; ``work`` is filled in when it ends,
    also when it raises."""
    work = Work()
    profile = cProfile.Profile(builtins=False)
    started_tracing = memory and not tracemalloc.is_tracing()
    if memory:
        if started_tracing:
            tracemalloc.start()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
    try:
        with cpu_guard(guard_s):
            profile.enable()
            try:
                yield work
            finally:
                profile.disable()
    finally:
        work.calls = sum(entry.callcount for entry in profile.getstats())
        if memory:
            work.peak_bytes = tracemalloc.get_traced_memory()[1] - base
            if started_tracing:
                tracemalloc.stop()
