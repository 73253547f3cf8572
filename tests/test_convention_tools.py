"""Each tool's prediction (issue 21) against the real tool, run on the modules verify builds from the spec: ptflops
(both backends), thop, torchinfo, torchscan and calflops, each when installed (the `counters` extra), with and without
gradients, for layers that meet torch as modules, functions and subclasses. fvcore and FlopCounterMode are proven by
verify itself (tests/test_verify*.py). The 12 torchvision models: tests/test_conventions_zoo.py (slow)."""

from __future__ import annotations

from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

import tool_runs  # noqa: E402
from acceptance import Acceptance  # noqa: E402
from conftest import graph_of  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_conventions import predicted  # noqa: E402

from convcost.costmodel.analysis import analyze  # noqa: E402
from convcost.crosscheck.torch_build import build_model, example_inputs  # noqa: E402
from convcost.errors import SpecError  # noqa: E402
from convcost.graph.build import Graph  # noqa: E402


# ---- what verify builds for each form ------------------------------------------------------------------
def test_a_function_is_called_through_torch_and_a_subclass_is_a_subclass() -> None:
    g = graph_of(
        "input: [4, 4, 6, 6]\nlayers:\n"
        "  - conv: {out: 4, kernel: 3, padding: 1, torch: subclass}\n"
        "  - relu: {torch: function}\n"
        "  - global_avgpool: {torch: function}\n"
    )
    model = build_model(g)
    conv = model.module_for("conv1")
    assert type(conv) is not torch.nn.Conv3d and isinstance(conv, torch.nn.Conv3d)
    assert type(conv).__name__ == "Conv3dSubclass"  # torchinfo reads 'Conv' in the class name
    calls = []
    real = torch.nn.functional.adaptive_avg_pool3d
    try:  # looked up at every call, as model code does: a patched F.adaptive_avg_pool3d (ptflops, calflops) sees it
        torch.nn.functional.adaptive_avg_pool3d = lambda x, *a, **k: calls.append(a) or real(x, *a, **k)
        out = model(torch.randn(1, 4, 4, 6, 6))
    finally:
        torch.nn.functional.adaptive_avg_pool3d = real
    assert calls == [((1, 1, 1),)] and out.shape == (1, 4, 1, 1, 1)


# ---- predictions against the real tools ---------------------------------------------------------------------
TOOLS = [t for t in tool_runs.installed() if t not in ("fvcore", "flop_counter")]  # verify proves those two


def _compare(graph: Graph, grad: bool = False, tools: list[str] = TOOLS) -> None:
    if not analyze(graph).total.params:  # calflops looks for the model's device in its first parameter
        tools = [t for t in tools if t != "calflops"]
    torch.manual_seed(0)
    model = build_model(graph, "cpu")
    real = tool_runs.measure(model, example_inputs(graph), grad, tools)
    pred = predicted(graph, grad)
    compared = {k: (pred[k], v) for k, v in real.items() if k in pred}
    assert len(compared) >= 2 * len(tools), compared  # every tool's count and params were compared
    assert {k: p for k, (p, _) in compared.items()} == {k: v for k, (_, v) in compared.items()}


