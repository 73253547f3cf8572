"""The one registry of op definitions: everything convcost knows about each op, in one place.

A definition (:class:`OpRule`) holds the op's typed arguments (with their docs), its shape rule and
cost formula, what autograd saves for it (memory), how to build its torch module (torch is imported
inside ``build``, never when this package is imported) and how each well-known counter counts it
(:class:`~.counting.Counting`). It is registered once, by name; registering a name (or alias) twice,
or a definition that leaves out one of those facts, is a programming error and raises at import
time. Everything else in convcost (graph builder, memory model, counters, torch builder, renderers,
``convcost ops`` and docs/spec.md's op table) reads definitions here instead of switching on strings.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from ..cost import Cost
from ..frontend.source import shorten
from .counting import Counting
from .shapes import Shape

if TYPE_CHECKING:
    from torch import nn

MAX_DIM = 10**9


class ShapeError(Exception):
    """Raised by shape rules; ``arg`` names the argument to point at in the spec, if any."""

    def __init__(self, message: str, arg: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.arg = arg


class ArgError(Exception):
    """Raised by argument converters; the builder adds the location."""


class NotImportable(Exception):
    """Raised by an op's ``from_torch`` recogniser for a torch module it names but cannot express (a conv
    with padding_mode='reflect'); the message says what, and `convcost import` lists it as unsupported."""


FromTorchFn = Callable[[Any], "dict[str, Any] | None"]  # torch module -> the op's arguments (None: not this op)


class ShapeFn(Protocol):
    def __call__(self, args: Any, inputs: tuple[Shape, ...]) -> Shape: ...


class ResolveFn(Protocol):
    """Arguments as written -> arguments for this layer's input (an int for every spatial dim made a
    tuple of the input's rank); raises ShapeError where they do not fit the input."""

    def __call__(self, args: Any, inputs: tuple[Shape, ...]) -> Any: ...


