"""`convcost import`'s token recognisers (a ViT in torchvision's layout): ``x.flatten(2).transpose(1, 2)`` →
`to_tokens`, ``x.transpose(1, 2).reshape(B, D, H, W)`` → `to_map`, class token and position embedding parameters →
`class_token` / `pos_embed`, ``x[:, 0]`` → `token_pool`, and how nn.MultiheadAttention may be called."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .fx_nodes import fx_name, int_dims, is_reshape, node_shape

if TYPE_CHECKING:
    from torch import fx, nn


def swaps_1_2(node: fx.Node) -> bool:
    """[B, A, C] -> [B, C, A]: ``transpose(1, 2)`` (swapaxes, swapdims, any sign) or ``permute(0, 2, 1)``."""
    name = fx_name(node)
    dims, shape = int_dims(node), node_shape(node)
    if node.op not in ("call_function", "call_method") or dims is None or shape is None or len(shape) != 3:
        return False
    if name in ("transpose", "swapaxes", "swapdims"):
        return len(dims) == 2 and {d % 3 for d in dims} == {1, 2}
    return name == "permute" and tuple(d % 3 for d in dims) == (0, 2, 1)


def _map_to_rows(node: fx.Node) -> bool:
    """A [B, C, H, W] map reshaped to [B, C, H·W] (``flatten(2)``, ``view(B, C, -1)``): the first half of to_tokens."""
    src = node.args[0] if node.args else None
    shape, ins = node_shape(node), node_shape(src) if hasattr(src, "op") else None  # type: ignore[arg-type]
    return (is_reshape(node) and shape is not None and ins is not None and len(ins) == 4 and len(shape) == 3
            and shape == (ins[0], ins[1], ins[2] * ins[3]))


def _rows_to_map(node: fx.Node) -> bool:
    """[B, D, N] reshaped to a [B, D, H, W] map, H·W = N: the second half of to_map."""
    src = node.args[0] if node.args else None
    shape, ins = node_shape(node), node_shape(src) if hasattr(src, "op") else None  # type: ignore[arg-type]
    return (is_reshape(node) and shape is not None and ins is not None and len(ins) == 3 and len(shape) == 4
            and shape[:2] == ins[:2] and shape[2] * shape[3] == ins[2])


def tokens_op(node: fx.Node, name: str) -> tuple[str, dict[str, Any]] | str | None:
    """Between a map and tokens: ``x.flatten(2).transpose(1, 2)`` is `to_tokens` (the flatten passes through),
    ``x.transpose(1, 2).reshape(B, D, H, W)`` is `to_map` (the transpose passes through); "" where neither."""
    if _map_to_rows(node):
        if node.users and all(swaps_1_2(u) for u in node.users):
            return None
        return f"{name} to {list(node_shape(node) or ())}: convcost makes tokens of a map as x.flatten(2).transpose(1, 2) only"
    if swaps_1_2(node):
        src = node.args[0]
        if hasattr(src, "op") and _map_to_rows(src):  # type: ignore[arg-type]
            return "to_tokens", {}
        if node.users and all(_rows_to_map(u) for u in node.users):
            return None
        return f"{name} of dims 1 and 2: convcost swaps them only between a map and tokens (to_tokens, to_map)"
    if _rows_to_map(node):
        src = node.args[0]
        if hasattr(src, "op") and swaps_1_2(src):  # type: ignore[arg-type]
            _, _, h, w = node_shape(node)  # type: ignore[misc]
            return "to_map", ({} if h == w else {"height": h, "width": w})
    return ""


def item_op(node: fx.Node, modules: dict[str, nn.Module]) -> tuple[str, dict[str, Any]] | str | None:
    """``x[...]``: output 0 of nn.MultiheadAttention passes through; ``x[:, 0]`` of tokens is `token_pool` (class)."""
    src, index = node.args[0], node.args[1]
    if getattr(src, "op", None) == "call_module" and type(modules.get(str(src.target))).__name__ == "MultiheadAttention":  # type: ignore[union-attr]
        if index == 0:
            return None
        return "the attention weights (nn.MultiheadAttention's output 1): convcost's 'attention' does not return them"
    ins = node_shape(src) if hasattr(src, "op") else None  # type: ignore[arg-type]
    whole = slice(None, None, None)
    if ins is not None and len(ins) == 3 and isinstance(index, tuple) and index[:2] == (whole, 0) and \
            all(i == whole for i in index[2:]):
        return "token_pool", {}  # the class token, x[:, 0]
    return f"indexing x[{index}]: convcost takes the first token (x[:, 0]) of tokens only"


@dataclass(frozen=True)
class Embedding:
    """A learned tensor of the model's own joined to the tokens: a class token (torch.cat) or position embedding (+);
    or joined to a map: a layer scale (*). Also a LayerNorm2d's permute, F.layer_norm, permute: a layer spanning fx nodes."""

    op: str  # class_token, pos_embed, layer_scale or layernorm
    path: str  # the parameter's (or module's) path: the layer's name, as verify --reference names it
    tokens: fx.Node  # the tokens (or map) it joins: what the layer reads
    args: dict[str, Any] = field(default_factory=dict)  # the op's arguments


