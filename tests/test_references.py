"""Graphs beyond chains and branches: 'from:' references to earlier outputs, joins of named outputs,
models with several named inputs and outputs (configs/fpn_neck.yaml), numeric layer names."""

from __future__ import annotations

import csv
import io
import json

import pytest
from conftest import CONFIGS, analysis_of, graph_of
from typer.testing import CliRunner

from convcost.cli import app
from convcost.errors import SpecError

runner = CliRunner()
FPN = CONFIGS / "fpn_neck.yaml"


def error_of(text: str) -> str:
    with pytest.raises(SpecError) as e:
        graph_of(text)
    return str(e.value)


# ---- references ----------------------------------------------------------------------------------
def test_from_reads_an_earlier_output_and_the_flow_continues_from_there() -> None:
    g = graph_of(
        "input: [3, 8, 8]\nlayers:\n"
        "  - conv: {name: a, out: 4, kernel: 1}\n"
        "  - conv: {name: b, out: 6, kernel: 1}\n"
        "  - conv: {name: c, from: a, out: '${in_channels * 2}', kernel: 1}\n"  # in_channels: a's 4, not b's 6
        "  - relu\n"
    )
    by = {n.name: n for n in g.nodes}
    assert by["c"].inputs == (by["a"].index,)
    assert by["c"].shape == (8, 8, 8)
    assert by["relu1"].inputs == (by["c"].index,)
    assert g.output.name == "relu1"


def test_names_resolve_from_the_current_scope_outwards_and_as_full_paths() -> None:
    g = graph_of(
        "blocks:\n  b:\n    layers:\n"
        "      - conv: {name: x, out: 4, kernel: 1}\n"
        "      - conv: {name: y, out: 4, kernel: 1}\n"
        "      - add: {from: [x, y]}\n"  # the block's own x and y
        "input: [4, 8, 8]\nlayers:\n"
        "  - conv: {name: x, out: 4, kernel: 1}\n"
        "  - b: {name: one}\n"
        "  - add: {from: [x, one.y, one]}\n"  # the top-level x, a layer inside a block, a block's output
    )
    by = {n.name: n.index for n in g.nodes}
    assert g.nodes[by["one.add1"]].inputs == (by["one.x"], by["one.y"])
    assert g.nodes[by["add1"]].inputs == (by["x"], by["one.y"], by["one.add1"])
    # 3 inputs of 4×8×8: 2 extra per output element
    assert analysis_of_graph_total_elementwise(g, "add1") == 2 * 4 * 8 * 8


def analysis_of_graph_total_elementwise(g, name: str) -> int:  # type: ignore[no-untyped-def]
    from convcost.costmodel.analysis import analyze

    return next(lc.cost.elementwise_ops for lc in analyze(g).layers if lc.node.name == name)


def test_star_reads_every_iteration_of_a_repeat_in_order() -> None:
    g = graph_of(
        "input: [4, 8, 8]\nlayers:\n"
        "  - conv: {name: m, repeat: 3, out: 4, kernel: 3, padding: 1}\n"
        "  - concat: {name: cat, from: [m.*]}\n"
    )
    by = {n.name: n.index for n in g.nodes}
    assert g.nodes[by["cat"]].inputs == (by["m.0"], by["m.1"], by["m.2"])
    assert g.nodes[by["cat"]].shape == (12, 8, 8)


def test_numeric_names_like_torch_sequential() -> None:
    g = graph_of(
        "input: [3, 8, 8]\nlayers:\n"
        "  - seq: {name: features, layers: [{conv: {name: 0, out: 4, kernel: 3}}, {relu: {name: 1}}]}\n"
        "  - add: {name: 2, from: [features.0, features.1]}\n"
    )
    assert [n.name for n in g.nodes] == ["features.0", "features.1", "2"]


def test_a_skipped_layer_may_name_an_output_that_does_not_exist() -> None:
    g = graph_of("input: [3, 8, 8]\nlayers:\n  - relu\n  - conv: {from: nowhere, out: 4, kernel: 1, when: false}\n")
    assert [n.name for n in g.nodes] == ["relu1"]


# ---- errors ----------------------------------------------------------------------------------------
def test_unknown_name_suggests_a_close_one() -> None:
    msg = error_of("input: [3, 8, 8]\nlayers:\n  - conv: {name: stem, out: 4, kernel: 1}\n  - relu: {from: stme}\n")
    assert msg == ("t.yaml:4:18: unknown name 'stme' in 'from' (did you mean 'stem'?); "
                   "it must name an earlier layer or input")


