"""Shape rules of the tensor ops, every refusal and every result pinned (issue 19's mutation sample, docs/testing.md).

mutmut's seeded sample of issue 19 (tests/mutation_sample_19.txt) found mutants of these rules that no test saw: an
error message or the argument it points at changed or dropped (``"param"`` made ``None``, ``show_dims(None)``), a
bound made inclusive, a layout rule inverted. Each case below calls the rule itself and checks the whole refusal
(message and argument) or the whole result; every number is derived by hand beside it.
"""

from __future__ import annotations

import pytest

from convcost.cost import Cost
from convcost.ops.matmul import Contraction, EinsumArgs, Heads, MatmulArgs, SdpaArgs, product, sdpa_parts
from convcost.ops.registry import ShapeError
from convcost.ops.shapes import TokenGrid, Tokens, is_tokens
from convcost.ops.views import PadArgs, Permute, PermuteArgs, Reshape, ReshapeArgs, Select, SelectArgs, _pad_shape

X = (4, 6, 5)  # a sample of [B, 4, 6, 5]


def refusal(fn, *args) -> tuple[str, str | None]:  # type: ignore[no-untyped-def]
    with pytest.raises(ShapeError) as e:
        fn(*args)
    return e.value.message, e.value.arg


# ---- matmul: torch.matmul's rule on [B, *x] ----------------------------------------------------------------------
@pytest.mark.parametrize(("args", "inputs", "message", "arg"), [
    (MatmulArgs(param=(5, 3)), (X, X),
     "matmul of two outputs takes no 'param' or 'reverse': its operands are the inputs", "param"),
    (MatmulArgs(reverse=True), (X, X),
     "matmul of two outputs takes no 'param' or 'reverse': its operands are the inputs", "reverse"),
    (MatmulArgs(), (X, (4, 30)), "matmul of two outputs needs two of one rank, at least 2 dims per sample "
                                  "([n, k] @ [k, m]); got [B, 4, 6, 5] @ [B, 4, 30]", None),
    (MatmulArgs(), ((5,), (5,)), "matmul of two outputs needs two of one rank, at least 2 dims per sample "
                                  "([n, k] @ [k, m]); got [B, 5] @ [B, 5]", None),
    (MatmulArgs(), ((6, 5), (6, 5)), "cannot multiply [B, 6, 5] by [B, 6, 5]: 5 ≠ 6", None),
    # 5 = 5 but the leading 4 and 3 do not broadcast
    (MatmulArgs(), (X, (3, 5, 2)), "cannot multiply [B, 4, 6, 5] by [B, 3, 5, 2]: their leading dims do not broadcast",
     None),
    (MatmulArgs(call="bmm"), (X, (4, 5, 2)),
     "torch.bmm multiplies [B, n, k] by [B, k, m], got [B, 4, 6, 5] @ [B, 4, 5, 2]", "call"),
    (MatmulArgs(), (X,), "matmul needs a second operand: another output ('from: [a, b]') or a learned tensor ('param')",
     None),
    (MatmulArgs(param=(5, 3), call="bmm"), (X,), "torch.bmm multiplies two [B, n, k] and [B, k, m] tensors; a learned "
                                                  "one has no batch: use call operator or matmul", "call"),
    (MatmulArgs(param=(5,)), (X,), "param [5]: matmul's learned tensor needs at least 2 dims ([k, m])", "param"),
    (MatmulArgs(param=(4, 3)), (X,), "cannot multiply [B, 4, 6, 5] by param [4, 3]: 5 ≠ 4", "param"),
    # [2, 4, 5, 3] has 2 leading dims, the sample [4, 6, 5] 1: the second would reach the batch
    (MatmulArgs(param=(2, 4, 5, 3)), (X,), "param [2, 4, 5, 3] has more leading dims than the sample [B, 4, 6, 5]: "
                                          "they would reach the batch", "param"),
    (MatmulArgs(param=(3, 5, 2)), (X,), "cannot multiply [B, 4, 6, 5] by param [3, 5, 2]: their leading dims do not "
                                       "broadcast", "param"),
    (MatmulArgs(param=(3, 5), reverse=True), ((5,),), "param @ x needs at least 2 dims per sample, got [B, 5]", "reverse"),
    (MatmulArgs(param=(3, 4), reverse=True), ((6, 5),), "cannot multiply param [3, 4] by [B, 6, 5]: 4 ≠ 6", "param"),
    (MatmulArgs(param=(2, 3, 6), reverse=True), ((6, 5),),
     "param [2, 3, 6] has more leading dims than the sample [B, 6, 5]", "param"),
    (MatmulArgs(param=(3, 2, 6), reverse=True), (X,),
     "cannot multiply param [3, 2, 6] by [B, 4, 6, 5]: their leading dims do not broadcast", "param"),
])
def test_matmul_refusals_say_what_and_where(args: MatmulArgs, inputs: tuple, message: str, arg: str | None) -> None:
    assert refusal(product, args, inputs) == (message, arg)


