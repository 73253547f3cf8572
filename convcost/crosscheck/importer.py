"""`convcost import`: the user's torch module traced into convcost layers (render/spec_out.py writes the spec).

Two ways to see the model, the first that works:

- **torch.fx** (``symbolic_trace``): every call of a torch.nn leaf module, and the functions and tensor
  methods between them (``torch.cat``, ``+``, ``*``, ``flatten``/``view`` to a flat vector, ``F.relu``,
  ``x.mean([2, 3])``...), with the tensors each reads: skips, concatenations and residual adds come out as
  ``from:`` references. A ViT's moves between maps and tokens, its class token and position embedding
  parameters and ``x[:, 0]`` become token ops (_tokens_op, _embeddings, _item_op). A ConvNeXt's LayerNorm2d,
  channels-last runs (permute, nn.LayerNorm / nn.Linear, permute back) and layer scale become convcost's forms of
  them (_layernorm2d, _channels_last, _layer_scales). The parts of ``x.chunk(n, 1)`` / ``x.split(sizes, 1)``
  become `chunk` layers (_part_op; the tracer iterates them: ``list(x.chunk(2, 1))``), and
  torchvision's view/transpose/contiguous/view channel shuffle a `channel_shuffle` (_shuffle_op).
- **forward hooks** on the leaf modules (as fx sees them: torch.nn's own, and childless ones), when fx
  cannot trace the forward (Python control flow on tensor values): only the leaf modules are seen, in the
  order they run, each reading the model's input or an earlier leaf's output (a flatten in between is
  recognised). Anything computed between them by
  functions (adds, concatenations) is invisible, and the leaf that reads it is listed as unsupported.

A torch.nn module becomes the op whose definition names its class in ``imports`` (ops/registry.py): the
op's ``from_torch`` reads its arguments, so the mapping lives with each op's definition. Anything
without one is *unsupported*: listed with its module path (or fx node), kept as an ``identity`` row
marked with a comment when the caller allows it.

Imports torch lazily: the caller has already checked it is installed (torch_deps.require).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import operator
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..costmodel.memory import human_bytes
from ..errors import ConvcostError, UsageError
from ..ops.registry import REGISTRY, NoArgs, NotImportable, OpRule, lookup
from ..render.spec_out import INPUT, ImportedLayer, write_spec

if TYPE_CHECKING:
    from torch import fx, nn

    from .target import Target


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
def _shape(node: fx.Node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta")
    shape = getattr(meta, "shape", None)
    return tuple(shape) if shape is not None else None


def _scope(node: fx.Node) -> tuple[str, ...]:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ()
    path = list(stack.values())[-1][0]
    return tuple(path.split(".")) if path else ()


def _activation(name: str) -> str | None:
    r = lookup(name.rstrip("_"))
    return r.name if r is not None and r.category == "activation" and r.args is NoArgs else None


def _base_name(name: str) -> str:
    """An fx node's name without the counter fx adds across the whole graph ('add_7' -> 'add'): the layer is
    then named 'add', 'add_1'... per module scope, the same in every instance of a repeated module."""
    return re.sub(r"_\d+$", "", name) or name


_ADD = {operator.add, operator.iadd}
_MUL = {operator.mul, operator.imul}


def _function_op(node: fx.Node, tensors: list[fx.Node], modules: dict[str, nn.Module]) -> tuple[str, dict[str, Any]] | str | None:
    """(op, args) for a call_function / call_method node; None: passes its input through; str: unsupported."""
    import torch

    target = node.target
    name = target if isinstance(target, str) else getattr(target, "__name__", str(target))
    shape, ins = _shape(node), [_shape(t) for t in tensors]
    if target is operator.getitem:
        part = _part_op(node)
        return part if part != "" else _item_op(node, modules)
    tokens = _tokens_op(node, name)
    if tokens != "":
        return tokens
    shuffle = _shuffle_op(node, name)
    if shuffle != "":
        return shuffle
    if target in (torch.cat, torch.concat) or name in ("cat", "concat"):
        dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
        rank = len(shape) if shape else 0
        return ("concat", {}) if isinstance(dim, int) and dim % max(rank, 1) == 1 else f"torch.cat(dim={dim}): convcost " \
            "concatenates channels (dim=1) only"
    if target in _ADD or target is torch.add or name in ("add", "add_"):
        if len(tensors) != 2 or len(node.args) != 2:
            return f"'{name}' with a constant: convcost adds branches only"
        return "add", {}
    if target in _MUL or target is torch.mul or name in ("mul", "mul_"):
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
        return _stochastic_depth(node)
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
    act = _activation(name)
    if act is not None and len(tensors) == 1:
        return act, {}
    return f"{name} is not a convcost op"


def _dims(node: fx.Node) -> tuple[int, ...] | None:
    """The int arguments after the tensor: (1, 2) of ``x.transpose(1, 2)``, (0, 2, 1) of ``x.permute(0, 2, 1)``."""
    rest = node.args[1:]
    if len(rest) == 1 and isinstance(rest[0], (list, tuple)):
        rest = tuple(rest[0])
    return tuple(rest) if rest and not node.kwargs and all(isinstance(d, int) for d in rest) else None


def _swaps_1_2(node: fx.Node) -> bool:
    """[B, A, C] -> [B, C, A]: ``transpose(1, 2)`` (swapaxes, swapdims, any sign) or ``permute(0, 2, 1)``."""
    name = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "")
    dims, shape = _dims(node), _shape(node)
    if node.op not in ("call_function", "call_method") or dims is None or shape is None or len(shape) != 3:
        return False
    if name in ("transpose", "swapaxes", "swapdims"):
        return len(dims) == 2 and {d % 3 for d in dims} == {1, 2}
    return name == "permute" and tuple(d % 3 for d in dims) == (0, 2, 1)


def _is_reshape(node: fx.Node) -> bool:
    name = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "")
    return node.op in ("call_function", "call_method") and name in ("flatten", "view", "reshape")


def _map_to_rows(node: fx.Node) -> bool:
    """A [B, C, H, W] map reshaped to [B, C, H·W] (``flatten(2)``, ``view(B, C, -1)``): the first half of to_tokens."""
    src = node.args[0] if node.args else None
    shape, ins = _shape(node), _shape(src) if hasattr(src, "op") else None  # type: ignore[arg-type]
    return (_is_reshape(node) and shape is not None and ins is not None and len(ins) == 4 and len(shape) == 3
            and shape == (ins[0], ins[1], ins[2] * ins[3]))


def _rows_to_map(node: fx.Node) -> bool:
    """[B, D, N] reshaped to a [B, D, H, W] map, H·W = N: the second half of to_map."""
    src = node.args[0] if node.args else None
    shape, ins = _shape(node), _shape(src) if hasattr(src, "op") else None  # type: ignore[arg-type]
    return (_is_reshape(node) and shape is not None and ins is not None and len(ins) == 3 and len(shape) == 4
            and shape[:2] == ins[:2] and shape[2] * shape[3] == ins[2])


def _tokens_op(node: fx.Node, name: str) -> tuple[str, dict[str, Any]] | str | None:
    """Between a map and tokens: ``x.flatten(2).transpose(1, 2)`` is `to_tokens` (the flatten passes through),
    ``x.transpose(1, 2).reshape(B, D, H, W)`` is `to_map` (the transpose passes through); "" where neither."""
    if _map_to_rows(node):
        if node.users and all(_swaps_1_2(u) for u in node.users):
            return None
        return f"{name} to {list(_shape(node) or ())}: convcost makes tokens of a map as x.flatten(2).transpose(1, 2) only"
    if _swaps_1_2(node):
        src = node.args[0]
        if hasattr(src, "op") and _map_to_rows(src):  # type: ignore[arg-type]
            return "to_tokens", {}
        if node.users and all(_rows_to_map(u) for u in node.users):
            return None
        return f"{name} of dims 1 and 2: convcost swaps them only between a map and tokens (to_tokens, to_map)"
    if _rows_to_map(node):
        src = node.args[0]
        if hasattr(src, "op") and _swaps_1_2(src):  # type: ignore[arg-type]
            _, _, h, w = _shape(node)  # type: ignore[misc]
            return "to_map", ({} if h == w else {"height": h, "width": w})
    return ""


def _fx_name(node: fx.Node) -> str:
    return node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "")


# ---- channel slices: x.chunk(n, dim=1)[k], x.split(sizes, dim=1)[k] (ShuffleNetV2, YOLOv8's C2f) ------------------
def _slicing(node: Any) -> bool:
    """``x.chunk(n, dim)`` / ``torch.chunk`` / ``x.split(size_or_sizes, dim)`` / ``torch.split``: a tuple of slices."""
    return getattr(node, "op", None) in ("call_function", "call_method") and _fx_name(node) in ("chunk", "split")


def _slices_source(node: fx.Node, inputs: tuple[str, ...]) -> str | None:
    """The key a chunk/split node passes to its parts (``getitem`` nodes, each a `chunk` layer): its input's."""
    return inputs[0] if _slicing(node) and inputs and all(u.target is operator.getitem for u in node.users) else None


