"""The one registry of op definitions: everything convcost knows about each op, in one place.

A definition (:class:`OpRule`) holds the op's typed arguments (with their docs), its shape rule and
cost formula, its backward pass (which gradients, at what cost), its receptive-field rule, what autograd
saves for it (memory), how to build its torch module (torch is imported
inside ``build``, never when this package is imported) and how each well-known counter counts it
(:class:`~.counting.Counting`). It is registered once, by name; registering a name (or alias) twice,
or a definition that leaves out one of those facts, is a programming error and raises at import
time. Everything else in convcost (graph builder, memory model, counters, torch builder, renderers,
``convcost ops`` and docs/spec.md's op table) reads definitions here instead of switching on strings.

Op modules are imported on demand (start-up time is a feature): the tables below (:data:`REGISTRY`,
:data:`ALIASES`, :data:`SPELLINGS`, :data:`MACROS`) look like complete dicts, but a name not registered
yet makes them import the op module that defines it first, and iterating over one, or taking its
length, imports every op module (the .py files of this package: a new op file is found without being
listed anywhere). The module is found by its source text: the op modules whose source holds the name
as a string literal (``@op("conv"``, ``Activation("relu"``, ``aliases=("bn",)``) are imported until the
name is registered, those with ``("name"`` first. So analysing a ResNet imports the conv, batch norm,
pool and join definitions (their argument types become dataclasses where first used: :func:`lazy_args`),
never the attention, window or token ones; tests/test_lazy_ops.py checks that every registered name is
found this way.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar

from ..cost import Cost
from ..frontend.source import shorten
from .counting import Counting
from .grad import BackwardFn
from .receptive import RF, RFFn
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
# a module kept whole: its call's arguments after the input, and its keyword arguments -> more arguments, or why not
FromCallFn = Callable[[list[Any], dict[str, Any]], "dict[str, Any] | str"]


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
# (args, input shapes, output shape) -> the parameters the layer holds, by the name its torch module gives the last part of
# each ('weight', 'bias'), with their shapes: what a layer's `tied:` may name (frontend/spec.py, docs/spec.md)
TensorsFn = Callable[[Any, tuple["Shape", ...], "Shape"], "dict[str, tuple[int, ...]]"]


class Saves(Enum):
    """What an op's backward keeps for training, following torch's backward formulas
    (tools/autograd/derivatives.yaml): its inputs, its output (where the derivative is computed from
    the result) or nothing. costmodel/memory.py sums it."""

    NOTHING = "nothing"
    INPUTS = "inputs"
    OUTPUT = "output"


# The ops an op computes, for `verify --reference`'s structural match: (op, its unresolved arguments, inputs), inputs
# numbered -1, -2... for the op's own inputs and 0, 1... for earlier items; the last item's output is the op's.
# A LowerFn gets the layer's arguments and input shapes; it returns None where the layer is its own op there.
Lowered = tuple[tuple[str, Any, tuple[int, ...]], ...]
LowerFn = Callable[[Any, tuple[Any, ...]], "Lowered | None"]
SavesFn = Callable[[NodeLike], Saves]  # when what is saved depends on the layer
UnreadFn = Callable[[NodeLike], int]  # when the buffers inference never reads depend on the layer
ExtraBytesFn = Callable[[NodeLike, int, int], int]  # (node, batch, bytes per element) -> bytes kept besides


def no_extra(node: NodeLike, batch: int, elem: int) -> int:
    return 0


class ScorePass(NamedTuple):
    """One pass an attention's torch module makes over its score matrices in memory (heads × queries × keys, for every
    window and sample): the op that makes it ('matmul': q·kᵀ writing the scores, a·v reading them; 'add': a bias or
    mask added; 'multiply'; 'softmax': read and written) and the score elements it moves (reads plus writes)."""

    op: str
    elements: int


ScorePassesFn = Callable[[NodeLike, int], "tuple[ScorePass, ...]"]  # (node, batch) -> its passes over its scores


def no_scores(node: NodeLike, batch: int) -> tuple[ScorePass, ...]:
    return ()


def score_passes(scores: int, *between: str) -> tuple[ScorePass, ...]:
    """The passes of an attention that holds its ``scores`` (elements, whole batch) in memory: q·kᵀ writes them, each
    op of ``between`` (an add of a bias or mask, a multiply) reads and writes them, softmax reads and writes them, a·v
    reads them."""
    return (ScorePass("matmul", scores), *(ScorePass(o, 2 * scores) for o in between), ScorePass("softmax", 2 * scores),
            ScorePass("matmul", scores))


COPY = "contiguous"  # a ScorePass's op for a copy of a strided view (pad, roll, a window partition, a permuted q, k or v)


def copies(elements: int, count: int) -> tuple[ScorePass, ...]:
    """``count`` copies of a tensor of ``elements`` (each read and written) that an attention's torch module makes of
    its tokens, q, k or v (reshapes of permuted views, pad, roll): at the elementwise curve."""
    return (ScorePass(COPY, 2 * count * elements),) if count and elements else ()


def fused_score_passes(scores: int) -> tuple[ScorePass, ...]:
    """The passes of an attention run in a fused kernel (CPU's flash attention): its scores stay in blocks in cache,
    never written out, but softmax's exponentials are computed over every one of them: a softmax pass, no q·kᵀ write
    and no a·v read."""
    return (ScorePass("softmax", 2 * scores),)


CATEGORIES = (
    "conv", "linear", "norm", "activation", "math", "pool", "resample", "shuffle", "join", "reshape", "identity",
)
MANY = 1_000  # ``inputs``' upper bound for ops that read any number of outputs (a join's list)


@dataclass(frozen=True)
class NoArgs:
    """For ops that take no arguments."""


C = TypeVar("C", bound=type)


class _LazyFields:
    """Stands in for ``__dataclass_fields__`` of an argument type declared with :func:`lazy_args` and not made
    a dataclass yet: the first look at it (dataclasses.fields, is_dataclass, a dataclass subclass being made)
    makes the class a dataclass, and so does the first instance (its placeholder ``__new__``)."""

    def __init__(self, owner: type) -> None:
        self.owner = owner

    def __get__(self, obj: Any, cls: type | None = None) -> Any:
        return _made(self.owner).__dataclass_fields__


def lazy_args(cls: C) -> C:
    """``@dataclass(frozen=True)``, done when the argument type is first used rather than when its op module
    is imported: creating a dataclass costs ~3 M instructions, and a run uses a few of the argument types the
    op modules it imports declare (start-up time). Nothing can see the class before it is made a dataclass:
    an instance (made, copied or unpickled) goes through ``__new__``, every dataclass helper through
    ``__dataclass_fields__``; the class object stays the same."""
    type.__setattr__(cls, "__dataclass_fields__", _LazyFields(cls))

    def __new__(c: type, *args: Any, **kwargs: Any) -> Any:  # stays: CPython keeps calling a __new__ once set
        _made(cls)
        return object.__new__(c)

    type.__setattr__(cls, "__new__", staticmethod(__new__))
    return cls


def _made(cls: type) -> type:
    """``cls`` (declared with :func:`lazy_args`) made a frozen dataclass, once."""
    if isinstance(cls.__dict__.get("__dataclass_fields__"), _LazyFields):
        type.__delattr__(cls, "__dataclass_fields__")
        dataclass(frozen=True)(cls)
    return cls


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
    backward: BackwardFn = _REQUIRED  # what its backward computes and costs (ops/grad.py)
    rf: RF | RFFn = _REQUIRED  # how its output positions read its input's (ops/receptive.py)
    saves_frozen: Saves | SavesFn | None = None  # what its backward keeps when its weights are frozen (None: saves)
    saved_extra: ExtraBytesFn = no_extra  # bytes its backward keeps besides (indices, statistics, masks)
    # the passes its torch module makes over its attention scores (the softmax alone for a fused kernel that keeps them
    # in cache): what its predicted time adds to its FLOPs' (costmodel/roofline.py predicted_span)
    score_passes: ScorePassesFn = no_scores
    unread_buffers: int | UnreadFn = 0  # buffers inference never reads (batch norm's num_batches_tracked)
    notes: str = ""  # more for docs/spec.md's op table, after the summary
    aliases: tuple[str, ...] = ()
    parts: PartsFn | None = None  # the layer's cost in named pieces, each a row of the table (attention)
    resolve: ResolveFn | None = None  # fits the arguments to the input's rank before ``shape`` (ops/spatial.py)
    imports: tuple[str, ...] = ()  # torch.nn class names `convcost import` turns into this op
    from_torch: FromTorchFn | None = None  # such a module -> arguments as a spec writes them (None: another op's)
    # a module kept whole: its forward's other arguments (MViT's thw grid) -> more arguments, or why not
    from_call: FromCallFn | None = None
    spellings: tuple[str, ...] = ()  # other tools' names for it ('deconv'): an error names this op, not a did-you-mean
    tensors: TensorsFn | None = None  # the parameters it holds, by name and shape: what another layer may share (tied)
    lowered: LowerFn | None = None  # (args, input shapes) -> the other ops it computes (patch_embed: conv, then to_tokens)
    inputs: tuple[int, int] = (1, 1)  # how many outputs it reads (least, most): more than one from a 'from' list
    detached: bool = False  # its output carries no gradient back to its input, whose shape alone it reads (`constant`)

    def arg_fields(self) -> dict[str, dataclasses.Field[Any]]:
        return arg_fields(self.args)

    def saved(self, node: NodeLike) -> Saves:
        return self.saves if isinstance(self.saves, Saves) else self.saves(node)

    def saved_when(self, node: NodeLike, weights_frozen: bool) -> Saves:
        """What the backward keeps; ``weights_frozen``: its parameters get no gradient (torch then saves only what
        the input's gradient needs)."""
        if weights_frozen and self.saves_frozen is not None:
            return self.saves_frozen if isinstance(self.saves_frozen, Saves) else self.saves_frozen(node)
        return self.saved(node)

    def receptive(self, node: NodeLike) -> RF:
        return self.rf if isinstance(self.rf, RF) else self.rf(node.args, node.in_shapes, node.shape)

    def unread(self, node: NodeLike) -> int:
        return self.unread_buffers if isinstance(self.unread_buffers, int) else self.unread_buffers(node)


V = TypeVar("V")


class _OnDemand(dict[str, V]):
    """A registry table (name -> rule, alias -> name, spelling -> name) that imports the op module defining
    a name the first time it is asked for (``t[name]``, ``t.get(name)``, ``name in t``), and every op
    module before it is iterated, counted or copied. Registration writes through ``dict``'s own methods."""

    __slots__ = ()

    def __missing__(self, key: str) -> V:
        _define(key)
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        if not dict.__contains__(self, key):
            _define(key)
        return dict.get(self, key, default)

    def __contains__(self, key: object) -> bool:
        if dict.__contains__(self, key):
            return True
        _define(key)
        return dict.__contains__(self, key)

    def __iter__(self) -> Iterator[str]:
        load_all()
        return dict.__iter__(self)

    def __len__(self) -> int:
        load_all()
        return dict.__len__(self)

    def keys(self) -> Any:
        load_all()
        return dict.keys(self)

    def values(self) -> Any:
        load_all()
        return dict.values(self)

    def items(self) -> Any:
        load_all()
        return dict.items(self)

    def copy(self) -> dict[str, V]:
        load_all()
        return dict(dict.items(self))


REGISTRY: _OnDemand[OpRule] = _OnDemand()
ALIASES: _OnDemand[str] = _OnDemand()
SPELLINGS: _OnDemand[str] = _OnDemand()  # another tool's name for an op (lower case) -> the op
ORIGINS: dict[str, str] = {}  # op name, alias or spelling -> the module that registered it


_PACKAGE = __name__.rpartition(".")[0]  # convcost.ops


class _Sources(NamedTuple):
    """Every module of this package (its .py files, private ones excepted) and their source texts joined
    into one string, searched once per name instead of once per module."""

    modules: tuple[str, ...]
    starts: tuple[int, ...]  # where each module's text starts in ``text``
    text: bytes  # UTF-8: bytes.find is several times faster than str.find on text with non-ASCII characters


_sources: _Sources | None = None
_all_loaded = False


def _op_sources() -> _Sources:
    """The op modules' sources, read once; none when they cannot be read (a build without .py files:
    then every name not registered yet loads every module)."""
    global _sources
    if _sources is None:
        here = os.path.dirname(os.path.abspath(__file__))
        modules: list[str] = []
        starts: list[int] = []
        texts: list[bytes] = []
        at = 0
        try:
            for entry in sorted(os.listdir(here)):
                if entry.endswith(".py") and not entry.startswith("_"):
                    with open(os.path.join(here, entry), "rb") as f:
                        text = f.read() + b"\n"
                    modules.append(entry[:-3])
                    starts.append(at)
                    texts.append(text)
                    at += len(text)
        except OSError:
            modules, starts, texts = [], [], []
        _sources = _Sources(tuple(modules), tuple(starts), b"".join(texts))
    return _sources


def module_names() -> list[str]:
    """Every module of this package that may define ops (its .py files, private ones excepted)."""
    sources = _op_sources()
    if sources.modules:
        return list(sources.modules)
    import pkgutil

    return sorted(m.name for m in pkgutil.iter_modules([os.path.dirname(os.path.abspath(__file__))])
                  if not m.name.startswith("_"))


def defining_modules(name: str) -> list[str]:
    """The op modules whose source holds ``name`` as a string literal in double quotes (the project's
    style, kept by ruff), those with ``("name"`` (a decorator's, a table row's or an alias tuple's first
    item) first. One pass over all the sources."""
    import bisect

    sources = _op_sources()
    text, starts = sources.text, sources.starts
    pattern = f'"{name}"'.encode()
    first: list[str] = []
    then: list[str] = []
    at = text.find(pattern)
    while at >= 0:
        module = sources.modules[bisect.bisect_right(starts, at) - 1]
        (first if text[at - 1 : at] == b"(" else then).append(module)
        at = text.find(pattern, at + len(pattern))
    return list(dict.fromkeys([*first, *then]))  # in that order, once each


def candidate_modules(name: str) -> list[str]:
    """:func:`defining_modules` of ``name`` not imported yet."""
    return [m for m in defining_modules(name) if f"{_PACKAGE}.{m}" not in sys.modules]


_get = dict.get


def _known(name: str) -> bool:
    return any(dict.__contains__(t, name) for t in (REGISTRY, ALIASES, SPELLINGS, MACROS))


def _define(name: object) -> None:
    """Import the op modules that may define ``name`` (an op, alias or spelling) until one has."""
    if _all_loaded or not isinstance(name, str) or not name or _known(name):
        return
    if not _op_sources().modules:
        load_all()
        return
    import importlib

    for module in candidate_modules(name):
        importlib.import_module(f"{_PACKAGE}.{module}")
        if _known(name):
            return


def load_all() -> None:
    """Import every op module (``convcost ops``, the docs' table, did-you-mean over every name)."""
    global _all_loaded
    if _all_loaded:
        return
    import importlib

    for module in module_names():
        importlib.import_module(f"{_PACKAGE}.{module}")
    _all_loaded = True


def _taken(name: str) -> bool:
    return dict.__contains__(REGISTRY, name) or dict.__contains__(ALIASES, name)


def _registering_module() -> str:
    """The module whose code called register() (through op() or directly)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back  # type: ignore[assignment]
    return frame.f_globals.get("__name__", "?") if frame is not None else "?"


def register(rule: OpRule) -> OpRule:
    if rule.category not in CATEGORIES:
        raise ValueError(f"op '{rule.name}': unknown category '{rule.category}'")
    for name in (rule.name, *rule.aliases):
        if _taken(name):
            raise ValueError(f"op '{name}' is already registered")
    missing = [f for f in ("build", "saves", "counting", "backward", "rf") if getattr(rule, f) is _REQUIRED]
    if missing:
        raise ValueError(f"op '{rule.name}': its definition lacks {', '.join(missing)}")
    if not rule.counting.category:
        rule = dataclasses.replace(rule, counting=rule.counting._replace(category=rule.name))
    for spelling in rule.spellings:
        if dict.__contains__(SPELLINGS, spelling) or _taken(spelling):
            raise ValueError(f"op '{rule.name}': the spelling '{spelling}' is already taken")
    origin = _registering_module()
    dict.__setitem__(REGISTRY, rule.name, rule)
    ORIGINS[rule.name] = origin
    for alias in rule.aliases:
        dict.__setitem__(ALIASES, alias, rule.name)
        ORIGINS[alias] = origin
    for spelling in rule.spellings:
        dict.__setitem__(SPELLINGS, spelling, rule.name)
        ORIGINS[spelling] = origin
    return rule


Expansion = list[tuple[str, str, Any]]  # a macro's layers: (name hint, op name, typed args)


class Macro(NamedTuple):  # a NamedTuple, like ops/counting.py's records: cheap to create at start-up
    """Sugar that expands into registered ops while the graph is built (ops/macros.py)."""

    name: str
    args: type
    expand: Callable[[Any, Shape], Expansion]
    summary: str
    notes: str = ""  # more for docs/spec.md's op table


MACROS: _OnDemand[Macro] = _OnDemand()  # pointwise, depthwise, dwsep (ops/macros.py)


def macro(name: str, args: type, summary: str, notes: str = "") -> Callable[[Callable[[Any, Shape], Expansion]], None]:
    """Function decorator: the function expands the macro ``name`` (arguments of type ``args``, already
    converted) on an input of the given shape into registered ops."""

    def deco(fn: Callable[[Any, Shape], Expansion]) -> None:
        if dict.__contains__(MACROS, name) or _taken(name):
            raise ValueError(f"op '{name}' is already registered")
        dict.__setitem__(MACROS, name, Macro(name, args, fn, summary, notes))
        ORIGINS[name] = _registering_module()

    return deco


def unregister(name: str) -> None:
    """Remove a registered op and its aliases (tests that register a toy op clean up with this)."""
    rule = dict.pop(REGISTRY, name)
    for other in (name, *rule.aliases, *rule.spellings):
        ORIGINS.pop(other, None)
    for alias in rule.aliases:
        dict.__delitem__(ALIASES, alias)
    for spelling in rule.spellings:
        dict.__delitem__(SPELLINGS, spelling)


def op(
    name: str,
    *,
    category: str,
    args: type = NoArgs,
    aliases: tuple[str, ...] = (),
) -> Callable[[type], type]:
    """Class decorator: the class is the op's definition. It holds the static methods ``shape``, ``cost``
    and ``build`` and the attributes ``saves`` and ``counting`` (required), the backward (static method
    ``backward``, ops/grad.py) and receptive-field rule (``rf``: an RF or a static method, ops/receptive.py), both
    required, optionally ``saved_extra``, ``score_passes`` (the passes its torch module makes over attention scores
    held in memory), ``saves_frozen``, ``unread_buffers``, ``parts``, ``resolve``, ``inputs``
    (how many outputs it reads, (least, most): an op of more than one takes a ``from`` list) and ``detached`` (its
    output carries no gradient back: it reads only its input's shape), for `convcost import`
    ``imports`` (torch.nn class names) with the static method ``from_torch`` (module -> arguments) and, for a module
    kept whole whose forward takes more than its input, ``from_call`` (those arguments -> more arguments), ``lowered``
    (arguments -> the other ops it computes, for `verify --reference`) where one op is another's composition; its
    docstring's first line is the summary, the rest notes for the docs."""

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
                backward=getattr(cls, "backward", _REQUIRED),
                rf=getattr(cls, "rf", _REQUIRED),
                saves_frozen=getattr(cls, "saves_frozen", None),
                saved_extra=getattr(cls, "saved_extra", no_extra),
                score_passes=getattr(cls, "score_passes", no_scores),
                unread_buffers=getattr(cls, "unread_buffers", 0),
                notes=" ".join(notes.split()),
                aliases=aliases,
                parts=getattr(cls, "parts", None),
                resolve=getattr(cls, "resolve", None),
                imports=getattr(cls, "imports", ()),
                from_torch=getattr(cls, "from_torch", None),
                from_call=getattr(cls, "from_call", None),
                spellings=getattr(cls, "spellings", ()),
                tensors=getattr(cls, "tensors", None),
                lowered=getattr(cls, "lowered", None),
                inputs=getattr(cls, "inputs", (1, 1)),
                detached=getattr(cls, "detached", False),
            )
        )
        return cls

    return deco


def lookup(name: str) -> OpRule | None:
    """The rule of an op name or alias as a user wrote it; None when there is none."""
    if not isinstance(name, str):
        return None
    _define(name)
    return dict.get(REGISTRY, dict.get(ALIASES, name, name))


def rule(name: str) -> OpRule:
    """The rule of a registered op (after validation): a missing one is an internal error."""
    found = _get(REGISTRY, name) or lookup(name)  # dict.get: called per node, many times
    if found is None:  # pragma: no cover - the spec layer only lets registered ops through
        raise LookupError(f"internal error: no op rule '{name}' in the registry")
    return found


def all_names() -> list[str]:
    """Every op name and alias (imports every op module)."""
    return sorted([*REGISTRY, *ALIASES])


def all_rules() -> list[OpRule]:
    """Every registered op's rule, by name (imports every op module)."""
    return [rule for _, rule in sorted(REGISTRY.items())]


# ---- argument converters -------------------------------------------------------------------
# A field declares its converter in metadata: field(default=..., metadata=arg(pos_int)). A converter may
# say which values it takes as a JSON Schema (``convert.schema``: a dict, or a function returning one),
# which `convcost schema` writes for the argument; the combinators below (per_dim, pair, optional)
# compose their converter's. A converter that says nothing takes any value as far as the schema goes.
Converter = Callable[[Any], Any]
Schema = dict[str, Any]


def typed(schema: Schema | Callable[[], Schema]) -> Callable[[Converter], Converter]:
    """Decorator: the JSON Schema of the values a converter takes (see :func:`converter_schema`)."""

    def deco(convert: Converter) -> Converter:
        convert.schema = schema  # type: ignore[attr-defined]
        return convert

    return deco


def converter_schema(convert: Converter) -> Schema:
    """The JSON Schema a converter declares; for one that declares none, what it is seen to take (see
    :func:`inferred_schema`)."""
    schema = getattr(convert, "schema", None)
    if callable(schema):
        schema = schema()
    return dict(schema) if isinstance(schema, dict) else inferred_schema(convert)


_PROBES: dict[str, tuple[Any, ...]] = {
    "integer": (-1, 0, 1, 2, 64),
    "number": (0.5, 1.5, -0.5),
    "boolean": (True, False),
    "null": (None,),
    "string": ("inf", "same", "valid", "mean", "max", "sum", "none", "x"),
    "array": ([1], [1, 2], [0, 1, 2], [0.5, 2.0], [-1]),
}


def _takes(convert: Converter, value: Any) -> bool:
    try:
        convert(value)
    except (ArgError, ValueError, TypeError):
        return False
    return True


def inferred_schema(convert: Converter) -> Schema:
    """The JSON types an undeclared converter takes, seen by trying a few values of each: {} (any value) when
    it takes none of them (its values are of a form the probes do not guess). Integers keep their lower
    bound (0 or 1) when the converter refuses smaller ones. Never narrower than the converter: a type is
    left out only when every probe of it was refused."""
    taken = {kind: [v for v in values if _takes(convert, v)] for kind, values in _PROBES.items()}
    if not any(taken.values()):
        return {}
    types: list[Schema] = []
    if taken["integer"]:
        low = min(taken["integer"])
        types.append({"type": "integer", **({"minimum": low} if low >= 0 else {})})
    if taken["number"]:
        types.append({"type": "number"})
    if taken["boolean"]:
        types.append({"type": "boolean"})
    if taken["null"]:
        types.append({"type": "null"})
    if taken["string"]:
        types.append({"type": "string"})
    if taken["array"]:
        types.append({"type": "array"})
    return types[0] if len(types) == 1 else {"anyOf": types}


def arg(convert: Converter, doc: str = "", compared: bool = True) -> dict[str, Any]:
    """A field's metadata: its converter and doc. ``compared`` False: what inference computes does not depend on
    it, or only through the output shape, which is compared anyway (batch norm's momentum, a pool's ceil_mode):
    `verify --reference` does not compare it."""
    return {"convert": convert, "doc": doc, "compared": compared}


def compared_args(args: Any) -> tuple[tuple[str, Any], ...]:
    """The argument values `verify --reference` compares (see :func:`arg`), by name; an argument record with a
    ``compared()`` method says them itself, where two spellings mean the same (a chunk's parts 2 and sizes [32, 32])."""
    own = getattr(args, "compared", None)
    if callable(own):
        return tuple(own())
    return tuple((name, getattr(args, name)) for name, f in arg_fields(type(args)).items() if f.metadata.get("compared", True))


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


@typed({"type": "integer", "minimum": 1, "maximum": MAX_DIM})
def pos_int(value: Any) -> int:
    return _int(value, "a positive integer", 1)


@typed({"type": "integer", "minimum": 0, "maximum": MAX_DIM})
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

    return typed(lambda: {"anyOf": [(inner := converter_schema(convert)),
                                    {"type": "array", "items": inner, "minItems": 2, "maxItems": 2}]})(conv)


def triple(convert: Converter) -> Converter:
    """One number for the three dims of a T×H×W grid, or a list [t, h, w]."""

    def conv(value: Any) -> tuple[int, int, int]:
        if isinstance(value, (list, tuple)):
            if len(value) != 3:
                raise ArgError(f"must be one number or a list [t, h, w], got a list of {len(value)}")
            return (convert(value[0]), convert(value[1]), convert(value[2]))
        v = convert(value)
        return (v, v, v)

    return typed(lambda: {"anyOf": [(inner := converter_schema(convert)),
                                    {"type": "array", "items": inner, "minItems": 3, "maxItems": 3}]})(conv)


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

    return typed(lambda: {"anyOf": [(inner := converter_schema(convert)),
                                    {"type": "array", "items": inner, "minItems": 1, "maxItems": 3}]})(conv)


@typed(lambda: {"anyOf": [converter_schema(per_dim(nonneg_int)), {"enum": ["same", "valid"]}]})
def padding(value: Any) -> Dims | str:
    if isinstance(value, str):
        if value in ("same", "valid"):
            return value
        raise ArgError(f"must be a non-negative integer, [h, w], 'same' or 'valid', got '{shorten(value)}'")
    return per_dim(nonneg_int)(value)


@typed({"type": "boolean"})
def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ArgError(f"must be true or false, got {_show(value)}")
    return value


# finite: YAML's .inf is a number to JSON Schema too; only bounds refuse it (NaN passes every bound: not refused)
FINITE: Schema = {"minimum": -sys.float_info.max, "maximum": sys.float_info.max}


@typed({"type": "number", "exclusiveMinimum": 0, "maximum": sys.float_info.max})
def pos_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ArgError(f"must be a positive finite number, got {_show(value)}")
    return float(value)


@typed({"type": "number", "minimum": 0, "maximum": 1})
def probability(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ArgError(f"must be a number between 0 and 1, got {_show(value)}")
    return float(value)


@typed({"type": "number", **FINITE})
def number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ArgError(f"must be a finite number, got {_show(value)}")
    return float(value)


def optional(convert: Converter) -> Converter:
    def conv(value: Any) -> Any:
        return None if value is None else convert(value)

    def schema() -> Schema:
        inner = converter_schema(convert)
        return {"anyOf": [inner, {"type": "null"}]} if inner else {}

    return typed(schema)(conv)


def choice(*options: str) -> Converter:
    def conv(value: Any) -> str:
        if value not in options:
            raise ArgError(f"must be one of {', '.join(options)}, got {_show(value)}")
        return str(value)

    return typed({"enum": list(options)})(conv)


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
