"""Edges of the ops' shared rules (convcost/ops/registry.py, conv.py): the size limit is exactly MAX_DIM = 10^9,
and 'same' padding is ⌊d·(k−1)/2⌋ per side, dilation included.

Checked against mutations that survived the rest of the suite (issue 19): ``MAX_DIM`` off by one (``>`` made
``>=``, the constant made 10^9 ± 1) and ``same_padding`` ignoring dilation.
"""

from __future__ import annotations

import pytest
from conftest import analysis_of, graph_of

from convcost.errors import SpecError
from convcost.ops.conv import ConvArgs, explicit_padding, same_padding, torch_padding
from convcost.ops.registry import MAX_DIM, ArgError, nonneg_int, pos_int


def test_the_size_limit_is_ten_to_the_ninth() -> None:
    assert MAX_DIM == 1_000_000_000
    assert pos_int(1_000_000_000) == 1_000_000_000
    assert nonneg_int(1_000_000_000) == 1_000_000_000
    with pytest.raises(ArgError, match=r"^must be at most 1,000,000,000 \(limit, see docs/limits.md\), got 1,000,000,001$"):
        pos_int(1_000_000_001)
    with pytest.raises(ArgError, match=r"^must be at most 1,000,000,000 .* got 1,000,000,001$"):
        nonneg_int(1_000_000_001)
    # a whole float within the limit is a typo for the integer; past it, the plain complaint
    with pytest.raises(ArgError, match=r"^must be an integer, got 1000000000.0 \(write 1000000000\)$"):
        pos_int(1e9)
    with pytest.raises(ArgError, match=r"^must be a positive integer, got 1000000001.0$"):
        pos_int(1e9 + 1)
    with pytest.raises(ArgError, match=r"^must be a positive integer, got 0$"):
        pos_int(0)
    assert nonneg_int(0) == 0


def test_a_layer_at_the_size_limit_is_analysed_and_one_more_is_refused() -> None:
    text = "input: [3, 1, 1]\nlayers:\n  - conv: {{out: {out}, kernel: 1, bias: false}}\n"
    a = analysis_of(text.format(out=1_000_000_000))
    assert a.total.params == 3 * 1_000_000_000  # C_in · C_out · 1 · 1
    with pytest.raises(SpecError, match=r"'out' must be at most 1,000,000,000 \(limit, see docs/limits.md\), "
                                        r"got 1,000,000,001"):
        graph_of(text.format(out=1_000_000_001))


@pytest.mark.parametrize(("kernel", "dilation", "pad"), [
    ((3, 3), (1, 1), (1, 1)),  # 1·(3−1)/2 = 1
    ((3, 3), (2, 2), (2, 2)),  # 2·(3−1)/2 = 2
    ((3, 5), (3, 1), (3, 2)),  # 3·2/2 = 3; 1·4/2 = 2
    ((5,), (4,), (8,)),  # 4·4/2 = 8
    ((2, 2), (1, 1), (0, 0)),  # 1·1/2 rounds down: torch puts the odd one on the right
    ((2, 3), (3, 2), (1, 2)),  # 3·1 = 3 is odd: 1 left, 2 right; 2·2/2 = 2
    ((4, 4, 4), (2, 2, 2), (3, 3, 3)),  # 2·3 = 6 is even: 3 each side
])
def test_same_padding_counts_the_dilated_kernel(kernel: tuple[int, ...], dilation: tuple[int, ...], pad: tuple[int, ...]) -> None:
    assert same_padding(kernel, dilation) == pad
    a = ConvArgs(4, kernel, (1,) * len(kernel), "same", dilation)
    assert explicit_padding(a) == pad
    assert torch_padding(a) == "same"  # built as torch's string whatever the kernel (as ConvMixer writes it)
    assert torch_padding(ConvArgs(4, kernel, (1,) * len(kernel), pad, dilation)) == pad


@pytest.mark.parametrize("how", ["pickle", "copy", "deepcopy"])
def test_token_shapes_survive_copy_and_pickle(how: str) -> None:
    import copy
    import pickle

    from convcost.ops.shapes import TokenGrid, Tokens, grid_of, layout

    dup = {"pickle": lambda s: pickle.loads(pickle.dumps(s)), "copy": copy.copy, "deepcopy": copy.deepcopy}[how]
    tokens, grid = dup(Tokens(197, 768)), dup(TokenGrid(7, 9, 96))
    assert type(tokens) is Tokens and tokens == (197, 768) and (tokens.n, tokens.d) == (197, 768)
    assert type(grid) is TokenGrid and grid == (63, 96) and grid.grid == (7, 9)  # 7·9 tokens
    assert (layout(tokens), layout(grid), grid_of(grid)) == ("tokens", "token_grid", (7, 9))


