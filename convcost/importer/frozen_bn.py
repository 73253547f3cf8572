"""A batch norm written as elementwise ops on buffers (torch-free): torchvision's FrozenBatchNorm2d (ops/misc.py),

    scale = weight * (running_var + eps).rsqrt()
    bias = bias - running_mean * scale
    return x * scale + bias

with each buffer a [C] tensor (reshaped to [1, C, 1, 1] before or after) of one module → `batchnorm: {fixed: true}`,
named after that module. The pattern is the computation, not the class name: a user's copy of the class (detectron2's,
a fine-tuning script's) is recognised too. The trigger is the data multiply ``x * scale``; the add writes the layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .flow import PASS_OPS, RESHAPES
from .found import Emit, Found, Skip
from .graph import Node, V

if TYPE_CHECKING:
    from .patterns import Claims, Trigger
    from .recognise import Context

BUFFERS = ("weight", "bias", "running_mean", "running_var")


def _operands(n: Node | None, op: str) -> tuple[Any, Any] | None:
    """The two operands of ``n`` when it is ``op`` (an add or sub with alpha 1), else None."""
    if n is None or n.op not in (op, f"{op}_") or n.args.get("alpha", 1) != 1:
        return None
    return n.args.get("self"), n.args.get("other")


def _unview(ctx: Context, v: Any) -> Any:
    """``v`` before the reshapes, views and copies that keep its values (a [C] buffer reshaped to [1, C, 1, 1])."""
    while isinstance(v, V):
        n = ctx.flow.producer(v)
        if n is None or not (n.op in RESHAPES or n.op in PASS_OPS) or len(set(n.tensors())) != 1:
            return v
        v = V(n.tensors()[0])
    return v


def _producer(ctx: Context, v: Any, op: str) -> tuple[Any, Any] | None:
    return _operands(ctx.flow.producer(_unview(ctx, v)), op) if isinstance(v, V) else None


def _buffer(ctx: Context, v: Any, channels: int) -> str | None:
    """The path of the [C] buffer ``v`` is (or a view of)."""
    path = ctx.flow.param(_unview(ctx, v)) if isinstance(v, V) else None
    if path is None or ctx.rec.tensors[path] != ("buffer", (channels,)):
        return None
    return path


def _scale(ctx: Context, s: Any, c: int) -> tuple[str, str, float] | None:
    """``weight * (running_var + eps).rsqrt()`` (either order): the two buffers' paths and eps."""
    ops = _producer(ctx, s, "mul")
    if ops is None:
        return None
    for w, r in (ops, ops[::-1]):
        weight = _buffer(ctx, w, c)
        rsqrt = ctx.flow.producer(_unview(ctx, r)) if isinstance(r, V) else None
        if weight is None or rsqrt is None or rsqrt.op != "rsqrt":
            continue
        var_eps = _producer(ctx, rsqrt.args.get("self"), "add")
        if var_eps is None:
            continue
        var, eps = var_eps
        if isinstance(eps, V):
            var, eps = eps, var
        path = _buffer(ctx, var, c)
        if path is not None and isinstance(eps, (int, float)) and eps > 0:
            return weight, path, float(eps)
    return None


def _shift(ctx: Context, t: Any, s: Any, c: int) -> tuple[str, str] | None:
    """``bias - running_mean * scale`` with the same ``scale``: the two buffers' paths."""
    ops = _producer(ctx, t, "sub")
    if ops is None:
        return None
    bias, prod = ops
    mean_scale = _producer(ctx, prod, "mul")
    if mean_scale is None or _buffer(ctx, bias, c) is None:
        return None
    for m, s2 in (mean_scale, mean_scale[::-1]):
        if isinstance(s2, V) and _unview(ctx, s2) == _unview(ctx, s) and (mean := _buffer(ctx, m, c)) is not None:
            return _buffer(ctx, bias, c) or "", mean
    return None


def frozen_batchnorm(ctx: Context, n: Node, claims: Claims) -> Trigger | None:
    """``x * scale + bias`` of a [B, C, ...] map, scale and bias computed as FrozenBatchNorm2d computes them from four
    [C] buffers of one module."""
    ops = _operands(n, "mul") if n.outs else None
    if ops is None or not all(isinstance(a, V) for a in ops):
        return None
    for x, s in (ops, ops[::-1]):
        if not ctx.flow.data(x.id) or not ctx.flow.weight(s.id):
            continue
        shape = ctx.flow.shape(x.id)
        ones = (1,) * (len(shape) - 2)
        if len(shape) < 2 or ctx.flow.shape(s.id) not in ((1, shape[1], *ones), (shape[1], *ones)):
            continue
        c = shape[1]
        scale = _scale(ctx, s, c)
        readers = ctx.flow.ahead(n.outs[0])
        end = readers[0] if len(readers) == 1 else None
        add = _operands(end, "add")
        if scale is None or end is None or add is None or not end.outs:
            continue
        t = add[1] if isinstance(add[0], V) and ctx.flow.back(add[0].id) == ctx.flow.back(n.outs[0]) else add[0]
        shift = _shift(ctx, t, s, c)
        if shift is None:
            continue
        weight, var, eps = scale
        bias, mean = shift
        held = {"weight": weight, "bias": bias, "running_mean": mean, "running_var": var}
        owners = {p.rpartition(".")[0] for p in held.values()}
        if len(owners) != 1 or len(set(held.values())) != len(held):  # four buffers of one module
            continue
        paths = tuple(held[b] for b in BUFFERS)
        args = {"eps": eps, "affine": True, "fixed": True}
        return _trigger(ctx, claims, x.id, end, args, paths)
    return None


def _trigger(ctx: Context, claims: Claims, x: int, end: Node, args: dict[str, Any], paths: tuple[str, ...]) -> Trigger:
    def trigger(node: Node) -> Found:
        if ctx.layout(x) != "map":
            return None
        claims[end.index] = Emit("batchnorm", args, (x,), paths)
        return Skip()

    return trigger
