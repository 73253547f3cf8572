"""The trace without torch._dynamo: a stand-in for it while the forward runs, where nothing has loaded it.

torch wraps many of its own Python functions in ``torch._disable_dynamo`` (the reference ops that the meta device's
kernels are written in: batch norm, layer norm, hardswish, addmm, add, mul...; a dispatch mode's
``__torch_dispatch__``). The wrapper imports torch._dynamo on its first call, to ask it to leave the function
uncompiled: 1.5 to 2 s of CPU, as much as ``import torch`` itself, half of importing a ResNet-50 that is not
torchvision's (torchvision and timm import torch._dynamo themselves). Outside torch.compile, dynamo's
``disable(fn)`` changes nothing: the function runs as it is.

So while the model is recorded, where torch._dynamo is not loaded, ``import torch._dynamo`` finds a stand-in whose
``disable`` returns the function itself (the wrapper caches it on the function as ``__dynamo_disable``). Anything
else read from it (``torch._dynamo.is_compiling()`` in a user's forward, a submodule) loads the real torch._dynamo in
its place, and the trace goes on with it. Afterwards the stand-in and every cache it made are removed: the process
is as if dynamo had never been asked for.

Relies on torch's private ``_disable_dynamo`` (torch/_compile.py); where that changes, the stand-in is never asked
for and torch loads dynamo as before (slower, the same trace).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

NAME = "torch._dynamo"


class _StandIn(types.ModuleType):
    """torch._dynamo as torch's ``_disable_dynamo`` wrapper reads it: ``disable(fn, recursive, wrapping)``."""

    def __init__(self) -> None:
        super().__init__(NAME)
        self.cached: list[Callable[..., Any]] = []
        self.real: types.ModuleType | None = None

    def disable(self, fn: Callable[..., Any] | None = None, recursive: bool = True, **_: Any) -> Any:
        if fn is None:  # used as a decorator factory
            return lambda f: self.disable(f, recursive)
        self.cached.append(fn)  # the wrapper sets fn.__dynamo_disable to what this returns
        return fn

    def __getattr__(self, name: str) -> Any:  # anything else (a submodule's __path__ too): the real torch._dynamo
        if name.startswith("__") and name != "__path__":
            raise AttributeError(name)
        return getattr(self.load_real(), name)

    def load_real(self) -> types.ModuleType:
        if self.real is None:
            if sys.modules.get(NAME) is self:
                del sys.modules[NAME]
            torch = sys.modules["torch"]
            if torch.__dict__.get("_dynamo") is self:
                del torch.__dict__["_dynamo"]
            self.real = importlib.import_module(NAME)
        return self.real


@contextlib.contextmanager
def without_dynamo() -> Iterator[None]:
    """torch._dynamo stood in for while the body runs, where it is not loaded already (see the module's doc)."""
    if NAME in sys.modules:
        yield
        return
    torch = sys.modules["torch"]
    stand_in = _StandIn()
    sys.modules[NAME] = stand_in  # `import torch._dynamo` finds it there, `torch._dynamo` in torch's namespace
    torch.__dict__["_dynamo"] = stand_in
    try:
        yield
    finally:
        if sys.modules.get(NAME) is stand_in:
            del sys.modules[NAME]
        if torch.__dict__.get("_dynamo") is stand_in:
            del torch.__dict__["_dynamo"]
        for fn in stand_in.cached:  # the wrappers ask the real torch._dynamo again next time
            if getattr(fn, "__dynamo_disable", None) is fn:
                with contextlib.suppress(AttributeError, TypeError):
                    delattr(fn, "__dynamo_disable")
