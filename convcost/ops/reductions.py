"""Reductions over dims of any rank: mean, sum, amax, amin, norm, var, std.

``dims`` are torch's (the batch is 0, negative from the end); ``keepdim`` keeps them as size 1 (and the input's
layout). Convention (docs/conventions.md): a reduction reads every input element into its result, one non-MAC
op per element, counted as ``pool_ops`` like the elements of a pooling window (a mean over H×W is a global
average pool): mean, sum, amax, amin and norm 1 per element (norm: |x|^p accumulated; its root per result is
not counted, as norms' per-statistic work), var and std 2 (the mean, then the squared deviations accumulated,
as layer norm counts its statistics). fvcore, FlopCounterMode, ptflops and thop count none of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import field
from typing import TYPE_CHECKING, Any, NamedTuple

from ..cost import Cost
from .counting import Counted, Counting, Prediction
from .grad import BackwardFn, per_input_element
from .receptive import RF, whole_along
from .registry import ArgError, NodeLike, OpRule, Saves, Shape, _show, arg, boolean, lazy_args, register, typed
from .shapes import is_tokens, numel
from .tensors import LAYOUT_DOC, dim_indices, dim_list, integer, layout_arg, like, shaped, torch_dims

if TYPE_CHECKING:
    from torch import nn

DIMS_DOC = "the dims reduced, one or a list (torch's numbering: the batch is 0): [2, 3] is H×W of a map"
KEEPDIM_DOC = "keep the reduced dims as size 1 (and the input's layout)"


@lazy_args
class ReduceArgs:
    """Arguments of `mean`, `sum`, `amax` and `amin`."""

    dims: tuple[int, ...] = field(metadata=arg(dim_list, DIMS_DOC))
    keepdim: bool = field(default=False, metadata=arg(boolean, KEEPDIM_DOC))
    layout: str = field(default="auto", metadata=arg(layout_arg, LAYOUT_DOC))


@typed({"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"const": "inf"}]})  # .inf too
def norm_order(value: Any) -> float:
    """A norm's order p: a positive number or 'inf'."""
    if value == "inf":
        return math.inf
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value:
        raise ArgError(f"must be a positive number or 'inf', got {_show(value)}")
    return float(value)


@lazy_args
class NormArgs:
    """Arguments of `norm`."""

    dims: tuple[int, ...] = field(metadata=arg(dim_list, DIMS_DOC))
    p: float = field(default=2.0, metadata=arg(norm_order, "the order: 2 (Euclidean), 1, or 'inf'"))
    keepdim: bool = field(default=False, metadata=arg(boolean, KEEPDIM_DOC))
    layout: str = field(default="auto", metadata=arg(layout_arg, LAYOUT_DOC))


@lazy_args
class VarArgs:
    """Arguments of `var` and `std`."""

    dims: tuple[int, ...] = field(metadata=arg(dim_list, DIMS_DOC))
    correction: int = field(default=1, metadata=arg(integer, "subtracted from the count (1: unbiased, torch's default; 0)"))
    keepdim: bool = field(default=False, metadata=arg(boolean, KEEPDIM_DOC))
    layout: str = field(default="auto", metadata=arg(layout_arg, LAYOUT_DOC))


class Reduction(NamedTuple):
    name: str
    summary: str
    args: type
    per_element: int  # non-MAC ops per input element
    saves: Saves
    call: Callable[[Any, Any], Any]  # (args, torch dims) -> the function of x the module runs
    written: Callable[[Any, tuple[int, ...]], str]


# The gradient to every input element, per element (torch's derivatives.yaml): mean g/N (1); sum the gradient
# expanded (0); amax, amin g where x equals the result, shared among ties (2: the compare, the share); norm
# g·x·|x|^(p−2)/‖x‖^(p−1) (2 for p = 2: x/‖x‖ times g); var g·2(x − μ)/(N − c) (3); std var's, divided by 2σ (4).
BACKWARD_OPS = {"mean": 1, "sum": 0, "amax": 2, "amin": 2, "norm": 2, "var": 3, "std": 4}


def reduce_rf(a: Any, inputs: tuple[Shape, ...], out: Shape) -> RF:
    """Over the channels: pointwise; over positions: those read whole."""
    return whole_along(inputs[0], dim_indices(a.dims, torch_dims(inputs[0])), "a reduction over positions reads them all")


def reduce_backward(name: str) -> BackwardFn:
    return per_input_element(BACKWARD_OPS[name])


