"""Products of tensors: matmul (and bmm), einsum of two or three operands, and scaled dot-product attention.

Operands are two layer outputs (``from: [a, b]``) or one and a learned tensor (``param``, its shape as torch
holds it: a weight without the batch). MACs count the multiply-adds of the contraction: matmul
N·(batch dims)·n·k·m; einsum the product of the sizes of the letters that take part (both operands' shared
letters and the output's); attention QKᵀ and A·V (docs/conventions.md).
"""

from __future__ import annotations

import re
from dataclasses import field
from typing import TYPE_CHECKING, Any, NamedTuple

from ..cost import Backward, Cost
from .activations import SOFTMAX_OPS
from .counting import (
    BackwardCounted,
    Counted,
    Counting,
    Prediction,
    fvcore_einsum,
    numpy_einsum_estimate,
    on_cuda,
    on_meta,
    with_grad,
)
from .grad import SOFTMAX_BACKWARD_OPS, Need
from .receptive import IDENTITY, RF, WHOLE, global_rf, pairs, regroup, spatial_axes, taps, whole_along
from .registry import (
    ArgError,
    NodeLike,
    Part,
    Saves,
    ScorePass,
    Shape,
    ShapeError,
    _show,
    arg,
    boolean,
    choice,
    fused_score_passes,
    lazy_args,
    op,
    optional,
    pos_float,
    score_passes,
    typed,
)
from .shapes import is_tokens, numel
from .tensors import LAYOUT_DOC, broadcast, layout_arg, like, shaped, show_dims, tensor_shape, torch_dims

if TYPE_CHECKING:
    from torch import nn

PARAM_DOC = "a learned tensor as the second operand (a weight without the batch: [k, m]); its elements are params"


# ---- matmul --------------------------------------------------------------------------------------------
CALLS = {"operator": "x @ y", "matmul": "torch.matmul(x, y)", "bmm": "torch.bmm(x, y)"}


@lazy_args
class MatmulArgs:
    """Arguments of `matmul`."""

    param: tuple[int, ...] | None = field(default=None, metadata=arg(optional(tensor_shape), PARAM_DOC))
    reverse: bool = field(default=False, metadata=arg(boolean, "the learned tensor is the left operand (w @ x)"))
    call: str = field(default="operator", metadata=arg(choice(*CALLS), "how the model writes it: operator (x @ y), "
                                                                        "matmul (torch.matmul), bmm (torch.bmm)"))
    layout: str = field(default="auto", metadata=arg(layout_arg, LAYOUT_DOC))


class Product:
    """A matmul's operands as torch holds them (the batch included for layer outputs) and its result."""

    def __init__(self, left: tuple[int, ...], right: tuple[int, ...], out: tuple[int, ...], k: int) -> None:
        self.left, self.right, self.out, self.k = left, right, out, k  # out: per sample


def product(a: MatmulArgs, inputs: tuple[Shape, ...]) -> Product:
    """torch.matmul's shape rule on [B, *x] and the second operand, the batch kept first (ShapeError otherwise)."""
    x = torch_dims(inputs[0])
    if len(inputs) == 2:
        if a.param is not None or a.reverse:
            raise ShapeError("matmul of two outputs takes no 'param' or 'reverse': its operands are the inputs",
                             "param" if a.param is not None else "reverse")
        y = torch_dims(inputs[1])
        if len(x) < 2 or len(y) < 2 or len(x) != len(y):
            raise ShapeError(f"matmul of two outputs needs two of one rank, at least 2 dims per sample ([n, k] @ [k, m]); "
                             f"got {show_dims(x)} @ {show_dims(y)}")
        if x[-1] != y[-2]:
            raise ShapeError(f"cannot multiply {show_dims(x)} by {show_dims(y)}: {x[-1]} ≠ {y[-2]}")
        lead = broadcast(x[:-2], y[:-2])
        if lead is None:
            raise ShapeError(f"cannot multiply {show_dims(x)} by {show_dims(y)}: their leading dims do not broadcast")
        if a.call == "bmm" and (len(x) != 2 or x[:-2] != y[:-2]):
            raise ShapeError(f"torch.bmm multiplies [B, n, k] by [B, k, m], got {show_dims(x)} @ {show_dims(y)}", "call")
        return Product((1, *x), (1, *y), (*lead, x[-2], y[-1]), x[-1])
    if a.param is None:
        raise ShapeError("matmul needs a second operand: another output ('from: [a, b]') or a learned tensor ('param')")
    w = a.param
    if a.call == "bmm":
        raise ShapeError("torch.bmm multiplies two [B, n, k] and [B, k, m] tensors; a learned one has no batch: "
                         "use call operator or matmul", "call")
    if len(w) < 2:
        raise ShapeError(f"param {list(w)}: matmul's learned tensor needs at least 2 dims ([k, m])", "param")
    if not a.reverse:  # x @ w: [B, *lead, n, k] @ [*lead', k, m]
        if x[-1] != w[-2]:
            raise ShapeError(f"cannot multiply {show_dims(x)} by param {list(w)}: {x[-1]} ≠ {w[-2]}", "param")
        if len(w) - 2 > max(0, len(x) - 2):
            raise ShapeError(f"param {list(w)} has more leading dims than the sample {show_dims(x)}: they would reach "
                             "the batch", "param")
        lead = broadcast(x[:-2], w[:-2]) if len(x) >= 2 else ()
        if lead is None:
            raise ShapeError(f"cannot multiply {show_dims(x)} by param {list(w)}: their leading dims do not broadcast", "param")
        out = (*lead, x[-2], w[-1]) if len(x) >= 2 else (w[-1],)
        return Product((1, *x), w, out, x[-1])
    if len(x) < 2:  # w @ x: x needs [n, k] per sample, or its batch would be a row
        raise ShapeError(f"param @ x needs at least 2 dims per sample, got {show_dims(x)}", "reverse")
    if w[-1] != x[-2]:
        raise ShapeError(f"cannot multiply param {list(w)} by {show_dims(x)}: {w[-1]} ≠ {x[-2]}", "param")
    if len(w) > len(x):
        raise ShapeError(f"param {list(w)} has more leading dims than the sample {show_dims(x)}", "param")
    lead = broadcast(x[:-2], w[:-2])
    if lead is None:
        raise ShapeError(f"cannot multiply param {list(w)} by {show_dims(x)}: their leading dims do not broadcast", "param")
    return Product(w, (1, *x), (*lead, w[-2], x[-1]), w[-1])


