"""Every op rule's shape and cost formula, each number derived by hand beside it."""

from __future__ import annotations

import pytest
from conftest import analysis_of

from convcost.costmodel.cost import Cost
from convcost.ops import ALIASES, REGISTRY
from convcost.ops.registry import NoArgs, OpRule, register

COVERED: set[str] = set()


def one(layers: str, input_: str = "[8, 10, 10]", batch: int = 1):  # type: ignore[no-untyped-def]
    a = analysis_of(f"input: {{shape: {input_}, batch: {batch}}}\nlayers:\n{layers}\n")
    for lc in a.layers:
        COVERED.add(lc.node.op)
    return a


def test_conv_stride_padding_dilation() -> None:
    a = one("  - conv: {out: 4, kernel: [3, 5], stride: 2, padding: [1, 2], dilation: [1, 2]}", "[6, 11, 13]")
    lc = a.layers[0]
    # H: floor((11 + 2*1 - 1*(3-1) - 1)/2) + 1 = floor(10/2) + 1 = 6
    # W: floor((13 + 2*2 - 2*(5-1) - 1)/2) + 1 = floor(8/2) + 1 = 5
    assert lc.node.shape == (4, 6, 5)
    assert lc.cost.params == 4 * 6 * 3 * 5 + 4
    assert lc.cost.macs == 6 * 5 * 4 * 6 * 3 * 5
    assert lc.cost.bias_ops == 6 * 5 * 4
    assert lc.cost.activations == 4 * 6 * 5


def test_conv_batch_scales_macs_not_params() -> None:
    a = one("  - conv: {out: 4, kernel: 3, bias: false}", batch=3)
    lc = a.layers[0]
    assert lc.node.shape == (4, 8, 8)  # 10 - 3 + 1
    assert lc.cost.macs == 3 * 8 * 8 * 4 * 8 * 9
    assert lc.cost.params == 4 * 8 * 9


def test_conv_same_and_valid() -> None:
    a = one("  - conv: {out: 2, kernel: 4, padding: same}\n  - conv: {out: 2, kernel: 3, padding: valid}")
    assert a.layers[0].node.shape == (2, 10, 10)  # same keeps H×W even for an even kernel
    assert a.layers[1].node.shape == (2, 8, 8)  # 10 - 3 + 1


