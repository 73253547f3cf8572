"""Pooling: windowed max/avg pooling (with ceil mode), power-average (LP) pooling, fractional max pooling and
adaptive/global average and max pooling, in 1, 2 or 3 spatial dims (torch's MaxPool1d/2d/3d, AvgPool1d/2d/3d,
LPPool1d/2d/3d, FractionalMaxPool2d/3d, AdaptiveAvgPool1d/2d/3d, AdaptiveMaxPool1d/2d/3d)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import field
from typing import TYPE_CHECKING, Any

from ..cost import Backward, Cost
from .conv import conv_out_size
from .counting import (
    FUNCTION,
    FVCORE_UNSUPPORTED,
    THOP_ZERO,
    Counted,
    Counting,
    Prediction,
    form_of,
    in_elements,
    out_elements,
)
from .grad import ACTIVATION_BACKWARD_OPS, Need, like_forward_of
from .receptive import RF, adaptive, global_rf, taps, unknown, windows
from .registry import (
    ArgError,
    Dims,
    NodeLike,
    Saves,
    Shape,
    ShapeError,
    _show,
    arg,
    boolean,
    lazy_args,
    nonneg_int,
    op,
    optional,
    per_dim,
    pos_float,
    pos_int,
    refuse_unless,
    spec_dims,
    typed,
)
from .shapes import fmt_shape, numel
from .spatial import AXES, fit, spatial_input

if TYPE_CHECKING:
    from torch import nn

INDEX_BYTES = 8  # maxpool's saved indices are int64


@lazy_args
class PoolArgs:
    """Arguments of `maxpool` (and, with one more, `avgpool`)."""

    kernel: Dims = field(metadata=arg(per_dim(pos_int), "window size"))
    stride: Dims | None = field(default=None, metadata=arg(optional(per_dim(pos_int)), "stride (default: kernel)"))
    padding: Dims = field(default=0, metadata=arg(per_dim(nonneg_int), "padding per side"))
    ceil_mode: bool = field(default=False, metadata=arg(boolean, "round the output size up (GoogLeNet)", compared=False))


def _resolver(kind: str) -> Callable[[PoolArgs, tuple[Shape, ...]], PoolArgs]:
    """The pool's arguments with one value per spatial dim of its input (ops/spatial.py)."""

    def resolve(a: PoolArgs, inputs: tuple[Shape, ...]) -> PoolArgs:
        shape = inputs[0]
        spatial_input(kind, shape)
        kernel = fit(a.kernel, "kernel", shape)
        stride = kernel if a.stride is None else fit(a.stride, "stride", shape)
        return dataclasses.replace(a, kernel=kernel, stride=stride, padding=fit(a.padding, "padding", shape))

    return resolve


def _window_shape(kind: str, a: PoolArgs, shape: Shape) -> Shape:
    c, sizes = spatial_input(kind, shape)
    stride = a.stride or a.kernel
    dims = []
    for size, k, s, p, axis in zip(sizes, a.kernel, stride, a.padding, AXES[len(sizes)]):
        if 2 * p > k:
            raise ShapeError(f"padding {p} must be at most half the kernel {k} (as in torch)", "padding")
        if kind == "avgpool" and len(sizes) == 3 and k > size:  # pool3d_shape_check(check_input_size=true)
            raise ShapeError(f"kernel {k} is larger than the input {axis}={size} (torch's avg_pool3d refuses it)", "kernel")
        out = conv_out_size(size, k, s, p, 1, a.ceil_mode)
        if out < 1:  # in ceil mode torch accepts a window larger than the input if one output remains
            raise ShapeError(f"kernel {k} is larger than the padded input {axis}={size + 2 * p}", "kernel")
        dims.append(out)
    return (c, *dims)


