"""The worked numbers of docs/conventions.md, from the configs/ specs."""

from __future__ import annotations

from conftest import config_analysis


def layer(a, name):  # type: ignore[no-untyped-def]
    return next(lc for lc in a.layers if lc.node.name == name)


def test_naive_5x5() -> None:
    a = config_analysis("inception_naive_vs_bottleneck.yaml", "naive")
    assert a.total.macs == 28 * 28 * 32 * 5 * 5 * 192 == 120_422_400
    assert a.total.params == 5 * 5 * 192 * 32 == 153_600
    assert a.graph.output.shape == (32, 28, 28)


def test_bottlenecked_5x5() -> None:
    a = config_analysis("inception_naive_vs_bottleneck.yaml", "bottleneck")
    assert layer(a, "reduce1x1").cost.macs == 28 * 28 * 16 * 192 == 2_408_448
    assert layer(a, "conv5x5").cost.macs == 28 * 28 * 32 * 5 * 5 * 16 == 10_035_200
    assert a.total.macs == 12_443_648
    assert a.total.params == 192 * 16 + 16 * 5 * 5 * 32 == 3_072 + 12_800
    saving = 1 - 12_443_648 / 120_422_400
    assert round(100 * saving, 1) == 89.7


def test_dilated_output_is_3x3() -> None:
    a = config_analysis("dilated_conv.yaml", "dilated")
    # effective kernel 2*(3-1)+1 = 5; (7 - 5)/1 + 1 = 3
    assert a.graph.output.shape == (1, 3, 3)
    assert a.total.macs == 3 * 3 * 3 * 3  # 3x3 outputs, 3x3 taps each: dilation does not change cost
    assert a.total.params == 3 * 3 + 1


def test_grouped() -> None:
    a = config_analysis("grouped_conv.yaml", "grouped")
    assert a.total.params == 64 * (64 // 4) * 3 * 3 + 64 == 9_216 + 64
    assert a.total.macs == 32 * 32 * 64 * (64 // 4) * 3 * 3
    dense = config_analysis("grouped_conv.yaml", "dense")
    assert dense.total.macs == 4 * a.total.macs


def test_depthwise_separable() -> None:
    a = config_analysis("depthwise_separable.yaml", "separable")
    dw, pw = layer(a, "sep.depthwise1"), layer(a, "sep.pointwise1")
    assert dw.cost.params == 64 * 3 * 3 + 64
    assert pw.cost.params == 64 * 128 + 128
    assert dw.node.args.groups == 64
    assert a.total.macs == 32 * 32 * 64 * 9 + 32 * 32 * 64 * 128 == 8_978_432
    std = config_analysis("depthwise_separable.yaml", "standard")
    assert std.total.macs == 32 * 32 * 128 * 64 * 9 == 75_497_472


def test_inception_a_has_88_channels() -> None:
    a = config_analysis("inception_a.yaml", "inception_a")
    assert a.graph.output.shape == (16 + 24 + 24 + 24, 28, 28) == (88, 28, 28)


def test_googlenet_inception_3a_matches_table_1() -> None:
    a = config_analysis("googlenet_inception3a.yaml", "inception3a")
    assert a.graph.output.shape == (64 + 128 + 32 + 32, 28, 28)
    # Szegedy et al. Table 1: 128M ops for inception (3a)
    assert a.total.macs == 784 * (192 * 64 + 192 * 96 + 96 * 128 * 9 + 192 * 16 + 16 * 32 * 25 + 192 * 32)
    assert a.total.params == 163_328 + (64 + 96 + 128 + 16 + 32 + 32)


def test_resnet_bottleneck_block() -> None:
    a = config_analysis("resnet_bottleneck.yaml", "bottleneck")
    assert a.total.macs == 56 * 56 * (256 * 64 + 64 * 64 * 9 + 64 * 256) == 218_365_952
    # weights 69,632 + three BNs with gamma/beta: 2*(64+64+256)
    assert a.total.params == 69_632 + 2 * (64 + 64 + 256)
    assert a.total.buffers == 2 * (64 + 64 + 256) + 3  # running mean/var + num_batches_tracked each
    assert not any("shortcut" in lc.node.name for lc in a.layers)  # identity shortcut: no layers
    add = layer(a, "block.add1")
    assert add.cost.elementwise_ops == 256 * 56 * 56