@pytest.mark.parametrize(("args", "inputs", "left", "right", "out", "k"), [
    # two outputs: [B, 4, 6, 5] @ [B, 4, 5, 2] -> [B, 4, 6, 2], k = 5 (the batch held as 1)
    (MatmulArgs(), (X, (4, 5, 2)), (1, 4, 6, 5), (1, 4, 5, 2), (4, 6, 2), 5),
    (MatmulArgs(), (X, (1, 5, 2)), (1, 4, 6, 5), (1, 1, 5, 2), (4, 6, 2), 5),  # the leading 1 broadcasts to 4
    (MatmulArgs(call="bmm"), ((6, 5), (5, 2)), (1, 6, 5), (1, 5, 2), (6, 2), 5),
    # x @ w, w [5, 3]: [B, 4, 6, 5] -> [B, 4, 6, 3]
    (MatmulArgs(param=(5, 3)), (X,), (1, 4, 6, 5), (5, 3), (4, 6, 3), 5),
    (MatmulArgs(param=(4, 5, 3)), (X,), (1, 4, 6, 5), (4, 5, 3), (4, 6, 3), 5),  # one leading dim each: allowed
    (MatmulArgs(param=(5, 3)), ((5,),), (1, 5), (5, 3), (3,), 5),  # a vector per sample: [B, 5] @ [5, 3] -> [B, 3]
    # w @ x, w [3, 6]: [3, 6] @ [B, 6, 5] -> [B, 3, 5], k = 6
    (MatmulArgs(param=(3, 6), reverse=True), ((6, 5),), (3, 6), (1, 6, 5), (3, 5), 6),
    (MatmulArgs(param=(4, 3, 6), reverse=True), (X,), (4, 3, 6), (1, 4, 6, 5), (4, 3, 5), 6),  # as many dims: allowed
])
def test_matmul_products(args: MatmulArgs, inputs: tuple, left: tuple, right: tuple, out: tuple, k: int) -> None:
    p = product(args, inputs)
    assert (p.left, p.right, p.out, p.k) == (left, right, out, k)


