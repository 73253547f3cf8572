"""Import without sympy: a stand-in for torch.fx.experimental.symbolic_shapes while the target is traced, where nothing
has loaded it.

torch's meta kernels and reference ops (torch/_meta_registrations.py, torch/_prims_common, torch/_refs) ask that module,
at each call, questions about sizes that might be symbolic: ``guard_or_false(a != b)``, ``sym_eq(shape, other)``,
``sym_and(...)``, ``statically_known_true(...)``; ``torch._check(cond)`` asks ``expect_true(cond)``. The module imports
sympy and torch's symbolic-shape machinery on its first use: ~0.8 s of CPU, a quarter of a ResNet-50 import
(benchmarks/bench_import_models.py). `convcost import` traces with plain sizes (meta or CPU tensors, no fake tensor, no
shape environment), and for a plain value each of those functions is one line: the value itself (a bool, an int), its
negation, ``==``, ``&``, ``|``.

So while the target is imported, built and recorded, ``torch.fx.experimental.symbolic_shapes`` is a stand-in that
answers the functions in :data:`PLAIN` for plain values (``bool``, ``int``, lists and tuples of them) exactly as the real
function's branch for plain values answers (tests/test_import_nosympy.py compares them, value by value, with the real
ones); a symbolic value (``torch.SymInt``, ``torch.SymBool``: a user's forward that makes them), a value the real
function refuses, or any other name loads the real module in its place and asks it. Afterwards the stand-in is removed
from ``sys.modules`` and from ``torch.fx.experimental``; whatever still holds it (a module imported meanwhile that bound
it to a name) is answered by the real module from then on. Not thread-safe, as importer/nodynamo.py.
"""

from __future__ import annotations

import contextlib
import importlib
import operator
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

NAME = "torch.fx.experimental.symbolic_shapes"
PARENT, _, CHILD = NAME.rpartition(".")
ASK = object()  # a plain answer's "not a plain value: ask the real module"


def _same_bool(a: object) -> object:
    return a if type(a) is bool else ASK


def _expect_true(a: object, skip: object = 0) -> object:
    return _same_bool(a)


def _not_bool(a: object) -> object:
    return (not a) if type(a) is bool else ASK


def _same_int(a: object) -> object:
    return a if type(a) is int else ASK


def _hint(a: object) -> object:
    return a if type(a) in (bool, int) else ASK


def _plain_number(a: object) -> object:
    return type(a) in (bool, int, float)


def _is_nested_int(s: object) -> object:
    return False if _plain_number(s) else ASK


def _has_guarding_hint(a: object) -> object:
    return True if _plain_number(a) else ASK


def _all_bools(x: object, others: tuple[object, ...], op: Callable[[Any, Any], Any]) -> object:
    if type(x) is not bool or any(type(y) is not bool for y in others):
        return ASK
    for y in others:
        x = op(x, y)
    return x


def _sym_and(x: object, *others: object) -> object:
    return _all_bools(x, others, operator.and_)


def _sym_or(x: object, *others: object) -> object:
    return _all_bools(x, others, operator.or_)


def _sym_eq(x: object, y: object) -> object:
    """``==`` of ints, elementwise over equally long lists and tuples (of lists...) of ints; ASK for anything else."""
    if isinstance(x, (tuple, list)) and isinstance(y, (tuple, list)):
        if len(x) != len(y):
            return False
        out = True
        for a, b in zip(x, y):
            same = _sym_eq(a, b)
            if same is ASK:
                return ASK
            out = out & same  # type: ignore[operator]
        return out
    if isinstance(x, int) and isinstance(y, int):
        return x == y
    return ASK


def _always_ask(*args: object) -> object:
    return ASK


# name -> its answer for plain values (ASK: not one)
PLAIN: dict[str, Callable[..., object]] = {
    # imported beside guard_or_false where a tensor's contiguity is asked (torch._prims_common.is_contiguous), seldom
    # called: a call is the real one's, with its deprecation warning
    "guard_size_oblivious": _always_ask,
    "guard_or_false": _same_bool,
    "guard_or_true": _same_bool,
    "guard_bool": _same_bool,
    "expect_true": _expect_true,  # torch._check
    "statically_known_true": _same_bool,
    "statically_known_false": _not_bool,
    "guard_int": _same_int,
    "guarding_hint_or_throw": _hint,
    "has_guarding_hint": _has_guarding_hint,
    "is_nested_int": _is_nested_int,
    "sym_and": _sym_and,
    "sym_or": _sym_or,
    "sym_eq": _sym_eq,
}


