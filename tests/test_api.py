"""The Python API (docs/api.md), used as a notebook would: only the documented names of convcost.api and
convcost.torch. docs/api.md's own examples run here too, their commented values checked."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from convcost import api

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
DOC = ROOT / "docs" / "api.md"

# The tiny net of docs/api.md: 3×32×32 → conv 16 (3×3, same) → bn → relu → conv 32 (3×3, stride 2, groups 4)
# → global average pool → flatten → linear 10.
TINY = {
    "input": [3, 32, 32],
    "layers": [
        {"conv": {"name": "stem", "out": 16, "kernel": 3, "padding": 1}},
        "bn",
        "relu",
        {"conv": {"out": 32, "kernel": 3, "stride": 2, "padding": 1, "groups": 4}},
        "global_avgpool",
        "flatten",
        {"linear": {"name": "head", "out": 10}},
    ],
}
TINY_YAML = """input: [3, 32, 32]
layers:
  - conv: {name: stem, out: 16, kernel: 3, padding: 1}
  - bn
  - relu
  - conv: {out: 32, kernel: 3, stride: 2, padding: 1, groups: 4}
  - global_avgpool
  - flatten
  - linear: {name: head, out: 10}
"""
TINY_MACS = 32 * 32 * 16 * 3 * 9 + 16 * 16 * 32 * (16 // 4) * 9 + 32 * 10  # stem, strided grouped conv, head
TINY_PARAMS = (16 * 3 * 9 + 16) + 2 * 16 + (32 * 4 * 9 + 32) + (32 * 10 + 10)  # conv+bias, bn γβ, conv+bias, linear


def test_notebook(tmp_path: Path) -> None:
    """Load three ways, analyse, compare, check, render; then build the spec as a module and train a step."""
    # -- load: a file, a string, a dict give the same network
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_YAML)
    from_file, from_text, from_dict = api.load(path), api.loads(TINY_YAML, "tiny.yaml"), api.from_dict(TINY, "tiny.yaml")
    totals = [api.analyze(s).total for s in (from_file, from_text, from_dict)]
    assert totals[0] == totals[1] == totals[2]
    assert list(from_dict.models) == ["tiny"]

    # -- analyse
    a = totals[0]
    assert (a.macs, a.params) == (TINY_MACS, TINY_PARAMS)
    analysis = api.analyze(from_dict)
    assert [lc.node.name for lc in analysis.layers][:3] == ["stem", "bn1", "relu1"]
    assert {lc.node.name: lc.cost.macs for lc in analysis.layers}["head"] == 32 * 10

    # -- compare: the same net at batch 4 against batch 1 (MACs scale with the batch, params do not)
    comp = api.compare([analysis, api.analyze(from_dict, batch=4)])
    assert comp.change(comp.entries[1], "macs") == pytest.approx(300.0)  # 4x: +300 %
    assert comp.change(comp.entries[1], "params") == 0

    # -- check budgets: a dict in the budget-file format, and the spec's own budget
    within = api.check(from_dict, budgets={"all": {"params": TINY_PARAMS, "macs": "1M"}})
    assert within.ok and within.exit_code == 0 and len(within.findings) == 2
    over = api.check(from_dict, budgets={"all": {"params": TINY_PARAMS - 1}})
    assert not over.ok and over.exit_code == 1
    assert over.failed[0].metric == "params" and over.failed[0].actual == TINY_PARAMS
    assert over.failed[0].allowed == TINY_PARAMS - 1
    own = api.check(api.from_dict({**TINY, "budget": {"macs": TINY_MACS}}, "tiny.yaml"))
    assert own.ok

    # -- render: what the CLI writes
    doc = json.loads(api.render(analysis, "json"))
    assert doc["schema"] == "convcost.analyze/1" and doc["models"][0]["totals"]["macs"] == TINY_MACS
    assert "head" in api.render(analysis, "table") and api.render(analysis, "csv").count("\n") == 1 + 7  # header, 7 layers
    assert "| stem |" in api.render(analysis, "markdown")
    assert "+300.0 %" in api.render(comp, "table")
    assert "❌" in api.render(over, "markdown") and "over budget" in api.render(over, "table")

    # -- build the spec as a PyTorch module and train it one step
    torch = pytest.importorskip("torch")
    import convcost.torch

    torch.manual_seed(0)
    model = convcost.torch.build(from_dict)
    assert model.training
    assert sum(p.numel() for p in model.parameters()) == TINY_PARAMS
    x = convcost.torch.example_input(model, batch=8)
    assert tuple(x.shape) == (8, 3, 32, 32)
    y = torch.randint(0, 10, (8,))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    before = model.head.weight.detach().clone()
    loss0 = torch.nn.functional.cross_entropy(model(x), y)
    loss0.backward()
    opt.step()
    loss1 = torch.nn.functional.cross_entropy(model(x), y)
    assert not torch.equal(before, model.head.weight)  # the step moved the weights
    assert loss1.item() < loss0.item()  # and lowered the loss on that batch


class Handwritten:
    """The tiny net written by hand in torch, with the spec's layer names (an independent source of names)."""

    @staticmethod
    def build() -> Any:
        from torch import nn

        m = nn.Module()
        m.stem = nn.Conv2d(3, 16, 3, padding=1)
        m.bn1 = nn.BatchNorm2d(16)
        m.relu1 = nn.ReLU()
        m.conv1 = nn.Conv2d(16, 32, 3, stride=2, padding=1, groups=4)  # the first unnamed conv (the other is 'stem')
        m.global_avgpool1 = nn.AdaptiveAvgPool2d(1)
        m.flatten1 = nn.Flatten()
        m.head = nn.Linear(32, 10)
        return m


