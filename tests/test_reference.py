"""`convcost verify --reference`: a spec against the user's own torch module (tests/reference_factories.py).

The references are hand-written torch modules; every number compared is measured on them by torch
(parameter sums, FlopCounterMode) or derived in the comment beside it, never copied from convcost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from convcost.cli import app

torch = pytest.importorskip("torch")
pytest.importorskip("fvcore")

from conftest import CONFIGS  # noqa: E402

TESTS = Path(__file__).resolve().parent
FACTORIES = TESTS / "reference_factories.py"
runner = CliRunner()


def verify(spec: Path | str, factory: str, *more: str) -> Result:
    return runner.invoke(app, ["verify", str(spec), "--reference", f"{FACTORIES}:{factory}", *more])


def report(spec: Path | str, factory: str, *more: str) -> tuple[int, dict]:
    r = verify(spec, factory, "-f", "json", *more)
    assert r.exit_code in (0, 1), r.output
    return r.exit_code, json.loads(r.stdout)["models"][0]


def first_divergence(doc: dict) -> dict:
    assert doc["first_divergence"] is not None
    return doc["layers"][doc["first_divergence"]]


# ---- agreeing models --------------------------------------------------------------------------------
@pytest.mark.parametrize(("config", "model", "factory", "layers"), [
    # torchvision's names: conv1, layer1.0.conv1 (downsample ↔ shortcut): 53 conv + 53 bn + 49 relu + maxpool + 16 add
    # + avgpool + flatten + fc = 175 ops
    ("resnet50.yaml", None, "ResNet", 175),
    ("resnet50.yaml", None, "resnet50", 175),  # one nn.Sequential: '0', '4.conv1'
    # stem 3 + the first block's 5 (dw conv-bn-relu6, pw conv-bn) + 16 blocks of 8 (3 conv, 3 bn, 2 relu6) + last conv-bn-relu6 3
    # + 10 residual adds + pool, flatten, fc = 152 (the classifier's dropout passes its input through: not a layer)
    ("mobilenet_v2.yaml", None, "mobilenet_v2", 152),
    # conv1 3, maxpool, conv2 3, conv3 3, maxpool, 9 inception blocks of 20 (branches 3 + 6 + 6 + pool and 3, concat),
    # 2 maxpools between them, avgpool, flatten, fc: 11 + 180 + 2 + 3 = 196 (the 3×3/1 pools' ceil_mode: not compared)
    ("googlenet.yaml", "googlenet", "googlenet", 196),
    # 12 blocks: conv_proj (conv + to_tokens), class_token, pos_embedding, 12·(ln, attention, add, ln, linear, gelu, linear,
    # add), ln, token_pool, head: 2 + 2 + 96 + 3 = 103 (the dropouts pass their input through)
    ("vit_b_16.yaml", None, "vit", 103),
])
def test_spec_describes_the_model(config: str, model: str | None, factory: str, layers: int) -> None:
    import reference_factories
    from torch.utils.flop_counter import FlopCounterMode

    code, doc = report(CONFIGS / config, factory, *(["-m", model] if model else []))
    assert code == 0 and doc["ok"] and doc["verified"] and doc["matching"] == "structure" and not doc["not_compared"]
    assert len(doc["layers"]) == layers
    assert all(p["ok"] and p["checks"]["op"]["status"] == "ok" for p in doc["layers"])
    assert all(c["status"] == "ok" for k, c in doc["totals"].items() if k.startswith("analytic "))
    # the totals are the reference's own, measured here independently
    ref = getattr(reference_factories, factory)().eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        out = ref(torch.randn(1, 3, 224, 224))
    t = doc["totals"]
    assert t["params"]["reference"] == t["params"]["spec"] == sum(p.numel() for p in ref.parameters())
    assert t["buffers"]["reference"] == t["buffers"]["spec"] == sum(b.numel() for b in ref.buffers())
    assert t["output"]["reference"] == [list(out.shape)]
    if factory != "vit":  # without attention, the plain FlopCounterMode run is the same
        assert t["flop_counter"]["reference"] == fc.get_total_flops()
    assert t["fvcore"]["status"] == "ok"


def test_table_output_says_it_agrees() -> None:
    r = verify(CONFIGS / "mobilenet_v2.yaml", "mobilenet_v2")
    assert r.exit_code == 0, r.output
    flat = " ".join(r.stdout.split())  # the console wraps long lines: a longer path moves where
    assert "✓ mobilenet_v2: the spec describes" in flat
    assert "152 layers matched by structure, every op, argument and count agrees" in flat


# ---- deliberately wrong specs ------------------------------------------------------------------------
def resnet50_text() -> str:
    return (CONFIGS / "resnet50.yaml").read_text()


def test_layernorm_for_batchnorm_names_the_layer(tmp_path: Path) -> None:
    text = resnet50_text()
    assert "  - bn: {name: bn1}\n" in text
    spec = tmp_path / "ln.yaml"
    spec.write_text(text.replace("  - bn: {name: bn1}\n", "  - layernorm: {name: bn1}\n"))
    code, doc = report(spec, "ResNet")
    assert code == 1
    d = first_divergence(doc)
    assert (d["spec"]["name"], d["spec"]["kind"]) == ("bn1", "layernorm")
    assert (d["reference"]["name"], d["reference"]["kind"]) == ("bn1", "BatchNorm2d")
    assert d["checks"]["op"]["reason"] == "spec layernorm, model batchnorm (BatchNorm2d) at 'bn1'"
    assert d["checks"]["params"]["status"] == "ok"  # both 2·64 = 128 (scale and shift)
    assert (d["spec"]["buffers"], d["reference"]["buffers"]) == (0, 129)  # running mean 64 + var 64 + num_batches_tracked 1
    r = verify(spec, "ResNet")
    assert r.exit_code == 1
    assert "first divergence at spec layer 'bn1' (layernorm) / model 'bn1' (BatchNorm2d)" in r.stdout


def test_stride_on_the_wrong_conv_names_the_layer(tmp_path: Path) -> None:
    # ResNet v1 (stride on the block's first 1×1) written for a v1.5 model (stride on the 3×3)
    text = resnet50_text()
    one, three = ("- conv: {out: $planes, kernel: 1, bias: false}",
                  "- conv: {out: $planes, kernel: 3, stride: $stride, padding: 1, bias: false}")
    assert one in text and three in text
    spec = tmp_path / "v1.yaml"
    spec.write_text(text.replace(one, "- conv: {out: $planes, kernel: 1, stride: $stride, bias: false}")
                    .replace(three, "- conv: {out: $planes, kernel: 3, padding: 1, bias: false}"))
    code, doc = report(spec, "ResNet")
    assert code == 1
    d = first_divergence(doc)
    assert d["spec"]["name"] == d["reference"]["name"] == "layer2.0.conv1"
    assert d["spec"]["shape"] == [1, 128, 28, 28] and d["reference"]["shape"] == [1, 128, 56, 56]
    assert d["spec"]["macs"] == 28 * 28 * 128 * 256  # 1×1, 256 → 128 at 28×28
    assert d["reference"]["macs"] == 56 * 56 * 128 * 256  # the same conv at 56×56
    assert d["checks"]["op"]["reason"] == ("conv stride: spec 2, model 1 at 'layer2.0.conv1'; "
                                           "output: spec 128×28×28, model 128×56×56")
    assert d["checks"]["params"]["status"] == "ok"  # 256·128 either way
    # the whole model's totals agree on params, not on FLOPs or the output
    assert doc["totals"]["params"]["status"] == "ok" and doc["totals"]["flop_counter"]["status"] == "mismatch"


SE_SPEC = """\
input: [3, 32, 32]
layers:
  - conv: {out: 32, kernel: 3, padding: 1, bias: false}
  - bn
  - relu
  - gate: [global_avgpool, {conv: {out: 8, kernel: 1}}, relu, {conv: {out: 32, kernel: 1}}, sigmoid]
  - conv: {out: 64, kernel: 3, stride: 2, padding: 1, bias: false}
  - bn
  - relu
  - global_avgpool
  - flatten
  - linear: {out: 10}
