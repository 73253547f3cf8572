"""`convcost import`: a spec written from the user's torch module, checked by round trip.

Every expected number is measured here on the torch module itself (parameter and buffer sums,
FlopCounterMode FLOPs / 2), never copied from convcost; and `verify --reference` on the imported spec
and the same target must pass."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from acceptance import Acceptance
from golden_files import assert_golden
from typer.testing import CliRunner, Result

from convcost.api import analyze_file
from convcost.cli import app

torch = pytest.importorskip("torch")
pytest.importorskip("fvcore")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

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
    assert {"conv1", "layer1.0.conv1", "layer2.0.shortcut.downsample.0", "layer4.2.bn3", "fc"} <= names


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


# ---- folding repeated modules into blocks ---------------------------------------------------------
def test_resnet50_folds_into_one_block_under_60_lines(tmp_path: Path) -> None:
    """ResNet-50's 16 bottlenecks are one block: the 4 stages are 4 calls with `repeat`, the first unit's
    stride and projection shortcut in `first:` (the spec's counts are checked in test_round_trip)."""
    spec = tmp_path / "r50.yaml"
    assert run_import(f"{TESTS / 'reference_factories.py'}:ResNet", "3,224,224", spec).exit_code == 0
    text = spec.read_text()
    assert len(text.splitlines()) < 60, text
    assert_golden("import_resnet50.yaml", text.replace(str(TESTS) + "/", "tests/"))
    calls = [line for line in text.splitlines() if "repeat:" in line]
    assert [c.split("repeat: ")[1].split(",")[0] for c in calls] == ["3", "4", "6", "3"]  # torchvision's [3, 4, 6, 3]
    assert all("first: {" in c and "downsample: true" in c for c in calls)
    for stage in ("layer2", "layer3", "layer4"):  # the stride-2 3×3 conv of v1.5 in the first unit only
        assert "conv2_stride: 2" in next(c for c in calls if f"name: {stage}," in c).split("first:")[1]


def layer_costs(spec: Path) -> list[tuple[str, int, int, tuple[int, ...]]]:
    return [(lc.node.op, lc.cost.params, lc.cost.macs, tuple(lc.node.shape)) for lc in analyze_file(spec)[0].layers]


@pytest.mark.parametrize(("target", "shape", "args"), [
    ("reference_factories.py:ResNet", "3,224,224", []),
    ("reference_factories.py:mobilenet_v2", "3,224,224", []),  # connect: a residual only where the shapes allow
    ("reference_factories.py:googlenet", "3,224,224", []),  # concat branches inside a block
    ("fold_factories.py:net", "3,16,16", ["--reference-arg", "grow=4"]),  # SE gates, optional shortcuts, DenseNet
])
def test_blocks_change_nothing(target: str, shape: str, args: list[str], tmp_path: Path) -> None:
    """The folded spec and the one written layer by layer (--no-blocks) have the same layers in the same order,
    each with the same op, params, MACs and shape; and the folded one is the shorter."""
    full = f"{TESTS / target.split(':')[0]}:{target.split(':')[1]}"
    folded, flat = tmp_path / "folded.yaml", tmp_path / "flat.yaml"
    assert run_import(full, shape, folded, *args).exit_code == 0
    assert run_import(full, shape, flat, *args, "--no-blocks").exit_code == 0
    assert "blocks:" in folded.read_text() and "blocks:" not in flat.read_text()
    assert layer_costs(folded) == layer_costs(flat)
    assert len(folded.read_text().splitlines()) < len(flat.read_text().splitlines()) * 2 // 3


def test_random_nets_fold_exactly(tmp_path: Path) -> None:
    """Random stacks of units (stride, expansion, SE, projection shortcut or none, residual or not) import into
    specs whose params, buffers and MACs are the torch module's, with every stage of ≥ 2 units a block call."""
    import fold_factories
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    stage = st.tuples(st.integers(1, 3), st.sampled_from([8, 16, 24]), st.sampled_from([1, 2]), st.integers(1, 2),
                      st.integers(0, 1), st.integers(0, 1)).map(list)
    seen = Acceptance()

    @settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow,
              HealthCheck.function_scoped_fixture])
    @given(st.lists(stage, min_size=1, max_size=3), st.sampled_from([0, 4]))
    def imports_exactly(stages: list[list[int]], grow: int) -> None:
        seen.accept(True)
        spec = tmp_path / "net.yaml"
        r = run_import(f"{TESTS / 'fold_factories.py'}:net", "3,16,16", spec, "--reference-arg", f"stages={stages}",
                       "--reference-arg", f"grow={grow}")
        assert r.exit_code == 0, r.output
        model = fold_factories.net(stages, grow).eval()
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            model(torch.zeros(1, 3, 16, 16))
        expected = (sum(p.numel() for p in model.parameters()), sum(b.numel() for b in model.buffers()),
                    fc.get_total_flops() // 2)
        assert spec_counts(spec) == expected, spec.read_text()
        lines = spec.read_text().splitlines()
        cin = 8
        for k, (n, cout, stride, _, _, project) in enumerate(stages):
            # units 1..n-1 add their input back; unit 0 too when it has a projection or keeps the shape: then all
            # n units are one block (unit 0's stride and shortcut in `first:`) and the stage is one call
            if n >= 2 and ((project and (stride != 1 or cin != cout)) or (stride == 1 and cin == cout)):
                folded.append(k)
                assert any(f"name: {k}," in ln and f"repeat: {n}" in ln for ln in lines), "\n".join(lines)
            cin = cout

    folded: list[int] = []
    imports_exactly()
    seen.check(min_accepted=12)
    assert len(folded) >= 6  # the draw reaches the repeat calls it checks


# ---- hostile models (tests/fold_hostile_factories.py): fold or not, never a wrong spec ----------------------
@pytest.mark.parametrize("factory", [
    "inner_reads",  # a caller reads a layer inside a repeated module: that module is written out (was a KeyError)
    "inner_outputs",  # the model's outputs: a layer inside a repeated module, and repeated modules' outputs
    "input_cat",  # cat([body(x), x]) and cat([x, body(x), x]): the input read twice (it was read once)
    "twice",  # x + x, x * x, cat([x, x]) in a repeated module (were refused as 'with a constant')
    "shadow",  # a shortcut module named 'when' (its flag parameter was 'when'), layers named add1, repeat, first
    "stage_skip",  # a block reads its own repeat's first iteration (`from: units.0`); a class named ReLU
    "flex",  # one class, two wirings: a block call reading another layer's output (were folded as one: wrong params)
    "resize_modes",  # align_corners None in most units: a parameter default of ~ made it required (analyze failed)
    "resize_first",  # ... and None on the first iteration only: `first: {up_align_corners: ~}`
    "floats",  # per-iteration bias (bool), dropout p, leaky slope: lists `${[true, false, ...][i]}`; eps in `first`
    "skip_into_repeat",  # a later concat reads the repeat's middle iteration (`from: [stage.1, stage]`)
    "nested_repeats",  # a stage of stages
    "middle_down",  # projection shortcuts on units 1 and 3: `when` flag as a list over i
    "connect_varies",  # residual in some units only: `connect` as a list over i
])
def test_hostile_models_import_exactly(factory: str, tmp_path: Path) -> None:
    """Folded and --no-blocks specs of a hostile model: the torch module's params, buffers and MACs, the same
    layers one by one, and verify --reference passes on the folded one."""
    target = f"fold_hostile_factories.py:{factory}"
    full = str(TESTS / target)
    folded, flat = tmp_path / "folded.yaml", tmp_path / "flat.yaml"
    r = run_import(full, "3,16,16", folded)
    assert r.exit_code == 0, r.output
    assert run_import(full, "3,16,16", flat, "--no-blocks").exit_code == 0
    assert spec_counts(folded) == torch_counts(target, "3,16,16"), folded.read_text()
    assert layer_costs(folded) == layer_costs(flat)
    v = runner.invoke(app, ["verify", str(folded), "--reference", full])
    assert v.exit_code == 0, v.output