def test_state_dict_keys_are_the_spec_names_and_a_checkpoint_loads() -> None:
    torch = pytest.importorskip("torch")
    import convcost.torch

    model = convcost.torch.build(TINY)
    hand = Handwritten.build()
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in hand.state_dict().items()}
    assert ours == theirs  # 'stem.weight', 'bn1.running_mean', 'conv1.weight', 'head.bias', ...
    model.load_state_dict(hand.state_dict())  # strict: a checkpoint of the hand-written model loads as is
    model.eval()
    hand.eval()
    x = torch.randn(2, 3, 32, 32)
    expected = hand.head(hand.flatten1(hand.global_avgpool1(hand.conv1(hand.relu1(hand.bn1(hand.stem(x)))))))
    assert torch.allclose(model(x), expected, atol=1e-6)


def test_a_nested_spec_names_its_modules_by_path() -> None:
    pytest.importorskip("torch")
    import convcost.torch

    model = convcost.torch.build(CONFIGS / "resnet18.yaml", device="meta")
    keys = set(model.state_dict())
    assert {"conv1.weight", "layer1.0.conv1.weight", "layer4.1.bn2.running_var", "fc.bias"} <= keys
    assert model.layer1[0].conv1 is model.module_for("layer1.0.conv1")


def test_the_documented_names(capsys: pytest.CaptureFixture[str]) -> None:
    documented = DOC.read_text()
    for name in api.__all__:
        assert hasattr(api, name), name
        assert f"`{name}" in documented or f"{name}(" in documented, f"{name} is not in docs/api.md"
    api.render(api.check(CONFIGS / "resnet50.yaml", budgets={"all": {"params": "30M"}}), "table")
    with pytest.raises(api.UsageError):
        api.analyze(CONFIGS / "inception_naive_vs_bottleneck.yaml")  # two models: name one
    assert capsys.readouterr() == ("", "")  # nothing printed, errors included


def test_errors_say_where() -> None:
    with pytest.raises(api.SpecError) as e:
        api.loads("input: [3, 8, 8]\nlayers:\n  - conv: {out: 16, kernal: 3}\n", "net.yaml")
    assert (e.value.loc.file, e.value.loc.line, e.value.loc.col) == ("net.yaml", 3, 21)  # '  - conv: {out: 16, ' is 20
    bad = {**TINY, "layers": [*TINY["layers"][:3], {"conv": {"out": 32, "kernel": 3, "groups": 5}}]}
    with pytest.raises(api.SpecError) as e:
        api.analyze(api.from_dict(bad, "tiny.yaml"))
    assert str(e.value) == "tiny.yaml['layers'][3]['conv']['groups']: conv 'conv1': groups=5 must divide in_channels=16"
    with pytest.raises(api.SpecError, match="mapping keys must be strings"):
        api.from_dict({"input": [3, 8, 8], "layers": [{1: None}]})
    with pytest.raises(api.SpecError, match="no such file"):
        api.load("no/such.yaml")
    with pytest.raises(api.UsageError, match=r"no model 'resnet5'.*did you mean 'resnet50'"):
        api.analyze(CONFIGS / "resnet50.yaml", "resnet5")