def test_forward_reference_says_where_the_name_is_defined() -> None:
    msg = error_of(
        "input: [3, 8, 8]\nlayers:\n  - relu: {from: later}\n  - conv: {name: later, out: 4, kernel: 1}\n"
    )
    assert msg == ("t.yaml:3:18: 'later' refers forward: it is defined at line 4, after this layer; "
                   "a layer can read only the outputs of layers before it")


def test_reading_the_scope_being_built_is_an_error() -> None:
    msg = error_of("input: [3, 8, 8]\nlayers:\n  - seq: {name: s, layers: [relu, {relu: {from: s}}]}\n")
    assert "'s' is still being built here" in msg


def test_join_shape_mismatch_names_both_producers() -> None:
    msg = error_of(
        "input: [3, 8, 8]\nlayers:\n"
        "  - conv: {name: a, out: 4, kernel: 1}\n"
        "  - conv: {name: b, out: 4, kernel: 1, stride: 2}\n"
        "  - concat: {from: [a, b]}\n"
    )
    assert msg == ("t.yaml:5:5: concat 'concat1': cannot concat 'a' (4×8×8) with 'b' (4×4×4): "
                   "all branches must have the same H×W")


ONE_INPUT = ("give 'from' one name (a list is read by concat, add, multiply, div, einsum, eq, ge, grid_sample, gt, le, "
             "lt, matmul, maximum, minimum, ne, pow, scaled_dot_product_attention, stack, sub, where)")


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ("relu: {from: [a, b]}", f"t.yaml:4:18: 'relu' reads one input: {ONE_INPUT}"),
        ("concat: {from: [a]}", "t.yaml:4:20: 'concat' needs at least two outputs to join, got 1"),
        ("concat: {from: [a, a], branches: [[relu], [relu]]}",
         "t.yaml:4:20: 'concat' joins either its 'branches' or a 'from' list of earlier outputs, not both"),
        ("relu: {from: {x: 1}}",
         "t.yaml:4:18: 'from' must name an earlier output (a dotted path as `analyze` shows it), got a mapping"),
        ("concat: {from: [a.*, a]}", "t.yaml:4:21: 'a.*' reads every iteration of a repeat, but 'a' has none ('a.0' ...)"),
        ("concat", "t.yaml:4:5: 'concat' needs its layers, e.g. 'concat: [...]'"),
        ("concat: {name: x}",
         "t.yaml:4:5: 'concat' needs 'branches' (or a 'from' list of earlier outputs to join, e.g. 'from: [p4, up]')"),
    ],
)
def test_from_errors(layer: str, message: str) -> None:
    assert error_of(f"input: [3, 8, 8]\nlayers:\n  - conv: {{name: a, out: 4, kernel: 1}}\n  - {layer}\n") == message


def test_several_inputs_and_outputs_errors() -> None:
    base = "inputs: {a: [3, 8, 8], b: [3, 8, 8]}\n"
    assert error_of(base + "outputs: [relu1, nope]\nlayers: [relu]\n").startswith("t.yaml:2:18: unknown name 'nope' in 'output'")
    assert error_of(base + "outputs: [a]\nlayers: [relu]\n") == (
        "t.yaml:2:11: output 'a' is an input of the model; outputs are layers"
    )
    assert error_of(base + "outputs: [relu1, relu1]\nlayers: [relu]\n") == (
        "t.yaml:2:18: output 'relu1' is listed twice (first at line 2)"
    )
    assert error_of(base + "layers: [{relu: {name: a}}]\n") == "t.yaml:2:24: duplicate layer name 'a' (first used at line 1)"
    assert error_of("input: [3, 8, 8]\ninputs: {a: [3, 8, 8]}\nlayers: [relu]\n") == (
        "t.yaml:2:1: model 't' has both 'input' and 'inputs'; use 'input' for one input, 'inputs' to name several"
    )
    assert error_of("inputs: {a: {shape: [3, 8, 8], batch: 2}, b: {shape: [3, 8, 8], batch: 3}}\nlayers: [relu]\n") == (
        "t.yaml:1:72: input 'b' has batch 3, input 'a' has 2; inputs share one batch"
    )


