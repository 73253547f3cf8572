"""`convcost import`: the user's torch module traced (importer/record.py) and recognised (importer/recognise.py) into
convcost layers; importer/write.py writes the spec.

The model runs once, eagerly, on a zero input: on the meta device where it runs there (no memory, no arithmetic),
else on the CPU (placement.py decides). Everything it computes is seen at the aten level, each op with the module
call it ran in; recognition turns the ops into convcost layers named by module path. A torch.nn module becomes the op
whose definition names its class only where it is kept whole (nn.MultiheadAttention: ``imports`` and ``from_torch``
in convcost/ops/); everything else is recognised from the aten ops it runs, however the code spelled them.

Imports torch lazily: the caller has already checked it is installed (torch_deps.require).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..ops.registry import REGISTRY, NotImportable, OpRule
from ..render.text import unique
from .flow import numel
from .recognise import Proto, Unsupported, name_layers, recognise, spec_name, spec_parts, tie, to_layers
from .tree import INPUT, ImportedLayer, is_input

if TYPE_CHECKING:
    from torch import nn

    from .graph import Recording

__all__ = ["INPUT", "Imported", "ImportedLayer", "Unsupported", "Unused", "import_model", "module_op"]

KEPT_WHOLE = ("MultiheadAttention",)  # torch.nn modules recorded as one node: their op definition reads the module


@dataclass
class Imported:
    """What tracing found: the layers in order, the output keys, what convcost cannot express, how it traced."""

    layers: list[ImportedLayer] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    unsupported: list[Unsupported] = field(default_factory=list)
    method: str = "an aten trace"  # how it was traced, as the spec's first line says it
    note: str = ""  # why the meta device could not run it, where a real forward was traced
    classes: dict[str, str] = field(default_factory=dict)  # module path -> class name (blocks are named after it)
    unused: list[Unused] = field(default_factory=list)  # tensors the forward never reads, kept as `unused` rows
    recording: Recording | None = None
    notes: list[str] = field(default_factory=list)  # why a part was traced through (a kept class whose forward is overridden)
    # the model's inputs in order, (spec name, shape without the batch), where it has several (`inputs:`); () for one
    inputs: tuple[tuple[str, tuple[int, ...]], ...] = ()


@dataclass(frozen=True)
class Unused:
    """Tensors the forward never reads, by the module that holds them: a module never called (an auxiliary head, its
    path), or a tensor of a module that runs (its path). Kept in the spec as an `unused` row named ``key``."""

    where: str  # the torch path
    key: str  # the row's name in the spec
    params: int
    buffers: int
    called: bool  # the module runs; these tensors of it are never read


def _rules_by_class() -> dict[str, list[OpRule]]:
    table: dict[str, list[OpRule]] = {}
    for r in REGISTRY.values():
        for cls in r.imports:
            table.setdefault(cls, []).append(r)
    return table


# modules outside torch.nn recorded as one node, by their module and class: their op definition reads them.
# torchvision's Swin window attention and patch merging (v1 and v2): window partitions move the batch dim, which no
# per-sample general op can write; so does video Swin's 3-D window attention. MViT's pooling attention (video/mvit.py)
# pools each head's tokens with the heads in the batch dim, likewise; its PositionalEncoding sums a position embedding
# from three tables in the forward; its Pool (a block's skip) moves the tokens into a map.
KEPT_WHOLE_ELSEWHERE = {("torchvision.models.swin_transformer", cls) for cls in
                        ("ShiftedWindowAttention", "PatchMerging", "ShiftedWindowAttentionV2", "PatchMergingV2")} | {
                        ("torchvision.models.video.mvit", cls) for cls in ("MultiscaleAttention", "PositionalEncoding", "Pool")
                        } | {("torchvision.models.video.swin_transformer", "ShiftedWindowAttention3d")}


def _known(cls: type) -> bool:
    """A class whose op definitions may name it: torch.nn's own, or one of KEPT_WHOLE_ELSEWHERE."""
    return cls.__module__.startswith("torch.nn") or (cls.__module__, cls.__name__) in KEPT_WHOLE_ELSEWHERE


def _op_class(module: nn.Module) -> type | None:
    """The class a module's op definitions name: its own, or for a user's subclass (``class MyAttn(ShiftedWindowAttention)``)
    the nearest base in its ``__mro__`` that an op imports; None where none does."""
    names = _rules_by_class()
    return next((c for c in type(module).__mro__ if _known(c) and c.__name__ in names), None)


