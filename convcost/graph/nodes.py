"""The graph's data: op nodes with their shapes, the named scopes that group them, the graph."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import Loc
from ..ops.registry import OpRule, Shape
from ..ops.registry import rule as op_rule
from ..ops.shapes import fmt_shape

__all__ = ["INPUT", "Graph", "Node", "Scope", "fmt_shape"]

INPUT = -1


@dataclass(frozen=True)
class Node:
    """One op in the graph. ``inputs`` are node indices (INPUT for the model input)."""

    index: int
    name: str
    op: str
    args: Any
    inputs: tuple[int, ...]
    in_shapes: tuple[Shape, ...]
    shape: Shape
    scope: tuple[str, ...]
    loc: Loc

    @property
    def rule(self) -> OpRule:
        return op_rule(self.op)

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class Scope:
    """A named group of layers: a block call, a repeat and its iterations, a branch, a shortcut."""

    path: tuple[str, ...]
    kind: str
    label: str
    loc: Loc

    @property
    def name(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class Graph:
    model: str
    file: str
    batch: int
    input_shape: Shape
    nodes: tuple[Node, ...]
    scopes: tuple[Scope, ...]
    description: str = ""

    @property
    def output(self) -> Node:
        return self.nodes[-1]

    def shape_of(self, index: int) -> Shape:
        return self.input_shape if index == INPUT else self.nodes[index].shape
