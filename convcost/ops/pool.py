"""Pooling: windowed max/avg pooling (with ceil mode) and adaptive/global average pooling."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..costmodel.cost import Cost
from .conv import conv_out_size, spatial_check
from .counting import THOP_ZERO, Counted, Counting, Prediction, in_elements, out_elements
from .registry import NodeLike, Saves, Shape, ShapeError, arg, boolean, nonneg_int, op, optional, pair, pos_int
from .shapes import numel

if TYPE_CHECKING:
    from torch import nn

INDEX_BYTES = 8  # maxpool's saved indices are int64


@dataclass(frozen=True)
class PoolArgs:
    """Arguments of `maxpool` (and, with one more, `avgpool`)."""

    kernel: tuple[int, int] = field(metadata=arg(pair(pos_int), "window size"))
    stride: tuple[int, int] | None = field(default=None, metadata=arg(optional(pair(pos_int)), "stride (default: kernel)"))
    padding: tuple[int, int] = field(default=(0, 0), metadata=arg(pair(nonneg_int), "padding per side"))
    ceil_mode: bool = field(default=False, metadata=arg(boolean, "round the output size up (GoogLeNet)"))


def _window_shape(kind: str, a: PoolArgs, shape: Shape) -> Shape:
    c, h, w = spatial_check(kind, shape)
    stride = a.stride or a.kernel
    dims = []
    for size, k, s, p, axis in zip((h, w), a.kernel, stride, a.padding, "HW"):
        if 2 * p > k:
            raise ShapeError(f"padding {p} must be at most half the kernel {k} (as in torch)", "padding")
        out = conv_out_size(size, k, s, p, 1, a.ceil_mode)
        if out < 1:  # in ceil mode torch accepts a window larger than the input if one output remains
            raise ShapeError(f"kernel {k} is larger than the padded input {axis}={size + 2 * p}", "kernel")
        dims.append(out)
    return (c, dims[0], dims[1])


def _window_cost(a: PoolArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
    n = batch * out[0] * out[1] * out[2]
    # one op per element of every window, padding and ceil-mode overhang included (docs/conventions.md)
    return Cost(pool_ops=n * a.kernel[0] * a.kernel[1], activations=n)


def _averaged_saves(node: NodeLike) -> Saves:
    """An average pool to 1×1 is a mean over H, W to torch: its backward needs only the shape."""
    return Saves.NOTHING if node.shape[1:] == (1, 1) else Saves.INPUTS


def _ptflops_twice(kind: str, functional: str) -> Counted:
    """ptflops' pool hook (input elements) plus the patched pooling functional the module calls."""
    return Counted(
        lambda node, cost, batch: Prediction.of(**{node.rule.counting.category: 2 * in_elements(node, batch)}),
        f"ptflops counts {kind} input elements twice: its module hook and the patched {functional}",
    )


@op("maxpool", category="pool", args=PoolArgs)
class MaxPool:
    """Max pooling (torch.nn.MaxPool2d).
    torch's output-size rule, ceil mode included."""

    saves = Saves.INPUTS
    counting = Counting(
        "aten::max_pool2d", "nn.MaxPool2d", "max_pool", ptflops=_ptflops_twice("max-pool", "F.max_pool2d"), thop=THOP_ZERO
    )

    @staticmethod
    def saved_extra(node: NodeLike, batch: int, elem: int) -> int:
        return batch * numel(node.shape) * INDEX_BYTES

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        a: PoolArgs = node.args
        return nn.MaxPool2d(a.kernel, stride=a.stride or a.kernel, padding=a.padding, ceil_mode=a.ceil_mode)

    @staticmethod
    def shape(a: PoolArgs, inputs: tuple[Shape, ...]) -> Shape:
        return _window_shape("maxpool", a, inputs[0])

    cost = staticmethod(_window_cost)


@dataclass(frozen=True)
class AvgPoolArgs(PoolArgs):
    """Arguments of `avgpool`."""

    count_include_pad: bool = field(default=True, metadata=arg(boolean, "count padding in the average"))


@op("avgpool", category="pool", args=AvgPoolArgs)
class AvgPool:
    """Average pooling (torch.nn.AvgPool2d).
    torch's output-size rule, ceil mode included."""

    saves = staticmethod(_averaged_saves)
    counting = Counting(
        "aten::avg_pool2d", "nn.AvgPool2d", "avg_pool",
        ptflops=_ptflops_twice("avg-pool", "F.avg_pool2d"),
        thop=Counted(
            lambda node, cost, batch: Prediction.of(avg_pool=out_elements(node, batch)),
            "thop counts 1 per avg-pool output element",
        ),
    )

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        a: AvgPoolArgs = node.args
        return nn.AvgPool2d(
            a.kernel, stride=a.stride or a.kernel, padding=a.padding, ceil_mode=a.ceil_mode,
            count_include_pad=a.count_include_pad,
        )

    @staticmethod
    def shape(a: AvgPoolArgs, inputs: tuple[Shape, ...]) -> Shape:
        return _window_shape("avgpool", a, inputs[0])

    cost = staticmethod(_window_cost)


