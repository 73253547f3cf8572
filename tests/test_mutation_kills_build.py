"""Torch modules the ops build, the backward factories, and the matmul counters' predictions, each against torch or a
number derived by hand (issue 19's mutation sample, tests/mutation_sample_19.txt, docs/testing.md).

``binary_build``, ``binary_backward``, ``like_forward_of`` and ``reduce_shape`` are factories that run while convcost
is imported: they are called here, at test time, so a mutant of one is the one that runs.
"""

from __future__ import annotations

import pytest
from conftest import graph_of

torch = pytest.importorskip("torch")

from convcost.ops.elementwise import BINARY, binary_backward, binary_build  # noqa: E402
from convcost.ops.grad import Need, like_forward_of  # noqa: E402
from convcost.ops.matmul import matmul_fvcore, matmul_ptflops  # noqa: E402
from convcost.ops.pool import PoolArgs, _window_cost  # noqa: E402
from convcost.ops.reductions import reduce_shape  # noqa: E402
from convcost.ops.shapes import TokenGrid, Tokens, is_tokens  # noqa: E402

SUB = next(b for b in BINARY if b.name == "sub")
DIV = next(b for b in BINARY if b.name == "div")


def _node(layers: str, shape: str = "[4, 6, 5]", batch: int = 1):  # type: ignore[no-untyped-def]
    return graph_of(f"input: {{shape: {shape}, batch: {batch}}}\nlayers:\n  - {layers}\n").nodes[-1]


@pytest.mark.parametrize(("layer", "label", "expected"), [
    ("sub: {scalar: 2}", "x - 2", lambda x: x - 2),
    ("sub: {scalar: 2.5, reverse: true}", "2.5 - x", lambda x: 2.5 - x),
    ("sub: {param: [4, 1, 1]}", "x - weight, weight [4, 1, 1]", lambda x: x - 1),  # the weight starts as ones
    ("sub: {param: [4, 1, 1], reverse: true}", "x - weight, weight [4, 1, 1]", lambda x: 1 - x),
    ("sub: {const: [1, 6, 5]}", "x - const, const [1, 6, 5]", None),
    ("sub: {param: [4, 1, 1], table: [7, 1], index: [4]}", "x - table[index], table [7, 1], index [4] -> [4, 1, 1]",
     lambda x: x),  # the table starts as zeros
    ("sub: {param: [4, 1, 1], table: [7, 1], index: [4], reverse: true}",
     "x - table[index], table [7, 1], index [4] -> [4, 1, 1]", lambda x: -x),
])
def test_a_binary_op_builds_its_module(layer: str, label: str, expected) -> None:  # type: ignore[no-untyped-def]
    node = _node(layer)
    module = binary_build(SUB)(node)
    assert module.extra_repr() == label
    if expected is not None:
        x = torch.arange(120, dtype=torch.float32).reshape(1, 4, 6, 5)
        assert torch.equal(module(x), expected(x))


def test_a_binary_op_of_two_outputs() -> None:
    node = graph_of("input: [4, 6, 5]\nlayers:\n  - relu: {name: a}\n  - relu: {name: b, from: input}\n"
                    "  - div: {from: [a, b]}\n").nodes[-1]
    module = binary_build(DIV)(node)
    assert module.extra_repr() == "x / y"
    x, y = (torch.full((1, 4, 6, 5), v) for v in (24.0, 4.0))
    assert torch.equal(module(x, y), torch.full((1, 4, 6, 5), 6.0))  # 24 / 4: x over y, not y over x


@pytest.mark.parametrize(("need", "ops"), [
    # sub of two [4, 6, 5] outputs, batch 2: n = 240; the right operand's gradient −g: 1 op each; the left's g: none
    (Need((True, True), False), 240),
    (Need((False, True), False), 240),
    (Need((True, False), False), 0),
    (Need((False, False), False), 0),
])
def test_a_binary_ops_backward(need: Need, ops: int) -> None:
    node = graph_of("input: {shape: [4, 6, 5], batch: 2}\nlayers:\n  - relu: {name: a}\n"
                    "  - sub: {from: [a, input]}\n").nodes[-1]
    got = binary_backward("sub")(node.args, node.in_shapes, node.shape, 2, need)
    assert (got.input_ops, got.weight_ops) == (ops, 0)


def test_a_binary_ops_backward_with_a_learned_tensor() -> None:
    # div by a learned [4, 1, 1], batch 2: n = 2·120 = 240; x's gradient g/y: 1 op each; the weight's −g·x/y²: 3 each,
    # + 240 adds to sum it back over the positions it was broadcast to (4 < 240 elements)
    node = _node("div: {param: [4, 1, 1]}", batch=2)
    got = binary_backward("div")(node.args, node.in_shapes, node.shape, 2, Need((True,), True))
    assert (got.input_ops, got.weight_ops) == (240, 3 * 240 + 240)


