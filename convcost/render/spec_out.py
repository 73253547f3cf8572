"""`convcost import`'s output: imported layers (module paths, ops, arguments) as a spec in configs/' style.

Torch-free: crosscheck/importer.py traces the user's module into :class:`ImportedLayer` records; this
module nests them into `seq` scopes named after the module path (``layer1.0.conv1`` is the layer
``conv1`` in the seq ``0`` in the seq ``layer1``), writes each layer as one flow mapping, and adds
``from:`` where a layer reads anything but the previous layer's output.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..frontend.spec import JOINS
from ..ops.registry import rule
from .text import unique

INPUT = "<input>"  # the key of the model's input in ImportedLayer.inputs
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


@dataclass(frozen=True)
class ImportedLayer:
    """One layer of an imported model: its module path (the last part its name), the op and its arguments,
    and the keys of the layers it reads (INPUT for the model's input)."""

    key: str  # unique: the module path, or the module path and the call ('relu_1') for a module called again
    path: tuple[str, ...]  # scope path + name as the spec should call it
    op: str
    args: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    comment: str = ""  # written above the layer (unsupported ops kept as identity rows)


@dataclass
class _Frame:
    orig: str  # the scope's name in the module tree
    name: str  # its name in the spec (orig, unless the scope had to be opened twice)
    indent: int
    taken: set[str] = field(default_factory=set)


def scalar(value: Any) -> str:
    """A YAML scalar that reads back as ``value`` (names that look like numbers or booleans are quoted)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "~"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(scalar(v) for v in value) + "]"
    text = str(value)
    if text.isdigit() and (text == "0" or not text.startswith("0")):
        return text  # a numeric layer name: 'name: 0' as torch names nn.Sequential's children
    if _PLAIN.fullmatch(text) and yaml.safe_load(text) == text:
        return text
    return "'" + text.replace("'", "''") + "'"


def _args_text(op: str, args: dict[str, Any]) -> list[str]:
    """``key: value`` for the arguments that differ from the op's defaults, in the op's field order."""
    out = []
    for name, f in rule(op).arg_fields().items():
        if name not in args:
            continue
        default = f.default if f.default is not dataclasses.MISSING else dataclasses.MISSING
        value = args[name]
        if default is not dataclasses.MISSING and value == default:
            continue
        out.append(f"{name}: {scalar(value)}")
    return out


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.stack: list[_Frame] = [_Frame("", "", 0)]
        self.actual: dict[str, tuple[str, ...]] = {}  # layer key -> its path in the spec
        self.produced: set[str] = {"input"}
        self.previous: str = INPUT

    def _frame_path(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.stack[1:])

    def _enter(self, scope: tuple[str, ...]) -> None:
        depth = 0
        while depth < len(scope) and depth + 1 < len(self.stack) and self.stack[depth + 1].orig == scope[depth]:
            depth += 1
        del self.stack[depth + 1:]
        for part in scope[depth:]:
            parent = self.stack[-1]
            name = unique(part, parent.taken)
            indent = parent.indent
            self.lines.append(f"{' ' * indent}- seq:")
            self.lines.append(f"{' ' * (indent + 4)}name: {scalar(name)}")
            self.lines.append(f"{' ' * (indent + 4)}layers:")
            self.stack.append(_Frame(part, name, indent + 6))
            self.produced.add(".".join(self._frame_path()))

    def _ref(self, key: str) -> str:
        if key == INPUT:
            return "input"
        full = self.actual[key]
        here = self._frame_path()
        common = 0
        while common < min(len(here), len(full) - 1) and here[common] == full[common]:
            common += 1
        for c in range(common, -1, -1):  # the shortest name the spec's lookup (innermost scope outwards) resolves to it
            ref = full[c:]
            if not any(".".join((*here[:k], *ref)) in self.produced for k in range(len(here), c, -1)):
                return ".".join(ref)
        return ".".join(full)  # pragma: no cover - c = 0 always resolves

    def add(self, layer: ImportedLayer) -> None:
        self._enter(layer.path[:-1])
        frame = self.stack[-1]
        name = unique(layer.path[-1], frame.taken)
        pad = " " * frame.indent
        if layer.comment:
            self.lines.append(f"{pad}# {layer.comment}")
        items = [f"name: {scalar(name)}", *_args_text(layer.op, layer.args)]
        if layer.inputs != (self.previous,):
            refs = [self._ref(k) for k in layer.inputs]
            items.append(f"from: {scalar(refs[0]) if len(refs) == 1 and layer.op not in JOINS else scalar(refs)}")
        self.lines.append(f"{pad}- {layer.op}: {{{', '.join(items)}}}")
        path = (*self._frame_path(), name)
        self.actual[layer.key] = path
        self.produced.add(".".join(path))
        self.previous = layer.key


def write_spec(layers: Sequence[ImportedLayer], shape: tuple[int, ...], outputs: Sequence[str], header: Sequence[str]) -> str:
    """The spec text: the header comment lines, ``input``, ``layers`` and, where the model's output is not its
    last layer (or it has several), ``outputs``."""
    w = _Writer()
    w.stack[0].indent = 2
    for layer in layers:
        w.add(layer)
    text = [f"# {h}" if h else "#" for h in header]
    text.append(f"input: {scalar(list(shape))}")
    text.append("layers:")
    text.extend(w.lines)
    if list(outputs) != [w.previous]:
        text.append(f"outputs: {scalar(['.'.join(w.actual[k]) if k != INPUT else 'input' for k in outputs])}")
    return "\n".join(text) + "\n"