class CostFn(Protocol):
    def __call__(self, args: Any, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost: ...


class Part(NamedTuple):
    """One named piece of a layer's cost, shown as its own row under the layer (attention's Q/K/V
    projection, QKᵀ, softmax, A·V, output projection). A layer's parts add up to its cost."""

    name: str
    op: str  # what the piece is, in the table's op column ('linear', 'matmul', 'softmax')
    shape: Shape  # what it produces (per sample)
    cost: Cost


class PartsFn(Protocol):
    def __call__(self, args: Any, inputs: tuple[Shape, ...], out: Shape, batch: int) -> tuple[Part, ...]: ...


class NodeLike(Protocol):
    """What an op's facts read of a graph node (graph.build.Node; ops cannot import the graph)."""

    @property
    def op(self) -> str: ...
    @property
    def args(self) -> Any: ...
    @property
    def in_shapes(self) -> tuple[Shape, ...]: ...
    @property
    def shape(self) -> Shape: ...
    @property
    def rule(self) -> OpRule: ...


BuildFn = Callable[[NodeLike], "nn.Module"]  # imports torch inside its body


class Saves(Enum):
    """What an op's backward keeps for training, following torch's backward formulas
    (tools/autograd/derivatives.yaml): its inputs, its output (where the derivative is computed from
    the result) or nothing. costmodel/memory.py sums it."""

    NOTHING = "nothing"
    INPUTS = "inputs"
    OUTPUT = "output"


SavesFn = Callable[[NodeLike], Saves]  # when what is saved depends on the layer
UnreadFn = Callable[[NodeLike], int]  # when the buffers inference never reads depend on the layer
ExtraBytesFn = Callable[[NodeLike, int, int], int]  # (node, batch, bytes per element) -> bytes kept besides


def no_extra(node: NodeLike, batch: int, elem: int) -> int:
    return 0


CATEGORIES = (
    "conv", "linear", "norm", "activation", "math", "pool", "resample", "shuffle", "join", "reshape", "identity",
)
MANY = 1_000  # ``inputs``' upper bound for ops that read any number of outputs (a join's list)


@dataclass(frozen=True)
class NoArgs:
    """For ops that take no arguments."""


@functools.cache
def arg_fields(args_type: type) -> dict[str, dataclasses.Field[Any]]:
    """An argument type's fields by name (each with its converter and doc in ``metadata``)."""
    return {f.name: f for f in dataclasses.fields(args_type)}


_REQUIRED: Any = None  # register() refuses a definition that leaves a field at this


@dataclass(frozen=True, eq=False)  # compared by identity: its fields are functions (and eq=False is cheaper to create)
class OpRule:
    """Everything convcost knows about one op (see the module docstring)."""

    name: str
    args: type
    category: str
    shape: ShapeFn
    cost: CostFn
    summary: str
    build: BuildFn = _REQUIRED  # node -> torch module (CPU, float32, random weights)
    saves: Saves | SavesFn = _REQUIRED  # what the op's backward keeps
    counting: Counting = _REQUIRED  # how fvcore, FlopCounterMode, ptflops and thop count it
    saved_extra: ExtraBytesFn = no_extra  # bytes its backward keeps besides (indices, statistics, masks)
    unread_buffers: int | UnreadFn = 0  # buffers inference never reads (batch norm's num_batches_tracked)
    notes: str = ""  # more for docs/spec.md's op table, after the summary
    aliases: tuple[str, ...] = ()
    parts: PartsFn | None = None  # the layer's cost in named pieces, each a row of the table (attention)
    resolve: ResolveFn | None = None  # fits the arguments to the input's rank before ``shape`` (ops/spatial.py)
    imports: tuple[str, ...] = ()  # torch.nn class names `convcost import` turns into this op
    from_torch: FromTorchFn | None = None  # such a module -> arguments as a spec writes them (None: another op's)
    spellings: tuple[str, ...] = ()  # other tools' names for it ('deconv'): an error names this op, not a did-you-mean
    inputs: tuple[int, int] = (1, 1)  # how many outputs it reads (least, most): more than one from a 'from' list

    def arg_fields(self) -> dict[str, dataclasses.Field[Any]]:
        return arg_fields(self.args)

    def saved(self, node: NodeLike) -> Saves:
        return self.saves if isinstance(self.saves, Saves) else self.saves(node)

    def unread(self, node: NodeLike) -> int:
        return self.unread_buffers if isinstance(self.unread_buffers, int) else self.unread_buffers(node)


REGISTRY: dict[str, OpRule] = {}
ALIASES: dict[str, str] = {}
SPELLINGS: dict[str, str] = {}  # another tool's name for an op (lower case) -> the op


def register(rule: OpRule) -> OpRule:
    if rule.category not in CATEGORIES:
        raise ValueError(f"op '{rule.name}': unknown category '{rule.category}'")
    for name in (rule.name, *rule.aliases):
        if name in REGISTRY or name in ALIASES:
            raise ValueError(f"op '{name}' is already registered")
    missing = [f for f in ("build", "saves", "counting") if getattr(rule, f) is _REQUIRED]
    if missing:
        raise ValueError(f"op '{rule.name}': its definition lacks {', '.join(missing)}")
    if not rule.counting.category:
        rule = dataclasses.replace(rule, counting=rule.counting._replace(category=rule.name))
    for spelling in rule.spellings:
        if spelling in SPELLINGS or spelling in REGISTRY or spelling in ALIASES:
            raise ValueError(f"op '{rule.name}': the spelling '{spelling}' is already taken")
    REGISTRY[rule.name] = rule
    for alias in rule.aliases:
        ALIASES[alias] = rule.name
    for spelling in rule.spellings:
        SPELLINGS[spelling] = rule.name
    return rule


def unregister(name: str) -> None:
    """Remove a registered op and its aliases (tests that register a toy op clean up with this)."""
    rule = REGISTRY.pop(name)
    for alias in rule.aliases:
        del ALIASES[alias]
    for spelling in rule.spellings:
        del SPELLINGS[spelling]


def op(
    name: str,
    *,
    category: str,
    args: type = NoArgs,
    aliases: tuple[str, ...] = (),
) -> Callable[[type], type]:
    """Class decorator: the class is the op's definition. It holds the static methods ``shape``, ``cost``
    and ``build`` and the attributes ``saves`` and ``counting`` (required), optionally ``saved_extra``,
    ``unread_buffers``, ``parts``, ``resolve`` and ``inputs`` (how many outputs it reads, (least, most): an op
    of more than one takes a ``from`` list), and for `convcost import` ``imports`` (torch.nn class names)
    with the static method ``from_torch`` (module -> arguments); its docstring's first line is the summary,
    the rest notes for the docs."""

    def deco(cls: type) -> type:
        doc = (cls.__doc__ or "").strip()
        summary, _, notes = doc.partition("\n")
        register(
            OpRule(
                name=name,
                args=args,
                category=category,
                shape=cls.shape,  # type: ignore[attr-defined]
                cost=cls.cost,  # type: ignore[attr-defined]
                summary=summary.strip(),
                build=getattr(cls, "build", _REQUIRED),
                saves=getattr(cls, "saves", _REQUIRED),
                counting=getattr(cls, "counting", _REQUIRED),
                saved_extra=getattr(cls, "saved_extra", no_extra),
                unread_buffers=getattr(cls, "unread_buffers", 0),
                notes=" ".join(notes.split()),
                aliases=aliases,
                parts=getattr(cls, "parts", None),
                resolve=getattr(cls, "resolve", None),
                imports=getattr(cls, "imports", ()),
                from_torch=getattr(cls, "from_torch", None),
                spellings=getattr(cls, "spellings", ()),
                inputs=getattr(cls, "inputs", (1, 1)),
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


Dims = int | tuple[int, ...]  # an int for every spatial dim, or one value per dim (resolved: a tuple)


def per_dim(convert: Converter) -> Converter:
    """An int for every spatial dim or a list with one value per dim ([l], [h, w], [d, h, w]). How many
    dims there are depends on the layer's input: the op's ``resolve`` checks the list against it."""

    def conv(value: Any) -> Dims:
        if isinstance(value, (list, tuple)):
            if not value:
                raise ArgError("must be one number or a list with one per spatial dim, got an empty list")
            return tuple(convert(v) for v in value)
        return convert(value)

    return conv


def padding(value: Any) -> Dims | str:
    if isinstance(value, str):
        if value in ("same", "valid"):
            return value
        raise ArgError(f"must be a non-negative integer, [h, w], 'same' or 'valid', got '{shorten(value)}'")
    return per_dim(nonneg_int)(value)


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


# ---- recognisers (`convcost import`): a torch module's attributes as a spec writes them ------------
def spec_dims(value: Any) -> Any:
    """torch's per-dim tuple (3, 3) as a spec writes it: one number when all dims agree, else a list."""
    if isinstance(value, (list, tuple)):
        values = [int(v) if isinstance(v, (int, float)) and float(v).is_integer() else v for v in value]
        return values[0] if values and all(v == values[0] for v in values) else values
    return value


def refuse_unless(ok: bool, what: str) -> None:
    """A recogniser's check: raise NotImportable(what) when the module uses something the op cannot express."""
    if not ok:
        raise NotImportable(what)
