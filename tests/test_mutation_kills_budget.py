"""convcost/ci/budget.py: what a baseline file's models hold, and a tool's parameter count over a block.

Each test was checked against a mutant of issue 19's mutation sample (tests/mutation_sample_19.txt, docs/testing.md)
that no test saw: ``load_baseline`` reading a model's missing "file" as "None" or dropping it, and refusing a
baseline that is not a JSON object with a traceback; ``Counts.value`` summing a tool's parameters over a block.
Every number is derived by hand beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import analysis_of

from convcost.ci.budget import Budgets, Limit, Target, check_limits, load_baseline
from convcost.errors import Loc, SpecError

TOTALS = {"params": 112, "buffers": 0, "macs": 6912, "flops": 13824, "activations": 256}


def _write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "base.json"
    path.write_text(json.dumps(doc, indent=1))
    return path


@pytest.mark.parametrize("doc", [[1, 2], "text", 7])
def test_a_baseline_that_is_not_an_object_is_refused_with_its_schema_none(tmp_path: Path, doc: object) -> None:
    path = _write(tmp_path, doc)
    with pytest.raises(SpecError) as e:
        load_baseline(path)
    assert str(e.value) == (f"{path}:1:1: baseline must be the output of 'convcost analyze --format json' "
                            "(schema 'convcost.analyze/1'), got schema None")


def test_a_baseline_model_keeps_its_file_and_an_absent_file_reads_empty(tmp_path: Path) -> None:
    path = _write(tmp_path, {"schema": "convcost.analyze/1", "models": [
        {"name": "net", "file": "a.yaml", "totals": TOTALS, "batch": 2},
        {"name": "net", "file": "b.yaml", "totals": TOTALS},
        {"name": "other", "totals": TOTALS},  # a hand-written baseline may leave the file out
    ]})
    base = load_baseline(path)
    assert [(m.name, m.file, m.batch) for m in base.models] == [("net", "a.yaml", 2), ("net", "b.yaml", None),
                                                                ("other", "", None)]
    assert all(m.totals == TOTALS and m.convention is None and m.counted == {} for m in base.models)
    # json.dumps(indent=1): line 1 "{", 2 "schema", 3 "models": [, 4 "{", 5 the first "name" (3 spaces in: column 4);
    # each model of 2 + 5 totals lines + "}" + its other keys + "}": the second name on 17, the third on 28
    assert [(m.loc.line, m.loc.col) for m in base.models] == [(5, 4), (17, 4), (28, 4)]


NET = "input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernel: 3, padding: 1}\n  - conv: {out: 2, kernel: 1}\n"
CONV1_PARAMS = 4 * 3 * 3 * 3 + 4  # 112: the kernel and the bias
CONV2_PARAMS = 2 * 4 + 2  # 10
CONV1_MACS = 8 * 8 * 4 * 3 * 3 * 3  # 6,912: H·W·C_out·C_in·k·k, fvcore's "flops" of the conv


@pytest.mark.parametrize(("block", "metric", "value"), [
    ("conv1", "params", CONV1_PARAMS),  # fvcore's parameter_count over the layers of the block
    (None, "params", CONV1_PARAMS + CONV2_PARAMS),
    ("conv1", "flops", CONV1_MACS),
])
def test_a_budget_pinned_to_fvcore_reads_its_count_over_a_block(block: str | None, metric: str, value: int) -> None:
    a = analysis_of(NET)
    loc = Loc("b.yaml", 3, 5)
    limits = (Limit(Target(), block, metric, value, str(value), loc, "fvcore"),
              Limit(Target(), block, metric, value - 1, str(value - 1), loc, "fvcore"))
    found = check_limits([a], Budgets(limits=limits))
    assert [(f.ok, f.actual, f.allowed, f.convention, f.block) for f in found] == [
        (True, value, value, "fvcore", block), (False, value, value - 1, "fvcore", block)]


def test_a_growth_finding_holds_every_field() -> None:
    from fractions import Fraction

    from convcost.ci.budget import FOR_ALL, Baseline, BaselineModel, Growth, check_growth

    net = "input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernel: 3, padding: 1}\n"
    a = analysis_of(net)
    macs = 8 * 8 * 4 * 3 * 3 * 3  # 6,912: H·W·C_out·C_in·k·k
    # the baseline: 6,400 MACs, 100 params; the model grew to 6,912 (+8 %) and 112 (+12 %)
    totals = {"params": 100, "buffers": 0, "macs": 6400, "flops": 2 * 6400, "activations": 4 * 8 * 8}
    base_loc, rule_loc = Loc("base.json", 3, 7), Loc("b.yaml", 2, 3)
    baseline = Baseline("base.json", (BaselineModel(a.graph.model, a.graph.file, totals, base_loc),))
    rule = Growth(Target(), "macs", Fraction(10), "10%", rule_loc, FOR_ALL, "budget file b.yaml")
    found, notes = check_growth([a], baseline, Budgets(growth=(rule,)), None)
    assert notes == []
    by_metric = {f.metric: f for f in found}
    assert list(by_metric) == ["params", "buffers", "macs", "flops", "activations"]
    label = found[0].model
    # macs: 6,912 ≤ 6,400 · 110 % = 7,040: within, at the rule's place
    assert by_metric["macs"] == type(found[0])(True, "growth", label, None, "macs", macs, 7040, "10%", rule_loc, 6400)
    # params under the default 0 % (no rule names them): 112 > 100, the finding at the baseline's model
    assert by_metric["params"] == type(found[0])(False, "growth", label, None, "params", 112, 100, "0%", base_loc, 100)
    assert [f.kind for f in found] == ["growth"] * 5 and all(f.convention is None for f in found)


def test_growth_under_a_convention_names_the_tool_on_its_findings() -> None:
    from convcost.ci.budget import Baseline, BaselineModel, Counts, check_growth

    net = "input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernel: 3, padding: 1}\n"
    a = analysis_of(net)
    # fvcore's count of the conv: its MACs, 8·8·4·3·3·3 = 6,912; its parameter_count: 4·27 + 4 = 112
    totals = {"params": 112, "buffers": 0, "macs": 6912, "flops": 13824, "activations": 256}
    ref = BaselineModel(a.graph.model, a.graph.file, totals, Loc("base.json", 3, 7), None, "fvcore",
                        {"total": 6912, "params": 112})
    found, _ = check_growth([a], Baseline("base.json", (ref,)), Budgets(), None, Counts("fvcore"))
    assert [(f.metric, f.ok, f.actual, f.baseline, f.convention) for f in found] == [
        ("params", True, 112, 112, "fvcore"), ("buffers", True, 0, 0, None), ("macs", True, 6912, 6912, "fvcore"),
        ("flops", True, 6912, 6912, "fvcore"),  # fvcore's one count stands for both
        ("activations", True, 256, 256, None)]
