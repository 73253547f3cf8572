"""`verify --reference`'s report, every field of it: the totals (agreeing, differing, on the meta device, for a model
of two inputs), the pairs of layers (with weights, without, a tensor of the model itself, one module holding two
layers' weights), and what a part of the model convcost cannot read is compared with.

Written for issue 19's mutation run (docs/testing.md): reference.py's ``_group_unit`` had no test, and mutants that
left a field out of a unit or a check, changed a message, or dropped a line of what was not compared survived the
tests that read statuses only. The models are tests/reference_unread_nets.py's. Numbers: counted by hand beside them,
or measured on the model by torch and the real fvcore.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convcost.cli import app

torch = pytest.importorskip("torch")
pytest.importorskip("fvcore")

import reference_unread_nets as nets  # noqa: E402
from conftest import graph_of  # noqa: E402

from convcost.crosscheck.reference import Unit  # noqa: E402

NETS = Path(__file__).resolve().parent / "reference_unread_nets.py"
runner = CliRunner()

HEAD = """\
input: [3, 8, 8]
layers:
  - conv: {name: stem, out: 8, kernel: 3, padding: 1}
"""
TAIL = "  - conv: {name: out, out: 4, kernel: 1}\n"
CONV3 = "  - conv: {{name: {name}, out: 8, kernel: 3, padding: 1}}\n"
CONV3_PARAMS = 8 * 8 * 3 * 3 + 8  # 584
CONV3_MACS = 8 * 8 * 8 * 8 * 3 * 3  # 36,864: H·W·C_out·C_in·k·k (FlopCounterMode: 2 FLOPs each, the bias not counted)
CONV1_PARAMS = 8 * 8 + 8  # 72
CONV1_MACS = 8 * 8 * 8 * 8  # 4,096
BN_PARAMS, BN_BUFFERS = 2 * 8, 8 + 8 + 1  # weight, bias; running mean, running var, num_batches_tracked


def run(tmp_path: Path, spec: str, factory: str) -> tuple[int, dict]:
    path = tmp_path / "spec.yaml"
    path.write_text(spec)
    r = runner.invoke(app, ["verify", str(path), "--reference", f"{NETS}:{factory}", "-f", "json"])
    assert r.exit_code in (0, 1), r.output
    return r.exit_code, json.loads(r.stdout)["models"][0]


def unit(u: dict | None) -> tuple | None:
    return None if u is None else (u["name"], u["kind"], u["shape"], u["params"], u["buffers"], u["macs"])


def checks(pair: dict) -> dict:
    return {k: (c["status"], c["spec"], c["reference"], c["reason"]) for k, c in pair["checks"].items()}


def by_spec(doc: dict, name: str) -> dict:
    return next(p for p in doc["layers"] if p["spec"] and p["spec"]["name"].split(" ")[0] == name)


def test_spec_layers_a_part_stands_for_are_added_up() -> None:
    """reference.py's _group_unit, called on the spec's own steps: what a part of the model convcost cannot read is
    compared with (verify --reference reaches it through a region of the model the importer cannot read, e.g.
    torchvision's ShiftedWindowAttention before the importer read it whole: tests/test_reference_swin.py)."""
    from convcost.costmodel.analysis import analyze
    from convcost.crosscheck.reference import _group_unit, _SpecRun
    from convcost.crosscheck.steps import side

    graph = graph_of(HEAD + CONV3.format(name="a") + "  - bn: {name: b}\n" + TAIL)
    _, a, b, out = side(graph).steps
    run = _SpecRun(0, {"stem": 2 * 8 * 8 * 8 * 3 * 9, "a": 2 * CONV3_MACS, "out": 2 * 8 * 8 * 4 * 8})  # FLOPs, 2 per MAC
    analysis = analyze(graph)
    assert _group_unit((a, b), analysis, run) == Unit("a (+1 more)", "conv", "conv", None, CONV3_PARAMS + BN_PARAMS,
                                                      BN_BUFFERS, CONV3_MACS)  # bn: no FLOPs FlopCounterMode counts
    assert _group_unit((a,), analysis, run) == Unit("a", "conv", "conv", (1, 8, 8, 8), CONV3_PARAMS, 0, CONV3_MACS)
    assert _group_unit((b, out), analysis, run) == Unit("b (+1 more)", "batchnorm", "batchnorm", None,
                                                        BN_PARAMS + 8 * 4 + 4, BN_BUFFERS, 8 * 8 * 4 * 8)
    relu = side(graph_of("input: [3, 8, 8]\nlayers:\n  - relu\n  - maxpool: {kernel: 2}\n")).steps
    assert _group_unit(relu, analyze(graph_of("input: [3, 8, 8]\nlayers:\n  - relu\n  - maxpool: {kernel: 2}\n")),
                       _SpecRun(0, {})) == Unit("relu1 (+1 more)", "relu", "relu", None, None, None, None)  # no weights


def test_a_chain_of_parts_convcost_cannot_read_adds_their_counts() -> None:
    """reference.py's _model_unit on a model step standing for a chain of parts (their names in ``parts``): the
    modules' parameters, buffers and FlopCounterMode MACs added up; a function among them counts nothing."""
    import dataclasses

    from convcost.crosscheck.reference import _model_unit, _Run
    from convcost.crosscheck.steps import side

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.Conv2d(8, 4, 1))
    (step, *_) = side(graph_of(HEAD)).steps
    run = _Run(((1, 4, 8, 8),), 0, {"0": 2 * 8 * 8 * 8 * 3 * 9, "2": 2 * 8 * 8 * 4 * 8}, {"0": (1, 8, 8, 8)})
    chain = dataclasses.replace(step, name="0 … 2", kind="Conv2d", parts=("0", "1", "roll", "2"))
    stem_params, bn_params, out_params = 3 * 9 * 8 + 8, 2 * 8, 8 * 4 + 4  # 224, 16, 36
    assert _model_unit(chain, model, run, 1) == Unit("0 … 2", "Conv2d", "conv", None, stem_params + bn_params + out_params,
                                                     BN_BUFFERS, 8 * 8 * 8 * 3 * 9 + 8 * 8 * 4 * 8)
    functions = dataclasses.replace(chain, parts=("roll", "flip"))  # nothing of the model's own: no counts at all
    assert _model_unit(functions, model, run, 1) == Unit("0 … 2", "Conv2d", "conv", None, None, None, None)
    # one module whole: its own counts and the shape its forward measured
    whole = dataclasses.replace(step, name="0", kind="Conv2d")
    assert _model_unit(whole, model, run, 1) == Unit("0", "Conv2d", "conv", (1, 8, 8, 8), stem_params, 0, 8 * 8 * 8 * 3 * 9)


