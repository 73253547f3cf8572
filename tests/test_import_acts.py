"""Issue 20, hostile review: activations with arguments, batch norm without running statistics and the shuffle modules
import one to one however the model writes them (tests/import_acts_factories.py), and `verify --reference` passes.
Before, each was refused with an exit-2 line ("softplus is not a convcost op", "batch norm with the batch's
statistics", "pixel_shuffle is not a convcost op")."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")

import import_acts_factories as factories  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from convcost.api import analyze_file  # noqa: E402
from convcost.cli import app  # noqa: E402

TESTS = Path(__file__).resolve().parent
FACTORIES = TESTS / "import_acts_factories.py"
runner = CliRunner()


def _import(factory: str, shape: str, spec: Path, *more: str) -> str:
    r = runner.invoke(app, ["import", f"{FACTORIES}:{factory}", "--input", shape, "-o", str(spec), "--no-blocks", *more])
    assert r.exit_code == 0, r.output
    return spec.read_text()


def _torch_totals(model: torch.nn.Module, shape: tuple[int, ...]) -> tuple[int, int, int]:
    """params, buffers and FlopCounterMode's FLOPs / 2 of torch's own model: the independent reference."""
    model.eval()
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(torch.randn(1, *shape))
    return (sum(p.numel() for p in model.parameters()), sum(b.numel() for b in model.buffers()),
            fc.get_total_flops() // 2)


def _verify(spec: Path, factory: str, *more: str) -> None:
    v = runner.invoke(app, ["verify", str(spec), "--reference", f"{FACTORIES}:{factory}", *more])
    assert v.exit_code == 0, v.output


@pytest.mark.parametrize("how", ["module", "function"])
def test_activations_with_arguments_import_exactly(how: str, tmp_path: Path) -> None:
    spec = tmp_path / "acts.yaml"
    text = _import("activations", "3,8,8", spec, "--reference-arg", f"how={how}")
    for line in ("softplus: {name: softplus, beta: 2.0, threshold: 10.0", "celu: {name: celu, alpha: 0.5",
                 "threshold: {name: threshold, threshold: 0.1, value: 20.0",
                 "logsigmoid: {name: logsigmoid" if how == "module" else "logsigmoid: {name: log_sigmoid"):  # F's C name
        assert line in text, text
    assert text.count("selu: {name: selu") == (1 if how == "module" else 2), text
    assert "celu: {name: celu1" in text or "celu: {name: celu_1" in text, text  # CELU(1): celu, not elu
    assert "elu: {name: elu" in text, text
    a = analyze_file(spec)[0]
    # 8·8·8 = 512 elements per activation: softplus, celu, selu(×1 or 2), threshold, logsigmoid, celu, elu
    acts = 7 if how == "module" else 8
    assert a.total.act_ops == acts * 512
    # conv 3→8, 3×3 on 8×8: 64·8·27 = 13,824 MACs, 8·27 + 8 = 224 params; linear 8→4: 32 MACs, 36 params
    assert (a.total.params, a.total.buffers, a.total.macs) == (224 + 36, 0, 13_824 + 32)
    assert (a.total.params, a.total.buffers, a.total.macs) == _torch_totals(factories.activations(how), (3, 8, 8))
    _verify(spec, "activations", "--reference-arg", f"how={how}")


@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_without_running_statistics_imports_exactly(affine: bool, tmp_path: Path) -> None:
    spec = tmp_path / "bn.yaml"
    text = _import("batch_stats", "3,8,8", spec, "--reference-arg", f"affine={str(affine).lower()}")
    assert text.count("track_running_stats: false") == 3, text
    a = analyze_file(spec)[0]
    layers = {lc.node.name: lc for lc in a.layers}
    n = 8 * 8 * 8  # 512 elements each
    per = 5 if affine else 3  # mean, variance, normalise (+ scale, shift)
    for name in ("bn", "bn1d", "bn3d"):
        assert layers[name].cost.buffers == 0
        assert layers[name].cost.params == (2 * 8 if affine else 0)
        assert layers[name].cost.norm_ops == per * n
    assert layers["bn_tracked"].cost.buffers == 2 * 8 + 1  # running mean, var, num_batches_tracked
    # conv 224 params, 13,824 MACs; linear 8→4 36 params, 32 MACs; the tracked batch norm 16 params, 17 buffers
    params = 224 + 36 + 16 + (3 * 16 if affine else 0)
    assert (a.total.params, a.total.buffers, a.total.macs) == (params, 17, 13_824 + 32)
    assert (a.total.params, a.total.buffers, a.total.macs) == _torch_totals(factories.batch_stats(affine), (3, 8, 8))
    _verify(spec, "batch_stats", "--reference-arg", f"affine={str(affine).lower()}")


@pytest.mark.parametrize("how", ["module", "function"])
def test_shuffle_modules_import_exactly(how: str, tmp_path: Path) -> None:
    spec = tmp_path / "shuffles.yaml"
    text = _import("shuffles", "3,16,16", spec, "--reference-arg", f"how={how}")
    for line in ("pixel_unshuffle: {name: ", "factor: 2", "channel_shuffle: {name: ", "groups: 4",
                 "pixel_shuffle: {name: "):
        assert line in text, text
    a = analyze_file(spec)[0]
    shapes = {lc.node.op: lc.node.shape for lc in a.layers}
    assert shapes["pixel_unshuffle"] == (64, 8, 8)  # 16 channels · 2² at 16/2
    assert shapes["channel_shuffle"] == (64, 8, 8)
    assert shapes["pixel_shuffle"] == (4, 16, 16)  # 16 / 2² channels at 8·2
    # conv 3→16, 3×3 on 16×16: 256·16·27 = 110,592; mix 64→16 on 8×8: 64·16·64 = 65,536; head 4→2, 3×3 on 16×16:
    # 256·2·36 = 18,432. params 16·27 + 16 = 448, 64·16 + 16 = 1,040, 2·36 + 2 = 74
    assert (a.total.params, a.total.buffers, a.total.macs) == (448 + 1_040 + 74, 0, 110_592 + 65_536 + 18_432)
    assert (a.total.params, a.total.buffers, a.total.macs) == _torch_totals(factories.shuffles(how), (3, 16, 16))
    _verify(spec, "shuffles", "--reference-arg", f"how={how}")


@pytest.mark.parametrize("act", list(factories.ACTIVATIONS))
def test_an_activation_with_arguments_in_a_channels_last_run(act: str, tmp_path: Path) -> None:
    """Between a permute to channels-last and back (ConvNeXt's block) the activation acts at every position: the run
    is the block configs/convnext_tiny.yaml writes, `linear: {over: channels}` around it."""
    spec = tmp_path / "cl.yaml"
    text = _import("channels_last_mlp", "8,6,6", spec, "--reference-arg", f"act={act}")
    assert "permute" not in text and text.count("over: channels") == 2 and f"- {act}: {{name: act" in text, text
    a = analyze_file(spec)[0]
    # 36 positions: dwconv 36·8·9, pwconv1 36·8·16, pwconv2 36·16·8; params 8·9 + 8, 8·16 + 16, 16·8 + 8, norm 16
    assert (a.total.params, a.total.macs) == (80 + 144 + 136 + 16, 36 * (72 + 128 + 128))
    assert (a.total.params, a.total.buffers, a.total.macs) == _torch_totals(factories.channels_last_mlp(act), (8, 6, 6))
    assert next(lc for lc in a.layers if lc.node.op == act).cost.act_ops == 36 * 16  # 16 channels at 36 positions
    _verify(spec, "channels_last_mlp", "--reference-arg", f"act={act}")


@pytest.mark.parametrize("act", ["softplus", "logsigmoid"])
def test_an_activation_with_arguments_of_tokens_a_view_made(act: str, tmp_path: Path) -> None:
    """``x.reshape(B, C·H, W)`` read by the activation, then a Linear over W: the reshape's output is tokens (a linear
    reads it through an elementwise op), so the linear applies per token."""
    spec = tmp_path / "tok.yaml"
    text = _import("token_mlp", "8,4,4", spec, "--reference-arg", f"act={act}")
    assert "layout: tokens" in text, text
    a = analyze_file(spec)[0]
    assert next(lc for lc in a.layers if lc.node.op == act).cost.act_ops == 8 * 4 * 4, text  # 32 tokens of 4
    assert (a.total.params, a.total.buffers, a.total.macs) == _torch_totals(factories.token_mlp(act), (8, 4, 4))
    assert (a.total.params, a.total.macs) == (4 * 6 + 6, 32 * 4 * 6)  # the Linear 4→6 on each of the 32 tokens
    _verify(spec, "token_mlp", "--reference-arg", f"act={act}")
