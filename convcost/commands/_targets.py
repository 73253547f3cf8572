"""A torch target where a spec goes: ``analyze``, ``compare``, ``check`` and ``report`` take ``path/to/file.py:factory``
or ``package.module:factory`` with ``--input`` (once per input of the forward, in its order, as `convcost import` takes
it; every target on the line gets the same inputs), so a budget gates the model itself (docs/import.md).

The target is imported exactly as `convcost import` does it (commands/import_.py's :func:`import_spec`), and the
spec it writes is cached: one JSON file per entry under :func:`cache_dir`, keyed by a hash of the target as written,
every --input, the --reference-arg values, convcost's version and the target's source file (for a module, the file the
module is found in). The entry also records every other project file the import ran (a helper module the factory
imports) with its hash; a hit re-checks them, so editing one imports again. A hit reads the cached spec and never
imports torch; a miss imports torch then, and only then. The spec is shown under the target's name as written, so
findings, rows and baselines name ``model.py:net``, never the cache file; its model is named after the factory
(``net``), the name a budget file's ``models:`` gives it.

A word on the command line is a target when it is no existing file, and reads as ``X.py:name`` or ``a.b.c:name``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from ..errors import UsageError

if TYPE_CHECKING:
    from ..frontend.spec import SpecFile

CACHE_ENV = "CONVCOST_CACHE_DIR"
FORMAT = "convcost.target-cache/1"


def is_target(word: str) -> bool:
    """``file.py:factory`` or ``pkg.module:factory`` that is not an existing file (a spec path may hold ':')."""
    if word == "-" or os.path.lexists(word):
        return False
    where, sep, factory = word.rpartition(":")
    if not sep or not where or not factory or not all(p.isidentifier() for p in factory.split(".")):
        return False
    return where.endswith(".py") or all(p.isidentifier() for p in where.split("."))


@dataclass(frozen=True)
class TargetOptions:
    """``--input`` (once per input of the forward, in its order), ``--reference-arg`` and ``--max-memory`` as given
    (the last as text, import's default when unset). Every torch target on the line is imported with the same
    inputs."""

    inputs: tuple[str, ...] = ()
    reference_arg: tuple[str, ...] = ()
    max_memory: Optional[str] = None


def resolve_specs(paths: Sequence[Optional[str]], options: TargetOptions) -> list[str | SpecFile | None]:
    """Each path as given, but each torch target replaced by its spec (from the cache or imported now). --input or
    --reference-arg without any target is a usage error (exit 2), and so is a target without --input."""
    targets = [p for p in paths if p is not None and is_target(p)]
    if not targets:
        from ..costmodel.sizes import DEFAULT_MAX_MEMORY

        given = [o for o, v in (("--input", options.inputs), ("--reference-arg", options.reference_arg),
                                ("--max-memory", options.max_memory not in (None, DEFAULT_MAX_MEMORY))) if v]
        if given:
            raise UsageError(f"{' and '.join(given)} {'is' if len(given) == 1 else 'are'} for a torch target "
                             "(path/to/file.py:factory or package.module:factory) given in place of a spec; "
                             "the specs given are spec files, which set their own input")
        return list(paths)
    if not options.inputs:
        raise UsageError(f"{targets[0]}: a torch target needs --input, the input's shape without the batch "
                         "(e.g. --input 3,224,224; once per input for a forward of several)")
    return [target_spec(p, options) if p is not None and is_target(p) else p for p in paths]


def target_inputs(paths: Sequence[Optional[str]]) -> list[str]:
    """The files the command line names, each target's source file for the target: no output may replace them."""
    out = []
    for p in paths:
        if p is None:
            continue
        out.append(p.rpartition(":")[0] if is_target(p) and p.rpartition(":")[0].endswith(".py") else p)
    return out


def cache_dir() -> Path:
    """$CONVCOST_CACHE_DIR, else $XDG_CACHE_HOME/convcost/targets, else ~/.cache/convcost/targets."""
    own = os.environ.get(CACHE_ENV)
    if own:
        return Path(own)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "convcost" / "targets"


def target_spec(text: str, options: TargetOptions, quiet: bool = False, name: str | None = None) -> SpecFile:
    """The spec of the torch target ``text``, named ``text``: the cached one when every source it was made from is
    unchanged, else imported now (torch) and cached. ``quiet`` (the Python API): a refused import raises
    ImportRefused instead of printing its lines and ending the command. ``name``: the model's, else the factory's."""
    from ..frontend.spec import parse_spec
    from .import_ import parse_input

    shapes = tuple(parse_input(s) for s in options.inputs)
    source = _source_file(text)
    key = _key(text, shapes, options.reference_arg, _hash_file(source) if source else None)
    entry = cache_dir() / f"{key}.json"
    if source is not None:
        from ..util.paths import note_input

        note_input(source)  # the model's source is an input: no output may replace it
        cached = _read_entry(entry)
        if cached is not None:
            return parse_spec(cached, text, name or model_name(text))
    spec_text = _import(text, shapes, options, quiet)
    if source is not None:  # a target that cannot be found is imported each time (the import says what is wrong)
        _write_entry(entry, text, spec_text, _project_files(source))
    return parse_spec(spec_text, text, name or model_name(text))


def model_name(text: str) -> str:
    """The model's name: the factory's (``ResNet`` of ``model.py:ResNet``, ``resnet50`` of ``a.b:Nets.resnet50``), as a
    budget's ``models:`` and a baseline name it."""
    return text.rpartition(":")[2].rpartition(".")[2]


def _import(text: str, shapes: tuple[tuple[int, ...], ...], options: TargetOptions, quiet: bool) -> str:
    from ..costmodel.sizes import DEFAULT_MAX_MEMORY, parse_max_memory
    from .import_ import import_spec

    limit = parse_max_memory(options.max_memory or DEFAULT_MAX_MEMORY)
    spec_text, _, _ = import_spec(text, list(options.reference_arg), shapes[0], limit, more=shapes[1:], quiet=quiet)
    return spec_text


def _key(text: str, shapes: tuple[tuple[int, ...], ...], args: Sequence[str], source_hash: str | None) -> str:
    """Every input's shape, in order, is in the key: ``--input 3,8,8 --input 5`` and ``--input 3,8,8 --input 6``
    are two entries."""
    from .. import __version__

    doc = {"format": FORMAT, "convcost": __version__, "target": text, "inputs": [list(s) for s in shapes],
           "reference_args": list(args), "source": source_hash}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _hash_file(path: str) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _source_file(text: str) -> str | None:
    """The target's own source file: the .py named, or the module's file found as the import would find it (the
    current directory first, then sys.path), without importing anything; None when there is none to hash."""
    where = text.rpartition(":")[0]
    if where.endswith(".py"):
        return where if os.path.isfile(where) else None
    rel = os.path.join(*where.split("."))
    for folder in [os.getcwd(), *sys.path]:
        for candidate in (os.path.join(folder or ".", rel + ".py"), os.path.join(folder or ".", rel, "__init__.py")):
            if os.path.isfile(candidate):
                return candidate
    return None


def _shared_folders() -> list[str]:
    """Where installed code lives (the standard library, site-packages): not the project's sources."""
    import site
    import sysconfig

    paths = {sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths.update(site.getsitepackages() if hasattr(site, "getsitepackages") else ())
    paths.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # convcost's own (its version is in the key)
    return [os.path.abspath(p) + os.sep for p in paths if p]


def _project_files(source: str) -> dict[str, str]:
    """Every Python source file loaded now that is the project's (not installed code, not convcost), but the target's
    own (in the key), with its hash: what the import ran besides the target."""
    shared = _shared_folders()
    own = os.path.abspath(source)
    found: dict[str, str] = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or not path.endswith(".py"):
            continue
        path = os.path.abspath(path)
        if path == own or path in found or "site-packages" in path or "dist-packages" in path:
            continue
        if any(path.startswith(s) for s in shared):
            continue
        digest = _hash_file(path)
        if digest is not None:
            found[path] = digest
    return found


def _read_entry(entry: Path) -> str | None:
    """The cached spec's text when the entry is whole and every file it records still has its hash; else None."""
    try:
        doc = json.loads(entry.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("spec"), str):
        return None
    files = doc.get("files")
    if not isinstance(files, dict):
        return None
    for path, digest in files.items():
        if _hash_file(path) != digest:
            return None
    return doc["spec"]


def _write_entry(entry: Path, text: str, spec_text: str, files: dict[str, str]) -> None:
    """Atomically; a cache that cannot be written is a note, not a failure (the spec was made)."""
    from ..errors import ConvcostError
    from ..util.fsutil import atomic_write_text

    doc = {"format": FORMAT, "target": text, "files": files, "spec": spec_text}
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(entry, json.dumps(doc, indent=1) + "\n")
    except (OSError, ConvcostError) as e:
        print(f"convcost: note: {text}: not cached ({e})", file=sys.stderr)
