"""The user's own torch model, named on the command line: ``package.module:factory`` or ``path/to/file.py:factory``.

``verify --reference`` and ``import`` build it by calling the factory (a function or an ``nn.Module``
class) with the ``--reference-arg key=value`` arguments, each value read as YAML (``width=0.5``,
``layers=[2,2,2,2]``, ``name=tiny``). Everything that can go wrong here (no such file or module, no
such factory, an exception while importing or building, a factory that returns no module) is a
UsageError naming the target and the user's file and line: exit 2, never a traceback. So is every other
way out of the user's code, here or in its forward (:func:`user_code`): sys.exit(), SystemExit, a
KeyboardInterrupt it raises, any BaseException; only a real Ctrl-C stops the run as such (util/interrupt.py).
The files the import runs are inputs of the command, which no output may replace (util/paths.py).

Imports torch lazily: the caller has already checked it is installed (torch_deps.require).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import ConvcostError, SpecError, UsageError
from ..util.interrupt import by_signal
from ..util.paths import check_readable, note_modules

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class Target:
    """A parsed TARGET: where the factory lives and its keyword arguments."""

    text: str  # as the user wrote it
    where: str  # a module name, or a file path
    is_file: bool
    factory: str  # attribute path inside the module ('resnet50', 'Nets.small')
    kwargs: tuple[tuple[str, Any], ...]


def parse_target(text: str, args: list[str] | None = None) -> Target:
    """``a.b:f`` / ``dir/file.py:f`` and ``key=value`` arguments, or a UsageError saying what is wrong."""
    where, sep, factory = text.rpartition(":")
    if not sep or not where or not factory:
        raise UsageError(
            f"reference '{text}': expected package.module:factory or path/to/file.py:factory "
            "(the function or nn.Module class that builds the model)"
        )
    if not all(part.isidentifier() for part in factory.split(".")):
        raise UsageError(f"reference '{text}': '{factory}' is not a Python name")
    is_file = where.endswith(".py") or "/" in where or os.sep in where
    if not is_file and not all(part.isidentifier() for part in where.split(".")):
        raise UsageError(f"reference '{text}': '{where}' is neither a module name (a.b.c) nor a .py file")
    return Target(text, where, is_file, factory, tuple(_parse_arg(text, a) for a in args or ()))


def _parse_arg(target: str, arg: str) -> tuple[str, Any]:
    key, sep, raw = arg.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise UsageError(f"--reference-arg '{arg}': expected key=value, the key a Python name (e.g. width=0.5)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw  # not YAML: the plain string
    return key, value


def _where_in_user_code(e: BaseException, files: tuple[str, ...]) -> str:
    """' (model.py:12)': the innermost frame of the traceback in one of ``files``, else the innermost one
    outside convcost; '' when the exception comes from convcost's own call (a factory's wrong arguments)."""
    own = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frames = [f for f in traceback.extract_tb(e.__traceback__) if not os.path.abspath(f.filename).startswith(own + os.sep)]
    if not frames:
        return ""
    wanted = {os.path.abspath(x) for x in files if x}
    f = ([f for f in frames if os.path.abspath(f.filename) in wanted] or frames)[-1]
    name = os.path.relpath(f.filename) if os.path.abspath(f.filename).startswith(os.getcwd() + os.sep) else f.filename
    return f" ({name}:{f.lineno})"


def failure(what: str, e: BaseException, files: tuple[str, ...] = ()) -> UsageError:
    """One line for an exception raised by the user's code: what failed, the exception and where."""
    return UsageError(f"{what}: {_described(e)}{_where_in_user_code(e, files)}")


def _described(e: BaseException) -> str:
    """'ValueError: bad width', 'SystemExit(0), ...', 'KeyboardInterrupt, ...': the way out of the user's code."""
    if isinstance(e, SystemExit):
        return f"SystemExit({e.code!r}), from sys.exit(), exit() or raise SystemExit"
    if isinstance(e, KeyboardInterrupt):
        return "KeyboardInterrupt raised by the code (no Ctrl-C arrived)"
    text = str(e).strip().splitlines()
    first = text[0] if text else ""
    first = first if len(first) <= 300 else first[:299] + "…"
    return f"{type(e).__name__}{': ' + first if first else ''}"


