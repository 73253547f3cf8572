"""Transposed convolution (torch.nn.ConvTranspose1d / 2d / 3d): the learnable upsampling of decoders.

Output size per spatial dim, as torch computes it: (in − 1)·s − 2p + d·(k − 1) + output_padding + 1.
MACs are counted as torch's FlopCounterMode (÷ 2) and fvcore count them: every input position
scatters its C_in values through the whole weight, N·prod(in spatial)·C_in·(C_out/g)·prod(k)
(docs/conventions.md). ptflops counts the same plus the bias; thop counts per *output* position,
N·C_out·prod(out spatial)·(C_in/g)·prod(k), which is more where the stride spreads the windows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import TYPE_CHECKING, Any

from ..cost import Backward, Cost
from .conv import CONV_FLOP_COUNTER_BACKWARD
from .counting import PTFLOPS_BIAS_WHY, Counted, Counting, Prediction
from .grad import Need, matmul_backward
from .receptive import RF, scatter, taps
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
    per_dim,
    pos_int,
    refuse_unless,
    spec_dims,
)
from .shapes import numel
from .spatial import AXES, fit, spatial_input

if TYPE_CHECKING:
    from torch import nn


@lazy_args
class ConvTransposeArgs:
    """Arguments of `conv_transpose` (those of torch.nn.ConvTranspose2d)."""

    out: int = field(metadata=arg(pos_int, "output channels"))
    kernel: Dims = field(metadata=arg(per_dim(pos_int), "kernel size, k or one per spatial dim"))
    stride: Dims = field(default=1, metadata=arg(per_dim(pos_int), "stride (the upsampling factor)"))
    padding: Dims = field(
        default=0, metadata=arg(per_dim(nonneg_int), "cut from each side of the output (d·(k−1)/2 keeps the size at stride 1)")
    )
    output_padding: Dims = field(
        default=0, metadata=arg(per_dim(nonneg_int), "added to one side of the output; smaller than stride or dilation")
    )
    dilation: Dims = field(default=1, metadata=arg(per_dim(pos_int), "dilation"))
    groups: int = field(default=1, metadata=arg(pos_int, "groups (in and out channels must divide)"))
    bias: bool = field(default=True, metadata=arg(boolean, "learnable bias"))


def transposed_out_size(size: int, k: int, s: int, p: int, op: int, d: int) -> int:
    """torch's ConvTranspose output size: (size − 1)·s − 2p + d·(k − 1) + output_padding + 1."""
    return (size - 1) * s - 2 * p + d * (k - 1) + op + 1