def _with_batch(dims: tuple[int, ...], batch: int, holds_batch: bool) -> tuple[int, ...]:
    return (batch, *dims[1:]) if holds_batch else dims


def matmul_fvcore(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # matmul_flop_jit: prod(input 0's shape) · input 1's last dim; bmm_flop_jit: n·c·t·d (exact for [B, n, k])
    a: MatmulArgs = node.args
    p = product(a, node.in_shapes)
    left = _with_batch(p.left, batch, a.param is None or not a.reverse)
    return Prediction.of("aten::bmm" if a.call == "bmm" else "aten::matmul: prod(left) · right's last dim",
                         matmul=numel(left) * p.right[-1])


def matmul_ptflops(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    a: MatmulArgs = node.args
    if a.call == "operator":
        return Prediction.unseen("ptflops patches torch.matmul and Tensor.matmul, not the @ operator")
    p = product(a, node.in_shapes)  # _matmul_tensor_flops_hook: prod(input.shape) · other.shape[-1]
    left = _with_batch(p.left, batch, a.param is None or not a.reverse)
    return Prediction.of(matmul=numel(left) * p.right[-1])


def _calflops_matmul(per_mac: int) -> Counted:
    def predict(node: NodeLike, cost: Cost, batch: int) -> Prediction:
        a: MatmulArgs = node.args
        if a.call != "matmul":  # its _patch_tensor_methods leaves torch.bmm commented out
            return Prediction.unseen(f"calflops patches torch.matmul and Tensor.matmul, not {CALLS[a.call]}")
        p = product(a, node.in_shapes)  # _matmul_flops_compute: prod(input.shape) · other.shape[-1]
        left = _with_batch(p.left, batch, a.param is None or not a.reverse)
        return Prediction.of(matmul=per_mac * numel(left) * p.right[-1])

    return Counted(predict, "calflops counts torch.matmul as prod(left) · right's last dim, not @ or torch.bmm")


PAIRS = pairs("a product of two outputs pairs their positions: the largest field is the whole input")


@op("matmul", category="linear", args=MatmulArgs)
class Matmul:
    """Matrix product with torch's broadcasting, x @ y (torch.matmul, torch.bmm) of two outputs (`from: [a, b]`) or
    with a learned weight (`param`). MACs N·(batch dims)·n·k·m. `matmul: {from: [q, kt]}` is q @ kᵀ."""

    saves = Saves.INPUTS
    inputs = (1, 2)

    @staticmethod
    def rf(a: MatmulArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
        if len(inputs) == 2:
            return PAIRS
        x = torch_dims(inputs[0])
        axis = len(x) - 2 if a.reverse else len(x) - 1  # the dim of x the product sums over
        return whole_along(inputs[0], (axis,), "a product over positions reads them all")

    @staticmethod
    def backward(a: MatmulArgs, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
        # each operand's gradient is a product of the output's gradient with the other operand: the forward's MACs
        macs = Matmul.cost(a, inputs, out, batch).macs
        return Backward(input_macs=macs * sum(need.inputs), weight_macs=macs if need.weights else 0)

    counting = Counting(
        "aten::matmul", "x @ y", "matmul",
        fvcore=Counted(matmul_fvcore, "fvcore counts aten::matmul as prod(left operand) · right's last dim"),
        flop_counter=Counted(lambda node, cost, batch: Prediction.of("aten.mm/bmm: 2 FLOPs per MAC", matmul=2 * cost.macs),
                             "FlopCounterMode reports 2 FLOPs per MAC"),
        ptflops=Counted(matmul_ptflops, "ptflops counts torch.matmul/bmm as prod(left) · right's last dim, not @"),
        calflops=_calflops_matmul(1),
        calflops_flops=_calflops_matmul(2),
    )

    @staticmethod
    def shape(a: MatmulArgs, inputs: tuple[Shape, ...]) -> Shape:
        p = product(a, inputs)
        x = torch_dims(inputs[0])
        return shaped(p.out, a.layout, is_tokens(inputs[0]) and not a.reverse and len(p.out) == len(x), "matmul")

    @staticmethod
    def cost(a: MatmulArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        p = product(a, inputs)
        n = batch * numel(out)
        return Cost(params=numel(a.param) if a.param is not None else 0, macs=n * p.k, activations=n)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        import torch

        from ..modules.call import Call

        a: MatmulArgs = node.args
        # torch.matmul looked up at each call, as model code does (ptflops patches the module attribute)
        fn: Any = {"operator": lambda x, y: x @ y, "matmul": lambda x, y: torch.matmul(x, y),
                   "bmm": lambda x, y: torch.bmm(x, y)}[a.call]
        if a.param is not None:
            from ..modules.tensors import WithTensor

            return WithTensor(a.param, fn, CALLS[a.call].replace("y", "weight"), a.reverse)
        return Call(fn, CALLS[a.call])


# ---- einsum ------------------------------------------------------------------------------------------------
EQUATION = re.compile(r"([A-Za-z]+)((?:,[A-Za-z]+){1,2})->([A-Za-z]*)")
WORDS = {2: "two", 3: "three"}


# EQUATION with a space anywhere (the converter drops them), for `convcost schema`
@typed({"type": "string", "pattern": r"^ *[A-Za-z][A-Za-z ]*(, *[A-Za-z][A-Za-z ]*){1,2}- *>[A-Za-z ]*$"})
def equation(value: Any) -> str:
    """An einsum equation of two or three operands with its output: 'bnd,bmd->bnm' (spaces allowed)."""
    text = value.replace(" ", "") if isinstance(value, str) else None
    if text is None or EQUATION.fullmatch(text) is None:
        raise ArgError(f"must be an einsum of two or three operands with its output, such as 'bnd,bmd->bnm' (letters, "
                       f"no '...'), got {_show(value)}")
    return text


def split_equation(eq: str) -> tuple[tuple[str, ...], str]:
    """'bij,bjk,bkl->bil' -> (('bij', 'bjk', 'bkl'), 'bil')."""
    terms, _, out = eq.partition("->")
    return tuple(terms.split(",")), out


@lazy_args
class EinsumArgs:
    """Arguments of `einsum`."""

    equation: str = field(metadata=arg(equation, "torch.einsum's equation of two or three operands, the batch letter "
                                                 "first: 'bhnd,bhmd->bhnm'"))
    param: tuple[int, ...] | None = field(default=None, metadata=arg(optional(tensor_shape), PARAM_DOC + " (the last "
                                                                                                        "operand)"))
    layout: str = field(default="auto", metadata=arg(layout_arg, LAYOUT_DOC))


class Step(NamedTuple):
    """One step of torch.einsum's left-to-right contraction: ``macs`` where it contracts a letter (a bmm), else
    ``products`` (an elementwise multiply), and ``summed``: elements read by the sums it does first (letters of an
    operand that nothing later and not the output reads)."""

    macs: int
    products: int
    summed: int
    out: int = 0  # the elements of its result (the whole batch's)


class Contraction:
    """An einsum's letters and sizes: the operands' full shapes (the batch as 1), the output's, and what torch runs."""

    def __init__(self, a: EinsumArgs, inputs: tuple[Shape, ...]) -> None:
        terms, out = split_equation(a.equation)
        k = len(terms)
        x = torch_dims(inputs[0])
        if a.param is not None and len(inputs) == k:
            raise ShapeError(f"einsum of {WORDS.get(k, k)} outputs takes no 'param': its operands are the inputs", "param")
        if len(inputs) + (a.param is not None) != k:
            if k == 2:
                raise ShapeError("einsum needs a second operand: another output ('from: [a, b]') or a learned tensor "
                                 "('param')")
            raise ShapeError(f"'{a.equation}' names {k} operands: give {k} outputs ('from'), or {k - 1} and a learned "
                             f"tensor ('param'); got {len(inputs)} output{'s' * (len(inputs) != 1)}"
                             f"{' and a param' if a.param is not None else ''}", "equation")
        shapes = [(1, *torch_dims(s)) for s in inputs] + ([a.param] if a.param is not None else [])
        for i, (term, dims) in enumerate(zip(terms, shapes)):
            what = (f"the input {show_dims(x)}" if i == 0 else "the second operand" if k == 2 else f"operand {i + 1}")
            if len(term) != len(dims):
                raise ShapeError(f"'{term}' names {len(term)} dims, but {what} has {len(dims)}", "equation")
            if len(set(term)) != len(term):
                raise ShapeError(f"'{term}' repeats a letter (a diagonal); give each dim its own", "equation")
        if len(set(out)) != len(out) or not set(out) <= set().union(*terms):
            raise ShapeError(f"the output '{out}' must name distinct letters of the operands", "equation")
        batch = terms[0][0]
        with_batch = [i < len(inputs) for i in range(k)]
        if out[:1] != batch or any((t[:1] == batch) != b or (not b and batch in t) for t, b in zip(terms[1:], with_batch[1:])):
            others = "a second output" if k == 2 else "every other output"
            raise ShapeError(f"'{a.equation}': the batch letter '{batch}' must lead the input, the output and {others} "
                             "(and not appear in a learned tensor)", "equation")
        sizes: dict[str, int] = {}
        for term, dims in zip(terms, shapes):
            for c, n in zip(term, dims):
                if c == batch:
                    continue
                if sizes.setdefault(c, n) != n:
                    raise ShapeError(f"'{c}' is {sizes[c]} in one operand and {n} in the other", "equation")
        sizes[batch] = 1
        self.terms, self.out_term, self.sizes = terms, out, sizes
        self.shapes = tuple(shapes)
        self.out = tuple(sizes[c] for c in out[1:])
        shared = {c for c in set().union(*terms) if sum(c in t for t in terms) > 1}
        self.used = shared | set(out)  # torch sums away first the letters of one operand that the output drops
        # torch.einsum contracts (bmm) the shared letters the output drops, of size > 1; a size-1 letter is squeezed
        self.contracted = {c for c in shared - set(out) if sizes[c] > 1}
        self.second_has_batch = with_batch[1]
        self.with_batch = tuple(with_batch)

    def size(self, letters: set[str], batch: int) -> int:
        n = 1
        for c in letters:
            n *= batch if c == self.terms[0][0] else self.sizes[c]
        return n

    def steps(self, batch: int) -> tuple[Step, ...]:
        """torch.einsum's contraction, left to right (aten's einsum without a path: opt_einsum is not installed, so
        torch.functional.einsum passes none): the first operand's letters that no later operand and not the output
        reads are summed away; then each next operand's own such letters are summed away, and it is multiplied into
        the result, the letters it is the last to hold contracted (a bmm over all the letters either holds) or, where
        none of size > 1 is, multiplied elementwise."""
        terms, out = self.terms, set(self.out_term)
        last = {c: i for i, t in enumerate(terms) for c in t}

        def big(letters: set[str]) -> bool:
            return any(self.sizes[c] > 1 for c in letters)

        drop = {c for c in terms[0] if last[c] == 0 and c not in out}
        summed = self.size(set(terms[0]), batch) if big(drop) else 0
        held = set(terms[0]) - drop
        found: list[Step] = []
        for i, term in enumerate(terms[1:], start=1):
            mine = set(term)
            solo = {c for c in mine if last[c] == i and c not in out and c not in held}
            summed += self.size(mine, batch) if big(solo) else 0
            mine -= solo
            gone = {c for c in mine & held if last[c] == i and c not in out}
            both = held | mine
            product = self.size(both, batch)
            held = both - gone
            found.append(Step(product, 0, summed, self.size(held, batch)) if big(gone) else
                         Step(0, product, summed, self.size(held, batch)))
            summed = 0
        return tuple(found)


def _einsum_cost(a: EinsumArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
    c = Contraction(a, inputs)
    steps = c.steps(batch)
    return Cost(
        params=numel(a.param) if a.param is not None else 0,
        macs=sum(s.macs for s in steps),
        elementwise_ops=sum(s.products for s in steps),  # no letter contracted: torch multiplies elementwise
        pool_ops=sum(s.summed for s in steps),
        activations=batch * numel(out),
    )


def _operand_shapes(c: Contraction, batch: int) -> list[tuple[int, ...]]:
    return [(batch, *s[1:]) if b else tuple(s) for s, b in zip(c.shapes, c.with_batch)]


def _einsum_fvcore(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    c = Contraction(node.args, node.in_shapes)
    shapes = _operand_shapes(c, batch)
    return Prediction.of("numpy's einsum_path estimate, printed to 4 digits", einsum=fvcore_einsum(node.args.equation, shapes))


def _einsum_flop_counter(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    if not cost.macs:
        return Prediction.unseen("no letter is contracted: torch.einsum runs aten::mul, which FlopCounterMode does not count")
    return Prediction.of("aten.bmm: 2 FLOPs per MAC", einsum=2 * cost.macs)


def _einsum_calflops(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    c = Contraction(node.args, node.in_shapes)
    return Prediction.of(einsum=numpy_einsum_estimate(node.args.equation, _operand_shapes(c, batch)))


def _einsum_rf(a: EinsumArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
    """Two or three outputs: their positions paired (global). With a learned tensor and no other output: the input's
    position letters the output drops are read whole; the others must stay in their order among the output's
    positions, or they moved."""
    if len(inputs) >= 2:
        return PAIRS
    c = Contraction(a, inputs)
    letters = c.terms[0][1:]  # the input's, without the batch
    axes = spatial_axes(inputs[0])
    kept = [letters[i] for i in axes if letters[i] in c.out_term]
    placed = [c.out_term[1:][i] for i in spatial_axes(out)]
    if kept != placed:
        return regroup("an einsum that reorders positions")
    return taps(*(IDENTITY if letters[i] in c.out_term else WHOLE for i in axes), why="an einsum over positions sums them all")


@op("einsum", category="linear", args=EinsumArgs)
class Einsum:
    """torch.einsum of two or three operands: outputs (`from: [a, b]`, `from: [a, b, c]`), the last may be a learned
    tensor (`param`). MACs: per step of torch's left-to-right contraction, the product of the sizes of the letters
    either side holds (torch first sums away, as pool ops, the letters of one operand that no later one and not the
    output reads); a step that contracts no letter of size > 1 multiplies elementwise."""

    saves = Saves.INPUTS
    inputs = (1, 3)

    @staticmethod
    def saved_extra(node: NodeLike, batch: int, elem: int) -> int:
        """Of three operands, the result of the first step too: the second step's bmm keeps it (measured with
        saved_tensors_hooks on torch 2.13, tests/test_saved_bytes.py)."""
        steps = Contraction(node.args, node.in_shapes).steps(batch)
        return sum(s.out for s in steps[:-1]) * elem
    rf = staticmethod(lambda a, inputs, out: _einsum_rf(a, inputs, out))

    @staticmethod
    def backward(a: EinsumArgs, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
        # step by step, back from the last: each side's gradient is a product of the step's output gradient with the
        # other side, the step's own product (MACs where letters are contracted, elementwise products where none is);
        # the result so far needs one where an operand before it does; summed-away letters come back as an expand
        steps = Contraction(a, inputs).steps(batch)
        wants = [*need.inputs, *((need.weights,) if a.param is not None else ())]
        macs = ops = w_macs = w_ops = 0
        for i, s in enumerate(steps, start=1):
            if any(wants[:i]):
                macs, ops = macs + s.macs, ops + s.products
            if wants[i] and a.param is not None and i == len(steps):
                w_macs, w_ops = s.macs, s.products
            elif wants[i]:
                macs, ops = macs + s.macs, ops + s.products
        return Backward(input_macs=macs, input_ops=ops, weight_macs=w_macs, weight_ops=w_ops)

    counting = Counting(
        "aten::einsum", "torch.einsum",
        fvcore=Counted(_einsum_fvcore, "fvcore counts einsum from numpy's einsum_path estimate, rounded to 4 digits"),
        flop_counter=Counted(_einsum_flop_counter, "FlopCounterMode reports 2 FLOPs per MAC (torch.einsum runs bmm)"),
        ptflops=Counted(lambda node, cost, batch: Prediction.unseen("ptflops patches no torch.einsum")),
        calflops=Counted(lambda node, cost, batch: Prediction.unseen("calflops counts torch.einsum as FLOPs, with 0 MACs")),
        calflops_flops=Counted(_einsum_calflops, "calflops counts einsum as numpy's einsum_path estimate, not halved"),
    )

    @staticmethod
    def shape(a: EinsumArgs, inputs: tuple[Shape, ...]) -> Shape:
        c = Contraction(a, inputs)
        keeps = is_tokens(inputs[0]) and len(c.out) == len(torch_dims(inputs[0]))
        return shaped(c.out, a.layout, keeps, "einsum")

    cost = staticmethod(_einsum_cost)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        import torch

        from ..modules.call import Call

        eq = node.args.equation
        names = ", ".join("xyz"[:len(node.in_shapes)])
        if node.args.param is not None:
            from ..modules.tensors import WithTensor

            return WithTensor(node.args.param, lambda *xs: torch.einsum(eq, *xs), f"torch.einsum({eq!r}, {names}, weight)")
        return Call(lambda *xs: torch.einsum(eq, *xs), f"torch.einsum({eq!r}, {names})")


# ---- scaled dot-product attention --------------------------------------------------------------------------
@lazy_args
class SdpaArgs:
    """Arguments of `scaled_dot_product_attention` (those of F.scaled_dot_product_attention)."""

    is_causal: bool = field(default=False, metadata=arg(boolean, "causal: each query sees the keys up to its own position"))
    scale: float | None = field(default=None, metadata=arg(optional(pos_float), "the scores' scale (default 1/√E)"))
    mask: tuple[int, ...] | None = field(
        default=None, metadata=arg(optional(tensor_shape), "a learned additive mask held by the model (a relative position "
                                                           "bias), in place of a fourth input: its shape as torch holds it "
                                                           "([1, H, L, S]), broadcast to the scores; its elements are params")
    )
    table: tuple[int, ...] | None = field(
        default=None, metadata=arg(optional(tensor_shape), "with 'mask': the mask is gathered in the forward from a table of "
                                                           "this shape by a fixed index (timm's RelPosBias): the table's "
                                                           "elements are the params")
    )
    index: tuple[int, ...] | None = field(
        default=None, metadata=arg(optional(tensor_shape), "with 'table': the shape of the index buffer it is gathered by "
                                                           "(its elements are buffers)")
    )


class Heads:
    """q [..., L, E], k [..., S, E], v [..., S, Ev] per sample, and a mask broadcast to [..., L, S]."""

    def __init__(self, a: SdpaArgs, inputs: tuple[Shape, ...]) -> None:
        if len(inputs) < 3:
            raise ShapeError("scaled_dot_product_attention reads q, k and v: give 'from: [q, k, v]' (and a mask)")
        q, k, v = (torch_dims(s) for s in inputs[:3])
        if not len(q) == len(k) == len(v) >= 2:
            raise ShapeError(f"q, k and v need one rank of at least 2 dims per sample ([..., L, E]), got {show_dims(q)}, "
                             f"{show_dims(k)}, {show_dims(v)}")
        if q[:-2] != k[:-2] or q[:-2] != v[:-2]:
            raise ShapeError(f"q, k and v need the same leading dims (heads), got {show_dims(q)}, {show_dims(k)}, {show_dims(v)}")
        if q[-1] != k[-1] or k[-2] != v[-2]:
            raise ShapeError(f"k must be [..., S, E] for q [..., L, E] and v [..., S, Ev]: got q {show_dims(q)}, "
                             f"k {show_dims(k)}, v {show_dims(v)}")
        self.lead, self.l, self.s, self.e, self.ev = q[:-2], q[-2], k[-2], q[-1], v[-1]
        self.masked = len(inputs) == 4 or a.is_causal or a.mask is not None
        if (a.table is None) != (a.index is None) or (a.table is not None and a.mask is None):
            raise ShapeError("'table' and 'index' go together, with 'mask' (the shape of the gathered mask)", "table")
        scores = (*self.lead, self.l, self.s)
        if a.mask is not None:
            if len(inputs) == 4:
                raise ShapeError("give a mask as a fourth input or a learned 'mask', not both", "mask")
            if a.is_causal:
                raise ShapeError("give a learned 'mask' or 'is_causal', not both (as torch)", "is_causal")
            m = a.mask
            if len(m) < 2:
                raise ShapeError(f"the mask {list(m)} needs at least 2 dims ([L, S]), as torch's", "mask")
            if len(m) > len(scores) + 1 or (len(m) == len(scores) + 1 and m[0] != 1) or \
                    broadcast((1, *scores), m) != (1, *scores):
                raise ShapeError(f"the mask {list(m)} does not broadcast to the scores {show_dims(scores)} (a leading 1 "
                                 "at most for the batch)", "mask")
        if len(inputs) == 4:
            if a.is_causal:
                raise ShapeError("give a mask (a fourth input) or 'is_causal', not both (as torch)", "is_causal")
            m = torch_dims(inputs[3])
            if len(m) != len(scores) or broadcast(m, scores) != scores:
                raise ShapeError(f"the mask {show_dims(m)} does not broadcast to the scores {show_dims(scores)}")

    def scores(self, batch: int) -> int:
        return batch * numel(self.lead) * self.l * self.s


def sdpa_parts(a: SdpaArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> tuple[Part, ...]:
    h = Heads(a, inputs)
    scores = h.scores(batch)
    shape = (*h.lead, h.l, h.s)
    q = batch * numel(h.lead) * h.l * h.e
    parts = [Part("q·kᵀ", "matmul", shape, Cost(macs=scores * h.e, elementwise_ops=q))]  # + q scaled
    if h.masked:  # a learned mask's table (or the mask itself) is its params, its index buffers
        held = a.table if a.table is not None else a.mask
        parts.append(Part("mask", "add", shape, Cost(params=numel(held) if held is not None else 0,
                                                     buffers=numel(a.index) if a.index is not None else 0,
                                                     elementwise_ops=scores)))
    parts.append(Part("softmax", "softmax", shape, Cost(act_ops=SOFTMAX_OPS * scores)))
    parts.append(Part("a·v", "matmul", out, Cost(macs=scores * h.ev, activations=batch * numel(out))))
    return tuple(parts)


def flash_on_cpu(node: NodeLike) -> bool:
    """torch 2.13 on CPU takes its flash kernel (no FlopCounterMode formula) for [B, H, L, E] q, k and v of one
    width E (masks and is_causal too); otherwise, and on the meta device, the math path's bmm. A mask that needs a
    gradient, or of 3 dims as torch holds it, sends torch to the math path (measured): a learned `mask` is a
    parameter (it needs one, under no_grad too), one gathered from its table needs one with gradients on, and one of
    3 dims ([H, L, S]) is math's. Not modelled: a q, k or v whose last dim is a strided view (a transpose of the last
    two dims) sends torch to the math path too."""
    a: SdpaArgs = node.args
    h = Heads(a, node.in_shapes)
    if a.mask is not None and (a.table is None or with_grad() or len(a.mask) == 3):
        return False
    return len(h.lead) == 1 and h.e == h.ev


def sdpa_score_passes(node: NodeLike, batch: int) -> tuple[ScorePass, ...]:
    """The passes over its scores (for the latency model): where CPU runs its flash kernel (flash_on_cpu) they stay in
    blocks in cache, softmax's work over them only; on the math path q·kᵀ writes them, the mask is added in place (read
    and written), softmax reads them and writes a new tensor, a·v reads that."""
    h = Heads(node.args, node.in_shapes)
    if flash_on_cpu(node):
        return fused_score_passes(h.scores(batch))
    return score_passes(h.scores(batch), *(("add",) if h.masked else ()))


def _sdpa_flop_counter(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    if not on_meta() and not on_cuda() and flash_on_cpu(node):
        return Prediction.unseen("CPU runs its flash attention kernel, which FlopCounterMode has no formula for")
    # the math path's bmm; on CUDA the flash/efficient kernels, which FlopCounterMode counts the same (sdpa_flop)
    return Prediction.of("2 FLOPs per MAC of q·kᵀ and a·v", scaled_dot_product_attention=2 * cost.macs)


ATTENDS = global_rf("attention reads every key")
CAUSAL = pairs("causal attention reads every earlier key: the last query reads them all")


def sdpa_backward(a: SdpaArgs, inputs: tuple[Shape, ...], batch: int, need: Need) -> Backward:
    """The math path's backward: dV = Aᵀ·dO (scores·Ev MACs) where v needs a gradient; where q or k does, dA = dO·Vᵀ
    (scores·Ev), softmax 4 per score, then dQ = dS·K (scores·E, and q's scale: 1 per element of q) and dK = dSᵀ·Q
    (scores·E) as needed; a mask that needs a gradient sums dS back (one add per score). A learned mask's gradient
    (``mask``) is the weight gradient: dA and softmax's backward, counted with the input gradients where the layer
    computes any (work shared by both), and its one add per score."""
    h = Heads(a, inputs)
    scores = h.scores(batch)
    q, k, v = need.inputs[:3]
    mask = len(inputs) == 4 and need.inputs[3]
    learned = a.mask is not None and need.weights
    macs = scores * h.ev if v else 0
    ops = 0
    if q or k or mask:
        macs += scores * h.ev
        ops += SOFTMAX_BACKWARD_OPS * scores + (scores if mask else 0)
    if q:
        macs += scores * h.e
        ops += batch * numel(h.lead) * h.l * h.e
    if k:
        macs += scores * h.e
    if not learned:
        return Backward(input_macs=macs, input_ops=ops)
    if q or k or mask:  # dA and softmax's backward already computed for the inputs
        return Backward(input_macs=macs, input_ops=ops, weight_ops=scores)
    return Backward(input_macs=macs, input_ops=ops, weight_macs=scores * h.ev,
                    weight_ops=SOFTMAX_BACKWARD_OPS * scores + scores)


def _sdpa_flop_counter_backward(node: NodeLike, grads: Backward, batch: int) -> Prediction:
    if not grads.macs:
        return Prediction.unseen("no gradient computed")
    if not on_meta() and not on_cuda() and flash_on_cpu(node):
        return Prediction.unseen("CPU runs its flash attention kernel, whose backward FlopCounterMode has no formula for")
    if on_cuda():  # sdpa_backward_flop_count: the fused kernel recomputes q·kᵀ and computes every gradient
        h = Heads(node.args, node.in_shapes)
        return Prediction.of("the fused backward: q·kᵀ recomputed, dS, dV, dQ, dK",
                             scaled_dot_product_attention=2 * h.scores(batch) * (3 * h.e + 2 * h.ev))
    return Prediction.of("aten.bmm: 2 FLOPs per backward MAC", scaled_dot_product_attention=2 * grads.macs)


@op("scaled_dot_product_attention", category="linear", args=SdpaArgs, aliases=("sdpa",))
class ScaledDotProductAttention:
    """F.scaled_dot_product_attention(q, k, v, attn_mask, is_causal, scale) of `from: [q, k, v]` or `[q, k, v, mask]`
    (an additive mask), or a learned `mask` the layer holds (gathered from a `table` by an `index`). Rows: q·kᵀ
    (…·L·S·E MACs, q scaled: one op per element of q), the mask (one add per score, also when causal), softmax (3 per
    score), a·v (…·L·S·Ev MACs); causal attention is counted over every score, as torch computes it."""

    saves = Saves.INPUTS
    inputs = (3, 4)
    rf = staticmethod(lambda a, inputs, out: CAUSAL if a.is_causal else ATTENDS)
    score_passes = staticmethod(sdpa_score_passes)
    backward = staticmethod(lambda a, inputs, out, batch, need: sdpa_backward(a, inputs, batch, need))
    counting = Counting(
        "aten::scaled_dot_product_attention", "F.scaled_dot_product_attention",
        fvcore=Counted(lambda node, cost, batch: Prediction.unseen(
            "fvcore has no handle for aten::scaled_dot_product_attention (reports it as unsupported)"),
            "fvcore has no handle for aten::scaled_dot_product_attention"),
        flop_counter=Counted(_sdpa_flop_counter, "FlopCounterMode counts the math path's bmm (2 FLOPs per MAC), not "
                                                 "CPU's flash kernel"),
        ptflops=Counted(lambda node, cost, batch: Prediction.unseen("ptflops patches no F.scaled_dot_product_attention")),
        flop_counter_backward=BackwardCounted(
            lambda node, grads, batch: _sdpa_flop_counter_backward(node, grads, batch),
            "FlopCounterMode counts the math path's backward bmm; CUDA's fused kernels recompute q·kᵀ; CPU's flash "
            "kernel has no formula"),
        device_dependent=True,
    )

    @staticmethod
    def shape(a: SdpaArgs, inputs: tuple[Shape, ...]) -> Shape:
        h = Heads(a, inputs)
        return like(inputs[0], (*h.lead, h.l, h.ev), "scaled_dot_product_attention")

    @staticmethod
    def cost(a: SdpaArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return sum((p.cost for p in sdpa_parts(a, inputs, out, batch)), Cost())

    parts = staticmethod(sdpa_parts)

    @staticmethod
    def saved_extra(node: NodeLike, batch: int, elem: int) -> int:
        # the backward keeps the output and one log-sum-exp per query row (fp32)
        h = Heads(node.args, node.in_shapes)
        return batch * numel(node.shape) * elem + batch * numel(h.lead) * h.l * 4

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch.nn import functional as F

        from ..modules.call import Call

        a: SdpaArgs = node.args
        causal, scale = a.is_causal, a.scale

        def attend(q: Any, k: Any, v: Any, *mask: Any) -> Any:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask[0] if mask else None, is_causal=causal,
                                                  scale=scale)

        label = f"F.scaled_dot_product_attention(is_causal={causal}, scale={scale})"
        if a.mask is not None and a.table is not None and a.index is not None:
            from ..modules.tensors import WithGathered

            return WithGathered(a.mask, a.table, a.index, attend, label.replace("(", "(attn_mask=table[index], ", 1))
        if a.mask is not None:
            from ..modules.tensors import WithTensor

            return WithTensor(a.mask, attend, label.replace("(", "(attn_mask=weight, ", 1))
        return Call(attend, label)