def _window_cost(a: PoolArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
    n = batch * numel(out)
    # one op per element of every window, padding and ceil-mode overhang included (docs/conventions.md)
    return Cost(pool_ops=n * numel(a.kernel), activations=n)


def _window_rf(a: PoolArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
    return windows(a.kernel, a.stride or a.kernel, a.padding)  # a ceil-mode overhang reads past the end: no data


def _adaptive_rf(a: Any, inputs: tuple[Shape, ...], out: Shape) -> RF:
    if all(o == 1 for o in out[1:]):
        return GLOBAL_POOL_RF
    return taps(*(adaptive(size, o) for size, o in zip(inputs[0][1:], out[1:])))


GLOBAL_POOL_RF = global_rf("global pooling averages every position")


def _averaged_saves(node: NodeLike) -> Saves:
    """An adaptive average pool to 1×1 (1, 1×1×1) is a mean over the spatial dims to torch: its backward
    needs only the shape. (A windowed avgpool is not: avg_pool1d/2d/3d's backward keeps its input whatever
    the output size.)"""
    return Saves.NOTHING if all(d == 1 for d in node.shape[1:]) else Saves.INPUTS


def _ptflops_twice(kind: str, functional: str) -> Counted:
    """ptflops' pool hook (input elements) plus the patched pooling functional the module calls."""
    return Counted(
        lambda node, cost, batch: Prediction.of(**{node.rule.counting.category: 2 * in_elements(node, batch)}),
        f"ptflops counts {kind} input elements twice: its module hook and the patched {functional}",
    )


def _functional_once(functional: str) -> Counted:
    """ptflops without its module hook (a function, a subclass): the patched pooling functional, 1 per input element."""
    return Counted(
        lambda node, cost, batch: Prediction.of(**{node.rule.counting.category: in_elements(node, batch)}),
        f"ptflops counts {functional} once per input element, through its patched functional",
    )


def _torchscan_kernel(a: PoolArgs) -> int:
    """The kernel size torchscan multiplies by: prod(kernel_size) for a tuple, but an int kernel_size as it is (a
    3×3 window built as MaxPool2d(3), as torchvision builds it, counts 3)."""
    return a.kernel[0] if len(set(a.kernel)) == 1 else numel(a.kernel)


def _torchscan_max(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # macs_maxpool: out.numel() · (k_size − 1)
    return Prediction.of(max_pool=out_elements(node, batch) * (_torchscan_kernel(node.args) - 1))


def _torchscan_avg(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # macs_avgpool: out.numel() · (k_size − 1 + inp.ndim − 2), inp.ndim with the batch
    return Prediction.of(avg_pool=out_elements(node, batch) * (_torchscan_kernel(node.args) - 1 + len(node.shape) - 1))


_TORCHSCAN_KERNEL_WHY = "torchscan takes an int kernel_size as the whole window (a 3×3 pool built as MaxPool2d(3) counts 3)"
_CALFLOPS_POOL_FLOPS = Counted(
    lambda node, cost, batch: Prediction.of(**{node.rule.counting.category: in_elements(node, batch)}),
    "calflops counts 1 FLOP per pooled input element (its patched F.*_pool*)",
)
_CALFLOPS_NO_MACS = Counted(lambda node, cost, batch: Prediction.unseen("calflops counts pooling as FLOPs, with 0 MACs"))


def _window_kwargs(a: PoolArgs) -> dict[str, Any]:
    """A window pool's arguments as torch takes them, one int where every dim agrees (torchvision's MaxPool2d(3, 2, 1)),
    else a tuple as users write it (torchscan multiplies a tuple kernel_size out and fails on a list)."""

    def dims(value: Any) -> Any:
        v = spec_dims(value)
        return tuple(v) if isinstance(v, list) else v

    return {"kernel_size": dims(a.kernel), "stride": dims(a.stride or a.kernel), "padding": dims(a.padding),
            "ceil_mode": a.ceil_mode}


@op("maxpool", category="pool", args=PoolArgs)
class MaxPool:
    """Max pooling (torch.nn.MaxPool1d / MaxPool2d / MaxPool3d).
    torch's output-size rule, ceil mode included."""

    imports = ("MaxPool1d", "MaxPool2d", "MaxPool3d")

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        refuse_unless(spec_dims(m.dilation) == 1, f"dilation={m.dilation}")
        refuse_unless(not m.return_indices, "return_indices=True")
        return _pool_args(m)

    saves = Saves.INPUTS
    resolve = staticmethod(_resolver("maxpool"))
    rf = staticmethod(_window_rf)

    @staticmethod
    def backward(a: PoolArgs, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
        # each output's gradient is added into its window's maximum (the saved index): 1 per output element
        return Backward(input_ops=batch * numel(out) if need.any_input else 0)
    counting = Counting(
        "aten::max_pool{n}d", "nn.MaxPool{n}d", "max_pool", ptflops=_ptflops_twice("max-pool", "F.max_pool{n}d"),
        thop=THOP_ZERO,
        function="F.max_pool{n}d", subclass=True,
        ptflops_functional=_functional_once("F.max_pool{n}d"),
        torchscan=Counted(_torchscan_max, _TORCHSCAN_KERNEL_WHY),
        calflops=_CALFLOPS_NO_MACS,
        calflops_flops=_CALFLOPS_POOL_FLOPS,
    )

    @staticmethod
    def saved_extra(node: NodeLike, batch: int, elem: int) -> int:
        return batch * numel(node.shape) * INDEX_BYTES

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        a: PoolArgs = node.args
        if form_of(node) == FUNCTION:
            from ..modules.call import Functional

            return Functional(f"F.max_pool{len(a.kernel)}d", **_window_kwargs(a))
        cls = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)[len(a.kernel) - 1]
        return cls(**_window_kwargs(a))

    @staticmethod
    def shape(a: PoolArgs, inputs: tuple[Shape, ...]) -> Shape:
        return _window_shape("maxpool", a, inputs[0])

    cost = staticmethod(_window_cost)


@lazy_args
class AvgPoolArgs(PoolArgs):
    """Arguments of `avgpool`."""

    count_include_pad: bool = field(default=True, metadata=arg(boolean, "count padding in the average"))
    divisor: int | None = field(
        default=None,
        metadata=arg(optional(pos_int), "divide every window's sum by this instead of its size (torch's divisor_override; "
                                        "C×H×W and C×D×H×W only)"),
    )


@op("avgpool", category="pool", args=AvgPoolArgs)
class AvgPool:
    """Average pooling (torch.nn.AvgPool1d / AvgPool2d / AvgPool3d).
    torch's output-size rule, ceil mode included. `divisor` is torch's divisor_override (2-D and 3-D): the same
    window sums, divided by a fixed number; the same cost."""

    imports = ("AvgPool1d", "AvgPool2d", "AvgPool3d")

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        divisor = getattr(m, "divisor_override", None)
        return {**_pool_args(m), "count_include_pad": m.count_include_pad, **({"divisor": divisor} if divisor else {})}

    saves = Saves.INPUTS  # avg_pool*d's backward keeps its input, even for a 1×1 output (torch's derivatives.yaml)
    resolve = staticmethod(_resolver("avgpool"))
    rf = staticmethod(_window_rf)
    backward = staticmethod(like_forward_of(_window_cost, "pool_ops"))  # g/count added to every window element
    counting = Counting(
        "aten::avg_pool{n}d", "nn.AvgPool{n}d", "avg_pool",
        ptflops=_ptflops_twice("avg-pool", "F.avg_pool{n}d"),
        thop=Counted(
            lambda node, cost, batch: Prediction.of(avg_pool=out_elements(node, batch)),
            "thop counts 1 per avg-pool output element",
        ),
        function="F.avg_pool{n}d", subclass=True,
        ptflops_functional=_functional_once("F.avg_pool{n}d"),
        torchscan=Counted(_torchscan_avg, _TORCHSCAN_KERNEL_WHY),
        calflops=_CALFLOPS_NO_MACS,
        calflops_flops=_CALFLOPS_POOL_FLOPS,
    )

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        a: AvgPoolArgs = node.args
        kwargs = {**_window_kwargs(a), "count_include_pad": a.count_include_pad}
        if a.divisor is not None:  # AvgPool2d/3d only (the shape rule refuses it on C×L)
            kwargs["divisor_override"] = a.divisor
        if form_of(node) == FUNCTION:
            from ..modules.call import Functional

            return Functional(f"F.avg_pool{len(a.kernel)}d", **kwargs)
        cls = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)[len(a.kernel) - 1]
        return cls(**kwargs)

    @staticmethod
    def shape(a: AvgPoolArgs, inputs: tuple[Shape, ...]) -> Shape:
        out = _window_shape("avgpool", a, inputs[0])
        if a.divisor is not None and len(inputs[0]) == 2:
            raise ShapeError("'divisor' needs a C×H×W or C×D×H×W input: torch's AvgPool1d and F.avg_pool1d have no "
                             f"divisor_override, got {fmt_shape(inputs[0])}", "divisor")
        return out

    cost = staticmethod(_window_cost)


@lazy_args
class AdaptiveArgs:
    """Arguments of `adaptive_avgpool` and `adaptive_maxpool`."""

    out: Dims = field(default=1, metadata=arg(per_dim(pos_int), "output size, one per spatial dim ([h, w])"))


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
    c = inputs[0][0]
    reads = 1
    for size, o in zip(inputs[0][1:], out[1:]):
        reads *= adaptive_window_total(size, o)
    return Cost(pool_ops=batch * c * reads, activations=batch * numel(out))


def _adaptive_thop(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # (kernel + 1) per output element, kernel = in/out size, in float64 as count_adap_avgpool computes
    # it (DoubleTensor division and product), then int(): 8 → 7 gives int((8/7 · 8/7 + 1) · 49) = 112,
    # where exact arithmetic gives 113
    kernel = 1.0
    for size, o in zip(node.in_shapes[0][1:], node.shape[1:]):
        kernel *= size / o
    return Prediction.of(adaptive_avg_pool=int((kernel + 1) * out_elements(node, batch)))


def _adaptive_fvcore(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    if len(node.shape) != 3:  # only aten::adaptive_avg_pool2d has a handle, not the 1d and 3d ops
        return FVCORE_UNSUPPORTED.predict(node, cost, batch)
    return Prediction.of("aten::adaptive_avg_pool2d: 1 per input element", adaptive_avg_pool=in_elements(node, batch))


def _torchscan_adaptive(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # macs_adaptive_avgpool: out.numel() · (prod(kernel) − 1 + len(kernel)), adaptive_kernel_size's kernel per dim:
    # in // out where out divides in, else in % out + 1
    kernel = [i // o if i % o == 0 else i % o + 1 for i, o in zip(node.in_shapes[0][1:], node.shape[1:])]
    return Prediction.of(adaptive_avg_pool=out_elements(node, batch) * (numel(kernel) - 1 + len(kernel)))


# Adaptive and global average pooling run the same module and aten op: counters see them alike.
ADAPTIVE_COUNTING = Counting(
    "aten::adaptive_avg_pool{n}d", "nn.AdaptiveAvgPool{n}d", "adaptive_avg_pool",
    fvcore=Counted(_adaptive_fvcore, "fvcore counts adaptive_avg_pool2d, 1 per input element"),
    ptflops=Counted(
        lambda node, cost, batch: Prediction.of(adaptive_avg_pool=2 * in_elements(node, batch)),
        "ptflops counts adaptive-pool input elements twice: its module hook and the patched functional",
    ),
    thop=Counted(_adaptive_thop, "thop counts (window + 1) per adaptive-pool output element"),
    function="F.adaptive_avg_pool{n}d", subclass=True,
    ptflops_functional=_functional_once("F.adaptive_avg_pool{n}d"),
    torchscan=Counted(_torchscan_adaptive, "torchscan counts (window − 1 + dims) per adaptive-pool output element"),
    calflops=_CALFLOPS_NO_MACS,
    calflops_flops=_CALFLOPS_POOL_FLOPS,
)


def _adaptive_module(node: NodeLike, out: tuple[int, ...]) -> nn.Module:
    from torch import nn

    if form_of(node) == FUNCTION:  # torchvision's MobileNetV2: F.adaptive_avg_pool2d(x, (1, 1))
        from ..modules.call import Functional

        return Functional(f"F.adaptive_avg_pool{len(out)}d", out)
    size = spec_dims(out)  # one number when all dims agree (as torchvision writes it), else torch's tuple
    return (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)[len(out) - 1](
        size if isinstance(size, int) else tuple(size))


@op("adaptive_avgpool", category="pool", args=AdaptiveArgs)
class AdaptiveAvgPool:
    """Adaptive average pooling to a fixed output size (torch.nn.AdaptiveAvgPool1d / 2d / 3d).
    torch's adaptive windows."""

    imports = ("AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d")

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any] | None:
        out = spec_dims(m.output_size)
        refuse_unless(out is not None and (not isinstance(out, list) or None not in out), f"output_size={m.output_size}")
        return None if out == 1 else {"out": out}  # 1: global_avgpool's

    saves = staticmethod(_averaged_saves)
    counting = ADAPTIVE_COUNTING
    rf = staticmethod(_adaptive_rf)
    backward = staticmethod(like_forward_of(_adaptive_cost, "pool_ops"))  # g/count added to every window element

    @staticmethod
    def resolve(a: AdaptiveArgs, inputs: tuple[Shape, ...]) -> AdaptiveArgs:
        spatial_input("adaptive_avgpool", inputs[0])
        return AdaptiveArgs(fit(a.out, "out", inputs[0]))

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        return _adaptive_module(node, node.args.out)

    @staticmethod
    def shape(a: AdaptiveArgs, inputs: tuple[Shape, ...]) -> Shape:
        return (inputs[0][0], *a.out)

    cost = staticmethod(_adaptive_cost)


# ---- adaptive max pooling ------------------------------------------------------------------------------------------
def _adaptive_max_rf(a: Any, inputs: tuple[Shape, ...], out: Shape) -> RF:
    if all(o == 1 for o in out[1:]):
        return GLOBAL_MAX_RF
    return taps(*(adaptive(size, o) for size, o in zip(inputs[0][1:], out[1:])))


GLOBAL_MAX_RF = global_rf("a global max pool compares every position")


def _adaptive_kernel(node: NodeLike) -> list[int]:
    """torchscan's adaptive_kernel_size: in // out per dim where out divides in, else in % out + 1."""
    return [i // o if i % o == 0 else i % o + 1 for i, o in zip(node.in_shapes[0][1:], node.shape[1:])]


def _torchscan_adaptive_max(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # macs_adaptive_maxpool: out.numel() · (prod(kernel) − 1), with adaptive_kernel_size's kernel
    return Prediction.of(adaptive_max_pool=out_elements(node, batch) * (numel(_adaptive_kernel(node)) - 1))


# nn.AdaptiveMaxPool{n}d's forward calls F.adaptive_max_pool{n}d: ptflops' module hook (pool_flops_counter_hook: input
# elements) and its patched functional (input elements) both count it; thop registers the modules as zero_ops; fvcore
# has no handle for aten::adaptive_max_pool{n}d
ADAPTIVE_MAX_COUNTING = Counting(
    "aten::adaptive_max_pool{n}d", "nn.AdaptiveMaxPool{n}d", "adaptive_max_pool",
    ptflops=_ptflops_twice("adaptive max-pool", "F.adaptive_max_pool{n}d"),
    thop=THOP_ZERO,
    function="F.adaptive_max_pool{n}d", subclass=True,
    ptflops_functional=_functional_once("F.adaptive_max_pool{n}d"),
    torchscan=Counted(_torchscan_adaptive_max, "torchscan counts (window − 1) per adaptive max-pool output element, its "
                                               "window in // out, or in % out + 1 where out does not divide in"),
    calflops=_CALFLOPS_NO_MACS,
    calflops_flops=_CALFLOPS_POOL_FLOPS,
)


@op("adaptive_maxpool", category="pool", args=AdaptiveArgs)
class AdaptiveMaxPool:
    """Adaptive max pooling to a fixed output size (torch.nn.AdaptiveMaxPool1d / 2d / 3d; `out: 1` is global max pooling).
    torch's adaptive windows, which differ in size where the output does not divide the input: one op per element of
    every window, summed over the real windows (as adaptive_avgpool)."""

    imports = ("AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d")

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        out = spec_dims(m.output_size)
        refuse_unless(out is not None and (not isinstance(out, list) or None not in out), f"output_size={m.output_size}")
        refuse_unless(not m.return_indices, "return_indices=True")
        return {"out": out}

    saves = Saves.INPUTS  # adaptive_max_pool*d_backward(grad, self, indices): the input and the indices
    counting = ADAPTIVE_MAX_COUNTING
    rf = staticmethod(_adaptive_max_rf)

    @staticmethod
    def backward(a: AdaptiveArgs, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
        # each output's gradient is added into its window's maximum (the saved index): 1 per output element
        return Backward(input_ops=batch * numel(out) if need.any_input else 0)

    @staticmethod
    def saved_extra(node: NodeLike, batch: int, elem: int) -> int:
        return batch * numel(node.shape) * INDEX_BYTES  # the int64 indices of the maxima

    @staticmethod
    def resolve(a: AdaptiveArgs, inputs: tuple[Shape, ...]) -> AdaptiveArgs:
        spatial_input("adaptive_maxpool", inputs[0])
        return AdaptiveArgs(fit(a.out, "out", inputs[0]))

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        out: tuple[int, ...] = node.args.out
        if form_of(node) == FUNCTION:
            from ..modules.call import Functional

            return Functional(f"F.adaptive_max_pool{len(out)}d", out)
        size = spec_dims(out)
        return (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)[len(out) - 1](
            size if isinstance(size, int) else tuple(size))

    @staticmethod
    def shape(a: AdaptiveArgs, inputs: tuple[Shape, ...]) -> Shape:
        return (inputs[0][0], *a.out)

    cost = staticmethod(_adaptive_cost)  # one op per element of every window, summed exactly (adaptive_window_total)


# ---- power-average (LP) pooling ------------------------------------------------------------------------------------
@lazy_args
class LPPoolArgs:
    """Arguments of `lppool`."""

    norm: float = field(metadata=arg(pos_float, "the power p: each window gives (Σ x^p)^(1/p) (torch's norm_type)"))
    kernel: Dims = field(metadata=arg(per_dim(pos_int), "window size"))
    stride: Dims | None = field(default=None, metadata=arg(optional(per_dim(pos_int)), "stride (default: kernel)"))
    ceil_mode: bool = field(default=False, metadata=arg(boolean, "round the output size up", compared=False))

    def compared(self) -> tuple[tuple[str, Any], ...]:
        """What `verify --reference` compares: the power and the window, its stride as it acts (none given: the kernel;
        torch keeps None)."""
        return (("norm", self.norm), ("kernel", self.kernel), ("stride", self.stride or self.kernel))


# per output element after the window sum, what F.lp_pool*d computes: sign(out), abs(out), relu(·), their product,
# the product with the window size (the average back to a sum), the p-th root
LP_OUT_OPS = 6
LP_SAVED_OUT = 4  # out-sized tensors autograd keeps: the average (abs's input), sign(out), relu's result, the ·k product


def _lp_window(a: LPPoolArgs) -> PoolArgs:
    return PoolArgs(a.kernel, a.stride, (0,) * len(a.kernel), a.ceil_mode)


def _lp_cost(a: LPPoolArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
    n = batch * numel(out)
    # x^p per input element; one op per window element (the avg_pool it runs: padding 0, ceil-mode overhang included);
    # LP_OUT_OPS per output element (docs/conventions.md)
    return Cost(pool_ops=n * numel(a.kernel), elementwise_ops=batch * numel(inputs[0]) + LP_OUT_OPS * n, activations=n)


def _lp_ptflops(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # no module hook for nn.LPPool*d; F.lp_pool*d calls the patched avg_pool*d (its input's elements: x^p, the input's
    # size) and relu (output elements) and Tensor.mul by the window size (output elements)
    return Prediction.of(lp_pool=in_elements(node, batch) + 2 * out_elements(node, batch))


_LP_PATCHED = ("{tool} counts F.lp_pool{{n}}d through the patched functions it calls: avg_pool{{n}}d (input elements), "
               "relu and Tensor.mul (output elements each)")


@op("lppool", category="pool", args=LPPoolArgs)
class LPPool:
    """Power-average pooling, (Σ x^p)^(1/p) over each window (torch.nn.LPPool1d / 2d / 3d, F.lp_pool*d).
    torch's output-size rule (an average pool, padding 0, ceil mode as given); x^p per input element (elementwise), one
    op per window element (pool ops), and per output element the 6 steps F.lp_pool*d takes after the sum (sign, abs,
    relu, their product, ×window size, the root: elementwise). A finite positive p (torch's norm_type=inf is a max pool
    of |x|)."""

    imports = ("LPPool1d", "LPPool2d", "LPPool3d")

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        norm = float(m.norm_type)
        refuse_unless(0 < norm < float("inf"), f"norm_type={m.norm_type}")
        return {"norm": norm, "kernel": spec_dims(m.kernel_size), "stride": spec_dims(m.stride), "ceil_mode": m.ceil_mode}

    saves = Saves.INPUTS  # x.pow(p) keeps x; the rest: saved_extra

    @staticmethod
    def saved_extra(node: NodeLike, batch: int, elem: int) -> int:
        # avg_pool keeps its input x^p (the input's size); abs, relu, the sign·relu product and the root keep
        # LP_SAVED_OUT out-sized tensors
        return batch * (numel(node.in_shapes[0]) + LP_SAVED_OUT * numel(node.shape)) * elem

    @staticmethod
    def resolve(a: LPPoolArgs, inputs: tuple[Shape, ...]) -> LPPoolArgs:
        shape = inputs[0]
        spatial_input("lppool", shape)
        kernel = fit(a.kernel, "kernel", shape)
        stride = None if a.stride is None else fit(a.stride, "stride", shape)  # None: the kernel, as torch keeps it
        return dataclasses.replace(a, kernel=kernel, stride=stride)

    @staticmethod
    def rf(a: LPPoolArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
        return windows(a.kernel, a.stride or a.kernel, (0,) * len(a.kernel))

    @staticmethod
    def backward(a: LPPoolArgs, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
        # every elementwise step's derivative times the gradient (2 each, as an activation's), and each window element's
        # share of its output's gradient (1 each, as avgpool's)
        if not need.any_input:
            return Backward()
        c = _lp_cost(a, inputs, out, batch)
        return Backward(input_ops=c.pool_ops + ACTIVATION_BACKWARD_OPS * c.elementwise_ops)

    counting = Counting(
        "aten::avg_pool{n}d", "nn.LPPool{n}d", "lp_pool",
        fvcore=Counted(lambda node, cost, batch: Prediction.unseen(
            "fvcore has no handle for the aten ops F.lp_pool*d runs (pow, avg_pool, sign, abs, mul); relu it ignores")),
        ptflops=Counted(_lp_ptflops, _LP_PATCHED.format(tool="ptflops")),
        function="F.lp_pool{n}d", subclass=True,
        ptflops_functional=Counted(_lp_ptflops, _LP_PATCHED.format(tool="ptflops")),
        calflops=_CALFLOPS_NO_MACS,
        calflops_flops=Counted(_lp_ptflops, _LP_PATCHED.format(tool="calflops")),
    )

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        a: LPPoolArgs = node.args
        rank = len(a.kernel)
        window = _window_kwargs(_lp_window(a))
        kernel, stride = window["kernel_size"], window["stride"] if a.stride is not None else None
        if form_of(node) == FUNCTION:
            from ..modules.call import Functional

            return Functional(f"F.lp_pool{rank}d", a.norm, kernel, stride, a.ceil_mode)
        cls = (nn.LPPool1d, nn.LPPool2d, nn.LPPool3d)[rank - 1]
        return cls(a.norm, kernel, stride, a.ceil_mode)

    @staticmethod
    def shape(a: LPPoolArgs, inputs: tuple[Shape, ...]) -> Shape:
        spatial_input("lppool", inputs[0])
        return _window_shape("avgpool", _lp_window(a), inputs[0])

    cost = staticmethod(_lp_cost)


# ---- fractional max pooling ----------------------------------------------------------------------------------------
@typed({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1})
def _fraction(value: Any) -> float:
    """A number strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ArgError(f"must be a number between 0 and 1 (both excluded), got {_show(value)}")
    return float(value)


@lazy_args
class FractionalArgs:
    """Arguments of `fractional_maxpool`."""

    kernel: Dims = field(metadata=arg(per_dim(pos_int), "window size"))
    out: Dims | None = field(
        default=None, metadata=arg(optional(per_dim(pos_int)), "output size, one or one per spatial dim", compared=False))
    ratio: float | tuple[float, ...] | None = field(
        default=None,
        metadata=arg(optional(per_dim(_fraction)), "output size as a fraction of the input's: int(in · ratio) (instead of "
                                                    "out)", compared=False),
    )


def _fractional_out(a: FractionalArgs, shape: Shape) -> tuple[int, ...]:
    sizes = shape[1:]
    if (a.out is None) == (a.ratio is None):
        raise ShapeError("fractional_maxpool needs 'out' or 'ratio'" + (", not both" if a.out is not None else ""))
    if a.out is not None:
        return fit(a.out, "out", shape)
    ratios = a.ratio if isinstance(a.ratio, tuple) else (a.ratio,) * len(sizes)
    if len(ratios) != len(sizes):
        raise ShapeError(f"ratio has {len(ratios)} values but the input {fmt_shape(shape)} has {len(sizes)} spatial dims",
                         "ratio")
    return tuple(int(n * r) for n, r in zip(sizes, ratios))  # F.fractional_max_pool*d: int(input.size(d) · ratio)


@op("fractional_maxpool", category="pool", args=FractionalArgs)
class FractionalMaxPool:
    """Fractional max pooling (torch.nn.FractionalMaxPool2d / 3d, F.fractional_max_pool2d / 3d) to `out` or `ratio`.
    Its windows start at offsets torch draws at random in every forward, but each is a full kernel window and the output
    size is fixed: one op per element of every window, kernel elements per output element, as maxpool. C×H×W and
    C×D×H×W."""

    imports = ("FractionalMaxPool2d", "FractionalMaxPool3d")

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        refuse_unless(not m.return_indices, "return_indices=True")
        refuse_unless(getattr(m, "_random_samples", None) is None, "fixed _random_samples")
        if m.output_size is not None:
            return {"kernel": spec_dims(m.kernel_size), "out": spec_dims(m.output_size)}
        return {"kernel": spec_dims(m.kernel_size), "ratio": spec_dims(m.output_ratio)}

    saves = Saves.INPUTS  # fractional_max_pool*d_backward(grad, self, kernel_size, output_size, indices)
    rf = unknown("fractional max pooling places its windows at offsets torch draws at random in every forward")

    @staticmethod
    def saved_extra(node: NodeLike, batch: int, elem: int) -> int:
        return batch * numel(node.shape) * INDEX_BYTES  # the int64 indices of the maxima

    @staticmethod
    def backward(a: FractionalArgs, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
        # each output's gradient is added into its window's maximum (the saved index): 1 per output element
        return Backward(input_ops=batch * numel(out) if need.any_input else 0)

    # no counter has a rule for it: fvcore no handle for aten::fractional_max_pool{n}d, ptflops and thop no hook, no
    # patched function; torchscan's classes are not its bases
    counting = Counting(
        "aten::fractional_max_pool{n}d", "nn.FractionalMaxPool{n}d", "fractional_max_pool",
        function="F.fractional_max_pool{n}d", subclass=True,
    )

    @staticmethod
    def resolve(a: FractionalArgs, inputs: tuple[Shape, ...]) -> FractionalArgs:
        shape = inputs[0]
        spatial_input("fractional_maxpool", shape)
        if len(shape) == 2:
            raise ShapeError(f"fractional_maxpool needs a C×H×W or C×D×H×W input (torch has no FractionalMaxPool1d), got "
                             f"{fmt_shape(shape)}")
        return dataclasses.replace(a, kernel=fit(a.kernel, "kernel", shape))

    @staticmethod
    def shape(a: FractionalArgs, inputs: tuple[Shape, ...]) -> Shape:
        shape = inputs[0]
        out = _fractional_out(a, shape)
        for size, o, k, axis in zip(shape[1:], out, a.kernel, AXES[len(out)]):
            if o < 1:
                raise ShapeError(f"ratio {_show(a.ratio)} leaves an output of {o} along {axis}={size}; torch needs at least 1",
                                 "ratio")
            if o + k - 1 > size:  # torch: "pool height ... too large relative to input height"
                raise ShapeError(f"an output of {o} with kernel {k} needs at least {o + k - 1} inputs along {axis}, got {size} "
                                 "(as in torch)", "kernel")
        return (shape[0], *out)

    @staticmethod
    def cost(a: FractionalArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        n = batch * numel(out)
        return Cost(pool_ops=n * numel(a.kernel), activations=n)  # a full kernel window per output element

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        a: FractionalArgs = node.args
        rank = len(a.kernel)
        kernel = spec_dims(a.kernel)
        kernel = kernel if isinstance(kernel, int) else tuple(kernel)
        size = {"output_size": tuple(node.shape[1:])} if a.out is not None else \
            {"output_ratio": a.ratio if isinstance(a.ratio, tuple) else (a.ratio,) * rank}
        if form_of(node) == FUNCTION:
            from ..modules.call import Functional

            return Functional(f"F.fractional_max_pool{rank}d", kernel, **size)
        return (nn.FractionalMaxPool2d, nn.FractionalMaxPool3d)[rank - 2](kernel, **size)


@lazy_args
class GlobalArgs:
    """Arguments of `global_avgpool` (its output size is fixed at 1 per spatial dim)."""

    mean: bool = field(
        default=False,
        metadata=arg(boolean, "run as x.mean(spatial dims, keepdim=True), as torchvision's ShuffleNetV2 writes it, not "
                     "nn.AdaptiveAvgPool: the same arithmetic, seen differently by the counters"),
    )


def _global_predict(counted: Counted, why_mean: str) -> Counted:
    """A counter's view of `global_avgpool`: the adaptive pool's, or (``mean: true``) an aten::mean it does not count."""

    def predict(node: NodeLike, cost: Cost, batch: int) -> Prediction:
        if node.args.mean:
            return Prediction.unseen(why_mean)
        return counted.predict(node, cost, batch)

    return Counted(predict, counted.why, counted.part)


# `mean: true` runs torch.mean: fvcore has no handle for aten::mean, ptflops does not patch torch.mean and
# thop sees no module; FlopCounterMode counts neither form; torchscan sees a module it has no formula for, calflops
# an unpatched torch.mean.
GLOBAL_COUNTING = ADAPTIVE_COUNTING._replace(
    fvcore=_global_predict(ADAPTIVE_COUNTING.fvcore, "fvcore has no handle for aten::mean (reports it as unsupported)"),
    ptflops=_global_predict(ADAPTIVE_COUNTING.ptflops, "ptflops does not patch torch.mean: a zero-op"),
    thop=_global_predict(ADAPTIVE_COUNTING.thop, "thop sees no module for torch.mean"),
    ptflops_functional=_global_predict(ADAPTIVE_COUNTING.ptflops_functional, "ptflops does not patch torch.mean"),
    torchscan=_global_predict(ADAPTIVE_COUNTING.torchscan, "torchscan has no formula for a module calling x.mean"),
    calflops_flops=_global_predict(ADAPTIVE_COUNTING.calflops_flops, "calflops does not patch torch.mean"),
)


@op("global_avgpool", category="pool", args=GlobalArgs, aliases=("gap",))
class GlobalAvgPool:
    """Global average pooling to C×1×1 (torch.nn.AdaptiveAvgPool2d(1); C×1 and C×1×1×1 on 1-D and 3-D inputs).
    `mean: true` builds x.mean(spatial dims, keepdim=True) instead (what `convcost import` writes for x.mean([2, 3]))."""

    imports = ("AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d")

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any] | None:
        return {} if spec_dims(m.output_size) == 1 else None

    saves = Saves.NOTHING  # a mean over the spatial dims to torch (see _averaged_saves)
    counting = GLOBAL_COUNTING
    rf = GLOBAL_POOL_RF
    backward = staticmethod(like_forward_of(_adaptive_cost, "pool_ops"))  # g/N to every input element

    @staticmethod
    def build(node: NodeLike) -> nn.Module:

        if node.args.mean:
            from ..modules.call import Call

            dims = list(range(2, len(node.shape) + 1))
            return Call(lambda x: x.mean(dims, keepdim=True), f"x.mean({dims}, keepdim=True)")
        return _adaptive_module(node, (1,) * (len(node.shape) - 1))

    @staticmethod
    def shape(a: GlobalArgs, inputs: tuple[Shape, ...]) -> Shape:
        c, sizes = spatial_input("global_avgpool", inputs[0])
        return (c, *(1 for _ in sizes))

    cost = staticmethod(_adaptive_cost)


def _pool_args(m: Any) -> dict[str, Any]:
    """A torch max/avg pool's window as `maxpool`/`avgpool` write it (torch's stride defaults to the kernel)."""
    return {"kernel": spec_dims(m.kernel_size), "stride": spec_dims(m.stride), "padding": spec_dims(m.padding),
            "ceil_mode": m.ceil_mode}
