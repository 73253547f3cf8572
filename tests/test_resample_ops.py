"""upsample, chunk and the split structure, channel_shuffle, pixel_shuffle/unshuffle (issue 11, part C).

Shapes against torch's own modules (nn.Upsample in every rank, fractional scales included),
counts against fvcore and FlopCounterMode as verify runs them, the memory model, the split
structure against ShuffleNetV2's chunk/cat written in torch here, and the errors. Hand-derived
formula rows live in tests/test_ops.py's OP_CASES.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import graph_of
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from convcost.cli import app
from convcost.costmodel.analysis import analyze
from convcost.errors import SpecError
from convcost.ops import REGISTRY
from convcost.ops.resample import UpsampleArgs

runner = CliRunner()


def _upsample_out(shape: tuple[int, ...], args: UpsampleArgs) -> tuple[int, ...]:
    return REGISTRY["upsample"].shape(args, (shape,))


def _torch_out(shape: tuple[int, ...], args: UpsampleArgs, out: tuple[int, ...]) -> tuple[int, ...]:
    torch = pytest.importorskip("torch")
    node = SimpleNamespace(args=args, in_shapes=(shape,), shape=out)
    module = REGISTRY["upsample"].build(node)  # type: ignore[arg-type]
    with torch.no_grad():
        return tuple(module(torch.zeros(1, *shape)).shape[1:])


# (input C×spatial, args): every rank torch's nn.Upsample takes, fractional and per-dimension scales,
# sizes, downsampling; 10 · 1.15 = 11.499999999999998 in double, so torch's floor gives 11
UPSAMPLE_CASES = [
    ((3, 7), UpsampleArgs(scale=2, mode="linear")),
    ((3, 7), UpsampleArgs(scale=1.7)),
    ((1, 10), UpsampleArgs(scale=1.15)),
    ((2, 5, 7), UpsampleArgs(scale=1.1, mode="bilinear", align_corners=True)),
    ((2, 10, 10), UpsampleArgs(scale=0.3)),
    ((2, 9, 11), UpsampleArgs(scale=(1 / 3, 2.5), mode="bicubic")),
    ((2, 9, 11), UpsampleArgs(size=(4, 20), mode="bilinear")),
    ((2, 3, 4, 5), UpsampleArgs(scale=2, mode="trilinear", align_corners=False)),
    ((2, 3, 4, 5), UpsampleArgs(size=(4, 5, 6))),
    ((2, 3, 4, 5), UpsampleArgs(size=3, mode="trilinear")),
]


@pytest.mark.parametrize(("shape", "args"), UPSAMPLE_CASES)
def test_upsample_shape_is_torchs_in_every_rank(shape: tuple[int, ...], args: UpsampleArgs) -> None:
    out = _upsample_out(shape, args)
    assert out == _torch_out(shape, args, out)


def test_upsample_hand_derived_sizes() -> None:
    assert _upsample_out((1, 10), UpsampleArgs(scale=1.15)) == (1, 11)  # floor(11.499999999999998)
    assert _upsample_out((2, 9, 11), UpsampleArgs(scale=(1 / 3, 2.5))) == (2, 3, 27)  # 9 · 0.333... = 3.0 in double; floor(27.5)
    assert _upsample_out((2, 3, 4, 5), UpsampleArgs(scale=2)) == (2, 6, 8, 10)


def test_upsample_shape_property_against_torch() -> None:
    """Random ranks, sizes and scales (awkward floats included): the shape rule is torch's."""
    pytest.importorskip("torch")
    ran: list[int] = []

    @settings(max_examples=60, deadline=None, derandomize=True)
    @given(
        st.integers(1, 3).flatmap(lambda d: st.tuples(st.just(d), st.lists(st.integers(1, 12), min_size=d, max_size=d))),
        st.sampled_from([0.5, 0.7, 1.1, 1.15, 4 / 3, 1.5, 2, 2.3, 3]),
        st.booleans(),
    )
    def check(rank_dims: tuple[int, list[int]], scale: float, interpolate: bool) -> None:
        d, dims = rank_dims
        mode = {1: "linear", 2: "bicubic", 3: "trilinear"}[d] if interpolate else "nearest"
        shape = (2, *dims)
        args = UpsampleArgs(scale=scale, mode=mode)
        try:
            out = _upsample_out(shape, args)
        except Exception as e:  # a size below 1: torch refuses it too
            assert "at least 1" in str(e)
            return
        assert out == _torch_out(shape, args, out)
        ran.append(d)

    check()
    assert len(ran) >= 50 and set(ran) == {1, 2, 3}