def test_a_pools_backward_costs_what_its_forward_reads() -> None:
    # maxpool 2×2 stride 2 on [4, 6, 6], batch 2: 2·4·3·3 = 72 outputs, each window 4 elements: 288 ops
    backward = like_forward_of(_window_cost, "pool_ops")
    args = PoolArgs((2, 2), (2, 2), (0, 0))
    assert backward(args, ((4, 6, 6),), (4, 3, 3), 2, Need((True,), False)).input_ops == 288
    assert backward(args, ((4, 6, 6),), (4, 3, 3), 2, Need((False,), False)).input_ops == 0


@pytest.mark.parametrize(("layer", "shape", "out", "tokens"), [
    ("mean: {dims: 1}", "[4, 6, 5]", (6, 5), False),
    ("mean: {dims: [2, 3], keepdim: true}", "[4, 6, 5]", (4, 1, 1), False),
    ("mean: {dims: 1}", "tokens", (8,), False),  # the tokens' N goes: one D-wide vector
    ("mean: {dims: 2, keepdim: true}", "tokens", (7, 1), True),  # auto layout: like the input, tokens 7×1
    ("mean: {dims: 1, keepdim: true, layout: map}", "tokens", (1, 8), False),
])
def test_a_reductions_shape(layer: str, shape: str, out: tuple, tokens: bool) -> None:
    node = _node(layer) if shape != "tokens" else graph_of(
        "input: [8, 7, 1]\nlayers:\n  - to_tokens\n  - " + layer + "\n").nodes[-1]  # 7 tokens, 8 wide
    a, inputs = node.args, node.in_shapes
    got = reduce_shape("mean")(a, inputs)
    assert got == out and is_tokens(got) == tokens


def test_a_reduction_over_a_grid_keeps_tokens_while_d_stays() -> None:
    grid = TokenGrid(2, 3, 4)  # [B, 2, 3, 4]
    node = graph_of("input: [4, 2, 3]\nlayers:\n  - to_tokens: {grid: true}\n  - mean: {dims: 2}\n").nodes[-1]
    assert node.in_shapes[0] == grid
    got = reduce_shape("mean")(node.args, (grid,))
    assert got == (2, 4) and isinstance(got, Tokens)  # W goes: 2 tokens of width 4


# ---- matmul as fvcore and ptflops count it ------------------------------------------------------------------------
@pytest.mark.parametrize(("layer", "batch", "fvcore", "reason", "ptflops"), [
    # x [B, 6, 5] @ w [5, 3], batch 2: fvcore prod(left) · right's last dim = 2·6·5 · 3 = 180; ptflops the same
    ("matmul: {param: [5, 3], call: matmul}", 2, 180, "aten::matmul: prod(left) · right's last dim", 180),
    # w [3, 6] @ x [B, 6, 5]: the left operand is the weight: 3·6 · 5 = 90, whatever the batch
    ("matmul: {param: [3, 6], reverse: true, call: matmul}", 2, 90, "aten::matmul: prod(left) · right's last dim", 90),
    ("matmul: {param: [5, 3]}", 3, 3 * 6 * 5 * 3, "aten::matmul: prod(left) · right's last dim", None),  # @: unseen
])
def test_matmul_as_fvcore_and_ptflops_count_it(layer: str, batch: int, fvcore: int, reason: str,
                                               ptflops: int | None) -> None:
    node = _node(layer, "[6, 5]", batch)
    got = matmul_fvcore(node, None, batch)
    assert (got.value, got.reason) == (fvcore, reason)
    assert matmul_ptflops(node, None, batch).value == ptflops


def test_bmm_as_fvcore_counts_it() -> None:
    node = graph_of("input: {shape: [6, 5], batch: 2}\nlayers:\n  - relu: {name: a}\n  - permute: {dims: [0, 2, 1]}\n"
                    "  - matmul: {from: [a, permute1], call: bmm}\n").nodes[-1]
    got = matmul_fvcore(node, None, 2)
    assert (got.value, got.reason) == (2 * 6 * 5 * 6, "aten::bmm")  # [2, 6, 5] @ [2, 5, 6]: n·c·t·d


