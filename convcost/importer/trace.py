"""`convcost import`: the user's torch module traced into convcost layers (importer/write.py writes the spec).

Two ways to see the model, the first that works:

- **torch.fx** (``symbolic_trace``): every call of a torch.nn leaf module, and the functions and tensor
  methods between them (``torch.cat``, ``+``, ``*``, ``flatten``/``view`` to a flat vector, ``F.relu``,
  ``x.mean([2, 3])``...), with the tensors each reads: skips, concatenations and residual adds come out as
  ``from:`` references. A ViT's moves between maps and tokens, its class token and position embedding
  parameters and ``x[:, 0]`` become token ops (tokens_op, embeddings, item_op). A ConvNeXt's LayerNorm2d,
  channels-last runs (permute, nn.LayerNorm / nn.Linear, permute back) and layer scale become convcost's forms of
  them (layernorm2d, channels_last_runs, layer_scales). The parts of ``x.chunk(n, 1)`` / ``x.split(sizes, 1)``
  become `chunk` layers (part_op; the tracer iterates them: ``list(x.chunk(2, 1))``), and
  torchvision's view/transpose/contiguous/view channel shuffle a `channel_shuffle` (shuffle_op).
- **forward hooks** on the leaf modules (as fx sees them: torch.nn's own, and childless ones), when fx
  cannot trace the forward (Python control flow on tensor values): only the leaf modules are seen, in the
  order they run, each reading the model's input or an earlier leaf's output (a flatten in between is
  recognised). Anything computed between them by
  functions (adds, concatenations) is invisible, and the leaf that reads it is listed as unsupported.

A torch.nn module becomes the op whose definition names its class in ``imports`` (ops/registry.py): the
op's ``from_torch`` reads its arguments, so the mapping lives with each op's definition. Anything
without one is *unsupported*: listed with its module path (or fx node), kept as an ``identity`` row
marked with a comment when the caller allows it.

Whether the model runs for real or on the meta device is placement.py's choice. Imports torch lazily:
the caller has already checked it is installed (torch_deps.require).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..ops.registry import REGISTRY, NotImportable, OpRule
from .channels_last import channels_last_runs, layer_scales, layernorm2d, per_position, stochastic_depth_op
from .fx_nodes import ADD_OPS, MUL_OPS, activation_op, base_name, fx_name, node_args, node_scope, node_shape
from .slices import part_op, shuffle_op, slices_source, slicing, tracer_class
from .tokens import attention_call, embeddings, item_op, tokens_op
from .tree import INPUT, ImportedLayer

if TYPE_CHECKING:
    from torch import fx, nn


@dataclass(frozen=True)
class Unsupported:
    where: str  # module path or fx node
    what: str


@dataclass
class Imported:
    """What tracing found: the layers in order, the output keys, what convcost cannot express, how it traced."""

    layers: list[ImportedLayer] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    unsupported: list[Unsupported] = field(default_factory=list)
    method: str = "torch.fx"
    fx_error: str = ""  # why fx could not trace, when the hooks were used
    classes: dict[str, str] = field(default_factory=dict)  # module path -> class name (blocks are named after it)


def _rules_by_class() -> dict[str, list[OpRule]]:
    table: dict[str, list[OpRule]] = {}
    for r in REGISTRY.values():
        for cls in r.imports:
            table.setdefault(cls, []).append(r)
    return table


def module_op(module: nn.Module) -> tuple[str, dict[str, Any]] | str:
    """(op, arguments) of a torch.nn leaf module, or why convcost cannot express it."""
    cls = type(module).__name__
    rules = _rules_by_class().get(cls) if type(module).__module__.startswith("torch.nn") else None
    if not rules:
        return f"{type(module).__module__.replace('torch.nn.modules', 'torch.nn')}.{cls} is not a convcost op"
    for r in rules:
        assert r.from_torch is not None
        try:
            args = r.from_torch(module)
        except NotImportable as e:
            return f"nn.{cls} with {e}: convcost's '{r.name}' cannot express it"
        if args is not None:
            return r.name, args
    return f"nn.{cls} with these arguments is not a convcost op"  # pragma: no cover - every class has a rule that accepts


def _weighted(module: nn.Module) -> bool:
    return any(True for _ in module.parameters(recurse=False)) or any(True for _ in module.buffers(recurse=False))


class _Builder:
    """Collects layers; a name per call of a module called more than once ('relu', 'relu_1')."""

    def __init__(self, allow: bool) -> None:
        self.out = Imported()
        self.allow = allow
        self.calls: dict[str, int] = {}  # names given per path (modules and functions share a scope's names)
        self.module_calls: dict[str, int] = {}

    def key_for(self, path: str, module: bool = True) -> tuple[str, tuple[str, ...], int]:
        """(key, path parts, how many times this module was called before: 0 for functions)."""
        n = self.calls.get(path, 0)
        self.calls[path] = n + 1
        calls = self.module_calls.get(path, 0) if module else 0
        if module:
            self.module_calls[path] = calls + 1
        parts = tuple(path.split(".")) if path else ("model",)
        if n:
            parts = (*parts[:-1], f"{parts[-1]}_{n}")
        return ".".join(parts), parts, calls

    def layer(self, key: str, path: tuple[str, ...], op: str, args: dict[str, Any], inputs: tuple[str, ...]) -> str:
        self.out.layers.append(ImportedLayer(key, path, op, args, inputs))
        return key

    def unsupported(self, key: str, path: tuple[str, ...], where: str, what: str, inputs: tuple[str, ...]) -> str | None:
        self.out.unsupported.append(Unsupported(where, what))
        if not self.allow or not inputs:
            return None
        note = f"unsupported, kept as identity: {where}: {what}"
        self.out.layers.append(ImportedLayer(key, path, "identity", {}, inputs[:1], note))
        return key


# ---- torch.fx ----------------------------------------------------------------------------------

def _function_op(node: fx.Node, tensors: list[fx.Node], modules: dict[str, nn.Module]) -> tuple[str, dict[str, Any]] | str | None:
    """(op, args) for a call_function / call_method node; None: passes its input through; str: unsupported."""
    import torch

    target = node.target
    name = fx_name(node)
    shape, ins = node_shape(node), [node_shape(t) for t in tensors]
    if target is operator.getitem:
        part = part_op(node)
        return part if part != "" else item_op(node, modules)
    tokens = tokens_op(node, name)
    if tokens != "":
        return tokens
    shuffle = shuffle_op(node, name)
    if shuffle != "":
        return shuffle
    if target in (torch.cat, torch.concat) or name in ("cat", "concat"):
        dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
        rank = len(shape) if shape else 0
        return ("concat", {}) if isinstance(dim, int) and dim % max(rank, 1) == 1 else f"torch.cat(dim={dim}): convcost " \
            "concatenates channels (dim=1) only"
    if target in ADD_OPS or target is torch.add or name in ("add", "add_"):
        if len(tensors) != 2 or len(node.args) != 2:
            return f"'{name}' with a constant: convcost adds branches only"
        return "add", {}
    if target in MUL_OPS or target is torch.mul or name in ("mul", "mul_"):
        if len(tensors) != 2 or len(node.args) != 2:
            return f"'{name}' with a constant: convcost multiplies branches only"
        return "multiply", {}
    if name in ("flatten", "view", "reshape") and len(tensors) == 1 and shape and ins[0]:
        if shape == ins[0]:
            return None
        if len(shape) == 2 and len(ins[0]) >= 3 and shape[0] == ins[0][0]:
            return "flatten", {}
        return f"{name} to {list(shape)}: convcost reshapes a map to a flat vector only (flatten)"
    if name in ("contiguous", "clone", "dropout", "dropout_", "detach"):
        return None
    if name == "stochastic_depth":
        return stochastic_depth_op(node)
    if name == "mean" and len(tensors) == 1 and shape and ins[0]:
        dims = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else None)
        rank = len(ins[0])
        over = [dims] if isinstance(dims, int) else dims
        if rank == 3 and isinstance(over, (list, tuple)) and {d % rank for d in over} == {1} and len(shape) == 2:
            return "token_pool", {"mode": "mean"}  # x.mean(dim=1) of [B, N, D] tokens
        spatial = set(range(2, rank))
        if isinstance(dims, (list, tuple)) and {d % rank for d in dims} == spatial and spatial:
            return ("global_avgpool", {"mean": True}) if len(shape) == rank else ("mean", {})
        return f"mean over dims {dims}: convcost averages over all spatial dims only"
    act = activation_op(name)
    if act is not None and len(tensors) == 1:
        return act, {}
    return f"{name} is not a convcost op"


def _call_problem(node: fx.Node, op: str, tensors: list[fx.Node]) -> str | None:
    """Why a module call convcost's op cannot express (the op was found from the module alone), or None."""
    if op == "attention":
        return attention_call(node.args, dict(node.kwargs))
    if len(tensors) > 1:
        return f"called on {len(tensors)} tensors: convcost's '{op}' reads one"
    return None