def module_op(module: nn.Module) -> tuple[str, dict[str, Any]] | str:
    """(op, arguments) of a module kept whole (a torch.nn class, a kept class of KEPT_WHOLE_ELSEWHERE, or a subclass of
    either: read as the base), or why convcost cannot express it."""
    base = _op_class(module)
    if base is None:
        return f"{type(module).__module__.replace('torch.nn.modules', 'torch.nn')}.{type(module).__name__} is not a convcost op"
    cls = base.__name__
    for r in _rules_by_class()[cls]:
        assert r.from_torch is not None
        try:
            args = r.from_torch(module)
        except NotImportable as e:
            return f"nn.{cls} with {e}: convcost's '{r.name}' cannot express it"
        if args is not None:
            return r.name, args
    return f"nn.{cls} with these arguments is not a convcost op"  # pragma: no cover - every class has a rule that accepts


def kept_whole_class(module: nn.Module) -> type | None:
    """The class a module is recorded as one node as, or None: recorded inside. nn.MultiheadAttention and the classes
    of KEPT_WHOLE_ELSEWHERE, and a user's subclass of one whose forward is the base's (``class MyAttn(
    ShiftedWindowAttention): pass``, or one overriding only ``__init__``); a subclass with its own forward computes
    what its code says, so it is recorded inside (traced through)."""
    for c in type(module).__mro__:
        if _kept_qualname(f"{c.__module__}.{c.__name__}"):
            return c if getattr(type(module), "forward", None) is getattr(c, "forward", None) else None
    return None


def _kept_whole(module: nn.Module) -> tuple[str, dict[str, Any]] | str | None:
    """What a module recorded as one node is (its op definition's reading of it), or None: recorded inside."""
    return module_op(module) if kept_whole_class(module) is not None else None


def import_model(model: nn.Module, shape: tuple[int, ...], allow: bool, device: str = "cpu",
                 more: tuple[tuple[int, ...], ...] = ()) -> Imported:
    """Record one forward on a zero input of ``shape`` (batch 1), and of each shape in ``more`` for a forward of several
    inputs, on ``device`` (the model's own: 'meta' when it was built there) and recognise it. Raises what the model's
    forward raises."""
    import torch

    from .record import record

    xs = tuple(torch.zeros(1, *s, device=device) for s in (shape, *more))
    rec = record(model, xs, _kept_whole)
    found = recognise(rec)
    name_layers(rec, found.layers)
    tie(found.layers)
    out = Imported(to_layers(found.layers, allow, frozenset(name for name in rec.classes if name)), recording=rec)
    out.outputs = [o if is_input(o) else o.key for o in found.outputs]
    _distinct_outputs(out)
    out.unsupported = _by_module(rec, found.layers) + found.unsupported
    out.notes = _overridden(rec, out.unsupported)
    taken = {layer.path[0] for layer in out.layers}
    out.unused = _unused(rec, found.read, taken)
    for u in out.unused:  # last, each reading the one before: the model's outputs are named (write.py)
        prev = out.layers[-1].key if out.layers else INPUT
        out.layers.append(ImportedLayer(u.key, (u.key,), "unused", {"params": u.params, "buffers": u.buffers}, (prev,),
                                        source=u.where))
    out.classes = {".".join(spec_parts(name)): cls for name, cls in rec.classes.items() if name}
    if more:
        names = input_names(model, 1 + len(more), {layer.path[0] for layer in out.layers})
        out.inputs = tuple(zip(names, (shape, *more)))
    return out


def input_names(model: nn.Module, n: int, taken: set[str]) -> tuple[str, ...]:
    """The spec names of a forward's ``n`` inputs: its parameters' (``forward(self, x, y)``: x, y), ``input_K`` where
    there is none (``*args``) or it is taken by a layer, another input or not a plain name."""
    import inspect

    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):  # no signature to read
        params = []
    positional = []
    for p in params:
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            break
        positional.append(p.name)
    names: list[str] = []
    for k in range(n):
        name = positional[k] if k < len(positional) else ""
        if not name.isidentifier() or name in taken or name in names:
            name = unique(f"input_{k}", {*taken, *names, *positional})
        names.append(name)
    return tuple(names)


