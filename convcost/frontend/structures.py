"""The structures of the spec language, in one table: the keys their mapping form takes and the
op that joins their branches. The spec parser reads the keys, the graph builder the join."""

from __future__ import annotations

from typing import NamedTuple


class Structure(NamedTuple):  # a NamedTuple: a table row, cheap to create at start-up (ops/counting.py)
    keys: tuple[str, ...]  # the keys of the mapping form (besides name/repeat/when); the first is the primary one
    join: str | None  # the op that joins the branches' outputs; None: a sequence, nothing to join


STRUCTURES: dict[str, Structure] = {
    "seq": Structure(("layers",), None),
    "concat": Structure(("branches",), "concat"),
    "split": Structure(("branches", "sizes"), "concat"),  # each branch gets its slice of the channels
    "add": Structure(("branches",), "add"),
    "multiply": Structure(("branches",), "multiply"),
    "residual": Structure(("body", "shortcut", "connect"), "add"),
    "gate": Structure(("body",), "multiply"),
}