class _StandIn(types.ModuleType):
    """torch.fx.experimental.symbolic_shapes as torch's meta kernels read it for plain sizes."""

    def __init__(self) -> None:
        super().__init__(NAME)
        self.real: types.ModuleType | None = None
        self.active = True
        self.asked: dict[str, int] = {}  # name -> plain questions answered (tests)
        for name, plain in PLAIN.items():
            setattr(self, name, self.answering(name, plain))

    def answering(self, name: str, plain: Callable[..., object]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if self.active and self.real is None and not kwargs:
                try:
                    answer = plain(*args)
                except TypeError:  # called otherwise than torch calls it: the real function's to answer (or refuse)
                    answer = ASK
                if answer is not ASK:
                    self.asked[name] = self.asked.get(name, 0) + 1
                    return answer
            return getattr(self.load_real(), name)(*args, **kwargs)

        call.__name__ = call.__qualname__ = name
        call.__module__ = NAME
        return call

    def __getattr__(self, name: str) -> Any:  # anything else: the real module
        if name.startswith("__"):  # a module, not a package: no __path__ (`from ... import` asks)
            raise AttributeError(name)
        return getattr(self.load_real(), name)

    def load_real(self) -> types.ModuleType:
        if self.real is None:
            self.remove()
            self.real = importlib.import_module(NAME)
        return self.real

    def install(self) -> None:
        sys.modules[NAME] = self
        setattr(importlib.import_module(PARENT), CHILD, self)

    def remove(self) -> None:
        if sys.modules.get(NAME) is self:
            del sys.modules[NAME]
        parent = sys.modules.get(PARENT)
        if parent is not None and parent.__dict__.get(CHILD) is self:
            delattr(parent, CHILD)


# dunders read of every module in sys.modules by scans that want no answer from sympy in particular: inspect.getmodule
# (``__file__``, via inspect.getsourcefile/findsource: torch.library.register_fake's source location, warnings)
SCANNED = frozenset({"__file__"})


class _Unmade:
    """What ``sympy.Basic`` is while sympy is not loaded: no value is an instance of it, as no sympy expression exists
    before sympy is loaded."""


class _SympyStandIn(types.ModuleType):
    """sympy as torch's type promotion reads it (``isinstance(x, sympy.Basic)``, torch._prims_common's
    elementwise_dtypes, at every elementwise op): ``Basic`` is :class:`_Unmade` until sympy is loaded, then sympy's own;
    any other name (``__path__`` for a submodule, ``__version__`` too) loads sympy in its place, except the dunders that
    scans of every module in ``sys.modules`` read (:data:`SCANNED`): those the stand-in does not have. A scan that asked
    sympy loaded it whole (~0.6 s of CPU): ``inspect.getmodule``'s ``hasattr(module, "__file__")`` over ``sys.modules``,
    run by ``torch.library.register_fake`` for each custom op that torch.onnx registers when torchvision.ops imports it."""

    def __init__(self) -> None:
        super().__init__("sympy")
        self.real: types.ModuleType | None = None
        self.active = True

    @property
    def Basic(self) -> type:  # sympy's name
        if self.real is None and self.active:
            return _Unmade
        return self.load_real().Basic  # type: ignore[no-any-return]  # after the stand-in's time: sympy's own

    def __getattr__(self, name: str) -> Any:
        if name in SCANNED and self.real is None and self.active:
            raise AttributeError(name)
        return getattr(self.load_real(), name)

    def load_real(self) -> types.ModuleType:
        if self.real is None:
            self.remove()
            self.real = importlib.import_module("sympy")
        return self.real

    def remove(self) -> None:
        if sys.modules.get("sympy") is self:
            del sys.modules["sympy"]


@contextlib.contextmanager
def without_sympy() -> Iterator[None]:
    """torch.fx.experimental.symbolic_shapes and sympy stood in for while the body runs, where neither is loaded already
    (see the module's doc). Imports torch."""
    importlib.import_module("torch")
    if NAME in sys.modules or "sympy" in sys.modules:
        yield
        return
    sympy = _SympyStandIn()
    sys.modules["sympy"] = sympy
    stand_in = _StandIn()
    stand_in.install()
    try:
        yield
    finally:
        stand_in.active = False  # whoever still holds it is answered by the real module from now on
        stand_in.remove()
        sympy.active = False  # whoever still holds it loads sympy when it asks anything, Basic too
        sympy.remove()
