"""`convcost import`'s output: imported layers (module paths, ops, arguments) as a spec in configs/' style.

Torch-free: importer/trace.py traces the user's module into :class:`ImportedLayer` records;
importer/tree.py nests them into module scopes and recovers structures (residual, gate, concat, split),
importer/fold.py folds repeated modules into blocks; this module writes the result: blocks, then the
layers, each one flow mapping, a `seq` per module scope (``layer1.0.conv1`` is ``conv1`` in ``0`` in
``layer1``), ``from:`` where a layer reads anything but the previous layer's output, with the names the
spec gives them (a recovered join is the spec's ``add1``).
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..frontend.spec import JOINS
from ..frontend.structures import STRUCTURES
from ..graph.naming import auto_name
from ..ops.counting import FORMS, MODULE
from ..ops.macros import MACROS
from ..ops.registry import SPELLINGS, lookup, rule
from ..render.text import unique
from .fold import NAME_SLOT, OP_SLOT, Block, call_args, flag_of, fold, param_of
from .tree import INPUT, Call, ImportedLayer, Item, Layer, Scope, Struct, input_key, is_input, readers_of, recover, scopes

__all__ = ["INPUT", "ImportedLayer", "scalar", "write_spec"]

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_PARAM = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*")


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


def _args_text(op: str, args: dict[str, Any], param: Callable[[str], str | None] = lambda _: None) -> list[str]:
    """``key: value`` for the arguments that differ from the op's defaults (or come from a block parameter,
    ``key: $param``), in the op's field order."""
    out = []
    for name, f in rule(op).arg_fields().items():
        if name not in args:
            continue
        p = param(name)
        if p is not None:
            out.append(f"{name}: ${p}")
            continue
        default = f.default if f.default is not dataclasses.MISSING else dataclasses.MISSING
        value = args[name]
        if default is not dataclasses.MISSING and value == default:
            continue
        out.append(f"{name}: {scalar(value)}")
    return out


@dataclass
class _Names:
    taken: set[str] = field(default_factory=set)
    counters: Counter[str] = field(default_factory=Counter)

    def auto(self, hint: str) -> str:
        """The name the spec gives an unnamed layer here (``add1``, ``add2``...: graph/naming.py's rule)."""
        name = auto_name(hint, self.counters, self.taken)
        self.taken.add(name)
        return name


