"""`convcost import`'s ConvNeXt recognisers: torchvision's LayerNorm2d → `layernorm`, channels-last runs
(permute, nn.LayerNorm / nn.Linear per position, permute back) → `layernorm: {channels_last: true}` /
`linear: {over: channels}`, a [C, 1, 1] parameter times a map → `layer_scale`, stochastic depth in eval → nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..ops.registry import lookup
from .fx_nodes import MUL_OPS, fx_name, int_dims, node_args, node_scope, node_shape
from .tokens import Embedding, parameter_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from torch import fx, nn

    # the op trace.py makes of a node and the tensors it reads: (op, args), None (passes through) or why not
    OpOf = Callable[[fx.Node, list[fx.Node]], tuple[str, dict[str, Any]] | str | None]


def _permute_dims(node: fx.Node) -> tuple[int, ...] | None:
    """The dims of ``x.permute(...)`` / ``torch.permute(x, ...)`` of a 2-D or 3-D map (rank 4 or 5; a rank-3 permute
    is left to the tokens' recognisers), made non-negative; None for any other node."""
    name = fx_name(node)
    shape = node_shape(node)
    dims = int_dims(node) if node.op in ("call_function", "call_method") and name == "permute" else None
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
class ChannelsLast:
    """ConvNeXt's block: ``x.permute(0, 2, 3, 1)``, then nn.LayerNorm / nn.Linear / activations at every position, then
    ``x.permute(0, 3, 1, 2)``. The permutes pass their input through; the modules between become the ops that run at
    every position of a channels-first map (`layernorm: {channels_last: true}`, `linear: {over: channels}`), named by
    their paths."""

    permutes: dict[fx.Node, str | None] = field(default_factory=dict)  # None: passes its input through; str: why not
    inside: set[fx.Node] = field(default_factory=set)  # the nodes between the permutes


def _per_position_problem(node: fx.Node, op_of: OpOf) -> str | None:
    """Why ``node`` cannot run at every position of a channels-last view, or None (``op_of``: the op trace.py
    makes of a node and its tensors)."""
    tensors = list(dict.fromkeys(node_args(node)))
    if node.op == "output":
        return "the model's output"
    if len(tensors) != 1:
        return f"it reads {len(tensors)} tensors"
    if node.op in ("call_module", "call_function", "call_method"):
        found = op_of(node, tensors)
    else:  # pragma: no cover - a get_attr or placeholder reads no tensor
        return f"an fx {node.op} node"
    if isinstance(found, str) or found is None or found[0] in _PER_POSITION or _elementwise(found[0]):
        return found if isinstance(found, str) else None
    return f"'{found[0]}' does not act on each position alone"


def channels_last_runs(gm: fx.GraphModule, op_of: OpOf) -> ChannelsLast:
    """Every permute to channels-last: with the nodes up to the permutes back when each of them runs at every position
    (every path from it reaches a permute back), else why not (the permute is then unsupported)."""
    runs = ChannelsLast()
    for start in gm.graph.nodes:
        if not _to_last(start):
            continue
        inside: set[fx.Node] = set()
        ends: set[fx.Node] = set()
        todo, why = list(start.users), None
        while todo and why is None:
            node = todo.pop()
            if node in inside or node in ends or (node_shape(node) is None and node.op != "output"):  # x.size(): no tensor
                continue
            if _to_first(node):
                ends.add(node)
                continue
            problem = _per_position_problem(node, op_of)
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


def per_position(found: tuple[str, dict[str, Any]] | str) -> tuple[str, dict[str, Any]] | str:
    """A module's op inside a channels-last run: the op at every position of the channels-first map."""
    if isinstance(found, str):
        return found
    return found[0], {**found[1], **_PER_POSITION.get(found[0], {})}


_LAYER_NORM_ARGS = ("input", "normalized_shape", "weight", "bias", "eps")


def layernorm2d(gm: fx.GraphModule, modules: dict[str, nn.Module]) -> tuple[dict[fx.Node, Embedding], set[fx.Node]]:
    """torchvision's LayerNorm2d (an nn.LayerNorm subclass fx traces into): ``x.permute(0, 2, 3, 1)``,
    ``F.layer_norm(x, (C,), self.weight, self.bias, self.eps)``, ``x.permute(0, 3, 1, 2)``, all in one module that
    holds that weight and bias and nothing else: the permute back -> a `layernorm` over the channels named by the
    module's path; the first permute, F.layer_norm and the get_attrs are consumed. ``modules``: the model's own (the
    GraphModule's copy of a module fx traced into holds only the tensors the graph reads)."""
    from torch.nn import functional as F

    found: dict[fx.Node, Embedding] = {}
    consumed: set[fx.Node] = set()
    for node in gm.graph.nodes:
        if node.op != "call_function" or node.target is not F.layer_norm or len(node.users) != 1:
            continue
        bound = {**dict(zip(_LAYER_NORM_ARGS, node.args)), **node.kwargs}
        src, back, scope = bound.get("input"), next(iter(node.users)), node_scope(node)
        if not (hasattr(src, "op") and _to_last(src) and len(src.users) == 1 and _to_first(back)):  # type: ignore[union-attr]
            continue
        path = ".".join(scope)
        module = modules.get(path)
        weights = [bound.get("weight"), bound.get("bias")]
        tensors = [w for w in weights if hasattr(w, "op")]
        owned = {f"{path}.{n}" if path else n for n, _ in module.named_parameters()} if module is not None else None
        if (module is None or node_scope(src) != scope or node_scope(back) != scope or any(f.path == path for f in found.values())
                or list(bound.get("normalized_shape", ())) != [(node_shape(node) or (0,))[-1]]
                or len(tensors) not in (0, 2) or len(tensors) != len([w for w in weights if w is not None])
                or any(w.op != "get_attr" or len(w.users) != 1 for w in tensors)  # type: ignore[union-attr]
                or {str(w.target) for w in tensors} != owned or any(True for _ in module.buffers())):  # type: ignore[union-attr]
            continue
        eps = bound.get("eps", 1e-5)
        found[back] = Embedding("layernorm", path, src.args[0], {"eps": eps, "affine": bool(tensors)})  # type: ignore[union-attr,arg-type]
        consumed |= {src, node, *tensors}  # type: ignore[arg-type]
    return found, consumed


def layer_scales(gm: fx.GraphModule) -> tuple[dict[fx.Node, Embedding], set[fx.Node]]:
    """ConvNeXt's layer scale, ``self.layer_scale * x`` (either order, ``torch.mul``, ``x.mul``) with a [C, 1, 1]
    parameter on a [B, C, H, W] map ([C, 1, 1, 1] on a 3-D one): the product -> a `layer_scale` layer named after
    the parameter's path (as verify --reference names a tensor of a module's own); the get_attr is consumed."""
    import torch

    found: dict[fx.Node, Embedding] = {}
    consumed: set[fx.Node] = set()
    for node in gm.graph.nodes:
        p = parameter_of(gm, node) if node.op == "get_attr" else None
        if p is None or len(node.users) != 1:
            continue
        use = next(iter(node.users))
        if use.target not in (*MUL_OPS, torch.mul, "mul") or use.kwargs or len(use.args) != 2:
            continue
        others = [a for a in use.args if a is not node]
        x = others[0] if len(others) == 1 else None
        shape = node_shape(x) if hasattr(x, "op") else None  # type: ignore[arg-type]
        if shape is not None and len(shape) in (4, 5) and tuple(p.shape) == (shape[1], *(1 for _ in shape[2:])):
            found[use] = Embedding("layer_scale", str(node.target), x)  # type: ignore[arg-type]
            consumed.add(node)
    return found, consumed


def stochastic_depth_op(node: fx.Node) -> str | None:
    """torchvision's ``stochastic_depth(x, p, mode, training)`` (fx-wrapped: one node): its input in eval, as dropout."""
    bound = {**dict(zip(("input", "p", "mode", "training"), node.args)), **node.kwargs}
    if bound.get("training", True) is not False and bound.get("p") != 0:
        return "stochastic_depth in training mode drops samples at random: convcost counts inference (call model.eval())"
    return None
