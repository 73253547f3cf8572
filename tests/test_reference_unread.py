"""`verify --reference` on a model with a part convcost's importer cannot read: the module around it is compared
whole, by its counts, with the spec layers it stands for (their counts added up), never called agreement.

The models are tests/reference_unread_nets.py's (a torch.roll inside a module). Every field of the pairs and lines
this comparison reports is checked (issue 19's mutation run, docs/testing.md: reference.py's ``_group_unit`` had no
test, and mutants of ``_model_unit``'s chain of parts, ``_not_compared``'s line for a group and ``_op_check`` on an
unread part survived). Numbers: counted by hand beside them, and the modules' own parameter and buffer sums.
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
ROLL = "convcost cannot read it: torch.roll is not a convcost op"  # the importer's note on the part, as a pair says it


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


def test_an_unread_module_is_compared_whole_with_the_spec_layers_it_stands_for(tmp_path: Path) -> None:
    spec = HEAD + CONV3.format(name="a") + "  - bn: {name: b}\n" + TAIL
    code, doc = run(tmp_path, spec, "conv_bn_rolled")
    block = nets.conv_bn_rolled().blocks[0]
    assert sum(p.numel() for p in block.parameters()) == CONV3_PARAMS + BN_PARAMS  # 600
    assert sum(b.numel() for b in block.buffers()) == BN_BUFFERS
    group = by_spec(doc, "a")
    # the spec's a and b, added up, named after the first; their shape is not one layer's
    assert unit(group["spec"]) == ("a (+1 more)", "conv", None, CONV3_PARAMS + BN_PARAMS, BN_BUFFERS, CONV3_MACS)
    assert unit(group["reference"]) == ("blocks.0", "Rolled", [1, 8, 8, 8], CONV3_PARAMS + BN_PARAMS, BN_BUFFERS,
                                        CONV3_MACS)
    assert checks(group) == {
        "op": ("not_compared", "conv", None, ROLL),
        "shape": ("not_compared", None, [1, 8, 8, 8], "the model's 'blocks.0' stands for 2 spec layers"),
        "params": ("ok", 600, 600, ""), "buffers": ("ok", BN_BUFFERS, BN_BUFFERS, ""),
        "macs": ("ok", CONV3_MACS, CONV3_MACS, ""),
    }
    assert group["ok"] is True
    assert group["spec"]["op"] == "conv"  # the first layer's
    # b is part of it: listed with no model side of its own, and no line of its own in what was not compared
    b = by_spec(doc, "b")
    assert b["reference"] is None and b["ok"] is True and list(b["checks"]) == ["op"]
    assert b["checks"]["op"]["status"] == "not_compared"
    assert b["checks"]["op"]["reason"] == "part of what the model's 'blocks.0' computes, which convcost cannot read"
    assert doc["not_compared"] == [
        f"model 'blocks.0' (Rolled), paired with spec layers 'a' … 'b' (2) by its counts only: {ROLL}"]
    # the layers around it are compared one by one
    stem = by_spec(doc, "stem")
    assert unit(stem["reference"]) == ("stem", "Conv2d", [1, 8, 8, 8], 3 * 8 * 9 + 8, 0, 8 * 8 * 8 * 3 * 9)
    assert checks(stem)["op"] == ("ok", "conv", "conv", "")
    assert code == 1 and doc["agrees"] and not doc["verified"] and not doc["ok"]
    # the model's graph is partial: no op category's analytic cost is compared, and each says why
    partial = "the model's graph is partial: convcost cannot read all of it (see not compared)"
    analytic = {k: c for k, c in doc["totals"].items() if k.startswith("analytic ")}
    assert sorted(analytic) == ["analytic conv", "analytic norm"]
    assert all((c["status"], c["reference"], c["reason"]) == ("not_compared", None, partial) and c["spec"] > 0
               for c in analytic.values())


def test_an_unread_module_standing_for_one_layer_compares_its_shape(tmp_path: Path) -> None:
    code, doc = run(tmp_path, HEAD + CONV3.format(name="a") + TAIL, "conv_rolled")
    group = by_spec(doc, "a")
    assert unit(group["spec"]) == ("a", "conv", [1, 8, 8, 8], CONV3_PARAMS, 0, CONV3_MACS)
    assert unit(group["reference"]) == ("blocks.0", "Rolled", [1, 8, 8, 8], CONV3_PARAMS, 0, CONV3_MACS)
    assert checks(group)["shape"] == ("ok", [1, 8, 8, 8], [1, 8, 8, 8], "")
    assert checks(group)["op"] == ("not_compared", "conv", None, ROLL)
    assert doc["not_compared"] == [
        f"model 'blocks.0' (Rolled), paired with spec layer 'a' (conv) by its counts only: {ROLL}"]
    assert code == 1 and doc["agrees"] and not doc["verified"]


def test_an_unread_module_whose_counts_differ_is_a_divergence(tmp_path: Path) -> None:
    # the spec says a 1×1 conv where the model's unread module holds a 3×3 one: 72 params against 584
    code, doc = run(tmp_path, HEAD + "  - conv: {name: a, out: 8, kernel: 1}\n" + TAIL, "conv_rolled")
    group = by_spec(doc, "a")
    assert checks(group)["params"] == ("mismatch", CONV1_PARAMS, CONV3_PARAMS, "params: spec 72, model 584 (+512)")
    assert checks(group)["macs"] == ("mismatch", CONV1_MACS, CONV3_MACS, "MACs: spec 4,096, model 36,864 (+32,768)")
    assert group["ok"] is False and doc["layers"][doc["first_divergence"]] == group
    assert code == 1 and not doc["agrees"]


def test_a_chain_of_unread_modules_is_one_part_with_their_counts_added(tmp_path: Path) -> None:
    spec = HEAD + CONV3.format(name="a") + "  - conv: {name: c, out: 8, kernel: 1}\n" + TAIL
    code, doc = run(tmp_path, spec, "two_rolled")
    group = by_spec(doc, "a")
    both = CONV3_PARAMS + CONV1_PARAMS  # 656
    assert unit(group["spec"]) == ("a (+1 more)", "conv", None, both, 0, CONV3_MACS + CONV1_MACS)
    # the model's side: blocks.0 and blocks.1 together, with no one shape
    assert unit(group["reference"]) == ("blocks.0 … blocks.1", "Rolled", None, both, 0, CONV3_MACS + CONV1_MACS)
    assert {k: v[0] for k, v in checks(group).items()} == {"op": "not_compared", "shape": "not_compared",
                                                           "params": "ok", "buffers": "ok", "macs": "ok"}
    assert code == 1 and doc["agrees"] and not doc["verified"]


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


def test_spec_layers_an_unread_module_lacks_are_counted_against_it(tmp_path: Path) -> None:
    # the spec says conv and BatchNorm where the model's unread module holds the conv alone
    code, doc = run(tmp_path, HEAD + CONV3.format(name="a") + "  - bn: {name: b}\n" + TAIL, "conv_rolled")
    group = by_spec(doc, "a")
    assert checks(group)["params"] == ("mismatch", CONV3_PARAMS + BN_PARAMS, CONV3_PARAMS, "params: spec 600, model 584 (-16)")
    assert checks(group)["buffers"] == ("mismatch", BN_BUFFERS, 0, "buffers: spec 17, model 0 (-17)")
    assert checks(group)["macs"] == ("ok", CONV3_MACS, CONV3_MACS, "")
    assert code == 1 and not doc["agrees"] and group["ok"] is False


def test_a_tensor_of_the_model_itself_is_a_unit_of_its_own(tmp_path: Path) -> None:
    """The model's own parameter (scale, 8 values) and buffer (shift, 8 values), no submodule's: each layer that
    reads one is compared with that tensor, named by its path, kind 'parameter' or 'buffer'."""
    spec = tmp_path / "own.yaml"
    r = runner.invoke(app, ["import", f"{NETS}:own_tensors", "--input", "3,8,8", "-o", str(spec)])
    assert r.exit_code == 0, r.output
    v = runner.invoke(app, ["verify", str(spec), "--reference", f"{NETS}:own_tensors", "-f", "json"])
    assert v.exit_code == 0, v.output
    doc = json.loads(v.stdout)["models"][0]
    own = {p["reference"]["name"]: p for p in doc["layers"] if p["reference"] and p["reference"]["name"] in ("scale", "shift")}
    assert unit(own["scale"]["reference"]) == ("scale", "parameter", [1, 8, 8, 8], 8, 0, 0)
    assert unit(own["shift"]["reference"]) == ("shift", "buffer", [1, 8, 8, 8], 0, 8, 0)
    assert checks(own["scale"])["params"] == ("ok", 8, 8, "") and checks(own["scale"])["buffers"] == ("ok", 0, 0, "")
    assert checks(own["shift"])["params"] == ("ok", 0, 0, "") and checks(own["shift"])["buffers"] == ("ok", 8, 8, "")
    assert checks(own["scale"])["macs"] == checks(own["shift"])["macs"] == ("ok", 0, 0, "")


def test_a_model_of_two_inputs_is_compared_by_its_totals_only(tmp_path: Path) -> None:
    spec = ("inputs:\n  a: [3, 4, 4]\n  b: [3, 4, 4]\nlayers:\n  - conv: {name: ca, from: a, out: 2, kernel: 1}\n"
            "  - conv: {name: cb, from: b, out: 2, kernel: 1}\n  - add: {from: [ca, cb]}\n")
    code, doc = run(tmp_path, spec, "two_inputs")
    assert (code, doc["matching"], doc["layers"], doc["verified"], doc["agrees"]) == (1, "none", [], False, True)
    assert doc["not_compared"] == ["the model's layers: the importer reads models with one input; the spec has 2"]
    assert doc["totals"]["params"] == {"status": "ok", "spec": 2 * (3 * 2 + 2), "reference": 16, "reason": ""}  # 8 each
    analytic = {k: c for k, c in doc["totals"].items() if k.startswith("analytic ")}
    assert analytic and all((c["status"], c["reference"], c["reason"]) ==
                            ("not_compared", None, "the model was not read into a graph") for c in analytic.values())


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
