"""Elementwise activations: one table, one row per op, everything convcost knows about each.

Every activation has the same shape rule (output = input) and cost (one op per element); a row says
what differs: its torch module (built with the op's arguments in field order), the aten op that
module runs, what its backward saves, and how the module-hook counters treat it. Adding an
activation is adding a row.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from ..costmodel.cost import Cost
from .counting import (
    FVCORE_IGNORED,
    FVCORE_UNSUPPORTED,
    PTFLOPS_NO_HOOK,
    THOP_NO_RULE,
    THOP_ZERO,
    Counted,
    Counting,
    Prediction,
    out_elements,
)
from .registry import BuildFn, NoArgs, NodeLike, OpRule, Saves, Shape, arg, number, register
from .shapes import numel

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class LeakyArgs:
    """Arguments of `leaky_relu` (in torch.nn.LeakyReLU's order)."""

    slope: float = field(default=0.01, metadata=arg(number, "negative slope"))


class Activation(NamedTuple):
    """One row of the table (a NamedTuple: cheap to create at start-up, see counting.py)."""

    name: str
    summary: str
    module: str  # the torch.nn class, called with the op's arguments in field order
    aten: str  # the aten op that module runs (fvcore's trace)
    saves: Saves  # OUTPUT where torch's derivative is computed from the result (derivatives.yaml)
    fvcore_ignored: bool = False  # the aten op is in fvcore's _IGNORED_OPS
    ptflops_hook: bool = False  # ptflops' relu_flops_counter_hook: 1 per output element
    ptflops_patch: str | None = None  # the functional ptflops patches and the module calls: +1 per element
    thop_zero: bool = False  # in thop's zero_ops
    args: type = NoArgs
    aliases: tuple[str, ...] = ()


ACTIVATIONS = (
    Activation("relu", "ReLU, max(x, 0).", "ReLU", "aten::relu", Saves.OUTPUT,
               fvcore_ignored=True, ptflops_hook=True, ptflops_patch="F.relu", thop_zero=True),
    Activation("relu6", "ReLU6, min(max(x, 0), 6).", "ReLU6", "aten::hardtanh", Saves.INPUTS,
               ptflops_hook=True, thop_zero=True),
    Activation("leaky_relu", "Leaky ReLU.", "LeakyReLU", "aten::leaky_relu", Saves.INPUTS,
               ptflops_hook=True, thop_zero=True, args=LeakyArgs),
    Activation("sigmoid", "Logistic sigmoid.", "Sigmoid", "aten::sigmoid", Saves.OUTPUT),
    Activation("silu", "SiLU / swish, x·sigmoid(x).", "SiLU", "aten::silu", Saves.INPUTS,
               ptflops_patch="F.silu", aliases=("swish",)),
    Activation("hardswish", "Hard swish (MobileNetV3).", "Hardswish", "aten::hardswish", Saves.INPUTS),
    Activation("hardsigmoid", "Hard sigmoid (MobileNetV3 squeeze-excite).", "Hardsigmoid", "aten::hardsigmoid",
               Saves.INPUTS),
    Activation("gelu", "GELU.", "GELU", "aten::gelu", Saves.INPUTS, ptflops_hook=True, ptflops_patch="F.gelu"),
    Activation("tanh", "Hyperbolic tangent.", "Tanh", "aten::tanh", Saves.OUTPUT),
)


def _shape(a: object, inputs: tuple[Shape, ...]) -> Shape:
    return inputs[0]


def _cost(a: object, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
    n = batch * numel(out)
    return Cost(act_ops=n, activations=n)


def _builder(module: str) -> BuildFn:
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        return getattr(nn, module)(*astuple(node.args))

    return build


def _ptflops(row: Activation) -> Counted:
    times = row.ptflops_hook + (row.ptflops_patch is not None)
    if not times:
        return PTFLOPS_NO_HOOK
    if row.ptflops_hook and row.ptflops_patch:
        why = f"ptflops counts {row.module} twice per output element: its module hook and the patched {row.ptflops_patch}"
    elif row.ptflops_hook:
        why = f"ptflops counts 1 per {row.module} output element"
    else:
        why = f"ptflops counts 1 per {row.module} element (the patched {row.ptflops_patch})"

    def predict(node: NodeLike, cost: Cost, batch: int) -> Prediction:
        return Prediction.of(**{node.rule.counting.category: times * out_elements(node, batch)})

    return Counted(predict, why)


for _row in ACTIVATIONS:
    register(
        OpRule(
            _row.name, _row.args, "activation", _shape, _cost, _row.summary,
            build=_builder(_row.module),
            saves=_row.saves,
            counting=Counting(
                _row.aten, f"nn.{_row.module}",
                fvcore=FVCORE_IGNORED if _row.fvcore_ignored else FVCORE_UNSUPPORTED,
                ptflops=_ptflops(_row),
                thop=THOP_ZERO if _row.thop_zero else THOP_NO_RULE,
            ),
            aliases=_row.aliases,
        )
    )
