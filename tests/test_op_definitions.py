"""Each op is one definition (convcost/ops/): everything else reads it.

A toy op registered here, and nowhere else, works end to end: analyze (table and JSON), verify
(its built module against fvcore and FlopCounterMode), verify --explain, the memory/roofline model
and the markdown report. The other tests check that a definition cannot leave a fact out, that the
derived lists follow the definitions, and that docs/spec.md's op table is the generated one.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import graph_of
from typer.testing import CliRunner

from convcost.cli import app
from convcost.cost import Backward, Cost
from convcost.ops import REGISTRY
from convcost.ops.counting import Counted, Counting, Prediction
from convcost.ops.grad import Need
from convcost.ops.receptive import windows
from convcost.ops.registry import NoArgs, NodeLike, OpRule, Saves, Shape, arg, pos_int, register, unregister
from convcost.render import ops_table

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


# ---- the toy op: channel mixing (a 1×1 conv without bias), defined here only --------------------------
@dataclass(frozen=True)
class MixArgs:
    out: int = field(metadata=arg(pos_int, "output channels"))


def _mix_shape(a: MixArgs, inputs: tuple[Shape, ...]) -> Shape:
    return (a.out, *inputs[0][1:])


def _mix_cost(a: MixArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
    c, h, w = inputs[0]
    return Cost(params=c * a.out, macs=batch * h * w * c * a.out, activations=batch * a.out * h * w)


def _mix_build(node: NodeLike):  # type: ignore[no-untyped-def]
    from torch import nn

    return nn.Conv2d(node.in_shapes[0][0], node.args.out, 1, bias=False)


def _mix_backward(a: MixArgs, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
    macs = _mix_cost(a, inputs, out, batch).macs  # g·W for the input, xᵀ·g for the weight: the forward's MACs each
    return Backward(input_macs=macs if need.any_input else 0, weight_macs=macs if need.weights else 0)


def _macs(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    return Prediction.of(mix=cost.macs)


MIX = OpRule(
    "mix", MixArgs, "conv", _mix_shape, _mix_cost, "Toy channel mixing.",
    build=_mix_build,
    saves=Saves.INPUTS,
    backward=_mix_backward,
    rf=windows((1, 1), (1, 1), (0, 0)),
    counting=Counting(
        "aten::_convolution", "nn.Conv2d",
        fvcore=Counted(_macs),
        flop_counter=Counted(lambda node, cost, batch: Prediction.of(mix=2 * cost.macs), "toy: 2 FLOPs per MAC"),
        ptflops=Counted(_macs),
        thop=Counted(_macs),
    ),
)
SPEC = "input: [4, 6, 6]\nlayers:\n  - mix: {out: 3}\n"
MACS = 6 * 6 * 4 * 3  # H·W · C_in · C_out = 432


@pytest.fixture
def toy(tmp_path: Path) -> Iterator[str]:
    register(MIX)
    path = tmp_path / "toy.yaml"
    path.write_text(SPEC)
    try:
        yield str(path)
    finally:
        unregister("mix")
    assert "mix" not in REGISTRY


def test_toy_op_analyze_table_and_json(toy: str) -> None:
    table = runner.invoke(app, ["analyze", toy])
    assert table.exit_code == 0, table.output
    assert "mix1  │ mix │  3×6×6 │     12 │  432 │ 100.0%" in table.stdout  # params 4·3 = 12
    doc = json.loads(runner.invoke(app, ["analyze", toy, "-f", "json"]).stdout)
    (layer,) = doc["models"][0]["layers"]
    assert (layer["op"], layer["category"], layer["params"], layer["macs"]) == ("mix", "conv", 4 * 3, MACS)
    assert layer["flops"] == 2 * MACS


def test_toy_op_is_listed_by_convcost_ops(toy: str) -> None:
    result = runner.invoke(app, ["ops"])
    assert result.exit_code == 0
    assert any(line.split()[0] == "mix" and "Toy channel mixing." in line for line in result.stdout.splitlines())
    assert "| `mix` | conv | `out`: output channels | Toy channel mixing. |" in ops_table.markdown()


def test_toy_op_memory_and_roofline(toy: str) -> None:
    result = runner.invoke(app, ["roofline", toy, "-f", "json"])
    assert result.exit_code == 0, result.output
    mem = json.loads(result.stdout)["models"][0]["memory"]
    assert mem["input_bytes"] == 4 * 6 * 6 * 4  # fp32 input read once
    assert mem["weight_bytes"] == 4 * 3 * 4
    assert mem["output_bytes"] == 3 * 6 * 6 * 4
    assert mem["training_saved_bytes"] == 4 * 6 * 6 * 4  # saves = INPUTS: the input, nothing else


def test_toy_op_markdown_report(toy: str) -> None:
    result = runner.invoke(app, ["report", toy])
    assert result.exit_code == 0, result.output
    assert "| mix | conv | 1 | 12 | 432 | 864 | 100.0\u00a0% | 100.0\u00a0% |" in result.stdout  # no-break spaces


def test_toy_op_verify_builds_it_and_both_counters_agree(toy: str) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("fvcore")
    result = runner.invoke(app, ["verify", toy, "-f", "json"])
    assert result.exit_code == 0, result.output
    (layer,) = json.loads(result.stdout)["models"][0]["layers"]
    checks = layer["checks"]
    assert {k: c["status"] for k, c in checks.items()} == dict.fromkeys(
        ("shape", "params", "buffers", "fvcore", "flop_counter"), "ok"
    )
    assert checks["fvcore"]["actual"] == MACS  # fvcore: one flop per MAC
    assert checks["flop_counter"]["actual"] == 2 * MACS  # FlopCounterMode: 2 FLOPs per MAC
    assert checks["params"]["actual"] == 4 * 3


def test_toy_op_verify_explain(toy: str) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("fvcore")
    result = runner.invoke(app, ["verify", toy, "--explain"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "+432 mix (toy: 2 FLOPs per MAC)" in result.stdout
    doc = json.loads(runner.invoke(app, ["verify", toy, "--explain", "-f", "json"]).stdout)
    totals = {c["key"]: c["predicted_total"] for c in doc["models"][0]["explain"]["counters"]}
    # the other tools' conventions (torchinfo, calflops...) are listed too; tests/test_convention_tools.py runs them
    assert {k: totals[k] for k in ("fvcore", "flop_counter", "ptflops", "thop")} == {
        "fvcore": MACS, "flop_counter": 2 * MACS, "ptflops": MACS, "thop": MACS}


def test_toy_op_conventions_match_ptflops_and_thop(toy: str) -> None:
    """The toy's modelled ptflops/thop conventions hold for the module it builds (a bias-free 1×1 conv)."""
    pytest.importorskip("torch")
    ptflops = pytest.importorskip("ptflops")
    thop = pytest.importorskip("thop")
    from convcost.crosscheck.torch_build import build_model, example_input

    graph = graph_of(SPEC)
    macs, _ = ptflops.get_model_complexity_info(
        build_model(graph), (4, 6, 6), as_strings=False, print_per_layer_stat=False, verbose=False, backend="pytorch"
    )
    assert macs == MACS
    thop_macs, _ = thop.profile(build_model(graph), inputs=(example_input(graph),), verbose=False)
    assert thop_macs == MACS