def trace_fx(model: nn.Module, x: Any, allow: bool) -> Imported:
    """The model traced with torch.fx (raises what fx raises when it cannot trace)."""
    from torch import fx
    from torch.fx.passes.shape_prop import ShapeProp

    tracer = tracer_class()()
    graph = tracer.trace(model)
    gm = fx.GraphModule(tracer.root, graph, type(model).__name__)
    ShapeProp(gm).propagate(x)
    modules = dict(gm.named_modules())
    embedded, consumed = embeddings(gm)
    for found_layers, found_consumed in (layernorm2d(gm, dict(model.named_modules())), layer_scales(gm)):
        embedded |= found_layers
        consumed |= found_consumed
    runs = channels_last_runs(gm, lambda n, t: module_op(modules[str(n.target)]) if n.op == "call_module"
                              else _function_op(n, t, modules))
    b = _Builder(allow)
    keys: dict[fx.Node, str | None] = {}
    placeholders = 0
    for node in gm.graph.nodes:
        tensors = [t for t in node_args(node) if keys.get(t) is not None]
        inputs = tuple(str(keys[t]) for t in tensors)
        if node in consumed:  # a class token's parameter and its expand: part of the class_token layer
            keys[node] = None
        elif node in embedded:
            e = embedded[node]
            src = keys.get(e.tokens)
            key, path, _ = b.key_for(e.path)
            keys[node] = b.layer(key, path, e.op, e.args, (src,)) if src is not None else None
        elif node.op == "placeholder":
            placeholders += 1
            keys[node] = INPUT if placeholders == 1 else None
            if placeholders > 1:
                b.out.unsupported.append(Unsupported(node.name, "a second input: import takes one input"))
        elif node.op == "get_attr":
            keys[node] = None
            if node_shape(node) is not None:
                b.out.unsupported.append(Unsupported(str(node.target), "a tensor used directly by the forward (not a module)"))
        elif node.op == "call_module":
            tensors = list(dict.fromkeys(tensors))  # self-attention's attn(x, x, x) reads x once
            inputs = tuple(str(keys[t]) for t in tensors)
            module = modules[str(node.target)]
            key, path, n = b.key_for(str(node.target))
            found = per_position(module_op(module)) if node in runs.inside else module_op(module)
            problem = None if isinstance(found, str) else _call_problem(node, found[0], tensors)
            if isinstance(found, str):
                keys[node] = b.unsupported(key, path, str(node.target), found, inputs)
            elif problem is not None:
                keys[node] = b.unsupported(key, path, str(node.target), f"nn.{type(module).__name__} {problem}", inputs)
            elif n and _weighted(module):
                keys[node] = b.unsupported(key, path, str(node.target), f"called {n + 1} times: its weights are shared, "
                                           "a spec's layers each have their own", inputs)
            elif found[0] == "identity" and len(inputs) == 1:  # nn.Identity: no layer, its input passes through
                keys[node] = inputs[0]
            else:
                keys[node] = b.layer(key, path, found[0], found[1], inputs)
        elif node.op in ("call_function", "call_method"):
            whole = slicing(node) and slices_source(node, inputs) is None  # x.chunk(2, 1) read other than by part
            if node_shape(node) is None and not whole:  # x.size(0), shape arithmetic: no tensor, no layer
                keys[node] = slices_source(node, inputs)  # x.chunk(2, 1): its parts (getitem) read x
                continue
            found = runs.permutes[node] if node in runs.permutes else _function_op(node, tensors, modules) if not whole \
                else f"the parts of x.{fx_name(node)}(...) used together: convcost takes them one by one (x.chunk(n, dim=1)[k])"
            scope = node_scope(node)
            part = node.target is operator.getitem and slicing(node.args[0])
            named = node.args[0] if part else node  # a part of x.chunk(...) is named after the chunk
            key, path, _ = b.key_for(".".join((*scope, base_name(named.name))), module=False)  # type: ignore[union-attr]
            where = f"fx node '{node.name}'" + (f" in {'.'.join(scope)}" if scope else "")
            if found is None:
                keys[node] = inputs[0] if inputs else None
            elif isinstance(found, str):
                keys[node] = b.unsupported(key, path, where, found, inputs)
            elif found[0] == "mean":  # x.mean([2, 3]): a global average pool, then flat
                pool = b.layer(key + "_pool", (*path[:-1], path[-1] + "_pool"), "global_avgpool", {"mean": True}, inputs)
                keys[node] = b.layer(key, path, "flatten", {}, (pool,))
            else:
                keys[node] = b.layer(key, path, found[0], found[1], inputs)
        elif node.op == "output":
            outs = node.args[0]
            outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
            for o in outs:
                k = keys.get(o) if hasattr(o, "op") else None
                if k is None:
                    b.out.unsupported.append(Unsupported("output", f"the model's output {o} is not a traced tensor"))
                else:
                    b.out.outputs.append(k)
    b.out.unsupported += _unused(model, {str(n.target) for n in gm.graph.nodes if n.op in ("call_module", "get_attr")})
    return b.out