# ---- verify: both counters on the modules convcost builds ------------------------------------------
ALL_2D = """
input: {shape: [4, 5, 6], batch: 2}
layers:
  - upsample: {scale: 2}
  - upsample: {size: [7, 9], mode: bilinear, align_corners: true}
  - upsample: {scale: 2, mode: bicubic}
  - split: {branches: [[relu], [conv: {out: 2, kernel: 1}]]}
  - channel_shuffle: {groups: 2}
  - pixel_unshuffle: {factor: 2}
  - pixel_shuffle: {factor: 2}
"""


def test_verify_counts_every_new_op_like_fvcore_and_flop_counter() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("fvcore")
    from convcost.crosscheck.verify import verify_graph

    r = verify_graph(graph_of(ALL_2D))
    assert r.ok, [(lr.name, k, c.reason) for lr in r.layers for k, c in lr.checks.items() if c.status == "mismatch"]
    checks = {lr.name: lr.checks for lr in r.layers}
    assert all(c["shape"].status == "ok" for c in checks.values())
    # fvcore's handles: upsample_nearest2d 1, upsample_bilinear2d 4 per output element
    assert checks["upsample1"]["fvcore"].actual == 2 * 4 * 10 * 12  # 960
    assert checks["upsample2"]["fvcore"].actual == 4 * 2 * 4 * 7 * 9  # 2,016
    # bicubic, pixel (un)shuffle: unsupported by fvcore; chunk, the shuffle's view/transpose: ignored ops
    for name in ("upsample3", "pixel_unshuffle1", "pixel_shuffle1", "channel_shuffle1", "branch1.chunk1"):
        assert checks[name]["fvcore"].status == "not_compared" and checks[name]["fvcore"].actual == 0, name
        assert checks[name]["flop_counter"].actual == 0, name  # FlopCounterMode counts none of them
    assert "aten::upsample_bicubic2d" in checks["upsample3"]["fvcore"].reason
    assert r.totals["fvcore"].actual == 960 + 2016 + 2 * 14 * 18 * 2 * 2  # + the 1×1 conv, 2→2 on 14×18, batch 2


def test_the_split_builds_torch_chunk_branches_and_cat() -> None:
    """ShuffleNetV2's stride-1 unit, written in torch here, gives what convcost's built model gives."""
    torch = pytest.importorskip("torch")
    from convcost.crosscheck.torch_build import build_model

    graph = graph_of("input: [6, 4, 4]\nlayers:\n  - split: [[], [conv: {out: 3, kernel: 1, bias: false}]]\n"
                     "  - channel_shuffle: {groups: 2}\n")
    model = build_model(graph)
    conv = model.module_for("branch2.conv1")
    x = torch.randn(2, 6, 4, 4)
    x1, x2 = x.chunk(2, dim=1)
    out = torch.cat((x1, conv(x2)), dim=1)
    n, c, h, w = out.shape
    expected = out.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, -1, h, w)  # torchvision
    with torch.no_grad():
        assert torch.equal(model(x), expected)
    assert [n.op for n in graph.nodes] == ["chunk", "chunk", "conv", "concat", "channel_shuffle"]