def _thop(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # count_convNd -> calculate_conv2d_flops(input, output, weight shape): numel(output)·(C_in/g)·prod(k),
    # the output counted with its batch and channels
    a: ConvTransposeArgs = node.args
    return Prediction.of(
        conv_transpose=batch * numel(node.shape) * (node.in_shapes[0][0] // a.groups) * numel(a.kernel)
    )


def _out_positions(node: NodeLike, batch: int) -> int:
    return batch * numel(node.shape[1:])


def _torchinfo(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # LayerInfo.calculate_macs, 'Conv' in the class name: (weight + bias) · N · prod(output spatial)
    return Prediction.of(conv_transpose=cost.params * _out_positions(node, batch))


def _torchscan(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # macs_convtransposend: 4 per spatial dim (its padding arithmetic) + out.numel() · (C_in / g) · prod(k)
    a: ConvTransposeArgs = node.args
    return Prediction.of(
        conv_transpose=4 * len(a.kernel) + batch * numel(node.shape) * (node.in_shapes[0][0] // a.groups) * numel(a.kernel)
    )


def _calflops_weight_positions(node: NodeLike, batch: int) -> tuple[int, int]:
    """calflops' _conv_trans_flops_compute: MACs prod(k)·C_in·((C_out/g) // g) per input position (it divides
    weight.shape[1], already C_out/g, by the groups again); its bias per output position of the *conv* formula."""
    a: ConvTransposeArgs = node.args
    c_in = node.in_shapes[0][0]
    macs = numel(a.kernel) * c_in * ((a.out // a.groups) // a.groups) * batch * numel(node.in_shapes[0][1:])
    positions = batch
    for size, k, s, p, d in zip(node.in_shapes[0][1:], a.kernel, a.stride, a.padding, a.dilation):
        positions *= (size + 2 * p - (d * (k - 1) + 1)) // s + 1
    return macs, positions


def _calflops(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    return Prediction.of(conv_transpose=_calflops_weight_positions(node, batch)[0])


def _calflops_flops(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    a: ConvTransposeArgs = node.args
    macs, positions = _calflops_weight_positions(node, batch)
    return Prediction.of(conv_transpose=2 * macs, bias=(a.out // a.groups) * positions if a.bias else 0)


@op("conv_transpose", category="conv", args=ConvTransposeArgs)
class ConvTranspose:
    """Transposed convolution (torch.nn.ConvTranspose1d / 2d / 3d on C×L, C×H×W, C×D×H×W).
    Output (in − 1)·s − 2p + d·(k − 1) + output_padding + 1 per spatial dim; MACs N·prod(in)·C_in·(C_out/g)·prod(k)."""

    spellings = ("deconv", "convtranspose", "conv_transpose2d", "convtranspose2d")

    imports = ("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d")

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        refuse_unless(m.padding_mode == "zeros", f"padding_mode='{m.padding_mode}'")
        return {"out": m.out_channels, "kernel": spec_dims(m.kernel_size), "stride": spec_dims(m.stride),
                "padding": spec_dims(m.padding), "output_padding": spec_dims(m.output_padding),
                "dilation": spec_dims(m.dilation), "groups": m.groups, "bias": m.bias is not None}

    saves = Saves.INPUTS  # the input (and the weight), frozen too: one convolution_backward formula, as conv's

    @staticmethod
    def rf(a: ConvTransposeArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
        return taps(*(scatter(k, s, p, d) for k, s, p, d in zip(a.kernel, a.stride, a.padding, a.dilation)))

    @staticmethod
    def backward(a: ConvTransposeArgs, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
        # input: a conv of g with the weight; weight: a conv of g with x; both the forward's MACs (ops/grad.py)
        return matmul_backward(ConvTranspose.cost(a, inputs, out, batch), need)

    counting = Counting(
        "aten::_convolution", "nn.ConvTranspose{n}d", "conv_transpose",
        fvcore=Counted(lambda node, cost, batch: Prediction.of(conv_transpose=cost.macs)),  # conv_flop_count, transposed
        flop_counter=Counted(
            lambda node, cost, batch: Prediction.of(
                "aten.convolution (transposed): 2 FLOPs per MAC", conv_transpose=2 * cost.macs
            ),
            "FlopCounterMode reports 2 FLOPs per MAC",
        ),
        # conv_flops_counter_hook(transpose=True): MACs over the input positions, + bias per output element
        ptflops=Counted(
            lambda node, cost, batch: Prediction.of(conv_transpose=cost.macs, bias=cost.bias_ops), PTFLOPS_BIAS_WHY, "bias"
        ),
        thop=Counted(_thop, "thop counts a transposed conv per output position: N·C_out·prod(out)·(C_in/g)·prod(k)"),
        subclass=True,
        ptflops_aten=Counted(  # conv_flop_count(transposed=True): the input positions; + bias per output element
            lambda node, cost, batch: Prediction.of(conv_transpose=cost.macs, bias=cost.bias_ops),
            "ptflops' aten backend adds a conv's bias per output element", "bias",
        ),
        torchinfo=Counted(_torchinfo, "torchinfo counts a transposed conv's weight and bias once per output position"),
        torchscan=Counted(_torchscan, "torchscan counts a transposed conv per output position, + 4 per spatial dim"),
        calflops=Counted(_calflops, "calflops divides a transposed conv's output channels by the groups twice"),
        calflops_flops=Counted(
            _calflops_flops, "calflops counts a transposed conv's bias (C_out/g per position) at a conv's output size"
        ),
        flop_counter_backward=CONV_FLOP_COUNTER_BACKWARD,
    )

    @staticmethod
    def resolve(a: ConvTransposeArgs, inputs: tuple[Shape, ...]) -> ConvTransposeArgs:
        shape = inputs[0]
        spatial_input("conv_transpose", shape)
        return dataclasses.replace(
            a, kernel=fit(a.kernel, "kernel", shape), stride=fit(a.stride, "stride", shape),
            padding=fit(a.padding, "padding", shape), output_padding=fit(a.output_padding, "output_padding", shape),
            dilation=fit(a.dilation, "dilation", shape),
        )

    @staticmethod
    def shape(a: ConvTransposeArgs, inputs: tuple[Shape, ...]) -> Shape:
        c, sizes = spatial_input("conv_transpose", inputs[0])
        if c % a.groups:
            raise ShapeError(f"groups={a.groups} must divide in_channels={c}", "groups")
        if a.out % a.groups:
            raise ShapeError(f"groups={a.groups} must divide out={a.out}", "groups")
        dims = []
        for size, k, s, p, op_, d, axis in zip(
            sizes, a.kernel, a.stride, a.padding, a.output_padding, a.dilation, AXES[len(sizes)]
        ):
            if op_ >= s and op_ >= d:
                raise ShapeError(
                    f"output_padding {op_} must be smaller than the stride {s} or the dilation {d} (as in torch)",
                    "output_padding",
                )
            out = transposed_out_size(size, k, s, p, op_, d)
            if out < 1:
                raise ShapeError(
                    f"padding {p} leaves no output along {axis}: ({size} − 1)·{s} − 2·{p} + {d}·({k} − 1) + {op_} + 1 = {out}",
                    "padding",
                )
            dims.append(out)
        return (a.out, *dims)

    @staticmethod
    def tensors(a: ConvTransposeArgs, inputs: tuple[Shape, ...], out: Shape) -> dict[str, tuple[int, ...]]:
        weight = (inputs[0][0], a.out // a.groups, *a.kernel)
        return {"weight": weight, "bias": (a.out,)} if a.bias else {"weight": weight}

    @staticmethod
    def cost(a: ConvTransposeArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        c_in = inputs[0][0]
        weight = c_in * (a.out // a.groups) * numel(a.kernel)  # torch's weight: (C_in, C_out/g, *kernel)
        outputs = batch * numel(out)
        return Cost(
            params=weight + (a.out if a.bias else 0),
            macs=batch * numel(inputs[0][1:]) * weight,  # = N·prod(in spatial)·C_in·(C_out/g)·prod(k)
            bias_ops=outputs if a.bias else 0,
            activations=outputs,
        )

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        a: ConvTransposeArgs = node.args
        cls = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)[len(a.kernel) - 1]
        return cls(
            node.in_shapes[0][0], a.out, a.kernel, stride=a.stride, padding=a.padding, output_padding=a.output_padding,
            groups=a.groups, bias=a.bias, dilation=a.dilation,
        )