def test_what_was_not_compared_is_listed_once_per_part() -> None:
    """reference.py's _not_compared: a part paired with spec layers by its counts only, one with one spec layer, a
    part the spec has nothing for, a spec layer inside a part (on the part's line only), the importer's findings
    outside the parts, and why the model was not read at all."""
    from convcost.crosscheck.counters import Status
    from convcost.crosscheck.reference import Pair, _not_compared, _Structure
    from convcost.crosscheck.verify import Check

    def unit(name: str, kind: str) -> Unit:
        return Unit(name, kind, "conv", None, None, None, None)

    unread = {"op": Check("conv", None, Status.NOT_COMPARED, "convcost cannot read it: torch.roll")}
    pairs = (
        Pair(unit("a (+1 more)", "conv"), unit("blocks.0", "Rolled"), unread, ("a", "b")),
        Pair(unit("c", "conv"), unit("blocks.1", "Rolled"), unread, ("c",)),
        Pair(None, unit("blocks.2", "Rolled"), unread),
        Pair(unit("b", "batchnorm"), None, {"op": Check("batchnorm", None, Status.NOT_COMPARED, "part of it")}),
        Pair(unit("d", "conv"), unit("d", "Conv2d"), {"op": Check("conv", "conv", Status.OK)}),
        Pair(None, unit("blocks.2", "Rolled"), unread),  # the same line again: listed once
    )
    assert _not_compared(_Structure(None, None, None, ""), pairs) == (
        "model 'blocks.0' (Rolled), paired with spec layers 'a' … 'b' (2) by its counts only: convcost cannot read it: "
        "torch.roll",
        "model 'blocks.1' (Rolled), paired with spec layer 'c' (conv) by its counts only: convcost cannot read it: "
        "torch.roll",
        "model 'blocks.2' (Rolled): convcost cannot read it: torch.roll",
    )
    assert _not_compared(_Structure(None, None, None, "the importer reads models with one input; the spec has 2"), ()) \
        == ("the model's layers: the importer reads models with one input; the spec has 2",)