def parameter_of(gm: fx.GraphModule, node: fx.Node) -> Any:
    try:
        return gm.get_parameter(str(node.target))
    except AttributeError:  # a buffer or a plain tensor attribute
        return None


def is_cat(node: fx.Node) -> bool:
    import torch

    return node.op == "call_function" and node.target in (torch.cat, torch.concat)


def embeddings(gm: fx.GraphModule) -> tuple[dict[fx.Node, Embedding], set[fx.Node]]:
    """A ViT's class token, ``torch.cat([self.class_token.expand(B, -1, -1), x], dim=1)`` with a [1, 1, D] parameter,
    and position embedding, ``x + self.pos_embedding`` with a [1, N, D] parameter: the cat / add node -> its
    layer, and the nodes it consumes (the get_attr, the expand)."""
    found: dict[fx.Node, Embedding] = {}
    consumed: set[fx.Node] = set()
    for node in gm.graph.nodes:
        p = parameter_of(gm, node) if node.op == "get_attr" else None
        if p is None or p.dim() != 3 or p.shape[0] != 1 or len(node.users) != 1:
            continue
        use = next(iter(node.users))
        if use.op == "call_method" and use.target == "expand" and p.shape[1] == 1 and len(use.users) == 1:
            cat = next(iter(use.users))
            dim = cat.kwargs.get("dim", cat.args[1] if len(cat.args) > 1 else 0)
            parts = cat.args[0] if cat.args else ()
            if is_cat(cat) and dim in (1, -2) and isinstance(parts, (list, tuple)) and len(parts) == 2 and parts[0] is use:
                x = parts[1]
                shape = node_shape(x) if hasattr(x, "op") else None
                if shape is not None and len(shape) == 3 and shape[2] == p.shape[2]:
                    found[cat] = Embedding("class_token", str(node.target), x)
                    consumed |= {node, use}
        elif use.target in (operator.add, operator.iadd) or getattr(use.target, "__name__", "") == "add":
            others = [a for a in use.args if a is not node]
            x = others[0] if len(use.args) == 2 and len(others) == 1 and not use.kwargs else None
            shape = node_shape(x) if hasattr(x, "op") else None
            if shape is not None and len(shape) == 3 and shape[1:] == tuple(p.shape[1:]):
                found[use] = Embedding("pos_embed", str(node.target), x)
                consumed.add(node)
    return found, consumed


_ATTENTION_ARGS = ("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask", "average_attn_weights", "is_causal")


def attention_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    """Why convcost's `attention` cannot express this call of nn.MultiheadAttention (fx nodes or tensors), or None."""
    bound = {**dict(zip(_ATTENTION_ARGS, args)), **kwargs}
    q, k, v = (bound.get(n) for n in _ATTENTION_ARGS[:3])
    if not (q is k and k is v):
        return "called with different query, key and value (cross-attention): convcost's 'attention' is self-attention"
    for mask in ("key_padding_mask", "attn_mask"):
        if bound.get(mask) is not None:
            return f"called with {mask}: convcost's 'attention' has no mask"
    if bound.get("is_causal"):
        return "called with is_causal=True: convcost's 'attention' has no mask"
    return None
