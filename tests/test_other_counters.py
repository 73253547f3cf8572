"""The ptflops and thop conventions that ``verify --explain`` models are checked here against the
real packages (installed by the dev extra; skipped where they are not installed). Every expected
number comes from running ptflops 0.7.x / thop 0.1.x on the torch modules convcost builds."""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("torch")
pytest.importorskip("ptflops")
pytest.importorskip("thop")

import ptflops
import thop
import torch
from acceptance import Acceptance
from conftest import CONFIGS, graph_of
from test_verify_property import specs

from convcost.api import load_graphs
from convcost.costmodel.analysis import analyze
from convcost.crosscheck.counters import explain
from convcost.crosscheck.torch_build import build_model, example_inputs
from convcost.errors import SpecError
from convcost.graph.build import Graph


def _modelled(graph: Graph) -> dict[str, int]:
    a = analyze(graph)
    ex = explain([(lc.node, lc.cost) for lc in a.layers], graph.batch)
    return {c.convention.key: c.total for c in ex.counters}


class _Named(torch.nn.Module):
    """A model of several inputs as ptflops calls one: with keyword arguments (its input_constructor's dict)."""

    def __init__(self, model: torch.nn.Module, names: list[str]) -> None:
        super().__init__()
        self.model, self.names = model, names

    def forward(self, **xs: torch.Tensor) -> object:
        return self.model(*(xs[n] for n in self.names))


def _ptflops(graph: Graph) -> int:
    """ptflops as users run it: an input resolution, batch 1, the pytorch backend's defaults."""
    model: torch.nn.Module = build_model(graph, "cpu")
    several: dict[str, object] = {}
    if len(graph.inputs) > 1:  # ptflops builds one input from a resolution; several come from input_constructor
        model = _Named(model, [i.name for i in graph.inputs])
        several["input_constructor"] = lambda _: dict(zip(model.names, example_inputs(graph)))  # type: ignore[union-attr]
    quiet = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(quiet):
        warnings.simplefilter("ignore")
        macs, _ = ptflops.get_model_complexity_info(
            model, tuple(graph.input_shape), as_strings=False, print_per_layer_stat=False, verbose=False,
            backend="pytorch", **several,  # type: ignore[arg-type]
        )
    assert macs is not None, quiet.getvalue()  # ptflops prints and returns None when its forward fails
    return int(macs)