# ---- einsum --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("equation", "param", "inputs", "message"), [
    ("bij,bjk->bik", (5, 3), (X, X), "einsum of two outputs takes no 'param': its operands are the inputs"),
    ("bij,bjk->bik", None, (X,),
     "einsum needs a second operand: another output ('from: [a, b]') or a learned tensor ('param')"),
    ("bij,bjk->bik", None, (X, X), "'bij' names 3 dims, but the input [B, 4, 6, 5] has 4"),
    ("bcij,jk->bcik", (5, 3, 2), (X,), "'jk' names 2 dims, but the second operand has 3"),
    ("bii,bij->bij", None, ((4, 4), (4, 4)), "'bii' repeats a letter (a diagonal); give each dim its own"),
    ("bij,bjj->bij", None, ((4, 4), (4, 4)), "'bjj' repeats a letter (a diagonal); give each dim its own"),
    ("bij,bjk->bii", None, ((4, 6), (6, 3)), "the output 'bii' must name distinct letters of the operands"),
    ("bij,bjk->bz", None, ((4, 6), (6, 3)), "the output 'bz' must name distinct letters of the operands"),
    ("bij,bjk->ikb", None, ((4, 6), (6, 3)), "'bij,bjk->ikb': the batch letter 'b' must lead the input, the output and a "
                                            "second output (and not appear in a learned tensor)"),
    ("bij,jkb->bik", None, ((4, 6), (6, 3)), "'bij,jkb->bik': the batch letter 'b' must lead the input, the output and a "
                                           "second output (and not appear in a learned tensor)"),
    ("bij,bjk->bik", (1, 6, 3), ((4, 6),), "'bij,bjk->bik': the batch letter 'b' must lead the input, the output and a "
                                          "second output (and not appear in a learned tensor)"),
    ("bij,jbk->bik", (6, 1, 3), ((4, 6),), "'bij,jbk->bik': the batch letter 'b' must lead the input, the output and a "
                                          "second output (and not appear in a learned tensor)"),
    ("bij,bjk->bik", None, ((4, 6), (5, 3)), "'j' is 6 in one operand and 5 in the other"),
])
def test_einsum_refusals_say_what(equation: str, param: tuple | None, inputs: tuple, message: str) -> None:
    expected_arg = "param" if message.startswith("einsum of two") else None if message.startswith("einsum needs") \
        else "equation"
    assert refusal(Contraction, EinsumArgs(equation, param), inputs) == (message, expected_arg)


def test_einsum_contraction_of_two_outputs() -> None:
    # q [B, 2, 5, 8], k [B, 2, 7, 8]: 'bhnd,bhmd->bhnm' contracts d (8) and keeps h, n, m
    c = Contraction(EinsumArgs("bhnd,bhmd->bhnm"), ((2, 5, 8), (2, 7, 8)))
    assert c.terms == ("bhnd", "bhmd") and c.out_term == "bhnm"
    assert c.sizes == {"h": 2, "n": 5, "d": 8, "m": 7, "b": 1}
    assert c.shapes == ((1, 2, 5, 8), (1, 2, 7, 8))
    assert c.out == (2, 5, 7)
    assert c.used == {"b", "h", "d", "n", "m"}  # shared b, h, d and the output's n, m
    assert c.contracted == {"d"}
    assert c.second_has_batch is True
    assert c.size({"b", "h", "n", "m", "d"}, 3) == 3 * 2 * 5 * 7 * 8
    assert c.size({"h", "n"}, 3) == 2 * 5


def test_einsum_contraction_with_a_learned_tensor_and_a_size_one_letter() -> None:
    # x [B, 4, 1] with w [1, 3]: 'bij,jk->bik' sums j of size 1 only: torch squeezes it, no bmm
    c = Contraction(EinsumArgs("bij,jk->bik", (1, 3)), ((4, 1),))
    assert c.shapes == ((1, 4, 1), (1, 3))
    assert c.sizes == {"i": 4, "j": 1, "k": 3, "b": 1}
    assert c.out == (4, 3)
    assert c.contracted == set()
    assert c.second_has_batch is False