FORMS_CASES = {
    # every activation, pool and resampling op as a module, a function and a subclass
    # (a conv first: calflops needs a parameter to find the model's device)
    "activations": (
        "input: [4, 6, 6]\nlayers:\n  - conv: {out: 4, kernel: 1}\n" + "".join(
            f"  - {op}: {{torch: {form}}}\n"
            for form in ("module", "function", "subclass")
            for op in ("relu", "relu6", "leaky_relu", "sigmoid", "silu", "hardswish", "hardsigmoid", "gelu", "tanh",
                       "mish", "elu", "hardtanh")
        )
    ),
    # issue 20's activations with arguments, and batch norm with the batch's statistics (track_running_stats: false)
    "activations_with_arguments": (
        "input: [4, 6, 6]\nlayers:\n  - conv: {out: 4, kernel: 1}\n" + "".join(
            f"  - {op}: {{{args}torch: {form}}}\n"
            for form in ("module", "function", "subclass")
            for op, args in (("softplus", "beta: 2, threshold: 5, "), ("celu", "alpha: 0.5, "), ("selu", ""),
                             ("threshold", "threshold: 0.1, value: 2, "), ("logsigmoid", ""))
        ) + "  - batchnorm: {track_running_stats: false}\n  - batchnorm: {track_running_stats: false, affine: false}\n"
        "  - batchnorm: {track_running_stats: false, torch: subclass}\n"
    ),
    "pools": (
        "input: [3, 9, 9]\nlayers:\n  - conv: {out: 3, kernel: 1}\n" + "".join(
            f"  - {op}: {{{args}torch: {form}}}\n"
            for form in ("module", "function", "subclass")
            for op, args in (("maxpool", "kernel: 3, stride: 1, padding: 1, "), ("maxpool", "kernel: [3, 2], "),
                             ("avgpool", "kernel: 3, stride: 1, padding: 1, "), ("adaptive_avgpool", "out: [4, 3], "),
                             ("global_avgpool", ""), ("upsample", "scale: 2, "))
            if op != "global_avgpool"
        ) + "  - global_avgpool: {torch: function}\n  - upsample: {size: [3, 5], mode: bilinear, torch: function}\n"
    ),
    "conv_norm_linear": (
        "input: [4, 8, 8]\nlayers:\n"
        "  - conv: {out: 6, kernel: 3, padding: 1, torch: subclass}\n"
        "  - conv: {out: 6, kernel: 2, padding: same, groups: 2}\n"
        "  - conv_transpose: {out: 4, kernel: 3, stride: 2, groups: 2, torch: subclass}\n"
        "  - batchnorm: {affine: false, torch: subclass}\n"
        "  - groupnorm: {groups: 2}\n  - instancenorm: {affine: true}\n  - layernorm\n"
        "  - layernorm: {channels_last: true}\n  - layer_scale\n  - prelu: {num_parameters: 4}\n"
        "  - linear: {out: 5, over: channels}\n  - softmax\n  - global_avgpool: {mean: true}\n  - flatten\n"
        "  - linear: {out: 3, torch: subclass}\n"
    ),
    # a scale without a shift (nn.LayerNorm(bias=False)): every tool reads the weight or elementwise_affine, none the
    # bias, so each counts it as an affine layer norm; torchinfo counts its one parameter per sample
    "scale_only_layernorm": (
        "input: [4, 6, 6]\nlayers:\n  - conv: {out: 4, kernel: 1}\n"
        "  - layernorm: {bias: false}\n  - layernorm: {bias: false, torch: subclass}\n"
        "  - layernorm: {bias: false, channels_last: true}\n  - flatten\n  - layernorm: {bias: false}\n"
    ),
    # convs that standardise their weight (timm's StdConv2d, ScaledStdConv2d: subclasses of nn.Conv2d in either form),
    # and fixed filters (timm's BlurPool2d: a module of its own calling F.conv2d), with and without a bias
    "standardised_conv": (
        "input: [4, 6, 6]\nlayers:\n  - conv: {out: 6, kernel: 3, padding: 1, weight: standardised}\n"
        "  - conv: {out: 6, kernel: 3, stride: 2, groups: 3, weight: scaled, gamma: 1.7, torch: subclass}\n"
        "  - conv: {out: 4, kernel: 1, bias: false, weight: scaled}\n"
        "  - pad: {pad: [1, 1, 1, 1], mode: reflect}\n  - conv: {out: 4, kernel: 3, stride: 2, groups: 4, bias: false, "
        "weight: fixed}\n  - conv: {out: 4, kernel: 1, weight: fixed}\n"
    ),
    "tokens": (
        "input: [3, 32, 32]\nlayers:\n"
        "  - patch_embed: {out: 16, patch: 4}\n  - class_token\n  - pos_embed\n  - layernorm\n"
        "  - attention: {heads: 2}\n  - attention: {heads: 3, head_dim: 4}\n  - linear: {out: 16}\n"
        "  - attention: {heads: 2, sdpa: true}\n  - attention: {heads: 3, head_dim: 4, qkv_bias: false, sdpa: true}\n"
        "  - token_pool\n"
    ),
    "swin": (
        "input: [3, 28, 28]\nlayers:\n"
        "  - patch_embed: {out: 8, patch: 4, grid: true}\n  - layernorm\n"
        "  - window_attention: {heads: 2, window: 4, shift: 2}\n"
        "  - window_attention: {heads: 2, window: 4, shift: 2, mask_buffer: true}\n  - patch_merging\n  - to_map\n"
    ),
    "maxvit": (  # timm's MaxViT partition attention: qkv and proj nn.Linear, the bias gather's einsums, sdpa
        "input: [3, 16, 16]\nlayers:\n"
        "  - patch_embed: {out: 8, patch: 2, grid: true}\n  - layernorm\n"
        "  - partition_attention: {heads: 2, window: 4}\n"
        "  - partition_attention: {heads: 2, window: [2, 4], grid: true, head_first: false, qkv_bias: false}\n"
        "  - to_map\n"
    ),
    "swin_v2": (
        "input: [3, 28, 28]\nlayers:\n"
        "  - patch_embed: {out: 8, patch: 4, grid: true}\n  - layernorm\n"
        "  - window_attention_v2: {heads: 2, window: 4, shift: 2, cpb_hidden: 16}\n"
        "  - window_attention_v2: {heads: 2, window: 3}\n  - patch_merging_v2\n  - to_map\n"
    ),
    "mvit": (  # torchvision MViT's pooling attention, v1's (pools only) and v2's (relative positions, residual pooling), the
        # skip's max pool
        "input: [3, 16, 16]\nlayers:\n  - patch_embed: {out: 8, patch: 4}\n  - class_token\n"
        "  - pooling_attention: {heads: 2, grid: [1, 4, 4], kernel_q: [1, 3, 3], stride_q: [1, 2, 2], kernel_kv: [1, 3, 3], "
        "stride_kv: [1, 2, 2]}\n"
        "  - pooling_attention: {heads: 2, grid: [1, 2, 2], out: 12, kernel_q: 3, kernel_kv: 3, stride_kv: [1, 2, 2], "
        "residual_pool: true, residual_cls: false, rel_pos: true}\n"
        "  - grid_pool: {grid: [1, 2, 2], kernel: [1, 3, 3], stride: [1, 2, 2], padding: [0, 1, 1]}\n  - token_pool\n"
    ),
}