"""


def test_squeeze_excite_spec_agrees(tmp_path: Path) -> None:
    spec = tmp_path / "se.yaml"
    spec.write_text(SE_SPEC)
    code, doc = report(spec, "se_net")
    assert code == 0, doc


def test_missing_gate_names_the_layer(tmp_path: Path) -> None:
    spec = tmp_path / "nose.yaml"
    gate = "  - gate: [global_avgpool, {conv: {out: 8, kernel: 1}}, relu, {conv: {out: 32, kernel: 1}}, sigmoid]\n"
    spec.write_text(SE_SPEC.replace(gate, ""))
    code, doc = report(spec, "se_net")
    assert code == 1
    d = first_divergence(doc)
    # the gate's first op, where the model goes on and the spec does not; every spec layer still pairs
    assert d["spec"] is None and (d["reference"]["name"], d["reference"]["kind"]) == ("3.avgpool", "AdaptiveAvgPool2d")
    extra = [p["reference"]["name"] for p in doc["layers"] if p["spec"] is None]
    assert extra == ["3.avgpool", "3.fc1", "3.relu", "3.fc2", "3.sigmoid", "3.mul"]  # the whole gate, and only it
    fc1 = next(p for p in doc["layers"] if p["reference"] and p["reference"]["name"] == "3.fc1")
    assert fc1["reference"]["params"] == 32 * 8 + 8  # the squeeze 1×1 conv with bias
    assert all(p["ok"] for p in doc["layers"] if p["spec"] is not None)  # the rest of the spec pairs and agrees
    assert doc["totals"]["params"]["reference"] - doc["totals"]["params"]["spec"] == (32 * 8 + 8) + (8 * 32 + 32)
    r = verify(spec, "se_net", "-f", "markdown")
    assert r.exit_code == 1 and "model '3.avgpool' (AdaptiveAvgPool2d)" in r.stdout


def test_factory_arguments_reach_the_factory() -> None:
    # width 0.5: the stem conv makes make_divisible(32·0.5) = 16 channels, the spec's 1.0 makes 32
    code, doc = report(CONFIGS / "mobilenet_v2.yaml", "mobilenet_v2", "--reference-arg", "width=0.5")
    assert code == 1
    d = first_divergence(doc)
    assert d["spec"]["shape"] == [1, 32, 112, 112] and d["reference"]["shape"] == [1, 16, 112, 112]


def test_meta_device_when_too_big() -> None:
    code, doc = report(CONFIGS / "mobilenet_v2.yaml", "mobilenet_v2", "--max-memory", "1M")
    assert code == 0 and doc["device"] == "meta" and not doc["real_forward"]
    assert doc["totals"]["params"]["reference"] == 3_504_872  # torchvision MobileNet_V2_Weights: 3,504,872 params
    assert "fvcore" in doc["skipped"]


# ---- cannot import / build / run: exit 2, one line ------------------------------------------------
@pytest.mark.parametrize(("target", "args", "message"), [
    ("nocolon", [], "expected package.module:factory or path/to/file.py:factory"),
    ("tests/no_such_file.py:f", [], "no such file 'tests/no_such_file.py'"),
    ("no_such_module_xyz:f", [], "no module named 'no_such_module_xyz'"),
    (f"{FACTORIES}:resnet5", [], "has no 'resnet5' (did you mean 'resnet50'?)"),
    (f"{FACTORIES}:not_a_module", [], "not_a_module() returned a int, not a torch.nn.Module"),
    (f"{FACTORIES}:mobilenet_v2", ["--reference-arg", "depth=3"], "calling mobilenet_v2(depth=3) failed: TypeError"),
    (f"{FACTORIES}:mobilenet_v2", ["--reference-arg", "3"], "--reference-arg '3': expected key=value"),
    (f"{FACTORIES}:broken", [], "cannot run on the spec's input 1×3×224×224: RuntimeError"),
    (f"{FACTORIES}:resnet50", ["-m", "x"], "no model 'x'"),
])
def test_bad_reference_exit_2(target: str, args: list[str], message: str) -> None:
    r = runner.invoke(app, ["verify", str(CONFIGS / "mobilenet_v2.yaml"), "--reference", target, *args])
    assert r.exit_code == 2, r.output
    assert message in r.stderr, r.stderr
    assert "Traceback" not in r.output
    assert len(r.stderr.strip().splitlines()) == 1


def test_import_error_in_the_users_file_points_at_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad_model.py"
    bad.write_text("import torch\n\nraise ValueError('no weights here')\n")
    r = runner.invoke(app, ["verify", str(CONFIGS / "mobilenet_v2.yaml"), "--reference", f"{bad}:f"])
    assert r.exit_code == 2
    assert "importing" in r.stderr and "ValueError: no weights here" in r.stderr and "bad_model.py:3)" in r.stderr


def test_module_path_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "nets.py").write_text(
        f"import sys\nsys.path.insert(0, {str(TESTS)!r})\nfrom reference_factories import mobilenet_v2\n")
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["verify", str(CONFIGS / "mobilenet_v2.yaml"), "--reference", "mypkg.nets:mobilenet_v2"])
    assert r.exit_code == 0, r.output


def test_reference_arg_needs_reference() -> None:
    r = runner.invoke(app, ["verify", str(CONFIGS / "mobilenet_v2.yaml"), "--reference-arg", "a=1"])
    assert r.exit_code == 2 and "--reference-arg needs --reference" in r.stderr


def test_one_model_at_a_time() -> None:
    r = runner.invoke(app, ["verify", str(CONFIGS / "googlenet.yaml"), "--reference", f"{FACTORIES}:googlenet"])
    assert r.exit_code == 2 and "pick one with --model" in r.stderr


def test_prints_of_the_users_code_stay_off_stdout() -> None:
    r = verify(CONFIGS / "mobilenet_v2.yaml", "noisy", "-f", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["ok"] is True
    assert "building mobilenet_v2" in r.stderr
