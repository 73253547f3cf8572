"""conv's `weight: standardised` / `scaled` against timm's own StdConv2d and ScaledStdConv2d (timm/layers/std_conv.py),
and `weight: fixed` against timm's BlurPool2d (timm/layers/blur_pool.py): the same parameters and buffers, the same
output for the same values, and every counter's real number on timm's module equal to convcost's prediction;
`convcost import` of them exact with `verify --reference` passing, and the other ways of normalising a weight refused
by name. Skipped where timm (a test-only extra) is missing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
std_conv = pytest.importorskip("timm.layers.std_conv")
blur_pool = pytest.importorskip("timm.layers.blur_pool")

import tool_runs  # noqa: E402
from conftest import analysis_of, graph_of  # noqa: E402
from test_conventions import predicted  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from convcost.cli import app  # noqa: E402
from convcost.crosscheck.torch_build import build_model  # noqa: E402

TESTS = Path(__file__).resolve().parent
runner = CliRunner()

# (spec layer on 4×5×5, timm's module)
CASES = [
    ("conv: {out: 6, kernel: 3, padding: 1, weight: standardised}", lambda: std_conv.StdConv2d(4, 6, 3, padding=1, bias=True)),
    ("conv: {out: 6, kernel: 3, padding: 1, weight: scaled, eps: 1e-5, gamma: 1.7}",
     lambda: std_conv.ScaledStdConv2d(4, 6, 3, padding=1, gamma=1.7, eps=1e-5)),
    ("conv: {out: 6, kernel: 3, stride: 2, padding: 1, groups: 2, bias: false, weight: scaled}",
     lambda: std_conv.ScaledStdConv2d(4, 6, 3, stride=2, groups=2, bias=False)),
]
IDS = ["standardised", "scaled", "scaled-grouped"]


@pytest.mark.parametrize(("layer", "module"), CASES, ids=IDS)
def test_params_and_output_are_timms(layer: str, module) -> None:  # type: ignore[no-untyped-def]
    """The module convcost builds holds timm's parameters (weight, bias, gain) and, given their values, computes
    timm's output: the same standardisation, eps and gamma."""
    graph = graph_of(f"input: [4, 5, 5]\nlayers:\n  - {layer}\n")
    ours, theirs = build_model(graph).eval(), module().eval()
    (lc,) = analysis_of(f"input: [4, 5, 5]\nlayers:\n  - {layer}\n").layers
    assert lc.cost.params == sum(p.numel() for p in theirs.parameters())
    assert lc.cost.buffers == sum(b.numel() for b in theirs.buffers()) == 0
    torch.manual_seed(0)
    with torch.no_grad():
        for p in theirs.parameters():
            p.uniform_(0.5, 1.5)  # a gain of 1 would hide a missing one
        (conv,) = [m for m in ours.modules() if isinstance(m, torch.nn.Conv2d)]
        conv.load_state_dict(theirs.state_dict())
        x = torch.randn(2, 4, 5, 5)
        assert torch.allclose(ours(x), theirs(x), atol=1e-5)


@pytest.mark.parametrize(("layer", "module"), CASES, ids=IDS)
@pytest.mark.parametrize("batch", [1, 2])
def test_every_counter_on_timms_module_equals_the_prediction(layer: str, module, batch: int) -> None:  # type: ignore[no-untyped-def]
    """fvcore, FlopCounterMode, ptflops (both backends), thop, torchinfo, torchscan and calflops, each run on timm's
    own module, against convcost's prediction for the spec. ptflops divides its hooks' counts by the batch: run as
    users run it, at batch 1."""
    graph = replace(graph_of(f"input: [4, 5, 5]\nlayers:\n  - {layer}\n"), batch=batch)
    tools = [t for t in tool_runs.installed() if batch == 1 or t != "ptflops"]
    real = tool_runs.measure(module().eval(), (torch.randn(batch, 4, 5, 5),), False, tools)
    pred = predicted(graph)
    compared = {k: (pred[k], v) for k, v in real.items() if k in pred}
    assert len(compared) >= 2 * len(tools) - 1, compared  # every tool's count (and params where it prints them)
    assert {k: p for k, (p, _) in compared.items()} == {k: v for k, (_, v) in compared.items()}


