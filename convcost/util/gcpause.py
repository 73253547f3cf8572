"""Pause Python's cyclic garbage collector while a spec's object trees are built.

Parsing a 10,000-layer spec creates a few hundred thousand small objects (YAML nodes, located
nodes, graph nodes, cost records) that all stay alive; each allocation burst triggers a collection
that walks every live object, so the collector alone doubled the analysis time. These trees hold
no reference cycles, reference counting frees them, and the sizes are bounded by docs/limits.md,
so the collector is paused for the duration and restored after.

The command line (a short process) also freezes what was built (gc.freeze: later collections skip
it; reference counting still frees it), so that re-enabling the collector does not cost one full
walk over everything just built. A library user's process is left unfrozen.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_freeze_after = False


def freeze_after_pauses() -> None:
    """Called once by the CLI: freeze the objects built during each pause."""
    global _freeze_after
    _freeze_after = True


@contextmanager
def paused_gc() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if _freeze_after:
                gc.freeze()
            gc.enable()
