"""Reading a :class:`~.graph.Recording` for recognition (torch-free): who reads each value, which nodes only pass
their input through (a copy, a cast, an alias), and where each value comes from: the model's input (*data*),
only parameters and buffers (*weight*: a weight standardised in the forward, a layer scale reshaped), or only
tensors made in the forward (*const*: an arange, a mask)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .graph import ModuleCall, Node, Recording, V

# aten ops that hand their (first) input on unchanged, as far as convcost counts: copies, casts, aliases, and dropout
# in eval. A view or reshape to the same shape passes too (Flow.passes).
PASS_OPS = frozenset({"clone", "alias", "detach", "lift_fresh", "lift_fresh_copy", "contiguous", "_to_copy", "to",
                      "dropout", "feature_dropout", "alpha_dropout", "_assert_tensor_metadata", "_conj", "resolve_conj",
                      "resolve_neg", "type_as", "as_strided", "as_strided_"})
# ops that read a tensor only for its shape, dtype and device: what they make is a constant, whatever they read
LIKE = frozenset({"new_full", "new_zeros", "new_ones", "new_empty", "new_empty_strided", "zeros_like", "ones_like",
                  "full_like", "empty_like", "rand_like", "randn_like", "randint_like", "scalar_tensor", "arange", "size",
                  "sym_size", "sym_numel"})
RESHAPES = frozenset({"view", "_unsafe_view", "reshape", "expand", "slice", "squeeze", "unsqueeze", "flatten"})


def first_tensor(node: Node) -> int | None:
    for a in node.args.values():
        if isinstance(a, V):
            return a.id
    return None


class Flow:
    def __init__(self, rec: Recording, seeds: frozenset[int] = frozenset()) -> None:
        """``seeds``: values made in the forward from no input or weight that count as data (a constant a conv
        reads: importer/recognise.py writes each as a `constant` layer)."""
        self.rec = rec
        self.seeds = seeds
        self.users: dict[int, list[Node]] = defaultdict(list)
        for n in rec.nodes:
            for v in dict.fromkeys(n.tensors()):
                self.users[v].append(n)
        self.origin: dict[int, str] = {}
        self.sources: dict[int, frozenset[str]] = {}  # weight values: the parameter / buffer paths they come from
        for val in rec.values:
            if val.kind == "input":
                self.origin[val.id] = "data"
            elif val.kind in ("param", "buffer"):
                self.origin[val.id] = "weight"
                self.sources[val.id] = frozenset(val.paths[:1])
            elif val.kind == "const":
                self.origin[val.id] = "const"
        for n in rec.nodes:
            ins = n.tensors()
            kinds = {self.origin.get(v, "const") for v in ins}
            kind = "const" if n.op in LIKE else "data" if "data" in kinds else "weight" if "weight" in kinds else "const"
            srcs = frozenset().union(*(self.sources.get(v, frozenset()) for v in ins)) if kind == "weight" else frozenset()
            for o in n.outs:
                if o in seeds:
                    self.origin[o] = "data"
                    continue
                self.origin[o] = kind
                if kind == "weight":
                    self.sources[o] = srcs

    # ---- values -------------------------------------------------------------------------------------------
    def shape(self, v: int) -> tuple[int, ...]:
        return self.rec.values[v].shape

    def producer(self, v: Any) -> Node | None:
        return self.rec.producer(v.id if isinstance(v, V) else v) if isinstance(v, (V, int)) else None

    def call(self, node: Node) -> ModuleCall | None:
        return self.rec.calls[node.call] if node.call >= 0 else None

    def scope(self, node: Node) -> str:
        c = self.call(node)
        return c.path if c is not None else ""

    def data(self, v: int) -> bool:
        return self.origin.get(v) == "data"

    def weight(self, v: int) -> bool:
        return self.origin.get(v) == "weight"

    def param(self, v: Any) -> str | None:
        """The path of the parameter or buffer ``v`` is, or is a view of with the same number of values (a layer
        scale's ``gamma.reshape(1, -1, 1, 1)``); None otherwise."""
        v = v.id if isinstance(v, V) else v
        if not isinstance(v, int):
            return None
        val = self.rec.values[v]
        if val.kind in ("param", "buffer"):
            return val.paths[0]
        n = self.producer(v)
        if n is None or not (n.op in RESHAPES or n.op in PASS_OPS or n.op in ("permute", "transpose", "t")):
            return None
        src = first_tensor(n)
        if src is None or _numel(self.shape(src)) != _numel(val.shape) or len(set(n.tensors())) != 1:
            return None
        return self.param(src)

    # ---- nodes --------------------------------------------------------------------------------------------
    def passes(self, node: Node) -> bool:
        """Hands its first input on unchanged: a copy, cast or alias, dropout in eval, a view to the same shape."""
        src = first_tensor(node)
        if src is None or len(node.outs) < 1:
            return False
        if node.op in PASS_OPS:
            return node.op not in ("native_dropout",) and self.shape(node.outs[0]) == self.shape(src)
        if node.op in RESHAPES:
            return self.shape(node.outs[0]) == self.shape(src) and len(set(node.tensors())) == 1
        return False

    def back(self, v: int) -> int:
        """``v`` with the nodes that pass their input through undone."""
        n = self.producer(v)
        while n is not None and self.passes(n):
            src = first_tensor(n)
            assert src is not None
            v = src
            n = self.producer(v)
        return v

    def ahead(self, v: int) -> list[Node]:
        """The nodes that read ``v``, looking through the nodes that pass it on."""
        out: list[Node] = []
        for n in self.users.get(v, []):
            if self.passes(n) and first_tensor(n) == v:
                for o in n.outs[:1]:
                    out.extend(self.ahead(o))
            else:
                out.append(n)
        return out

    def source(self, node: Node, name: str = "self") -> int | None:
        """The value of the tensor argument ``name`` ('self', 'input'), else the first tensor."""
        a = node.args.get(name)
        if isinstance(a, V):
            return a.id
        return first_tensor(node)


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def numel(shape: tuple[int, ...]) -> int:
    return _numel(shape)