def test_fvcore_and_flop_counter_by_hand() -> None:
    """ScaledStdConv2d 4→6, 3×3, padding 1 on 5×5: 25·6·36 = 5,400 MACs a sample; its weight (216 values) normalised
    once per forward by a training-mode batch norm with a weight: fvcore 5 per value, whatever the batch;
    FlopCounterMode only the convolution, 2 per MAC."""
    from fvcore.nn import FlopCountAnalysis
    from torch.utils.flop_counter import FlopCounterMode

    m = std_conv.ScaledStdConv2d(4, 6, 3, padding=1).eval()
    for batch in (1, 3):
        x = torch.randn(batch, 4, 5, 5)
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            m(x)
        fv = FlopCountAnalysis(m, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False).total()
        assert (fv, fc.get_total_flops()) == (batch * 5400 + 5 * 216, 2 * batch * 5400)
        pred = predicted(replace(graph_of("input: [4, 5, 5]\nlayers:\n  - " + CASES[1][0] + "\n"), batch=batch))
        assert (pred["fvcore"], pred["flop_counter"]) == (fv, fc.get_total_flops())


def _saved(text: str, batch: int = 2) -> tuple[int, int]:
    """(bytes autograd saved, bytes the memory model says training saves), the spec's frozen layers' parameters not
    requiring grad: tests/test_saved_bytes.py's measure."""
    from test_saved_bytes import saved_by_autograd

    return saved_by_autograd(text, batch)


@pytest.mark.parametrize("layer", [
    "conv: {out: 6, kernel: 3, padding: 1, weight: standardised}",
    "conv: {out: 6, kernel: 3, padding: 1, weight: scaled, groups: 2}",
])
def test_training_saved_bytes_match_torch_autograd(layer: str) -> None:
    """The standardised weight the conv keeps (a new tensor), the norm's mean and inverse std per output channel and a
    scaled weight's gain · scale: against saved_tensors_hooks."""
    torch_saved, model_saved = _saved(f"input: [3, 6, 5]\nlayers:\n  - conv: {{out: 4, kernel: 1}}\n  - {layer}\n")
    assert torch_saved == model_saved


def test_a_frozen_standardised_conv_keeps_its_weight_only() -> None:
    """Frozen, only the standardised weight the input's gradient needs is kept: 6·4·9 values, 864 bytes more than a
    frozen plain conv keeps (its input, tests/test_saved_bytes.py), in torch and in the memory model."""
    head = "input: [3, 6, 5]\nlayers:\n  - conv: {out: 4, kernel: 1}\n  - conv: {out: 6, kernel: 3, padding: 1, frozen: true"
    plain, std = _saved(head + "}\n"), _saved(head + ", weight: scaled}\n")
    assert std[0] - plain[0] == std[1] - plain[1] == 6 * 4 * 9 * 4


@pytest.mark.parametrize(("layer", "message"), [
    ("conv: {out: 4, kernel: 3, eps: 1e-5}",
     "t.yaml:3:36: conv 'conv1': eps belongs to a standardised weight (`weight: standardised` or `scaled`); this one is plain"),
    ("conv: {out: 4, kernel: 3, weight: standardised, gamma: 2}",
     "t.yaml:3:60: conv 'conv1': gamma scales a `weight: scaled` conv's gain; this conv's weight is standardised"),
    ("conv: {out: 4, kernel: 3, weight: normalised}",
     "t.yaml:3:39: conv 'conv1': 'weight' must be one of plain, standardised, scaled, fixed, got 'normalised'"),
])
def test_misused_weight_arguments_are_located_errors(layer: str, message: str, tmp_path: Path) -> None:
    p = tmp_path / "t.yaml"
    p.write_text(f"input: [3, 8, 8]\nlayers:\n  - {layer}\n")
    r = runner.invoke(app, ["analyze", str(p)])
    assert r.exit_code == 2 and r.stderr.strip().endswith(message), r.stderr


# ---- convcost import ----------------------------------------------------------------------------------------------
def test_timms_std_convs_import_exactly(tmp_path: Path) -> None:
    """StdConv2d and ScaledStdConv2d (timm's, in a row) import as `weight: standardised` / `scaled` with their eps and
    gamma; params, buffers and MACs are torch's, and verify --reference passes on a real forward (fvcore compared)."""
    import conv_weight_factories
    from zoo import spec_counts, torch_counts

    spec, target = tmp_path / "s.yaml", f"{TESTS / 'conv_weight_factories.py'}:timm_std_convs"
    r = runner.invoke(app, ["import", target, "--input", "3,8,8", "-o", str(spec)])
    assert r.exit_code == 0, r.output
    assert spec_counts(spec) == torch_counts(conv_weight_factories.timm_std_convs().eval(), (3, 8, 8))
    text = spec.read_text()
    assert "weight: standardised, torch: subclass" in text  # timm's default eps, 1e-6, is convcost's
    assert "weight: scaled, eps: 1e-05, gamma: 1.7881293296813965, torch: subclass" in text
    assert "kernel: 1, bias: false, weight: scaled, torch: subclass" in text  # gamma 1: left out
    v = runner.invoke(app, ["verify", str(spec), "--reference", target])
    assert v.exit_code == 0 and "fvcore flops" in v.output, v.output