def test_check_refuses_to_check_nothing(tmp_path: Path) -> None:
    with pytest.raises(api.UsageError, match="nothing to check"):
        api.check(TINY)
    with pytest.raises(api.UsageError, match="nothing was checked"):
        api.check(TINY, budgets={"models": {"other": {"macs": 1}}})
    # a renamed model must not escape its baseline
    baseline = tmp_path / "baseline.json"
    baseline.write_text(api.render(api.analyze(api.loads(TINY_YAML, str(tmp_path / "net.yaml"))), "json"))
    renamed = tmp_path / "net.yaml"
    renamed.write_text("models:\n  tiny2:\n" + "".join("    " + line + "\n" for line in TINY_YAML.splitlines()))
    with pytest.raises(api.UsageError, match=r"nothing was checked on 1 model.*'tiny2' is not in the baseline"):
        api.check(renamed, baseline=baseline, max_growth="1%")
    with pytest.raises(api.SpecError, match=r"baseline model 'net' was recorded from .* a renamed or removed model"):
        api.check(renamed, budgets={"all": {"params": "1M"}}, baseline=baseline)
    grown = api.check(api.loads(TINY_YAML.replace("out: 10", "out: 11"), str(renamed)), baseline=baseline,
                      max_growth="2%")
    # 10 -> 11 classes: +33 params (32 weights, 1 bias) over 1,994 is +1.65 %, within 2 %; +32 MACs over 737,600 too
    assert grown.ok and len(grown.findings) == 5  # params, buffers, macs, flops, activations
    grown = api.check(api.loads(TINY_YAML.replace("out: 10", "out: 20"), str(renamed)), baseline=baseline,
                      max_growth="2%")
    assert [f.metric for f in grown.failed] == ["params"]  # +330 params: +16.5 %; MACs +320 over 737,600: +0.04 %


def test_the_analytic_api_never_imports_torch() -> None:
    code = (
        "import sys\nfrom convcost import api\n"
        "a = api.analyze_all('configs/inception_naive_vs_bottleneck.yaml')\n"
        "api.render(api.compare(a), 'markdown')\n"
        "api.check('configs/resnet50.yaml', budgets={'all': {'params': '30M'}})\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_convcost_torch_does_not_shadow_torch() -> None:
    torch = pytest.importorskip("torch")
    import convcost.torch

    assert sys.modules["torch"] is torch and torch is not convcost.torch
    assert "convcost" not in Path(torch.__file__).parts
    # the convcost/ folder itself on sys.path (a script run from inside it) is refused by name, not a riddle
    code = "import sys; sys.path.insert(0, 'convcost'); import torch"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 1 and "convcost/torch.py was imported as 'torch'" in out.stderr


def doc_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def _expected(comment: str) -> Any:
    """The value a doc line's comment states ('# (False, 1): why', '# 512_000: 512 · 1000'), or None."""
    text = comment.split(": ", 1)[0].strip()
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None


def test_the_examples_of_docs_api_md_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every python block of docs/api.md, in order, in one namespace (a notebook); a line `expr  # value`
    whose value is a Python literal is checked."""
    pytest.importorskip("torch")
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("CONVCOST_CACHE_DIR", str(tmp_path / "cache"))  # from_torch of a target caches its spec
    namespace: dict[str, Any] = {}
    checked = 0
    for block in doc_blocks():
        lines = block.splitlines()
        exec(compile(block, str(DOC), "exec"), namespace)
        for line in lines:
            if "  # " not in line or line.startswith((" ", "\t")):
                continue
            code, comment = line.split("  # ", 1)
            value = _expected(comment)
            if value is None or not code.strip() or "=" in code.split("(")[0]:
                continue
            assert eval(code.strip(), namespace) == value, line
            checked += 1
    assert checked >= 5  # the values stated on the page were compared