def _part_op(node: fx.Node) -> tuple[str, dict[str, Any]] | str | None:
    """``x.chunk(n, dim=1)[k]`` / ``x.split(size_or_sizes, dim=1)[k]``: `chunk` (index k; ``parts`` when the parts are
    equal and the user did not list sizes, else ``sizes``); a part never used is no layer (None); "" where the
    indexed tensor is no chunk/split."""
    src, index = node.args[0], node.args[1]
    if not _slicing(src):
        return ""
    if not node.users:
        return None
    name = _fx_name(src)
    x = src.args[0] if src.args else src.kwargs.get("input", src.kwargs.get("tensor"))
    ins = _shape(x) if hasattr(x, "op") else None  # type: ignore[arg-type]
    dim = src.kwargs.get("dim", src.args[2] if len(src.args) > 2 else 0)
    metas = src.meta.get("tensor_meta")
    if ins is None or not isinstance(dim, int) or not isinstance(metas, (list, tuple)):
        return f"{name} of something other than a tensor: convcost slices a map's channels only"
    if len(ins) < 2 or dim % len(ins) != 1:
        return f"{name} along dim {dim}: convcost's chunk slices the channels (dim=1) only"
    if not isinstance(index, int) or not -len(metas) <= index < len(metas):
        return f"indexing x.{name}(...)[{index}]: convcost takes one part (x.{name}(...)[k]) at a time"
    sizes = [int(m.shape[1]) for m in metas]
    amount = src.args[1] if len(src.args) > 1 else \
        next((src.kwargs[k] for k in ("chunks", "split_size_or_sections", "split_size") if k in src.kwargs), None)
    args: dict[str, Any] = {"index": index % len(sizes)}
    if isinstance(amount, (list, tuple)) or len(set(sizes)) > 1:
        args["sizes"] = sizes
    elif len(sizes) != 2:
        args["parts"] = len(sizes)
    return "chunk", args


