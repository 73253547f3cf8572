"""Immutable per-layer cost records that add up."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Cost:
    """What one layer (or a sum of layers) costs for one forward pass of the whole batch.

    ``macs`` are multiply-adds of conv/linear. Work that is not a multiply-add is counted
    separately, one operation per element touched: ``bias_ops`` (bias adds), ``norm_ops``
    (inference batch norm: a scale and a shift per element = 2; layer/group/instance norm, which
    compute their statistics: 5 with affine, 3 without), ``act_ops`` (one per activation output;
    softmax 3), ``pool_ops`` (one per element of every pooling window, padding and ceil-mode overhang
    included: k_h·k_w per output; adaptive pooling: torch's window sizes; upsampling: one per
    interpolation tap, nearest none), ``elementwise_ops`` (residual add, gating multiply, layer scale).
    ``activations`` is the number of output elements the layer produces.
    """

    params: int = 0
    buffers: int = 0
    macs: int = 0
    bias_ops: int = 0
    norm_ops: int = 0
    act_ops: int = 0
    pool_ops: int = 0
    elementwise_ops: int = 0
    activations: int = 0

    def __add__(self, other: Cost) -> Cost:
        if not isinstance(other, Cost):
            return NotImplemented
        # Spelled out: sums over scopes run once per layer and scope level (hot on big graphs).
        return Cost(
            params=self.params + other.params,
            buffers=self.buffers + other.buffers,
            macs=self.macs + other.macs,
            bias_ops=self.bias_ops + other.bias_ops,
            norm_ops=self.norm_ops + other.norm_ops,
            act_ops=self.act_ops + other.act_ops,
            pool_ops=self.pool_ops + other.pool_ops,
            elementwise_ops=self.elementwise_ops + other.elementwise_ops,
            activations=self.activations + other.activations,
        )

    def __radd__(self, other: object) -> Cost:
        if other == 0:  # lets sum() start from 0
            return self
        return NotImplemented

    @property
    def non_mac_ops(self) -> int:
        return self.bias_ops + self.norm_ops + self.act_ops + self.pool_ops + self.elementwise_ops

    @property
    def flops(self) -> int:
        """2 FLOPs per MAC plus one per non-MAC operation."""
        return 2 * self.macs + self.non_mac_ops

    def as_dict(self) -> dict[str, int]:
        out = dict(zip(FIELDS, astuple_fast(self)))
        out["flops"] = self.flops
        return out


FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Cost))


def astuple_fast(c: Cost) -> tuple[int, ...]:
    """The field values in order (dataclasses.astuple deep-copies and is slow)."""
    return tuple(getattr(c, name) for name in FIELDS)


@dataclass(frozen=True)
class Backward:
    """What one layer's backward pass costs for the whole batch (``convcost analyze --training``).

    Split as torch computes it: ``input_*`` is the gradient with respect to the layer's inputs (none where
    no input needs one: the model input, or a frozen prefix), ``weight_*`` the gradient of its parameters
    (none where they are frozen), both in MACs (the matmuls and convolutions of the backward formulas) and
    non-MAC ops (one per element per arithmetic step of the formula, docs/conventions.md, *Backward*).
    ``accumulate_ops`` adds the gradients of an output read by several layers (one add per element per
    extra reader). Work shared by both gradients (attention's internal gradients, a norm's statistics) is
    counted with the input gradient when the layer computes one, else with the weight gradient.
    """

    input_macs: int = 0
    input_ops: int = 0
    weight_macs: int = 0
    weight_ops: int = 0
    accumulate_ops: int = 0

    def __add__(self, other: Backward) -> Backward:
        if not isinstance(other, Backward):
            return NotImplemented
        return Backward(
            self.input_macs + other.input_macs,
            self.input_ops + other.input_ops,
            self.weight_macs + other.weight_macs,
            self.weight_ops + other.weight_ops,
            self.accumulate_ops + other.accumulate_ops,
        )

    def __radd__(self, other: object) -> Backward:
        if other == 0:
            return self
        return NotImplemented

    @property
    def macs(self) -> int:
        return self.input_macs + self.weight_macs

    @property
    def input_flops(self) -> int:
        return 2 * self.input_macs + self.input_ops

    @property
    def weight_flops(self) -> int:
        return 2 * self.weight_macs + self.weight_ops

    @property
    def flops(self) -> int:
        """2 FLOPs per MAC plus every non-MAC op, both gradients and the accumulation."""
        return self.input_flops + self.weight_flops + self.accumulate_ops

    def as_dict(self) -> dict[str, int]:
        return {
            "input_macs": self.input_macs, "input_ops": self.input_ops, "weight_macs": self.weight_macs,
            "weight_ops": self.weight_ops, "accumulate_ops": self.accumulate_ops, "input_flops": self.input_flops,
            "weight_flops": self.weight_flops, "flops": self.flops,
        }


# The named totals users compare, budget and chart ('flops' is derived from the fields above).
METRICS = ("params", "macs", "flops", "activations")
ALL_METRICS = ("params", "buffers", "macs", "flops", "activations")
TITLES = {"params": "params", "buffers": "buffers", "macs": "MACs", "flops": "FLOPs", "activations": "activations"}


def metric(cost: Cost, name: str) -> int:
    """One named number of a Cost ('flops' is derived)."""
    return cost.flops if name == "flops" else int(getattr(cost, name))
