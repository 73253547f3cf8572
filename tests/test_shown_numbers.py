"""Hand-derived twins of the numbers README.md and tests/golden/ show.

The README blocks (tests/test_readme.py) and golden files (tests/golden_files.py) are regenerated
from the code, so they only say that the output did not change. Here every headline number they show
is derived by hand, beside it, from the specs in configs/ and the rules of docs/conventions.md.
"""

from __future__ import annotations

import pytest
from conftest import CONFIGS, config_analysis

from convcost.api import load_graphs
from convcost.cost import Cost
from convcost.costmodel.memory import analyze_memory
from convcost.costmodel.roofline import BUILTIN, roofline

HW = 28 * 28  # 784 output positions of the inception specs
RES = 56 * 56  # 3,136 positions of the ResNet bottleneck


def layer(a, name):  # type: ignore[no-untyped-def]
    return next(lc for lc in a.layers if lc.node.name == name)


def pct(new: int, old: int) -> str:
    """A change as the tables print it (one decimal)."""
    return f"{100 * (new / old - 1):+.1f}".replace("-", "−")


# ---- README `convcost analyze` (the built-in example), compare, report and check goldens ----------
def test_naive_vs_bottleneck_totals() -> None:
    naive = config_analysis("inception_naive_vs_bottleneck.yaml", "naive").total
    # one 5×5 conv 192 → 32 without bias on 28×28
    assert naive == Cost(params=5 * 5 * 192 * 32, macs=HW * 32 * 5 * 5 * 192, activations=32 * HW)
    assert (naive.params, naive.macs, naive.activations) == (153_600, 120_422_400, 25_088)
    assert naive.flops == 2 * 120_422_400 == 240_844_800  # no bias, no other op: FLOPs = 2·MACs

    bott = config_analysis("inception_naive_vs_bottleneck.yaml", "bottleneck").total
    # 1×1 192 → 16, then 5×5 16 → 32, no biases; outputs 16 and 32 channels on 28×28
    assert bott == Cost(
        params=192 * 16 + 5 * 5 * 16 * 32, macs=HW * 16 * 192 + HW * 32 * 5 * 5 * 16, activations=(16 + 32) * HW
    )
    assert (bott.params, bott.macs, bott.activations) == (15_872, 12_443_648, 37_632)
    assert bott.flops == 2 * 12_443_648 == 24_887_296


def test_naive_vs_bottleneck_ratios_as_printed() -> None:
    # compare/report: −89.7 % params, MACs and FLOPs, +50.0 % activations, 9.68× fewer MACs
    assert pct(15_872, 153_600) == pct(12_443_648, 120_422_400) == pct(24_887_296, 240_844_800) == "−89.7"
    assert pct(37_632, 25_088) == "+50.0"
    assert f"{120_422_400 / 12_443_648:.2f}" == "9.68"
    # per block: conv5x5 10,035,200 against 120,422,400: −91.7 %; layer shares 19.4 % / 80.6 %
    assert pct(HW * 32 * 5 * 5 * 16, 120_422_400) == "−91.7"
    assert f"{100 * 2_408_448 / 12_443_648:.1f} {100 * 10_035_200 / 12_443_648:.1f}" == "19.4 80.6"
    # check_summary.md: 120,422,400 over 100M by 20,422,400 (+20.4 %); conv5x5 10,035,200 over 10M by 35,200
    assert (120_422_400 - 100_000_000, pct(120_422_400, 100_000_000)) == (20_422_400, "+20.4")
    assert (10_035_200 - 10_000_000, pct(10_035_200, 10_000_000)) == (35_200, "+0.4")


