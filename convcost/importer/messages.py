"""`convcost import`'s refusal, in a few lines (torch-free): one line per kind of part convcost cannot write, with
how many more of that kind there are and where; parts that read an unsupported part's output are counted, not
listed (their messages would be about the guess, not the model)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .recognise import Unsupported

if TYPE_CHECKING:
    from .trace import Unused

MAX_KINDS = 25  # lines of kinds before "... more kinds"
SHOWN_PLACES = 3  # places named per kind besides the first
_SHAPES = re.compile(r"\[[^\]]*\]")


def kind_of(u: Unsupported) -> str:
    """What a part is, without its shapes and sizes: parts of one kind in other places share it."""
    return _SHAPES.sub("[…]", u.what)


def grouped(unsupported: Sequence[Unsupported]) -> tuple[list[str], int, int]:
    """(lines 'where: what (and n more like it: a, b, c, …)', root parts, parts after them)."""
    roots = [u for u in unsupported if not u.after]
    groups: dict[str, list[Unsupported]] = {}
    for u in roots:
        groups.setdefault(kind_of(u), []).append(u)
    lines = []
    for members in list(groups.values())[:MAX_KINDS]:
        first, rest = members[0], members[1:]
        line = f"{first.where}: {first.what}"
        if rest:
            places = ", ".join(u.where for u in rest[:SHOWN_PLACES]) + (", …" if len(rest) > SHOWN_PLACES else "")
            line += f" (and {len(rest)} more like it: {places})"
        lines.append(line)
    if len(groups) > MAX_KINDS:
        more = sum(len(m) for m in list(groups.values())[MAX_KINDS:])
        lines.append(f"… and {more} more parts of {len(groups) - MAX_KINDS} other kinds")
    return lines, len(roots), len(unsupported) - len(roots)


def unused_lines(unused: Sequence[Unused], most: int = 10) -> list[str]:
    """A line per group of tensors the forward never reads (kept as `unused` rows): the module that never runs, or the
    tensor of a module that runs."""
    lines = []
    for u in unused[:most]:
        held = " and ".join(t for t in (f"{u.params:,} params" if u.params else "",
                                        f"{u.buffers:,} buffer values" if u.buffers else "") if t)
        what = "a tensor the forward never reads" if u.called else "a module the forward never runs"
        lines.append(f"{u.where}: {what}: its {held} are kept as the `unused` row '{u.key}' (counted, no MACs)")
    if len(unused) > most:
        lines.append(f"… and {len(unused) - most} more never read, each kept as an `unused` row")
    return lines