def test_split_with_sizes_and_names() -> None:
    g = graph_of("input: [5, 3, 3]\nlayers:\n  - split:\n      sizes: [2, 3]\n      branches: {a: [], b: [relu]}\n")
    nodes = {n.name: n for n in g.nodes}
    assert nodes["a.chunk1"].shape == (2, 3, 3) and nodes["b.chunk1"].shape == (3, 3, 3)
    assert (nodes["b.chunk1"].args.sizes, nodes["b.chunk1"].args.index) == ((2, 3), 1)
    assert g.output.op == "concat" and g.output.shape == (5, 3, 3)
    assert g.output.inputs == (nodes["a.chunk1"].index, nodes["b.relu1"].index)  # the empty branch passes its slice
    # three equal parts; an expression for the sizes
    g3 = graph_of("input: [6, 2, 2]\nlayers:\n  - split: [[], [], [relu]]\n")
    assert [n.shape[0] for n in g3.nodes if n.op == "chunk"] == [2, 2, 2]
    ge = graph_of("vars: {a: 2}\ninput: [6, 2, 2]\nlayers:\n  - split: {sizes: [$a, '${6 - a}'], branches: [[], []]}\n")
    assert [n.shape[0] for n in ge.nodes if n.op == "chunk"] == [2, 4]


def test_split_and_shuffle_memory() -> None:
    """A chunk is a view (no traffic, shares its input's storage); a shuffle is a copy; neither saves anything."""
    spec = ("input: [4, 6, 6]\nlayers:\n  - chunk: {index: 1}\n  - channel_shuffle: {groups: 2}\n"
            "  - upsample: {scale: 2, mode: bilinear}\n")
    doc = json.loads(runner.invoke(app, ["roofline", "-", "-f", "json"], input=spec).stdout)
    mem, layers = doc["models"][0]["memory"], {r["name"]: r for r in doc["models"][0]["layers"]}
    assert layers["chunk1"]["bytes"] == 0
    assert (layers["channel_shuffle1"]["input_bytes"], layers["channel_shuffle1"]["output_bytes"]) == (2 * 36 * 4, 2 * 36 * 4)
    assert layers["upsample1"]["output_bytes"] == 2 * 12 * 12 * 4
    assert layers["upsample1"]["flops"] == 4 * 2 * 12 * 12  # 4 taps per bilinear output
    # input 4·36·4 = 576 (held by the caller; the chunk is a view of it), shuffle 288, upsample 1,152
    assert mem["peak_activation_bytes"] == 576 + 288 + 1152
    assert mem["training_saved_bytes"] == 0  # the backwards of all three need only sizes