def test_einsum_of_three_backward_is_step_by_step() -> None:
    from convcost.ops import REGISTRY
    from convcost.ops.grad import Need

    # 'bij,bjk,bkl->bil' on [4, 4] at batch 2: two steps of 2·4·4·4 = 128 MACs (tests/tensor_op_cases.py)
    backward = REGISTRY["einsum"].backward
    a, ins = EinsumArgs("bij,bjk,bkl->bil"), ((4, 4), (4, 4), (4, 4))
    assert backward(a, ins, (4, 4), 2, Need((False, False, True), False)).input_macs == 128  # the last operand's only
    # the first's: back through step 2 (the result so far), then step 1
    assert backward(a, ins, (4, 4), 2, Need((True, False, False), False)).input_macs == 2 * 128
    assert backward(a, ins, (4, 4), 2, Need((True, True, True), False)).input_macs == 4 * 128
    # a learned last operand [4, 6]: its gradient is the weight's, step 2's 2·4·4·6 = 192
    b = backward(EinsumArgs("bij,bjk,kl->bil", (4, 6)), ((4, 4), (4, 4)), (4, 6), 2, Need((False, False), True))
    assert (b.input_macs, b.weight_macs) == (0, 192)


# ---- scaled dot-product attention ----------------------------------------------------------------------------
Q, K, V = (4, 6, 8), (4, 7, 8), (4, 7, 5)  # 4 heads, L 6, S 7, E 8, Ev 5


@pytest.mark.parametrize(("args", "inputs", "message", "arg"), [
    (SdpaArgs(), (Q, K), "scaled_dot_product_attention reads q, k and v: give 'from: [q, k, v]' (and a mask)", None),
    (SdpaArgs(), (Q, K, (7, 5)), "q, k and v need one rank of at least 2 dims per sample ([..., L, E]), got "
                                 "[B, 4, 6, 8], [B, 4, 7, 8], [B, 7, 5]", None),
    (SdpaArgs(), ((8,), (8,), (8,)), "q, k and v need one rank of at least 2 dims per sample ([..., L, E]), got "
                                     "[B, 8], [B, 8], [B, 8]", None),
    (SdpaArgs(), (Q, (3, 7, 8), V), "q, k and v need the same leading dims (heads), got [B, 4, 6, 8], [B, 3, 7, 8], "
                                    "[B, 4, 7, 5]", None),
    (SdpaArgs(), (Q, K, (2, 7, 5)), "q, k and v need the same leading dims (heads), got [B, 4, 6, 8], [B, 4, 7, 8], "
                                    "[B, 2, 7, 5]", None),
    (SdpaArgs(), (Q, (4, 7, 9), V), "k must be [..., S, E] for q [..., L, E] and v [..., S, Ev]: got q [B, 4, 6, 8], "
                                    "k [B, 4, 7, 9], v [B, 4, 7, 5]", None),
    (SdpaArgs(), (Q, K, (4, 3, 5)), "k must be [..., S, E] for q [..., L, E] and v [..., S, Ev]: got q [B, 4, 6, 8], "
                                    "k [B, 4, 7, 8], v [B, 4, 3, 5]", None),
    (SdpaArgs(is_causal=True), (Q, K, V, (4, 6, 7)), "give a mask (a fourth input) or 'is_causal', not both (as torch)",
     "is_causal"),
    # the scores are [B, 4, 6, 7]
    (SdpaArgs(), (Q, K, V, (4, 6, 5)), "the mask [B, 4, 6, 5] does not broadcast to the scores [B, 4, 6, 7]", None),
    (SdpaArgs(), (Q, K, V, (6, 7)), "the mask [B, 6, 7] does not broadcast to the scores [B, 4, 6, 7]", None),
])
def test_attention_refusals_say_what_and_where(args: SdpaArgs, inputs: tuple, message: str, arg: str | None) -> None:
    assert refusal(Heads, args, inputs) == (message, arg)


@pytest.mark.parametrize(("args", "inputs", "masked"), [
    (SdpaArgs(), (Q, K, V), False),
    (SdpaArgs(is_causal=True), (Q, K, V), True),
    (SdpaArgs(), (Q, K, V, (1, 6, 7)), True),  # a mask [1, 6, 7] broadcasts to the scores [4, 6, 7]
    (SdpaArgs(), (Q, K, V, (4, 6, 7)), True),
])
def test_attention_heads(args: SdpaArgs, inputs: tuple, masked: bool) -> None:
    h = Heads(args, inputs)
    assert (h.lead, h.l, h.s, h.e, h.ev, h.masked) == ((4,), 6, 7, 8, 5, masked)
    assert h.scores(2) == 2 * 4 * 6 * 7


