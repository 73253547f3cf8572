"""Every tool's convention (issue 21), without torch: how a layer meets torch (the spec's `torch` key), tools' quirks
derived by hand, and `--convention` on analyze, compare, check and report (no torch imported).

Every expected number is derived by hand in a comment beside it or was measured on the real tools (the predictions
against the real tools: tests/test_convention_tools.py; the 12 torchvision models: tests/test_conventions_zoo.py).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import CONFIGS, graph_of
from typer.testing import CliRunner

from convcost.api import load_graphs
from convcost.cli import app
from convcost.costmodel.analysis import analyze
from convcost.crosscheck.counters import CONVENTIONS, choose, explain
from convcost.errors import SpecError
from convcost.graph.build import Graph
from convcost.ops.counting import counters_with_grad

runner = CliRunner()


def predicted(graph: Graph, grad: bool = False) -> dict[str, int]:
    """convcost's prediction of each tool's count ('thop') and parameter count ('thop.params')."""
    a = analyze(graph)
    with counters_with_grad(grad):
        ex = explain([(lc.node, lc.cost) for lc in a.layers], graph.batch)
    out: dict[str, int] = {}
    for c in ex.counters:
        out[c.convention.key] = c.total
        if c.params is not None:
            out[f"{c.convention.key}.params"] = c.params
    return out


# ---- the spec's `torch` key ------------------------------------------------------------------------------
def _forms(text: str) -> dict[str, str]:
    return {n.name: n.form for n in graph_of(text).nodes}


def test_layers_are_modules_unless_the_spec_says_otherwise() -> None:
    forms = _forms(
        "input: [4, 8, 8]\nlayers:\n"
        "  - conv: {out: 4, kernel: 3, padding: 1, torch: subclass}\n"
        "  - relu: {torch: function}\n"
        "  - relu\n"
    )
    assert forms == {"conv1": "subclass", "relu1": "function", "relu2": "module"}


def test_a_block_or_structure_sets_the_default_inside_where_the_op_has_that_form() -> None:
    # relu and adaptive pools have a function form; conv has none: it stays a module, silently (a default)
    text = (
        "blocks:\n  unit:\n    layers:\n      - conv: {out: 4, kernel: 1}\n      - relu\n"
        "input: [4, 8, 8]\nlayers:\n"
        "  - unit: {torch: function}\n"
        "  - residual: {body: [conv: {out: 4, kernel: 1}, relu], torch: function}\n"
        "  - global_avgpool\n"
    )
    forms = _forms(text)
    assert forms["unit1.conv1"] == "module" and forms["unit1.relu1"] == "function"
    assert forms["conv1"] == "module" and forms["relu1"] == "function"
    assert forms["add1"] == "module"  # the residual's join has no function form
    assert forms["global_avgpool1"] == "module"  # outside the structure: the model's default


@pytest.mark.parametrize("where", ["file", "model"])
def test_the_file_or_model_sets_the_default(where: str) -> None:
    layers = "    input: [4, 8, 8]\n    layers: [conv: {out: 4, kernel: 1}, relu, {relu: {torch: module}}]\n"
    if where == "file":
        text = "torch: function\nmodels:\n  m:\n" + layers
    else:
        text = "models:\n  m:\n    torch: function\n" + layers
    assert _forms(text) == {"conv1": "module", "relu1": "function", "relu2": "module"}


def test_a_layers_own_torch_key_must_name_a_form_of_its_op() -> None:
    with pytest.raises(SpecError) as e:
        graph_of("input: [4, 8, 8]\nlayers:\n  - conv: {out: 4, kernel: 1, torch: function}\n", filename="s.yaml")
    assert str(e.value) == ("s.yaml:3:38: conv 'conv1': 'torch: function' is not how conv can be built; it meets torch "
                            "as a module or a subclass")
    with pytest.raises(SpecError) as e:
        graph_of("input: [4, 8, 8]\nlayers:\n  - relu: {torch: method}\n", filename="s.yaml")
    assert str(e.value) == "s.yaml:3:19: 'torch' must be one of module, function, subclass, got 'method'"


def test_torch_takes_an_expression() -> None:
    text = ("blocks:\n  act:\n    params: {how: module}\n    layers: [relu: {torch: $how}]\n"
            "input: [4, 8, 8]\nlayers:\n  - act: {how: function}\n  - act\n")
    assert _forms(text) == {"act1.relu1": "function", "act2.relu1": "module"}


# ---- quirks, derived by hand ------------------------------------------------------------------------------------
def test_hook_counters_miss_a_subclass_and_a_function() -> None:
    g = graph_of("input: [2, 5, 5]\nlayers:\n  - conv: {out: 3, kernel: 3, torch: subclass}\n  - relu: {torch: function}\n")
    p = predicted(g)
    # conv 3×3 → 3×3×3 output: 27 positions · 2·9 weights = 486 MACs, 3 bias adds; relu 27 elements
    assert p["thop"] == 0 and p["thop.params"] == 0  # thop: neither hooked, parameters not counted either
    assert p["ptflops"] == 27  # ptflops: no hook for the subclass; F.relu once through its patched function
    assert p["torchscan"] == 486  # isinstance(nn.Conv2d): the subclass is a conv to torchscan; F.relu unseen
    assert p["calflops"] == 486 and p["calflops_flops"] == 2 * 486 + 27 + 27  # F.conv2d (+ bias), F.relu
    assert p["torchvision"] == 486 and p["ptflops_aten"] == 486 + 27  # aten.convolution with its bias


def test_torchscan_reads_an_int_kernel_as_the_whole_window() -> None:
    # MaxPool2d(3, stride=1, padding=1) on 4×6×6: 144 outputs; torchscan: out · (3 − 1) = 288, not out · (9 − 1)
    assert predicted(graph_of("input: [4, 6, 6]\nlayers:\n  - maxpool: {kernel: 3, stride: 1, padding: 1}\n"))[
        "torchscan"] == 144 * 2
    # a [3, 2] window is a tuple: prod = 6; 4·2·5 = 40 outputs · 5
    assert predicted(graph_of("input: [4, 6, 6]\nlayers:\n  - maxpool: {kernel: [3, 2], stride: [3, 1]}\n"))[
        "torchscan"] == 40 * 5


def test_calflops_counts_an_interpolate_size_without_batch_or_channels() -> None:
    g = graph_of("input: {shape: [4, 5, 5], batch: 3}\nlayers:\n  - upsample: {size: [7, 9], mode: bilinear}\n")
    assert predicted(g)["calflops_flops"] == 7 * 9  # _upsample_flops_compute: int(prod(size))


SPECS = {  # torchvision's name -> (spec file, model)
    "resnet50": ("resnet50.yaml", None),
    "mobilenet_v2": ("mobilenet_v2.yaml", None),
    "mobilenet_v3_large": ("mobilenet_v3_large.yaml", None),
    "googlenet": ("googlenet.yaml", "googlenet"),
    "efficientnet_b0": ("efficientnet_b0.yaml", None),
    "shufflenet_v2_x1_0": ("shufflenet_v2.yaml", None),
    "convnext_tiny": ("convnext_tiny.yaml", None),
    "swin_t": ("swin_t.yaml", None),
    "vit_b_16": ("vit_b_16.yaml", None),
    "regnet_y_400mf": ("regnet_y_400mf.yaml", None),
    "r3d_18": ("r3d_18.yaml", None),
    "deeplabv3_resnet50": ("deeplabv3_resnet50.yaml", "deeplabv3_resnet50"),
}


def zoo_graph(name: str) -> Graph:
    """The spec of one of the 12 torchvision models (tests/torchvision_zoo.py)."""
    path, model = SPECS[name]
    (graph,) = load_graphs(CONFIGS / path, [model] if model else None)
    return graph


# ---- the issue's numbers, measured on torchvision's models (tests/test_conventions_zoo.py runs the tools) ----------
# predicted from the specs without torch: a broken convention that the slow zoo run catches is caught here in seconds
ISSUE_NUMBERS = {
    ("mobilenet_v2", "ptflops"): 320_300_008,  # 62,720 below its value with nn.AdaptiveAvgPool2d (F.adaptive_avg_pool2d)
    ("googlenet", "ptflops"): 1_513_907_448,
    ("deeplabv3_resnet50", "ptflops"): 169_293_998_037,
    ("deeplabv3_resnet50", "thop"): 169_308_783_360,
    ("convnext_tiny", "thop.params"): 28_589_128 - 9_696,
    ("swin_t", "thop.params"): 28_288_354 - 8_667_162,
    ("vit_b_16", "thop.params"): 86_567_656 - 28_500_480,
    ("r3d_18", "thop.params"): 415_056,
    ("resnet50", "torchinfo"): 4_089_238_376,
    ("resnet50", "torchscan"): 4_111_916_032,
    ("resnet50", "calflops"): 4_089_184_256,
    ("resnet50", "ptflops_aten"): 4_089_185_256,
}


@pytest.mark.parametrize(("name", "key"), list(ISSUE_NUMBERS))
def test_the_issues_numbers(name: str, key: str) -> None:
    assert predicted(zoo_graph(name))[key] == ISSUE_NUMBERS[(name, key)]


def test_vit_with_gradients() -> None:
    pred = predicted(zoo_graph("vit_b_16"), grad=True)
    assert (pred["fvcore"], pred["flop_counter"]) == (16_867_412_736, 33_697_001_472)


# ---- --convention on the command line ---------------------------------------------------------------------
def test_analyze_convention_imports_no_torch() -> None:
    code = (
        "import sys, runpy\n"
        "for name in " + repr([c.key for c in CONVENTIONS] + ["fvcore:grad"]) + ":\n"
        "    sys.argv = ['convcost', 'analyze', 'configs/vit_b_16.yaml', '--convention', name, '-f', 'json']\n"
        "    try:\n        runpy.run_module('convcost', run_name='__main__')\n"
        "    except SystemExit as e:\n        assert not e.code, e.code\n"
        "bad = [m for m in ('torch', 'fvcore', 'ptflops', 'thop', 'torchinfo', 'torchscan', 'calflops') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=CONFIGS.parent)
    assert proc.returncode == 0, proc.stderr
    docs = [json.loads(part) for part in proc.stdout.replace("}\n{", "}\n\x00{").split("\x00")]
    # fvcore:grad, the last: torchvision's ViT-B/16 with gradients on (tests/test_conventions_zoo.py measures it)
    assert docs[-1]["models"][0]["convention"]["total"] == 16_867_412_736


def _run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return r.exit_code, r.stdout, r.stderr


def test_every_format_names_its_convention() -> None:
    spec = str(CONFIGS / "resnet50.yaml")
    code, text, _ = _run("analyze", spec, "--convention", "thop", "--depth", "1")
    assert code == 0
    # ResNet-50's thop numbers (measured on torchvision's: tests/test_conventions_zoo.py)
    assert "convention thop: thop-style (under torch.no_grad()): 4.13 G (4,133,742,592) MACs + hooks" in text
    assert "│     thop" in text.splitlines()[1]  # the column
    doc = json.loads(_run("analyze", spec, "--convention", "thop", "-f", "json")[1])
    m = doc["models"][0]
    assert (m["convention"]["name"], m["convention"]["total"], m["convention"]["params"]) == ("thop", 4_133_742_592,
                                                                                             25_557_032)
    assert m["layers"][1]["convention"] == 4 * 64 * 112 * 112  # bn1: thop's 4 per element (affine)
    assert json.loads(_run("analyze", spec, "-f", "json")[1])["models"][0]["convention"] == {"name": "convcost"}
    md = _run("analyze", spec, "--convention", "fvcore", "-f", "markdown", "--depth", "1")[1]
    assert "Counted as **fvcore (under torch.no_grad())** (convention `fvcore`): 4,111,512,576" in md
    assert "| layer | op | output | params | MACs | % MACs | fvcore |" in md
    csv = _run("analyze", spec, "--convention", "torchinfo", "-f", "csv")[1].splitlines()
    assert csv[0].endswith(",torchinfo") and csv[1].endswith(f",{64 * 3 * 7 * 7 * 112 * 112}")  # conv1: weight · positions


def test_unknown_convention_is_bad_usage() -> None:
    code, _, err = _run("analyze", str(CONFIGS / "resnet18.yaml"), "--convention", "flops")
    assert code == 2 and "unknown convention 'flops'" in err and "ptflops_aten" in err


def test_compare_and_report_name_the_convention() -> None:
    a, b = str(CONFIGS / "resnet50.yaml"), str(CONFIGS / "mobilenet_v2.yaml")
    code, text, _ = _run("compare", a, b, "--convention", "ptflops")
    assert code == 0 and "params (ptflops)" in text and "ptflops-style (under torch.no_grad())" in text
    doc = json.loads(_run("compare", a, b, "--convention", "ptflops", "-f", "json")[1])
    # torchvision's MobileNetV2 under ptflops (tests/test_conventions_zoo.py)
    assert [m["convention"]["total"] for m in doc["models"]] == [4_132_436_968, 320_300_008]
    md = _run("report", a, b, "--convention", "calflops", "--depth", "1")[1]
    assert "| calflops | params (calflops) |" in md and "counted as **calflops-style" in md


def test_a_budget_pins_a_convention(tmp_path) -> None:  # type: ignore[no-untyped-def]
    budget = tmp_path / "b.yaml"
    budget.write_text("convention: thop\nmodels:\n  resnet50: {macs: 4.13G, params: 26M}\n"
                      "  mobilenet_v2: {convention: 'fvcore:grad', flops: 315M}\n", encoding="utf-8")
    code, text, _ = _run("check", str(CONFIGS / "resnet50.yaml"), str(CONFIGS / "mobilenet_v2.yaml"), "--budget",
                         str(budget), "-v")
    assert code == 1  # thop's 4,133,742,592 is over 4.13 G; fvcore's 314,193,216 is within 315 M
    assert "error: model 'resnet50': MACs (thop) 4,133,742,592" in text
    assert "ok: model 'mobilenet_v2': FLOPs (fvcore:grad) 314,193,216" in text
    budget.write_text("models:\n  resnet50: {convention: flop_counter, params: 26M}\n", encoding="utf-8")
    code, _, err = _run("check", str(CONFIGS / "resnet50.yaml"), "--budget", str(budget))
    assert code == 2 and "FlopCounterMode prints no parameter count" in err
    budget.write_text("models:\n  resnet50: {convention: thop, activations: 40M}\n", encoding="utf-8")
    code, _, err = _run("check", str(CONFIGS / "resnet50.yaml"), "--budget", str(budget))
    assert code == 2 and f"{budget}:2:32: a budget pinned to convention 'thop'" in err
    budget.write_text("models:\n  resnet50: {convention: thopp, macs: 4G}\n", encoding="utf-8")
    code, _, err = _run("check", str(CONFIGS / "resnet50.yaml"), "--budget", str(budget))
    assert code == 2 and f"{budget}:2:26: 'convention': unknown convention 'thopp'" in err


def test_the_api_checks_in_a_convention() -> None:
    from convcost import api

    budgets = {"models": {"resnet50": {"macs": "4.12G"}}}
    assert api.check(str(CONFIGS / "resnet50.yaml"), budgets).ok  # convcost's 4,089,184,256 MACs
    result = api.check(str(CONFIGS / "resnet50.yaml"), budgets, convention="thop")
    # thop's 4,133,742,592 on torchvision's ResNet-50 (tests/test_conventions_zoo.py) is over 4.12 G
    assert not result.ok and [f.actual for f in result.failed] == [4_133_742_592]
    with pytest.raises(ValueError, match="unknown convention 'thopp'"):
        api.check(str(CONFIGS / "resnet50.yaml"), budgets, convention="thopp")


def test_growth_under_a_convention_needs_a_baseline_of_that_convention(tmp_path) -> None:  # type: ignore[no-untyped-def]
    spec = str(CONFIGS / "resnet18.yaml")
    base = tmp_path / "base.json"
    base.write_text(_run("analyze", spec, "--convention", "torchscan", "-f", "json")[1], encoding="utf-8")
    code, text, _ = _run("check", spec, "--baseline", str(base), "--convention", "torchscan", "-v")
    assert code == 0 and "MACs (torchscan)" in text and "params (torchscan)" in text
    code, _, err = _run("check", spec, "--baseline", str(base), "--convention", "thop")
    assert code == 2 and "was recorded with convention torchscan, this run checks convention thop" in err


def test_choose_reads_grad() -> None:
    assert choose("fvcore:grad").grad and not choose("fvcore").grad
    with pytest.raises(ValueError, match="unknown convention 'thop:nograd'"):
        choose("thop:nograd")


def test_pinned_budgets_read_each_model_and_block_in_its_tool() -> None:
    """A budget pinned to thop, over two models and over blocks: each model's own thop numbers (a view per model,
    not the first model's), a block's the sum of its layers' (a scope's layers start with 'body.', not 'body')."""
    from convcost import api

    net = """