def test_one_module_holding_two_layers_weights_is_compared_with_them_together(tmp_path: Path) -> None:
    """timm's ResMLP Affine (tests/import_factories.py): torch.addcmul(beta, alpha, x) in one module, imported as a
    multiply by alpha ('norm1') and an add of beta ('norm1_1'), 8 params each: the module's 16 are compared with the
    two layers' together on the first, and the second says where its count went."""
    factories = Path(__file__).resolve().parent / "import_factories.py"
    spec = tmp_path / "affine.yaml"
    r = runner.invoke(app, ["import", f"{factories}:affine_mlp", "--input", "3,8,8", "-o", str(spec)])
    assert r.exit_code == 0, r.output
    v = runner.invoke(app, ["verify", str(spec), "--reference", f"{factories}:affine_mlp", "-f", "json"])
    assert v.exit_code == 0, v.output
    doc = json.loads(v.stdout)["models"][0]
    pairs = {p["spec"]["name"]: checks(p) for p in doc["layers"] if p["spec"] and p["spec"]["name"].startswith("norm")}
    together = "the model's '{0}' holds the weights of '{0}', '{0}_1'"
    for module in ("norm1", "norm"):
        assert pairs[module]["params"] == ("ok", 8 + 8, 16, "")  # alpha and beta, [1, 1, 8] each
        assert pairs[module]["buffers"] == pairs[module]["macs"] == ("ok", 0, 0, "")
        why = f"counted with '{module}': " + together.format(module)
        assert pairs[f"{module}_1"]["params"] == ("not_compared", 8, 16, why)
        assert pairs[f"{module}_1"]["buffers"] == pairs[f"{module}_1"]["macs"] == ("not_compared", 0, 0, why)


# ---- a model read whole: every field of the report -------------------------------------------------------------
SMALL = """\
input: [3, 8, 8]
layers:
  - conv: {name: 0, out: 8, kernel: 3, padding: 1}
  - relu: {name: 1}
  - global_avgpool: {name: 2}
  - flatten: {name: 3}
  - linear: {name: 4, out: 10}
"""
SMALL_PARAMS = (3 * 9 * 8 + 8) + (8 * 10 + 10)  # 224 + 90 = 314
SMALL_CONV_MACS = 8 * 8 * 8 * 3 * 9  # 13,824
SMALL_FLOP_COUNTER = 2 * SMALL_CONV_MACS + 2 * 8 * 10  # 27,808: the convolution and the addmm, 2 FLOPs per MAC


