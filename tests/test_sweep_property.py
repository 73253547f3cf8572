"""`convcost sweep` against independent single analyses, on drawn specs and grids.

The sweep engine (costmodel/sweep.py) takes shortcuts: one build per set of var values, replays of the recorded
layers at other input sizes, lookups of layers and of whole suffixes after a cut, one sample's counts scaled to
the batch. Each drawn spec here is swept over a drawn grid, and every point is compared with what `analyze --set`
and `roofline` give for that point alone (a fresh build of the same spec text): the same totals, bytes moved and
ideal time, or the same error message. The specs mix what the shortcuts must get right: vars inside expressions,
`when:` guards on the input's size and on `in_channels`, `repeat` counts from vars, `in_channels` after a flatten,
a select or a permute (made of spatial sizes), macros and splits that read the channel count, adaptive pools,
upsampling to a size, token ops, joins of earlier outputs, a second input, and sizes where some layer fails.
"""

from __future__ import annotations

import os

import pytest
from acceptance import Acceptance
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convcost.costmodel.analysis import analyze
from convcost.costmodel.memory import analyze_memory
from convcost.costmodel.roofline import resolve_profile, roofline
from convcost.costmodel.sweep import Axis, run_sweep
from convcost.errors import ConvcostError
from convcost.frontend.spec import parse_spec
from convcost.graph.build import build_graph
from convcost.graph.settings import Settings

CPU = resolve_profile("cpu")
EXAMPLES = int(os.environ.get("CONVCOST_SWEEP_EXAMPLES", "60"))

# Layers on a map input. Each reads its input as the previous layer wrote it; many fail on some shapes, which is
# part of the test (the point's error must be analyze's).
MAP_LAYERS = (
    "conv: {out: $w, kernel: 3, padding: 1}",
    "conv: {out: '${in_channels * 2}', kernel: 3, stride: 2, padding: 1}",
    "conv: {out: 8, kernel: $k, stride: 2}",
    "bn", "relu", "gelu",
    "maxpool: {kernel: 2}",
    "maxpool: {kernel: 3, stride: 2, ceil_mode: true}",
    "avgpool: {kernel: 3, stride: 2, padding: 1}",
    "adaptive_avgpool: {out: $k}",
    "global_avgpool",
    "upsample: {size: '${w}'}",
    "upsample: {scale: 2}",
    "depthwise: {kernel: 3, padding: 1}",
    "dwsep: {out: $w}",
    "flatten: {start: 2}",
    "flatten",
    "linear: {out: '${in_channels // 2 + 1}'}",  # after a flatten, in_channels is made of the spatial sizes
    "conv: {out: 4, kernel: 1, when: '${in_channels > 8}'}",
    "conv: {out: 4, kernel: 1, when: '${in_height > 8}'}",  # reads a size: every size is built
    "conv: {out: '${in_channels}', kernel: 1, repeat: $n}",
    "residual: [{conv: {out: '${in_channels}', kernel: 3, padding: 1}}, bn]",
    "gate: [global_avgpool, {conv: {out: '${block_in_channels}', kernel: 1}}, sigmoid]",
    "split: {branches: [[relu], [{conv: {out: 4, kernel: 1}}]]}",
    "concat: [[relu], [{maxpool: {kernel: 3, stride: 1, padding: 1}}]]",
    "permute: {dims: [0, 2, 1, 3], layout: map}",  # channels become the height
    "select: {dim: 1, index: 0}",
    "transpose: {dim0: 1, dim1: -1}",
    "mean: {dims: [-1], keepdim: true}",
    "softmax: {dim: -1}",
    "reshape: {shape: [4, -1]}",
    "pad: {pad: [1, 2, 0, 3]}",
    "chunk: {index: 1, parts: 2, dim: -1}",
    "{identity: {name: xa}}\n  - {mean: {name: xm, dims: [2, 3], keepdim: true}}\n  - {sub: {from: [xa, xm]}}",
    "to_tokens",
    "to_tokens: {grid: true}",
    "layernorm",
    "attention: {heads: 2}",
    "to_map",
    "patch_embed: {out: 8, patch: 4}",
    "class_token",
    "token_pool",
    "seq: {name: 'blk$n', layers: [{conv: {out: '${block_in_channels}', kernel: 3, padding: 1}}, relu]}",
    # what the expansion reads of a layer's output (in_channels, a macro's channels) made of spatial sizes
    "flatten\n  - linear: {out: '${in_channels // 4 + 1}'}",
    "select: {dim: 1, index: 0}\n  - conv: {out: 4, kernel: 1, when: '${in_channels > 9}'}",
    "permute: {dims: [0, 2, 1, 3], layout: map}\n  - depthwise: {kernel: 3, padding: 1}",
    "transpose: {dim0: 1, dim1: -1}\n  - conv: {out: '${in_channels}', kernel: 1}",
)
INPUTS = ("[3, 16, 16]", "[8, 12, 12]", "[4, 20]", "[2, 4, 8, 8]", "{tokens: [16, 8]}")
# one size for every spatial dim, one per dim, and whole shapes (channels too) of a 2-dim and a 3-dim input
SIZES = ((8,), (16,), (12,), (4,), (2,), (1,), (33,), (7,), (9, 14), (5, 12), (6, 10, 10))