blocks:
  pair:
    layers:
      - conv: {out: 8, kernel: 3, padding: 1, bias: false}
      - conv: {out: 4, kernel: 3, padding: 1, bias: false}
input: [3, 8, 8]
layers:
  - pair: {name: body}
  - conv: {name: bodyx, out: 2, kernel: 1, bias: false}
"""
    small = "input: [3, 8, 8]\nlayers:\n  - conv: {name: body, out: 4, kernel: 1, bias: false}\n"
    budgets = {"convention": "thop", "all": {"macs": 10**6, "blocks": {"body": {"macs": 10**6, "params": 10**6}}}}
    result = api.check([api.loads(net, "n.yaml"), api.loads(small, "s.yaml")], budgets=budgets)
    found = [(f.model, f.block, f.metric, f.actual) for f in result.findings]
    # n: thop counts conv MACs: 8·8·8·27 + 8·8·4·72 + 8·8·2·4 = 13,824 + 18,432 + 512; body: the first two,
    # params 8·3·9 + 4·8·9 = 216 + 288 (not bodyx's 8). s: one conv, 8·8·4·3 = 768 MACs, 4·3 = 12 params
    assert found == [
        ("n", None, "macs", 13_824 + 18_432 + 512), ("n", "body", "macs", 13_824 + 18_432), ("n", "body", "params", 504),
        ("s", None, "macs", 768), ("s", "body", "macs", 768), ("s", "body", "params", 12),
    ]
