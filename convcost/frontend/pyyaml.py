"""PyYAML, imported with its regular expressions compiled where first used (start-up time).

``import yaml`` compiles ten regular expressions at import time: its pure-Python reader's test for characters YAML
does not allow (a pattern of Unicode ranges that alone takes a third of an analyze run's regular-expression time), its
resolver's implicit types (bool, int, float, null, timestamp, merge, value) and its constructor's timestamps. That is
two thirds of the import (~65 M of its ~100 M instructions, 14 % of `convcost analyze configs/resnet50.yaml -f json`).
convcost parses with libyaml (frontend/source.py), which never runs the pure-Python reader, and a spec's plain scalars
ask the resolver only for the types their first character can start (a spec without dates never reads the timestamp
patterns).

So the first time yaml is imported here, its modules see a ``re`` whose ``compile`` returns a pattern compiled when one
of its methods is first called (:class:`LazyPattern`); everything else of ``re`` is the real module, and nothing outside
yaml's own modules is changed. The patterns are the same and match the same (tests/test_pyyaml_import.py); where yaml
was imported already (by the user's program, or by convcost/importer/write.py), that module is used as it is.
"""

from __future__ import annotations

import re
import sys
import types
from typing import Any

# what yaml's modules import besides yaml and re (yaml/*.py): imported first, so that they bind the real re
_DEPENDENCIES = ("base64", "binascii", "codecs", "collections", "collections.abc", "copyreg", "datetime", "io", "types")


class LazyPattern:
    """``re.compile(pattern, flags)``, compiled when a method or attribute of it is first asked for."""

    __slots__ = ("_args", "_compiled")

    def __init__(self, pattern: Any, flags: int = 0) -> None:
        self._args = (pattern, flags)
        self._compiled: re.Pattern[Any] | None = None

    def compiled(self) -> re.Pattern[Any]:
        if self._compiled is None:
            self._compiled = re.compile(*self._args)
        return self._compiled

    # the methods yaml calls, without a __getattr__ on each call (the resolver matches every plain scalar)
    def match(self, *args: Any) -> re.Match[Any] | None:
        return self.compiled().match(*args)

    def search(self, *args: Any) -> re.Match[Any] | None:
        return self.compiled().search(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.compiled(), name)

    def __repr__(self) -> str:
        return f"LazyPattern({self._args[0]!r}, {self._args[1]!r})"


class _LazyRe(types.ModuleType):
    """The ``re`` yaml's modules bind while they are first imported: the real module but for ``compile``."""

    def __init__(self) -> None:
        super().__init__("re")
        self.compile = LazyPattern  # type: ignore[method-assign]

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)


def import_yaml() -> types.ModuleType:
    """The ``yaml`` module: imported with its patterns compiled where first used, where nothing has imported it yet."""
    if "yaml" in sys.modules:
        return sys.modules["yaml"]
    import importlib

    for name in _DEPENDENCIES:
        importlib.import_module(name)
    real = sys.modules["re"]
    sys.modules["re"] = _LazyRe()
    try:
        return importlib.import_module("yaml")
    finally:
        sys.modules["re"] = real


yaml = import_yaml()
