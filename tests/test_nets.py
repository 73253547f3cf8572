"""Whole networks in configs/: params exactly, conv+linear MACs within 0.1 % of the published numbers.

Sources: the reference table of docs/conventions.md (torchvision weights metadata, whose
"GFLOPS" are conv+linear GMACs at 224×224, and its measured ResNet-50 counts), the papers' tables,
and hand-written torch modules in tests/reference_nets.py counted by torch's FlopCounterMode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import CONFIGS, config_analysis
from typer.testing import CliRunner

from convcost.cli import app
from convcost.costmodel.analysis import Analysis


def conv_linear_macs(a: Analysis) -> int:
    cats = a.by_category()
    return cats["conv"].macs + cats["linear"].macs


def check(a: Analysis, params: int, macs: float) -> None:
    assert a.total.params == params
    assert conv_linear_macs(a) == pytest.approx(macs, rel=1e-3)
    assert a.total.macs == conv_linear_macs(a)  # nothing else in these nets multiplies-adds
    assert a.graph.input_shape == (3, 224, 224) and a.graph.batch == 1
    assert a.graph.output.shape == (1000,)


def test_resnet18() -> None:
    # docs/conventions.md / torchvision ResNet18_Weights.IMAGENET1K_V1: 11,689,512 params, 1.814 GMACs
    check(config_analysis("resnet18.yaml", "resnet18"), 11_689_512, 1.814e9)


def test_resnet50() -> None:
    # docs/conventions.md / torchvision ResNet50_Weights.IMAGENET1K_V1: 25,557,032 params, 4.089 GMACs;
    # docs/conventions.md: measured FlopCounterMode/2 = 4,089,184,256 on torchvision's ResNet-50 exactly.
    a = config_analysis("resnet50.yaml", "resnet50")
    check(a, 25_557_032, 4.089e9)
    assert conv_linear_macs(a) == 4_089_184_256


def test_resnext50_32x4d() -> None:
    # docs/conventions.md / torchvision ResNeXt50_32X4D_Weights.IMAGENET1K_V1: 25,028,904 params, 4.23 GMACs
    check(config_analysis("resnext50_32x4d.yaml", "resnext50_32x4d"), 25_028_904, 4.23e9)


def test_mobilenet_v2() -> None:
    # docs/conventions.md / torchvision MobileNet_V2_Weights.IMAGENET1K_V1: 3,504,872 params, 0.301 GMACs
    check(config_analysis("mobilenet_v2.yaml", "mobilenet_v2"), 3_504_872, 0.301e9)


def test_mobilenet_v1() -> None:
    # Howard et al. 2017, Table 1/6 and docs/conventions.md: 569 M mult-adds, 4.2 M params without BatchNorm.
    # Keras applications MobileNet(alpha=1.0) reports 4,231,976 trainable params (weights + BN γ/β).
    a = config_analysis("mobilenet_v1.yaml", "mobilenet_v1")
    check(a, 4_231_976, 569e6)
    bn_params = a.by_category()["norm"].params
    assert round((a.total.params - bn_params) / 1e6, 1) == 4.2


@pytest.mark.parametrize(
    ("model", "macs", "params_m"),
    # Howard et al. 2017, Table 6 (width multiplier α at 224): mult-adds and params (no BN), rounded
    # to 3 and 2 significant digits by the paper, hence the looser MAC tolerance (0.5 %).
    [("mobilenet_v1_075", 325e6, 2.6), ("mobilenet_v1_050", 149e6, 1.3), ("mobilenet_v1_025", 41e6, 0.5)],
)
def test_mobilenet_v1_width_multiplier(model: str, macs: float, params_m: float) -> None:
    a = config_analysis("mobilenet_v1.yaml", model)
    assert conv_linear_macs(a) == pytest.approx(macs, rel=5e-3)
    assert round((a.total.params - a.by_category()["norm"].params) / 1e6, 1) == params_m


def test_googlenet_torchvision() -> None:
    # docs/conventions.md / torchvision GoogLeNet_Weights.IMAGENET1K_V1 (no aux heads): 6,624,904 params, 1.498 GMACs
    check(config_analysis("googlenet.yaml", "googlenet"), 6_624_904, 1.498e9)


# Szegedy et al. 2014, Table 1 "ops" (multiply-adds) per inception module, and the same sum by hand:
#   3a: 28·28·(192·64 + 192·96 + 96·128·9 + 192·16 + 16·32·25 + 192·32)   = 784·163,328 = 128,049,152
#   3b: 28·28·(256·128 + 256·128 + 128·192·9 + 256·32 + 32·96·25 + 256·64) = 784·388,096 = 304,267,264
#   4e: 14·14·(528·256 + 528·160 + 160·320·9 + 528·32 + 32·128·25 + 528·128) = 196·867,328 = 169,996,288
# The table rounds to 3 digits, so compare within 0.5 %. Not compared: 4a (73.6 M; the table
# truncates to 73 M) and 5a (51.1 M from its own channel columns; the table prints 54 M).
PAPER_MODULES = [
    ("inception3a", 128e6, 128_049_152),
    ("inception3b", 304e6, 304_267_264),
    ("inception4b", 88e6, None),
    ("inception4c", 100e6, None),
    ("inception4d", 119e6, None),
    ("inception4e", 170e6, 169_996_288),
    ("inception5b", 71e6, None),
]


def test_googlenet_paper() -> None:
    a = config_analysis("googlenet.yaml", "googlenet_paper")
    assert conv_linear_macs(a) == pytest.approx(1.5e9, rel=0.06)  # Table 1: "about 1.5 billion multiply-adds"
    for scope, table, exact in PAPER_MODULES:
        macs = a.scope_total((scope,)).macs
        assert macs == pytest.approx(table, rel=5e-3), scope
        if exact is not None:
            assert macs == exact, scope
    # 3a params: weights 163,328 + biases 64+96+128+16+32+32 = 368 (Table 1 prints 159K, i.e. KiB-ish)
    assert a.scope_total(("inception3a",)).params == 163_328 + 368


def test_convnext_tiny() -> None:
    # torchvision ConvNeXt_Tiny_Weights.IMAGENET1K_V1: 28,589,128 params, 4.46 "GFLOPS"; tests/reference_modern.py's
    # convnext() (torchvision's layout) counted by FlopCounterMode: 4,455,531,264 conv+linear MACs
    a = config_analysis("convnext_tiny.yaml", "convnext_tiny")
    check(a, 28_589_128, 4_455_531_264)
    assert round(conv_linear_macs(a) / 1e9, 2) == 4.46  # the published "GFLOPS", 2 decimals
    # stem 4×4/4 conv 3→96 on 56×56 positions: 56·56·96·3·4·4
    assert a.scope_total(("stem",)).macs == 56 * 56 * 96 * 3 * 4 * 4
    # one stage-1 block at 56×56: 7×7 depthwise (96·49 per position) + two pointwise linears 96·384 each
    assert a.scope_total(("stage1", "0")).macs == 56 * 56 * (96 * 49 + 2 * 96 * 384)
    # its params: dwconv 96·49 + 96, norm 2·96, pwconv1 96·384 + 384, pwconv2 384·96 + 96, layer scale 96
    assert a.scope_total(("stage1", "0")).params == 96 * 49 + 96 + 2 * 96 + 96 * 384 + 384 + 384 * 96 + 96 + 96


def test_convnext_tiny_matches_hand_written_torch() -> None:
    pytest.importorskip("torch")
    import reference_modern
    import reference_nets

    params, macs = reference_nets.count(reference_modern.convnext)
    a = config_analysis("convnext_tiny.yaml", "convnext_tiny")
    assert (a.total.params, conv_linear_macs(a)) == (params, macs)


def test_resnet50_depth1_is_the_stage_table() -> None:
    a = config_analysis("resnet50.yaml", "resnet50")
    names = [r.name for r in a.rows(depth=1)]
    assert names == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "flatten", "fc"]
    result = CliRunner().invoke(app, ["analyze", str(CONFIGS / "resnet50.yaml"), "--depth", "1"])
    assert result.exit_code == 0, result.output
    assert "layer4" in result.output and "layer1.0" not in result.output


def test_torchvision_names_inside_stages() -> None:
    a = config_analysis("resnet50.yaml", "resnet50")
    names = {lc.node.name for lc in a.layers}
    assert {"layer1.0.conv1", "layer1.0.bn3", "layer2.0.shortcut.conv1", "layer4.2.conv3"} <= names
    assert "layer1.1.shortcut.conv1" not in names  # identity shortcut after the first block
    stride2 = {lc.node.name for lc in a.layers if lc.node.op == "conv" and lc.node.args.stride == (2, 2)}
    # v1.5: the stage's stride sits on the 3×3 (conv2) and the projection, only in block 0
    assert stride2 == {"conv1"} | {f"layer{k}.0.{c}" for k in (2, 3, 4) for c in ("conv2", "shortcut.conv1")}


# ---- against hand-written torch modules ---------------------------------------------------
TORCH_CASES = [
    ("resnet18.yaml", "resnet18", "resnet18"),
    ("resnet50.yaml", "resnet50", "resnet50"),
    ("resnext50_32x4d.yaml", "resnext50_32x4d", "resnext50"),
    ("mobilenet_v1.yaml", "mobilenet_v1_050", "mobilenet_v1_050"),
    ("mobilenet_v2.yaml", "mobilenet_v2", "mobilenet_v2"),
    ("googlenet.yaml", "googlenet", "googlenet"),
    ("googlenet.yaml", "googlenet_paper", "googlenet_paper"),
]


def reference(key: str) -> Callable[[], Any]:
    import reference_nets as r

    return {
        "resnet18": lambda: r.resnet(r.BasicBlock, [2, 2, 2, 2]),
        "resnet50": lambda: r.resnet(r.Bottleneck, [3, 4, 6, 3]),
        "resnext50": lambda: r.resnet(r.Bottleneck, [3, 4, 6, 3], groups=32, base_width=4),
        "mobilenet_v1_050": lambda: r.mobilenet_v1(0.5),
        "mobilenet_v2": lambda: r.mobilenet_v2(1.0),
        "googlenet": lambda: r.googlenet(bn=True, k5=3),
        "googlenet_paper": lambda: r.googlenet(bn=False, k5=5),
    }[key]


@pytest.mark.parametrize(("config", "model", "key"), TORCH_CASES)
def test_matches_hand_written_torch(config: str, model: str, key: str) -> None:
    pytest.importorskip("torch")
    import reference_nets

    params, macs = reference_nets.count(reference(key))
    a = config_analysis(config, model)
    assert a.total.params == params
    assert conv_linear_macs(a) == macs


# ---- ShuffleNetV2: the split structure and channel shuffle ---------------------------------------
def test_shufflenet_v2() -> None:
    # torchvision ShuffleNet_V2_X1_0_Weights.IMAGENET1K_V1: 2,278,604 params, 0.14 "GFLOPS" (conv+linear GMACs)
    a = config_analysis("shufflenet_v2.yaml", "shufflenet_v2")
    check(a, 2_278_604, 0.145e9)
    names = {lc.node.name: lc.node for lc in a.layers}
    # stride-2 units (block 0) run both branches on the whole input, stride-1 units split it in two
    assert "stage2.0.branch1.conv_bn1.conv1" in names and "stage2.0.branch1.chunk1" not in names
    x1, x2 = names["stage2.1.branch1.chunk1"], names["stage2.1.branch2.chunk1"]
    assert (x1.op, x1.args.index, x2.args.index, x1.shape, x2.shape) == ("chunk", 0, 1, (58, 28, 28), (58, 28, 28))
    shuffles = [n for n in names.values() if n.op == "channel_shuffle"]
    assert len(shuffles) == 4 + 8 + 4 and all(n.args.groups == 2 for n in shuffles)  # one per unit


def test_shufflenet_v2_matches_the_torch_reference() -> None:
    pytest.importorskip("torch")
    import reference_modern

    params, macs = reference_modern.count(reference_modern.ShuffleNetV2)
    assert (params, macs) == (2_278_604, 144_907_992)  # the published params; FlopCounterMode/2
    a = config_analysis("shufflenet_v2.yaml", "shufflenet_v2")
    assert a.total.params == params
    assert conv_linear_macs(a) == macs
# ---- issue 11 part A: 1-D and 3-D nets against tests/reference_modern.py ----------------------
def mac_layers(a: Analysis) -> int:
    """conv and linear MACs (a net may have no linear layer)."""
    cats = a.by_category()
    return sum(cats[c].macs for c in ("conv", "linear") if c in cats)


def count_modern(make: Callable[[], Any], shape: tuple[int, ...]) -> tuple[int, int, tuple[int, ...]]:
    """(params, FlopCounterMode MACs, output shape) of a reference module on a 1×shape input, on the meta device."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        model = make().eval()
        x = torch.zeros(1, *shape)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        y = model(x)
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2, tuple(y.shape[1:])


