"""Reading torch.fx nodes for `convcost import` (importer/trace.py): a node's traced shape, module scope,
name, integer arguments and tensor arguments."""

from __future__ import annotations

import operator
import re
from typing import TYPE_CHECKING

from ..ops.registry import NoArgs, lookup

if TYPE_CHECKING:
    from torch import fx


def node_shape(node: fx.Node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta")
    shape = getattr(meta, "shape", None)
    return tuple(shape) if shape is not None else None


def node_scope(node: fx.Node) -> tuple[str, ...]:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ()
    path = list(stack.values())[-1][0]
    return tuple(path.split(".")) if path else ()


def activation_op(name: str) -> str | None:
    r = lookup(name.rstrip("_"))
    return r.name if r is not None and r.category == "activation" and r.args is NoArgs else None


def base_name(name: str) -> str:
    """An fx node's name without the counter fx adds across the whole graph ('add_7' -> 'add'): the layer is
    then named 'add', 'add_1'... per module scope, the same in every instance of a repeated module."""
    return re.sub(r"_\d+$", "", name) or name


ADD_OPS = {operator.add, operator.iadd}
MUL_OPS = {operator.mul, operator.imul}

def int_dims(node: fx.Node) -> tuple[int, ...] | None:
    """The int arguments after the tensor: (1, 2) of ``x.transpose(1, 2)``, (0, 2, 1) of ``x.permute(0, 2, 1)``."""
    rest = node.args[1:]
    if len(rest) == 1 and isinstance(rest[0], (list, tuple)):
        rest = tuple(rest[0])
    return tuple(rest) if rest and not node.kwargs and all(isinstance(d, int) for d in rest) else None


def is_reshape(node: fx.Node) -> bool:
    return node.op in ("call_function", "call_method") and fx_name(node) in ("flatten", "view", "reshape")


def fx_name(node: fx.Node) -> str:
    """What a call_function / call_method node calls: 'permute' for ``x.permute`` and ``torch.permute`` alike."""
    target = node.target
    return target if isinstance(target, str) else getattr(target, "__name__", str(target))


def node_args(node: fx.Node) -> list[fx.Node]:
    """The nodes ``node`` reads, in argument order, one read twice listed twice (``cat([x, y, x])``, ``x + x``):
    ``all_input_nodes`` lists each once."""
    from torch import fx

    found: list[fx.Node] = []
    fx.node.map_arg((node.args, node.kwargs), found.append)
    return found
