"""`convcost import` writes how each layer met torch (the spec's `torch` key: module, function, subclass), so the
imported spec predicts what every installed tool prints on the model itself (docs/import.md, docs/spec.md).

The models are tests/torch_forms_factories.py's; every expected number is the real tool's (tests/tool_runs.py), run on
the factory's module, never convcost's; tests/test_conventions_zoo.py does the same on the 12 torchvision models."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from convcost.api import load_graphs
from convcost.cli import app

torch = pytest.importorskip("torch")
pytest.importorskip("fvcore")

import tool_runs  # noqa: E402
import torch_forms_factories  # noqa: E402
from test_conventions import predicted  # noqa: E402
from test_conventions_zoo import GRAD_TOOLS  # noqa: E402

runner = CliRunner()
FACTORIES = "tests/torch_forms_factories.py"
SHAPE = (3, 16, 16)


def imported(factory: str, tmp_path: Path) -> Path:
    out = tmp_path / f"{factory}.yaml"
    r = runner.invoke(app, ["import", f"{FACTORIES}:{factory}", "--input", ",".join(map(str, SHAPE)), "-o", str(out)])
    assert r.exit_code == 0, r.output
    return out


def forms(spec: Path) -> dict[str, str]:
    (graph,) = load_graphs(spec)
    return {n.name: n.form for n in graph.nodes}


def tools_agree(factory: str, spec: Path, grad: bool) -> int:
    """Every installed tool's real count and parameter count on the factory's model equals the imported spec's
    prediction; how many numbers were compared."""
    (graph,) = load_graphs(spec)
    tools = [t for t in tool_runs.installed() if not grad or t in GRAD_TOOLS]
    model = getattr(torch_forms_factories, factory)().eval()
    real = tool_runs.measure(model, (torch.randn(1, *SHAPE),), grad, tools)
    pred = predicted(graph, grad)
    compared = {k: v for k, v in real.items() if k in pred}
    assert {k: pred[k] for k in compared} == compared
    return len(compared)


@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
def test_functions_are_written_as_functions(grad: bool, tmp_path: Path) -> None:
    spec = imported("functional", tmp_path)
    text = spec.read_text()
    # F.relu, F.interpolate, F.adaptive_avg_pool2d and torch.flatten are functions, the nn.ReLU a module: 4 against 1,
    # so the file's default is `function` and the module says so
    assert "\ntorch: function" in text
    assert "- relu: {name: act, torch: module}" in text
    assert forms(spec) == {"conv": "module", "relu": "function", "conv2": "module", "act": "module",
                           "interpolate": "function", "adaptive_avg_pool2d": "function", "flatten": "function",
                           "fc": "module"}
    # ptflops and thop (installed with convcost's test extras) at least: counts and parameters
    assert tools_agree("functional", spec, grad) >= 4


@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
def test_subclasses_are_written_as_subclasses(grad: bool, tmp_path: Path) -> None:
    spec = imported("subclassed", tmp_path)
    text = spec.read_text()
    assert "- conv: {name: conv, out: 8, kernel: 3, padding: 1, bias: false, torch: subclass}" in text
    assert "- relu: {name: act, torch: subclass}" in text
    assert "\ntorch:" not in text  # the module default: written nowhere
    got = forms(spec)
    assert (got["stem"], got["conv"], got["bn"], got["act"], got["pool"]) == ("module", "subclass", "module", "subclass",
                                                                              "module")
    assert tools_agree("subclassed", spec, grad) >= 4


def test_a_call_spelled_otherwise_than_the_patched_function_is_noted(tmp_path: Path) -> None:
    spec = imported("method_relu", tmp_path)
    text = spec.read_text()
    assert "# torch: called as x.relu, not F.relu: ptflops and calflops, which patch that function, may count it" in text
    assert forms(spec)["relu"] == "function"  # the nearest form: no module hook sees it


def test_folding_keeps_layers_that_meet_torch_differently_apart(tmp_path: Path) -> None:
    spec = imported("mixed", tmp_path)
    got = forms(spec)
    # units 0 and 2 return F.relu(x), units 1 and 3 call their nn.ReLU (named 'relu' either way)
    assert [got[f"units.{k}.relu"] for k in range(4)] == ["function", "module", "function", "module"]
    assert tools_agree("mixed", spec, False) >= 4


def test_the_file_default_is_a_function_where_that_halves_the_keys(tmp_path: Path) -> None:
    spec = imported("all_functional", tmp_path)
    text = spec.read_text()
    assert "\ntorch: function" in text
    assert text.count("torch: ") == 2  # the default and the one nn.ReLU ('# torch:' notes: none)
    got = forms(spec)
    assert [got[n] for n in ("relu", "relu_1", "relu_2", "relu_3", "relu_4", "last")] == ["function"] * 5 + ["module"]
    assert tools_agree("all_functional", spec, False) >= 4


@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
def test_a_size_is_written_as_the_model_holds_it(grad: bool, tmp_path: Path) -> None:
    """calflops counts F.interpolate's size as its product for a tuple (24·24) and as the number for an int (32): the
    spec keeps which it was, for nn.Upsample (whose forward calls F.interpolate) and F.interpolate alike."""
    spec = imported("resized", tmp_path)
    text = spec.read_text()
    for written in ("size: [24, 24]", "size: 32", "size: [20, 20]", "size: 16"):
        assert written in text
    assert tools_agree("resized", spec, grad) >= 4


def test_a_round_trip_keeps_the_key(tmp_path: Path) -> None:
    """verify --reference on the imported spec passes: it builds exactly what the spec says (F.relu, the subclass)."""
    for factory in ("functional", "subclassed", "mixed"):
        spec = imported(factory, tmp_path)
        r = runner.invoke(app, ["verify", str(spec), "--reference", f"{FACTORIES}:{factory}"])
        assert r.exit_code == 0, r.output


EXPLAINED = """\
input: [3, 16, 16]
layers:
  - conv: {out: 8, kernel: 3, padding: 1, torch: subclass}
  - relu: {torch: function}
  - global_avgpool: {torch: function}
  - flatten
  - linear: {out: 10}