class _Writer:
    """Writes items as spec lines. In a block's body (``block`` given), paths are relative to the block."""

    def __init__(self, block: Block | None = None, form: str = MODULE, inputs: Mapping[str, str] | None = None) -> None:
        self.lines: list[str] = []
        self.inputs = dict(inputs or {INPUT: "input"})  # an input's key -> its name in the spec
        self.block = block
        self.form = form  # the file's `torch` default: a layer whose op has that form and met torch otherwise says so
        self.keys = 0  # the `torch` keys written
        self.names: dict[tuple[str, ...], _Names] = {}
        self.actual: dict[str, tuple[str, ...]] = {}  # key -> its path in the spec
        self.produced: set[str] = set() if block else set(self.inputs.values())

    def _names(self, path: tuple[str, ...]) -> _Names:
        return self.names.setdefault(path, _Names())

    def _name(self, path: tuple[str, ...], wanted: str) -> str:
        names = self._names(path)
        return unique(wanted, names.taken)

    def _ref(self, key: str, here: tuple[str, ...]) -> str:
        if is_input(key):
            return self.inputs.get(key, "input")
        full = self.actual[key]
        common = 0
        while common < min(len(here), len(full) - 1) and here[common] == full[common]:
            common += 1
        for c in range(common, -1, -1):  # the shortest name the spec's lookup (innermost scope outwards) resolves to it
            ref = full[c:]
            if not any(".".join((*here[:k], *ref)) in self.produced for k in range(len(here), c, -1)):
                return ".".join(ref)
        return ".".join(full)  # pragma: no cover - c = 0 always resolves

    def _define(self, key: str, path: tuple[str, ...]) -> None:
        self.actual[key] = path
        self.produced.add(".".join(path))

    def _from(self, reads: tuple[str, ...], previous: str, here: tuple[str, ...], join: bool) -> list[str]:
        if reads == (previous,):
            return []
        refs = [self._ref(k, here) for k in reads]
        return [f"from: {scalar(refs[0]) if len(refs) == 1 and not join else scalar(refs)}"]

    def items(self, items: list[Item], here: tuple[str, ...], indent: int, previous: str, when: str = "") -> str:
        for it in items:
            previous = self.item(it, here, indent, previous, when)
        return previous

    def item(self, it: Item, here: tuple[str, ...], indent: int, previous: str, when: str = "") -> str:
        pad = " " * indent
        if self.block is not None and not isinstance(it, Struct):  # an item some members lack (fold._merge_chains)
            when = flag_of(self.block, it, "when") or when
        cond = [f"when: ${when}"] if when else []
        if isinstance(it, Layer):
            lay = it.layer
            name = self._name(here, lay.path[-1])
            self.lines.extend(f"{pad}# {c}" for c in (lay.comment, lay.note) if c)
            param = (lambda a: param_of(self.block, it, a)) if self.block else (lambda _: None)
            tied = [f"tied: {{{', '.join(f'{t}: {scalar(self._ref(k, here))}' for t, k in lay.tied.items())}}}"] \
                if lay.tied else []
            fields = [f"name: {self._layer_name(it, name)}", *_args_text(lay.op, lay.args, param), *self._torch(lay), *cond,
                      *self._from(lay.inputs, previous, here, lay.op in JOINS and len(lay.inputs) > 1), *tied]
            chosen = param(OP_SLOT)  # an op named by a block parameter: "- $act"
            self.lines.append(f"{pad}- {'$' + chosen if chosen else lay.op}: {{{', '.join(fields)}}}"
                              f"{_torch_name(lay.source, lay.path[-1])}")
            self._define(lay.key, (*here, name))
            return lay.key
        if isinstance(it, Scope):
            name = self._name(here, it.name)
            inner = (*here, name)
            self.lines.append(f"{pad}- seq:")
            self.lines.append(f"{pad}    name: {self._named(it, name)}{_torch_name(it.source, it.name)}")
            self.lines.extend(f"{pad}    {c}" for c in cond)
            self.lines.append(f"{pad}    layers:")
            self.produced.add(".".join(inner))
            return self.items(it.items, inner, indent + 6, previous)
        if isinstance(it, Call):
            return self.call(it, here, pad, previous, cond)
        return self.struct(it, here, indent, previous, cond)

    def _named(self, it: Item, name: str) -> str:
        """An item's name as written: a block parameter where the block's members number it otherwise."""
        p = param_of(self.block, it, NAME_SLOT) if self.block else None
        return f"${p}" if p else scalar(name)

    def _layer_name(self, it: Layer, name: str) -> str:
        """A layer's name as written: in a flat run's block, by its index parameter (``$at``, ``'${at + 1}'``)."""
        if self.block is None or not self.block.index:
            return self._named(it, name)
        k = next(k for k, x in enumerate(self.block.template.items) if x is it)
        return f"${self.block.index}" if k == 0 else _value(f"${{{self.block.index} + {k}}}")

    def _torch(self, lay: ImportedLayer) -> list[str]:
        """``torch: FORM`` where the layer met torch otherwise than the file's default makes it (docs/spec.md: the default
        applies to the layers whose op has that form, the others are modules)."""
        default = self.form if self.form in rule(lay.op).counting.forms() else MODULE
        if lay.form == default:
            return []
        self.keys += 1
        return [f"torch: {lay.form}"]

    def split_sizes(self, it: Struct, pad: str) -> None:
        """A split's ``sizes``, when its parts are not equal (a block parameter when they vary)."""
        first = it.branches[0][0]
        assert isinstance(first, Layer)
        p = param_of(self.block, first, "sizes") if self.block else None
        if p is not None:
            self.lines.append(f"{pad}    sizes: ${p}")
        elif first.layer.args.get("sizes"):
            self.lines.append(f"{pad}    sizes: {scalar(list(first.layer.args['sizes']))}")

    def call(self, it: Call, here: tuple[str, ...], pad: str, previous: str, cond: list[str]) -> str:
        name = "" if it.flat else self._name(here, it.name)
        args, first = call_args(it)
        if self.block is not None:  # a call inside a block: its values may be the block's parameters
            given = args
            args = {}
            for p in it.block.params:
                q = param_of(self.block, it, p.name)
                if q is not None:
                    args[p.name] = f"${q}"
                elif p.name in given:
                    args[p.name] = given[p.name]
        fields = [*([] if it.flat else [f"name: {self._named(it, name)}"]), *(f"{k}: {_value(v)}" for k, v in args.items())]
        if it.repeat:
            fields.append(f"repeat: {it.repeat}")
        if it.each:
            fields.append(f"each: {scalar(it.each + '${i}')}")
        if first:
            fields.append(f"first: {{{', '.join(f'{k}: {_value(v)}' for k, v in first.items())}}}")
        if it.flat:
            fields.append("scope: false")
        fields += cond + self._from((it.entry,), previous, here, False)
        self.lines.append(f"{pad}- {it.block.name}: {{{', '.join(fields)}}}")
        if it.flat:  # its layers are named here, by their index
            for key, layer in it.layers:
                self._names(here).taken.add(layer)
                self._define(key, (*here, layer))
            return it.out
        self._define(it.out, (*here, name))
        for k, out in enumerate(it.iter_outs):
            self._define(out, (*here, name, f"{it.each}{k}"))
        return it.out

    def struct(self, it: Struct, here: tuple[str, ...], indent: int, previous: str, cond: list[str]) -> str:
        pad = " " * indent
        self.lines.append(f"{pad}- {it.op}:")
        self.lines.extend(f"{pad}    {c}" for c in cond + self._from((it.x,), previous, here, False))
        if it.op == "residual":
            connect = flag_of(self.block, it, "connect") if self.block else None
            if connect:
                self.lines.append(f"{pad}    connect: ${connect}")
            self.lines.append(f"{pad}    body:")
            self.items(it.branches[0], here, indent + 6, it.x)
            if it.branches[1]:
                self.lines.append(f"{pad}    shortcut:")
                inner = (*here, self._name(here, "shortcut"))
                self.produced.add(".".join(inner))
                when = flag_of(self.block, it, "when") if self.block else None
                self.items(it.branches[1], inner, indent + 6, it.x, when or "")
        elif it.op == "gate":
            self.items(it.branches[0], here, indent + 4, it.x)
        else:
            if it.op == "split":
                self.split_sizes(it, pad)
            self.lines.append(f"{pad}    branches:")
            for bname, br in zip(it.names, it.branches):
                name = self._name(here, bname)
                if it.op == "split":  # the branch's scope, its chunk (the spec's `chunk1` there), its module's layers
                    inner = (*here, name)
                    self.produced.add(".".join(inner))
                    part = br[0]
                    assert isinstance(part, Layer)
                    self._define(part.out, (*inner, self._names(inner).auto("chunk")))
                    scope = br[1] if len(br) > 1 else None
                    self.lines.append(f"{pad}      {scalar(name)}:" + ("" if isinstance(scope, Scope) else " []"))
                    if isinstance(scope, Scope):
                        self.items(scope.items, inner, indent + 8, part.out)
                    continue
                if not br:
                    self.lines.append(f"{pad}      {scalar(name)}: []")
                    continue
                self.lines.append(f"{pad}      {scalar(name)}:")
                inner = (*here, name)
                self.produced.add(".".join(inner))
                scope = br[0]
                assert isinstance(scope, Scope)
                self.items(scope.items, inner, indent + 8, it.x)
        join = self._names(here).auto(STRUCTURES[it.op].join or it.op)
        self._define(it.join.out, (*here, join))
        return it.join.out