@st.composite
def sweeps(draw: st.DrawFn) -> tuple[str, tuple[Axis, ...]]:
    layers = draw(st.lists(st.sampled_from(MAP_LAYERS), min_size=1, max_size=6))
    two_inputs = draw(st.integers(0, 9)) == 0
    if two_inputs:  # a second input, joined to the first: every point is built
        head = "inputs:\n  a: [4, 8, 8]\n  b: [4, 8, 8]\n"
        layers = ["{add: {from: [a, b]}}", *layers]
    else:
        head = f"input: {draw(st.sampled_from(INPUTS))}\n"
    text = "vars: {w: 8, k: 2, n: 2}\n" + head + "layers:\n" + "".join(f"  - {lay}\n" for lay in layers)
    axes = [Axis("batch", (1, 3))]
    if not two_inputs:
        axes.insert(0, Axis("input", tuple(draw(st.lists(st.sampled_from(SIZES), min_size=2, max_size=3, unique=True)))))
    for name, values in (("w", (8, 5, 12)), ("k", (1, 2, 3)), ("n", (1, 3))):
        if draw(st.booleans()):
            axes.insert(0, Axis(name, values))
    return text, tuple(axes)


def alone(text: str, settings: Settings) -> tuple[object, int, float] | str:
    """One point as `analyze --set` and `roofline` count it: a fresh read and build of the spec; or its error."""
    spec = parse_spec(text, "s.yaml")
    try:
        a = analyze(build_graph(spec, next(iter(spec.models)), None, settings))
    except ConvcostError as e:
        return str(e)
    m = analyze_memory(a, "fp32")
    return a.total, m.traffic.total, roofline(m, CPU).total.ideal_s


def test_sweep_points_equal_single_analyses() -> None:
    seen = Acceptance()
    counted = {"points": 0, "errors": 0, "replays": 0}

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(sweeps())
    def same_as_alone(drawn: tuple[str, tuple[Axis, ...]]) -> None:
        text, axes = drawn
        spec = parse_spec(text, "s.yaml")
        result, engine = run_sweep(spec, [next(iter(spec.models))], axes, CPU)
        names = tuple(a.name for a in axes)
        numbers = 0
        for p in result.points:
            at = dict(zip(names, p.values))
            settings_ = Settings(tuple((n, v) for n, v in at.items() if n not in ("input", "batch")), at.get("input"),
                                 at.get("batch"))
            want = alone(text, settings_)
            if isinstance(want, str):
                assert p.error == want, (text, at)
                counted["errors"] += 1
                continue
            assert p.error is None, (text, at, p.error)
            assert (p.cost, p.traffic_bytes) == want[:2], (text, at)
            assert p.ideal_s == pytest.approx(want[2], rel=1e-12), (text, at)
            numbers += 1
        counted["points"] += numbers
        counted["replays"] += engine.replays
        seen.accept(numbers > 0, text)  # a spec failing at every point compares only messages

    same_as_alone()
    seen.check(min_accepted=EXAMPLES // 3, min_ratio=0.3)
    # the comparisons ran: many points with numbers, some with errors, and the engine's shortcut was taken
    assert counted["points"] >= 5 * EXAMPLES and counted["errors"] >= EXAMPLES // 2 and counted["replays"] >= EXAMPLES, counted


# The case the property test found: after a flatten, `in_channels` is C·H·W, so a layer sized from it changes with
# the input size, though no expression names in_height or in_width.
FLATTENED = """
input: [3, 32, 32]
layers:
  - conv: {out: 8, kernel: 3, padding: 1}
  - flatten
  - linear: {out: "${in_channels // 4}"}
"""


def test_in_channels_made_of_sizes_is_not_replayed() -> None:
    spec = parse_spec(FLATTENED, "f.yaml")
    result, engine = run_sweep(spec, ["f"], (Axis("input", ((32,), (64,))),), CPU)
    # 64×64: the flatten gives 8·64·64 = 32,768 features, the linear 32,768 → 8,192 (32,768·8,192 weights + 8,192
    # biases), after the conv's 8·3·9 + 8 = 224
    assert [p.cost.params for p in result.points][1] == 224 + 32_768 * 8_192 + 8_192
    assert engine.builds == 2  # the replay met another width at the linear's input, so 64×64 was built


def test_a_size_applies_to_the_specs_input_not_to_the_first_points() -> None:
    """`--set input=9x14` on a [C, L] input is the whole shape (9 channels); the next point's `8` sets L of the
    spec's own [4, 20], as `analyze --set input=8` does, not of the first point's 9×14."""
    spec = parse_spec("input: [4, 20]\nlayers:\n  - conv: {out: 8, kernel: 3, padding: 1}\n", "c.yaml")
    result, _ = run_sweep(spec, ["c"], (Axis("input", ((9, 14), (8,))),), CPU)
    assert [p.input_shape for p in result.points] == [(9, 14), (4, 8)]
    assert result.points[1].cost.params == 8 * 4 * 3 + 8  # 3-wide conv 4 → 8 channels, with bias