@pytest.mark.parametrize("causal", [False, True])
def test_attention_parts_name_and_cost_each_step(causal: bool) -> None:
    # batch 2: scores 2·4·6·7 = 336; q 2·4·6·8 = 384 elements (each scaled once)
    scores = 2 * 4 * 6 * 7
    parts = sdpa_parts(SdpaArgs(is_causal=causal), (Q, K, V), (4, 6, 5), 2)
    expected = [("q·kᵀ", "matmul", (4, 6, 7), Cost(macs=scores * 8, elementwise_ops=2 * 4 * 6 * 8))]
    if causal:
        expected.append(("mask", "add", (4, 6, 7), Cost(elementwise_ops=scores)))
    expected += [("softmax", "softmax", (4, 6, 7), Cost(act_ops=3 * scores)),  # exp, share of the sum, divide
                 ("a·v", "matmul", (4, 6, 5), Cost(macs=scores * 5, activations=2 * 4 * 6 * 5))]
    assert [tuple(p) for p in parts] == expected


# ---- views -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("dims", "message"), [
    ((0, 2, 1), "dims [0, 2, 1] must order all 4 dims of [B, 4, 6, 5], the batch first"),
    ((0, 1, 2, 4), "dims [0, 1, 2, 4]: each must be in -4..3 for [B, 4, 6, 5]"),
    ((-5, 1, 2, 3), "dims [-5, 1, 2, 3]: each must be in -4..3 for [B, 4, 6, 5]"),
    ((0, 1, 1, 2), "dims [0, 1, 1, 2] is not a permutation of the 4 dims of [B, 4, 6, 5]"),
    ((1, 0, 2, 3), "dims [1, 0, 2, 3] moves the batch (dim 0); convcost counts per sample: keep 0 first"),
])
def test_permute_refusals(dims: tuple[int, ...], message: str) -> None:
    assert refusal(Permute.shape, PermuteArgs(dims), (X,)) == (message, "dims")


def test_permute_takes_negative_dims_and_channels_last_makes_a_grid() -> None:
    # -4..-1 are 0..3: [0, 2, 3, 1] moves C last, a 6×5 grid of 4-wide tokens
    out = Permute.shape(PermuteArgs((-4, -2, -1, -3)), (X,))
    assert out == (30, 4) and isinstance(out, TokenGrid) and out.grid == (6, 5)


@pytest.mark.parametrize(("shape", "message"), [
    ((-1, -1), "shape [-1, -1] has more than one -1; give every size but one"),
    ((4, 0, 30), "shape [4, 0, 30] holds a size below 1 (only one -1 is allowed)"),
    ((4, -2, 30), "shape [4, -2, 30] holds a size below 1 (only one -1 is allowed)"),
    ((7, -1), "[B, 4, 6, 5] (120 values per sample) does not reshape to [7, -1]: 7 does not divide it"),
    ((4, 31), "[B, 4, 6, 5] (120 values per sample) does not reshape to [4, 31] (124)"),
])
def test_reshape_refusals(shape: tuple[int, ...], message: str) -> None:
    assert refusal(Reshape.shape, ReshapeArgs(shape), (X,)) == (message, "shape")


def test_reshape_results() -> None:
    assert Reshape.shape(ReshapeArgs((-1, 5)), (X,)) == (24, 5)  # 120 / 5
    assert Reshape.shape(ReshapeArgs((2, 60)), (X,)) == (2, 60)