# ---- channel shuffle: x.view(B, g, C // g, H, W).transpose(1, 2).contiguous().view(B, C, H, W) ---------------------
def _groups_of(node: Any) -> int | None:
    """g, where ``node`` reshapes a [B, C, *S] map to [B, g, C/g, *S] (``view``, ``reshape``, ``unflatten(1, ...)``)."""
    calls = getattr(node, "op", None) in ("call_function", "call_method")
    if not calls or _fx_name(node) not in ("view", "reshape", "unflatten"):
        return None
    src = node.args[0] if node.args else None
    shape, ins = _shape(node), _shape(src) if hasattr(src, "op") else None  # type: ignore[arg-type]
    if shape is None or ins is None or len(ins) < 3 or len(shape) != len(ins) + 1:
        return None
    return shape[1] if shape[0] == ins[0] and shape[1] * shape[2] == ins[1] and shape[3:] == ins[2:] else None


def _swaps_groups(node: Any) -> bool:
    """[B, g, C/g, *S] -> [B, C/g, g, *S]: ``transpose(1, 2)`` (swapaxes, swapdims, any sign) or
    ``permute(0, 2, 1, 3, ...)`` of a tensor of rank 4 or more."""
    shape = _shape(node) if getattr(node, "op", None) in ("call_function", "call_method") else None
    dims = _dims(node) if shape is not None else None
    if shape is None or dims is None or len(shape) < 4:
        return False
    rank, name = len(shape), _fx_name(node)
    if name in ("transpose", "swapaxes", "swapdims"):
        return len(dims) == 2 and {d % rank for d in dims} == {1, 2}
    return name == "permute" and tuple(d % rank for d in dims) == (0, 2, 1, *range(3, rank))


def _merges_groups(node: Any) -> bool:
    """[B, a, b, *S] reshaped to [B, a·b, *S] (``view``, ``reshape``, ``flatten(1, 2)``): a channel shuffle's last step."""
    src = node.args[0] if getattr(node, "op", None) in ("call_function", "call_method") and node.args else None
    shape, ins = _shape(node) if src is not None else None, _shape(src) if hasattr(src, "op") else None  # type: ignore[arg-type]
    return (_is_reshape(node) and shape is not None and ins is not None and len(ins) >= 4 and len(shape) == len(ins) - 1
            and shape[0] == ins[0] and shape[1] == ins[1] * ins[2] and shape[2:] == ins[3:])


def _copies(node: Any) -> bool:
    return getattr(node, "op", None) in ("call_function", "call_method") and _fx_name(node) in ("contiguous", "clone")


def _shuffle_end(swap: fx.Node) -> bool:
    """Whether the swapped groups are only merged back into channels (through ``contiguous()``)."""
    users = list(swap.users)
    while len(users) == 1 and _copies(users[0]):
        users = list(users[0].users)
    return bool(users) and all(_merges_groups(u) for u in users)


def _shuffle_swap(node: fx.Node) -> bool:
    """A swap of the groups of a grouped view that is merged back: the middle of a channel shuffle."""
    return _swaps_groups(node) and _groups_of(node.args[0]) is not None and _shuffle_end(node)