# ---- scaled dot-product attention built as torch's F.scaled_dot_product_attention -----------------------------------
@pytest.mark.parametrize("layer", [
    "scaled_dot_product_attention: {from: [q, k, v, m]}",
    "scaled_dot_product_attention: {from: [q, k, v], is_causal: true}",
    "scaled_dot_product_attention: {from: [q, k, v], scale: 0.5}",
])
def test_attention_builds_torchs_call(layer: str) -> None:
    from convcost.ops.matmul import ScaledDotProductAttention

    node = graph_of("input: [2, 5, 5]\nlayers:\n  - relu: {name: q}\n  - relu: {name: k, from: input}\n"
                    "  - relu: {name: v, from: input}\n  - relu: {name: m, from: input}\n  - " + layer + "\n").nodes[-1]
    module = ScaledDotProductAttention.build(node)
    gen = torch.Generator().manual_seed(19)
    q, k, v = (torch.randn(1, 2, 5, 5, generator=gen) for _ in range(3))
    mask = torch.zeros(1, 2, 5, 5)
    mask[..., 0] = float("-inf")  # no query sees key 0
    scale = 0.5 if "scale:" in layer else 5 ** -0.5  # 1/√E
    scores = q @ k.transpose(-2, -1) * scale
    if "m]" in layer:
        scores = scores + mask
    if "causal" in layer:
        scores = scores.masked_fill(torch.ones(5, 5, dtype=torch.bool).triu(1), float("-inf"))
    expected = scores.softmax(-1) @ v
    got = module(q, k, v, mask) if "m]" in layer else module(q, k, v)
    assert torch.allclose(got, expected, atol=1e-5)


# ---- `convcost import`: the arguments read off torch's modules ---------------------------------------------------
@pytest.mark.parametrize(("module", "args"), [
    (lambda nn: nn.ReflectionPad2d(1), {"pad": [1, 1, 1, 1], "mode": "reflect"}),
    (lambda nn: nn.ReplicationPad1d((2, 0)), {"pad": [2, 0], "mode": "replicate"}),
    (lambda nn: nn.CircularPad3d(1), {"pad": [1] * 6, "mode": "circular"}),
    (lambda nn: nn.ConstantPad2d((1, 0, 1, 0), 0.5), {"pad": [1, 0, 1, 0], "mode": "constant", "value": 0.5}),
    (lambda nn: nn.ZeroPad2d(2), {"pad": [2, 2, 2, 2], "mode": "constant", "value": 0.0}),
])
def test_pad_reads_torchs_padding_modules(module, args: dict) -> None:  # type: ignore[no-untyped-def]
    from torch import nn

    from convcost.ops.views import Pad

    assert Pad.from_torch(module(nn)) == args


def test_log_softmax_reads_its_dim_and_refuses_none() -> None:
    from torch import nn

    from convcost.ops.activations import LogSoftmax
    from convcost.ops.registry import NotImportable

    assert LogSoftmax.from_torch(nn.LogSoftmax(dim=2)) == {"dim": 2}
    with pytest.raises(NotImportable) as e:
        LogSoftmax.from_torch(nn.LogSoftmax())
    assert str(e.value) == "dim=None (torch's implicit, deprecated choice of dim)"


def test_patch_merging_reads_torchvisions_and_names_a_norm_it_cannot_express() -> None:
    pytest.importorskip("torchvision")
    from torch import nn
    from torchvision.models.swin_transformer import PatchMerging as TorchvisionPatchMerging

    from convcost.ops.registry import NotImportable
    from convcost.ops.windows import PatchMerging

    assert PatchMerging.from_torch(TorchvisionPatchMerging(8)) == {"eps": 1e-5}  # its LayerNorm(4·8)'s default eps
    with pytest.raises(NotImportable) as e:
        PatchMerging.from_torch(TorchvisionPatchMerging(8, norm_layer=nn.BatchNorm1d))
    assert str(e.value) == "norm_layer BatchNorm1d (convcost's is a LayerNorm(4C) with weight and bias)"


@pytest.mark.parametrize(("args", "compared"), [
    # torch reads None as false
    ({"scale": 2, "mode": "bilinear"}, (("mode", "bilinear"), ("align_corners", False), ("antialias", False))),
    ({"scale": 2, "mode": "bilinear", "align_corners": True},
     (("mode", "bilinear"), ("align_corners", True), ("antialias", False))),
    ({"size": 4, "mode": "nearest"}, (("mode", "nearest"), ("align_corners", None), ("antialias", False))),
    ({"scale": 0.5, "mode": "bicubic", "antialias": True},
     (("mode", "bicubic"), ("align_corners", False), ("antialias", True))),
])
def test_upsample_compares_its_mode_and_corners(args: dict, compared: tuple) -> None:
    from convcost.ops.resample import UpsampleArgs

    assert UpsampleArgs(**args).compared() == compared
