"""Receptive field, jump and start per layer (costmodel/receptive.py, each op's ``rf``).

By hand: the classic recurrences (r += (k − 1)·d·j, j *= s, start += (−p)·j) on stacks, through branches (the
maximum over paths), dilation, transposed convs and upsampling (fractional jumps, positions that read nothing).
Against torch: every layer of a zoo of small specs, every position along each dim, and ResNet-50 and
Inception-v3, every layer, against the gradient of one output position with respect to the input
(tests/rf_bruteforce.py: positive weights, max pools read as averages, float64).
"""

from __future__ import annotations

import json
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from conftest import CONFIGS, graph_of
from typer.testing import CliRunner

from convcost.api import open_spec
from convcost.cli import app
from convcost.costmodel.receptive import DimField, Unknown, receptive_fields
from convcost.graph.build import build_graph
from convcost.graph.settings import settings_of

sys.path.insert(0, str(Path(__file__).parent))
runner = CliRunner()


def field(text: str, layer: str | None = None) -> tuple[DimField, ...]:
    rf = receptive_fields(graph_of(text))
    lr = rf.by_name[layer] if layer else rf.layers[-1]
    (f,) = lr.fields.values()
    assert not isinstance(f, Unknown)
    return f


def summary(f: tuple[DimField, ...]) -> list[tuple[int, Fraction, Fraction | None]]:
    return [(d.size, d.jump, d.start) for d in f]


# ---- by hand -------------------------------------------------------------------------------------
def test_a_stack_of_convs_follows_the_recurrence() -> None:
    # conv 7 s2 p3: r 7, j 2, start −3; maxpool 3 s2 p1: r 7 + 2·2 = 11, j 4, start −3 − 1·2 = −5;
    # conv 3 s1 p1: r 11 + 2·4 = 19, j 4, start −5 − 1·4 = −9
    spec = """
input: [3, 64, 64]
layers:
  - conv: {out: 8, kernel: 7, stride: 2, padding: 3}
  - maxpool: {kernel: 3, stride: 2, padding: 1}
  - conv: {out: 8, kernel: 3, padding: 1}
"""
    assert summary(field(spec, "conv1")) == [(7, 2, -3)] * 2
    assert summary(field(spec, "maxpool1")) == [(11, 4, -5)] * 2
    assert summary(field(spec)) == [(19, 4, -9)] * 2


def test_a_constant_reads_no_position() -> None:
    """A constant (EdgeNeXt's position grid) reads no model input, nor does the 3×3 conv of it: the add's field is the
    other branch's alone, the first conv's 3 (a conv of the constant would widen it to 5)."""
    spec = """
input: [4, 8, 8]
layers:
  - conv: {name: a, out: 4, kernel: 3, padding: 1}
  - constant: {name: grid, shape: [2, 8, 8]}
  - conv: {name: proj, out: 4, kernel: 3, padding: 1}
  - add: {from: [a, proj]}
"""
    rf = receptive_fields(graph_of(spec))
    assert rf.by_name["grid"].fields == {} and rf.by_name["proj"].fields == {}
    assert summary(field(spec)) == [(3, 1, -1)] * 2


def test_dilation_stride_and_rectangular_kernels() -> None:
    # configs/dilated_conv.yaml's 3×3 at dilation 2: r = 1 + 2·2 = 5, no padding: start 0
    assert summary(field((CONFIGS / "dilated_conv.yaml").read_text())) == [(5, 1, 0)] * 2
    # [1, 7] then [7, 1] with 'same'-style padding: 7×7 in all, start −3 each way
    spec = """
input: [1, 20, 20]
layers:
  - conv: {out: 1, kernel: [1, 7], padding: [0, 3]}
  - conv: {out: 1, kernel: [7, 1], padding: [3, 0]}
"""
    assert summary(field(spec, "conv1")) == [(1, 1, 0), (7, 1, -3)]
    assert summary(field(spec)) == [(7, 1, -3), (7, 1, -3)]
    # stride 3 over kernel 2: r 2, j 3; then kernel 2: r = 2 + 1·3 = 5 (a hull: positions 2 and 5 are never read...
    # ...inside it the unread 2 is still counted, as spans are)
    spec2 = "input: [1, 30]\nlayers:\n  - conv: {out: 1, kernel: 2, stride: 3}\n  - conv: {out: 1, kernel: 2}\n"
    assert summary(field(spec2)) == [(5, 3, 0)]