def _distinct_outputs(out: Imported) -> None:
    """A spec's outputs are distinct layers: an output that is the model's input (``return x, y``; an nn.Identity model)
    or a tensor returned again (``return y, y``) becomes an `identity` layer reading it, ``output_K`` after its place
    among the outputs, so the spec has as many outputs as the model (analyze refused the spec before)."""
    taken = {layer.key for layer in out.layers}
    seen: set[str] = set()
    for k, o in enumerate(out.outputs):
        if is_input(o) or o in seen:
            key = unique(f"output_{k}", taken)
            out.layers.append(ImportedLayer(key, (key,), "identity", {}, (o,)))
            out.outputs[k] = key
        seen.add(out.outputs[k])


def _kept_qualname(qualname: str) -> bool:
    module, _, cls = qualname.rpartition(".")
    return (qualname.startswith("torch.nn.") and cls in KEPT_WHOLE) or (module, cls) in KEPT_WHOLE_ELSEWHERE


def _overridden(rec: Recording, unsupported: list[Unsupported]) -> list[str]:
    """A note per class holding an unsupported part that subclasses a class convcost keeps whole but overrides its
    forward: why it was traced through (its own forward computes what its code says, which may not be the base's)."""
    places: dict[tuple[str, str], list[str]] = {}
    for path, qualname in rec.qualnames.items():
        base = next((b for b in rec.bases.get(path, ()) if _kept_qualname(b)), None)
        if not path or base is None or _kept_qualname(qualname):
            continue
        if any(u.where == path or u.where.startswith(f"{path}.") for u in unsupported if not u.after):
            places.setdefault((rec.classes[path], base), []).append(path)
    notes = []
    for (cls, base), paths in places.items():
        more = f" (and {len(paths) - 1} more: {', '.join(paths[1:4])}{', …' if len(paths) > 4 else ''})" if len(paths) > 1 else ""
        notes.append(f"{paths[0]}{more}: {cls} overrides the forward of {base}, which convcost reads whole, so its own "
                     "forward was traced (the parts above are in it); a subclass keeping the base's forward is read as the base")
    return notes


def _by_module(rec: Recording, protos: list[Proto]) -> list[Unsupported]:
    """What convcost cannot write, one entry per root: an op inside one of torch.nn's own modules (an nn.LSTM) is that
    module (its path: 'torch.nn.LSTM is not a convcost op'), anything else the layer's key and why."""
    out: list[Unsupported] = []
    seen: set[int] = set()
    ops = _rules_by_class()
    for p in protos:
        if not p.why:
            continue
        outer, c = -1, p.call
        while c >= 0:
            if rec.calls[c].torch_nn:
                outer = c
            c = rec.calls[c].parent
        if outer < 0:
            out.append(Unsupported(p.key, p.why, p.after))
        elif outer not in seen:
            seen.add(outer)
            call = rec.calls[outer]
            what = f"{call.qualname} is not a convcost op" if call.cls not in ops else \
                p.why if p.why.startswith(f"nn.{call.cls}") else f"nn.{call.cls}: {p.why}"
            out.append(Unsupported(call.path or "model", what, p.after and call.cls in ops))  # not ours at all: a root
    return out


def _unused(rec: Recording, read: set[str], taken: set[str]) -> list[Unused]:
    """The model's parameters and buffers the forward never reads, grouped by the outermost module holding them that
    never runs (a tensor of a module that runs is one entry). Their counts are in the torch module's totals, so the
    spec holds them in `unused` rows."""
    called = {c.path for c in rec.calls}
    groups: dict[str, list[tuple[str, str, int]]] = {}
    for name, (kind, shape) in rec.tensors.items():
        if name in rec.tied or name in read:
            continue
        if name.endswith("num_batches_tracked") and f"{name.rpartition('.')[0]}.running_mean" in read:
            continue
        owner = name.rpartition(".")[0]
        if owner in called:
            group = name
        else:
            group = owner
            parent = owner.rpartition(".")[0] if "." in owner else ""
            while parent and parent not in called:
                group, parent = parent, parent.rpartition(".")[0] if "." in parent else ""
        groups.setdefault(group, []).append((name, kind, numel(shape)))
    out = []
    for group, members in groups.items():
        key = unique(spec_name("_".join(spec_parts(group))), taken)
        params = sum(n for _, kind, n in members if kind == "param")
        buffers = sum(n for _, _, n in members) - params
        out.append(Unused(group, key, params, buffers, group in called or group not in rec.classes))
    return out