@dataclass(frozen=True)
class AdaptiveArgs:
    """Arguments of `adaptive_avgpool`."""

    out: tuple[int, int] = field(default=(1, 1), metadata=arg(pair(pos_int), "output size [h, w]"))


def adaptive_window_total(size: int, out: int) -> int:
    """Sum of the window lengths torch's adaptive pooling uses along one axis.

    Window i covers [floor(i·size/out), ceil((i+1)·size/out)); the sum of the ends minus the sum of
    the starts, each a floor sum computed in O(log) steps (an output of 10^9 costs no time).
    """
    ends = _floor_sum(out, out, size, size + out - 1)  # ceil((i+1)·size/out) = floor((i·size + size + out-1)/out)
    return ends - _floor_sum(out, out, size, 0)


def _floor_sum(n: int, m: int, a: int, b: int) -> int:
    """sum(floor((a·i + b) / m) for i in range(n)) for n, m ≥ 1 and a, b ≥ 0 (the Euclid-like reduction)."""
    total = 0
    while True:
        if a >= m:
            total += (n - 1) * n // 2 * (a // m)
            a %= m
        if b >= m:
            total += n * (b // m)
            b %= m
        y_max = a * n + b
        if y_max < m:
            return total
        n, b, m, a = y_max // m, y_max % m, a, m


def _adaptive_cost(a: AdaptiveArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
    c, h, w = inputs[0]
    reads = adaptive_window_total(h, out[1]) * adaptive_window_total(w, out[2])
    return Cost(pool_ops=batch * c * reads, activations=batch * out[0] * out[1] * out[2])


def _adaptive_thop(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # (kernel + 1) per output element, kernel = in/out size, in float64 as count_adap_avgpool computes
    # it (DoubleTensor division and product), then int(): 8 → 7 gives int((8/7 · 8/7 + 1) · 49) = 112,
    # where exact arithmetic gives 113
    _, h, w = node.in_shapes[0]
    _, oh, ow = node.shape
    per = (h / oh) * (w / ow) + 1
    return Prediction.of(adaptive_avg_pool=int(per * out_elements(node, batch)))


# Adaptive and global average pooling run the same module and aten op: counters see them alike.
ADAPTIVE_COUNTING = Counting(
    "aten::adaptive_avg_pool2d", "nn.AdaptiveAvgPool2d", "adaptive_avg_pool",
    fvcore=Counted(
        lambda node, cost, batch: Prediction.of(
            "aten::adaptive_avg_pool2d: 1 per input element", adaptive_avg_pool=in_elements(node, batch)
        ),
        "fvcore counts adaptive_avg_pool2d, 1 per input element",
    ),
    ptflops=Counted(
        lambda node, cost, batch: Prediction.of(adaptive_avg_pool=2 * in_elements(node, batch)),
        "ptflops counts adaptive-pool input elements twice: its module hook and the patched functional",
    ),
    thop=Counted(_adaptive_thop, "thop counts (window + 1) per adaptive-pool output element"),
)


@op("adaptive_avgpool", category="pool", args=AdaptiveArgs)
class AdaptiveAvgPool:
    """Adaptive average pooling to a fixed output size (torch.nn.AdaptiveAvgPool2d).
    torch's adaptive windows."""

    saves = staticmethod(_averaged_saves)
    counting = ADAPTIVE_COUNTING

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        a: AdaptiveArgs = node.args
        return nn.AdaptiveAvgPool2d(a.out)

    @staticmethod
    def shape(a: AdaptiveArgs, inputs: tuple[Shape, ...]) -> Shape:
        c, _, _ = spatial_check("adaptive_avgpool", inputs[0])
        return (c, a.out[0], a.out[1])

    cost = staticmethod(_adaptive_cost)


@dataclass(frozen=True)
class GlobalArgs:
    """Global average pooling takes no arguments; its output size is fixed at 1×1."""

    @property
    def out(self) -> tuple[int, int]:
        return (1, 1)


@op("global_avgpool", category="pool", args=GlobalArgs, aliases=("gap",))
class GlobalAvgPool:
    """Global average pooling to C×1×1 (torch.nn.AdaptiveAvgPool2d(1))."""

    saves = Saves.NOTHING  # a mean over H, W to torch (see _averaged_saves)
    counting = ADAPTIVE_COUNTING

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        return nn.AdaptiveAvgPool2d(1)

    @staticmethod
    def shape(a: GlobalArgs, inputs: tuple[Shape, ...]) -> Shape:
        c, _, _ = spatial_check("global_avgpool", inputs[0])
        return (c, 1, 1)

    cost = staticmethod(_adaptive_cost)
