"""Per-op tables that live outside the op registry, and the one lookup they share.

The registry (ops/registry.py) is the single list of ops. A few facts about an op belong to a
consumer instead: what autograd saves for it (memory.SAVES_BY_OP), the aten op and torch module
the counters model (counters.ATEN, counters.MODULE_NAMES), the module that builds it
(torch_build.FACTORIES, which needs torch). Each of these tables names every registry op, and
tests/test_op_tables.py checks that it does, so a new op rule cannot be added without deciding
each. A lookup that still misses is a bug in convcost, never in the spec: :class:`MissingOpEntry`
says which table to extend instead of a bare KeyError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

V = TypeVar("V")


class MissingOpEntry(LookupError):
    """An op the registry knows is missing from a per-op table (an internal error)."""


def op_entry(table: Mapping[str, V], op: str, table_name: str) -> V:
    """``table[op]``, or MissingOpEntry naming the table to extend."""
    try:
        return table[op]
    except KeyError:
        raise MissingOpEntry(
            f"internal error: {table_name} has no entry for op '{op}'; every op in convcost/ops/registry.py "
            "needs one (tests/test_op_tables.py checks this)"
        ) from None