# ---- errors: compiler-style, with the location ------------------------------------------------------
ERRORS = [
    ("input: [7, 4, 4]\nlayers:\n  - split: [[], []]\n", "t.yaml:3:5: split: 7 channels do not split into 2 equal branches"),
    ("input: [6, 4, 4]\nlayers:\n  - split: {sizes: [2, 3], branches: [[], []]}\n",
     "t.yaml:3:20: split: sizes [2, 3] sum to 5, but the input has 6 channels"),
    ("input: [6, 4, 4]\nlayers:\n  - split: {sizes: [2, 2, 2], branches: [[], []]}\n",
     "t.yaml:3:20: split: 'sizes' lists 3 parts for 2 branches"),
    ("input: [6, 4, 4]\nlayers:\n  - split: {sizes: [2, -1], branches: [[], []]}\n",
     "t.yaml:3:20: split: 'sizes' must be a positive integer, got -1"),
    ("input: [6, 4, 4]\nlayers:\n  - split: [[]]\n", "'split' needs at least two branches, got 1"),
    ("input: [6, 4, 4]\nlayers:\n  - upsample: {scale: 2, align_corners: true}\n",
     "t.yaml:3:41: upsample 'upsample1': 'align_corners' can only be set with the interpolating modes"),
    ("input: [6, 4, 4]\nlayers:\n  - upsample: {scale: 2, mode: trilinear}\n",
     "upsample 'upsample1': mode 'trilinear' interpolates C×D×H×W inputs, got 6×4×4; use 'bilinear or bicubic'"),
    ("input: [6, 4, 4]\nlayers:\n  - upsample: {mode: bilinear}\n", "upsample 'upsample1': upsample needs 'scale' or 'size'"),
    ("input: [6, 4, 4]\nlayers:\n  - upsample: {scale: 2, size: 8}\n", "upsample needs 'scale' or 'size', not both"),
    ("input: [6, 4, 4]\nlayers:\n  - upsample: {scale: [2, 2, 2]}\n",
     "t.yaml:3:23: upsample 'upsample1': 'scale' has 3 values, but the input has 2 spatial dimensions"),
    ("input: [6, 4, 4]\nlayers:\n  - upsample: {scale: 0.1}\n", "scaling 4×4 by 0.1 leaves a size of 0; torch needs at least 1"),
    # 10^9 · 10^300 overflows a double to infinity: refused by the limit, not an OverflowError
    ("input: [3, 8, 8]\nlayers:\n  - upsample: {size: 1000000000}\n  - upsample: {scale: 1e300}\n",
     "t.yaml:4:23: upsample 'upsample2': upsampling 1000000000 by 1e+300 is more than the limit of 1,000,000,000"),
    ("input: [6, 4, 4]\nlayers:\n  - upsample: {scale: '2'}\n", "'scale' must be a positive finite number, got '2'"),
    ("input: [6, 4, 4]\nlayers:\n  - upsample: {scale: 2, mode: cubic}\n",
     "'mode' must be one of nearest, nearest-exact, linear, bilinear, bicubic, trilinear, got 'cubic'"),
    ("input: [6]\nlayers:\n  - upsample: {scale: 2}\n", "upsample needs a C×L, C×H×W or C×D×H×W input, got 6"),
    ("input: [6, 4, 4]\nlayers:\n  - channel_shuffle: {groups: 4}\n",
     "t.yaml:3:31: channel_shuffle 'channel_shuffle1': groups=4 must divide the 6 input channels"),
    ("input: [6, 4, 4]\nlayers:\n  - pixel_shuffle: {factor: 2}\n", "the 6 input channels must be a multiple of factor² = 4"),
    ("input: [6, 4, 5]\nlayers:\n  - pixel_unshuffle: {factor: 2}\n", "factor 2 must divide H×W = 4×5"),
    ("input: [6, 4, 4]\nlayers:\n  - chunk: {index: 2}\n", "index 2 is out of range for 2 parts (0 to 1)"),
    ("input: [6, 4, 4]\nlayers:\n  - chunk: {index: 0, parts: 4}\n", "6 channels do not split into 4 equal parts"),
    ("input: [6, 4, 4]\nlayers:\n  - chunk: {index: 0, parts: 3, sizes: [3, 3]}\n", "'parts' is 3 but 'sizes' lists 2"),
]


@pytest.mark.parametrize(("spec", "message"), ERRORS)
def test_errors(spec: str, message: str) -> None:
    with pytest.raises(SpecError) as e:
        graph_of(spec)
    assert message in str(e.value)


def test_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(ERRORS[0][0])
    result = runner.invoke(app, ["analyze", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{path}:3:5: split: 7 channels do not split into 2 equal branches; give 'sizes'" in result.output


def test_yaml_exponent_numbers_are_numbers() -> None:
    """1e-3 and 5e-1 (YAML 1.2 numbers that PyYAML's 1.1 reads as text) are numbers wherever one is expected."""
    g = graph_of("input: [2, 4, 4]\nlayers:\n  - bn: {eps: 1e-3, momentum: 5e-1}\n  - upsample: {scale: 5e-1}\n"
                 "  - upsample: {scale: 2e0, mode: bilinear}\n")
    bn, down, up = g.nodes
    assert (bn.args.eps, bn.args.momentum) == (1e-3, 0.5)
    assert down.shape == (2, 2, 2) and up.shape == (2, 4, 4)


def test_convcost_ops_lists_them() -> None:
    result = runner.invoke(app, ["ops"])
    names = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert {"upsample", "chunk", "channel_shuffle", "pixel_shuffle", "pixel_unshuffle"} <= names


def _analysis(spec: str) -> Any:
    return analyze(graph_of(spec))


def test_interpolation_taps_per_mode() -> None:
    # the convention (docs/conventions.md): taps per output element, nearest none
    for mode, taps in (("nearest", 0), ("bilinear", 4), ("bicubic", 16)):
        a = _analysis(f"input: [1, 2, 2]\nlayers:\n  - upsample: {{scale: 3, mode: {mode}}}\n")
        assert a.total.pool_ops == taps * 36, mode  # 1·6·6 outputs