# ---- README `analyze configs/resnet_bottleneck.yaml`, report_resnet_bottleneck.md ---------------
def test_resnet_bottleneck_every_shown_number() -> None:
    a = config_analysis("resnet_bottleneck.yaml", "bottleneck")
    # conv1 1×1 256 → 64, conv2 3×3 64 → 64, conv3 1×1 64 → 256, no biases, all on 56×56
    assert layer(a, "block.conv1").cost.macs == RES * 64 * 256 == 51_380_224
    assert layer(a, "block.conv2").cost.macs == RES * 64 * 64 * 9 == 115_605_504
    assert layer(a, "block.conv3").cost.macs == RES * 256 * 64 == 51_380_224
    assert [layer(a, f"block.conv{i}").cost.params for i in (1, 2, 3)] == [256 * 64, 64 * 64 * 9, 64 * 256]
    assert [layer(a, f"block.bn{i}").cost.params for i in (1, 2, 3)] == [2 * 64, 2 * 64, 2 * 256]
    bn_channels = 64 + 64 + 256  # three BNs, three ReLUs on the same channel counts (relu3 after the add)
    t = a.total
    assert t == Cost(
        params=256 * 64 + 64 * 64 * 9 + 64 * 256 + 2 * bn_channels,  # 69,632 weights + 768 γ/β = 70,400
        buffers=2 * bn_channels + 3,  # running mean/var + num_batches_tracked each: 771
        macs=RES * (256 * 64 + 64 * 64 * 9 + 64 * 256),  # 218,365,952
        norm_ops=2 * bn_channels * RES,  # scale + shift: 2,408,448
        act_ops=bn_channels * RES,  # 1,204,224
        elementwise_ops=256 * RES,  # the residual add: 802,816
        # outputs: conv1 bn1 relu1 conv2 bn2 relu2 at 64 ch, conv3 bn3 add relu3 at 256 ch
        activations=(6 * 64 + 4 * 256) * RES,  # 4,415,488
    )
    assert (t.params, t.buffers, t.macs, t.activations) == (70_400, 771, 218_365_952, 4_415_488)
    assert (t.norm_ops, t.act_ops, t.elementwise_ops) == (2_408_448, 1_204_224, 802_816)
    assert t.flops == 2 * 218_365_952 + 2_408_448 + 1_204_224 + 802_816 == 441_147_392
    assert f"{100 * 51_380_224 / 218_365_952:.1f} {100 * 115_605_504 / 218_365_952:.1f}" == "23.5 52.9"


def test_resnet_plain_pair_of_3x3() -> None:
    # report_resnet_bottleneck.md "plain": two 3×3 256 → 256 convs + 2 BNs, ReLU, add, ReLU on 56×56
    t = config_analysis("resnet_bottleneck.yaml", "plain").total
    assert t.params == 2 * 256 * 256 * 9 + 2 * 2 * 256 == 1_180_672
    assert t.buffers == 2 * (2 * 256 + 1) == 1_026
    assert t.macs == 2 * RES * 256 * 256 * 9 == 3_699_376_128
    # norm 2·2 BNs, act 2 ReLUs, 1 add, each over 256·3,136 elements
    assert t.flops == 2 * 3_699_376_128 + (4 + 2 + 1) * 256 * RES == 7_404_371_968
    assert t.activations == 7 * 256 * RES == 5_619_712  # conv bn relu conv bn add relu
    assert (pct(1_180_672, 70_400), pct(3_699_376_128, 218_365_952)) == ("+1577.1", "+1594.1")


