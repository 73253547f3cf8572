"""The graph's data: op nodes with their shapes, the named scopes that group them, the graph."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..errors import Loc
from ..ops.registry import OpRule, Shape
from ..ops.registry import rule as op_rule
from ..ops.shapes import fmt_shape

__all__ = ["INPUT", "Graph", "Input", "Node", "Scope", "fmt_shape", "input_index"]

INPUT = -1  # the (first) model input; input k of a model with several is INPUT - k


def input_index(k: int) -> int:
    """The node-index stand-in for the model's input number ``k`` (0-based)."""
    return INPUT - k


# Node, Scope and Input are NamedTuples, not frozen dataclasses: cheaper to create, the classes at start-up
# and a node per layer (frontend/source.py). Graph stays a dataclass (tests vary it with dataclasses.replace).
class Node(NamedTuple):
    """One op in the graph. ``inputs`` are node indices (negative for the model's inputs: INPUT, INPUT - 1...)."""

    index: int
    name: str
    op: str
    args: Any
    inputs: tuple[int, ...]
    in_shapes: tuple[Shape, ...]
    shape: Shape
    scope: tuple[str, ...]
    loc: Loc
    frozen: bool = False  # its parameters get no gradient ('frozen: true' in the spec)
    tied: tuple[tuple[str, int], ...] = ()  # (parameter, node index): its parameters that are an earlier layer's
    form: str = "module"  # how it meets torch: module, function or subclass (the spec's 'torch'; ops/counting.py)

    @property
    def rule(self) -> OpRule:
        return op_rule(self.op)

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    def tensors(self) -> dict[str, tuple[int, ...]]:
        """The parameters it holds, by name and shape (its op's ``tensors``; {} for an op that says none)."""
        fn = self.rule.tensors
        return fn(self.args, self.in_shapes, self.shape) if fn is not None else {}

    def tied_params(self) -> int:
        """How many of its parameters are an earlier layer's (`tied`): counted there, not here."""
        shapes = self.tensors()
        total = 0
        for name, _ in self.tied:
            n = 1
            for d in shapes[name]:
                n *= d
            total += n
        return total


class Scope(NamedTuple):
    """A named group of layers: a block call, a repeat and its iterations, a branch, a shortcut."""

    path: tuple[str, ...]
    kind: str
    label: str
    loc: Loc

    @property
    def name(self) -> str:
        return ".".join(self.path)


class Input(NamedTuple):
    """A model input: 'input' for a model with one, or the name given under 'inputs:'."""

    name: str
    shape: Shape
    index: int  # its stand-in in Node.inputs: INPUT, INPUT - 1, ...


def producer(inputs: Sequence[Input], nodes: Sequence[Node], index: int) -> Input | Node:
    """What a node index stands for: a node, or (negative) one of the model's inputs. The graph and the
    expander while it builds one look producers up the same way."""
    return inputs[INPUT - index] if index < 0 else nodes[index]


@dataclass(frozen=True)
class Graph:
    """A model's layers in order, with its inputs, outputs and scopes."""

    model: str
    file: str
    batch: int
    inputs: tuple[Input, ...]
    nodes: tuple[Node, ...]
    scopes: tuple[Scope, ...]
    outputs: tuple[int, ...]  # node indices of the model's outputs: the last layer unless 'outputs:' names them
    description: str = ""

    @property
    def input_shape(self) -> Shape:
        """The shape of the first input (the only one for most models)."""
        return self.inputs[0].shape

    @property
    def output(self) -> Node:
        """The first output (the only one for most models)."""
        return self.nodes[self.outputs[0]]

    @property
    def output_nodes(self) -> tuple[Node, ...]:
        return tuple(self.nodes[i] for i in self.outputs)

    @property
    def several(self) -> bool:
        """More than one input or output: renderers list them by name."""
        return len(self.inputs) > 1 or len(self.outputs) > 1

    def input_for(self, index: int) -> Input:
        """The model input behind a negative node index."""
        return self.inputs[INPUT - index]

    def shape_of(self, index: int) -> Shape:
        return producer(self.inputs, self.nodes, index).shape

    def name_of(self, index: int) -> str:
        """A node's dotted name, or the input's name."""
        return producer(self.inputs, self.nodes, index).name
