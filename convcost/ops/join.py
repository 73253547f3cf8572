"""Ops that join parallel branches: channel concat, elementwise add and multiply."""

from __future__ import annotations

from ..costmodel.cost import Cost
from .registry import NoArgs, Shape, ShapeError, numel, op
from .shapes import fmt_shape


@op("concat", category="join")
class Concat:
    """Concatenates branch outputs along channels (torch.cat(dim=1)); a copy, no arithmetic."""

    @staticmethod
    def shape(a: NoArgs, inputs: tuple[Shape, ...]) -> Shape:
        first = inputs[0]
        for i, s in enumerate(inputs[1:], start=2):
            if len(s) != len(first) or s[1:] != first[1:]:
                raise ShapeError(
                    f"cannot concat branch 1 ({fmt_shape(first)}) with branch {i} ({fmt_shape(s)}): "
                    "all branches must have the same H×W"
                )
        return (sum(s[0] for s in inputs), *first[1:])

    @staticmethod
    def cost(a: NoArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return Cost(activations=batch * numel(out))


@op("add", category="join")
class Add:
    """Elementwise sum of branches of equal shape (the residual add)."""

    @staticmethod
    def shape(a: NoArgs, inputs: tuple[Shape, ...]) -> Shape:
        first = inputs[0]
        for i, s in enumerate(inputs[1:], start=2):
            if s != first:
                raise ShapeError(
                    f"cannot add branch 1 ({fmt_shape(first)}) and branch {i} ({fmt_shape(s)}): shapes must be equal"
                    + ("; add a projection shortcut" if len(s) == len(first) else "")
                )
        return first

    @staticmethod
    def cost(a: NoArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        n = batch * numel(out)
        return Cost(elementwise_ops=(len(inputs) - 1) * n, activations=n)


def broadcast(a: Shape, b: Shape) -> Shape | None:
    if len(a) != len(b):
        return None
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            return None
        out.append(max(x, y))
    return tuple(out)


@op("multiply", category="join", aliases=("mul",))
class Multiply:
    """Elementwise product with broadcasting (squeeze-excite gating: C×H×W · C×1×1)."""

    @staticmethod
    def shape(a: NoArgs, inputs: tuple[Shape, ...]) -> Shape:
        out: Shape | None = inputs[0]
        for i, s in enumerate(inputs[1:], start=2):
            assert out is not None
            joined = broadcast(out, s)
            if joined is None:
                raise ShapeError(f"cannot multiply {fmt_shape(out)} by branch {i} ({fmt_shape(s)}): shapes do not broadcast")
            out = joined
        assert out is not None
        return out

    @staticmethod
    def cost(a: NoArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        n = batch * numel(out)
        return Cost(elementwise_ops=(len(inputs) - 1) * n, activations=n)