def test_a_model_read_whole_agrees_in_every_field(tmp_path: Path) -> None:
    from fvcore.nn import FlopCountAnalysis

    model = nets.small().eval()
    assert sum(p.numel() for p in model.parameters()) == SMALL_PARAMS
    with torch.no_grad():
        fvcore = int(FlopCountAnalysis(model, torch.zeros(1, 3, 8, 8)).unsupported_ops_warnings(False).total())
    code, doc = run(tmp_path, SMALL, "small")
    assert (code, doc["ok"], doc["agrees"], doc["verified"]) == (0, True, True, True)
    assert (doc["device"], doc["real_forward"], doc["matching"], doc["skipped"], doc["not_compared"],
            doc["first_divergence"]) == ("cpu", True, "structure", {}, [], None)
    totals = {k: (c["status"], c["spec"], c["reference"], c["reason"]) for k, c in doc["totals"].items()}
    assert totals.pop("output") == ("ok", [[1, 10]], [[1, 10]], "")
    assert totals.pop("params") == ("ok", SMALL_PARAMS, SMALL_PARAMS, "")
    assert totals.pop("buffers") == ("ok", 0, 0, "")
    assert totals.pop("flop_counter") == ("ok", SMALL_FLOP_COUNTER, SMALL_FLOP_COUNTER, "")
    assert totals.pop("fvcore") == ("ok", fvcore, fvcore, "")
    # the analytic cost of each op category, the spec's graph against the model's: the same on both sides
    assert sorted(totals) == ["analytic activation", "analytic conv", "analytic linear", "analytic pool"]
    assert all(status == "ok" and ours == theirs and ours > 0 and why == "" for status, ours, theirs, why in totals.values())
    assert totals["analytic conv"][1] == 2 * SMALL_CONV_MACS + 8 * 8 * 8  # 2 per MAC and the bias, once per output
    conv = by_spec(doc, "0")
    assert unit(conv["spec"]) == ("0", "conv", [1, 8, 8, 8], 224, 0, SMALL_CONV_MACS)
    assert unit(conv["reference"]) == ("0", "Conv2d", [1, 8, 8, 8], 224, 0, SMALL_CONV_MACS)
    assert conv["spec"]["op"] == conv["reference"]["op"] == "conv" and relu_op(doc) == ("relu", "relu")
    assert checks(conv) == {"op": ("ok", "conv", "conv", ""), "shape": ("ok", [1, 8, 8, 8], [1, 8, 8, 8], ""),
                            "params": ("ok", 224, 224, ""), "buffers": ("ok", 0, 0, ""),
                            "macs": ("ok", SMALL_CONV_MACS, SMALL_CONV_MACS, "")}
    relu = by_spec(doc, "1")  # no weights on either side: its op and shape only
    assert unit(relu["spec"]) == ("1", "relu", [1, 8, 8, 8], None, None, None)
    assert checks(relu) == {"op": ("ok", "relu", "relu", ""), "shape": ("ok", [1, 8, 8, 8], [1, 8, 8, 8], "")}
    linear = by_spec(doc, "4")
    assert checks(linear)["macs"] == ("ok", 80, 80, "")  # 8·10 for the one sample
    assert unit(linear["reference"])[:2] == ("4", "Linear")