def test_r3d_stage() -> None:
    # tests/reference_modern.py r3d_stem_and_layer2 (torchvision r3d_18's stem, layer1, layer2):
    # 2,028,992 params and 33,374,666,752 MACs (FlopCounterMode / 2) on 3×16×112×112
    a = config_analysis("r3d_stage.yaml", "r3d_stage")
    assert a.graph.input_shape == (3, 16, 112, 112)
    assert a.total.params == 2_028_992
    assert mac_layers(a) == a.total.macs == 33_374_666_752
    # stem 3×7×7 stride 1×2×2: 16×56×56; layer2 halves time and space: 8×28×28
    assert a.graph.output.shape == (128, 8, 28, 28)
    assert {lc.node.name: lc.node.shape for lc in a.layers}["stem.conv1"] == (64, 16, 56, 56)


def test_unet() -> None:
    # milesial/Pytorch-UNet (bilinear=False), 3 in / 2 classes at 256×256. Params by hand:
    # DoubleConv(i, o) = 9·i·o + 9·o·o + 4·o (no conv bias; two BNs, 2·o each);
    # Up(i) = ConvTranspose2d(i, i/2, 2, 2) = 4·i·i/2 + i/2, then DoubleConv(i, i/2); head 64·2 + 2
    def dc(i: int, o: int) -> int:
        return 9 * i * o + 9 * o * o + 4 * o

    def up(i: int) -> int:
        return 4 * i * (i // 2) + i // 2 + dc(i, i // 2)

    enc = dc(3, 64) + dc(64, 128) + dc(128, 256) + dc(256, 512) + dc(512, 1024)
    dec = up(1024) + up(512) + up(256) + up(128)
    a = config_analysis("unet.yaml", "unet")
    assert a.total.params == enc + dec + 64 * 2 + 2 == 31_037_698
    assert a.graph.output.shape == (2, 256, 256)
    # the skips are references (concat from [enc, up]), one level per resolution by recursion
    cats = [lc.node for lc in a.layers if lc.node.op == "concat"]
    assert [n.name for n in cats] == ["unet.inner.down.inner.down.inner.down.inner.cat",
                                      "unet.inner.down.inner.down.inner.cat", "unet.inner.down.inner.cat", "unet.inner.cat"]
    assert [n.shape[0] for n in cats] == [1024, 512, 256, 128]


def test_wav2vec2_feature_encoder() -> None:
    # 1×16000: L = floor((L - k) / s) + 1: 3199, 1599, 799, 399, 199, 99, 49
    # params: 512·1·10 + 2·512 (GroupNorm(512, 512)) + 4 · 512·512·3 + 2 · 512·512·2
    a = config_analysis("wav2vec2_feature_encoder.yaml", "wav2vec2_feature_encoder")
    assert a.total.params == 512 * 10 + 2 * 512 + 4 * 512 * 512 * 3 + 2 * 512 * 512 * 2 == 4_200_448
    # MACs: 3199·512·10 + (1599 + 799 + 399 + 199)·512·512·3 + (99 + 49)·512·512·2
    assert a.total.macs == 3199 * 512 * 10 + (1599 + 799 + 399 + 199) * 512 * 512 * 3 + (99 + 49) * 512 * 512 * 2
    assert a.graph.output.shape == (512, 49)


MODERN_TORCH_CASES = [
    ("r3d_stage.yaml", "r3d_stage", "r3d_stem_and_layer2"),
    ("unet.yaml", "unet", "UNet"),
    ("wav2vec2_feature_encoder.yaml", "wav2vec2_feature_encoder", "wav2vec2_feature_encoder"),
]


@pytest.mark.parametrize(("config", "model", "key"), MODERN_TORCH_CASES)
def test_modern_matches_hand_written_torch(config: str, model: str, key: str) -> None:
    pytest.importorskip("torch")
    import reference_modern

    a = config_analysis(config, model)
    params, macs, out = count_modern(getattr(reference_modern, key), a.graph.input_shape)
    assert a.total.params == params
    assert mac_layers(a) == macs
    assert a.graph.output.shape == out


# `convcost verify` on every config (these included): tests/test_verify.py
