"""The user's model as a convcost graph, for `verify --reference`: the importer's layers written as a flat spec.

The importer (convcost/importer/: ``import_model``) reads a torch module into layers of convcost's own vocabulary
(:class:`~convcost.importer.trace.Imported`: each layer's op, its arguments as a spec writes them and the layers it
reads). Written one per line (``- conv: {name: n3, from: n2, out: 64, kernel: 3}``), they make a spec that builds
into the same kind of :class:`Graph` as the user's spec, with shapes and costs, so that structure.py can compare
the two op by op. Only the importer's public result is read here, never how it traced.

A layer the importer cannot read (listed as unsupported and kept as an identity row) is *opaque*: structure.py
compares it with nothing and lists it. A layer that then cannot take the shape it is given (a Linear on the map an
identity passes on where the model's unread permute made it channels-last) is an identity in the graph too, and
the spec is built again; it is *unshaped*: its op and arguments are still compared. Shapes after an opaque or
unshaped layer are *unsure* (they follow from a stand-in): structure.py compares those layers' ops and arguments
and leaves their shapes to torch's own measurement.

An opaque layer is compared as the whole module it belongs to (a *region*): torchvision's ShiftedWindowAttention
runs a function convcost cannot read, so the module ``features.1.0.attn`` is one opaque step, compared with the
spec's ``window_attention`` by its weights and MACs (reference.py), its op not compared. A region is the module
called (or the module whose forward calls the function), with every layer under its path, when only its last layer
is read from outside it. Torch-free.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConvcostError
from ..frontend.spec import parse_spec
from ..graph.build import Graph, Input, build_graph
from ..importer.recognise import spec_parts
from ..importer.tree import INPUT, ImportedLayer, input_key
from ..importer.write import scalar
from ..ops.registry import ArgError, lookup
from ..ops.shapes import is_tokens

if TYPE_CHECKING:
    from ..importer.trace import Imported

HEADER_LINES = 2  # 'input: ...' and 'layers:' come before layer 0
HOOKS = "forward hooks"  # Imported.method when the importer fell back to hooks (an in-place add is invisible to them)
MAX_REBUILDS = 200  # layers made opaque one build at a time (swin_t: 25), each a build of the whole flat spec


@dataclass(frozen=True)
class Region:
    """A module compared whole, because convcost cannot read a layer inside it."""

    name: str  # its module path
    kind: str  # its class
    nodes: frozenset[int]
    output: int  # the node whose output leaves it
    why: str  # why a layer inside cannot be read


@dataclass(frozen=True)
class ModelGraph:
    """The model's graph (None where it could not be built: ``error`` says why) and what it rests on."""

    graph: Graph | None
    keys: tuple[str, ...] = ()  # per node: the importer's key, the module path ('layer1.0.conv1', 'layer1.0.add')
    paths: tuple[str, ...] = ()  # per node: the torch path as the model names it (a key is made a name specs hold)
    opaque: Mapping[int, str] = field(default_factory=dict)  # node -> why convcost cannot read it
    unsure: frozenset[int] = frozenset()  # nodes whose shape follows from an opaque layer's stand-in
    unsupported: tuple[tuple[str, str], ...] = ()  # (where, what) of everything the importer could not read
    method: str = ""  # how the importer traced ('torch.fx', 'forward hooks')
    error: str = ""
    regions: tuple[Region, ...] = ()
    unshaped: Mapping[int, tuple[str, Any]] = field(default_factory=dict)  # node -> (op, arguments) of a layer
    # convcost could not build on the shape its stand-in input has: an identity in the graph, its op compared
    sources: tuple[str, ...] = ()  # per node: the torch path it comes from (timm's Affine's multiply and add: its module)
    holds: tuple[tuple[str, ...], ...] = ()  # per node: tensors it holds outside that module (ImportedLayer.holds)
    traced: tuple[tuple[int, ...], ...] = ()  # per node: its traced output where not its module's (ImportedLayer.traced)


