"""The one registry of op rules: each op's typed arguments, shape rule and cost formula.

A rule is registered once, by name; registering a name (or alias) twice is a programming error
and raises at import time. Everything else in convcost (graph builder, renderers, the torch
builder) looks ops up here instead of switching on strings.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..costmodel.cost import Cost
from ..frontend.source import shorten

Shape = tuple[int, ...]
MAX_DIM = 10**9


class ShapeError(Exception):
    """Raised by shape rules; ``arg`` names the argument to point at in the spec, if any."""

    def __init__(self, message: str, arg: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.arg = arg


class ArgError(Exception):
    """Raised by argument converters; the builder adds the location."""


class ShapeFn(Protocol):
    def __call__(self, args: Any, inputs: tuple[Shape, ...]) -> Shape: ...


class CostFn(Protocol):
    def __call__(self, args: Any, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost: ...


CATEGORIES = ("conv", "linear", "norm", "activation", "pool", "join", "reshape", "identity")


@dataclass(frozen=True)
class NoArgs:
    """For ops that take no arguments."""


@dataclass(frozen=True)
class OpRule:
    name: str
    args: type
    category: str
    shape: ShapeFn
    cost: CostFn
    summary: str
    aliases: tuple[str, ...] = ()

    def arg_fields(self) -> dict[str, dataclasses.Field[Any]]:
        return {f.name: f for f in dataclasses.fields(self.args)}


REGISTRY: dict[str, OpRule] = {}
ALIASES: dict[str, str] = {}


def register(rule: OpRule) -> OpRule:
    if rule.category not in CATEGORIES:
        raise ValueError(f"op '{rule.name}': unknown category '{rule.category}'")
    for name in (rule.name, *rule.aliases):
        if name in REGISTRY or name in ALIASES:
            raise ValueError(f"op '{name}' is already registered")
    REGISTRY[rule.name] = rule
    for alias in rule.aliases:
        ALIASES[alias] = rule.name
    return rule


def op(
    name: str,
    *,
    category: str,
    args: type = NoArgs,
    aliases: tuple[str, ...] = (),
) -> Callable[[type], type]:
    """Class decorator: the class holds ``shape`` and ``cost`` static methods and a docstring."""

    def deco(cls: type) -> type:
        register(
            OpRule(
                name=name,
                args=args,
                category=category,
                shape=cls.shape,  # type: ignore[attr-defined]
                cost=cls.cost,  # type: ignore[attr-defined]
                summary=(cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
                aliases=aliases,
            )
        )
        return cls

    return deco


def lookup(name: str) -> OpRule | None:
    """The rule of an op name or alias as a user wrote it; None when there is none."""
    return REGISTRY.get(ALIASES.get(name, name))


def rule(name: str) -> OpRule:
    """The rule of a registered op (after validation): a missing one is an internal error."""
    found = REGISTRY.get(name) or lookup(name)
    if found is None:  # pragma: no cover - the spec layer only lets registered ops through
        raise LookupError(f"internal error: no op rule '{name}' in the registry")
    return found


def all_names() -> list[str]:
    return sorted([*REGISTRY, *ALIASES])


def numel(shape: Shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


# ---- argument converters -------------------------------------------------------------------
# A field declares its converter in metadata: field(default=..., metadata=arg(pos_int)).
Converter = Callable[[Any], Any]


def arg(convert: Converter, doc: str = "") -> dict[str, Any]:
    return {"convert": convert, "doc": doc}


def _int(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer() and minimum <= value <= MAX_DIM:
            raise ArgError(f"must be an integer, got {value} (write {int(value)})")
        raise ArgError(f"must be {what}, got {_show(value)}")
    if value < minimum:
        raise ArgError(f"must be {what}, got {value}")
    if value > MAX_DIM:
        raise ArgError(f"must be at most {MAX_DIM:,} (limit, see docs/limits.md), got {value:,}")
    return value


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f"'{shorten(value)}'"
    if isinstance(value, (list, tuple)):
        return "a list"
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)


def pos_int(value: Any) -> int:
    return _int(value, "a positive integer", 1)


def nonneg_int(value: Any) -> int:
    return _int(value, "a non-negative integer", 0)


def pair(convert: Converter) -> Converter:
    """An int for both dimensions or a list [h, w]."""

    def conv(value: Any) -> tuple[int, int]:
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise ArgError(f"must be one number or a list [h, w], got a list of {len(value)}")
            return (convert(value[0]), convert(value[1]))
        v = convert(value)
        return (v, v)

    return conv


def padding(value: Any) -> tuple[int, int] | str:
    if isinstance(value, str):
        if value in ("same", "valid"):
            return value
        raise ArgError(f"must be a non-negative integer, [h, w], 'same' or 'valid', got '{shorten(value)}'")
    return pair(nonneg_int)(value)


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ArgError(f"must be true or false, got {_show(value)}")
    return value


def pos_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ArgError(f"must be a positive finite number, got {_show(value)}")
    return float(value)


def probability(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ArgError(f"must be a number between 0 and 1, got {_show(value)}")
    return float(value)


def number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ArgError(f"must be a finite number, got {_show(value)}")
    return float(value)


def optional(convert: Converter) -> Converter:
    def conv(value: Any) -> Any:
        return None if value is None else convert(value)

    return conv


def choice(*options: str) -> Converter:
    def conv(value: Any) -> str:
        if value not in options:
            raise ArgError(f"must be one of {', '.join(options)}, got {_show(value)}")
        return str(value)

    return conv