@pytest.mark.parametrize(("layer", "message"), [
    ("hardtanh: {min: 1, max: 1}", "t.yaml:3:29: hardtanh 'hardtanh1': max=1 must be more than min=1 (as in torch)"),
    ("hardtanh: {min: 2, max: 1}", "t.yaml:3:29: hardtanh 'hardtanh1': max=1 must be more than min=2 (as in torch)"),
    ("chunk: {sizes: 5, index: 0}", "t.yaml:3:20: chunk 'chunk1': 'sizes' must be a list of positive integers, got 5"),
    ("chunk: {sizes: [], index: 0}", "t.yaml:3:20: chunk 'chunk1': 'sizes' must be a list of positive integers, got a list"),
    ("chunk: {sizes: [1, 0, 3], index: 0}", "t.yaml:3:20: chunk 'chunk1': 'sizes' must be a positive integer, got 0"),
])
def test_arguments_torch_refuses_are_refused(layer: str, message: str) -> None:
    with pytest.raises(SpecError) as e:
        graph_of(f"input: [4, 6, 5]\nlayers:\n  - {layer}\n")
    assert str(e.value) == message


def test_hardtanh_with_max_just_above_min_is_accepted() -> None:
    assert analysis_of("input: [4, 6, 5]\nlayers:\n  - hardtanh: {min: 1, max: 1.5}\n").total.act_ops == 4 * 6 * 5


def test_norms_read_their_weights_and_statistics_but_not_the_step_counter() -> None:
    from convcost.costmodel.memory import analyze_memory

    for layer, params, buffers, read in [
        ("instancenorm: {affine: true, track_running_stats: true}", 2 * 8, 2 * 8 + 1, 2 * 8 + 2 * 8),
        ("instancenorm: {track_running_stats: true}", 0, 2 * 8 + 1, 2 * 8),  # running mean, var; the counter unread
        ("instancenorm: {affine: true}", 2 * 8, 0, 2 * 8),
        ("bn", 2 * 8, 2 * 8 + 1, 2 * 8 + 2 * 8),
    ]:
        a = analysis_of(f"input: [8, 4, 4]\nlayers:\n  - {layer}\n")
        (lt,) = analyze_memory(a, "fp32").layers
        assert (a.total.params, a.total.buffers) == (params, buffers), layer
        assert lt.traffic.weight_bytes == read * 4, layer  # fp32


def test_thop_counts_softmax_per_softmax_of_c_values() -> None:
    from convcost.crosscheck.counters import THOP

    a = analysis_of("input: [4, 6, 5]\nlayers:\n  - softmax\n")
    (lc,) = a.layers
    p = THOP.predict(lc.node, lc.cost, 2)
    # batch 2 · 6·5 positions = 60 softmaxes of C = 4: 4 exps + 3 adds + 4 divides = 11 each
    assert p.value == 60 * 11 and type(p.value) is int


