"""Every op rule's shape and cost formula, each number derived by hand beside it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from conftest import analysis_of

from convcost.costmodel.cost import Cost
from convcost.ops import ALIASES, REGISTRY
from convcost.ops.registry import NoArgs, OpRule, register


def one(layers: str, input_: str = "[8, 10, 10]", batch: int = 1):  # type: ignore[no-untyped-def]
    return analysis_of(f"input: {{shape: {input_}, batch: {batch}}}\nlayers:\n{layers}\n")


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


# ---- one table row per registered op: its shape and its whole cost record, derived by hand ------
@dataclass(frozen=True)
class OpCase:
    op: str  # the registered op under test: exactly one layer of the spec runs it
    layer: str  # the spec's one layer (YAML flow form)
    input: str
    batch: int
    shape: tuple[int, ...]
    cost: Cost  # every field, so a formula that drops or doubles a term fails


def _act(op: str, args: str = "") -> OpCase:
    # 2 × 3×4×5 = 120 outputs, one op each
    return OpCase(op, f"{op}{args}", "[3, 4, 5]", 2, (3, 4, 5), Cost(act_ops=120, activations=120))


# ---- 1-D (C×L) and 3-D (C×D×H×W) inputs: torch's Conv1d/3d, pools and BatchNorm1d/3d rules ----------
RANK_CASES = [
    # conv1d on 4×20, batch 2: k 5, s 2, p 1, d 2: L floor((20 + 2 - 2·4 - 1)/2) + 1 = 7
    # weight 6·4·5 = 120 (+6 bias); positions 2·7 = 14
    OpCase("conv", "conv: {out: 6, kernel: 5, stride: 2, padding: 1, dilation: 2}", "[4, 20]", 2, (6, 7),
           Cost(params=6 * 4 * 5 + 6, macs=14 * 6 * 4 * 5, bias_ops=14 * 6, activations=14 * 6)),
    # conv3d on 4×5×9×8, groups 2, k [3,3,2], s [1,2,2], p [1,1,0], no bias:
    # D (5 + 2 - 2 - 1)/1 + 1 = 5; H floor((9 + 2 - 2 - 1)/2) + 1 = 5; W floor((8 - 1 - 1)/2) + 1 = 4
    # weight 6·(4/2)·3·3·2 = 216; positions 5·5·4 = 100
    OpCase("conv", "conv: {out: 6, kernel: [3, 3, 2], stride: [1, 2, 2], padding: [1, 1, 0], groups: 2, bias: false}",
           "[4, 5, 9, 8]", 1, (6, 5, 5, 4), Cost(params=6 * 2 * 3 * 3 * 2, macs=100 * 216, activations=6 * 100)),
    # 'same' on C×D×H×W keeps every spatial dim: 2·3·3·3 weights per output channel, 3 outputs, 4·4·4 positions
    OpCase("conv", "conv: {out: 3, kernel: 3, padding: same, bias: false}", "[2, 4, 4, 4]", 1, (3, 4, 4, 4),
           Cost(params=3 * 2 * 27, macs=64 * 3 * 2 * 27, activations=3 * 64)),
    # batchnorm on C×L and C×D×H×W, batch 2: γ, β and running stats per channel, 2 ops per element
    OpCase("batchnorm", "bn", "[5, 7]", 2, (5, 7),
           Cost(params=2 * 5, buffers=2 * 5 + 1, norm_ops=2 * 2 * 35, activations=2 * 35)),
    OpCase("batchnorm", "bn", "[3, 2, 4, 5]", 2, (3, 2, 4, 5),
           Cost(params=2 * 3, buffers=2 * 3 + 1, norm_ops=2 * 2 * 120, activations=2 * 120)),
    # maxpool1d on 2×11, k 3, s 2, p 1: floor((11 + 2 - 3)/2) + 1 = 6; batch 2: 2·2·6 = 24 windows of 3
    OpCase("maxpool", "maxpool: {kernel: 3, stride: 2, padding: 1}", "[2, 11]", 2, (2, 6), Cost(pool_ops=24 * 3, activations=24)),
    # maxpool3d on 2×5×7×7, k [1,3,3], s [1,2,2], ceil: D 5; H, W ceil((7 - 3)/2) + 1 = 3; 2·5·3·3 = 90 windows of 9
    OpCase("maxpool", "maxpool: {kernel: [1, 3, 3], stride: [1, 2, 2], ceil_mode: true}", "[2, 5, 7, 7]", 1, (2, 5, 3, 3),
           Cost(pool_ops=90 * 9, activations=90)),
    # avgpool1d on 3×10, k 4 (stride 4): floor((10 - 4)/4) + 1 = 2; 3·2 = 6 windows of 4
    OpCase("avgpool", "avgpool: {kernel: 4}", "[3, 10]", 1, (3, 2), Cost(pool_ops=6 * 4, activations=6)),
    # avgpool3d on 2×4×6×6, k 2: 2×3×3 per channel, 2·18 = 36 windows of 2·2·2
    OpCase("avgpool", "avgpool: {kernel: 2}", "[2, 4, 6, 6]", 1, (2, 2, 3, 3), Cost(pool_ops=36 * 8, activations=36)),
    # adaptive 1-D 7 → 3: windows [0,3) [2,5) [4,7) = 9 reads per channel, batch 2 · 2 channels
    OpCase("adaptive_avgpool", "adaptive_avgpool: {out: 3}", "[2, 7]", 2, (2, 3),
           Cost(pool_ops=2 * 2 * 9, activations=2 * 2 * 3)),
    # adaptive 3-D 5×7×8 → 2×3×2: D [0,3) [2,5) = 6; H 7 → 3 = 9; W 8 → 2 = 8: 6·9·8 = 432 reads per channel
    OpCase("adaptive_avgpool", "adaptive_avgpool: {out: [2, 3, 2]}", "[3, 5, 7, 8]", 1, (3, 2, 3, 2),
           Cost(pool_ops=3 * 432, activations=3 * 12)),
    # global on C×L and C×D×H×W: every element read once per channel, one output per channel
    OpCase("global_avgpool", "gap", "[4, 9]", 2, (4, 1), Cost(pool_ops=2 * 4 * 9, activations=2 * 4)),
    OpCase("global_avgpool", "gap", "[4, 2, 3, 5]", 1, (4, 1, 1, 1), Cost(pool_ops=4 * 30, activations=4)),
    # conv_transpose 2-D on 8×5×6, batch 2: out 6, k 3, s 2, p 1, output_padding 1, groups 2
    # H (5-1)·2 - 2 + 1·2 + 1 + 1 = 10; W (6-1)·2 - 2 + 2 + 1 + 1 = 12
    # weight (C_in, C_out/g, k, k) = 8·3·3·3 = 216 (+6 bias); MACs over the input positions: 2·5·6·216
    OpCase("conv_transpose", "conv_transpose: {out: 6, kernel: 3, stride: 2, padding: 1, output_padding: 1, groups: 2}",
           "[8, 5, 6]", 2, (6, 10, 12),
           Cost(params=216 + 6, macs=2 * 30 * 216, bias_ops=2 * 6 * 10 * 12, activations=2 * 6 * 10 * 12)),
    # conv_transpose 1-D on 4×10: k 4, s 2, p 1: (10-1)·2 - 2 + 3 + 1 = 20; weight 4·6·4 = 96 (+6), 10 input positions
    OpCase("conv_transpose", "conv_transpose: {out: 6, kernel: 4, stride: 2, padding: 1}", "[4, 10]", 1, (6, 20),
           Cost(params=96 + 6, macs=10 * 96, bias_ops=6 * 20, activations=6 * 20)),
    # conv_transpose 3-D on 4×3×4×5, k [2,3,3], s 2, dilation [1,1,2], no bias:
    # D (3-1)·2 + 1·1 + 1 = 6; H (4-1)·2 + 2 + 1 = 9; W (5-1)·2 + 2·2 + 1 = 13
    # weight 4·2·2·3·3 = 144; input positions 3·4·5 = 60
    OpCase("conv_transpose", "conv_transpose: {out: 2, kernel: [2, 3, 3], stride: 2, dilation: [1, 1, 2], bias: false}",
           "[4, 3, 4, 5]", 1, (2, 6, 9, 13), Cost(params=144, macs=60 * 144, activations=2 * 6 * 9 * 13)),
]


OP_CASES = [
    # conv on 6×9×8, batch 2: k [3,2], s [2,1], p [1,0], d [1,2], groups 2
    # H: floor((9 + 2·1 - 1·(3-1) - 1)/2) + 1 = 5;  W: floor((8 + 0 - 2·(2-1) - 1)/1) + 1 = 6
    # weight 4·(6/2)·3·2 = 72 (+4 bias); positions 2·5·6 = 60
    OpCase("conv", "conv: {out: 4, kernel: [3, 2], stride: [2, 1], padding: [1, 0], dilation: [1, 2], groups: 2}",
           "[6, 9, 8]", 2, (4, 5, 6),
           Cost(params=4 * 3 * 3 * 2 + 4, macs=2 * 5 * 6 * (4 * 3 * 3 * 2), bias_ops=2 * 5 * 6 * 4, activations=2 * 4 * 5 * 6)),
    # linear 24 → 7, batch 3: 24·7 weights + 7 biases; 3·24·7 MACs; 3·7 bias adds and outputs
    OpCase("linear", "linear: {out: 7}", "[24]", 3, (7,),
           Cost(params=24 * 7 + 7, macs=3 * 24 * 7, bias_ops=3 * 7, activations=3 * 7)),
    OpCase("linear", "linear: {out: 7, bias: false}", "[24]", 3, (7,), Cost(params=24 * 7, macs=3 * 24 * 7, activations=3 * 7)),
    # batchnorm on 8×10×10, batch 2: γ, β (8 each); running mean, var (8 each) + num_batches_tracked;
    # a scale and a shift per element: 2 · (2·800)
    OpCase("batchnorm", "batchnorm", "[8, 10, 10]", 2, (8, 10, 10),
           Cost(params=2 * 8, buffers=2 * 8 + 1, norm_ops=2 * 2 * 800, activations=2 * 800)),
    # affine: false has no γ/β (torch.nn.BatchNorm2d(8, affine=False).parameters() is empty), same buffers
    OpCase("batchnorm", "batchnorm: {affine: false}", "[8, 10, 10]", 2, (8, 10, 10),
           Cost(params=0, buffers=2 * 8 + 1, norm_ops=2 * 2 * 800, activations=2 * 800)),
    # 1-D batchnorm on 12 features, batch 2
    OpCase("batchnorm", "bn", "[12]", 2, (12,), Cost(params=2 * 12, buffers=2 * 12 + 1, norm_ops=2 * 2 * 12, activations=2 * 12)),
    *[_act(a) for a in ("relu", "relu6", "sigmoid", "silu", "hardswish", "hardsigmoid", "gelu", "tanh")],
    _act("leaky_relu", ": {slope: 0.2}"),
    # no arithmetic: 2 × 3×4×5 = 120 elements out
    OpCase("dropout", "dropout: {p: 0.3}", "[3, 4, 5]", 2, (3, 4, 5), Cost(activations=120)),
    OpCase("identity", "identity", "[3, 4, 5]", 2, (3, 4, 5), Cost(activations=120)),
    OpCase("flatten", "flatten", "[3, 4, 5]", 2, (60,), Cost(activations=2 * 60)),
    # maxpool on 2×9×8, batch 2, a non-square window k [3,2], s [2,1], p [1,0]:
    # H: floor((9 + 2 - 3)/2) + 1 = 5;  W: floor((8 - 2)/1) + 1 = 7;  2·2·5·7 = 140 windows of 3·2 reads
    OpCase("maxpool", "maxpool: {kernel: [3, 2], stride: [2, 1], padding: [1, 0]}", "[2, 9, 8]", 2, (2, 5, 7),
           Cost(pool_ops=140 * 3 * 2, activations=140)),
    # avgpool on 3×8×9, window [2,3], stride defaults to the window: H (8-2)/2 + 1 = 4; W (9-3)/3 + 1 = 3;
    # 3·4·3 = 36 windows of 2·3 reads
    OpCase("avgpool", "avgpool: {kernel: [2, 3]}", "[3, 8, 9]", 1, (3, 4, 3), Cost(pool_ops=36 * 2 * 3, activations=36)),
    # adaptive 7×8 → 3×2, batch 2: windows along 7 → 3 are [0,3) [2,5) [4,7) = 3+3+3 = 9 rows,
    # along 8 → 2 [0,4) [4,8) = 8 columns: 9·8 = 72 reads per channel, 2·2 channels
    OpCase("adaptive_avgpool", "adaptive_avgpool: {out: [3, 2]}", "[2, 7, 8]", 2, (2, 3, 2),
           Cost(pool_ops=2 * 2 * 9 * 8, activations=2 * 2 * 3 * 2)),
    # global: every one of 7·5 elements read once per channel, 2·2 channels, one output each
    OpCase("global_avgpool", "global_avgpool", "[2, 7, 5]", 2, (2, 1, 1), Cost(pool_ops=2 * 2 * 7 * 5, activations=2 * 2)),
    # concat of 2 + 3 channels on 4×4, batch 2: a copy of 2·5·16 = 160 elements
    OpCase("concat", "concat: [[identity], [conv: {out: 3, kernel: 1}]]", "[2, 4, 4]", 2, (5, 4, 4), Cost(activations=160)),
    # add of three 2×4×4 branches, batch 2: 2 adds per element of 2·32 = 64
    OpCase("add", "add: [[identity], [identity], [relu]]", "[2, 4, 4]", 2, (2, 4, 4),
           Cost(elementwise_ops=2 * 64, activations=64)),
    # gate: 3×4×4 · 3×1×1 broadcast, batch 2: 1 multiply per output element, 2·48
    OpCase("multiply", "gate: [global_avgpool]", "[3, 4, 4]", 2, (3, 4, 4), Cost(elementwise_ops=2 * 48, activations=2 * 48)),
    *RANK_CASES,
]


@pytest.mark.parametrize("case", OP_CASES, ids=[f"{c.op}-{i}" for i, c in enumerate(OP_CASES)])
def test_op_shape_and_cost(case: OpCase) -> None:
    a = one(f"  - {case.layer}", case.input, case.batch)
    runs = [lc for lc in a.layers if lc.node.op == case.op]
    assert len(runs) == 1, [lc.node.op for lc in a.layers]
    assert runs[0].node.shape == case.shape
    assert runs[0].cost == case.cost


def test_every_registered_op_has_a_formula_test() -> None:
    # static: the table above names every registered op (no dependence on which tests ran before)
    assert set(REGISTRY) - {c.op for c in OP_CASES} == set(), "ops without a row in OP_CASES"
    assert {c.op for c in OP_CASES} <= set(REGISTRY)
    assert set(ALIASES) <= {"fc", "bn", "swish", "mul", "gap"}


def test_pool_ops_count_every_window_element_padding_and_overhang_included() -> None:
    """Issue #15: the words (docs/conventions.md, Cost's docstring) and the count agree: k_h·k_w per output
    element, whether the window element is in the input, in the padding or past the edge in ceil mode."""
    from conftest import ROOT

    padded = one("  - maxpool: {kernel: 3, stride: 2, padding: 1}", "[1, 4, 4]").layers[0]
    assert padded.node.shape == (1, 2, 2)  # floor((4 + 2 - 3) / 2) + 1 = 2
    assert padded.cost.pool_ops == 2 * 2 * 9  # 36, though the windows hold only 9 + 6 + 6 + 4 = 25 input elements
    ceil = one("  - avgpool: {kernel: 3, stride: 2, ceil_mode: true}", "[1, 4, 4]").layers[0]
    assert ceil.node.shape == (1, 2, 2)  # ceil((4 - 3) / 2) + 1 = 2; the second window overhangs by one
    assert ceil.cost.pool_ops == 2 * 2 * 9  # 36; in-bounds reads: (3 + 2) · (3 + 2) = 25
    row = next(line for line in (ROOT / "docs" / "conventions.md").read_text(encoding="utf-8").splitlines()
               if line.startswith("| pooling |"))
    assert "padding" in row and "ceil" in row and "k_h · k_w per output element" in row
    assert "window element read" not in row