def _shuffle_op(node: fx.Node, name: str) -> tuple[str, dict[str, Any]] | str | None:
    """torchvision's channel_shuffle: the view to [B, g, C/g, H, W] and the view back pass through, the
    ``transpose(1, 2)`` (or ``permute(0, 2, 1, 3, 4)``) is `channel_shuffle: {groups: g}`; "" where none of them."""
    groups = _groups_of(node)
    if groups is not None:
        if node.users and all(_shuffle_swap(u) for u in node.users):
            return None
        return f"{name} to {list(_shape(node) or ())}: convcost splits the channels into groups only in a channel " \
            "shuffle (x.view(B, g, C // g, H, W).transpose(1, 2).contiguous().view(B, C, H, W))"
    if _swaps_groups(node):
        if _shuffle_swap(node):
            return "channel_shuffle", {"groups": _groups_of(node.args[0])}
        return f"{name} of dims 1 and 2 of a {len(_shape(node) or ())}-D tensor: convcost swaps them only in a channel " \
            "shuffle (x.view(B, g, C // g, H, W).transpose(1, 2).contiguous().view(B, C, H, W))"
    if _merges_groups(node):
        src = node.args[0]
        while _copies(src):
            src = src.args[0]  # type: ignore[union-attr]
        if _shuffle_swap(src):  # type: ignore[arg-type]
            return None
    return ""


def _item_op(node: fx.Node, modules: dict[str, nn.Module]) -> tuple[str, dict[str, Any]] | str | None:
    """``x[...]``: output 0 of nn.MultiheadAttention passes through; ``x[:, 0]`` of tokens is `token_pool` (class)."""
    src, index = node.args[0], node.args[1]
    if getattr(src, "op", None) == "call_module" and type(modules.get(str(src.target))).__name__ == "MultiheadAttention":  # type: ignore[union-attr]
        if index == 0:
            return None
        return "the attention weights (nn.MultiheadAttention's output 1): convcost's 'attention' does not return them"
    ins = _shape(src) if hasattr(src, "op") else None  # type: ignore[arg-type]
    whole = slice(None, None, None)
    if ins is not None and len(ins) == 3 and isinstance(index, tuple) and index[:2] == (whole, 0) and \
            all(i == whole for i in index[2:]):
        return "token_pool", {}  # the class token, x[:, 0]
    return f"indexing x[{index}]: convcost takes the first token (x[:, 0]) of tokens only"


@dataclass(frozen=True)
class _Embedding:
    """A learned tensor of the model's own joined to the tokens: a class token (torch.cat) or position embedding (+);
    or joined to a map: a layer scale (*). Also a LayerNorm2d's permute, F.layer_norm, permute: a layer spanning fx nodes."""

    op: str  # class_token, pos_embed, layer_scale or layernorm
    path: str  # the parameter's (or module's) path: the layer's name, as verify --reference names it
    tokens: fx.Node  # the tokens (or map) it joins: what the layer reads
    args: dict[str, Any] = field(default_factory=dict)  # the op's arguments


def _parameter(gm: fx.GraphModule, node: fx.Node) -> Any:
    try:
        return gm.get_parameter(str(node.target))
    except AttributeError:  # a buffer or a plain tensor attribute
        return None


def _is_cat(node: fx.Node) -> bool:
    import torch

    return node.op == "call_function" and node.target in (torch.cat, torch.concat)


def _embeddings(gm: fx.GraphModule) -> tuple[dict[fx.Node, _Embedding], set[fx.Node]]:
    """A ViT's class token, ``torch.cat([self.class_token.expand(B, -1, -1), x], dim=1)`` with a [1, 1, D] parameter,
    and position embedding, ``x + self.pos_embedding`` with a [1, N, D] parameter: the cat / add node -> its
    layer, and the nodes it consumes (the get_attr, the expand)."""
    found: dict[fx.Node, _Embedding] = {}
    consumed: set[fx.Node] = set()
    for node in gm.graph.nodes:
        p = _parameter(gm, node) if node.op == "get_attr" else None
        if p is None or p.dim() != 3 or p.shape[0] != 1 or len(node.users) != 1:
            continue
        use = next(iter(node.users))
        if use.op == "call_method" and use.target == "expand" and p.shape[1] == 1 and len(use.users) == 1:
            cat = next(iter(use.users))
            dim = cat.kwargs.get("dim", cat.args[1] if len(cat.args) > 1 else 0)
            parts = cat.args[0] if cat.args else ()
            if _is_cat(cat) and dim in (1, -2) and isinstance(parts, (list, tuple)) and len(parts) == 2 and parts[0] is use:
                x = parts[1]
                shape = _shape(x) if hasattr(x, "op") else None
                if shape is not None and len(shape) == 3 and shape[2] == p.shape[2]:
                    found[cat] = _Embedding("class_token", str(node.target), x)
                    consumed |= {node, use}
        elif use.target in (operator.add, operator.iadd) or getattr(use.target, "__name__", "") == "add":
            others = [a for a in use.args if a is not node]
            x = others[0] if len(use.args) == 2 and len(others) == 1 and not use.kwargs else None
            shape = _shape(x) if hasattr(x, "op") else None
            if shape is not None and len(shape) == 3 and shape[1:] == tuple(p.shape[1:]):
                found[use] = _Embedding("pos_embed", str(node.target), x)
                consumed.add(node)
    return found, consumed



