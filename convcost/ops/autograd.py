"""What an op's backward keeps for training: the facts costmodel/memory.py sums (no torch here).

Following torch's backward formulas (tools/autograd/derivatives.yaml): an op saves its inputs, its
output (where the derivative is computed from the result) or nothing, and some keep extra tensors
besides (indices, statistics, masks): each definition says which.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .registry import NodeLike


class Saves(Enum):
    NOTHING = "nothing"
    INPUTS = "inputs"
    OUTPUT = "output"


SavesFn = Callable[["NodeLike"], Saves]  # when what is saved depends on the layer
ExtraBytesFn = Callable[["NodeLike", int, int], int]  # (node, batch, bytes per element) -> bytes kept besides


def no_extra(node: NodeLike, batch: int, elem: int) -> int:
    return 0