def model_graph(imported: Imported, model_inputs: Sequence[Input], batch: int) -> ModelGraph:
    """The imported layers built into a Graph on ``model_inputs`` (the spec's, in the forward's order) at ``batch``."""
    layers = list(imported.layers)
    unsupported = tuple((u.where, u.what) for u in imported.unsupported)
    if imported.method == HOOKS:  # only the leaf modules, in run order: what happens between them is not seen
        why = f"the importer could not trace the model's data flow ({imported.fx_error or imported.method})"
        unsupported = (("the whole model", why), *unsupported)
    if not layers:
        return ModelGraph(None, unsupported=unsupported, method=imported.method, error="the importer found no layers")
    made_opaque: dict[int, str] = {}
    for _ in range(min(len(layers), MAX_REBUILDS) + 1):  # each failed build makes one more layer opaque
        text = flat_spec(layers, made_opaque, model_inputs, imported.outputs)
        try:
            spec = parse_spec(text, "<the imported model>")
            graph = build_graph(spec, next(iter(spec.models)), batch)
        except ConvcostError as e:
            k = (e.loc.line if e.loc is not None else 0) - _header_lines(model_inputs) - 1
            if not 0 <= k < len(layers) or k in made_opaque or not layers[k].inputs:
                return ModelGraph(None, unsupported=unsupported, method=imported.method,
                                  error=f"the imported layers do not build into a graph: {e.message}")
            made_opaque[k] = f"convcost cannot build it on the shape it reads there: {e.message}"
            continue
        opaque = {k: lay.comment for k, lay in enumerate(layers) if lay.comment}
        unshaped: dict[int, tuple[str, Any]] = {}
        for k, why in made_opaque.items():
            typed = typed_args(layers[k])
            if typed is None:
                opaque[k] = why
                unsupported += ((layers[k].key, why),)
            else:
                unshaped[k] = (layers[k].op, typed)
        keys = tuple(lay.key for lay in layers)
        paths = tuple(torch_path(lay) for lay in layers)
        return ModelGraph(graph, keys, paths, opaque, _unsure(graph, {**opaque, **unshaped}) | set(unshaped), unsupported,
                          imported.method, regions=regions(graph, keys, opaque, imported.classes), unshaped=unshaped,
                          sources=tuple(lay.source for lay in layers), holds=tuple(lay.holds for lay in layers),
                          traced=tuple(lay.traced for lay in layers))
    return ModelGraph(None, unsupported=unsupported, method=imported.method,
                      error=f"more than {MAX_REBUILDS} of the imported layers cannot be built on the shapes they read")


def torch_path(lay: ImportedLayer) -> str:
    """The layer's torch path as the user's model names it ('a b' where the spec says 'a_b'), where its key is that
    path made a spec name; else its key (a module's second call 'relu_1', a part of a function)."""
    if lay.source and ".".join(spec_parts(lay.source)) == lay.key:
        return lay.source
    return lay.key


def _header_lines(model_inputs: Sequence[Input]) -> int:
    """The lines before layer 0: 'input: ...' (or 'inputs:' and one per input) and 'layers:'."""
    return HEADER_LINES + (len(model_inputs) if len(model_inputs) > 1 else 0)


def _shape_text(shape: Sequence[int]) -> str:
    # is_tokens reads the shape's type (Tokens): never a plain tuple made of it
    return f"{{tokens: {scalar(list(shape))}}}" if is_tokens(shape) else scalar(list(shape))


