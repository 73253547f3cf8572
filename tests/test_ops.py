"""Every op rule's shape and cost formula, each number derived by hand beside it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from conftest import analysis_of
from tensor_op_cases import CASES as TENSOR_CASES

from convcost.cost import Cost
from convcost.ops import ALIASES, REGISTRY
from convcost.ops.registry import NoArgs, OpRule, register
from convcost.ops.shapes import TokenGrid, Tokens, grid_of


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
    "act",
    ["relu", "relu6", "leaky_relu", "sigmoid", "silu", "swish", "hardswish", "hardsigmoid", "gelu", "tanh", "mish", "elu",
     "hardtanh"],
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
    # a weight standardised in the forward (timm's StdConv2d): 4→6, 3×3, padding 1 on 5×5, batch 2: weight 6·4·9 = 216
    # (+6 bias); positions 2·25 = 50; the weight's norm once per forward, not per sample: 3 (mean, variance,
    # normalise) · 216
    OpCase("conv", "conv: {out: 6, kernel: 3, padding: 1, weight: standardised}", "[4, 5, 5]", 2, (6, 5, 5),
           Cost(params=216 + 6, macs=50 * 216, bias_ops=50 * 6, norm_ops=3 * 216, activations=50 * 6)),
    # scaled (ScaledStdConv2d), groups 2, no bias: weight 6·2·9 = 108 (+6 gain); 4 per weight element (and scale)
    OpCase("conv", "conv: {out: 6, kernel: 3, padding: 1, groups: 2, bias: false, weight: scaled, eps: 1e-5, gamma: 1.7}",
           "[4, 5, 5]", 2, (6, 5, 5), Cost(params=108 + 6, macs=50 * 108, norm_ops=4 * 108, activations=50 * 6)),
    # on C×L: 3→4, kernel 3 on 10 → 8 positions, batch 1: weight 4·3·3 = 36 (+4 bias +4 gain)
    OpCase("conv", "conv: {out: 4, kernel: 3, weight: scaled}", "[3, 10]", 1, (4, 8),
           Cost(params=36 + 4 + 4, macs=8 * 36, bias_ops=8 * 4, norm_ops=4 * 36, activations=8 * 4)),
    # a fixed filter (timm's BlurPool2d): depthwise 3×3, stride 2 on 4×7×7 → 3×3, batch 2: 4·1·9 = 36 buffer values,
    # no params; 2·9 = 18 positions · 36
    OpCase("conv", "conv: {out: 4, kernel: 3, stride: 2, groups: 4, bias: false, weight: fixed}", "[4, 7, 7]", 2,
           (4, 3, 3), Cost(buffers=36, macs=18 * 36, activations=18 * 4)),
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
    # mean: true is x.mean(dims, keepdim=True): the same arithmetic, 7·5 reads per channel of 3, batch 2
    OpCase("global_avgpool", "global_avgpool: {mean: true}", "[3, 7, 5]", 2, (3, 1, 1),
           Cost(pool_ops=2 * 3 * 7 * 5, activations=2 * 3)),
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
    # unsupported (an imported part convcost cannot express): its traced shape 7×2, nothing counted but its output, 2·14
    OpCase("unsupported", "unsupported: {shape: [7, 2]}", "[3, 4, 5]", 2, (7, 2), Cost(activations=2 * 7 * 2)),
    # unused (tensors the forward never reads): its params and buffers as given; the input passes, 2·60 outputs
    OpCase("unused", "unused: {params: 11, buffers: 5}", "[3, 4, 5]", 2, (3, 4, 5), Cost(params=11, buffers=5, activations=120)),
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
    # adaptive max: the same windows as the average (7 → 3: 9 rows, 8 → 2: 8 columns), 72 reads per channel, 2 channels
    OpCase("adaptive_maxpool", "adaptive_maxpool: {out: [3, 2]}", "[2, 7, 8]", 1, (2, 3, 2),
           Cost(pool_ops=2 * 9 * 8, activations=2 * 3 * 2)),
    # LP pool p=2, k 3, s 2 on 4×8×8: floor((8-3)/2)+1 = 3, 36 outputs of 3·3 window reads; x^p once per input
    # element (4·64 = 256) and 6 per output (sign, abs, relu, their product, ×k, the root: 6·36)
    OpCase("lppool", "lppool: {norm: 2, kernel: 3, stride: 2}", "[4, 8, 8]", 1, (4, 3, 3),
           Cost(pool_ops=36 * 9, elementwise_ops=4 * 64 + 6 * 36, activations=36)),
    # fractional max pool k 2 to 6×5 on 4×9×8: a full 2×2 window per output, 4·6·5 = 120 outputs
    OpCase("fractional_maxpool", "fractional_maxpool: {kernel: 2, out: [6, 5]}", "[4, 9, 8]", 1, (4, 6, 5),
           Cost(pool_ops=120 * 4, activations=120)),
    # MaxViT block attention on an 8×6 grid of width 16, heads 2 (8 each), windows 4×2: 48 tokens, 6 windows of 8;
    # qkv 16·48 (+48), proj 16·16 (+16), the bias table [2, 7, 3] = 42 params, lookups [4, 4, 7] + [2, 2, 3] buffers;
    # scores 2·6·8² = 768: q·kᵀ and a·v 2·768·8; the table's gather by two einsums 2·4·4·3·7 + 2·4·4·3·2·2 = 1,056;
    # q scaled and the bias added 768 each; softmax 3·768; qkv and proj biases 48·48 + 48·16
    OpCase("partition_attention", "to_tokens: {grid: true}\n  - partition_attention: {heads: 2, window: [4, 2]}",
           "[16, 8, 6]", 1, TokenGrid(8, 6, 16),
           Cost(params=16 * 48 + 48 + 16 * 16 + 16 + 42, buffers=4 * 4 * 7 + 2 * 2 * 3,
                macs=48 * 16 * 48 + 2 * 768 * 8 + 48 * 16 * 16 + 1_056, bias_ops=48 * 48 + 48 * 16,
                elementwise_ops=48 * 16 + 768, act_ops=3 * 768, activations=48 * 16)),
    # upsample, torch's size rule floor(in · scale); one op per interpolation tap per output element
    # nearest ×2 on 3×4×5, batch 2: 3×8×10, 2·240 = 480 copies, no arithmetic
    OpCase("upsample", "upsample: {scale: 2}", "[3, 4, 5]", 2, (3, 8, 10), Cost(activations=480)),
    # bilinear ×1.5 on 2×5×7: floor(7.5) = 7, floor(10.5) = 10; 2·2·7·10 = 280 outputs of 4 taps
    OpCase("upsample", "upsample: {scale: 1.5, mode: bilinear}", "[2, 5, 7]", 2, (2, 7, 10),
           Cost(pool_ops=4 * 280, activations=280)),
    # bicubic to 3×4 (a size, downsampling): 2·3·4 = 24 outputs of 4·4 = 16 taps
    OpCase("upsample", "upsample: {size: [3, 4], mode: bicubic, align_corners: true}", "[2, 5, 7]", 1, (2, 3, 4),
           Cost(pool_ops=16 * 24, activations=24)),
    # per-dimension scales [2, 0.5] on 1×3×6: 1×6×3 (nearest: copies)
    OpCase("upsample", "upsample: {scale: [2, 0.5]}", "[1, 3, 6]", 1, (1, 6, 3), Cost(activations=18)),
    # chunk: channels 1 to 3 of [1, 3] on 4×3×3, batch 2: a view of 2·27 = 54 elements
    OpCase("chunk", "chunk: {index: 1, sizes: [1, 3]}", "[4, 3, 3]", 2, (3, 3, 3), Cost(activations=54)),
    OpCase("chunk", "chunk: {index: 2, parts: 3}", "[6, 2, 2]", 1, (2, 2, 2), Cost(activations=8)),
    # permutations: no arithmetic; channel shuffle keeps the shape (2·60 = 120 elements)
    OpCase("channel_shuffle", "channel_shuffle: {groups: 2}", "[4, 3, 5]", 2, (4, 3, 5), Cost(activations=120)),
    # pixel shuffle r=2: 8×3×4 → 8/4 × 6 × 8 = 2×6×8 (96 per image); unshuffle 2×6×4 → 8×3×2 (48 per image)
    OpCase("pixel_shuffle", "pixel_shuffle: {factor: 2}", "[8, 3, 4]", 2, (2, 6, 8), Cost(activations=2 * 96)),
    OpCase("pixel_unshuffle", "pixel_unshuffle: {factor: 2}", "[2, 6, 4]", 2, (8, 3, 2), Cost(activations=2 * 48)),
    # concat of 2 + 3 channels on 4×4, batch 2: a copy of 2·5·16 = 160 elements
    OpCase("concat", "concat: [[identity], [conv: {out: 3, kernel: 1}]]", "[2, 4, 4]", 2, (5, 4, 4), Cost(activations=160)),
    # add of three 2×4×4 branches, batch 2: 2 adds per element of 2·32 = 64
    OpCase("add", "add: [[identity], [identity], [relu]]", "[2, 4, 4]", 2, (2, 4, 4),
           Cost(elementwise_ops=2 * 64, activations=64)),
    # gate: 3×4×4 · 3×1×1 broadcast, batch 2: 1 multiply per output element, 2·48
    OpCase("multiply", "gate: [global_avgpool]", "[3, 4, 4]", 2, (3, 4, 4), Cost(elementwise_ops=2 * 48, activations=2 * 48)),
    # nearest upsampling ×2 of 8×5×6, batch 3: 8×10×12 copies, no arithmetic
    OpCase("upsample", "upsample: {scale: 2}", "[8, 5, 6]", 3, (8, 10, 12), Cost(activations=3 * 8 * 10 * 12)),
    # chunk 3 of 4 of 8 channels: a 2×5×6 view, batch 2
    OpCase("chunk", "chunk: {parts: 4, index: 3}", "[8, 5, 6]", 2, (2, 5, 6), Cost(activations=2 * 2 * 5 * 6)),
    # ---- tokens (issue #13): a 6×2×5 map is 10 tokens of width 6; batch 2 --------------------------
    OpCase("to_tokens", "to_tokens", "[6, 2, 5]", 2, Tokens(10, 6), Cost(activations=2 * 10 * 6)),
    # patch [4, 2] on 3×9×8: (9 // 4)·(8 // 2) = 2·4 = 8 tokens of 5; weight 5·3·4·2 = 120 (+5 bias) per token
    OpCase("patch_embed", "patch_embed: {out: 5, patch: [4, 2]}", "[3, 9, 8]", 2, Tokens(8, 5),
           Cost(params=5 * 3 * 4 * 2 + 5, macs=2 * 8 * 120, bias_ops=2 * 8 * 5, activations=2 * 8 * 5)),
    OpCase("class_token", "to_tokens\n  - class_token", "[6, 2, 5]", 2, Tokens(11, 6),
           Cost(params=6, activations=2 * 11 * 6)),  # one learned token of width 6
    OpCase("pos_embed", "to_tokens\n  - pos_embed", "[6, 2, 5]", 2, Tokens(10, 6),
           Cost(params=10 * 6, elementwise_ops=2 * 10 * 6, activations=2 * 10 * 6)),  # N·D params, one add each
    OpCase("to_map", "to_tokens\n  - to_map: {height: 5}", "[6, 2, 5]", 2, (6, 5, 2), Cost(activations=2 * 60)),
    OpCase("token_pool", "to_tokens\n  - token_pool", "[6, 2, 5]", 2, (6,), Cost(activations=2 * 6)),  # x[:, 0]
    OpCase("token_pool", "to_tokens\n  - token_pool: {mode: mean}", "[6, 2, 5]", 2, (6,),
           Cost(pool_ops=2 * 10 * 6, activations=2 * 6)),  # reads every element once
    # per token over D = 6: in·out MACs per token, 10 tokens
    OpCase("linear", "to_tokens\n  - linear: {out: 7}", "[6, 2, 5]", 2, Tokens(10, 7),
           Cost(params=6 * 7 + 7, macs=2 * 10 * 6 * 7, bias_ops=2 * 10 * 7, activations=2 * 10 * 7)),
    # 2·D params; 5 ops per element (mean, variance, normalise, scale, shift)
    OpCase("layernorm", "to_tokens\n  - layernorm", "[6, 2, 5]", 2, Tokens(10, 6),
           Cost(params=2 * 6, norm_ops=5 * 2 * 60, activations=2 * 60)),
    # without the shift: D params (not N), 4 per element
    OpCase("layernorm", "to_tokens\n  - layernorm: {bias: false}", "[6, 2, 5]", 2, Tokens(10, 6),
           Cost(params=6, norm_ops=4 * 2 * 60, activations=2 * 60)),
    # N = 10, D = 6, 2 heads of 3 (I = 6), batch 2:
    # qkv N·D·3I = 10·6·18 (+18 bias per token); QKᵀ heads·N²·hd = 2·100·3 (+ q scaled: N·I); softmax 3 per score
    # (2·100 scores); A·V 2·100·3; out_proj N·I·D = 10·6·6 (+6 bias per token)
    OpCase("attention", "to_tokens\n  - attention: {heads: 2}", "[6, 2, 5]", 2, Tokens(10, 6),
           Cost(params=(6 * 18 + 18) + (6 * 6 + 6), macs=2 * (10 * 6 * 18 + 2 * 100 * 3 + 2 * 100 * 3 + 10 * 6 * 6),
                bias_ops=2 * (10 * 18 + 10 * 6), elementwise_ops=2 * 10 * 6, act_ops=2 * 3 * 2 * 100,
                activations=2 * 10 * 6)),
    # head_dim 4: I = 8 ≠ D; no Q/K/V bias
    # window_attention on a 5×3 grid of width 6, batch 2, heads 2 (3 each), window 2, shift 1: padded to 6×4
    # (Np = 24 tokens, 3·2 = 6 windows of Nw = 4); scores 2·2·6·4² = 384; qkv 24·6·18, q·kᵀ and a·v 384·3,
    # proj 24·6·6; bias table (2·2−1)²·2 = 18 params and a 4² index buffer; q scaled 24·6, bias add and shift
    # mask add 384 each, softmax 3·384; output the 5×3 grid
    OpCase("window_attention", "to_tokens: {grid: true}\n  - window_attention: {heads: 2, window: 2, shift: 1}",
           "[6, 5, 3]", 2, TokenGrid(5, 3, 6),
           Cost(params=(6 * 18 + 18) + 18 + (6 * 6 + 6), buffers=16,
                macs=2 * (24 * 6 * 18 + 2 * 2 * 6 * 16 * 3 + 24 * 6 * 6), bias_ops=2 * 24 * 18 + 2 * 24 * 6,
                elementwise_ops=2 * 24 * 6 + 2 * 384, act_ops=3 * 384, activations=2 * 15 * 6)),
    # the same with the shift mask held as a buffer (timm's attn_mask): 6 windows of 4² more buffers
    OpCase("window_attention",
           "to_tokens: {grid: true}\n  - window_attention: {heads: 2, window: 2, shift: 1, mask_buffer: true}", "[6, 5, 3]",
           2, TokenGrid(5, 3, 6),
           Cost(params=(6 * 18 + 18) + 18 + (6 * 6 + 6), buffers=16 + 6 * 16,
                macs=2 * (24 * 6 * 18 + 2 * 2 * 6 * 16 * 3 + 24 * 6 * 6), bias_ops=2 * 24 * 18 + 2 * 24 * 6,
                elementwise_ops=2 * 24 * 6 + 2 * 384, act_ops=3 * 384, activations=2 * 15 * 6)),
    # one 3×3 window covers the 3×3 grid: torchvision drops the shift (no mask); no biases; width 4, 1 head
    OpCase("window_attention",
           "to_tokens: {grid: true}\n  - window_attention: {heads: 1, window: 3, shift: 1, qkv_bias: false, bias: false}",
           "[4, 3, 3]", 1, TokenGrid(3, 3, 4),
           Cost(params=4 * 12 + 5 * 5 + 4 * 4, buffers=81, macs=9 * 4 * 12 + 2 * 81 * 4 + 9 * 4 * 4,
                elementwise_ops=9 * 4 + 81, act_ops=3 * 81, activations=9 * 4)),
    # window_attention_3d (video Swin) on a 3×5×3 T×H×W grid of width 6, batch 2, heads 2 (3 each), window 2, shift 1:
    # every dim larger than the window, padded to 4×6×4 (Np = 96 tokens, 2·3·2 = 12 windows of Nw = 8); scores
    # 2·2·12·8² = 3,072; qkv 96·6·18, q·kᵀ and a·v 3,072·3, proj 96·6·6; bias table (2·2−1)³·2 = 54 params and an 8²
    # index buffer; q scaled 96·6, bias add and shift mask add 3,072 each, softmax 3·3,072; output the 3×5×3 grid
    OpCase("window_attention_3d", "permute: {dims: [0, 2, 3, 4, 1]}\n  - window_attention_3d: {heads: 2, window: 2, shift: 1}",
           "[6, 3, 5, 3]", 2, TokenGrid(3, 5, 3, 6),
           Cost(params=(6 * 18 + 18) + 54 + (6 * 6 + 6), buffers=64,
                macs=2 * 96 * 6 * 18 + 2 * 3072 * 3 + 2 * 96 * 6 * 6, bias_ops=2 * 96 * 18 + 2 * 96 * 6,
                elementwise_ops=2 * 96 * 6 + 2 * 3072, act_ops=3 * 3072, activations=2 * 45 * 6)),
    # a 2×3×3 grid of width 4, 1 head, no biases, window [4, 2, 5], shift [2, 1, 2]: T 2 ≤ 4 and W 3 ≤ 5 are one window
    # each, unshifted (torchvision shrinks the window to 2 and 3); H padded to 4, shifted by 1: windows 2×2×3 (Nw =
    # 12), 1·2·1 = 2 of them, Np = 2·4·3 = 24, scores 2·144 = 288; table (2·4−1)·(2·2−1)·(2·5−1) = 189 rows, index of
    # the window as given (4·2·5)² = 1,600
    OpCase("window_attention_3d", "permute: {dims: [0, 2, 3, 4, 1]}\n  - window_attention_3d: {heads: 1, window: [4, 2, 5], "
           "shift: [2, 1, 2], qkv_bias: false, bias: false}", "[4, 2, 3, 3]", 1, TokenGrid(2, 3, 3, 4),
           Cost(params=4 * 12 + 189 + 4 * 4, buffers=1_600, macs=24 * 4 * 12 + 2 * 288 * 4 + 24 * 4 * 4,
                elementwise_ops=24 * 4 + 2 * 288, act_ops=3 * 288, activations=18 * 4)),
    # patch_merging of a 5×4 grid of width 3, batch 2: padded to 6×4, 3×2 = 6 tokens of 4·3 = 12;
    # LayerNorm(12) 2·12 params, 5 per element; Linear(12 → 6, no bias)
    OpCase("patch_merging", "to_tokens: {grid: true}\n  - patch_merging", "[3, 5, 4]", 2, TokenGrid(3, 2, 6),
           Cost(params=2 * 12 + 12 * 6, macs=2 * 6 * 12 * 6, norm_ops=5 * 2 * 6 * 12, activations=2 * 6 * 6)),
    # pooling_attention on a class token and a 1×4×4 grid of width 8 (17 tokens), batch 2, 2 heads of 4; q, k, v
    # pooled by [1, 3, 3] / [1, 2, 2] to 1×2×2 (Nq = Nk = 5): qkv 17·8·24; three pools Conv3d(4, 4, [1, 3, 3],
    # groups 4) 8·4·9 MACs, 4·9 + LayerNorm(4) 8 params, 5 per element of 8·5; q·kᵀ, a·v 5·5·8; project 5·8·8;
    # q scaled 5·8; softmax 3 per score of 2·5·5 (more in tests/test_mvit.py, against torchvision's module)
    OpCase("pooling_attention", "to_tokens\n  - class_token\n  - pooling_attention: {heads: 2, grid: [1, 4, 4], "
           "kernel_q: [1, 3, 3], stride_q: [1, 2, 2], kernel_kv: [1, 3, 3], stride_kv: [1, 2, 2]}", "[8, 4, 4]", 2,
           Tokens(5, 8),
           Cost(params=(8 * 24 + 24) + 3 * (4 * 9 + 2 * 4) + (8 * 8 + 8),
                macs=2 * (17 * 8 * 24 + 3 * 8 * 4 * 9 + 2 * 5 * 5 * 8 + 5 * 8 * 8), bias_ops=2 * (17 * 24 + 5 * 8),
                norm_ops=2 * 3 * 5 * 8 * 5, elementwise_ops=2 * 5 * 8, act_ops=2 * 3 * 2 * 5 * 5, activations=2 * 5 * 8)),
    # spacetime_embed on 10 tokens of 6 as a 2×1×5 grid, batch 2: a class token (6 params) in front, 11 tokens; the
    # embedding from 2 per-frame rows, 1·5 per-position rows and the class row, (2 + 5 + 1)·6 params, one add per
    # element of 2·11·6; without it the class token alone
    OpCase("spacetime_embed", "to_tokens\n  - spacetime_embed: {grid: [2, 1, 5]}", "[6, 2, 5]", 2, Tokens(11, 6),
           Cost(params=6 + (2 + 5 + 1) * 6, elementwise_ops=2 * 11 * 6, activations=2 * 11 * 6)),
    # grid_pool of a class token and a 1×4×5 grid of width 6 (21 tokens), batch 2: kernel [1, 3, 3], stride [1, 2, 2],
    # padding [0, 1, 1]: h (4 + 2 − 3)//2 + 1 = 2, w (5 + 2 − 3)//2 + 1 = 3: 1 + 6 tokens; 9 ops per pooled element of
    # 2·6·6
    OpCase("grid_pool", "to_tokens\n  - class_token\n  - grid_pool: {grid: [1, 4, 5], kernel: [1, 3, 3], stride: [1, 2, 2], "
           "padding: [0, 1, 1]}", "[6, 4, 5]", 2, Tokens(7, 6), Cost(pool_ops=9 * 2 * 6 * 6, activations=2 * 7 * 6)),
    OpCase("spacetime_embed", "to_tokens\n  - spacetime_embed: {grid: [2, 1, 5], pos: false}", "[6, 2, 5]", 2, Tokens(11, 6),
           Cost(params=6, activations=2 * 11 * 6)),
    # window_attention_v2 (Swin v2) on the same 5×3 grid of width 6, batch 2, heads 2 (3 each), window 2, shift 1,
    # cpb_hidden 4: padded to 6×4 (Np = 24, 6 windows of Nw = 4); scores 2·2·6·4² = 384; q and k vectors 2·24·2 = 96;
    # T = (2·2−1)² = 9 offsets. qkv 24·6·18 per sample (+18 bias per token); q and k normalised: 2 per element
    # (2 · 2·24·6) and 1 per vector (2 · 96); q·kᵀ and a·v 384·3 each; logit scale 2 params, a multiply per score and a
    # clamp and an exp per head (384 + 2·2); cpb_mlp once per forward: Linear(2 → 4) 9·2·4 MACs (+9·4 bias), ReLU 9·4,
    # Linear(4 → 2) 9·4·2 MACs, params 2·4 + 4 + 4·2 = 20, coordinate table 9·2 buffers; gathered biases 2·4² = 32:
    # a sigmoid and a ×16 each, index 4² buffers, an add per score; shift mask 384 adds; softmax 3·384;
    # proj 24·6·6 per sample (+6 bias per token); output the 5×3 grid
    OpCase("window_attention_v2",
           "to_tokens: {grid: true}\n  - window_attention_v2: {heads: 2, window: 2, shift: 1, cpb_hidden: 4}",
           "[6, 5, 3]", 2, TokenGrid(5, 3, 6),
           Cost(params=(6 * 18 + 18) + 2 + 20 + (6 * 6 + 6), buffers=9 * 2 + 16,
                macs=2 * 24 * 6 * 18 + 384 * 3 + 9 * (2 * 4 + 4 * 2) + 384 * 3 + 2 * 24 * 6 * 6,
                bias_ops=2 * 24 * 18 + 9 * 4 + 2 * 24 * 6, norm_ops=2 * (2 * 2 * 24 * 6 + 96),
                act_ops=9 * 4 + 32 + 3 * 384, elementwise_ops=(384 + 2 * 2) + (32 + 384) + 384, activations=2 * 15 * 6)),
    # one 3×3 window on a 3×3 grid of width 4, 1 head, no biases, torchvision's 512 hidden units: the shift is dropped
    # (no mask); Np = 9, scores 81, T = 5·5 = 25: cpb_mlp 25·(2·512 + 512·1) MACs, 25·512 bias and ReLU, params
    # 2·512 + 512 + 512; table 25·2 + index 81 buffers; 81 gathered biases
    OpCase("window_attention_v2",
           "to_tokens: {grid: true}\n  - window_attention_v2: {heads: 1, window: 3, shift: 1, qkv_bias: false, bias: false}",
           "[4, 3, 3]", 1, TokenGrid(3, 3, 4),
           Cost(params=4 * 12 + 1 + (2 * 512 + 512 + 512) + 4 * 4, buffers=25 * 2 + 81,
                macs=9 * 4 * 12 + 2 * 81 * 4 + 25 * (2 * 512 + 512) + 9 * 4 * 4, bias_ops=25 * 512,
                norm_ops=2 * (2 * 9 * 4 + 9), act_ops=25 * 512 + 81 + 3 * 81, elementwise_ops=(81 + 2) + (81 + 81),
                activations=9 * 4)),
    # patch_merging_v2 of the same 5×4 grid of width 3, batch 2: 3×2 = 6 tokens of 12; Linear(12 → 6, no bias) first,
    # then LayerNorm(6): 2·6 params, 5 per element of the 6-wide output
    OpCase("patch_merging_v2", "to_tokens: {grid: true}\n  - patch_merging_v2", "[3, 5, 4]", 2, TokenGrid(3, 2, 6),
           Cost(params=12 * 6 + 2 * 6, macs=2 * 6 * 12 * 6, norm_ops=5 * 2 * 6 * 6, activations=2 * 6 * 6)),
    OpCase("attention", "to_tokens\n  - attention: {heads: 2, head_dim: 4, qkv_bias: false}", "[6, 2, 5]", 1,
           Tokens(10, 6),
           Cost(params=6 * 24 + (8 * 6 + 6), macs=10 * 6 * 24 + 2 * 100 * 4 + 2 * 100 * 4 + 10 * 8 * 6,
                bias_ops=10 * 6, elementwise_ops=10 * 8, act_ops=3 * 2 * 100, activations=10 * 6)),
    # ---- issue 11: norms that compute statistics, layer scale, linear over channels, more activations ----
    # linear over the 6 channels of 6×4×5, batch 2: at 2·4·5 = 40 positions, 6·3 MACs each; 6·3 + 3 params;
    # 3 bias adds per position; 3×4×5 out per sample
    OpCase("linear", "linear: {out: 3, over: channels}", "[6, 4, 5]", 2, (3, 4, 5),
           Cost(params=6 * 3 + 3, macs=40 * 6 * 3, bias_ops=40 * 3, activations=2 * 3 * 4 * 5)),
    # without bias on 4×2×3, batch 1: 2·3 = 6 positions of 4·5
    OpCase("linear", "linear: {out: 5, over: channels, bias: false}", "[4, 2, 3]", 1, (5, 2, 3),
           Cost(params=4 * 5, macs=6 * 4 * 5, activations=5 * 2 * 3)),
    # layernorm over the 8 channels of 8×10×10, batch 2: γ, β (8 each); mean, variance, normalise, scale,
    # shift per element: 5 · 2·800
    OpCase("layernorm", "layernorm", "[8, 10, 10]", 2, (8, 10, 10), Cost(params=2 * 8, norm_ops=5 * 1600, activations=1600)),
    # without affine: mean, variance, normalise: 3 per element, no params (nn.LayerNorm(8, elementwise_affine=False))
    OpCase("layernorm", "layernorm: {affine: false}", "[8, 10, 10]", 2, (8, 10, 10), Cost(norm_ops=3 * 1600, activations=1600)),
    # channels_last changes only the torch module, not the arithmetic
    OpCase("layernorm", "layernorm: {channels_last: true, eps: 1e-6}", "[8, 10, 10]", 1, (8, 10, 10),
           Cost(params=2 * 8, norm_ops=5 * 800, activations=800)),
    # a scale and no shift (nn.LayerNorm(8, bias=False)): γ only, 8 params; mean, variance, normalise, scale: 4 · 2·800
    OpCase("layernorm", "layernorm: {bias: false}", "[8, 10, 10]", 2, (8, 10, 10),
           Cost(params=8, norm_ops=4 * 1600, activations=1600)),
    # flat: nn.LayerNorm(12) on 12 features, batch 3: 2·12 params, 5 · 36
    OpCase("layernorm", "layernorm", "[12]", 3, (12,), Cost(params=2 * 12, norm_ops=5 * 36, activations=36)),
    # groupnorm, 4 groups of 2 of the 8 channels, batch 2: γ, β per channel; 5 per element (3 without affine)
    OpCase("groupnorm", "groupnorm: {groups: 4}", "[8, 10, 10]", 2, (8, 10, 10),
           Cost(params=2 * 8, norm_ops=5 * 1600, activations=1600)),
    OpCase("groupnorm", "groupnorm: {groups: 8, affine: false}", "[8, 10, 10]", 2, (8, 10, 10),
           Cost(norm_ops=3 * 1600, activations=1600)),
    # instancenorm, torch's defaults (no affine, no running stats): no params, no buffers, 3 per element
    OpCase("instancenorm", "instancenorm", "[8, 10, 10]", 2, (8, 10, 10), Cost(norm_ops=3 * 1600, activations=1600)),
    # affine and running stats: γ, β; running mean, var (8 each) + num_batches_tracked; normalised with
    # the running stats at inference: a folded scale and shift, 2 per element (as batchnorm)
    OpCase("instancenorm", "instancenorm: {affine: true, track_running_stats: true}", "[8, 10, 10]", 2, (8, 10, 10),
           Cost(params=2 * 8, buffers=2 * 8 + 1, norm_ops=2 * 1600, activations=1600)),
    # affine, batch statistics: 5 per element
    OpCase("instancenorm", "instancenorm: {affine: true}", "[3, 4, 5]", 1, (3, 4, 5),
           Cost(params=2 * 3, norm_ops=5 * 60, activations=60)),
    # layer scale: one learnable scale per channel (8), one multiply per element of 2·800
    OpCase("layer_scale", "layer_scale", "[8, 10, 10]", 2, (8, 10, 10), Cost(params=8, elementwise_ops=1600, activations=1600)),
    OpCase("layer_scale", "layer_scale: {init: 0.5}", "[12]", 3, (12,), Cost(params=12, elementwise_ops=36, activations=36)),
    _act("mish"),
    _act("elu", ": {alpha: 0.5}"),
    _act("hardtanh", ": {min: -2, max: 3}"),
    # issue 20's activations with arguments: 1 op per element whatever the arguments
    _act("softplus"), _act("softplus", ": {beta: 2, threshold: 5}"), _act("celu", ": {alpha: 0.5}"), _act("selu"),
    _act("threshold", ": {threshold: 0.1, value: 20}"), _act("logsigmoid"),
    # batch norm with the batch's statistics (track_running_stats: false) on 3×4×5, batch 2 (120 elements): γ, β; no
    # buffers; mean, variance, normalise, scale, shift: 5 per element (3 without affine)
    OpCase("batchnorm", "batchnorm: {track_running_stats: false}", "[3, 4, 5]", 2, (3, 4, 5),
           Cost(params=2 * 3, norm_ops=5 * 120, activations=120)),
    OpCase("batchnorm", "batchnorm: {track_running_stats: false, affine: false}", "[3, 4, 5]", 2, (3, 4, 5),
           Cost(norm_ops=3 * 120, activations=120)),
    # prelu on 3×4×5, batch 2: 1 op per element of 120; one shared slope (torch's default) or one per channel
    OpCase("prelu", "prelu", "[3, 4, 5]", 2, (3, 4, 5), Cost(params=1, act_ops=120, activations=120)),
    OpCase("prelu", "prelu: {num_parameters: 3}", "[3, 4, 5]", 2, (3, 4, 5), Cost(params=3, act_ops=120, activations=120)),
    # softmax over the 3 channels of 3×4×5, batch 2: an exp, a share of the sum and a divide per element: 3 · 120
    OpCase("softmax", "softmax", "[3, 4, 5]", 2, (3, 4, 5), Cost(act_ops=3 * 120, activations=120)),
    *RANK_CASES,
    *(OpCase(*case) for case in TENSOR_CASES),  # type: ignore[arg-type]
]


@pytest.mark.parametrize("case", OP_CASES, ids=[f"{c.op}-{i}" for i, c in enumerate(OP_CASES)])
def test_op_shape_and_cost(case: OpCase) -> None:
    a = one(f"  - {case.layer}", case.input, case.batch)
    runs = [lc for lc in a.layers if lc.node.op == case.op]
    assert len(runs) == 1, [lc.node.op for lc in a.layers]
    assert runs[0].node.shape == case.shape
    assert isinstance(runs[0].node.shape, Tokens) == isinstance(case.shape, Tokens)  # tokens are not a [C, L] map
    assert grid_of(runs[0].node.shape) == grid_of(case.shape)  # a token grid keeps its H×W
    assert runs[0].cost == case.cost
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
    # static: the table above names every registered op (no dependence on which tests ran before)
    assert set(REGISTRY) - {c.op for c in OP_CASES} == set(), "ops without a row in OP_CASES"
    assert {c.op for c in OP_CASES} <= set(REGISTRY)
    assert set(ALIASES) <= {"fc", "bn", "swish", "mul", "gap", "view", "sdpa"}


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
