"""The Python API on a PyTorch model (docs/api.md): wherever it takes a spec it takes a built nn.Module or a torch
target ('file.py:factory', 'pkg.module:factory') with ``input=``, imported as `convcost import` does (a target's spec
cached as the command line caches it); errors are exceptions, nothing printed; a spec still imports no torch.

Every expected number is torch's own (``sum(p.numel())``) or derived by hand beside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from convcost import api

torch = pytest.importorskip("torch")
nn = torch.nn

ROOT = Path(__file__).resolve().parent.parent
SIAMESE = f"{ROOT / 'tests' / 'import_inputs_factories.py'}:siamese"  # conv 3->8 k3 on two images, a linear 16->4
MODEL = """\
import torch.nn as nn


def net(width: int = 16) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(width, 10))
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "model.py").write_text(MODEL)
    monkeypatch.setenv("CONVCOST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def small(width: int = 16) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(width, 10))


def numel(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_analyze_a_target_string_with_input(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = api.analyze("model.py:net", input=(3, 8, 8))
    assert a.total.params == numel(small()) == 618  # 16*3*9 + 16 + 16*10 + 10
    assert a.total.macs == 8 * 8 * 16 * 27 + 16 * 10  # conv: H*W*out*in*k*k, linear: in*out
    assert a.graph.model == "net"  # named after the factory, as budgets name it
    wide = api.analyze("model.py:net", input="3,8,8", factory_args={"width": 32})
    assert wide.total.params == numel(small(32)) == 1226  # 32*27 + 32 + 32*10 + 10
    assert len(list((project / "cache").glob("*.json"))) == 2  # cached as the command line caches it
    assert capsys.readouterr() == ("", "")


def test_analyze_a_built_module_gives_its_mode_back(project: Path) -> None:
    model = small().train()
    a = api.analyze(model, input=(3, 8, 8))
    assert (a.total.params, a.total.macs) == (numel(model), 8 * 8 * 16 * 27 + 16 * 10)
    assert model.training  # traced in eval mode, given back in training mode
    assert a.graph.model == "Sequential"
    named = api.from_torch(model, (3, 8, 8), name="tiny")
    assert list(named.models) == ["tiny"]
    assert [n.name for n in api.graph(model, input=(3, 8, 8)).nodes][:1] == ["0"]  # named by module path


def test_a_forward_of_several_inputs_takes_a_list_of_shapes(project: Path) -> None:
    import import_inputs_factories as factories

    for model in (SIAMESE, factories.siamese()):
        a = api.analyze(model, input=[(3, 8, 8), "3,10,10"])
        # the shared conv once (8*27 + 8) and the linear 16*4 + 4; MACs (n-2)^2*8*27 per image + 16*4
        assert (a.total.params, a.total.macs) == (8 * 27 + 8 + 68, 36 * 216 + 64 * 216 + 64) == (292, 21664)
    assert numel(factories.siamese()) == 292
    with pytest.raises(api.UsageError, match=r"Siamese.forward\(left, right\) takes 2 inputs \(left, right\), and 1 "):
        api.analyze(SIAMESE, input=(3, 8, 8))
    with pytest.raises(api.UsageError, match=r"^torch.nn.Module Siamese: Siamese.forward\(left, right\) takes 2 inputs "
                                             r"\(left, right\), and 3 input= shapes were given: give input= one shape per"):
        api.analyze(factories.siamese(), input=[(3, 8, 8)] * 3)


def test_check_gates_the_model_itself(project: Path) -> None:
    budgets = {"models": {"net": {"params": 700}}}
    assert api.check("model.py:net", budgets, input=(3, 8, 8)).ok  # 618 <= 700
    (project / "model.py").write_text(MODEL.replace("width: int = 16", "width: int = 21"))  # a model-only change
    result = api.check("model.py:net", budgets, input=(3, 8, 8))
    assert not result.ok and result.exit_code == 1
    assert [(f.metric, f.actual) for f in result.failed] == [("params", numel(small(21)))] == [("params", 808)]
    mixed = api.check([str(ROOT / "configs" / "resnet18.yaml"), small()], {"all": {"params": "12M"}}, input=(3, 8, 8))
    assert mixed.ok and len(mixed.analyses) == 2  # a spec keeps its own input; the module gets input=
    assert api.check(small(), {"models": {"Sequential": {"params": 617}}}, input=(3, 8, 8)).exit_code == 1


def test_compare_of_two_targets(project: Path) -> None:
    comp = api.compare([api.analyze("model.py:net", input=(3, 8, 8)),
                        api.analyze("model.py:net", input=(3, 8, 8), factory_args={"width": 32})])
    assert round(comp.change(comp.entries[1], "params"), 2) == round(100 * (1226 - 618) / 618, 2)


def test_bad_requests_raise_usage_errors_and_print_nothing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(api.UsageError, match=r"a torch model needs input="):
        api.analyze("model.py:net")
    with pytest.raises(api.UsageError, match=r"input= is for a torch model .*a spec sets its own input"):
        api.analyze(ROOT / "configs" / "resnet18.yaml", input=(3, 8, 8))
    with pytest.raises(api.UsageError, match=r"input= is for a torch model"):
        api.check(str(ROOT / "configs" / "resnet18.yaml"), {"all": {"params": "1G"}}, input=(3, 8, 8))
    with pytest.raises(api.UsageError, match=r"input=\[3, 0\]: expected the input's shape"):
        api.analyze(small(), input=[3, 0])
    with pytest.raises(api.UsageError, match=r"factory_args are a torch target's"):
        api.analyze(small(), input=(3, 8, 8), factory_args={"width": 2})
    with pytest.raises(api.UsageError, match=r"reference 'nope.py:net': no such file 'nope.py'"):
        api.analyze("nope.py:net", input=(3, 8, 8))
    with pytest.raises(api.UsageError, match=r"model.py has no 'nett'"):
        api.analyze("model.py:nett", input=(3, 8, 8))
    assert capsys.readouterr() == ("", "")


def test_parts_convcost_cannot_express_raise_import_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(api.ImportRefused) as e:
        # an LP pool of norm_type=inf (a max pool of |x|): no convcost op
        api.analyze(nn.Sequential(nn.Conv2d(3, 4, 3), nn.LPPool2d(float("inf"), 2)), input=(3, 8, 8))
    assert isinstance(e.value, api.UsageError)
    assert "nn.LPPool2d: lp_pool2d with norm_type=inf" in e.value.lines[0], e.value.lines
    assert "1 part of the model convcost cannot express" in e.value.lines[-1]
    assert capsys.readouterr() == ("", "")  # raised, not printed


def test_a_cached_target_and_a_spec_import_no_torch(project: Path) -> None:
    api.analyze("model.py:net", input=(3, 8, 8))  # cached now
    code = (
        "import sys\nfrom convcost import api\n"
        "a = api.analyze('model.py:net', input=(3, 8, 8))\n"
        f"b = api.analyze({str(ROOT / 'configs' / 'resnet18.yaml')!r})\n"
        "print(a.total.params, 'torch' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["618", "False"]  # 16*3*9 + 16 + 16*10 + 10, read from the cache
    assert json.loads(next((project / "cache").glob("*.json")).read_text())["target"] == "model.py:net"