def test_over_max_memory_both_sides_run_on_the_meta_device(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(SMALL)
    r = runner.invoke(app, ["verify", str(path), "--reference", f"{NETS}:small", "-f", "json", "--max-memory", "1k"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)["models"][0]
    assert (doc["device"], doc["real_forward"], doc["ok"]) == ("meta", False, True)
    (why,) = doc["skipped"].values()
    assert list(doc["skipped"]) == ["fvcore"] and why.startswith("a real forward needs about ")
    assert why.endswith(" kB, over --max-memory 1.00 kB: both models ran on the meta device")  # 1k = 1,000 bytes
    assert "fvcore" not in doc["totals"]
    assert doc["totals"]["flop_counter"] == {"status": "ok", "spec": SMALL_FLOP_COUNTER, "reference": SMALL_FLOP_COUNTER,
                                             "reason": ""}


def test_a_model_of_two_inputs_is_read_and_compared_layer_by_layer(tmp_path: Path) -> None:
    """The importer reads a forward of several inputs (it was compared by its totals only, 'the importer reads models
    with one input'): each spec input is the forward's input in order."""
    spec = ("inputs:\n  a: [3, 4, 4]\n  b: [3, 4, 4]\nlayers:\n  - conv: {name: ca, from: a, out: 2, kernel: 1}\n"
            "  - conv: {name: cb, from: b, out: 2, kernel: 1}\n  - add: {from: [ca, cb]}\n")
    code, doc = run(tmp_path, spec, "two_inputs")
    assert (code, doc["matching"], doc["verified"], doc["agrees"], doc["not_compared"]) == (0, "structure", True, True, [])
    assert len(doc["layers"]) == 3  # ca, cb, the add
    assert doc["totals"]["params"] == {"status": "ok", "spec": 2 * (3 * 2 + 2), "reference": 16, "reason": ""}  # 8 each
    once = spec.replace("from: b,", "from: a,")
    code, doc = run(tmp_path, once, "two_inputs")  # both convs read a: the same counts, not the same model
    assert code == 1 and not doc["agrees"], doc


def relu_op(doc: dict) -> tuple:
    p = by_spec(doc, "1")
    return p["spec"]["op"], p["reference"]["op"]


def test_totals_that_differ_say_by_how_much(tmp_path: Path) -> None:
    """The spec's linear has 9 outputs where the model's has 10: the output, the parameters (8·9 + 9 = 81 against
    90), FlopCounterMode's total (2·72 against 2·80 for the addmm) and fvcore's (72 MACs against 80) differ."""
    from fvcore.nn import FlopCountAnalysis

    with torch.no_grad():
        fvcore = int(FlopCountAnalysis(nets.small().eval(), torch.zeros(1, 3, 8, 8)).unsupported_ops_warnings(False).total())
    code, doc = run(tmp_path, SMALL.replace("out: 10", "out: 9"), "small")
    totals = {k: (c["status"], c["spec"], c["reference"], c["reason"]) for k, c in doc["totals"].items()}
    assert totals["output"] == ("mismatch", [[1, 9]], [[1, 10]], "output: spec 1×9, model 1×10")
    assert totals["params"] == ("mismatch", SMALL_PARAMS - 9, SMALL_PARAMS, "params: spec 305, model 314 (+9)")
    assert totals["buffers"] == ("ok", 0, 0, "")
    assert totals["flop_counter"] == ("mismatch", SMALL_FLOP_COUNTER - 16, SMALL_FLOP_COUNTER,
                                      "FlopCounterMode FLOPs: spec 27,792, model 27,808 (+16)")
    assert totals["fvcore"] == ("mismatch", fvcore - 8, fvcore, f"fvcore flops: spec {fvcore - 8:,}, model {fvcore:,} (+8)")
    assert totals["analytic linear"][0] == "mismatch"
    assert code == 1 and not doc["agrees"] and doc["verified"]


def test_a_parameter_of_the_model_itself_is_a_unit_of_its_own(tmp_path: Path) -> None:
    """The model's own parameter (scale, 8 values), no submodule's: the layer that reads it is compared with that
    tensor, named by its path, kind 'parameter'."""
    spec = tmp_path / "own.yaml"
    r = runner.invoke(app, ["import", f"{NETS}:own_tensors", "--input", "3,8,8", "-o", str(spec)])
    assert r.exit_code == 0, r.output
    v = runner.invoke(app, ["verify", str(spec), "--reference", f"{NETS}:own_tensors", "-f", "json"])
    assert v.exit_code == 0, v.output
    doc = json.loads(v.stdout)["models"][0]
    own = next(p for p in doc["layers"] if p["reference"] and p["reference"]["name"] == "scale")
    assert unit(own["reference"]) == ("scale", "parameter", [1, 8, 8, 8], 8, 0, 0)
    assert checks(own)["params"] == ("ok", 8, 8, "") and checks(own)["buffers"] == ("ok", 0, 0, "")
    assert checks(own)["macs"] == ("ok", 0, 0, "")