def _unused(model: nn.Module, used: set[str]) -> list[Unsupported]:
    """The model's parameters and buffers the forward never reads: not of a module it called (``used``: module
    paths, '' the whole model), nor a tensor it read (``used``: a tensor's path). Their counts are in the torch
    module's totals and in no layer of the spec, so they are listed (a spec has no layer for a module never run)."""
    tensors = [(n, "parameter") for n, _ in model.named_parameters()] + [(n, "buffer") for n, _ in model.named_buffers()]
    out = []
    for name, kind in tensors:
        parts = name.split(".")
        if not any(".".join(parts[:k]) in used for k in range(len(parts) + 1)):
            out.append(Unsupported(name, f"a {kind} the forward never uses: its module never runs, so the spec, "
                                         "made of the layers that run, would not count it"))
    return out


# ---- forward hooks -----------------------------------------------------------------------------
def _hooked(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules fx would call as leaves: torch.nn's own (nn.MultiheadAttention with its out_proj) and
    childless ones; not containers, nothing below a leaf."""
    from torch import nn

    out: list[tuple[str, nn.Module]] = []
    for name, m in model.named_modules():
        if any(leaf == "" or name.startswith(f"{leaf}.") for leaf, _ in out):
            continue
        builtin = type(m).__module__.startswith("torch.nn.") and not isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict))
        if builtin or not list(m.children()):
            out.append((name, m))
    return out


def _same_memory(a: Any, b: Any) -> bool:
    """Whether two tensors start at the same place of the same storage (a view). Not by data_ptr(): on the meta
    device every tensor's is 0; a view shares its base's storage on any device."""
    return bool(a.untyped_storage()._cdata == b.untyped_storage()._cdata and a.storage_offset() == b.storage_offset())


def trace_hooks(model: nn.Module, x: Any, allow: bool) -> Imported:
    """Leaf modules in the order they run, each reading the input or an earlier leaf's output."""
    import torch

    b = _Builder(allow)
    b.out.method = "forward hooks"
    produced: dict[int, tuple[str, Any]] = {id(x): (INPUT, x)}  # id -> (key, tensor kept alive)

    def find(t: Any) -> tuple[str, bool] | None:
        """(key, flattened) of an earlier tensor: the same, or a flat view of one."""
        if id(t) in produced:
            return produced[id(t)][0], False
        if isinstance(t, torch.Tensor) and t.dim() == 2:
            for key, known in reversed(list(produced.values())):
                same = _same_memory(known, t) and known.numel() == t.numel() and known.shape[0] == t.shape[0]
                if known.dim() >= 3 and same:
                    return key, True
        return None

    ran: set[str] = set()

    def hook(path: str, module: nn.Module) -> Callable[..., None]:
        def run(mod: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
            ran.add(path)
            key, parts, n = b.key_for(path)
            tensors = list({id(a): a for a in args if isinstance(a, torch.Tensor)}.values())  # attention reads x, x, x
            inputs: list[str] = []
            for t in tensors:
                found = find(t)
                if found is None:
                    b.out.unsupported.append(Unsupported(path, "its input comes from an operation between modules, which "
                                                         "forward hooks cannot see (fx could not trace the model)"))
                    prev = b.out.layers[-1].key if b.out.layers else INPUT
                    inputs.append(prev)
                    continue
                src, flat = found
                if flat:
                    src = b.layer(f"{key}_flatten", (*parts[:-1], f"{parts[-1]}_flatten"), "flatten", {}, (src,))
                inputs.append(src)
            found_op = module_op(mod)
            problem = None
            if not isinstance(found_op, str):
                problem = attention_call(args, kwargs) if found_op[0] == "attention" else None
                if problem is None and len(inputs) > 1:
                    problem = f"called on {len(inputs)} tensors: convcost's '{found_op[0]}' reads one"
            if isinstance(found_op, str):
                k = b.unsupported(key, parts, path, found_op, tuple(inputs))
            elif problem is not None:
                k = b.unsupported(key, parts, path, f"nn.{type(mod).__name__} {problem}", tuple(inputs))
            elif n and _weighted(mod):
                k = b.unsupported(key, parts, path, f"called {n + 1} times: its weights are shared", tuple(inputs))
            elif found_op[0] == "identity" and len(inputs) == 1:  # nn.Identity: its input passes through
                k = inputs[0]
            else:
                k = b.layer(key, parts, found_op[0], found_op[1], tuple(inputs))
            if k is not None and isinstance(out, tuple) and out and not isinstance(found_op, str) and found_op[0] == "attention":
                out = out[0]  # nn.MultiheadAttention's (output, weights)
            if k is not None and isinstance(out, torch.Tensor):
                produced[id(out)] = (k, out)

        return run

    handles = [m.register_forward_hook(hook(name, m), with_kwargs=True) for name, m in _hooked(model)]
    try:
        with torch.no_grad():
            y = model(x)
    finally:
        for h in handles:
            h.remove()
    found = find(y) if isinstance(y, torch.Tensor) else None
    if found is None or found[1]:
        b.out.unsupported.append(Unsupported("output", "the model's output comes from an operation forward hooks cannot see"))
    else:
        b.out.outputs.append(found[0])
    leaves = {name for name, _ in _hooked(model)}  # a tensor of a container's own: hooks cannot tell (not listed)
    b.out.unsupported += [u for u in _unused(model, ran) if any(u.where.startswith(f"{p}.") for p in leaves - ran)]
    return b.out


def import_model(model: nn.Module, shape: tuple[int, ...], allow: bool, device: str = "cpu") -> Imported:
    """Trace with torch.fx, or with forward hooks where fx cannot trace the model, on a zero input on ``device``
    (the model's own device: 'meta' when it was built there)."""
    import torch

    x = torch.zeros(1, *shape, device=device)
    with torch.no_grad():
        try:
            out = trace_fx(model, x, allow)
        except Exception as e:  # fx's own errors (TraceError, control flow on a Proxy): try the hooks
            fx_error = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
            out = trace_hooks(model, x, allow)
            out.fx_error = fx_error
    out.classes = {name: type(m).__name__ for name, m in model.named_modules() if name}
    return out