def test_even_kernel_same_padding_pads_like_torch() -> None:
    # kernel 4, 'same': torch pads ⌊3/2⌋ = 1 before and 2 after: position o reads o − 1 .. o + 2
    f = field("input: [1, 10]\nlayers:\n  - conv: {out: 1, kernel: 4, padding: same}\n")
    assert summary(f) == [(4, 1, -1)]


def test_branches_take_the_maximum_over_paths() -> None:
    # concat of a 1×1 path (r 1) and a 5×5 path (r 5): 5, start −2; a residual body of two 3×3 (r 5) plus the
    # identity: 5; and a second concat whose branches start at different offsets: the hull of both
    spec = """
input: [4, 16, 16]
layers:
  - concat:
      - [conv: {out: 2, kernel: 1}]
      - [conv: {out: 2, kernel: 5, padding: 2}]
  - residual: [conv: {out: 4, kernel: 3, padding: 1}, conv: {out: 4, kernel: 3, padding: 1}]
  - concat:
      - [conv: {out: 2, kernel: 4, padding: same}]      # o reads o − 1 .. o + 2 of the previous map (torch pads 1, 2)
      - [conv: {out: 2, kernel: 3, padding: 2, dilation: 2}]   # o reads o − 2, o, o + 2
"""
    rf = receptive_fields(graph_of(spec))
    assert summary(next(iter(rf.by_name["concat1"].fields.values()))) == [(5, 1, -2)] * 2
    assert summary(next(iter(rf.by_name["add1"].fields.values()))) == [(9, 1, -4)] * 2  # 5 + 2 + 2
    # after add1 (o reads o − 4 .. o + 4): branch 1 reads o − 1 .. o + 2: [o − 5, o + 6]; branch 2 reads o − 2 .. o + 2:
    # [o − 6, o + 6]; the hull: [o − 6, o + 6], 13 positions; branch 1 alone: 12 from o − 5
    assert summary(next(iter(rf.by_name["branch3.conv1"].fields.values()))) == [(12, 1, -5)] * 2
    assert summary(next(iter(rf.by_name["concat2"].fields.values()))) == [(13, 1, -6)] * 2


def test_transposed_conv_has_a_fractional_jump_and_residues() -> None:
    # DCGAN's k4 s2 p1: output o = 2m reads inputs m − 1, m; o = 2m + 1 reads m, m + 1: r 2, jump ½, start −1
    f = field("input: [1, 8]\nlayers:\n  - conv_transpose: {out: 1, kernel: 4, stride: 2, padding: 1}\n")
    assert summary(f) == [(2, Fraction(1, 2), -1)]
    assert (f[0].span(0), f[0].span(1), f[0].span(2)) == ((-1, 0), (0, 1), (0, 1))
    # k2 s3: o = 3m reads m (k = 0), 3m + 1 reads m (k = 1), 3m + 2 reads nothing (no k·1 ≡ 2 mod 3)
    g = field("input: [1, 8]\nlayers:\n  - conv_transpose: {out: 1, kernel: 2, stride: 3}\n")[0]
    assert (g.span(0), g.span(1), g.span(2), g.span(3)) == ((0, 0), (0, 0), None, (1, 1))
    assert g.size == 1 and g.jump == Fraction(1, 3)