# ---- README `analyze configs/googlenet_inception3a.yaml --depth 2` -------------------------------
def test_inception3a_totals_and_branches() -> None:
    a = config_analysis("googlenet_inception3a.yaml", "inception3a")
    # branch1: 1×1 192 → 64; branch2: 1×1 192 → 96, 3×3 96 → 128; branch3: 1×1 192 → 16, 5×5 16 → 32;
    # branch4: maxpool 3×3/1, 1×1 192 → 32; every conv has a bias and a ReLU after it
    branches = {
        "branch1": (192 * 64 + 64, 192 * 64),
        "branch2": (192 * 96 + 96 + 96 * 128 * 9 + 128, 192 * 96 + 96 * 128 * 9),
        "branch3": (192 * 16 + 16 + 16 * 32 * 25 + 32, 192 * 16 + 16 * 32 * 25),
        "branch4": (192 * 32 + 32, 192 * 32),
    }
    for name, (params, weights) in branches.items():
        c = a.scope_total(("inception3a", name))
        assert (c.params, c.macs) == (params, HW * weights), name
    # as shown (rounded): 12.35 K / 9.63 M, 129.25 K / 101.15 M, 15.92 K / 12.44 M, 6.18 K / 4.82 M
    assert [p for p, _ in branches.values()] == [12_352, 129_248, 15_920, 6_176]
    assert [HW * w for _, w in branches.values()] == [9_633_792, 101_154_816, 12_443_648, 4_816_896]
    biases = 64 + 96 + 128 + 16 + 32 + 32  # = the channels the six convs (and their ReLUs) output
    t = a.total
    assert t == Cost(
        params=163_328 + biases,  # 163,696
        macs=HW * 163_328,  # 128,049,152
        bias_ops=biases * HW,  # 288,512
        act_ops=biases * HW,  # 288,512
        pool_ops=192 * HW * 3 * 3,  # the 3×3 max pool reads 9 per output: 1,354,752
        activations=(biases + biases + 192 + 256) * HW,  # convs, ReLUs, maxpool, concat: 928,256
    )
    assert (t.params, t.macs, t.activations) == (163_696, 128_049_152, 928_256)
    assert t.flops == 2 * 128_049_152 + 2 * 288_512 + 1_354_752 == 258_030_080


# ---- README `convcost roofline configs/depthwise_separable.yaml --hw h100 --dtype bf16` --------
def test_roofline_block_of_the_readme() -> None:
    h100 = BUILTIN["h100"]
    assert (h100.peak_for("bf16"), h100.bandwidth) == (989.5e12, 3.35e12)  # shown as 990 TFLOP/s, 3,350 GB/s
    assert f"{989.5e12 / 3.35e12:.1f}" == "295.4"  # ridge
    x, y = 64 * 32 * 32, 128 * 32 * 32  # input and output elements: 65,536 and 131,072; bf16 = 2 bytes

    std = roofline(analyze_memory(config_analysis("depthwise_separable.yaml", "standard"), "bf16"), h100)
    w = 128 * 64 * 9 + 128  # 73,856 weights and biases
    flops = 2 * y * 64 * 9 + y  # 2·MACs + a bias add per output = 151,126,016
    nbytes = (x + w + y) * 2  # 540,928
    assert (std.total.flops, std.total.bytes, std.memory.weight_bytes) == (flops, nbytes, 2 * w)
    assert (flops, nbytes, 2 * w) == (151_126_016, 540_928, 147_712)
    assert f"{flops / nbytes:.1f}" == "279.4" and std.total.bound == "memory"  # under the ridge
    assert std.total.ideal_s == pytest.approx(nbytes / 3.35e12)  # 161 ns
    assert std.memory.activations.peak_bytes == (x + y) * 2 == 393_216  # input and output alive
    assert std.memory.activations.training_saved_bytes == x * 2 == 131_072  # the conv keeps its input

    sep = roofline(analyze_memory(config_analysis("depthwise_separable.yaml", "separable"), "bf16"), h100)
    dw_w, pw_w = 64 * 9 + 64, 64 * 128 + 128  # 640 and 8,320
    dw = (2 * x * 9 + x, (x + dw_w + x) * 2)  # FLOPs 1,245,184, bytes 263,424
    pw = (2 * y * 64 + y, (x + pw_w + y) * 2)  # FLOPs 16,908,288, bytes 409,856
    assert [(s.flops, s.bytes) for s in sep.layers] == [dw, pw]
    assert [dw, pw] == [(1_245_184, 263_424), (16_908_288, 409_856)]
    assert [f"{f / b:.1f}" for f, b in (dw, pw)] == ["4.7", "41.3"]
    assert [s.ideal_s for s in sep.layers] == pytest.approx([263_424 / 3.35e12, 409_856 / 3.35e12])  # 78.6, 122 ns
    assert (sep.total.flops, sep.total.bytes, sep.memory.weight_bytes) == (18_153_472, 673_280, (dw_w + pw_w) * 2)
    assert f"{18_153_472 / 673_280:.1f}" == "27.0"
    assert f"{151_126_016 / 18_153_472:.1f}" == "8.3"  # "8.3× fewer FLOPs" in the README's text
    # peak at the pointwise conv: the model input, the depthwise output and the pointwise output
    assert sep.memory.activations.peak_bytes == (x + x + y) * 2 == 524_288
    assert sep.memory.activations.training_saved_bytes == (x + x) * 2 == 262_144  # each conv keeps its input


