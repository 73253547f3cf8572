"""Ops that move data without arithmetic: nearest-neighbour upsampling and a channel chunk.

Added for detection necks (YOLOv8's FPN/PAN: ``nn.Upsample(scale_factor=2)`` and C2f's
``cv1(x).chunk(2, 1)``). Convention (docs/conventions.md): nearest upsampling copies one input
element to each output element, so it counts no arithmetic, like concat; a chunk is a view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..costmodel.cost import Cost
from .conv import refuse_tokens, spatial_check
from .counting import FVCORE_IGNORED, Counted, Counting, Prediction, out_elements
from .registry import MAX_DIM, NodeLike, Saves, Shape, ShapeError, arg, choice, nonneg_int, op, pos_int
from .shapes import numel

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class UpsampleArgs:
    """Arguments of `upsample`."""

    scale: int = field(metadata=arg(pos_int, "integer scale factor for H and W"))
    mode: str = field(default="nearest", metadata=arg(choice("nearest"), "interpolation (nearest only, so far)"))


@op("upsample", category="pool", args=UpsampleArgs)
class Upsample:
    """Nearest-neighbour upsampling by an integer scale (torch.nn.Upsample); copies, no arithmetic."""

    saves = Saves.NOTHING  # nearest: the backward needs only the sizes
    counting = Counting(
        "aten::upsample_nearest2d", "nn.Upsample", "upsample_nearest",
        fvcore=Counted(  # elementwise_flop_counter(0, 1)
            lambda node, cost, batch: Prediction.of(
                "aten::upsample_nearest2d: 1 per output element", upsample_nearest=out_elements(node, batch)
            ),
            "fvcore counts nearest upsampling, 1 per output element",
        ),
        ptflops=Counted(  # upsample_flops_counter_hook (output elements) + the patched F.interpolate (the same)
            lambda node, cost, batch: Prediction.of(upsample_nearest=2 * out_elements(node, batch)),
            "ptflops counts upsampled output elements twice: its module hook and the patched F.interpolate",
        ),
        thop=Counted(  # count_upsample, nearest: 1 per output element
            lambda node, cost, batch: Prediction.of(upsample_nearest=out_elements(node, batch)),
            "thop counts 1 per nearest-upsampled output element",
        ),
    )

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        a: UpsampleArgs = node.args
        return nn.Upsample(scale_factor=a.scale, mode=a.mode)

    @staticmethod
    def shape(a: UpsampleArgs, inputs: tuple[Shape, ...]) -> Shape:
        c, h, w = spatial_check("upsample", inputs[0])
        if h * a.scale > MAX_DIM or w * a.scale > MAX_DIM:
            raise ShapeError(f"upsampling {h}×{w} by {a.scale} is larger than the limit of {MAX_DIM:,}", "scale")
        return (c, h * a.scale, w * a.scale)

    @staticmethod
    def cost(a: UpsampleArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return Cost(activations=batch * numel(out))  # nearest: each output element is a copy


@dataclass(frozen=True)
class ChunkArgs:
    """Arguments of `chunk`."""

    index: int = field(metadata=arg(nonneg_int, "which part, from 0"))
    parts: int = field(default=2, metadata=arg(pos_int, "equal parts the channels split into"))


@op("chunk", category="reshape", args=ChunkArgs)
class Chunk:
    """One of ``parts`` equal channel slices (x.chunk(parts, 1)[index]); a view, no arithmetic."""

    saves = Saves.NOTHING
    counting = Counting("aten::chunk", "tensor.chunk", "chunk", fvcore=FVCORE_IGNORED)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..crosscheck.torch_build import Call

        a: ChunkArgs = node.args
        return Call(lambda x: x.chunk(a.parts, 1)[a.index], f"chunk({a.parts}, dim=1)[{a.index}]")

    @staticmethod
    def shape(a: ChunkArgs, inputs: tuple[Shape, ...]) -> Shape:
        refuse_tokens("chunk", inputs[0])
        c = inputs[0][0]
        if c % a.parts:
            raise ShapeError(f"{c} channels do not split into {a.parts} equal parts", "parts")
        if a.index >= a.parts:
            raise ShapeError(f"index {a.index} is out of range for {a.parts} parts (0 to {a.parts - 1})", "index")
        return (c // a.parts, *inputs[0][1:])

    @staticmethod
    def cost(a: ChunkArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return Cost(activations=batch * numel(out))