def _thop(graph: Graph) -> int:
    model = build_model(graph, "cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        macs, _ = thop.profile(model, inputs=example_inputs(graph, "cpu"), verbose=False)
    return int(macs)


CASES = [(p, g.model) for p in sorted(CONFIGS.glob("*.yaml")) for g in load_graphs(p)]


@pytest.mark.parametrize(("path", "model"), CASES, ids=[f"{p.stem}:{m}" for p, m in CASES])
def test_modelled_totals_equal_the_real_tools_on_every_config(path: Path, model: str) -> None:
    (graph,) = load_graphs(path, [model])
    modelled = _modelled(graph)
    assert modelled["ptflops"] == _ptflops(graph)
    assert modelled["thop"] == _thop(graph)


def test_modelled_totals_equal_the_real_tools_on_random_specs() -> None:
    seen = Acceptance()

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(specs(batches=st.just(1)), st.integers(1, 3))
    def modelled_equals_real(text: str, batch: int) -> None:
        try:
            graph = graph_of(text)
        except SpecError as e:  # the generator tracks shapes: this should (almost) never happen
            seen.accept(False, f"{e}\n{text}")
            return
        seen.accept(True)
        # ptflops divides its module-hook counts by the batch (it reports per image) but not its patched
        # functionals' counts: it is run, as users run it, at batch 1. thop counts the whole batch.
        assert _modelled(graph)["ptflops"] == _ptflops(graph)
        batched = replace(graph, batch=batch)
        assert _modelled(batched)["thop"] == _thop(batched)

    modelled_equals_real()
    seen.check(min_accepted=36)


# Adaptive pooling whose input size is not a multiple of the output: thop's window is the real
# ratio in / out in float64 (count_adap_avgpool: prod(in / out) + 1 per output element, truncated
# by int()), not an integer. 8 → 7: 8/7 · 8/7 + 1 per output, 49 outputs: int(112.999...) = 112 in
# float64, where exact arithmetic says 113.
ADAPTIVE = [
    ("[2, 7, 7]", "[3, 3]"),
    ("[3, 10, 10]", "[3, 3]"),
    ("[2, 7, 8]", "[3, 2]"),
    ("[1, 8, 8]", "[7, 7]"),
    ("[3, 11, 11]", "[3, 3]"),
    ("[2, 12, 12]", "[11, 11]"),
]


@pytest.mark.parametrize(("shape", "out"), ADAPTIVE)
@pytest.mark.parametrize("batch", [1, 3])
def test_thop_adaptive_pool_with_fractional_windows(shape: str, out: str, batch: int) -> None:
    graph = graph_of(f"input: {{shape: {shape}, batch: {batch}}}\nlayers:\n  - adaptive_avgpool: {{out: {out}}}\n")
    assert _modelled(graph)["thop"] == _thop(graph)


# Issue 11's ops, each variant whose module or convention differs: LayerNorm2d (no hook in either tool)
# against nn.LayerNorm between permutes and on flat input (ptflops 1 per element: no `affine` attribute;
# thop 4, or 2 without elementwise_affine; `bias: false` keeps elementwise_affine, so 4), group/instance norm with
# and without affine, linear over channels (ptflops adds the bias per position), PReLU and ELU (ptflops' hook and
# patched functional), softmax (thop: 3·C − 1 per position), and the activations neither tool counts.
MODERN = [
    "layernorm",
    "layernorm: {affine: false}",
    "layernorm: {channels_last: true}",
    "layernorm: {channels_last: true, affine: false}",
    "layernorm: {bias: false}",
    "layernorm: {channels_last: true, bias: false}",
    "groupnorm: {groups: 2}",
    "groupnorm: {groups: 4, affine: false}",
    "instancenorm",
    "instancenorm: {affine: true, track_running_stats: true}",
    "linear: {out: 3, over: channels}",
    "linear: {out: 3, over: channels, bias: false}",
    "layer_scale",
    "prelu",
    "prelu: {num_parameters: 4}",
    "mish",
    "elu: {alpha: 0.5}",
    "hardtanh: {min: -2, max: 2}",
    "softmax",
    "[flatten, layernorm]",
    "[flatten, layernorm: {affine: false}]",
    "[flatten, layernorm: {bias: false}]",
    "[flatten, softmax]",
]


@pytest.mark.parametrize("layer", MODERN)
@pytest.mark.parametrize("batch", [1, 3])
def test_modern_ops_modelled_equal_the_real_tools(layer: str, batch: int) -> None:
    layers = layer[1:-1].split(", ", 1) if layer.startswith("[") else [layer]
    text = f"input: {{shape: [4, 5, 6], batch: {batch}}}\nlayers:\n" + "".join(f"  - {x}\n" for x in layers)
    graph = graph_of(text)
    if batch == 1:  # ptflops as users run it (see above)
        assert _modelled(graph)["ptflops"] == _ptflops(graph)
    assert _modelled(graph)["thop"] == _thop(graph)


def test_convnext_tiny_modelled_equal_the_tools_on_torchvisions_layout() -> None:
    """configs/convnext_tiny.yaml builds LayerNorm2d, channels-last nn.LayerNorm and nn.Linear where
    torchvision has them, so the modelled totals equal ptflops and thop on torchvision's own layout
    (tests/reference_modern.py), not only on convcost's modules."""
    import torch
    from reference_modern import convnext

    (graph,) = load_graphs(CONFIGS / "convnext_tiny.yaml")
    modelled = _modelled(graph)
    model = convnext().eval()
    quiet = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(quiet):
        warnings.simplefilter("ignore")
        macs, _ = ptflops.get_model_complexity_info(
            model, (3, 224, 224), as_strings=False, print_per_layer_stat=False, verbose=False, backend="pytorch"
        )
        thop_macs, _ = thop.profile(model, inputs=(torch.randn(1, 3, 224, 224),), verbose=False)
    assert (modelled["ptflops"], modelled["thop"]) == (macs, int(thop_macs))
# Resampling and permutations (issue 11): ptflops counts nn.Upsample twice (its hook: output elements;
# the patched F.interpolate: input elements · scale^dims, a float; with a per-dimension tuple each factor
# truncated by np.prod(dtype=int64); with a size, the output elements); thop counts upsampling per output
# element by mode (nearest 1, bilinear 11, bicubic 259) and PixelShuffle as a zero op; neither sees
# chunk, cat, view/transpose or PixelUnshuffle.
RESAMPLE = [
    "upsample: {scale: 2}",
    "upsample: {scale: 1.5}",
    "upsample: {scale: 1.5, mode: bilinear, align_corners: true}",
    "upsample: {scale: [1.5, 2.5], mode: bilinear}",
    "upsample: {scale: [2, 3]}",
    "upsample: {size: [7, 9], mode: bicubic}",
    "upsample: {size: 5, mode: bilinear}",
    "split: [[], [conv: {out: 2, kernel: 1}]]",
    "split: {sizes: [1, 3], branches: [[relu], []]}",
    "channel_shuffle: {groups: 2}",
    "pixel_unshuffle: {factor: 2}",
    "chunk: {index: 1}",
]


@pytest.mark.parametrize("layer", RESAMPLE)
def test_modelled_resampling_and_shuffles_equal_the_real_tools(layer: str) -> None:
    graph = graph_of(f"input: [4, 6, 6]\nlayers:\n  - {layer}\n  - conv: {{out: 4, kernel: 1}}\n")
    modelled = _modelled(graph)
    assert modelled["ptflops"] == _ptflops(graph)
    assert modelled["thop"] == _thop(graph)


def test_modelled_pixel_shuffle_equals_the_real_tools() -> None:
    graph = graph_of("input: [8, 3, 5]\nlayers:\n  - pixel_shuffle: {factor: 2}\n  - upsample: {scale: 2, mode: bicubic}\n")
    modelled = _modelled(graph)
    assert (modelled["ptflops"], modelled["thop"]) == (_ptflops(graph), _thop(graph))
    # by hand: 2×6×10 → 2×12×20 = 480 outputs; ptflops 480 (hook) + 120 · 2² (F.interpolate); thop 259 · 480
    assert (modelled["ptflops"], modelled["thop"]) == (480 + 480, 259 * 480)
# ---- issue 11 part A: 1-D and 3-D layers and conv_transpose (ptflops' and thop's 1d/3d modules) ----
def test_modelled_totals_equal_the_real_tools_on_random_1d_and_3d_stacks() -> None:
    from test_ranks import ranked_specs

    seen = Acceptance()

    @settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(ranked_specs(batches=st.just(1)), st.integers(1, 3))
    def modelled_equals_real(text: str, batch: int) -> None:
        try:
            graph = graph_of(text)
        except SpecError as e:  # torch ran every layer of the generated stack
            seen.accept(False, f"{e}\n{text}")
            return
        seen.accept(True)
        assert _modelled(graph)["ptflops"] == _ptflops(graph), text
        batched = replace(graph, batch=batch)
        assert _modelled(batched)["thop"] == _thop(batched), text

    modelled_equals_real()
    seen.check(min_accepted=30, min_ratio=1.0)


# thop's transposed conv: per output position, numel(output)·(C_in/g)·prod(k), not fvcore's input-position count
TRANSPOSED = [
    ("[8, 5, 6]", "{out: 6, kernel: 3, stride: 2, padding: 1, output_padding: 1, groups: 2}"),
    ("[4, 10]", "{out: 6, kernel: 4, stride: 2, padding: 1}"),
    ("[4, 3, 4, 5]", "{out: 2, kernel: [2, 3, 3], stride: 2, dilation: [1, 1, 2], bias: false}"),
]


@pytest.mark.parametrize(("shape", "args"), TRANSPOSED)
@pytest.mark.parametrize("batch", [1, 2])
def test_conv_transpose_under_ptflops_and_thop(shape: str, args: str, batch: int) -> None:
    graph = graph_of(f"input: {{shape: {shape}, batch: {batch}}}\nlayers:\n  - conv_transpose: {args}\n")
    assert _modelled(graph)["thop"] == _thop(graph)
    one = replace(graph, batch=1)
    assert _modelled(one)["ptflops"] == _ptflops(one)


@pytest.mark.parametrize(("shape", "out"), [("[2, 7]", "3"), ("[3, 5, 7, 8]", "[2, 3, 2]"), ("[2, 8, 8, 8]", "[7, 7, 7]")])
def test_thop_adaptive_pool_1d_and_3d(shape: str, out: str) -> None:
    graph = graph_of(f"input: {{shape: {shape}, batch: 2}}\nlayers:\n  - adaptive_avgpool: {{out: {out}}}\n")
    assert _modelled(graph)["thop"] == _thop(graph)