# ---- ConvNeXt: channels-last runs, LayerNorm2d, layer scale -------------------------------------
def _permute_dims(node: fx.Node) -> tuple[int, ...] | None:
    """The dims of ``x.permute(...)`` / ``torch.permute(x, ...)`` of a 2-D or 3-D map (rank 4 or 5; a rank-3 permute
    is left to the tokens' recognisers), made non-negative; None for any other node."""
    name = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "")
    shape = _shape(node)
    dims = _dims(node) if node.op in ("call_function", "call_method") and name == "permute" else None
    if dims is None or shape is None or len(shape) not in (4, 5) or len(dims) != len(shape):
        return None
    return tuple(d % len(shape) for d in dims)


def _to_last(node: fx.Node) -> bool:
    """``x.permute(0, 2, 3, 1)`` (``(0, 2, 3, 4, 1)`` of a 3-D map): channels to the end."""
    dims = _permute_dims(node)
    return dims is not None and dims == (0, *range(2, len(dims)), 1)


def _to_first(node: fx.Node) -> bool:
    """``x.permute(0, 3, 1, 2)`` (``(0, 4, 1, 2, 3)``): channels back after the batch."""
    dims = _permute_dims(node)
    return dims is not None and dims == (0, len(dims) - 1, *range(1, len(dims) - 1))


_PER_POSITION: dict[str, dict[str, Any]] = {"layernorm": {"channels_last": True}, "linear": {"over": "channels"}}
"""The ops a module between a permute to channels-last and back becomes, with the arguments that say so."""


def _elementwise(op: str) -> bool:
    """An op that acts on each value alone (activations, dropout, identity): the same on a channels-last view."""
    r = lookup(op)
    return r is not None and r.category in ("activation", "identity")


@dataclass
class _ChannelsLast:
    """ConvNeXt's block: ``x.permute(0, 2, 3, 1)``, then nn.LayerNorm / nn.Linear / activations at every position, then
    ``x.permute(0, 3, 1, 2)``. The permutes pass their input through; the modules between become the ops that run at
    every position of a channels-first map (`layernorm: {channels_last: true}`, `linear: {over: channels}`), named by
    their paths."""

    permutes: dict[fx.Node, str | None] = field(default_factory=dict)  # None: passes its input through; str: why not
    inside: set[fx.Node] = field(default_factory=set)  # the nodes between the permutes


def _per_position_problem(node: fx.Node, modules: dict[str, nn.Module]) -> str | None:
    """Why ``node`` cannot run at every position of a channels-last view, or None."""
    tensors = list(dict.fromkeys(_node_args(node)))
    if node.op == "output":
        return "the model's output"
    if len(tensors) != 1:
        return f"it reads {len(tensors)} tensors"
    if node.op == "call_module":
        found = module_op(modules[str(node.target)])
    elif node.op in ("call_function", "call_method"):
        found = _function_op(node, tensors, modules)  # type: ignore[assignment]
    else:  # pragma: no cover - a get_attr or placeholder reads no tensor
        return f"an fx {node.op} node"
    if isinstance(found, str) or found is None or found[0] in _PER_POSITION or _elementwise(found[0]):
        return found if isinstance(found, str) else None
    return f"'{found[0]}' does not act on each position alone"


def _channels_last(gm: fx.GraphModule, modules: dict[str, nn.Module]) -> _ChannelsLast:
    """Every permute to channels-last: with the nodes up to the permutes back when each of them runs at every position
    (every path from it reaches a permute back), else why not (the permute is then unsupported)."""
    runs = _ChannelsLast()
    for start in gm.graph.nodes:
        if not _to_last(start):
            continue
        inside: set[fx.Node] = set()
        ends: set[fx.Node] = set()
        todo, why = list(start.users), None
        while todo and why is None:
            node = todo.pop()
            if node in inside or node in ends or (_shape(node) is None and node.op != "output"):  # x.size(): no tensor
                continue
            if _to_first(node):
                ends.add(node)
                continue
            problem = _per_position_problem(node, modules)
            why = f"fx node '{node.name}' reads it: {problem}" if problem is not None else None
            inside.add(node)
            todo.extend(node.users)
        if why is None:
            runs.permutes.update(dict.fromkeys((start, *ends)))
            runs.inside |= inside
        else:
            dims = _permute_dims(start) or ()
            back = (0, len(dims) - 1, *range(1, len(dims) - 1))
            runs.permutes[start] = (f"permute{dims} to channels-last, and {why}; convcost runs only nn.LayerNorm, nn.Linear "
                                    f"and elementwise ops between it and permute{back} (at every position of the map)")
    return runs


