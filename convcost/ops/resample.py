"""Ops that move data without arithmetic: nearest-neighbour upsampling and a channel chunk.

Added for detection necks (YOLOv8's FPN/PAN: ``nn.Upsample(scale_factor=2)`` and C2f's
``cv1(x).chunk(2, 1)``). Convention (docs/conventions.md): nearest upsampling copies one input
element to each output element, so it counts no arithmetic, like concat; a chunk is a view.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..costmodel.cost import Cost
from .conv import spatial_check
from .registry import MAX_DIM, Shape, ShapeError, arg, choice, nonneg_int, numel, op, pos_int


@dataclass(frozen=True)
class UpsampleArgs:
    scale: int = field(metadata=arg(pos_int, "integer scale factor for H and W"))
    mode: str = field(default="nearest", metadata=arg(choice("nearest"), "interpolation (nearest only, so far)"))


@op("upsample", category="pool", args=UpsampleArgs)
class Upsample:
    """Nearest-neighbour upsampling by an integer scale (torch.nn.Upsample); copies, no arithmetic."""

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
    index: int = field(metadata=arg(nonneg_int, "which part, from 0"))
    parts: int = field(default=2, metadata=arg(pos_int, "equal parts the channels split into"))


@op("chunk", category="reshape", args=ChunkArgs)
class Chunk:
    """One of ``parts`` equal channel slices (x.chunk(parts, 1)[index]); a view, no arithmetic."""

    @staticmethod
    def shape(a: ChunkArgs, inputs: tuple[Shape, ...]) -> Shape:
        c = inputs[0][0]
        if c % a.parts:
            raise ShapeError(f"{c} channels do not split into {a.parts} equal parts", "parts")
        if a.index >= a.parts:
            raise ShapeError(f"index {a.index} is out of range for {a.parts} parts (0 to {a.parts - 1})", "index")
        return (c // a.parts, *inputs[0][1:])

    @staticmethod
    def cost(a: ChunkArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return Cost(activations=batch * numel(out))