# ---- README `convcost verify configs/depthwise_separable.yaml --model separable` ---------------
def test_verify_block_of_the_readme() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("fvcore")
    from convcost.crosscheck.verify import verify_graph

    (graph,) = load_graphs(CONFIGS / "depthwise_separable.yaml", ["separable"])
    report = verify_graph(graph)
    assert report.ok
    dw, pw = report.layers
    # depthwise 64·3·3 + 64 = 640 params, pointwise 64·128 + 128 = 8,320; no buffers
    assert (dw.checks["params"].actual, pw.checks["params"].actual) == (640, 8_320)
    # fvcore: MACs, 32·32·64·9 = 589,824 and 32·32·64·128 = 8,388,608; FlopCounterMode twice that
    assert (dw.checks["fvcore"].actual, pw.checks["fvcore"].actual) == (589_824, 8_388_608)
    assert (dw.checks["flop_counter"].actual, pw.checks["flop_counter"].actual) == (2 * 589_824, 2 * 8_388_608)
    assert report.totals["params"].actual == 640 + 8_320 == 8_960
    assert report.totals["fvcore"].actual == 589_824 + 8_388_608 == 8_978_432
    assert report.totals["flop_counter"].actual == 2 * 8_978_432 == 17_956_864


# ---- README `convcost check ... --budget docs/budgets.yaml -v` ------------------------------------
def test_check_block_of_the_readme() -> None:
    a = config_analysis("resnet50.yaml", "resnet50")
    # layer1.0: bottleneck 64 → 64 → 64 → 256 with a projection 64 → 256, four BNs, no biases
    assert a.scope_total(("layer1", "0")).params == (64 * 64 + 64 * 64 * 9 + 64 * 256 + 64 * 256
                                                      + 2 * (64 + 64 + 256 + 256)) == 75_008
    # layer3: 512×28×28 → 1024×14×14, mid 256, six blocks (v1.5: the stride on the 3×3 and the projection)
    first = 28 * 28 * 512 * 256 + 14 * 14 * (256 * 256 * 9 + 256 * 1024 + 512 * 1024)
    rest = 14 * 14 * (1024 * 256 + 256 * 256 * 9 + 256 * 1024)
    assert a.scope_total(("layer3",)).macs == first + 5 * rest == 1_464_336_384
    # resnet50 and resnet18 totals (25,557,032 params; 4,089,184,256 and 1,814,073,344 MACs) are pinned
    # against torchvision's metadata and hand-written torch modules in tests/test_nets.py


# ---- docs/conventions.md: what the tools measure on torchvision's ResNet-50 -----------------------
def test_modelled_counters_equal_the_tools_measured_on_torchvision_resnet50() -> None:
    from convcost.crosscheck.counters import explain  # no torch: the conventions are modelled

    a = config_analysis("resnet50.yaml", "resnet50")
    totals = {c.convention.key: c.total for c in explain([(lc.node, lc.cost) for lc in a.layers], 1).counters
              if c.convention.key in ("fvcore", "flop_counter", "ptflops", "thop")}  # the other tools: test_conventions_zoo
    # measured with torch 2.13.0, fvcore 0.1.5, ptflops 0.7.5, thop 0.1.1 on torchvision's resnet50
    # at 1×3×224×224 (docs/conventions.md); FlopCounterMode reports 2 × 4,089,184,256
    assert totals == {"fvcore": 4_111_512_576, "flop_counter": 2 * 4_089_184_256, "ptflops": 4_132_436_968,
                      "thop": 4_133_742_592}
