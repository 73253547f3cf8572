"""`convcost import`: a spec written from the user's torch module, checked by round trip.

Every expected number is measured here on the torch module itself (parameter and buffer sums,
FlopCounterMode FLOPs / 2), never copied from convcost; and `verify --reference` on the imported spec
and the same target must pass."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from convcost.api import analyze_file
from convcost.cli import app

torch = pytest.importorskip("torch")
pytest.importorskip("fvcore")

TESTS = Path(__file__).resolve().parent
runner = CliRunner()


def run_import(target: str, shape: str, out: Path, *more: str) -> Result:
    return runner.invoke(app, ["import", target, "--input", shape, "-o", str(out), *more])


def torch_counts(target: str, shape: str) -> tuple[int, int, int]:
    """(params, buffers, FlopCounterMode FLOPs / 2) of the factory's module, measured by torch."""
    import importlib

    from torch.utils.flop_counter import FlopCounterMode

    file, factory = target.rsplit(":", 1)
    model = getattr(importlib.import_module(Path(file).stem), factory)().eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(torch.zeros(1, *map(int, shape.split(","))))
    return (sum(p.numel() for p in model.parameters()), sum(b.numel() for b in model.buffers()), fc.get_total_flops() // 2)


def spec_counts(spec: Path) -> tuple[int, int, int]:
    t = analyze_file(spec)[0].total
    return t.params, t.buffers, t.macs


@pytest.mark.parametrize(("target", "shape"), [
    ("reference_factories.py:ResNet", "3,224,224"),  # torchvision's names, Bottleneck's reused relu, downsample
    ("reference_factories.py:mobilenet_v2", "3,224,224"),  # x + self.conv(x) residuals
    ("reference_factories.py:googlenet", "3,224,224"),  # torch.cat of four branches, ceil-mode pools
    ("import_factories.py:unet", "3,64,64"),  # skips through torch.cat, ConvTranspose2d
    ("import_factories.py:small_cnn", "3,32,32"),  # F.relu, cat, +, *, x.mean, view, GroupNorm, Upsample
    ("import_factories.py:untraceable", "3,16,16"),  # fx fails on control flow: forward hooks
])
def test_round_trip(target: str, shape: str, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    full = f"{TESTS / target.split(':')[0]}:{target.split(':')[1]}"
    r = run_import(full, shape, spec)
    assert r.exit_code == 0, r.output
    assert spec_counts(spec) == torch_counts(target, shape)
    v = runner.invoke(app, ["verify", str(spec), "--reference", full])
    if "small_cnn" in target:
        # x.mean([2, 3]) becomes `global_avgpool: {mean: true}`, built as the same x.mean: fvcore sees aten::mean
        # on both sides (an adaptive pool module would add 16·16·16 + 16·32·32 = 20,480 on the spec's side only)
        assert "mean: true" in spec.read_text()
    assert v.exit_code == 0, v.output


def test_resnet_layers_are_named_by_module_path(tmp_path: Path) -> None:
    spec = tmp_path / "r50.yaml"
    assert run_import(f"{TESTS / 'reference_factories.py'}:ResNet", "3,224,224", spec).exit_code == 0
    names = {layer.node.name for layer in analyze_file(spec)[0].layers}
    assert {"conv1", "layer1.0.conv1", "layer2.0.downsample.0", "layer4.2.bn3", "fc"} <= names


def test_hooks_fallback_says_so(tmp_path: Path) -> None:
    spec = tmp_path / "u.yaml"
    assert run_import(f"{TESTS / 'import_factories.py'}:untraceable", "3,16,16", spec).exit_code == 0
    head = spec.read_text().splitlines()[0]
    assert "forward hooks" in head and "torch.fx could not trace it" in head


def test_unsupported_module_fails_naming_its_path(tmp_path: Path) -> None:
    spec = tmp_path / "lstm.yaml"
    r = run_import(f"{TESTS / 'import_factories.py'}:with_lstm", "4,10", spec)
    assert r.exit_code == 2
    assert "rnn: torch.nn.rnn.LSTM is not a convcost op" in r.stderr
    assert "--allow-unsupported" in r.stderr and not spec.exists()


def test_unsupported_function_kept_as_identity_when_allowed(tmp_path: Path) -> None:
    spec = tmp_path / "sin.yaml"
    target = f"{TESTS / 'import_factories.py'}:with_custom_op"
    r = run_import(target, "3,8,8", spec)
    assert r.exit_code == 2 and "fx node 'sin' in 1: sin is not a convcost op" in r.stderr
    r = run_import(target, "3,8,8", spec, "--allow-unsupported")
    assert r.exit_code == 0, r.output
    text = spec.read_text()
    assert "# unsupported, kept as identity: fx node 'sin' in 1" in text and "- identity: {name: sin}" in text
    # the two convs survive: 3·8·9 + 8 and 8·4 + 4 params; MACs 8·8·(8·3·9 + 4·8)
    assert spec_counts(spec) == (3 * 8 * 9 + 8 + 8 * 4 + 4, 0, 8 * 8 * (8 * 3 * 9 + 4 * 8))


def test_bad_input_shape_and_target(tmp_path: Path) -> None:
    r = runner.invoke(app, ["import", f"{TESTS / 'import_factories.py'}:small_cnn", "--input", "3,a"])
    assert r.exit_code == 2 and "--input '3,a'" in r.stderr
    r = runner.invoke(app, ["import", f"{TESTS / 'import_factories.py'}:nope", "--input", "3,8,8"])
    assert r.exit_code == 2 and "has no 'nope'" in r.stderr


def test_spec_writer_is_torch_free() -> None:
    code = "import sys, convcost.render.spec_out, convcost.commands.import_; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


@pytest.mark.parametrize(("target", "shape", "more"), [
    ("reference_factories.py:ResNet", "3,224,224", ()),
    ("import_factories.py:unet", "3,64,64", ()),
    ("import_factories.py:shape_branch", "3,8,8", ()),  # fx cannot trace it: forward hooks on meta tensors, a flat view
    # the fc reads `flat * 2`, no view of the pool's output: unsupported on both devices (meta tensors have no data_ptr)
    ("import_factories.py:shape_branch", "3,8,8", ("--reference-arg", "scaled=true", "--allow-unsupported")),
])
def test_meta_device_import_writes_the_real_forwards_spec(target: str, shape: str, more: tuple[str, ...],
                                                          tmp_path: Path) -> None:
    full = f"{TESTS / target.split(':')[0]}:{target.split(':')[1]}"
    real, meta = tmp_path / "real.yaml", tmp_path / "meta.yaml"
    r = run_import(full, shape, real, *more)
    assert r.exit_code == 0, r.output
    assert "meta device" not in r.stderr
    m = run_import(full, shape, meta, *more, "--max-memory", "1k")  # 1,000 bytes: less than any of these weights
    assert m.exit_code == 0, m.output
    assert "on the meta device: a real forward needs" in m.stderr
    assert meta.read_text() == real.read_text()
    assert m.stderr.count("its input comes from an operation between modules") == ("scaled=true" in more)


def test_meta_device_cannot_read_a_value(tmp_path: Path) -> None:
    """`if y.sum() > ...` needs a real forward; over --max-memory the import refuses, in one line."""
    spec = tmp_path / "u.yaml"
    r = run_import(f"{TESTS / 'import_factories.py'}:untraceable", "3,16,16", spec, "--max-memory", "1k")
    assert r.exit_code == 2 and not spec.exists()
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.output, r.output
    assert "on the meta device failed: RuntimeError: Tensor.item() cannot be called on meta tensors" in lines[0]
    # only the weights, buffers and input are known: params 3·8·9 + 2·8 + 8·5 + 5 = 277, buffers 8 + 8 + 1 = 17,
    # input 3·16·16 = 768; (277 + 17 + 768) · 4 bytes = 4,248
    assert "a real forward needs at least 4.25 kB" in lines[0] and lines[0].endswith("raise --max-memory to run it for real")
    r = run_import(f"{TESTS / 'import_factories.py'}:untraceable", "3,16,16", spec, "--max-memory", "4248")
    assert r.exit_code == 0, r.output  # at the limit: the real forward runs
    r = run_import(f"{TESTS / 'import_factories.py'}:untraceable", "3,16,16", spec, "--max-memory", "0")
    assert r.exit_code == 2 and "--max-memory must be more than 0 bytes" in r.stderr