# ---- a definition cannot leave a fact out ----------------------------------------------------------
@pytest.mark.parametrize("missing", ["build", "saves", "counting", "backward", "rf"])
def test_an_incomplete_definition_is_refused(missing: str) -> None:
    incomplete = dataclasses.replace(MIX, name="half", **{missing: None})
    with pytest.raises(ValueError, match=rf"op 'half': its definition lacks {missing}"):
        register(incomplete)
    assert "half" not in REGISTRY


def test_a_spelling_is_taken_once() -> None:
    # 'deconv' is conv_transpose's (its definition lists it); a second op cannot claim it, nor an op's name
    for spelling in ("deconv", "conv"):
        with pytest.raises(ValueError, match=rf"the spelling '{spelling}' is already taken"):
            register(dataclasses.replace(MIX, name="half", spellings=(spelling,)))
        assert "half" not in REGISTRY


def test_a_spelling_names_the_op_in_the_error(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text("input: [4, 8, 8]\nlayers:\n  - Layer_Norm\n")
    r = runner.invoke(app, ["analyze", str(spec)])
    assert r.exit_code == 2 and "unknown op 'Layer_Norm': convcost calls it 'layernorm'" in r.output


def test_every_registered_op_is_complete() -> None:
    for name, rule in REGISTRY.items():
        assert callable(rule.build), name
        assert isinstance(rule.saves, Saves) or callable(rule.saves), name
        c = rule.counting
        assert c.category and c.module, name
        for counted in (c.fvcore, c.flop_counter, c.ptflops, c.thop):
            assert callable(counted.predict), name


def test_counting_category_defaults_to_the_op_name() -> None:
    rule = register(dataclasses.replace(MIX, name="mix2", counting=Counting(None, "nn.Identity")))
    try:
        assert REGISTRY["mix2"].counting.category == "mix2"
        assert rule.counting.category == "mix2"
    finally:
        unregister("mix2")


# ---- lists derived from the definitions ----------------------------------------------------------------
def test_dwsep_takes_every_registered_activation() -> None:
    """The activation after a dwsep's convs: any activation a definition registers (leaky_relu and
    hardsigmoid were missing from the old hand-kept list)."""
    for act in ("leaky_relu", "hardsigmoid"):
        g = graph_of(f"input: [2, 5, 5]\nlayers:\n  - dwsep: {{out: 4, act: {act}}}\n")
        assert [n.op for n in g.nodes] == ["conv", act, "conv", act]
        assert g.nodes[1].args == REGISTRY[act].args()  # its default arguments (leaky_relu: slope 0.01)


def test_dwsep_act_accepts_a_toy_activation_registered_later() -> None:
    relu = REGISTRY["relu"]
    register(dataclasses.replace(relu, name="toy_act", aliases=()))
    try:
        g = graph_of("input: [2, 5, 5]\nlayers:\n  - dwsep: {out: 4, act: toy_act}\n")
        assert [n.op for n in g.nodes] == ["conv", "toy_act", "conv", "toy_act"]
    finally:
        unregister("toy_act")


def test_unknown_dwsep_activation_lists_the_registered_ones() -> None:
    from convcost.errors import SpecError

    with pytest.raises(SpecError, match=r"'act' must be one of relu, relu6, leaky_relu, .*tanh, .*softmax, got 'foo'"):
        graph_of("input: [2, 5, 5]\nlayers:\n  - dwsep: {out: 4, act: foo}\n")


# ---- docs ------------------------------------------------------------------------------------------------
def test_spec_md_op_table_is_generated_from_the_definitions() -> None:
    doc = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
    assert ops_table.embedded(doc) == ops_table.markdown(), (
        "docs/spec.md's op table is stale: run `python -m convcost.render.ops_table docs/spec.md`"
    )


def test_op_table_rows_cover_every_op_and_macro() -> None:
    from convcost.ops.macros import MACROS

    table = ops_table.markdown()
    for name in [*REGISTRY, *MACROS]:
        assert f"| `{name}`" in table


def test_with_table_replaces_only_between_the_markers() -> None:
    doc = f"before\n{ops_table.BEGIN}\nold table\n{ops_table.END}\nafter\n"
    new = ops_table.with_table(doc)
    assert new.startswith(f"before\n{ops_table.BEGIN}\n\n| op |") and new.endswith(f"|\n\n{ops_table.END}\nafter\n")
    assert ops_table.embedded(new) == ops_table.markdown()
    with pytest.raises(ValueError, match="no op-table markers"):
        ops_table.with_table("no markers")


def test_noargs_ops_show_a_dash() -> None:
    assert ops_table.documented_args(NoArgs) == "—"
    assert ops_table.compact_args(NoArgs) == "—"


# ---- --explain reads its categories and reasons from the definitions ----------------------------------
def _explain(text: str) -> dict[str, object]:
    from convcost.costmodel.analysis import analyze
    from convcost.crosscheck.counters import explain

    g = graph_of(text)
    ex = explain([(lc.node, lc.cost) for lc in analyze(g).layers], g.batch)
    return {c.convention.key: c for c in ex.counters}


def test_explain_names_categories_like_the_aten_ops() -> None:
    counters = _explain(
        "input: [2, 3, 3]\nlayers:\n  - concat: [[relu], [bn]]\n  - gate: [global_avgpool]\n  - maxpool: {kernel: 3}\n"
    )
    fvcore = counters["fvcore"]
    # relu, torch.cat, the gate's multiply and maxpool: unseen by fvcore, under the names counters use
    assert fvcore.unseen == {"relu": 1, "cat": 1, "mul": 1, "max_pool": 1}  # type: ignore[attr-defined]
    assert set(fvcore.parts) == {"batch_norm", "adaptive_avg_pool"}  # type: ignore[attr-defined]


def test_explain_gives_the_shared_bias_reason_once() -> None:
    from convcost.ops.counting import PTFLOPS_BIAS_WHY

    counters = _explain("input: [2, 3, 3]\nlayers:\n  - conv: {out: 4, kernel: 1}\n  - flatten\n  - linear: {out: 5}\n")
    (bias,) = [d for d in counters["ptflops"].differences if d.category == "bias"]  # type: ignore[attr-defined]
    assert bias.delta == 3 * 3 * 4 + 5  # conv: one add per output element; linear: one per output feature
    assert bias.why == PTFLOPS_BIAS_WHY