@pytest.mark.parametrize(("factory", "args", "why"), [
    ("weight_normed", ("how=running",), "a convolution weight normalised by batch_norm with running statistics"),
    ("weight_normed", ("how=gain_buffer",), "with a gain not made as a parameter times a number"),
    ("weight_normed", ("how=shift",), "a convolution weight standardised by batch_norm with a shift (bias)"),
    ("weight_normed", ("how=halves",), "over other groups than each output channel's fan-in"),
    ("std_transposed", (), "a transposed convolution with a standardised weight"),
])
def test_other_weight_norms_are_refused_by_name(factory: str, args: tuple[str, ...], why: str, tmp_path: Path) -> None:
    target = f"{TESTS / 'conv_weight_factories.py'}:{factory}"
    more = [o for a in args for o in ("--reference-arg", a)]
    r = runner.invoke(app, ["import", target, "--input", "4,6,6", "-o", str(tmp_path / "s.yaml"), *more])
    assert r.exit_code == 2 and why in r.stderr, r.stderr


# ---- weight: fixed (timm's BlurPool2d) ----------------------------------------------------------------------------
# a 1×1 conv first (calflops finds the model's device from its first parameter); BlurPool2d(4, 3, stride 2) pads
# 1 a side itself: `pad`, then a depthwise 3×3 conv whose filter is a (4, 1, 3, 3) buffer
BLUR = ("input: [4, 6, 6]\nlayers:\n  - conv: {out: 4, kernel: 1}\n  - pad: {pad: [1, 1, 1, 1], mode: MODE}\n"
        "  - conv: {out: 4, kernel: 3, stride: 2, groups: 4, bias: false, weight: fixed}\n")


def _blurred(mode: str) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(4, 4, 1), blur_pool.BlurPool2d(4, 3, 2, pad_mode=mode)).eval()


@pytest.mark.parametrize("mode", ["reflect", "constant"])
def test_a_fixed_filter_holds_timms_buffers_and_computes_its_output(mode: str) -> None:
    ours, theirs = build_model(graph_of(BLUR.replace("MODE", mode))).eval(), _blurred(mode)
    total = analysis_of(BLUR.replace("MODE", mode)).total
    assert (total.params, total.buffers) == (sum(p.numel() for p in theirs.parameters()),
                                             sum(b.numel() for b in theirs.buffers())) == (4 * 4 + 4, 4 * 9)
    with torch.no_grad():
        (first, *_), (fixed,) = [m for m in ours.modules() if isinstance(m, torch.nn.Conv2d)], \
            [m for m in ours.modules() if type(m).__name__ == "FixedFilter"]
        first.load_state_dict(theirs[0].state_dict())
        fixed.weight.copy_(theirs[1].filt)  # timm's binomial blur, where convcost fills an average
        x = torch.randn(2, 4, 6, 6)
        assert torch.allclose(ours(x), theirs(x), atol=1e-6)


@pytest.mark.parametrize("batch", [1, 2])
def test_every_counter_on_timms_blur_pool_equals_the_prediction(batch: int) -> None:
    """By hand at batch 1: the 1×1 conv 36·16 = 576 MACs (+ 36·4 bias); the blur 3×3 outputs · 4 channels · 9 = 324
    MACs. fvcore, FlopCounterMode, calflops and ptflops' aten backend see F.conv2d; ptflops, thop, torchinfo and
    torchscan see only the 1×1 conv (BlurPool2d is no nn.Conv2d)."""
    graph = replace(graph_of(BLUR.replace("MODE", "reflect")), batch=batch)
    tools = [t for t in tool_runs.installed() if batch == 1 or t != "ptflops"]
    real = tool_runs.measure(_blurred("reflect"), (torch.randn(batch, 4, 6, 6),), False, tools)
    pred = predicted(graph)
    compared = {k: (pred[k], v) for k, v in real.items() if k in pred}
    assert len(compared) >= 2 * len(tools) - 1, compared
    assert {k: p for k, (p, _) in compared.items()} == {k: v for k, (_, v) in compared.items()}
    if batch == 1 and "ptflops" in real:
        assert (real["fvcore"], real["flop_counter"], real["ptflops"], real["thop"]) == (900, 1800, 576 + 144, 576)