# ---- a model with three inputs and three outputs: the FPN neck ----------------------------------------
def test_fpn_neck_against_a_reference_torch_module() -> None:
    torch = pytest.importorskip("torch")
    from torch import nn
    from torch.nn import functional as F
    from torch.utils.flop_counter import FlopCounterMode

    from convcost.api import load_graphs
    from convcost.costmodel.analysis import analyze

    class Pyramid(nn.Module):  # torchvision's FeaturePyramidNetwork, without norm layers or extra blocks
        def __init__(self, in_channels: list[int], out: int) -> None:
            super().__init__()
            self.inner = nn.ModuleList(nn.Conv2d(c, out, 1) for c in in_channels)
            self.layer = nn.ModuleList(nn.Conv2d(out, out, 3, padding=1) for _ in in_channels)

        def forward(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
            last = self.inner[-1](xs[-1])
            results = [self.layer[-1](last)]
            for i in range(len(xs) - 2, -1, -1):
                lateral = self.inner[i](xs[i])
                last = lateral + F.interpolate(last, size=lateral.shape[-2:], mode="nearest")
                results.insert(0, self.layer[i](last))
            return tuple(results)

    (g,) = load_graphs(FPN)
    ref = Pyramid([512, 1024, 2048], 256)
    xs = [torch.zeros(1, *i.shape, device="meta") for i in g.inputs]
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        outs = ref.to("meta")(*xs)
    total = analyze(g).total
    assert total.params == sum(p.numel() for p in ref.parameters())
    assert total.macs == counter.get_total_flops() // 2 == 1_468_006_400 + 4_954_521_600  # configs/fpn_neck.yaml
    assert [tuple(o.shape) for o in outs] == [(1, *n.shape) for n in g.output_nodes]
    assert [n.name for n in g.output_nodes] == ["p3", "p4", "p5"]


def test_fpn_neck_verifies_with_every_input_and_output() -> None:
    result = runner.invoke(app, ["verify", str(FPN), "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)["models"][0]
    assert doc["ok"] is True
    assert [i["name"] for i in doc["inputs"]] == ["c3", "c4", "c5"]
    assert [o["name"] for o in doc["outputs"]] == ["p3", "p4", "p5"]


def test_fpn_neck_in_every_format() -> None:
    out = runner.invoke(app, ["analyze", str(FPN), "-f", "json"])
    doc = json.loads(out.stdout)["models"][0]
    assert doc["inputs"] == [
        {"name": "c3", "shape": [1, 512, 80, 80]}, {"name": "c4", "shape": [1, 1024, 40, 40]},
        {"name": "c5", "shape": [1, 2048, 20, 20]},
    ]
    assert doc["outputs"] == [
        {"name": "p3", "shape": [1, 256, 80, 80]}, {"name": "p4", "shape": [1, 256, 40, 40]},
        {"name": "p5", "shape": [1, 256, 20, 20]},
    ]
    assert doc["input"] == [1, 512, 80, 80] and doc["output"] == [1, 256, 80, 80]  # the first of each, as before
    layers = {la["name"]: la for la in doc["layers"]}
    assert layers["merged4"]["inputs"] == ["lateral4", "top_down5"]
    assert layers["lateral5"]["inputs"] == ["c5"]

    rows = list(csv.DictReader(io.StringIO(runner.invoke(app, ["analyze", str(FPN), "-f", "csv"]).stdout)))
    assert {r["layer"] for r in rows if r["model_output"] == "1"} == {"p3", "p4", "p5"}
    assert next(r for r in rows if r["layer"] == "merged3")["inputs"] == "lateral3 top_down4"

    table = runner.invoke(app, ["analyze", str(FPN)]).stdout
    assert table.splitlines()[0].startswith(
        "fpn_neck: c3 1×512×80×80, c4 1×1024×40×40, c5 1×2048×20×20 → p3 1×256×80×80, p4 1×256×40×40, p5 1×256×20×20"
    )
    md = runner.invoke(app, ["analyze", str(FPN), "-f", "markdown"]).stdout
    assert "Inputs c3 1×512×80×80, c4 1×1024×40×40, c5 1×2048×20×20 → outputs p3 1×256×80×80," in md

    report = runner.invoke(app, ["report", str(FPN)]).stdout
    for box in ('n_input_c3["input c3 1×512×80×80"]', 'n_output_p5["output p5 1×256×20×20"]'):
        assert box in report
    assert "n_input_c5 --> n_lateral5" in report and "n_p3 --> n_output_p3" in report


def test_memory_keeps_every_input_and_output_alive() -> None:
    from convcost.costmodel.memory import activation_memory

    a = analysis_of(
        "inputs: {a: [1, 10, 10], b: [1, 10, 10]}\noutputs: [x, y]\nlayers:\n"
        "  - relu: {name: x, from: a}\n  - relu: {name: y, from: b}\n"
    )
    m = activation_memory(a.graph, 4)
    # both inputs (100 floats each) are held by the caller, and x is returned: all four at y
    assert m.peak_bytes == 4 * 4 * 100
    assert m.live_at_peak == ("b", "a", "x", "y")