@contextlib.contextmanager
def user_code(what: str, files: tuple[str, ...] = (), exceptions: bool = True) -> Iterator[None]:
    """Run the user's code (importing their file, calling the factory, their forward): every way out of it but a
    return or convcost's own error -- an exception, sys.exit() (SystemExit, whatever its code), a KeyboardInterrupt
    the code raised, any other BaseException -- becomes one UsageError line (exit code 2) saying ``what`` failed,
    how, and at which line of the user's file. With ``exceptions=False`` only what is not an Exception is caught
    (a command's last guard around code that handles the user's exceptions itself). A real Ctrl-C goes through:
    it stops the run (util/interrupt.py)."""
    try:
        yield
    except ConvcostError:
        raise
    except BaseException as e:
        if (isinstance(e, Exception) and not exceptions) or (isinstance(e, KeyboardInterrupt) and by_signal()):
            raise
        raise failure(what, e, files) from None


@contextlib.contextmanager
def _on_path(folder: str) -> Iterator[None]:
    """``folder`` first on sys.path while importing (as ``python file.py`` / ``python -m`` would have it)."""
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)


def _import(t: Target) -> tuple[Any, tuple[str, ...]]:
    """The module object holding the factory, and the file(s) to look for in a traceback. The files the import
    ran (the target's, and every module it imported) are inputs of the command: no output may replace them."""
    before = set(sys.modules)
    try:
        module, files = _import_module(t)
    finally:
        note_modules(set(sys.modules) - before)
    parts = module.__name__.split(".")  # a module imported before (``torchvision.models``), and its packages
    note_modules([".".join(parts[:k]) for k in range(1, len(parts) + 1)])
    return module, files


def _import_module(t: Target) -> tuple[Any, tuple[str, ...]]:
    if t.is_file:
        try:
            check_readable(t.where, "Python file")  # too long, a loop of links, no permission: one message
        except SpecError as e:
            if e.message == "no such file":
                raise UsageError(f"reference '{t.text}': no such file '{t.where}'") from None
            raise
        path = Path(t.where)
        name = "_convcost_reference_" + path.stem.replace("-", "_")
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise UsageError(f"reference '{t.text}': cannot load '{t.where}' as Python")
        module = importlib.util.module_from_spec(spec)
        files = (str(path),)
        sys.modules[name] = module  # dataclasses and pickling look themselves up here
        try:
            with user_code(f"reference '{t.text}': importing {t.where} failed", files), \
                    _on_path(str(path.resolve().parent)):
                spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        return module, files
    with user_code(f"reference '{t.text}': importing {t.where} failed"):
        try:
            with _on_path(os.getcwd()):
                module = importlib.import_module(t.where)
        except ModuleNotFoundError as e:
            if e.name and t.where.startswith(e.name):
                raise UsageError(f"reference '{t.text}': no module named '{e.name}' (from the current directory or "
                                 "the installed packages)") from None
            raise
    return module, (getattr(module, "__file__", None) or "",)


def load_model(t: Target, device: str = "cpu") -> nn.Module:
    """Import the target and call its factory (under ``torch.device(device)``: 'meta' allocates nothing); eval mode."""
    import torch
    from torch import nn

    module, files = _import(t)
    obj: Any = module
    with user_code(f"reference '{t.text}': looking up '{t.factory}' in {t.where} failed", files):  # a module __getattr__
        for part in t.factory.split("."):
            if not hasattr(obj, part):
                from ..errors import did_you_mean

                names = [n for n in dir(obj) if not n.startswith("_")]
                raise UsageError(f"reference '{t.text}': {t.where} has no '{part}'{did_you_mean(part, names)}")
            obj = getattr(obj, part)
    if not callable(obj):
        raise UsageError(f"reference '{t.text}': '{t.factory}' is a {type(obj).__name__}, not a function or class")
    kwargs = dict(t.kwargs)
    before = set(sys.modules)
    with user_code(f"reference '{t.text}': building the model failed", files):
        try:
            with torch.device(device):
                model = obj(**kwargs)
        except TypeError as e:
            raise failure(f"reference '{t.text}': calling {t.factory}({_args_text(kwargs)}) failed", e, files) from None
        finally:
            note_modules(set(sys.modules) - before)  # what the factory imported
        if not isinstance(model, nn.Module):
            raise UsageError(f"reference '{t.text}': {t.factory}({_args_text(kwargs)}) returned a "
                             f"{type(model).__name__}, not a torch.nn.Module")
        return model.eval()  # a module's own train() is the user's code too


def _args_text(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def user_files(t: Target) -> tuple[str, ...]:
    """The files whose frames name where the user's code failed (the target's file, if it is one)."""
    return (t.where,) if t.is_file else ()