def _torch_name(source: str, name: str) -> str:
    """' # torch: über' after a name the spec spells otherwise than torch (docs/import.md: the layer keeps torch's
    name there; verify --reference pairs the spec's name with the import of the model, which spells it the same)."""
    torch_name = source.rpartition(".")[2] if source else ""
    if not torch_name or torch_name == name or re.fullmatch(rf"{re.escape(torch_name)}_\d+", name):
        return ""
    shown = torch_name.encode("unicode_escape").decode("ascii") if not torch_name.isprintable() else torch_name
    return f"  # torch: {shown[:200]}"


def _value(v: Any) -> str:
    """A call's argument: a value, a block parameter (``$p``) or an expression (quoted)."""
    if isinstance(v, str) and _PARAM.fullmatch(v):
        return v
    return f"'{v}'" if isinstance(v, str) and v.startswith("${") else scalar(v)


def _block_text(block: Block, form: str) -> tuple[list[str], int]:
    """A block's lines, and how many `torch` keys they hold."""
    params = ", ".join(f"{p.name}: {scalar(p.default)}" for p in block.params)
    w = _Writer(block, form)
    (entry,) = block.template.reads
    w.items(block.template.items, (), 6, entry)
    return [f"  {block.name}:", *([f"    params: {{{params}}}"] if params else []), "    layers:", *w.lines], w.keys


