"""Every per-op table outside the registry names exactly the registry's ops, and a missing entry is
a clear internal error (MissingOpEntry naming the table), never a bare KeyError.

torch_build.FACTORIES has the same check in tests/test_torch_build.py (it needs torch).
"""

from __future__ import annotations

import dataclasses

import pytest

from convcost.costmodel import memory
from convcost.costmodel.cost import Cost
from convcost.crosscheck import counters
from convcost.op_tables import MissingOpEntry, op_entry
from convcost.ops import REGISTRY

TABLES = {
    "memory.SAVES_BY_OP": memory.SAVES_BY_OP,
    "counters.CATEGORY": counters.CATEGORY,
    "counters.ATEN": counters.ATEN,
    "counters.MODULE_NAMES": counters.MODULE_NAMES,
}


@pytest.mark.parametrize("name", TABLES)
def test_table_covers_exactly_the_registry(name: str) -> None:
    table = TABLES[name]
    assert set(table) == set(REGISTRY), (
        f"{name}: missing {sorted(set(REGISTRY) - set(table))}, unknown {sorted(set(table) - set(REGISTRY))}"
    )


def test_missing_entry_names_the_table() -> None:
    with pytest.raises(MissingOpEntry, match=r"internal error: counters\.ATEN has no entry for op 'fancy'"):
        op_entry(counters.ATEN, "fancy", "counters.ATEN")
    assert issubclass(MissingOpEntry, LookupError)


def test_a_new_op_without_entries_is_an_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """An op added to the registry and to no table: memory and every counter name the table to extend."""
    from conftest import graph_of

    monkeypatch.setitem(REGISTRY, "fancy", dataclasses.replace(REGISTRY["relu"], name="fancy", aliases=()))
    node = dataclasses.replace(graph_of("input: [4, 8, 8]\nlayers:\n  - relu\n").nodes[0], op="fancy")
    with pytest.raises(MissingOpEntry, match=r"memory\.SAVES_BY_OP has no entry for op 'fancy'"):
        memory.saves(node)
    # FlopCounterMode's rule needs no table (it counts conv and linear, nothing else); the others do
    for convention in (counters.FVCORE, counters.PTFLOPS, counters.THOP):
        with pytest.raises(MissingOpEntry, match=r"counters\.\w+ has no entry for op 'fancy'"):
            convention.predict(node, Cost(), 1)
    assert counters.FLOP_COUNTER.predict(node, Cost(), 1).value is None
    with pytest.raises(MissingOpEntry, match=r"counters\.\w+ has no entry"):
        counters.explain([(node, Cost())], 1)