"""


@pytest.mark.parametrize(("convention", "says"), [
    # 16*16*8 * 3*3*3 = 55,296 conv MACs ptflops misses
    ("ptflops", "−55.30 K conv (ptflops looks its hooks up by exact type: a subclass of nn.Conv2d is invisible, and "
                "ptflops patches no torch function it calls)"),
    ("thop", "adaptive_avg_pool ×1 (thop hooks only modules: F.adaptive_avg_pool2d called as a function is invisible)"),
    ("torchscan", "relu ×1 (torchscan hooks only modules: F.relu called as a function is invisible)"),
])
def test_convention_output_names_the_mechanism(convention: str, says: str, tmp_path: Path) -> None:
    spec = tmp_path / "forms.yaml"
    spec.write_text(EXPLAINED)
    r = runner.invoke(app, ["analyze", str(spec), "--convention", convention], env={"COLUMNS": "400"})
    assert r.exit_code == 0, r.output
    assert says in " ".join(r.output.split())


@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
@pytest.mark.parametrize("qkv_bias", [True, False])
def test_timm_attention_predicts_every_tool_on_timms_module(grad: bool, qkv_bias: bool, tmp_path: Path) -> None:
    """timm's Attention on its fused path (tests/import_factories.py's condensed timm ViT: nn.Linear,
    F.scaled_dot_product_attention, nn.Linear) imports as `attention: {sdpa: true}`, whose prediction of every installed
    tool equals the tool's count on timm's module itself: fvcore and FlopCounterMode on CPU see the projections and not
    the attention kernel, the module-hook tools the nn.Linear modules. Predicted as nn.MultiheadAttention (the spec's
    build before `sdpa`) fvcore and FlopCounterMode saw none of the attention (its fast path), ptflops its hook's count."""
    import import_factories

    out = tmp_path / "vit.yaml"
    target = "tests/import_factories.py:timm_vit"
    args = ["--reference-arg", "image=16", "--reference-arg", f"qkv_bias={str(qkv_bias).lower()}"]
    r = runner.invoke(app, ["import", target, "--input", ",".join(map(str, SHAPE)), "-o", str(out), *args])
    assert r.exit_code == 0, r.output
    assert "sdpa: true" in out.read_text()
    (graph,) = load_graphs(out)
    tools = [t for t in tool_runs.installed() if not grad or t in GRAD_TOOLS]
    torch.manual_seed(0)
    model = import_factories.timm_vit(image=16, qkv_bias=qkv_bias).eval()
    real = tool_runs.measure(model, (torch.randn(1, *SHAPE),), grad, tools)
    pred = predicted(graph, grad)
    compared = {k: v for k, v in real.items() if k in pred}
    assert {k: pred[k] for k in compared} == compared
    assert {"fvcore", "flop_counter"} <= set(compared) and len(compared) > len(tools)