def flat_spec(layers: Sequence[ImportedLayer], made_opaque: Mapping[int, str], model_inputs: Sequence[Input],
              outputs: Sequence[str]) -> str:
    """One line per layer, named by position (``n0``, ``n1``...), each reading what it reads with ``from:``;
    those in ``made_opaque`` as identity rows reading their first input. Several inputs keep the spec's names."""
    if len(model_inputs) == 1:
        names = {INPUT: "input"}
        lines = [f"input: {_shape_text(model_inputs[0].shape)}", "layers:"]
    else:
        names = {input_key(k): i.name for k, i in enumerate(model_inputs)}
        lines = ["inputs:", *(f"  {i.name}: {_shape_text(i.shape)}" for i in model_inputs), "layers:"]
    for k, lay in enumerate(layers):
        name = f"n{k}"
        refs = [names[i] for i in lay.inputs]
        if k in made_opaque:
            lines.append(f"  - identity: {{name: {name}, from: {refs[0]}}}")
        else:
            tied = [f"tied: {{{', '.join(f'{role}: {names[key]}' for role, key in lay.tied.items())}}}"] if lay.tied else []
            fields = [f"name: {name}", *_args_text(lay), *_from(lay.op, refs), *tied]
            lines.append(f"  - {lay.op}: {{{', '.join(fields)}}}")
        names[lay.key] = name
    lines.append(f"outputs: {scalar([names[o] for o in outputs])}")
    return "\n".join(lines) + "\n"


def typed_args(lay: ImportedLayer) -> Any | None:
    """The layer's arguments as its op's record, as the spec's reader converts them, not yet fitted to an input
    (``kernel: 3``, not (3, 3)); None where they do not convert."""
    found = lookup(lay.op)
    if found is None:
        return None
    fields = found.arg_fields()
    try:
        return found.args(**{k: fields[k].metadata["convert"](v) for k, v in lay.args.items()})
    except (KeyError, TypeError, ValueError, ArgError):
        return None


def _args_text(lay: ImportedLayer) -> list[str]:
    """``key: value`` for the arguments that differ from the op's defaults (an unknown one is kept: the build
    then says so, and the layer is made opaque)."""
    found = lookup(lay.op)
    fields = found.arg_fields() if found is not None else {}
    out = []
    for key, value in lay.args.items():
        f = fields.get(key)
        if f is not None and f.default is not dataclasses.MISSING and _same(value, f.default):
            continue
        out.append(f"{key}: {scalar(value)}")
    return out


def _same(a: object, b: object) -> bool:
    return type(a) is type(b) and a == b


def _from(op: str, refs: list[str]) -> list[str]:
    if not refs:
        return []
    return [f"from: {scalar(refs) if len(refs) > 1 else scalar(refs[0])}"]  # a join or any op of several inputs (sub)


def _unsure(graph: Graph, opaque: Mapping[int, str]) -> frozenset[int]:
    """The nodes downstream of an opaque one: their shapes follow from its stand-in."""
    out: set[int] = set()
    for n in graph.nodes:
        if any(i >= 0 and (i in opaque or i in out) for i in n.inputs):
            out.add(n.index)
    return frozenset(out)


def regions(graph: Graph, keys: Sequence[str], opaque: Mapping[int, str], classes: Mapping[str, str]) -> tuple[Region, ...]:
    """The modules compared whole (see the module docstring): for each opaque layer, the module called, or the
    module whose forward calls it; the outermost of nested ones; only those only their last layer leaves."""
    roots: dict[str, str] = {}
    for k in sorted(opaque):
        key = keys[k]
        root = key if key in classes else key.rpartition(".")[0]
        if root in classes:
            roots.setdefault(root, opaque[k])
    outer = [r for r in roots if not any(r.startswith(o + ".") for o in roots)]
    readers: dict[int, list[int]] = {}
    for n in graph.nodes:
        for i in n.inputs:
            readers.setdefault(i, []).append(n.index)
    found = []
    for root in outer:
        nodes = frozenset(k for k, key in enumerate(keys) if key == root or key.startswith(root + "."))
        leaving = {k for k in nodes for r in readers.get(k, ()) if r not in nodes} | (nodes & set(graph.outputs))
        if len(leaving) != 1:
            continue
        (out,) = leaving
        if any(r < max(nodes) for r in readers.get(out, ()) if r not in nodes):
            continue
        found.append(Region(root, classes[root], nodes, out, roots[root]))
    return tuple(found)