def _per_position(found: tuple[str, dict[str, Any]] | str) -> tuple[str, dict[str, Any]] | str:
    """A module's op inside a channels-last run: the op at every position of the channels-first map."""
    if isinstance(found, str):
        return found
    return found[0], {**found[1], **_PER_POSITION.get(found[0], {})}


_LAYER_NORM_ARGS = ("input", "normalized_shape", "weight", "bias", "eps")


def _layernorm2d(gm: fx.GraphModule, modules: dict[str, nn.Module]) -> tuple[dict[fx.Node, _Embedding], set[fx.Node]]:
    """torchvision's LayerNorm2d (an nn.LayerNorm subclass fx traces into): ``x.permute(0, 2, 3, 1)``,
    ``F.layer_norm(x, (C,), self.weight, self.bias, self.eps)``, ``x.permute(0, 3, 1, 2)``, all in one module that
    holds that weight and bias and nothing else: the permute back -> a `layernorm` over the channels named by the
    module's path; the first permute, F.layer_norm and the get_attrs are consumed. ``modules``: the model's own (the
    GraphModule's copy of a module fx traced into holds only the tensors the graph reads)."""
    from torch.nn import functional as F

    found: dict[fx.Node, _Embedding] = {}
    consumed: set[fx.Node] = set()
    for node in gm.graph.nodes:
        if node.op != "call_function" or node.target is not F.layer_norm or len(node.users) != 1:
            continue
        bound = {**dict(zip(_LAYER_NORM_ARGS, node.args)), **node.kwargs}
        src, back, scope = bound.get("input"), next(iter(node.users)), _scope(node)
        if not (hasattr(src, "op") and _to_last(src) and len(src.users) == 1 and _to_first(back)):  # type: ignore[union-attr]
            continue
        path = ".".join(scope)
        module = modules.get(path)
        weights = [bound.get("weight"), bound.get("bias")]
        tensors = [w for w in weights if hasattr(w, "op")]
        owned = {f"{path}.{n}" if path else n for n, _ in module.named_parameters()} if module is not None else None
        if (module is None or _scope(src) != scope or _scope(back) != scope or any(f.path == path for f in found.values())
                or list(bound.get("normalized_shape", ())) != [(_shape(node) or (0,))[-1]]
                or len(tensors) not in (0, 2) or len(tensors) != len([w for w in weights if w is not None])
                or any(w.op != "get_attr" or len(w.users) != 1 for w in tensors)  # type: ignore[union-attr]
                or {str(w.target) for w in tensors} != owned or any(True for _ in module.buffers())):  # type: ignore[union-attr]
            continue
        eps = bound.get("eps", 1e-5)
        found[back] = _Embedding("layernorm", path, src.args[0], {"eps": eps, "affine": bool(tensors)})  # type: ignore[union-attr,arg-type]
        consumed |= {src, node, *tensors}  # type: ignore[arg-type]
    return found, consumed


def _layer_scales(gm: fx.GraphModule) -> tuple[dict[fx.Node, _Embedding], set[fx.Node]]:
    """ConvNeXt's layer scale, ``self.layer_scale * x`` (either order, ``torch.mul``, ``x.mul``) with a [C, 1, 1]
    parameter on a [B, C, H, W] map ([C, 1, 1, 1] on a 3-D one): the product -> a `layer_scale` layer named after
    the parameter's path (as verify --reference names a tensor of a module's own); the get_attr is consumed."""
    import torch

    found: dict[fx.Node, _Embedding] = {}
    consumed: set[fx.Node] = set()
    for node in gm.graph.nodes:
        p = _parameter(gm, node) if node.op == "get_attr" else None
        if p is None or len(node.users) != 1:
            continue
        use = next(iter(node.users))
        if use.target not in (*_MUL, torch.mul, "mul") or use.kwargs or len(use.args) != 2:
            continue
        others = [a for a in use.args if a is not node]
        x = others[0] if len(others) == 1 else None
        shape = _shape(x) if hasattr(x, "op") else None  # type: ignore[arg-type]
        if shape is not None and len(shape) in (4, 5) and tuple(p.shape) == (shape[1], *(1 for _ in shape[2:])):
            found[use] = _Embedding("layer_scale", str(node.target), x)  # type: ignore[arg-type]
            consumed.add(node)
    return found, consumed


def _stochastic_depth(node: fx.Node) -> str | None:
    """torchvision's ``stochastic_depth(x, p, mode, training)`` (fx-wrapped: one node): its input in eval, as dropout."""
    bound = {**dict(zip(("input", "p", "mode", "training"), node.args)), **node.kwargs}
    if bound.get("training", True) is not False and bound.get("p") != 0:
        return "stochastic_depth in training mode drops samples at random: convcost counts inference (call model.eval())"
    return None

_ATTENTION_ARGS = ("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask", "average_attn_weights", "is_causal")