def test_select_refusal_and_the_layout_it_leaves() -> None:
    assert refusal(Select.shape, SelectArgs(2, 6), (X,)) == ("index 6 is out of range for dim 2 of [B, 4, 6, 5] (-6 to 5)",
                                                             "index")
    assert refusal(Select.shape, SelectArgs(2, -7), (X,)) == ("index -7 is out of range for dim 2 of [B, 4, 6, 5] "
                                                              "(-6 to 5)", "index")
    assert Select.shape(SelectArgs(2, -6), (X,)) == (4, 5)  # -6 is index 0 of 6
    grid = TokenGrid(2, 3, 4)  # [B, 2, 3, 4]: a 2×3 grid of 4-wide tokens
    across = Select.shape(SelectArgs(3, 0), (grid,))  # the width goes: a [B, 2, 3] map, no tokens left
    assert across == (2, 3) and not is_tokens(across)
    row = Select.shape(SelectArgs(1, 0), (grid,))  # a row of the grid: 3 tokens, still 4 wide
    assert row == (3, 4) and is_tokens(row) and isinstance(row, Tokens)


@pytest.mark.parametrize(("pad", "mode", "value", "shape", "message", "arg"), [
    ((1, 1, 1), "constant", 0.0, X, "pad [1, 1, 1] must have two numbers per padded dim (left, right, top, bottom, ...)",
     "pad"),
    ((1,) * 8, "constant", 0.0, X, "pad [1, 1, 1, 1, 1, 1, 1, 1] pads 4 dims, but a sample of [B, 4, 6, 5] has 3", "pad"),
    ((1, 1), "reflect", 0.0, (2, 4, 6, 5), "reflect padding pads the last 1, 2 or 3 dims of a tensor with one or two "
                                           "more ([B, 2, 4, 6, 5] with 1), as torch requires; use mode constant", "mode"),
    ((1,) * 8, "replicate", 0.0, (2, 4, 6, 5), "replicate padding pads the last 1, 2 or 3 dims of a tensor with one or "
                                               "two more ([B, 2, 4, 6, 5] with 4), as torch requires; use mode constant",
     "mode"),
    ((1, -1, 0, 0), "replicate", 0.0, X, "replicate padding cannot be negative, got [1, -1, 0, 0]", "pad"),
    ((1, 1, 1, 1), "circular", 2.0, X, "'value' is the fill of constant padding; mode circular takes none", "value"),
    ((0, 5, 0, 0), "reflect", 0.0, X, "reflect padding of dim 3 (5) must be smaller than it, got 0, 5", "pad"),
    ((0, 0, 6, 0), "reflect", 0.0, X, "reflect padding of dim 2 (6) must be smaller than it, got 6, 0", "pad"),
    ((6, 0, 0, 0), "circular", 0.0, X, "circular padding of dim 3 (5) must be at most its size, got 6, 0", "pad"),
])
def test_pad_refusals(pad: tuple, mode: str, value: float, shape: tuple, message: str, arg: str) -> None:
    assert refusal(_pad_shape, PadArgs(pad, mode, value), (shape,)) == (message, arg)


def test_pad_results() -> None:
    assert _pad_shape(PadArgs((1, 2, 3, 4)), (X,)) == (4, 6 + 3 + 4, 5 + 1 + 2)  # last dim first: W by 1, 2; H by 3, 4
    assert _pad_shape(PadArgs((4, 4, 0, 0), "reflect"), (X,)) == (4, 6, 13)  # 4 < 5: allowed
    assert _pad_shape(PadArgs((5, 5, 0, 0), "circular"), (X,)) == (4, 6, 15)  # 5 ≤ 5: allowed
    assert _pad_shape(PadArgs((-1, 0)), (X,)) == (4, 6, 4)  # constant mode crops
    assert _pad_shape(PadArgs((1,) * 6, "replicate"), (X,)) == (6, 8, 7)  # 3 dims of a 3-dim sample: allowed
    tokens = _pad_shape(PadArgs((0, 0, 1, 1)), (Tokens(7, 8),))  # one more token each side, still tokens
    assert tokens == (9, 8) and is_tokens(tokens)