def reduce_shape(name: str) -> Callable[[Any, tuple[Shape, ...]], Shape]:
    def shape(a: Any, inputs: tuple[Shape, ...]) -> Shape:
        dims = torch_dims(inputs[0])
        idx = dim_indices(a.dims, dims)
        if a.keepdim:
            out = tuple(1 if i in idx else n for i, n in enumerate(dims))
            if a.layout == "auto":
                return like(inputs[0], out, name)
        else:
            out = tuple(n for i, n in enumerate(dims) if i not in idx)
        return shaped(out, a.layout, is_tokens(inputs[0]) and len(dims) - 1 not in idx, name)

    return shape


def reduce_cost(per: int) -> Callable[[Any, tuple[Shape, ...], Shape, int], Cost]:
    def cost(a: Any, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return Cost(pool_ops=per * batch * numel(inputs[0]), activations=batch * numel(out))

    return cost


def torch_dim_numbers(a: Any, node: NodeLike) -> tuple[int, ...]:
    """The reduced dims as torch numbers them, non-negative (the batch is 0)."""
    dims = torch_dims(node.in_shapes[0])
    return tuple(i + 1 for i in dim_indices(a.dims, dims))


def reduce_build(row: Reduction) -> Callable[[NodeLike], nn.Module]:
    def build(node: NodeLike) -> nn.Module:
        from ..modules.call import Call

        dims = torch_dim_numbers(node.args, node)
        return Call(row.call(node.args, dims), row.written(node.args, dims))

    return build


def _p(a: NormArgs) -> float | str:
    return "inf" if math.isinf(a.p) else (int(a.p) if a.p.is_integer() else a.p)


REDUCTIONS = (
    Reduction("mean", "Mean over dims, x.mean(dims, keepdim).", ReduceArgs, 1, Saves.NOTHING,
              lambda a, d: lambda x: x.mean(d, keepdim=a.keepdim), lambda a, d: f"x.mean({d}, keepdim={a.keepdim})"),
    Reduction("sum", "Sum over dims, x.sum(dims, keepdim).", ReduceArgs, 1, Saves.NOTHING,
              lambda a, d: lambda x: x.sum(d, keepdim=a.keepdim), lambda a, d: f"x.sum({d}, keepdim={a.keepdim})"),
    Reduction("amax", "Maximum over dims, x.amax(dims, keepdim).", ReduceArgs, 1, Saves.INPUTS,
              lambda a, d: lambda x: x.amax(d, keepdim=a.keepdim), lambda a, d: f"x.amax({d}, keepdim={a.keepdim})"),
    Reduction("amin", "Minimum over dims, x.amin(dims, keepdim).", ReduceArgs, 1, Saves.INPUTS,
              lambda a, d: lambda x: x.amin(d, keepdim=a.keepdim), lambda a, d: f"x.amin({d}, keepdim={a.keepdim})"),
    Reduction("norm", "Vector norm over dims, x.norm(p, dims, keepdim) (ConvNeXt-V2's GRN, L2 normalisation).", NormArgs, 1,
              Saves.INPUTS,
              lambda a, d: lambda x: x.norm(p=float(a.p), dim=d, keepdim=a.keepdim),
              lambda a, d: f"x.norm(p={_p(a)}, dim={d}, keepdim={a.keepdim})"),
    Reduction("var", "Variance over dims, x.var(dims, correction, keepdim).", VarArgs, 2, Saves.INPUTS,
              lambda a, d: lambda x: x.var(d, correction=a.correction, keepdim=a.keepdim),
              lambda a, d: f"x.var({d}, correction={a.correction}, keepdim={a.keepdim})"),
    Reduction("std", "Standard deviation over dims, x.std(dims, correction, keepdim).", VarArgs, 2, Saves.INPUTS,
              lambda a, d: lambda x: x.std(d, correction=a.correction, keepdim=a.keepdim),
              lambda a, d: f"x.std({d}, correction={a.correction}, keepdim={a.keepdim})"),
)

ATEN = {"norm": "aten::linalg_vector_norm"}  # the others run aten::<name>


for _r in REDUCTIONS:
    register(OpRule(
        _r.name, _r.args, "pool", reduce_shape(_r.name), reduce_cost(_r.per_element), _r.summary,
        build=reduce_build(_r),
        saves=_r.saves,
        backward=reduce_backward(_r.name),
        rf=reduce_rf,
        counting=Counting(ATEN.get(_r.name, f"aten::{_r.name}"), f"x.{_r.name}",
                          ptflops=Counted(lambda node, cost, batch: Prediction.unseen("ptflops patches no reduction"))),
        notes=f"{_r.per_element} op{'s' * (_r.per_element > 1)} per input element (pool ops).",
    ))