def _attention_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    """Why convcost's `attention` cannot express this call of nn.MultiheadAttention (fx nodes or tensors), or None."""
    bound = {**dict(zip(_ATTENTION_ARGS, args)), **kwargs}
    q, k, v = (bound.get(n) for n in _ATTENTION_ARGS[:3])
    if not (q is k and k is v):
        return "called with different query, key and value (cross-attention): convcost's 'attention' is self-attention"
    for mask in ("key_padding_mask", "attn_mask"):
        if bound.get(mask) is not None:
            return f"called with {mask}: convcost's 'attention' has no mask"
    if bound.get("is_causal"):
        return "called with is_causal=True: convcost's 'attention' has no mask"
    return None


def _call_problem(node: fx.Node, op: str, tensors: list[fx.Node]) -> str | None:
    """Why a module call convcost's op cannot express (the op was found from the module alone), or None."""
    if op == "attention":
        return _attention_call(node.args, dict(node.kwargs))
    if len(tensors) > 1:
        return f"called on {len(tensors)} tensors: convcost's '{op}' reads one"
    return None


def _node_args(node: fx.Node) -> list[fx.Node]:
    """The nodes ``node`` reads, in argument order, one read twice listed twice (``cat([x, y, x])``, ``x + x``):
    ``all_input_nodes`` lists each once."""
    from torch import fx

    found: list[fx.Node] = []
    fx.node.map_arg((node.args, node.kwargs), found.append)
    return found


def _count_parts(node: fx.Node) -> int | None:
    """How many parts ``x.chunk(n, ...)`` (n) or ``x.split([a, b], ...)`` (one per size) makes, as written; None where
    only the shapes tell (``x.split(size, ...)``) or for any other node."""
    amount = node.args[1] if _slicing(node) and len(node.args) > 1 else None
    if isinstance(amount, (list, tuple)):
        return len(amount)
    return amount if isinstance(amount, int) and _fx_name(node) == "chunk" else None


def _tracer_class() -> type:
    """torch.fx's Tracer whose proxies of ``x.chunk(n, dim)`` and ``x.split([a, b], dim)`` have a length and iterate
    their parts: YOLOv8's C2f writes ``list(self.cv1(x).chunk(2, 1))``, which plain symbolic_trace refuses (``len``)."""
    from torch import fx

    class Parts(fx.Proxy):
        def __init__(self, node: fx.Node, tracer: fx.Tracer, n: int) -> None:
            super().__init__(node, tracer)
            self.n = n

        def __len__(self) -> int:
            return self.n

        def __iter__(self) -> Iterator[fx.Proxy]:
            return iter([self[i] for i in range(self.n)])

    class Tracer(fx.Tracer):
        def proxy(self, node: fx.Node) -> fx.Proxy:
            n = _count_parts(node)
            return Parts(node, self, n) if n is not None else super().proxy(node)

    return Tracer


def trace_fx(model: nn.Module, x: Any, allow: bool) -> Imported:
    """The model traced with torch.fx (raises what fx raises when it cannot trace)."""
    from torch import fx
    from torch.fx.passes.shape_prop import ShapeProp

    tracer = _tracer_class()()
    graph = tracer.trace(model)
    gm = fx.GraphModule(tracer.root, graph, type(model).__name__)
    ShapeProp(gm).propagate(x)
    modules = dict(gm.named_modules())
    embedded, consumed = _embeddings(gm)
    for found_layers, found_consumed in (_layernorm2d(gm, dict(model.named_modules())), _layer_scales(gm)):
        embedded |= found_layers
        consumed |= found_consumed
    runs = _channels_last(gm, modules)
    b = _Builder(allow)
    keys: dict[fx.Node, str | None] = {}
    placeholders = 0
    for node in gm.graph.nodes:
        tensors = [t for t in _node_args(node) if keys.get(t) is not None]
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
            if _shape(node) is not None:
                b.out.unsupported.append(Unsupported(str(node.target), "a tensor used directly by the forward (not a module)"))
        elif node.op == "call_module":
            tensors = list(dict.fromkeys(tensors))  # self-attention's attn(x, x, x) reads x once
            inputs = tuple(str(keys[t]) for t in tensors)
            module = modules[str(node.target)]
            key, path, n = b.key_for(str(node.target))
            found = _per_position(module_op(module)) if node in runs.inside else module_op(module)
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
            whole = _slicing(node) and _slices_source(node, inputs) is None  # x.chunk(2, 1) read other than by part
            if _shape(node) is None and not whole:  # x.size(0), shape arithmetic: no tensor, no layer
                keys[node] = _slices_source(node, inputs)  # x.chunk(2, 1): its parts (getitem) read x
                continue
            found = runs.permutes[node] if node in runs.permutes else _function_op(node, tensors, modules) if not whole \
                else f"the parts of x.{_fx_name(node)}(...) used together: convcost takes them one by one (x.chunk(n, dim=1)[k])"
            scope = _scope(node)
            part = node.target is operator.getitem and _slicing(node.args[0])
            named = node.args[0] if part else node  # a part of x.chunk(...) is named after the chunk
            key, path, _ = b.key_for(".".join((*scope, _base_name(named.name))), module=False)  # type: ignore[union-attr]
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
                problem = _attention_call(args, kwargs) if found_op[0] == "attention" else None
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


