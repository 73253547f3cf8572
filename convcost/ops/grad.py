"""The backward pass of an op, as its definition states it: which gradients it computes and what they cost.

An op's ``backward(args, inputs, out, batch, need)`` returns a :class:`~convcost.cost.Backward` for the
whole batch. ``need`` says which gradients torch computes for this layer (costmodel/training.py decides,
from the graph and the frozen layers): ``need.inputs[k]`` for the k-th input (False for the model's input
and for any tensor no trainable parameter precedes), ``need.weights`` for the layer's own parameters
(False for a frozen layer or one without any). The helpers below are the shapes most ops share; every
formula is torch's backward formula (tools/autograd/derivatives.yaml), counted as docs/conventions.md
(*Backward*) says: MACs for the matmuls and convolutions, one op per element per arithmetic step for
the rest. No torch here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from ..cost import Backward, Cost
from .shapes import Shape, numel


class Need(NamedTuple):
    """Which gradients a layer's backward computes."""

    inputs: tuple[bool, ...]  # one per input of the layer
    weights: bool  # its parameters (trainable ones only)

    @property
    def any_input(self) -> bool:
        return any(self.inputs)

    @property
    def anything(self) -> bool:
        return self.weights or any(self.inputs)


class BackwardFn(Protocol):
    def __call__(self, args: Any, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward: ...


NONE = Backward()

# Per element, the derivative of an elementwise activation (one op, whatever the function, as its forward
# counts one) times the incoming gradient (one multiply).
ACTIVATION_BACKWARD_OPS = 2
# softmax: dx = y · (g − Σ g·y): per element a multiply g·y, its share of the sum, a subtract, a multiply.
SOFTMAX_BACKWARD_OPS = 4
# A normalisation (batch norm in training, layer/group/instance norm): per element x̂ = (x − μ)·σ⁻¹ (2), g·x̂ (1)
# and the sums Σg and Σg·x̂ (2) serve both gradients (the parameters' are those two sums); the input's gradient
# then takes σ⁻¹·(g − mean(g) − x̂·mean(g·x̂)) scaled by γ: 4 more per element.
NORM_SHARED_OPS = 5
NORM_INPUT_OPS = 4


def no_backward(args: Any, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
    """Views, slices, copies and concatenation: the gradient is the output's, sliced or copied back."""
    return NONE


def per_output_element(input_ops: int, weight_ops: int = 0) -> BackwardFn:
    """An elementwise op: ``input_ops`` per output element for its input's gradient, ``weight_ops`` per output
    element for its parameters' (a PReLU's slope, a layer scale: a product with the input, then a sum)."""

    def backward(args: Any, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
        n = batch * numel(out)
        return Backward(input_ops=input_ops * n if need.any_input else 0, weight_ops=weight_ops * n if need.weights else 0)

    return backward


def per_input_element(ops: int) -> BackwardFn:
    """``ops`` per element of the (first) input for its gradient (a mean's backward: g/N to every element)."""

    def backward(args: Any, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
        return Backward(input_ops=ops * batch * numel(inputs[0]) if need.any_input else 0)

    return backward


def like_forward_of(cost: Callable[[Any, tuple[Shape, ...], Shape, int], Cost], field: str) -> BackwardFn:
    """The input's gradient costs what the forward's ``field`` counts (pools, upsampling: each window element or
    tap receives its share of the output gradient, one add each, as the forward reads each one)."""

    def backward(args: Any, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
        return Backward(input_ops=getattr(cost(args, inputs, out, batch), field) if need.any_input else 0)

    return backward


def matmul_backward(cost: Cost, need: Need) -> Backward:
    """conv, linear, transposed conv: the input's gradient is a conv/matmul of the output gradient with the
    weight (the forward's MACs: a transposed convolution, g·W), the weight's a conv/matmul of the input with the
    output gradient (the forward's MACs again: xᵀ·g), the bias's a sum of the output gradient (one add per
    output element, as the forward adds it)."""
    return Backward(
        input_macs=cost.macs if need.any_input else 0,
        weight_macs=cost.macs if need.weights else 0,
        weight_ops=cost.bias_ops if need.weights else 0,
    )


def normalization(elements: int, need: Need, affine: bool = True) -> Backward:
    """A normalisation over ``elements`` (batch norm in training mode, layer/group/instance norm):
    NORM_SHARED_OPS per element for x̂, g·x̂ and the two sums, NORM_INPUT_OPS more for the input's gradient.
    The parameters' gradients are the two sums (per channel: not counted, as the forward's per-statistic work)."""
    wants_weights = need.weights and affine
    if need.any_input:
        return Backward(input_ops=(NORM_SHARED_OPS + NORM_INPUT_OPS) * elements)
    if wants_weights:
        return Backward(weight_ops=NORM_SHARED_OPS * elements)
    return NONE
