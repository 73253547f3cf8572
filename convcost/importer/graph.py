"""What `convcost import` records of one forward (importer/record.py), as plain data: torch-free.

A :class:`Recording` is the model's aten-level graph. Every tensor the forward reads or makes is a
:class:`Value` (the model's input, a parameter or buffer by its paths, a tensor made outside the forward,
or an output of a node); every operation is a :class:`Node` reading values and making values, with the
module call it ran in (:class:`ModuleCall`: the module's path and class, as torch's nn_module_stack
gives them). Recognition (importer/recognise.py) reads only this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class V:
    """A tensor argument of a node: the id of its :class:`Value`."""

    id: int


@dataclass
class Value:
    """One tensor: ``kind`` 'input', 'param', 'buffer', 'const' (made outside the forward, e.g. a plain tensor
    attribute) or 'node' (an output of ``node``, its ``index``-th tensor)."""

    id: int
    shape: tuple[int, ...]
    dtype: str
    kind: str
    node: int = -1
    index: int = 0
    paths: tuple[str, ...] = ()  # a parameter's or buffer's paths in the model (several when tied)


@dataclass
class Node:
    """One operation. ``kind`` 'aten': an aten op as torch dispatched it (``op`` its name, 'convolution');
    'function': a torch function kept whole, as the aten op of its name that torch decomposes differently per
    device ('linear', 'scaled_dot_product_attention', 'matmul', 'einsum', 'instance_norm'); 'module': a module call
    kept whole (nn.MultiheadAttention; ``op`` 'module', ``args['found']`` what its op definition makes of it).
    ``fn`` is the torch function the user's code called ('chunk' for an aten split, 'adaptive_avg_pool2d' for an
    aten mean), ``spelled`` that function as the code spelled it ('F.relu', 'torch.relu', 'x.relu': tools that patch
    torch functions see only some spellings; '' for an aten op called by none); ``args`` are bound to the op's schema
    names, tensors as :class:`V`."""

    index: int
    kind: str
    op: str
    fn: str
    call: int
    args: dict[str, Any]
    outs: tuple[int, ...]
    overload: str = "default"
    spelled: str = ""

    def tensors(self) -> list[int]:
        """The values this node reads, in argument order (one read twice listed twice)."""
        found: list[int] = []

        def walk(a: Any) -> None:
            if isinstance(a, V):
                found.append(a.id)
            elif isinstance(a, (list, tuple)):
                for x in a:
                    walk(x)

        for a in self.args.values():
            walk(a)
        return found


@dataclass
class ModuleCall:
    """One call of a module: its path ('' for the model), class, the call it ran in, and the values it read and
    returned."""

    index: int
    path: str
    cls: str
    qualname: str  # 'torch.nn.Conv2d', 'timm.layers.conv2d_same.Conv2dSame'
    parent: int
    torch_nn: bool  # one of torch.nn's own modules (not a container)
    ins: tuple[int, ...] = ()
    outs: tuple[int, ...] = ()
    first: int = 0  # the first node index inside it
    last: int = 0  # one past the last


@dataclass
class Recording:
    """The model's forward: nodes in the order they ran, every value, every module call, the input values and the
    outputs (a label per tensor of a tuple, list or dict output: '0', 'out', 'aux.1'; None where it is no tensor)."""

    nodes: list[Node] = field(default_factory=list)
    values: list[Value] = field(default_factory=list)
    calls: list[ModuleCall] = field(default_factory=list)
    inputs: tuple[int, ...] = ()
    outputs: list[tuple[str, int | None]] = field(default_factory=list)
    tensors: dict[str, tuple[str, tuple[int, ...]]] = field(default_factory=dict)  # path -> (param|buffer, shape)
    tied: dict[str, str] = field(default_factory=dict)  # path -> the first path of the same tensor
    classes: dict[str, str] = field(default_factory=dict)  # module path -> class name
    qualnames: dict[str, str] = field(default_factory=dict)  # module path -> 'torch.nn.LSTM'
    # module path -> the qualnames of its class's bases, nearest first ('torch.nn.conv.Conv3d' for torchvision's
    # Conv3DSimple): a subclass of a torch.nn module is what hook-based counters miss
    bases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    device: str = "cpu"

    def producer(self, v: int) -> Node | None:
        val = self.values[v]
        return self.nodes[val.node] if val.kind == "node" else None
