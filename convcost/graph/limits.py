"""Bounds on one model's expansion (docs/limits.md lists them; tests/test_limits.py checks the doc)."""

from __future__ import annotations

from ..errors import SpecError

MAX_LAYERS = 50_000  # the largest CNNs have a few thousand; rendering 50,000 takes seconds
MAX_REPEAT = 10_000
MAX_BATCH = 1_000_000
MAX_NESTING = 64
MAX_RECURSION = 16  # levels of a block calling itself behind a 'when:' guard (U-Net's depth: 4 or 5)
# Work budget of one model's expansion, in steps: a layer instance visited (even one that 'when'
# skips), a block call, an expression evaluated, each scope level of an emitted layer: 1 each; a
# repeat iteration (it opens a scope that is kept): ITERATION_STEPS; an expression: 1 per 2 characters;
# larger environments cost proportionally more. A step is about a microsecond of work. It bounds the time and
# memory of building AND analysing/rendering a graph whatever the spec does (docs/limits.md).
MAX_STEPS = 1_000_000
ITERATION_STEPS = 4
LIST_ITEMS_PER_STEP = 2  # building a list value from the spec: 1 step per 2 items
NAME_CHARS_PER_STEP = 8  # an emitted layer's dotted name is kept and printed several times: 1 step per 8 characters


class LimitError(SpecError):
    """A limit, or the spec's shape of calls, was exceeded: the same message wherever the block is called from."""