def test_upsampling_reads_its_taps() -> None:
    # nearest ×2: o reads ⌊o/2⌋; after a 3-wide conv (o − 1 .. o + 1): r stays 3, jump ½
    f = field("input: [1, 10]\nlayers:\n  - conv: {out: 1, kernel: 3, padding: 1}\n  - upsample: {scale: 2}\n")[0]
    assert (f.size, f.jump) == (3, Fraction(1, 2))
    assert (f.span(4), f.span(5)) == ((1, 3), (1, 3))
    # linear ×2 (align_corners false): src = (o + ½)/2 − ½; o = 0: −¼ → taps −1, 0; o = 1: ¼ → 0, 1
    g = field("input: [1, 10]\nlayers:\n  - upsample: {scale: 2, mode: linear}\n")[0]
    assert (g.span(0), g.span(1), g.size) == ((-1, 0), (0, 1), 2)
    # align_corners true, 10 → 19: src = o·9/18 = o/2: even o is exactly on input o/2, one tap with weight
    h = field("input: [1, 10]\nlayers:\n  - upsample: {size: 19, mode: linear, align_corners: true}\n")[0]
    assert (h.span(4), h.span(5)) == ((2, 2), (2, 3))


def test_global_ops_read_the_whole_input() -> None:
    spec = """
input: [3, 32, 32]
layers:
  - conv: {out: 8, kernel: 3, padding: 1}
  - gate: [global_avgpool, conv: {out: 8, kernel: 1}, sigmoid]
  - conv: {out: 8, kernel: 3, padding: 1}
"""
    f = field(spec)
    assert all(d.whole for d in f) and "global pooling" in f[0].why
    result = runner.invoke(app, ["analyze", "-", "--rf"], input=spec)
    assert result.exit_code == 0, result.output
    line = "receptive field of 'conv3': the whole input: global pooling averages every position ('global_avgpool1')"
    assert line in result.stdout


def test_tokens_patch_then_global_attention() -> None:
    rf = receptive_fields(build_graph(open_spec(CONFIGS / "vit_b_16.yaml"), "vit_b_16"))
    (patch,) = rf.by_name["conv_proj"].fields.values()
    assert summary(patch) == [(16, 16, 0)] * 2  # a 16×16 patch with stride 16
    (attn,) = rf.by_name["encoder.layers.0.self_attention"].fields.values()
    assert all(d.whole for d in attn) and "attention reads every token" in attn[0].why