def test_a_fixed_filter_with_a_bias_and_its_arguments() -> None:
    """A learned bias beside a fixed filter: 6 params, the 6·(4/2)·9 = 108 filter values buffers; eps and gamma belong
    to standardised weights."""
    (lc,) = analysis_of("input: [4, 5, 5]\nlayers:\n  - conv: {out: 6, kernel: 3, groups: 2, weight: fixed}\n").layers
    assert (lc.cost.params, lc.cost.buffers, lc.cost.macs) == (6, 108, 9 * 108)  # 3×3 outputs


def test_training_saved_bytes_of_a_fixed_filter_with_a_bias_match_torch_autograd() -> None:
    """With a learned bias the layer is trainable and keeps its input, as torch does (without one it keeps its input
    too, as a frozen conv: tests/test_saved_bytes.py)."""
    spec = BLUR.replace("MODE", "constant").replace("bias: false, weight: fixed", "weight: fixed")
    torch_saved, model_saved = _saved(spec)
    assert torch_saved == model_saved == 2 * (4 * 6 * 6 + 4 * 8 * 8) * 4  # the 1×1 conv's input, the blur's padded one


@pytest.mark.parametrize("mode", ["reflect", "constant"])
def test_timms_blur_pool_imports_exactly(mode: str, tmp_path: Path) -> None:
    """BlurPool2d imports as its pad and a `weight: fixed` depthwise conv: its filter in buffers, verify --reference
    passing on a real forward."""
    import conv_weight_factories
    from zoo import spec_counts, torch_counts

    spec, target = tmp_path / "s.yaml", f"{TESTS / 'conv_weight_factories.py'}:timm_blur_pool"
    r = runner.invoke(app, ["import", target, "--input", "3,8,8", "-o", str(spec), "--reference-arg", f"pad_mode={mode}"])
    assert r.exit_code == 0, r.output
    assert spec_counts(spec) == torch_counts(conv_weight_factories.timm_blur_pool(mode).eval(), (3, 8, 8))
    assert "kernel: 3, stride: 2, groups: 8, bias: false, weight: fixed}" in spec.read_text()
    v = runner.invoke(app, ["verify", str(spec), "--reference", target, "--reference-arg", f"pad_mode={mode}"])
    assert v.exit_code == 0 and "fvcore flops" in v.output, v.output


def test_backward_as_flop_counter_counts_it() -> None:
    """verify --training: FlopCounterMode's backward on the built modules (a real backward) equals the prediction from
    each conv's analytic Backward: a fixed filter computes its input's gradient and no weight gradient; a standardised
    weight's gradient is a convolution's as a plain weight's (its norm's backward is no matmul)."""
    from convcost.crosscheck.verify import verify_graph

    text = ("input: [4, 8, 8]\nlayers:\n  - conv: {out: 4, kernel: 1}\n"
            "  - conv: {out: 4, kernel: 3, stride: 2, groups: 4, weight: fixed}\n"
            "  - conv: {out: 6, kernel: 3, groups: 2, weight: scaled}\n  - conv: {out: 6, kernel: 1, weight: standardised}\n")
    r = verify_graph(graph_of(text), training=True)
    assert r.ok
    checks = {lr.name: lr.checks["flop_counter_backward"] for lr in r.layers}
    # the fixed conv: 3×3 outputs · 4 channels · 9 taps = 324 MACs back to its input, 2 FLOPs each, no weight gradient
    assert checks["conv2"].actual == 2 * 324


def test_backward_by_hand() -> None:
    """convcost's own backward count (analyze --training), 4→6, 3×3, padding 1 on 5×5 after a 1×1 conv, batch 1: 25
    positions · 216 weights = 5,400 MACs each way; the bias's Σg 25·6; a standardised weight's gradient back through
    its norm, 9 ops per weight value (ops/grad.py: 5 shared + 4 for the input's gradient); a fixed filter none."""
    from convcost.cost import Backward
    from convcost.costmodel.training import analyze_training

    def second(layer: str) -> Backward:
        text = f"input: [4, 5, 5]\nlayers:\n  - conv: {{out: 4, kernel: 1}}\n  - {layer}\n"
        return analyze_training(analysis_of(text)).layers[1].backward

    assert second("conv: {out: 6, kernel: 3, padding: 1, weight: scaled}") == Backward(
        input_macs=5400, weight_macs=5400, weight_ops=25 * 6 + 9 * 216)
    assert second("conv: {out: 6, kernel: 3, padding: 1, weight: standardised, frozen: true}") == Backward(input_macs=5400)
    assert second("conv: {out: 6, kernel: 3, padding: 1, weight: fixed}") == Backward(input_macs=5400, weight_ops=25 * 6)
