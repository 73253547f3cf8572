"""convcost/ci/budget.py: every refusal of a budget file with its exact message and place, growth allowances at
their bounds, `--max-growth` as a rule, and a tool's count over a block that holds a layer the tool does not see.

Written for issue 19's mutation run (docs/testing.md): mutants that changed what a message says of its context
('in None' for 'in the budget file'), a bound by one (a 40-character percentage refused), a rule's source, or a
tool's unseen layer counted 1 instead of 0 survived the tests that matched part of a message or a status. Columns
are counted by hand beside each case (1-based: the first character of the node).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from conftest import analysis_of

from convcost.ci.budget import (
    CLI_SOURCE,
    EMPTY_BUDGETS,
    FOR_ALL,
    FOR_MODEL,
    FROM_CLI,
    Budgets,
    Growth,
    Limit,
    Target,
    check_limits,
    cli_growth,
    load_budget_file,
    parse_budget_file,
    parse_percent,
)
from convcost.errors import Loc, SpecError, UsageError
from convcost.frontend.source import load_yaml


def parse(text: str) -> Budgets:
    return parse_budget_file(load_yaml(text, "b.yaml", EMPTY_BUDGETS), "b.yaml")


def refusal(text: str) -> str:
    with pytest.raises(SpecError) as e:
        parse(text)
    return str(e.value)


FILE_KEYS = "models, all, max_growth, convention"


@pytest.mark.parametrize(("text", "message"), [
    ("model:\n  net: {macs: 1M}\n",
     f"b.yaml:1:1: unknown key 'model' in the budget file (did you mean 'models'?); expected one of: {FILE_KEYS}"),
    ("[1, 2]\n", "b.yaml:1:1: a budget file must be a mapping, got a list"),
    ("all: {}\n", "b.yaml:1:1: budget file sets no limit and no max_growth"),  # at the file's mapping
    ("all: 5\n", "b.yaml:1:6: 'all' must be a mapping, got number 5"),  # 'all: ' is 5
    ("all: {macs: [1]}\n", "b.yaml:1:13: budget 'macs' must be a count like 25.6M or 4.1G, got a list"),  # 'all: {macs: ' 12
    ("all: {macs: true}\n", "b.yaml:1:13: budget 'macs' must be a count like 25.6M or 4.1G, got boolean true"),
    ("all: {blocks: [1]}\n",  # 'all: {blocks: ' is 14
     "b.yaml:1:15: 'blocks' (block name: {macs: ..., params: ...}) must be a mapping, got a list"),
    ("all: {blocks: {b1: 3}}\n", "b.yaml:1:20: the budget of block 'b1' must be a mapping, got number 3"),  # 19 before
    ("all: {blocks: {b1: {}}}\n", "b.yaml:1:20: the budget of block 'b1' sets no limit"),
    ("all: {blocks: {b1: {macs: [2]}}}\n",  # 'all: {blocks: {b1: {macs: ' is 26
     "b.yaml:1:27: budget 'macs' of block 'b1' must be a count like 25.6M or 4.1G, got a list"),
    ("models: [1]\n", "b.yaml:1:9: 'models' (model name: budget) must be a mapping, got a list"),  # 'models: ' is 8
    ("models:\n  net: 3\n", "b.yaml:2:8: the budget of model 'net' must be a mapping, got number 3"),  # '  net: ' is 7
    ("max_growth: lots\n", "b.yaml:1:13: max_growth: expected a percentage like 2% or 0.5%, got 'lots'"),
    ("all: {max_growth: {macs: lots}}\n",  # 'all: {max_growth: {macs: ' is 25
     "b.yaml:1:26: max_growth of macs: expected a percentage like 2% or 0.5%, got 'lots'"),
    ("convention: 7\nall: {macs: 1}\n", "b.yaml:1:13: 'convention' must name a tool, got number 7"),  # 'convention: ' 12
    # the file's convention pins every budget in it: a tool limits its count and its parameters only
    ("convention: thop\nall: {activations: 1}\n",  # the key, at '{' + 1 = column 7 of line 2
     "b.yaml:2:7: a budget pinned to convention 'thop' limits what the tool reports: its count ('macs' or 'flops') and "
     "its parameters ('params'), not 'activations'"),
    ("all: {convention: fvcore, blocks: {b1: {activations: 1}}}\n",  # 'all: {convention: fvcore, blocks: {b1: {' is 40
     "b.yaml:1:41: a budget pinned to convention 'fvcore' limits what the tool reports: its count ('macs' or 'flops') "
     "and its parameters ('params'), not 'activations'"),
])
def test_a_budget_file_is_refused_with_its_context_and_place(text: str, message: str) -> None:
    assert refusal(text) == message


def test_an_unknown_key_in_a_models_budget_names_that_model() -> None:
    message = refusal("models:\n  net: {macss: 1M}\n")  # '  net: {' is 8: the key at column 9
    assert message.startswith("b.yaml:2:9: unknown key 'macss' in the budget of model 'net' (did you mean 'macs'?); "
                              "expected one of: params, ")
    message = refusal("all: {blocks: {b1: {mac: 1}}}\n")  # 'all: {blocks: {b1: {' is 20
    assert message.startswith("b.yaml:1:21: unknown key 'mac' in the budget of block 'b1' (did you mean 'macs'?); "
                              "expected one of: params, ")


def test_an_unknown_convention_is_refused_at_its_value() -> None:
    message = refusal("convention: nosuch\nall: {macs: 1}\n")
    assert message.startswith("b.yaml:1:13: 'convention': unknown convention 'nosuch': convcost (its own counts) or one of ")


def test_a_budget_files_rules_keep_their_levels_places_and_source(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("max_growth: 3%\nconvention: fvcore\nall: {macs: 2k, max_growth: {params: 1.5}}\n"
                    "models:\n  net: {flops: 10, convention: convcost, blocks: {b1: {params: 7}}}\n")
    b = load_budget_file(path)
    src = f"budget file {path}"
    # 'all: {macs: ' is 12 → 13; 'all: {macs: 2k, max_growth: {params: ' is 37 → 38; line 5 '  net: {flops: ' 15 → 16,
    # '  net: {flops: 10, convention: convcost, blocks: {b1: {params: ' is 63 → 64
    assert b.limits == (
        Limit(Target(), None, "macs", 2000, "2k", Loc(str(path), 3, 13), "fvcore"),
        Limit(Target("net"), None, "flops", 10, "10", Loc(str(path), 5, 16), None),  # its own 'convcost' unpins it
        Limit(Target("net"), "b1", "params", 7, "7", Loc(str(path), 5, 64), None),
    )
    assert b.growth == (
        Growth(Target(), None, Fraction(3), "3%", Loc(str(path), 1, 13), FOR_ALL, src),
        Growth(Target(), "params", Fraction(3, 2), "1.5%", Loc(str(path), 3, 38), FOR_ALL, src),
    )
    assert b.named_models == (("net", Loc(str(path), 5, 3)),)


# ---- percentages ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "pct"), [
    ("2%", Fraction(2)), (" 2 % ", Fraction(2)), (2, Fraction(2)), (0.5, Fraction(1, 2)), (".5%", Fraction(1, 2)),
    ("+3", Fraction(3)), ("1e2%", Fraction(100)), ("0", Fraction(0)),
    ("1000000%", Fraction(10**6)),  # the largest allowance
    ("0." + "0" * 37 + "1", Fraction(1, 10**38)),  # 40 characters: the longest text read
])
def test_a_percentage_is_read_exactly(value: object, pct: Fraction) -> None:
    assert parse_percent(value) == pct


@pytest.mark.parametrize(("value", "message"), [
    (True, "expected a percentage like 2%, got True"),
    (None, "expected a percentage like 2%, got None"),
    ("lots", "expected a percentage like 2% or 0.5%, got 'lots'"),
    ("0." + "0" * 38 + "1", "expected a percentage like 2% or 0.5%, got '0." + "0" * 38 + "'"),  # 41: shown to 40
    ("1e9999", "expected a percentage like 2% or 0.5%, got '1e9999'"),  # an exponent of at most 3 digits
    ("-0.5%", "a growth allowance cannot be negative: -0.5%"),
    ("1000000.1%", "1000000.1% is too large for a growth allowance"),
])
def test_a_percentage_is_refused_with_what_was_wrong(value: object, message: str) -> None:
    with pytest.raises(ValueError) as e:
        parse_percent(value)
    assert str(e.value) == message


def test_max_growth_on_the_command_line_is_a_rule_of_its_own_source() -> None:
    assert cli_growth(None) is None
    assert cli_growth("5") == Growth(Target(), None, Fraction(5), "5%", Loc("--max-growth"), FROM_CLI, CLI_SOURCE)
    assert CLI_SOURCE == "--max-growth"
    assert cli_growth("2.5%") == Growth(Target(), None, Fraction(5, 2), "2.5%", Loc("--max-growth"), FROM_CLI,
                                        "--max-growth")
    with pytest.raises(UsageError) as e:
        cli_growth("lots")
    assert str(e.value) == "--max-growth: expected a percentage like 2% or 0.5%, got 'lots'"


# ---- a tool's numbers over a block --------------------------------------------------------------------------
BLOCKS = """\
input: [3, 8, 8]
layers:
  - seq:
      name: blk
      layers:
        - conv: {out: 4, kernel: 3, padding: 1}
        - relu
  - seq:
      name: blk2
      layers:
        - conv: {out: 2, kernel: 1}
