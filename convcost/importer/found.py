"""What recognition makes of a node of the recorded graph (torch-free): a layer, a value handed on, or why not."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union


@dataclass(frozen=True)
class Emit:
    """A convcost layer: ``op`` with ``args``, reading the data values ``ins`` (in order) and making ``out`` (default:
    the node's first output). ``tensors``: the parameter and buffer paths it holds; ``name``: a path to name it by (a
    parameter's, for a class token) instead of its module or function; ``layout`` of what it makes where it changes
    ('map', 'tokens'); ``suffix`` on its name (a mean's pool before its flatten)."""

    op: str
    args: dict[str, Any]
    ins: tuple[int, ...]
    tensors: tuple[str, ...] = ()
    out: int | None = None
    name: str = ""
    layout: str = ""
    suffix: str = ""
    fn: str = ""  # the function it is named after, where not the node's own (a chunk's parts)
    roles: tuple[tuple[str, str], ...] = ()  # (the op's name for a parameter, 'weight' or 'bias'; its path): what ties
    spans: bool = False  # its output is not its module's (timm's window partition and reverse folded around the call)


@dataclass(frozen=True)
class Pass:
    """The node's first output is ``value`` (no layer): a copy, a permute a channels-last run undoes, a view a
    later node reads as part of its pattern."""

    value: int


@dataclass(frozen=True)
class Refuse:
    """convcost cannot write this node: ``why`` (the message starts with what the code called)."""

    why: str
    whatever: bool = False  # convcost has no op for it whatever it reads (not a consequence of an unsupported input)


@dataclass(frozen=True)
class Skip:
    """The node is part of a pattern a later node writes; its outputs are read by nothing else."""


@dataclass(frozen=True)
class Several:
    """A node that is several layers in a row (``x.mean([2, 3])``: a pool, then a flatten) or one per output (the
    parts of ``x.chunk(2, 1)``)."""

    layers: tuple[Emit, ...] = field(default_factory=tuple)


Found = Union[Emit, Pass, Refuse, Skip, Several, None]  # None: no data flows through it (a weight or a constant)
