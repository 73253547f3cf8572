"""A torch target where a spec goes (commands/_targets.py): `analyze`, `compare`, `check` and `report` take
``file.py:factory`` / ``pkg.module:factory`` with --input, import it as `convcost import` does and cache the spec.

The model is a small net whose numbers are torch's own (``sum(p.numel())``) and derived by hand beside them:
conv 3->W k3 (W*3*9 + W params), linear W->10 (W*10 + 10); W comes from a helper module the factory imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convcost.cli import app

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()

MODEL = """\
import torch.nn as nn
from {helper} import width


def net(grow: int = 1) -> nn.Module:
    w = width() * grow
    return nn.Sequential(nn.Conv2d(3, w, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(w, 10))
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Path:
    """model.py importing a helper module of its own name (sys.modules keeps helpers between tests), a fresh cache."""
    helper = "tt_helper_" + request.node.name.replace("[", "_").replace("]", "_").replace("-", "_")
    (tmp_path / f"{helper}.py").write_text("def width() -> int:\n    return 16\n")
    (tmp_path / "model.py").write_text(MODEL.format(helper=helper))
    monkeypatch.setenv("CONVCOST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    return tmp_path


def helper_of(project: Path) -> Path:
    return next(project.glob("tt_helper_*.py"))


def torch_params(width: int) -> int:
    """torch's own count of the net at this width."""
    m = torch.nn.Sequential(torch.nn.Conv2d(3, width, 3, padding=1), torch.nn.Linear(width, 10))
    return sum(p.numel() for p in m.parameters())


def params_of(result_stdout: str) -> int:
    doc = json.loads(result_stdout)
    return doc["models"][0]["totals"]["params"]


def analyze_json(target: str, *more: str) -> dict:
    r = runner.invoke(app, ["analyze", target, "--input", "3,8,8", "-f", "json", *more])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_analyze_of_a_target_equals_analyze_of_its_imported_spec(project: Path) -> None:
    assert torch_params(16) == 618  # 16*3*9 + 16 + 16*10 + 10
    imported = runner.invoke(app, ["import", "model.py:net", "--input", "3,8,8", "-o", "net.yaml"])
    assert imported.exit_code == 0, imported.output
    spec = runner.invoke(app, ["analyze", "net.yaml", "-f", "json"])
    assert spec.exit_code == 0, spec.output
    direct = analyze_json("model.py:net")
    assert direct["models"][0]["totals"] == json.loads(spec.stdout)["models"][0]["totals"]
    assert direct["models"][0]["totals"]["params"] == torch_params(16)
    assert direct["models"][0]["totals"]["macs"] == 8 * 8 * 16 * 27 + 16 * 10  # conv: H*W*out*in*k*k, linear: in*out
    assert direct["models"][0]["file"] == "model.py:net"  # named as written, not the cache file
    table = runner.invoke(app, ["analyze", "model.py:net", "--input", "3,8,8"])
    assert table.exit_code == 0 and str(project / "cache") not in table.output


def test_reference_arg_is_the_factorys_and_part_of_the_key(project: Path) -> None:
    assert analyze_json("model.py:net")["models"][0]["totals"]["params"] == torch_params(16)
    grown = analyze_json("model.py:net", "--reference-arg", "grow=2")
    assert grown["models"][0]["totals"]["params"] == torch_params(32)  # 32*27 + 32 + 32*10 + 10 = 1226
    assert len(list((project / "cache").glob("*.json"))) == 2


def test_check_fails_on_a_model_only_change(project: Path) -> None:
    (project / "budget.yaml").write_text("models:\n  net: {params: 700}\n")  # the model is named after its factory
    args = ["check", "model.py:net", "--input", "3,8,8", "--budget", "budget.yaml"]
    ok = runner.invoke(app, args)
    assert ok.exit_code == 0, ok.output  # 618 <= 700
    base = runner.invoke(app, ["analyze", "model.py:net", "--input", "3,8,8", "-f", "json", "-o", "base.json"])
    assert base.exit_code == 0, base.output
    grown_ok = runner.invoke(app, ["check", "model.py:net", "--input", "3,8,8", "--baseline", "base.json",
                                   "--max-growth", "2%"])
    assert grown_ok.exit_code == 0, grown_ok.output
    # the model alone changes (no spec is touched): width 16 -> 21, params 21*27 + 21 + 21*10 + 10 = 808, +30.7 %
    (project / "model.py").write_text((project / "model.py").read_text().replace("w = width() * grow", "w = width() + 5"))
    assert torch_params(21) == 808
    over = runner.invoke(app, args)
    assert over.exit_code == 1, over.output
    assert "budget.yaml:2:17: error: model 'net': params 808 (808) over budget 700" in over.stdout
    grown = runner.invoke(app, ["check", "model.py:net", "--input", "3,8,8", "--baseline", "base.json",
                                "--max-growth", "2%"])
    assert grown.exit_code == 1, grown.output  # the baseline model is found by the target's name
    assert "808" in grown.stdout and "618" in grown.stdout


def test_cache_hit_does_not_import_torch(project: Path) -> None:
    first = analyze_json("model.py:net")
    assert len(list((project / "cache").glob("*.json"))) == 1
    code = (
        "import sys, json\n"
        "from typer.testing import CliRunner\n"
        "from convcost.cli import app\n"
        "r = CliRunner().invoke(app, ['analyze', 'model.py:net', '--input', '3,8,8', '-f', 'json'])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert 'torch' not in sys.modules, 'torch imported on a cache hit'\n"
        "print(json.loads(r.stdout)['models'][0]['totals']['params'])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=project, env=env)
    assert int(out.stdout) == first["models"][0]["totals"]["params"] == 618  # 16*3*9 + 16 + 16*10 + 10


def test_editing_the_factory_or_a_helper_invalidates(project: Path) -> None:
    assert analyze_json("model.py:net")["models"][0]["totals"]["params"] == 618
    helper = helper_of(project)
    helper.write_text("def width() -> int:\n    return 8\n")
    sys.modules.pop(helper.stem)  # a new process would import it afresh; this one keeps the old module
    assert analyze_json("model.py:net")["models"][0]["totals"]["params"] == torch_params(8) == 314  # 8*27+8+8*10+10
    (project / "model.py").write_text((project / "model.py").read_text().replace("width() * grow", "width() * 3"))
    assert analyze_json("model.py:net")["models"][0]["totals"]["params"] == torch_params(24) == 922  # 24*28 + 24*10+10


def test_a_hit_is_served_from_the_cache(project: Path) -> None:
    analyze_json("model.py:net")
    (entry,) = (project / "cache").glob("*.json")
    doc = json.loads(entry.read_text())
    assert str(helper_of(project)) in doc["files"]  # the helper the factory imports is recorded with its hash
    doc["spec"] = doc["spec"].replace("out: 10", "out: 11")  # a forged entry proves the hit read it
    entry.write_text(json.dumps(doc))
    assert analyze_json("model.py:net")["models"][0]["totals"]["params"] == 618 - 170 + 187  # linear 16*10 + 10 -> 16*11 + 11


def test_bad_targets_exit_2_with_one_line(project: Path) -> None:
    missing = runner.invoke(app, ["analyze", "nope.py:net", "--input", "3,8,8"])
    assert missing.exit_code == 2 and "reference 'nope.py:net': no such file 'nope.py'" in missing.stderr
    no_factory = runner.invoke(app, ["check", "model.py:nett", "--input", "3,8,8", "--budget", "b.yaml"])
    assert no_factory.exit_code == 2 and "model.py has no 'nett'" in no_factory.stderr
    assert "Traceback" not in no_factory.output
    no_input = runner.invoke(app, ["analyze", "model.py:net"])
    assert no_input.exit_code == 2 and "model.py:net: a torch target needs --input" in no_input.stderr
    bad_input = runner.invoke(app, ["analyze", "model.py:net", "--input", "3,x"])
    assert bad_input.exit_code == 2 and "--input '3,x'" in bad_input.stderr
    spec_only = runner.invoke(app, ["analyze", str(ROOT / "configs" / "resnet18.yaml"), "--input", "3,8,8"])
    assert spec_only.exit_code == 2 and "--input is for a torch target" in spec_only.stderr
    assert not (project / "cache").exists()


def test_a_real_file_with_a_colon_is_a_spec(project: Path) -> None:
    odd = project / "net.py:net"  # exists, so it is read as a spec, not imported
    odd.write_text((ROOT / "configs" / "resnet18.yaml").read_text())
    r = runner.invoke(app, ["analyze", "net.py:net", "-f", "json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["models"][0]["file"] == "net.py:net"
    assert not (project / "cache").exists()


def test_compare_a_spec_with_its_target(project: Path) -> None:
    assert runner.invoke(app, ["import", "model.py:net", "--input", "3,8,8", "-o", "net.yaml"]).exit_code == 0
    (project / "model.py").write_text((project / "model.py").read_text().replace("width() * grow", "width() * 2"))
    r = runner.invoke(app, ["compare", "net.yaml", "model.py:net", "--input", "3,8,8", "-f", "json", "--metric", "params"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    totals = [m["totals"]["params"] for m in doc["models"]]
    assert totals == [torch_params(16), torch_params(32)] == [618, 1226]  # 32*27 + 32 + 32*10 + 10
    assert [m["file"] for m in doc["models"]] == ["net.yaml", "model.py:net"]


def test_report_on_a_target(project: Path) -> None:
    r = runner.invoke(app, ["report", "model.py:net", "--input", "3,8,8"])
    assert r.exit_code == 0, r.output
    assert "618" in r.stdout and "model.py:net" in r.stdout  # 16*3*9 + 16 + 16*10 + 10


def test_no_output_over_the_models_source(project: Path) -> None:
    before = (project / "model.py").read_text()
    r = runner.invoke(app, ["analyze", "model.py:net", "--input", "3,8,8", "-o", "model.py"])
    assert r.exit_code == 2
    assert (project / "model.py").read_text() == before


def test_readme_model_check_block_is_real_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """README's block that gates the model itself: the two commands run (the baseline under tmp_path) and print it."""
    import re
    import shlex

    block = re.search(r"```text\n(\$ convcost analyze tests/reference_factories\.py:ResNet [^\n]*)\n(\$ [^\n]*)\n(.*?)```",
                      (ROOT / "README.md").read_text(), re.S)
    assert block, "README shows no check of a torch target"
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("CONVCOST_CACHE_DIR", str(tmp_path / "cache"))
    base = str(tmp_path / "model-baseline.json")
    first = runner.invoke(app, [w.replace("model-baseline.json", base) for w in shlex.split(block.group(1))[2:]])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, [w.replace("model-baseline.json", base) for w in shlex.split(block.group(2))[2:]])
    assert second.exit_code == 1, second.output  # fc 2048 -> 2000 classes: +2048*1000 + 1000 params
    assert 25_557_032 + 2048 * 1000 + 1000 == 27_606_032
    assert second.stdout.replace(base, "model-baseline.json").rstrip() == block.group(3).rstrip()


# ---- a forward of several inputs: --input once per input, as `convcost import` takes it ---------------------------------
INPUTS = ROOT / "tests" / "import_inputs_factories.py"
SIAMESE = f"{INPUTS}:siamese"  # one conv 3->8 k3 (+ReLU) on two images, each pooled, concatenated, a linear 16->4
SIAMESE_PARAMS = 8 * 3 * 9 + 8 + 16 * 4 + 4  # 292: the shared backbone counted once


def siamese_macs(left: int, right: int) -> int:
    """Two square images of these sizes: a valid 3x3 conv 3->8 on each ((n-2)^2 * 8 * 27), then the linear 16*4."""
    return (left - 2) ** 2 * 8 * 27 + (right - 2) ** 2 * 8 * 27 + 16 * 4


def twice(*shapes: str) -> list[str]:
    return [w for s in shapes for w in ("--input", s)]


def test_analyze_takes_input_once_per_input_as_import_does(project: Path) -> None:
    assert siamese_macs(8, 10) == 7776 + 13824 + 64 == 21664
    r = runner.invoke(app, ["analyze", SIAMESE, *twice("3,8,8", "3,10,10"), "-f", "json"])
    assert r.exit_code == 0, r.output
    model = json.loads(r.stdout)["models"][0]
    assert (model["totals"]["params"], model["totals"]["macs"]) == (SIAMESE_PARAMS, siamese_macs(8, 10))
    assert sum(p.numel() for p in __import__("import_inputs_factories").siamese().parameters()) == SIAMESE_PARAMS
    imported = runner.invoke(app, ["import", SIAMESE, *twice("3,8,8", "3,10,10"), "-o", "s.yaml"])
    assert imported.exit_code == 0, imported.output
    spec = runner.invoke(app, ["analyze", "s.yaml", "-f", "json"])
    assert json.loads(spec.stdout)["models"][0]["totals"] == model["totals"]  # the same spec as `convcost import`'s


def test_every_input_is_in_the_cache_key(project: Path) -> None:
    first = analyze_json(SIAMESE, "--input", "3,10,10")  # analyze_json gives --input 3,8,8 first
    second = analyze_json(SIAMESE, "--input", "3,12,12")
    assert first["models"][0]["totals"]["macs"] == siamese_macs(8, 10) == 21664
    assert second["models"][0]["totals"]["macs"] == siamese_macs(8, 12) == 7776 + 21600 + 64
    assert len(list((project / "cache").glob("*.json"))) == 2
    again = analyze_json(SIAMESE, "--input", "3,10,10")  # a hit: the first entry, not the last one written
    assert again["models"][0]["totals"]["macs"] == 21664


@pytest.mark.parametrize("command", ["analyze", "compare", "check", "report"])
@pytest.mark.parametrize(("shapes", "given"), [(["3,8,8"], "1 --input shape was given"),
                                               (["3,8,8"] * 3, "3 --input shapes were given")])
def test_a_wrong_number_of_inputs_exits_2_saying_how_many_the_forward_takes(
        project: Path, command: str, shapes: list[str], given: str) -> None:
    (project / "budget.yaml").write_text("models:\n  siamese: {params: 1000}\n")
    extra = ["--budget", "budget.yaml"] if command == "check" else []
    r = runner.invoke(app, [command, SIAMESE, *twice(*shapes), *extra])
    assert r.exit_code == 2, r.output
    line = f"Siamese.forward(left, right) takes 2 inputs (left, right), and {given}"
    assert line in r.stderr and "--input once per input, in the forward's order" in r.stderr, r.stderr
    assert "Traceback" not in r.output and "missing 1 required positional argument" not in r.output
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_check_and_report_of_a_target_of_two_inputs(project: Path) -> None:
    (project / "budget.yaml").write_text("models:\n  siamese: {params: 300, macs: 22000}\n")
    ok = runner.invoke(app, ["check", SIAMESE, *twice("3,8,8", "3,10,10"), "--budget", "budget.yaml"])
    assert ok.exit_code == 0, ok.output  # 292 <= 300, 21,664 <= 22,000
    over = runner.invoke(app, ["check", SIAMESE, *twice("3,8,8", "3,12,12"), "--budget", "budget.yaml"])
    assert over.exit_code == 1, over.output  # 29,440 MACs > 22,000
    assert "MACs 29,440" in over.stdout, over.stdout
    report = runner.invoke(app, ["report", SIAMESE, *twice("3,8,8", "3,10,10")])
    assert report.exit_code == 0, report.output
    assert "## siamese" in report.stdout and "292" in report.stdout, report.stdout


def test_compare_gives_every_target_the_same_inputs(project: Path) -> None:
    """Two versions of one model, each imported with both --input shapes."""
    (project / "other.py").write_text(
        "from import_inputs_factories import Siamese\nimport torch.nn as nn\n\n\n"
        "def wider() -> nn.Module:\n    m = Siamese()\n    m.head = nn.Linear(16, 8)\n    return m\n")
    r = runner.invoke(app, ["compare", SIAMESE, "other.py:wider", *twice("3,8,8", "3,10,10"), "-f", "json"])
    assert r.exit_code == 0, r.output
    totals = [(m["totals"]["params"], m["totals"]["macs"]) for m in json.loads(r.stdout)["models"]]
    # the head 16->8: 16*8 + 8 params, 16*8 MACs, instead of 16*4 + 4 and 16*4
    assert totals == [(292, 21664), (292 - 68 + 136, 21664 - 64 + 128)]