@pytest.mark.parametrize(("text", "message"), [
    ("input: {tokens: [16, 8]}\nlayers:\n  - channel_shuffle: {groups: 2}\n",
     "t.yaml:3:5: channel_shuffle 'channel_shuffle1': channel_shuffle needs a C×H×W map, got tokens 16 tok×8; turn them "
     "into a map with 'to_map' first"),
    ("input: {tokens: [16, 8]}\nlayers:\n  - pixel_shuffle: {factor: 2}\n",
     "t.yaml:3:5: pixel_shuffle 'pixel_shuffle1': pixel_shuffle needs a C×H×W map, got tokens 16 tok×8; turn them "
     "into a map with 'to_map' first"),
    ("input: [8, 6]\nlayers:\n  - pixel_shuffle: {factor: 2}\n",
     "t.yaml:3:5: pixel_shuffle 'pixel_shuffle1': pixel_shuffle needs a C×H×W input, got 8×6"),
    # the column of the factor's value: '  - pixel_shuffle: {factor: ' is 28 characters
    ("input: [8, 4, 4]\nlayers:\n  - pixel_shuffle: {factor: 3}\n",
     "t.yaml:3:29: pixel_shuffle 'pixel_shuffle1': the 8 input channels must be a multiple of factor² = 9"),
    ("input: [4, 500000001, 1]\nlayers:\n  - pixel_shuffle: {factor: 2}\n",  # 500,000,001 · 2 is over 10^9
     "t.yaml:3:29: pixel_shuffle 'pixel_shuffle1': 500000001×1 times 2 is more than the limit of 1,000,000,000"),
    ("input: [8, 6]\nlayers:\n  - pixel_unshuffle: {factor: 2}\n",
     "t.yaml:3:5: pixel_unshuffle 'pixel_unshuffle1': pixel_unshuffle needs a C×H×W input, got 8×6"),
    ("input: [8, 5, 4]\nlayers:\n  - pixel_unshuffle: {factor: 2}\n",
     "t.yaml:3:31: pixel_unshuffle 'pixel_unshuffle1': factor 2 must divide H×W = 5×4"),
    ("input: {tokens: [16, 8]}\nlayers:\n  - to_tokens\n",
     "t.yaml:3:5: to_tokens 'to_tokens1': to_tokens needs a C×H×W map, got tokens 16 tok×8; turn them into a map "
     "with 'to_map' first"),
    ("input: [8, 6]\nlayers:\n  - to_tokens\n", "t.yaml:3:5: to_tokens 'to_tokens1': to_tokens needs a C×H×W input, got 8×6"),
    ("input: [8, 4, 4]\nlayers:\n  - conv: {out: [4], kernel: 1}\n",
     "t.yaml:3:17: conv 'conv1': 'out' must be a positive integer, got a list"),
    ("input: [8, 4, 4]\nlayers:\n  - dropout: {p: true}\n",
     "t.yaml:3:18: dropout 'dropout1': 'p' must be a number between 0 and 1, got true"),
])
def test_shape_rules_name_the_op_and_point_at_the_argument(text: str, message: str) -> None:
    with pytest.raises(SpecError) as e:
        graph_of(text)
    assert str(e.value) == message


def test_pixel_shuffle_up_to_the_size_limit() -> None:
    (node,) = graph_of("input: [4, 500000000, 1]\nlayers:\n  - pixel_shuffle: {factor: 2}\n").nodes
    assert node.shape == (1, 1_000_000_000, 2)  # 4 / 2² channels; 500,000,000 · 2 = 10^9 rows, exactly the limit


@pytest.mark.parametrize(("layer", "shown"), [
    ("to_tokens", "Call(flatten(2).transpose(1, 2))"),  # [B, C, H, W] -> [B, H·W, C]
    ("to_tokens: {grid: true}", "Call(permute(0, 2, 3, 1))"),  # -> [B, H, W, C]
    ("channel_shuffle: {groups: 2}", "Call(channel_shuffle(groups=2))"),
])
def test_view_ops_build_modules_that_say_what_they_do(layer: str, shown: str) -> None:
    pytest.importorskip("torch")
    (node,) = graph_of(f"input: [8, 4, 4]\nlayers:\n  - {layer}\n").nodes
    assert repr(node.rule.build(node)) == shown


def test_pixel_unshuffle_channel_limit_and_integer_sizes() -> None:
    """Checked against mutations of PixelUnshuffle.shape that survived mutmut: the limit's product made a division,
    its message or argument dropped, and H/f or W/f made a true division (4 / 2 == 2 compares equal: the type tells)."""
    (node,) = graph_of("input: [250000000, 4, 6]\nlayers:\n  - pixel_unshuffle: {factor: 2}\n").nodes
    assert node.shape == (1_000_000_000, 2, 3)  # 250,000,000 · 2² = 10^9 channels, exactly the limit; 4/2, 6/2
    assert [type(d) for d in node.shape] == [int, int, int]
    with pytest.raises(SpecError) as e:
        graph_of("input: [250000001, 4, 6]\nlayers:\n  - pixel_unshuffle: {factor: 2}\n")
    # 250,000,001 · 4 = 1,000,000,004; the column of the factor's value: '  - pixel_unshuffle: {factor: ' is 30 characters
    assert str(e.value) == ("t.yaml:3:31: pixel_unshuffle 'pixel_unshuffle1': 250000001 channels times 2² is more than the "
                            "limit of 1,000,000,000 (docs/limits.md)")