"""
BLK_MACS = 8 * 8 * 4 * 3 * 3 * 3  # 6,912: H·W·C_out·C_in·k·k (fvcore's "flops" of the conv; it ignores relu)
BLK_PARAMS = 4 * 3 * 3 * 3 + 4  # 112
BLK2_MACS = 8 * 8 * 2 * 4  # 512


@pytest.mark.parametrize(("block", "metric", "value"), [
    ("blk", "macs", BLK_MACS),  # the relu fvcore does not see adds nothing; blk2 is another block
    ("blk", "params", BLK_PARAMS),
    ("blk2", "flops", BLK2_MACS),
    (None, "macs", BLK_MACS + BLK2_MACS),
])
def test_a_tools_count_over_a_block_adds_nothing_for_a_layer_it_does_not_see(block: str | None, metric: str,
                                                                             value: int) -> None:
    a = analysis_of(BLOCKS)
    loc = Loc("b.yaml", 2, 3)
    found = check_limits([a], Budgets(limits=(Limit(Target(), block, metric, value, "x", loc, "fvcore"),)))
    assert [(f.ok, f.actual, f.allowed, f.block, f.convention, f.kind) for f in found] == [
        (True, value, value, block, "fvcore", "limit")]


def test_a_spec_budget_is_its_models_or_its_files(tmp_path: Path) -> None:
    from convcost.ci.budget import spec_budgets
    from convcost.frontend.spec import parse_spec

    one = parse_spec("budget: {macs: 1k}\ninput: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernel: 1}\n", "s.yaml")
    b = spec_budgets(one)  # a file of one model: its file-level budget is that model's (the more specific level)
    assert b.limits == (Limit(Target(None, "s.yaml"), None, "macs", 1000, "1k", Loc("s.yaml", 1, 16)),)  # 'budget: {macs: ' is 15
    two = parse_spec("budget: {max_growth: 1%}\nmodels:\n  a:\n    budget: {params: 9}\n    input: [3, 8, 8]\n"
                     "    layers:\n      - conv: {out: 4, kernel: 1}\n  b:\n    input: [3, 8, 8]\n    layers:\n"
                     "      - conv: {out: 4, kernel: 1}\n", "s.yaml")
    b = spec_budgets(two)
    assert b.limits == (Limit(Target("a", "s.yaml"), None, "params", 9, "9", Loc("s.yaml", 4, 22)),)  # '    budget: {params: ' 21
    assert b.growth == (Growth(Target(None, "s.yaml"), None, Fraction(1), "1%", Loc("s.yaml", 1, 22), FOR_ALL,
                               "spec s.yaml"),)  # 'budget: {max_growth: ' is 21
    assert FOR_MODEL > FOR_ALL > FROM_CLI  # a model's own rule is the more specific


# ---- baselines ----------------------------------------------------------------------------------------------------
HEAD_JSON = '{"schema": "convcost.analyze/1", "models": '
MODEL = len(HEAD_JSON) + 2  # the column of the first model's '{', after the list's '['
TOTALS = MODEL + len('{"name": "n", "totals": ')  # the column of its totals' '{'
PARAMS_VALUE = TOTALS + len('{"params": ')  # the column of the value of its totals' params
BATCH = MODEL + len('{"name": "n", "batch": ')  # the column of a batch written first
GOOD = '{"name": "n", "totals": {"params": 1, "buffers": 0, "macs": 2, "flops": 4, "activations": 3}}'
SECOND = MODEL + len(GOOD) + len(", ")  # the column of the second model


@pytest.mark.parametrize(("text", "message"), [
    ('{"schema": "convcost.analyze/1"}', "base.json:1:1: baseline has no 'models' list"),
    (HEAD_JSON + '{"n": 1}}', "base.json:1:1: baseline has no 'models' list"),  # a mapping is not a list
    (HEAD_JSON + '[{"name": "n"}]}', f"base.json:1:{MODEL}: baseline model #1 needs a 'name' and 'totals'"),
    (HEAD_JSON + '[{"totals": {}}]}', f"base.json:1:{MODEL}: baseline model #1 needs a 'name' and 'totals'"),
    (HEAD_JSON + '[' + GOOD + ', 7]}', f"base.json:1:{SECOND}: baseline model #2 needs a 'name' and 'totals'"),
    # no 'params' (the first total read): the place is the totals mapping, 'n', "totals": ' after the model's '{'
    (HEAD_JSON + '[{"name": "n", "totals": {}}]}',
     f"base.json:1:{TOTALS}: baseline model 'n': totals.params must be a non-negative integer"),
    (HEAD_JSON + '[{"name": "n", "totals": {"params": 1.5}}]}',
     f"base.json:1:{PARAMS_VALUE}: baseline model 'n': totals.params must be a non-negative integer"),
    (HEAD_JSON + '[{"name": "n", "batch": 0, "totals": {"params": 1, "buffers": 0, "macs": 2, "flops": 4, '
     '"activations": 3}}]}', f"base.json:1:{BATCH}: baseline model 'n': batch must be a positive integer"),
])
def test_a_baseline_is_refused_with_what_is_wrong_and_where(tmp_path: Path, text: str, message: str) -> None:
    from convcost.ci.budget import load_baseline

    path = tmp_path / "base.json"
    path.write_text(text)
    with pytest.raises(SpecError) as e:
        load_baseline(path)
    assert str(e.value) == message.replace("base.json", str(path), 1)


def test_a_baseline_at_batch_one_with_zero_totals_loads(tmp_path: Path) -> None:
    from convcost.ci.budget import load_baseline

    path = tmp_path / "base.json"
    path.write_text(HEAD_JSON + '[{"name": "n", "batch": 1, "file": "a.yaml", "totals": {"params": 0, "buffers": 0, '
                    '"macs": 0, "flops": 0, "activations": 0}}]}')
    base = load_baseline(path)
    assert base.path == str(path)
    (m,) = base.models
    assert (m.name, m.file, m.batch, m.totals, m.convention, m.counted) == (
        "n", "a.yaml", 1, {"params": 0, "buffers": 0, "macs": 0, "flops": 0, "activations": 0}, None, {})


# ---- checking: what a check refuses, whole --------------------------------------------------------------------------
def test_a_check_refuses_a_budget_it_cannot_apply_with_the_whole_reason() -> None:
    from convcost.ci.budget import Counts

    a = analysis_of(BLOCKS)  # the model 't' of t.yaml
    loc = Loc("b.yaml", 4, 9)
    with pytest.raises(UsageError) as e:
        check_limits([a], Budgets(limits=(Limit(Target(), None, "step_flops", 10, "10", loc),)))
    assert str(e.value) == ("b.yaml:4:9: budget 'step_flops' is a training number: run check with --training (and "
                            "--optimizer, --dtype as you train)")
    with pytest.raises(SpecError) as e2:
        check_limits([a], Budgets(limits=(Limit(Target(), "blk3", "macs", 10, "10", loc),)))
    assert str(e2.value) == ("b.yaml:4:9: budget for block 'blk3', but model 't' has no block or layer of that name "
                             "(did you mean 'blk'?)")
    with pytest.raises(SpecError) as e3:
        check_limits([a], Budgets(limits=(Limit(Target(), None, "params", 10, "10", loc, "flop_counter"),)), Counts())
    assert str(e3.value) == ("b.yaml:4:9: FlopCounterMode prints no parameter count: a budget pinned to convention "
                             "'flop_counter' cannot limit 'params'")
    # --convention on a training budget: the tool's numbers have no training counterpart
    with pytest.raises(SpecError) as e4:
        check_limits([a], Budgets(limits=(Limit(Target(), None, "step_flops", 10, "10", loc),)), Counts("thop"))
    assert str(e4.value).startswith("b.yaml:4:9: a budget pinned to convention 'thop' limits what the tool reports")


def test_growth_against_a_baseline_that_cannot_be_compared_is_refused_whole() -> None:
    from convcost.ci.budget import Baseline, BaselineModel, Counts, check_growth

    a = analysis_of(BLOCKS)
    totals = {"params": 1, "buffers": 0, "macs": 1, "flops": 2, "activations": 1}
    loc = Loc("base.json", 5, 7)
    other = Baseline("base.json", (BaselineModel("other", "o.yaml", totals, loc),))
    found, notes = check_growth([a], other, Budgets(), None)
    assert (found, notes) == ([], ["base.json: note: model 't' is not in the baseline; its growth is not checked"])
    batched = Baseline("base.json", (BaselineModel("t", "t.yaml", totals, loc, 2),))
    with pytest.raises(SpecError) as e:
        check_growth([a], batched, Budgets(), None)
    assert str(e.value) == ("base.json:5:7: baseline model 't' was recorded at batch 2, this run is at batch 1: the counts "
                            "are not comparable; check with --batch 2 or record the baseline again")
    plain = Baseline("base.json", (BaselineModel("t", "t.yaml", totals, loc, 1),))
    with pytest.raises(SpecError) as e2:
        check_growth([a], plain, Budgets(), None, Counts("thop"))
    assert str(e2.value) == ("base.json:5:7: baseline model 't' was recorded with convention convcost, this run checks "
                             "convention thop: record the baseline with `convcost analyze --convention thop --format json`")


def test_convention_on_the_command_line_refuses_a_limit_the_tool_has_no_number_for() -> None:
    from convcost.ci.budget import Counts

    a = analysis_of(BLOCKS)
    limit = Limit(Target(), "blk", "activations", 10, "10", Loc("b.yaml", 3, 5))  # pinned to nothing in the file
    with pytest.raises(SpecError) as e:
        check_limits([a], Budgets(limits=(limit,)), Counts("thop"))  # --convention thop
    assert str(e.value) == ("b.yaml:3:5: a budget pinned to convention 'thop' limits what the tool reports: its count "
                            "('macs' or 'flops') and its parameters ('params'), not 'activations'")


@pytest.mark.parametrize(("block", "value"), [
    (None, BLK_PARAMS + 2 * 4 + 2),  # 122: both convs' weights and biases
    ("blk", BLK_PARAMS),  # a block (a scope)
    ("blk2.conv1", 2 * 4 + 2),  # a layer by its dotted name: 10
    ("blk.relu1", 0),
])
def test_a_training_budget_reads_convcosts_own_trainable_params(block: str | None, value: int) -> None:
    from convcost.costmodel.training import analyze_training

    a = analysis_of(BLOCKS)
    limit = Limit(Target(), block, "trainable_params", value, str(value), Loc("b.yaml", 2, 3))
    (found,) = check_limits([a], Budgets(limits=(limit,)), trainings=[analyze_training(a)])
    # the training numbers are convcost's own: no tool's convention, whatever --convention says
    assert (found.ok, found.actual, found.allowed, found.block, found.convention, found.kind) == (
        True, value, value, block, None, "limit")


def test_growth_exactly_at_the_allowance_is_within_it() -> None:
    from convcost.ci.budget import Baseline, BaselineModel, check_growth

    net = "input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernel: 3, padding: 1}\n"
    a = analysis_of(net)  # 6,912 MACs (8·8·4·3·3·3), 112 params (4·27 + 4), 256 output values
    base = Loc("base.json", 3, 7)
    # macs 6,400 → 6,912 is +8 % exactly; params 104 → 112 is +7.7 %; flops 13,000 → 2·6,912 + 256 bias adds = 14,080
    # is +8.3 %;
    # activations 200 → 256 is +28 %
    totals = {"params": 104, "buffers": 0, "macs": 6400, "flops": 13000, "activations": 200}
    found, _ = check_growth([a], Baseline("base.json", (BaselineModel("t", "t.yaml", totals, base),)), Budgets(),
                            cli_growth("8"))
    got = {f.metric: (f.ok, f.actual, f.allowed, f.rule, f.loc, f.baseline) for f in found}
    assert got == {
        "params": (True, 112, 112, "8%", base, 104),  # 104·1.08 = 112.32: 112 allowed
        "buffers": (True, 0, 0, "8%", base, 0),
        "macs": (True, 6912, 6912, "8%", base, 6400),  # 6,400·1.08 = 6,912: at the allowance is within it
        "flops": (False, 14080, 14040, "8%", base, 13000),  # 13,000·1.08 = 14,040
        "activations": (False, 256, 216, "8%", base, 200),  # 200·1.08
    }  # a --max-growth rule has no place of its own: each finding is at the baseline's model


def test_a_baseline_keeps_the_tool_it_was_recorded_with(tmp_path: Path) -> None:
    from convcost.ci.budget import load_baseline

    path = tmp_path / "base.json"
    model = GOOD[:-1] + ', "convention": {"name": "thop", "total": 50, "params": 7}}'
    plain = GOOD.replace('"n"', '"m"')[:-1] + ', "convention": {"name": "convcost"}}'  # convcost's own: no tool
    path.write_text(HEAD_JSON + "[" + model + ", " + plain + "]}")
    m, p = load_baseline(path).models
    assert (m.convention, m.counted) == ("thop", {"total": 50, "params": 7})
    assert (p.convention, p.counted) == (None, {})


CONVENTION_AT = MODEL + len(GOOD[:-1] + ', "convention": ')  # the column of a convention written last


@pytest.mark.parametrize("convention", ['"thop"', "{}", '{"total": 5}', '{"name": 7}'])
def test_a_baseline_convention_without_a_tools_name_is_refused(tmp_path: Path, convention: str) -> None:
    from convcost.ci.budget import load_baseline

    path = tmp_path / "base.json"
    path.write_text(HEAD_JSON + "[" + GOOD[:-1] + f', "convention": {convention}' + "}]}")
    with pytest.raises(SpecError) as e:
        load_baseline(path)
    assert str(e.value).endswith(": baseline model 'n': 'convention' must hold the 'name' of a convention")
    assert str(e.value).startswith(f"{path}:1:{CONVENTION_AT}:")  # at its value