def write_spec(layers: Sequence[ImportedLayer], shape: tuple[int, ...], outputs: Sequence[str], header: Sequence[str],
               classes: Mapping[str, str] | None = None, fold_blocks: bool = True,
               inputs: Sequence[tuple[str, tuple[int, ...]]] = ()) -> str:
    """The spec text: the header comment lines, the blocks repeated modules fold into, ``input``, ``layers``
    and, where the model's output is not its last layer (or it has several), ``outputs``. ``inputs``: the name and shape
    of each input of a model that has several (``shape`` is then the first's), written as ``inputs:``; every layer that
    reads one says so with ``from:``."""
    named = {input_key(k): name for k, (name, _) in enumerate(inputs)} if len(inputs) > 1 else {INPUT: "input"}
    root = scopes(layers, classes or {})
    readers = readers_of(layers, outputs)
    recover(root, readers)
    blocks = fold(root, _reserved, readers) if fold_blocks else []
    text = [f"# {h}" if h else "#" for h in header]
    # the file's `torch` default: module, unless another form halves the `torch` keys written (most layers that can be
    # functions are: a model written with F.relu throughout)
    written = []
    for form in sorted({MODULE, *(layer.form for layer in layers)}, key=FORMS.index):
        w = _Writer(form=form, inputs=named)
        last = w.items(root.items, (), 2, INPUT if len(named) == 1 else "")  # several: no layer reads one implicitly
        block_lines = [_block_text(b, form) for b in blocks]
        keys = w.keys + sum(k for _, k in block_lines)
        written.append((keys if form == MODULE else 2 * keys + 1, form, w, last, block_lines))
    _, form, w, last, block_lines = min(written, key=lambda x: x[0])
    if blocks:
        text.append("blocks:")
        for lines, _ in block_lines:
            text.extend(lines)
    if form != MODULE:
        text.append(f"torch: {form}   # how the layers met torch where their op has this form; a layer's own `torch:` where not")
    if len(named) > 1:
        text.append("inputs:")
        text.extend(f"  {name}: {scalar(list(dims))}" for name, dims in inputs)
    else:
        text.append(f"input: {scalar(list(shape))}")
    text.append("layers:")
    text.extend(w.lines)
    if list(outputs) != [last]:
        text.append(f"outputs: {scalar(['.'.join(w.actual[k]) if not is_input(k) else named[k] for k in outputs])}")
    return "\n".join(text) + "\n"


def _reserved(name: str) -> bool:
    """A name a block cannot have: an op's (or another tool's spelling of one), a macro's, a structure's."""
    return lookup(name) is not None or name in MACROS or name in STRUCTURES or name in SPELLINGS
