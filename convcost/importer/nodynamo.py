"""Import without torch._dynamo: a stand-in for it while the target is loaded and traced, where nothing has loaded it.

torch wraps many of its own Python functions in ``torch._disable_dynamo`` (the reference ops that the meta device's
kernels are written in: batch norm, layer norm, hardswish, addmm, add, mul...; a dispatch mode's
``__torch_dispatch__``). The wrapper imports torch._dynamo on its first call, to ask it to leave the function
uncompiled: 1.5 to 2 s of CPU, as much as ``import torch`` itself. torchvision imports it too, at import time, for one
function (``from torch._dynamo.utils import is_compile_supported``, torchvision/ops/roi_align.py). Outside
torch.compile, dynamo's ``disable(fn)`` changes nothing: the function runs as it is.

So while the target is imported, built and recorded, where torch._dynamo is not loaded, ``import torch._dynamo`` finds
a stand-in that answers exactly two questions without it:

- ``disable(fn, recursive, wrapping=False)``, as torch's own ``_disable_dynamo`` wrapper asks it (``wrapping=False``
  is that wrapper's, torch/_compile.py): the function itself (the wrapper caches it on the function as
  ``__dynamo_disable``; the caches are taken back afterwards).
- ``from torch._dynamo.utils import is_compile_supported``: a function that loads the real torch._dynamo when it is
  first called, and calls the real one.

Anything else (``torch._dynamo.is_compiling()`` in a user's forward, ``@torch._dynamo.disable`` in the user's code, a
submodule, another name from utils) loads the real torch._dynamo in its place, and the import goes on with it.
Afterwards the stand-ins are removed from ``sys.modules`` and torch's namespace, and whatever still holds one (a module
imported meanwhile that bound ``torch._dynamo`` to a name) is handed the real torch._dynamo for everything it asks,
``disable`` included: the process is as if dynamo had never been asked for, and a later ``torch.compile`` is torch's.

Relies on torch's private ``_disable_dynamo`` (torch/_compile.py); where that changes (another signature, no
``wrapping=False``), the stand-in loads the real torch._dynamo at the first question: slower, the same trace
(tests/test_import_nodynamo.py checks both). Not thread-safe: another thread of the same process that asks for
torch._dynamo while the stand-in is in place gets the stand-in's answers (the CLI runs one thread).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

NAME = "torch._dynamo"
UTILS = "torch._dynamo.utils"
# functions of torch._dynamo.utils imported by name at import time, that the stand-in hands out as lazy callers
LAZY_UTILS = frozenset({"is_compile_supported"})  # torchvision/ops/roi_align.py


class _StandIn(types.ModuleType):
    """torch._dynamo as torch's ``_disable_dynamo`` wrapper reads it: ``disable(fn, recursive, wrapping=False)``."""

    def __init__(self) -> None:
        super().__init__(NAME)
        self.cached: list[Callable[..., Any]] = []
        self.real: types.ModuleType | None = None
        self.active = True
        self.utils = _UtilsStandIn(self)

    def disable(self, fn: Callable[..., Any] | None = None, recursive: bool = True, **kwargs: Any) -> Any:
        if self.active and self.real is None and fn is not None and kwargs == {"wrapping": False}:  # torch's wrapper
            self.cached.append(fn)  # the wrapper sets fn.__dynamo_disable to what this returns
            return fn
        return self.load_real().disable(fn, recursive, **kwargs)  # anyone else: dynamo's own

    def __getattr__(self, name: str) -> Any:  # anything else (a submodule's __path__ too): the real torch._dynamo
        if name.startswith("__") and name != "__path__":
            raise AttributeError(name)
        return getattr(self.load_real(), name)

    def load_real(self) -> types.ModuleType:
        if self.real is None:
            self.remove()
            self.real = importlib.import_module(NAME)
        return self.real

    def install(self) -> None:
        sys.modules[NAME] = self  # `import torch._dynamo` finds it there, `torch._dynamo` in torch's namespace
        sys.modules[UTILS] = self.utils
        sys.modules["torch"].__dict__["_dynamo"] = self

    def remove(self) -> None:
        for name, mod in ((NAME, self), (UTILS, self.utils)):
            if sys.modules.get(name) is mod:
                del sys.modules[name]
        torch = sys.modules["torch"]
        if torch.__dict__.get("_dynamo") is self:
            del torch.__dict__["_dynamo"]


class _UtilsStandIn(types.ModuleType):
    """torch._dynamo.utils as ``from torch._dynamo.utils import is_compile_supported`` reads it."""

    def __init__(self, parent: _StandIn) -> None:
        super().__init__(UTILS)
        self.parent = parent

    def __getattr__(self, name: str) -> Any:
        if name in LAZY_UTILS:
            return _lazy(self.parent, name)
        if name.startswith("__"):  # a module, not a package: no __path__ (`from ... import` asks)
            raise AttributeError(name)
        return getattr(_real_utils(self.parent), name)


def _real_utils(parent: _StandIn) -> types.ModuleType:
    parent.load_real()
    return importlib.import_module(UTILS)


def _lazy(parent: _StandIn, name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(_real_utils(parent), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__module__ = UTILS
    return call


@contextlib.contextmanager
def without_dynamo() -> Iterator[None]:
    """torch._dynamo stood in for while the body runs, where it is not loaded already (see the module's doc). Imports
    torch (the stand-in goes into its namespace)."""
    importlib.import_module("torch")
    if NAME in sys.modules:
        yield
        return
    stand_in = _StandIn()
    stand_in.install()
    try:
        yield
    finally:
        stand_in.active = False  # whoever still holds it is answered by the real torch._dynamo from now on
        stand_in.remove()
        for fn in stand_in.cached:  # the wrappers ask the real torch._dynamo again next time
            if getattr(fn, "__dynamo_disable", None) is fn:
                with contextlib.suppress(AttributeError, TypeError):
                    delattr(fn, "__dynamo_disable")
