"""Values of a spec as the graph builder evaluates them: ``$`` expressions, typed op arguments,
and the work budget that every evaluation and expansion step is charged to."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from ..errors import Loc, SpecError
from ..frontend.expr import substitute
from ..frontend.source import YMap, YNode, YScalar, YSeq, shorten, type_name
from ..frontend.spec import LAYER_KEYS
from ..ops.registry import ArgError, _show, arg_fields, pos_int
from .limits import LIST_ITEMS_PER_STEP, MAX_STEPS, LimitError


def got(node: YNode, value: Any) -> str:
    """What a value turned out to be, for a message: the value of an expression beside its text."""
    if isinstance(node, YScalar) and isinstance(node.value, str) and "$" in node.value:
        return f"{shorten(_show(value))} (from '{shorten(node.value)}')"
    return type_name(node)


def _division_hint(node: YNode, value: Any) -> str:
    """'${in_channels / 2}' gives 32.0: say that '//' divides to a whole number."""
    text = node.value if isinstance(node, YScalar) else None
    if isinstance(value, float) and isinstance(text, str) and re.search(r"(?<!/)/(?!/)", text):
        return "; '/' gives a fraction: use '//' for a whole number"
    return ""


class Budget:
    """The work budget of one model's expansion (MAX_STEPS, shared with the file's other models)."""

    def __init__(self, model: str, other_steps: int) -> None:
        self.model = model
        self.steps = 0
        self.other_steps = other_steps  # what the file's other models already took

    def spend(self, steps: int, loc: Loc) -> None:
        """Charge ``steps``; past MAX_STEPS the build stops with a message."""
        self.steps += steps
        if self.steps + self.other_steps > MAX_STEPS:
            what = f"model '{self.model}'" if not self.other_steps else (
                f"the models of this spec (up to model '{self.model}')"
            )
            raise LimitError(
                f"{what} take{'s' if not self.other_steps else ''} more than {MAX_STEPS:,} steps to expand "
                "(limit, see docs/limits.md); lower 'repeat' counts, nesting or the number of layers",
                loc,
            )


class Values:
    """Evaluates spec values in an environment of variables, charging the budget."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget

    def env_with(self, env: Mapping[str, Any], vars_node: YMap | None, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``env`` with ``vars_node``'s vars evaluated in order; a var in ``given`` (``--set``) takes that value."""
        out = dict(env)
        if vars_node:
            for key, node in vars_node.items.items():
                out[key] = given[key] if given and key in given else self.value(node, out)
        return out

    def value(self, node: YNode, env: Mapping[str, Any]) -> Any:
        if isinstance(node, YScalar):
            if isinstance(node.value, str) and "$" in node.value:
                self.budget.spend(1 + len(node.value) // 2, node.loc)  # evaluating costs ~0.7 µs per character
                # calls and comparisons over big lists cost their size (expr.SIZE_PER_STEP)
                return substitute(node.value, env, node.loc, lambda steps: self.budget.spend(steps, node.loc))
            return node.value
        if isinstance(node, YSeq):
            self.budget.spend(len(node.items) // LIST_ITEMS_PER_STEP, node.loc)  # a list is built again at every use
            return [self.value(n, env) for n in node.items]
        raise SpecError("expected a number, string, boolean or list here, got a mapping", node.loc)

    def int_value(self, node: YNode, env: Mapping[str, Any], what: str) -> int:
        try:
            return pos_int(self.value(node, env))
        except ArgError as e:
            raise SpecError(f"{what} {e}", node.loc) from None

    def flag(self, node: YNode, env: Mapping[str, Any], what: str) -> bool:
        """A true/false value ('when', 'connect')."""
        value = self.value(node, env)
        if not isinstance(value, bool):
            raise SpecError(f"'{what}' must be true or false, got {got(node, value)}", node.loc)
        return value

    def make_args(self, args_type: type, args: YMap | None, env: Mapping[str, Any], what: str, loc: Loc) -> Any:
        kwargs: dict[str, Any] = {}
        fields = arg_fields(args_type)
        for key, node in (args.items.items() if args else ()):
            if key in LAYER_KEYS:
                continue
            f = fields[key]  # names were checked by the spec parser
            value = self.value(node, env)
            try:
                kwargs[key] = f.metadata["convert"](value)
            except ArgError as e:
                raise SpecError(f"{what}: '{key}' {e}{_division_hint(node, value)}", node.loc) from None
        for name, f in fields.items():
            if name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise SpecError(f"{what}: missing required argument '{name}'", loc)
        return args_type(**kwargs)
