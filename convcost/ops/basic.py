"""Linear, batch norm, activations, and the ops that only move or reshape data."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..costmodel.cost import Cost
from .registry import NoArgs, Shape, ShapeError, arg, boolean, number, numel, op, pos_float, pos_int, probability
from .shapes import fmt_shape


@dataclass(frozen=True)
class LinearArgs:
    out: int = field(metadata=arg(pos_int, "output features"))
    bias: bool = field(default=True, metadata=arg(boolean, "learnable bias"))


@op("linear", category="linear", args=LinearArgs, aliases=("fc",))
class Linear:
    """Fully connected layer on a flat feature vector (torch.nn.Linear)."""

    @staticmethod
    def shape(a: LinearArgs, inputs: tuple[Shape, ...]) -> Shape:
        if len(inputs[0]) != 1:
            raise ShapeError(f"linear needs a flat input, got {fmt_shape(inputs[0])}; add 'flatten' (or a global pool) before it")
        return (a.out,)

    @staticmethod
    def cost(a: LinearArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        f_in = inputs[0][0]
        return Cost(
            params=f_in * a.out + (a.out if a.bias else 0),
            macs=batch * f_in * a.out,
            bias_ops=batch * a.out if a.bias else 0,
            activations=batch * a.out,
        )


@dataclass(frozen=True)
class BatchNormArgs:
    eps: float = field(default=1e-5, metadata=arg(pos_float, "epsilon"))
    momentum: float = field(default=0.1, metadata=arg(probability, "running-stats momentum"))
    affine: bool = field(default=True, metadata=arg(boolean, "learnable scale and shift"))


@op("batchnorm", category="norm", args=BatchNormArgs, aliases=("bn",))
class BatchNorm:
    """Batch normalisation over channels (torch.nn.BatchNorm2d / BatchNorm1d), inference mode."""

    @staticmethod
    def shape(a: BatchNormArgs, inputs: tuple[Shape, ...]) -> Shape:
        if len(inputs[0]) not in (1, 3):
            raise ShapeError("batchnorm needs a C×H×W or flat input")
        return inputs[0]

    @staticmethod
    def cost(a: BatchNormArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        c = out[0]
        n = batch * numel(out)
        return Cost(
            params=2 * c if a.affine else 0,
            buffers=2 * c + 1,  # running_mean, running_var, num_batches_tracked
            norm_ops=2 * n,  # folded scale and shift per element
            activations=n,
        )


class _Elementwise:
    """Shared shape and cost of one-input activations: one op per element."""

    @staticmethod
    def shape(a: object, inputs: tuple[Shape, ...]) -> Shape:
        return inputs[0]

    @staticmethod
    def cost(a: object, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        n = batch * numel(out)
        return Cost(act_ops=n, activations=n)


@dataclass(frozen=True)
class LeakyArgs:
    slope: float = field(default=0.01, metadata=arg(number, "negative slope"))


def _activation(name: str, summary: str, args: type = NoArgs, aliases: tuple[str, ...] = ()) -> None:
    cls = type(name.title(), (_Elementwise,), {"__doc__": summary})
    op(name, category="activation", args=args, aliases=aliases)(cls)


_activation("relu", "ReLU, max(x, 0).")
_activation("relu6", "ReLU6, min(max(x, 0), 6).")
_activation("leaky_relu", "Leaky ReLU.", LeakyArgs)
_activation("sigmoid", "Logistic sigmoid.")
_activation("silu", "SiLU / swish, x·sigmoid(x).", aliases=("swish",))
_activation("hardswish", "Hard swish (MobileNetV3).")
_activation("hardsigmoid", "Hard sigmoid (MobileNetV3 squeeze-excite).")
_activation("gelu", "GELU.")
_activation("tanh", "Hyperbolic tangent.")


class _PassThrough:
    @staticmethod
    def shape(a: object, inputs: tuple[Shape, ...]) -> Shape:
        return inputs[0]

    @staticmethod
    def cost(a: object, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return Cost(activations=batch * numel(out))


@dataclass(frozen=True)
class DropoutArgs:
    p: float = field(default=0.5, metadata=arg(probability, "drop probability (training only)"))


@op("dropout", category="identity", args=DropoutArgs)
class Dropout(_PassThrough):
    """Dropout; the identity at inference, so no arithmetic."""


@op("identity", category="identity")
class Identity(_PassThrough):
    """Passes its input through unchanged."""


@op("flatten", category="reshape")
class Flatten:
    """Flattens C×H×W to one feature vector (torch.nn.Flatten); a view, no arithmetic."""

    @staticmethod
    def shape(a: NoArgs, inputs: tuple[Shape, ...]) -> Shape:
        return (numel(inputs[0]),)

    @staticmethod
    def cost(a: NoArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return Cost(activations=batch * numel(out))