# ---- real or meta: verify's --max-memory rule --------------------------------------------------
@dataclass(frozen=True)
class Placement:
    """Where the forward that import_target kept ran, and the estimate that decided it."""

    device: str  # 'cpu': a real forward; 'meta': built and run on the meta device
    need: int  # bytes of a real forward: verify's estimate_bytes of the imported spec, or `floor` of it
    floor: bool  # need is only the weights, buffers and input: the layers' shapes are unknown


def import_target(t: Target, shape: tuple[int, ...], allow: bool, max_bytes: int) -> tuple[Imported, Placement]:
    """Build the target and trace it, with a real forward when one fits ``max_bytes``, else on the meta device.

    The rule is verify --reference's: a real forward when ``estimate_bytes`` (weights, buffers, the input and
    every layer's output, float32) is at most ``max_bytes``. That needs the layers' shapes, so the model is
    first built and traced on the meta device (no memory, no arithmetic) and the estimate is taken on that
    spec: `verify --reference` of the imported spec then decides the same way. Where it fits, the model is
    built and traced again for real, and that trace is kept (the same layers: meta tensors have real shapes).
    Where the meta trace fails (a forward that reads a tensor's value) or its spec does not analyze, only the
    weights, buffers and input are known: a real forward when they fit, else a UsageError saying to raise
    --max-memory. The user's prints go to stderr (stdout may carry the spec)."""
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _import_target(t, shape, allow, max_bytes)


def _import_target(t: Target, shape: tuple[int, ...], allow: bool, max_bytes: int) -> tuple[Imported, Placement]:
    from .target import failure, load_model, user_files
    from .torch_deps import TORCH_ERRORS

    files = user_files(t)
    shown = "1×" + "×".join(map(str, shape))
    meta_model: nn.Module | None = None
    meta: Imported | None = None
    why = ""
    try:
        meta_model = load_model(t, "meta")
        meta = import_model(meta_model, shape, allow, "meta")
    except UsageError as e:  # the factory fails under torch.device('meta'): a real build says why, if it fails too
        why = str(e)
    except Exception as e:  # the user's forward on meta tensors: .item(), `if x.sum() > 0`, an op without a meta kernel
        why = str(failure(f"reference '{t.text}': running the model on {shown} on the meta device failed", e, files))
    need = forward_estimate(meta, shape) if meta is not None else None
    floor = need is None
    model = None
    if need is None:
        model = meta_model if meta_model is not None else load_model(t)
        need = _floor(model, shape)
    placement = Placement("cpu" if need <= max_bytes else "meta", need, floor)
    if placement.device == "meta":
        if meta is None:
            raise UsageError(f"{why}; a real forward needs at least {human_bytes(need)} (its weights, buffers and input), "
                             f"over --max-memory {human_bytes(max_bytes)}: raise --max-memory to run it for real")
        return meta, placement
    if model is None or model is meta_model:
        model = load_model(t)
    try:
        with one_thread():
            return import_model(model, shape, allow), placement
    except (*TORCH_ERRORS, AssertionError, KeyError, AttributeError) as e:
        raise failure(f"reference '{t.text}': running the model on {shown} failed", e, files) from None


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """torch on one CPU thread. The real forward is run for its shapes only, and at most --max-memory big: on
    one thread it cannot be slowed by the other thread waiting for a core (bench_import.py's ResNet-152 at
    224×224, on a loaded 2-core machine: 0.5 s on one thread, 2.3 to 3.5 s on two)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def forward_estimate(imported: Imported, shape: tuple[int, ...]) -> int | None:
    """verify's estimate_bytes of the imported spec; None where it does not analyze (a part kept as identity that
    should change the shape, a part left out)."""
    from ..costmodel.analysis import analyze
    from ..frontend.spec import parse_spec
    from ..graph.build import build_graph
    from .verify import estimate_bytes

    try:
        spec = parse_spec(write_spec(imported.layers, shape, imported.outputs, []), "<imported>")
        return estimate_bytes(analyze(build_graph(spec, next(iter(spec.models)))))
    except ConvcostError:
        return None


def _floor(model: nn.Module, shape: tuple[int, ...]) -> int:
    """The part of estimate_bytes known without the layers' shapes: the weights, buffers and input, float32."""
    from .verify import BYTES_PER_VALUE

    return BYTES_PER_VALUE * (sum(t.numel() for t in itertools.chain(model.parameters(), model.buffers())) + math.prod(shape))