@pytest.mark.parametrize("case", FORMS_CASES)
@pytest.mark.parametrize("batch", [1, 2])
def test_every_tool_equals_its_prediction(case: str, batch: int) -> None:
    graph = replace(graph_of(FORMS_CASES[case]), batch=batch)
    # ptflops divides its hooks' counts by the batch, not its patched functions': it is run as users run it, at 1
    _compare(graph, tools=TOOLS if batch == 1 else [t for t in TOOLS if t != "ptflops"])


def test_attention_with_gradients_leaves_the_fast_path() -> None:
    # torchvision's ViT block at a small size: with grad, nn.MultiheadAttention takes its unfused path, whose
    # projections calflops and ptflops' aten backend see; at batch 2 the in-projection's input is not contiguous
    # (aten.mm, its bias not counted), at batch 1 it is (aten.addmm with the bias)
    for batch in (1, 2):
        graph = replace(graph_of("input: {tokens: [9, 8]}\nlayers:\n  - attention: {heads: 2}\n"), batch=batch)
        _compare(graph, grad=True)
        _compare(graph, grad=False)


def test_attention_as_timm_writes_it_with_and_without_gradients() -> None:
    # `sdpa: true`: timm's nn.Linear projections around one F.scaled_dot_product_attention, at batch 1 and 2
    for batch in (1, 2):
        graph = replace(graph_of("input: {tokens: [9, 8]}\nlayers:\n  - attention: {heads: 2, sdpa: true}\n"), batch=batch)
        _compare(graph, grad=True)
        _compare(graph, grad=False)


def test_every_tool_equals_its_prediction_on_random_specs() -> None:
    from test_verify_property import specs

    seen = Acceptance()

    @settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(specs(batches=st.just(1)), st.sampled_from(["module", "function", "subclass"]))
    def prop(text: str, form: str) -> None:
        try:
            graph = graph_of(f"torch: {form}\n{text}")
        except SpecError as e:
            seen.accept(False, f"{e}\n{text}")
            return
        seen.accept(True)
        _compare(graph)

    prop()
    seen.check(min_accepted=11)


