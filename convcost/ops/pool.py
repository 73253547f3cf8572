"""Pooling: windowed max/avg pooling (with ceil mode) and adaptive/global average pooling, in 1, 2 or
3 spatial dims (torch's MaxPool1d/2d/3d, AvgPool1d/2d/3d, AdaptiveAvgPool1d/2d/3d)."""

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
from .grad import Need, like_forward_of
from .receptive import RF, adaptive, global_rf, taps, windows
from .registry import (
    Dims,
    NodeLike,
    Saves,
    Shape,
    ShapeError,
    arg,
    boolean,
    lazy_args,
    nonneg_int,
    op,
    optional,
    per_dim,
    pos_int,
    refuse_unless,
    spec_dims,
)
from .shapes import numel
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


@op("avgpool", category="pool", args=AvgPoolArgs)
class AvgPool:
    """Average pooling (torch.nn.AvgPool1d / AvgPool2d / AvgPool3d).
    torch's output-size rule, ceil mode included."""

    imports = ("AvgPool1d", "AvgPool2d", "AvgPool3d")

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        refuse_unless(getattr(m, "divisor_override", None) is None, "divisor_override")
        return {**_pool_args(m), "count_include_pad": m.count_include_pad}

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
        if form_of(node) == FUNCTION:
            from ..modules.call import Functional

            return Functional(f"F.avg_pool{len(a.kernel)}d", **kwargs)
        cls = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)[len(a.kernel) - 1]
        return cls(**kwargs)

    @staticmethod
    def shape(a: AvgPoolArgs, inputs: tuple[Shape, ...]) -> Shape:
        return _window_shape("avgpool", a, inputs[0])

    cost = staticmethod(_window_cost)


@lazy_args
class AdaptiveArgs:
    """Arguments of `adaptive_avgpool`."""

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
