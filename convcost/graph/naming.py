"""Layer and scope names: per-scope counters for unnamed layers (conv1, bn1, conv2...), duplicate
checks for written names, and the list of scopes the graph keeps."""

from __future__ import annotations

from collections import Counter
from collections.abc import Container
from typing import Any

from ..errors import Loc, SpecError
from ..frontend.source import YNode, shorten
from ..frontend.spec import LAYER_NAME_RE, check_name_length
from .nodes import Scope
from .values import got


def auto_name(hint: str, counters: Counter[str], taken: Container[str]) -> str:
    """The name of the next unnamed ``hint`` layer in a scope: ``hint<N>`` for the scope's next N whose name is not
    taken (advances ``counters``; the caller records the name). `convcost import` predicts joins' names with it."""
    while True:
        counters[hint] += 1
        candidate = f"{hint}{counters[hint]}"
        if candidate not in taken:
            return candidate


class Frame:
    """Naming state of one scope (a plain class, not a dataclass: cheaper to create at start-up, and
    nothing compares or prints frames)."""

    __slots__ = ("counters", "path", "taken")

    def __init__(self, path: tuple[str, ...]) -> None:
        self.path = path
        self.counters: Counter[str] = Counter()
        self.taken: dict[str, Loc] = {}


class Names:
    """Hands out names inside frames and records the scopes opened."""

    def __init__(self, input_names: tuple[str, ...] = ()) -> None:
        self.scopes: list[Scope] = []
        # a model's one unnamed input is 'input' in outputs (JSON 'inputs'): no top-level layer may take the name
        # (named inputs are taken names of the top-level frame: a layer reusing one is a duplicate)
        self.input_names = input_names

    def name_in(self, frame: Frame, written: Any, node: YNode | None, hint: str, loc: Loc) -> str:
        """The layer's name: ``written`` (the value of its ``name:`` node ``node``) or the next free ``hint<N>``."""
        if node is not None:
            if isinstance(written, int) and not isinstance(written, bool) and written >= 0:
                written = str(written)  # 'name: 0', as torch names the children of nn.Sequential
            if not isinstance(written, str) or not LAYER_NAME_RE.fullmatch(written):
                raise SpecError(f"layer name must be letters, digits, '_' or '-', got {got(node, written)}", node.loc)
            check_name_length(written, "layer name", node.loc)
            if not frame.path and written in self.input_names:
                raise SpecError(
                    f"layer name '{written}' is reserved at the top level: it names the model's input (as in the "
                    "JSON 'inputs' lists); choose another name",
                    node.loc,
                )
            if written in frame.taken:
                first = frame.taken[written]
                raise SpecError(f"duplicate layer name '{shorten(written)}' (first used at line {first.line})", node.loc)
            frame.taken[written] = node.loc
            return written
        candidate = auto_name(hint, frame.counters, frame.taken)
        frame.taken[candidate] = loc
        return candidate

    def branch_name(self, frame: Frame, name: str, loc: Loc) -> str:
        if name in frame.taken:
            raise SpecError(f"duplicate name '{shorten(name)}' in this scope", loc)
        frame.taken[name] = loc
        return name

    def open_scope(self, frame: Frame, name: str, kind: str, label: str, loc: Loc) -> Frame:
        path = (*frame.path, name)
        self.scopes.append(Scope(path, kind, label, loc))
        return Frame(path)

    def relabel_last(self, path: tuple[str, ...], kind: str, label: str, loc: Loc) -> None:
        """A repeated block: its iteration scope is the block call."""
        self.scopes[-1] = Scope(path, kind, label, loc)
