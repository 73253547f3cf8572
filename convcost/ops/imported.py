"""Ops that say what a spec imported from a torch model (`convcost import`) could not, instead of leaving it out:

- `unsupported`: a part convcost cannot express, kept with the shape the model's trace gave it, so the layers after it
  are sized right; its arithmetic is not counted, and every total says so (Analysis.uncounted);
- `unused`: the parameters and buffers of a module the forward never runs (an auxiliary head), counted in params
  and buffers with no arithmetic, so the totals are the model's ``sum(p.numel())``.
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING, Any

from ..cost import Cost
from .counting import Counting
from .grad import no_backward
from .receptive import POINTWISE, RF
from .registry import ArgError, NodeLike, Saves, Shape, ShapeError, arg, boolean, lazy_args, nonneg_int, op, pos_int, typed
from .shapes import TokenGrid, Tokens, numel

if TYPE_CHECKING:
    from torch import nn


@typed({"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1})
def _shape(value: Any) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise ArgError("must be a list of sizes, the output's shape without the batch ([C, H, W])")
    return tuple(pos_int(v) for v in value)


@typed({"type": "string"})
def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ArgError("must be text")
    return value


@lazy_args
class UnsupportedArgs:
    """Arguments of `unsupported`."""

    shape: tuple[int, ...] = field(metadata=arg(_shape, "its output's shape without the batch, as the model's trace gave it"))
    tokens: bool = field(default=False, metadata=arg(boolean, "the output is [N, D] tokens (shape: [N, D])"))
    grid: bool = field(default=False, metadata=arg(boolean, "the output is a channels-last grid of tokens (shape: [H, W, D] "
                                                      "or [T, H, W, D]), as a permute to channels-last makes it"))
    what: str = field(default="", metadata=arg(_text, "what the part is (import writes the torch op and why)"))


@op("unsupported", category="identity", args=UnsupportedArgs)
class Unsupported:
    """A part of an imported model convcost cannot express, with its traced output shape; not counted, and every total says so.
    Its params, MACs and other ops are missing from the totals (analyze lists it under them as not counted); the layers
    after it read its shape. verify builds it as zeros of that shape."""

    saves = Saves.NOTHING
    counting = Counting(None, "unsupported")
    rf = RF("unknown", why="a part of the imported model convcost cannot express")
    backward = staticmethod(no_backward)  # not counted, as its forward is not

    @staticmethod
    def shape(a: UnsupportedArgs, inputs: tuple[Shape, ...]) -> Shape:
        if a.grid:
            if a.tokens or len(a.shape) < 3:
                raise ShapeError(f"grid: true needs shape [H, W, D] or [T, H, W, D] (and no tokens), got {list(a.shape)}",
                                 "shape")
            return TokenGrid(*a.shape)
        if a.tokens:
            if len(a.shape) != 2:
                raise ShapeError(f"tokens: true needs shape [N, D], got {list(a.shape)}", "shape")
            return Tokens(*a.shape)
        return a.shape

    @staticmethod
    def cost(a: UnsupportedArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return Cost(activations=batch * numel(out))

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.call import Call

        shape = tuple(node.args.shape)
        return Call(lambda *xs: xs[0].new_zeros((xs[0].shape[0], *shape)), f"zeros{list(shape)}")


@lazy_args
class UnusedArgs:
    """Arguments of `unused`."""

    params: int = field(default=0, metadata=arg(nonneg_int, "parameters it holds"))
    buffers: int = field(default=0, metadata=arg(nonneg_int, "buffer values it holds"))


@op("unused", category="identity", args=UnusedArgs)
class Unused:
    """Parameters and buffers of a module the forward never runs (an auxiliary head): counted, no arithmetic.
    Its input passes through; `convcost import` writes one per such module, last, so params and buffers total the
    model's. verify builds a module holding that many values."""

    saves = Saves.NOTHING
    counting = Counting(None, "unused")
    rf = POINTWISE  # its input passes through
    backward = staticmethod(no_backward)  # tensors the forward never reads get no gradient

    @staticmethod
    def shape(a: UnusedArgs, inputs: tuple[Shape, ...]) -> Shape:
        return inputs[0]

    @staticmethod
    def cost(a: UnusedArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return Cost(params=a.params, buffers=a.buffers, activations=batch * numel(out))

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.imported import Held

        return Held(node.args.params, node.args.buffers)