def test_json_fields(tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyze", str(CONFIGS / "resnet50.yaml"), "--rf", "-f", "json"])
    assert result.exit_code == 0, result.output
    layers = {x["name"]: x for x in json.loads(result.stdout)["models"][0]["layers"]}
    # layer4's output: 427 = 1 + Σ (k − 1)·jump over the deepest path, the textbook value for torchvision's
    # ResNet-50 (stride on the 3×3); jump 32; start −213 (the centre of position 0 at input 0)
    assert layers["layer4.2.relu3"]["rf"] == [{"input": "input", "known": True, "global": False, "size": [427, 427],
                                               "jump": [32, 32], "start": [-213, -213], "whole": [False, False],
                                               "exact": True, "why": None, "moved": None}]
    assert layers["fc"]["rf"][0]["global"] and layers["fc"]["rf"][0]["size"] == [224, 224]


# ---- against torch: a zoo of small specs, every position along each dim --------------------------
ZOO = {
    "convs": """
input: [2, 13, 11]
layers:
  - conv: {out: 3, kernel: 3, stride: 2, padding: 1}
  - conv: {out: 3, kernel: [3, 2], stride: [1, 3], dilation: [2, 1], padding: [2, 0]}
  - conv: {out: 3, kernel: 4, padding: same}
  - depthwise: {kernel: 3, stride: 1}
""",
    "pools": """
input: [2, 15, 12]
layers:
  - maxpool: {kernel: 3, stride: 2, padding: 1, ceil_mode: true}
  - avgpool: {kernel: 2, stride: 2, ceil_mode: true}
  - conv: {out: 2, kernel: 1}
  - adaptive_avgpool: {out: [3, 2]}
""",
    "transposed": """
input: [2, 5, 4]
layers:
  - conv_transpose: {out: 2, kernel: 4, stride: 2, padding: 1}
  - conv_transpose: {out: 2, kernel: [2, 3], stride: [3, 2], padding: [0, 1], output_padding: [1, 1], dilation: [1, 2]}
  - conv: {out: 2, kernel: 3, padding: 1}
""",
    "upsample": """
input: [2, 6, 5]
layers:
  - conv: {out: 2, kernel: 3, padding: 1}
  - upsample: {name: nearest, scale: 2}
  - upsample: {name: bilinear, scale: 1.5, mode: bilinear}
  - upsample: {name: corners, size: [20, 13], mode: bilinear, align_corners: true}
  - upsample: {name: bicubic, size: [23, 17], mode: bicubic}
  - upsample: {name: sized, size: [29, 21]}
""",
    "shuffles": """
input: [8, 6, 6]
layers:
  - pixel_shuffle: {factor: 2}
  - conv: {out: 8, kernel: 3, padding: 1}
  - pixel_unshuffle: {factor: 3}
  - channel_shuffle: {groups: 2}
  - split: [[conv: {out: 36, kernel: 1}], [conv: {out: 36, kernel: 3, padding: 1}]]
""",
    "branches": """
input: [4, 14, 12]
layers:
  - conv: {out: 4, kernel: 3, padding: 1}
  - residual: {body: [conv: {out: 4, kernel: 3, stride: 2, padding: 1}], shortcut: [conv: {out: 4, kernel: 1, stride: 2}]}
  - concat:
      - [conv: {out: 2, kernel: 1}]
      - [conv: {out: 2, kernel: 3, padding: 2, dilation: 2}, conv: {out: 2, kernel: 3, padding: 1}]
      - [avgpool: {kernel: 3, stride: 1, padding: 1}]
  - add: [[conv: {out: 8, kernel: [1, 3], padding: [0, 1]}], [conv: {out: 8, kernel: [3, 1], padding: [1, 0]}]]
  - gate: [adaptive_avgpool: {out: 1}, conv: {out: 8, kernel: 1}, sigmoid]
""",
    "norms": """
input: [4, 9, 7]
layers:
  - conv: {out: 4, kernel: 3, padding: 1}
  - layernorm
  - conv: {name: after_ln, out: 4, kernel: 3, padding: 1}
  - instancenorm: {affine: true, track_running_stats: true}
  - conv: {name: after_running, out: 4, kernel: 3, padding: 1}
  - groupnorm: {groups: 2}
""",
    "sequence": """
input: [2, 20]
layers:
  - conv: {out: 2, kernel: 3, stride: 2}
  - upsample: {scale: 3, mode: linear}
  - conv_transpose: {out: 2, kernel: 3, stride: 2, padding: 1}
  - maxpool: {kernel: 2, stride: 2}
""",
    "volume": """
input: [1, 6, 7, 5]
layers:
  - conv: {out: 2, kernel: [3, 1, 3], stride: [1, 2, 1], padding: [1, 0, 1]}
  - upsample: {scale: 2, mode: trilinear}
  - avgpool: {kernel: 2, stride: 1}
""",
    # antialiased sizes where torch's rounding gives no weight to a tap exact arithmetic zeroes (11 → 5 does: there
    # torch's float x = (j − c + ½)/2.2 misses 1 by a rounding, and the cubic's weight is tiny, not 0)
    "pools20": """
input: [1, 14, 12]
layers:
  - adaptive_maxpool: {out: [7, 6]}
  - upsample: {size: [11, 9], mode: bicubic, antialias: true}
  - lppool: {norm: 2, kernel: 2, stride: 1}
  - upsample: {size: [13, 14], mode: nearest-exact}
  - upsample: {size: [6, 5], mode: bilinear, antialias: true}
  - upsample: {scale: 3, mode: nearest-exact}
""",
    "vit": """
input: [3, 16, 12]
layers:
  - patch_embed: {out: 8, patch: 4}
  - class_token
  - pos_embed
  - residual: [layernorm, attention: {heads: 2}]
  - token_pool
  - linear: {out: 3}
""",
    "swin": """
input: [3, 28, 20]
layers:
  - patch_embed: {out: 8, patch: 2, grid: true}
  - window_attention: {name: wmsa, heads: 2, window: 3}
  - window_attention: {name: swmsa, heads: 2, window: [4, 3], shift: [2, 1]}
  - patch_merging
  - linear: {out: 8}
  - to_map
  - conv: {out: 2, kernel: 3, padding: 1}
""",
    "swin3d": """
input: [3, 10, 28, 20]
layers:
  - conv: {out: 8, kernel: 2, stride: 2}
  - permute: {dims: [0, 2, 3, 4, 1]}
  - window_attention_3d: {name: swmsa, heads: 2, window: [2, 4, 3], shift: [1, 2, 1]}
  - patch_merging
  - linear: {out: 8}
  - window_attention_3d: {name: wmsa, heads: 2, window: [8, 3, 3]}
  - to_map
  - conv: {out: 2, kernel: 3, padding: 1}
""",
    "swin_v2": """
input: [3, 28, 20]
layers:
  - patch_embed: {out: 8, patch: 2, grid: true}
  - window_attention_v2: {name: wmsa, heads: 2, window: 3, cpb_hidden: 8}
  - window_attention_v2: {name: swmsa, heads: 2, window: [4, 3], shift: [2, 1], cpb_hidden: 8}
  - patch_merging_v2
  - linear: {out: 8}
  - to_map
  - conv: {out: 2, kernel: 3, padding: 1}
""",
}


@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_position_of_every_layer_against_torch(name: str) -> None:
    pytest.importorskip("torch")
    from rf_bruteforce import compare

    rf = receptive_fields(graph_of(ZOO[name]))
    checked, bad = compare(rf, where="lines")
    assert not bad, "\n".join(bad[:20])
    assert checked >= 2 * len(rf.layers)  # proof that it ran: span ends compared exactly, several per layer


# ---- against torch: ResNet-50 and Inception-v3 -----------------------------------------------------
def _graph(config: str, model: str, size: str):  # type: ignore[no-untyped-def]
    return build_graph(open_spec(CONFIGS / config), model, settings=settings_of([f"input={size}"]))


# A receptive field does not depend on the channels: thin() builds every conv one channel wide, so large inputs
# stay cheap. Heights where the deepest layers' fields fit unclipped: ResNet-50's 427 (start −213, jump 32) at
# 448; Inception-v3's 1311 (start 0 after its unpadded stem, jump 32) at 1400. The width is the least each net
# takes to reach its last layer (ResNet-50: 1; Inception-v3: 75, its unpadded stem).
NETS = {
    "resnet50": ("resnet50.yaml", "resnet50", ("448x1", "1x448")),
    "inception_v3": ("inception_v3.yaml", "inception_v3", ("1400x75", "75x1400")),
}
DEEPEST = {"resnet50": ("layer4.2.relu3", 427), "inception_v3": ("Mixed_7c.concat1", 1311)}
QUICK = {"resnet50": "448x1", "inception_v3": "299x75"}  # Inception-v3's later fields are clipped at 299


@pytest.mark.parametrize("net", sorted(NETS))
def test_block_outputs_of_whole_nets_against_torch(net: str) -> None:
    """Every top-level block's output (each Mixed_*, each ResNet stage's last layer) at the position whose field is
    least clipped (the quick form of the slow test below: Inception-v3 at 299, where its fields from Mixed_6b on
    are clipped)."""
    pytest.importorskip("torch")
    from rf_bruteforce import compare, thin

    config, model, _ = NETS[net]
    g = _graph(config, model, QUICK[net])
    rf = receptive_fields(g)
    blocks = _block_outputs(g)
    checked, bad = compare(rf, graph=thin(g), only=blocks, where="centred", chunk=32)
    assert not bad, "\n".join(bad[:20])
    assert checked >= len(blocks)  # span ends compared exactly: at least one per block
    name, size = DEEPEST[net]
    assert [d.size for d in next(iter(rf.by_name[name].fields.values()))] == [size, size]


def _block_outputs(g) -> set[str]:  # type: ignore[no-untyped-def]
    last = {}
    for node in g.nodes:
        last[node.scope[:1] or (node.name,)] = node.name
    return set(last.values())


@pytest.mark.slow
@pytest.mark.parametrize("net", sorted(NETS))
def test_every_layer_of_whole_nets_against_torch(net: str) -> None:
    """Every layer at its first, middle and last positions and at its least clipped one, tall and wide inputs (the
    quick size: ResNet-50 448, Inception-v3 299); then every block output at the size where the deepest field fits
    (Inception-v3 1400), where that field is measured whole."""
    pytest.importorskip("torch")
    from rf_bruteforce import compare, thin

    config, model, sizes = NETS[net]
    quick = QUICK[net]
    for size in (quick, "x".join(reversed(quick.split("x")))):
        g = _graph(config, model, size)
        rf = receptive_fields(g)
        thin_g = thin(g)
        for where in ("probes", "centred"):
            checked, bad = compare(rf, graph=thin_g, where=where, chunk=32)
            assert not bad, "\n".join(bad[:20])
            assert checked >= len(g.nodes)  # span ends compared exactly
    name, full = DEEPEST[net]
    for along, size in enumerate(sizes):
        g = _graph(config, model, size)
        rf = receptive_fields(g)
        field = next(iter(rf.by_name[name].fields.values()))
        assert field[along].size == full
        checked, bad = compare(rf, graph=thin(g), only=_block_outputs(g), where="centred", chunk=8)
        assert not bad, "\n".join(bad[:20])
        checked, bad = compare(rf, graph=thin(g), only={name}, where="centred")
        assert not bad and checked >= 2  # both ends along the long dim: the whole field, measured


def _general_cases() -> list[tuple[object, ...]]:
    from tensor_op_cases import CASES

    def kept(c: tuple[object, ...]) -> bool:
        text = str(c[1])
        if len(str(c[2]).split(",")) < 2:  # a flat [F] input has no positions
            return False
        if "mode: reflect" in text or "mode: replicate" in text:  # a border position reads a copied neighbour
            return False
        # x − x of one tensor: its gradient cancels (torch reads nothing), a test artefact; a maximum or minimum passes
        # its gradient to one operand only, as a max pool does (it hides the other path)
        # topk, a comparison's mask (with where) and grid_sample's grid select by the values: which positions torch's
        # gradient reaches depends on them (a comparison's bool mask carries none), while their fields are what they may read
        selecting = ("topk", "gt", "lt", "ge", "le", "eq", "ne", "where", "grid_sample")
        return not (c[0] == "sub" and "from: [input, input]" in text) and c[0] not in ("maximum", "minimum", *selecting)

    return [c for c in CASES if kept(c)]


@pytest.mark.parametrize("case", _general_cases(), ids=lambda c: f"{c[0]}: {c[1]}")
def test_general_ops_against_torch(case: tuple[object, ...]) -> None:
    """Every general tensor op (tests/tensor_op_cases.py): softmax and reductions over positions read them whole,
    slices, chunks, selects and pads move them, views that regroup positions are marked so (and not compared)."""
    pytest.importorskip("torch")
    from rf_bruteforce import compare

    _, layers, shape, _, _, _ = case
    rf = receptive_fields(graph_of(f"input: {shape}\nlayers:\n  - {layers}\n"))
    _, bad = compare(rf, where="lines")
    assert not bad, "\n".join(bad[:20])