def test_grouped_conv() -> None:
    lc = one("  - conv: {out: 12, kernel: 3, padding: 1, groups: 4, bias: false}").layers[0]
    assert lc.cost.params == 12 * (8 // 4) * 9
    assert lc.cost.macs == 10 * 10 * 12 * 2 * 9


def test_pointwise_and_depthwise_are_convs() -> None:
    a = one("  - depthwise: {kernel: 3, stride: 2, multiplier: 2}\n  - pointwise: {out: 5, bias: false}")
    dw, pw = a.layers
    assert (dw.node.name, dw.node.op, dw.node.args.groups) == ("depthwise1", "conv", 8)
    # default padding (3-1)//2 = 1: floor((10 + 2 - 2 - 1)/2) + 1 = 5
    assert dw.node.shape == (16, 5, 5)
    assert dw.cost.params == 16 * 1 * 9 + 16
    assert pw.cost.macs == 5 * 5 * 5 * 16


def test_depthwise_padding_default_explicit_and_same() -> None:
    a = one(
        "  - depthwise: {kernel: 4}\n  - depthwise: {kernel: 4, padding: same}\n"
        "  - dwsep: {out: 2, kernel: 2, padding: [0, 1]}"
    )
    even, same, sep = a.layers[0], a.layers[1], a.layers[2]
    assert even.node.shape == (8, 9, 9)  # default pad (4-1)//2 = 1: 10 + 2 - 3 - 1 + 1 = 9
    assert same.node.shape == (8, 9, 9)  # 'same' keeps 9×9 even for the even kernel (as torch)
    assert same.cost.macs == 9 * 9 * 8 * 1 * 4 * 4
    assert sep.node.shape == (8, 8, 10)  # H: 9 - 2 + 1 = 8; W: 9 + 2 - 2 + 1 = 10


def test_dwsep_with_bn_and_act() -> None:
    a = one("  - dwsep: {out: 4, bn: true, act: relu6}")
    assert [lc.node.name for lc in a.layers] == [
        "dwsep1.depthwise1", "dwsep1.bn1", "dwsep1.relu61", "dwsep1.pointwise1", "dwsep1.bn2", "dwsep1.relu62"
    ]
    assert a.layers[0].cost.params == 8 * 9  # bias defaults to off when bn is on


def test_linear_and_flatten() -> None:
    a = one("  - flatten\n  - linear: {out: 7}", "[2, 3, 4]", batch=2)
    flat, fc = a.layers
    assert flat.node.shape == (24,)
    assert flat.cost == Cost(activations=2 * 24)
    assert fc.cost.params == 24 * 7 + 7
    assert fc.cost.macs == 2 * 24 * 7
    assert fc.cost.bias_ops == 2 * 7


def test_batchnorm() -> None:
    lc = one("  - bn").layers[0]
    assert lc.node.op == "batchnorm"
    assert lc.cost.params == 2 * 8  # gamma, beta
    assert lc.cost.buffers == 2 * 8 + 1  # running mean, var, num_batches_tracked
    assert lc.cost.norm_ops == 2 * 8 * 10 * 10  # scale + shift per element
    assert lc.cost.macs == 0


@pytest.mark.parametrize(
    "act", ["relu", "relu6", "leaky_relu", "sigmoid", "silu", "swish", "hardswish", "hardsigmoid", "gelu", "tanh"]
)
def test_activations_one_op_per_element(act: str) -> None:
    lc = one(f"  - {act}").layers[0]
    assert lc.cost == Cost(act_ops=8 * 10 * 10, activations=8 * 10 * 10)


def test_maxpool_floor_and_ceil() -> None:
    a = one("  - maxpool: {kernel: 3, stride: 2}\n  - maxpool: {kernel: 3, stride: 2, ceil_mode: true}", "[1, 9, 9]")
    floor, ceil = a.layers
    assert floor.node.shape == (1, 4, 4)  # floor((9-3)/2)+1 = 4
    assert ceil.node.shape == (1, 2, 2)  # ceil((4-3)/2)+1 = 2 (last window starts at 2 < 4)
    assert floor.cost.pool_ops == 4 * 4 * 9
    # GoogLeNet: 112 → maxpool 3/2 ceil → 56
    g = one("  - maxpool: {kernel: 3, stride: 2, ceil_mode: true}", "[1, 112, 112]").layers[0]
    assert g.node.shape == (1, 56, 56)  # ceil((112-3)/2)+1 = 56
    # ceil mode drops a window that would start in the right padding: 5, k2 s2 p1 → ceil(4/2)+1 = 3, kept
    # (last start (3-1)*2 = 4 < 5+1); 4, k2 s2 p0 → ceil(2/2)+1 = 2
    c = one("  - maxpool: {kernel: 2, stride: 2, padding: 1, ceil_mode: true}", "[1, 5, 5]").layers[0]
    assert c.node.shape == (1, 3, 3)


def test_avgpool() -> None:
    lc = one("  - avgpool: {kernel: 3, stride: 1, padding: 1}").layers[0]
    assert lc.node.shape == (8, 10, 10)
    assert lc.cost.pool_ops == 8 * 10 * 10 * 9


def test_adaptive_and_global_pool() -> None:
    a = one("  - adaptive_avgpool: {out: 3}", "[2, 7, 7]")
    # windows along 7 → 3: [0,3) [2,5) [4,7): 3+3+3 = 9 per axis, so 9·9 reads per channel
    assert a.layers[0].node.shape == (2, 3, 3)
    assert a.layers[0].cost.pool_ops == 2 * 9 * 9
    g = one("  - global_avgpool", "[2, 7, 7]").layers[0]
    assert g.node.shape == (2, 1, 1)
    assert g.cost.pool_ops == 2 * 7 * 7


def test_dropout_and_identity_pass_through() -> None:
    a = one("  - dropout: {p: 0.2}\n  - identity")
    for lc in a.layers:
        assert lc.node.shape == (8, 10, 10)
        assert lc.cost == Cost(activations=800)


def test_concat_add_multiply() -> None:
    a = one(
        "  - concat: [[conv: {out: 3, kernel: 1}], [conv: {out: 5, kernel: 1}]]\n"
        "  - residual: [conv: {out: 8, kernel: 1}]\n"
        "  - gate: [global_avgpool, sigmoid]"
    )
    by = {lc.node.op: lc for lc in a.layers if lc.node.op in ("concat", "add", "multiply")}
    assert by["concat"].node.shape == (3 + 5, 10, 10)
    assert by["concat"].cost == Cost(activations=800)  # a copy: no arithmetic
    assert by["add"].cost.elementwise_ops == 8 * 10 * 10
    assert by["multiply"].node.in_shapes == ((8, 10, 10), (8, 1, 1))
    assert by["multiply"].cost.elementwise_ops == 8 * 10 * 10


def test_cost_records_add_and_are_immutable() -> None:
    a, b = Cost(params=1, macs=2, act_ops=3), Cost(params=10, macs=20, pool_ops=5)
    assert a + b == Cost(params=11, macs=22, act_ops=3, pool_ops=5)
    assert sum([a, b]) == a + b
    assert (a + b).flops == 2 * 22 + 3 + 5
    with pytest.raises(AttributeError):
        a.macs = 5  # type: ignore[misc]


def test_duplicate_registration_is_refused() -> None:
    rule = REGISTRY["relu"]
    with pytest.raises(ValueError, match="already registered"):
        register(rule)
    with pytest.raises(ValueError, match="already registered"):
        register(OpRule("bn", NoArgs, "norm", rule.shape, rule.cost, "alias clash"))


def test_upsample_nearest_copies() -> None:
    a = one("  - upsample: {scale: 2}", "[8, 5, 6]", batch=3)
    lc = a.layers[0]
    assert lc.node.shape == (8, 10, 12)  # 5*2, 6*2
    # nearest: each output element is a copy of one input element, no arithmetic (docs/conventions.md)
    assert lc.cost == Cost(activations=3 * 8 * 10 * 12)


def test_chunk_is_a_channel_slice() -> None:
    a = one("  - chunk: {parts: 4, index: 3}", "[8, 5, 6]", batch=2)
    lc = a.layers[0]
    assert lc.node.shape == (2, 5, 6)  # 8 channels / 4 parts
    assert lc.cost == Cost(activations=2 * 2 * 5 * 6)


def test_every_registered_op_has_a_formula_test() -> None:
    # runs last in this module (pytest keeps file order): every rule was exercised above
    assert set(REGISTRY) - COVERED == set(), "ops without a formula test"
    assert set(ALIASES) <= {"fc", "bn", "swish", "mul", "gap"}
