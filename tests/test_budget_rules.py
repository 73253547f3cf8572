"""convcost/ci/budget.py's rules, each pinned by a hand-derived number: which of two growth rules applies, which
models a spec's own budget reaches, what a growth allowance may be, and the "at most" a growth finding shows.

Each test was checked against a mutation of budget.py that survived the rest of the suite (issue 19): of two
equally specific rules the looser picked, `Target.matches` ignoring the file, a negative `max_growth` accepted,
the allowed value rounded up, `<=` made `<` where a value exactly at its allowance passes.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
from conftest import analysis_of
from typer.testing import CliRunner

from convcost.ci.budget import (
    FOR_ALL,
    FOR_MODEL,
    Baseline,
    BaselineModel,
    Budgets,
    Growth,
    Limit,
    Target,
    check_growth,
    check_limits,
    check_renamed,
    growth_rule,
    load_baseline,
    load_budget_file,
    parse_percent,
)
from convcost.cli import app
from convcost.errors import Loc, SpecError

NET = "input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernel: 3, padding: 1}\n"
MACS = 8 * 8 * 4 * 3 * 3 * 3  # 6,912: H·W·C_out·C_in·k·k
PARAMS = 4 * 3 * 3 * 3 + 4  # 112: the kernel and the bias


def _growth(pct: str, level: int = FOR_ALL, target: Target | None = None, metric: str | None = None,
            source: str = "budget file b.yaml") -> Growth:
    return Growth(target or Target(), metric, Fraction(pct), f"{pct}%", Loc("b.yaml", 1, 1), level, source)


def _baseline(macs: int, params: int = PARAMS, name: str = "t", file: str = "t.yaml") -> Baseline:
    totals = {"params": params, "buffers": 0, "macs": macs, "flops": 2 * macs, "activations": 4 * 8 * 8}
    return Baseline("base.json", (BaselineModel(name, file, totals, Loc("base.json", 3, 7)),))


# ---- two rules of one source, equally specific: the stricter wins ------------------------------------------
@pytest.mark.parametrize("order", [(5, 10), (10, 5)])
def test_of_two_equally_specific_rules_the_stricter_applies(order: tuple[int, int]) -> None:
    a = analysis_of(NET)
    rules = tuple(_growth(str(p)) for p in order)  # both for every model and every metric, from one file
    chosen = growth_rule(Budgets(growth=rules), a, "macs", None)
    assert chosen is not None and chosen.pct == 5


def test_a_budget_file_with_the_same_allowance_twice_at_one_level_applies_the_stricter(tmp_path: Path,
                                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("net.yaml").write_text(NET, encoding="utf-8")
    # 6,912 against 6,500: +6.3 %, over the 5 % of 'all' (6,825), within the top level's 10 % (7,150)
    Path("base.json").write_text(json.dumps({"schema": "convcost.analyze/1", "models": [
        {"name": "net", "file": "net.yaml", "totals": {**_baseline(6_500).models[0].totals}}]}), encoding="utf-8")
    Path("b.yaml").write_text("max_growth: 10%\nall: {max_growth: 5%}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["check", "net.yaml", "--baseline", "base.json", "-B", "b.yaml"],
                                env={"GITHUB_ACTIONS": "", "GITHUB_STEP_SUMMARY": ""})
    assert result.exit_code == 1, result.output
    # the 5 % is on line 2, column 19 ('all: {max_growth: ' is 18 characters); 6,500 · 1.05 = 6,825
    assert result.output.startswith("b.yaml:2:19: error: model 'net': MACs 6,912 (6.91 K) is +6.3 % against the "
                                    "baseline (6,500), over the allowed growth of +5% (at most 6,825)")


def test_a_more_specific_rule_wins_over_a_stricter_one_of_the_same_source() -> None:
    a = analysis_of(NET)
    loose_for_t = _growth("10", FOR_MODEL, Target("t"))
    strict_for_all = _growth("1")
    by_metric = _growth("3", FOR_ALL, metric="macs")
    assert growth_rule(Budgets(growth=(strict_for_all, loose_for_t)), a, "macs", None) == loose_for_t
    assert growth_rule(Budgets(growth=(strict_for_all, by_metric)), a, "macs", None) == by_metric  # a metric is more specific
    assert growth_rule(Budgets(growth=(strict_for_all, by_metric)), a, "params", None) == strict_for_all
    # across sources the strictest: the command line's 2 % beats the file's 10 % for model 't'
    cli = _growth("2", 0, source="--max-growth")
    assert growth_rule(Budgets(growth=(loose_for_t,)), a, "macs", cli) == cli


# ---- which models a rule reaches: a spec's own budget is for that file's models only -----------------------
def test_a_target_matches_by_model_and_file() -> None:
    a = analysis_of(NET)  # model 't' from 't.yaml' (conftest.graph_of)
    assert (a.graph.model, a.graph.file) == ("t", "t.yaml")
    assert Target().matches(a)
    assert Target("t").matches(a) and Target("t", "t.yaml").matches(a) and Target(None, "t.yaml").matches(a)
    assert not Target("u").matches(a)
    assert not Target("t", "other.yaml").matches(a)
    assert not Target(None, "other.yaml").matches(a)


def test_a_spec_budget_does_not_reach_a_model_of_the_same_name_in_another_file(tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("a.yaml").write_text(NET + "budget: {macs: 7000}\n", encoding="utf-8")  # 6,912 within 7,000
    Path("b.yaml").write_text("input: [3, 8, 8]\nlayers:\n  - conv: {out: 8, kernel: 3, padding: 1}\n",
                              encoding="utf-8")  # 8·8·8·27 = 13,824 MACs: over 7,000 if a.yaml's budget reached it
    result = CliRunner().invoke(app, ["check", "a.yaml", "b.yaml", "-v"], env={"GITHUB_ACTIONS": "", "GITHUB_STEP_SUMMARY": ""})
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "convcost check: passed: 1 check on 2 models, all within budget"


def test_limits_apply_to_the_models_they_target() -> None:
    a = analysis_of(NET)
    def limit(target: Target, value: int) -> Limit:
        return Limit(target, None, "macs", value, str(value), Loc("b.yaml", 1, 1))

    found = check_limits([a], Budgets(limits=(limit(Target("t", "t.yaml"), MACS), limit(Target("t", "x.yaml"), 1),
                                              limit(Target("u"), 1), limit(Target(), MACS - 1))))
    assert [(f.ok, f.allowed) for f in found] == [(True, MACS), (False, MACS - 1)]  # exactly at the limit passes


# ---- a growth allowance is a percentage from 0 to 10^6 --------------------------------------------------------
@pytest.mark.parametrize("text", ["-1%", "-0.001%", "-1e-3", "-5"])
def test_a_negative_growth_allowance_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=f"a growth allowance cannot be negative: {text}"):
        parse_percent(text)


@pytest.mark.parametrize(("text", "value"), [("0%", 0), ("-0%", 0), ("2.5 %", Fraction(5, 2)), (".5", Fraction(1, 2)),
                                             ("1e6%", 10**6), ("3", 3)])
def test_growth_allowances_read_exactly(text: str, value: Fraction) -> None:
    assert parse_percent(text) == value


def test_a_negative_growth_allowance_is_refused_everywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("b.yaml").write_text("models:\n  t: {max_growth: -2%}\n", encoding="utf-8")
    with pytest.raises(SpecError) as e:
        load_budget_file("b.yaml")
    assert str(e.value) == "b.yaml:2:19: max_growth: a growth allowance cannot be negative: -2%"  # '  t: {max_growth: ' is 18
    Path("net.yaml").write_text(NET, encoding="utf-8")
    result = CliRunner().invoke(app, ["check", "net.yaml", "--baseline", "net.yaml", "--max-growth", "-1%"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "convcost: error: --max-growth: a growth allowance cannot be negative: -1%"


# ---- what a growth finding allows ----------------------------------------------------------------------------
@pytest.mark.parametrize(("base", "pct", "ok", "allowed"), [
    (6_878, "0.5", True, 6_912),  # 6,878 · 1.005 = 6,912.39: at most 6,912 (rounded down), and 6,912 is within
    (6_878, "0.49", False, 6_911),  # 6,878 · 1.0049 = 6,911.70: 6,912 is over
    (6_912, "0", True, 6_912),  # no growth allowed, none made: exactly at the allowance passes
    (6_911, "0", False, 6_911),  # one MAC more than the baseline
    (6_400, "8", True, 6_912),  # 6,400 · 1.08 = 6,912 exactly
    (6_401, "7.98", False, 6_911),  # 6,401 · 1.0798 = 6,911.80
])
def test_growth_allows_the_baseline_plus_its_percentage_rounded_down(base: int, pct: str, ok: bool, allowed: int) -> None:
    a = analysis_of(NET)
    found, notes = check_growth([a], _baseline(base), Budgets(growth=(_growth(pct, metric="macs"),)), None)
    assert notes == []
    macs = next(f for f in found if f.metric == "macs")
    assert (macs.ok, macs.actual, macs.allowed, macs.baseline) == (ok, MACS, allowed, base)
    assert macs.message.endswith(f"the allowed growth of +{pct}% (at most {allowed:,})")
    params = next(f for f in found if f.metric == "params")  # no rule for params: 0 %, and 112 = 112
    assert (params.ok, params.allowed, params.rule) == (True, PARAMS, "0%")


# ---- a budget of 0, and several baseline files ------------------------------------------------------------------
def test_a_budget_of_zero_met_exactly_shows_no_share(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked against mutations of `_share` (the 'n/a' branch made always a division, its text changed)."""
    monkeypatch.chdir(tmp_path)
    Path("net.yaml").write_text("input: [3, 8, 8]\nlayers: [relu]\n", encoding="utf-8")  # no weights: 0 params
    Path("b.yaml").write_text("models:\n  net: {params: 0}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["check", "net.yaml", "-B", "b.yaml", "-v"],
                                env={"GITHUB_ACTIONS": "", "GITHUB_STEP_SUMMARY": ""})
    assert result.exit_code == 0, result.output
    # 0 of an allowance of 0 is no percentage; '  net: {params: ' is 16 characters
    assert result.output.splitlines()[0] == "b.yaml:2:17: ok: model 'net': params 0 (0) within budget 0 (n/a of it)"


def _base_of(path: str, *models: tuple[str, str]) -> Baseline:
    totals = _baseline(6_500).models[0].totals
    return Baseline(path, tuple(BaselineModel(n, f, totals, Loc(path, 3 + 5 * k, 7)) for k, (n, f) in enumerate(models)))


def test_two_baseline_files_merge_and_the_same_model_in_both_is_refused() -> None:
    """Checked against mutations of `Baseline.merged` (the duplicate never found, its message or the merged
    path dropped)."""
    first = _base_of("a.json", ("net", "net.yaml"), ("other", "net.yaml"))
    both = first.merged(_base_of("b.json", ("net", "other.yaml")))  # same name, another spec file: a model of its own
    assert both.path == "a.json, b.json"
    assert [(m.name, m.file) for m in both.models] == [("net", "net.yaml"), ("other", "net.yaml"), ("net", "other.yaml")]
    with pytest.raises(SpecError) as e:
        first.merged(_base_of("b.json", ("x", "x.yaml"), ("other", "net.yaml")))
    # the second model of b.json is at line 3 + 5 = 8, column 7
    assert str(e.value) == "b.json:8:7: baseline model 'other' is also in a.json; give each model's baseline once"


@pytest.mark.parametrize(("budget", "message"), [
    ("max_growth: [5%]", "b.yaml:1:13: max_growth must be a percentage like 2%, got a list"),  # 'max_growth: ' is 12
    ("max_growth: {macs: [5%]}", "b.yaml:1:20: max_growth of macs must be a percentage like 2%, got a list"),
    ("max_growth: {macs: 5%, params: {x: 1}}",  # 'max_growth: {macs: 5%, params: ' is 31 characters
     "b.yaml:1:32: max_growth of params must be a percentage like 2%, got a mapping"),
])
def test_a_growth_that_is_not_a_scalar_is_refused_where_it_is(budget: str, message: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked against mutations of `_percent` (its message, its location or the value's type name dropped)."""
    monkeypatch.chdir(tmp_path)
    Path("net.yaml").write_text(NET, encoding="utf-8")
    Path("b.yaml").write_text(budget + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["check", "net.yaml", "-B", "b.yaml"], env={"GITHUB_ACTIONS": "", "GITHUB_STEP_SUMMARY": ""})
    assert result.exit_code == 2
    assert result.output.strip() == message


GROWN = {"params": 100, "buffers": 0, "macs": 6_500, "flops": 13_000, "activations": 4 * 8 * 8}  # NET grew from these


@pytest.mark.parametrize(("budget", "code", "lines"), [
    # the model's own per-metric rule beats the file's; FLOPs have no rule at all: 0 %
    ("max_growth: {params: 50%}\nmodels:\n  net: {max_growth: {macs: 5%}}\n", 1, [
        # '  net: {max_growth: {macs: ' is 27 characters; 6,500 · 1.05 = 6,825
        "b.yaml:3:28: error: model 'net': MACs 6,912 (6.91 K) is +6.3 % against the baseline (6,500), over the allowed "
        "growth of +5% (at most 6,825)",
        # 2 · 6,912 + 4 · 8 · 8 bias adds = 14,080 against 13,000: +8.3 %
        "base.json: error: model 'net': FLOPs 14,080 (14.08 K) is +8.3 % against the baseline (13,000), over the allowed "
        "growth of +0% (at most 13,000)",
        "convcost check: FAILED: 2 of 5 checks on 1 model over budget or grown too much"]),
    # the model's single percentage beats the file's stricter one: params +12 %, FLOPs +8.3 %, MACs +6.3 % all within 15 %
    ("max_growth: 1%\nmodels:\n  net: {max_growth: 15%}\n", 0, [
        "convcost check: passed: 5 checks on 1 model, all within budget"]),
    # the same for per-metric rules: the model's 10 % for MACs beats the file's 1 %
    ("max_growth: {macs: 1%, flops: 10%, params: 20%}\nmodels:\n  net: {max_growth: {macs: 10%}}\n", 0, [
        "convcost check: passed: 5 checks on 1 model, all within budget"]),
    # a bare number is a percentage, shown with its sign: 100 · 1.05 = 105, 6,500 · 1.05 = 6,825, 13,000 · 1.05 = 13,650
    ("max_growth: 5\n", 1, [
        "b.yaml:1:13: error: model 'net': params 112 (112) is +12.0 % against the baseline (100), over the allowed growth "
        "of +5% (at most 105)",
        "b.yaml:1:13: error: model 'net': MACs 6,912 (6.91 K) is +6.3 % against the baseline (6,500), over the allowed "
        "growth of +5% (at most 6,825)",
        "b.yaml:1:13: error: model 'net': FLOPs 14,080 (14.08 K) is +8.3 % against the baseline (13,000), over the allowed "
        "growth of +5% (at most 13,650)",
        "convcost check: FAILED: 3 of 5 checks on 1 model over budget or grown too much"]),
    ("max_growth: {mac: 5%}\n", 2, [  # 'max_growth: {' is 13 characters
        "b.yaml:1:14: unknown key 'mac' in 'max_growth' (did you mean 'macs'?); expected one of: params, buffers, macs, "
        "flops, activations"]),
])
def test_growth_rules_read_from_a_budget_file(budget: str, code: int, lines: list[str], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked against mutations of `_growth` that survived mutmut: a per-metric rule made one for every metric, its
    text, place or level dropped, the scalar rule's level dropped, the unknown key's context changed, a bare number's
    text shown without its '%' (`_pct_text`)."""
    monkeypatch.chdir(tmp_path)
    Path("net.yaml").write_text(NET, encoding="utf-8")
    Path("base.json").write_text(json.dumps({"schema": "convcost.analyze/1", "models": [
        {"name": "net", "file": "net.yaml", "totals": GROWN}]}), encoding="utf-8")
    Path("b.yaml").write_text(budget, encoding="utf-8")
    result = CliRunner().invoke(app, ["check", "net.yaml", "--baseline", "base.json", "-B", "b.yaml"],
                                env={"GITHUB_ACTIONS": "", "GITHUB_STEP_SUMMARY": ""})
    assert result.exit_code == code, result.output
    assert result.output.splitlines() == lines


def test_growth_shown_shrunk_unchanged_and_new(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked against mutations of `_grow` that survived mutmut (its ±0, 'new' and '−' texts and their tests).
    `pct >= 0` → `pct > 0` is equivalent: pct is never 0 there (delta 0 returned '±0 %' already)."""
    monkeypatch.chdir(tmp_path)
    Path("net.yaml").write_text(NET, encoding="utf-8")
    was = {"params": 200, "buffers": 0, "macs": MACS, "flops": 0, "activations": 4 * 8 * 8}
    Path("base.json").write_text(json.dumps({"schema": "convcost.analyze/1", "models": [
        {"name": "net", "file": "net.yaml", "totals": was}]}), encoding="utf-8")
    result = CliRunner().invoke(app, ["check", "net.yaml", "--baseline", "base.json", "--max-growth", "0%", "-v"],
                                env={"GITHUB_ACTIONS": "", "GITHUB_STEP_SUMMARY": ""})
    assert result.exit_code == 1, result.output
    assert result.output.splitlines()[:5] == [
        # 112 against 200: (112 − 200) / 200 = −44.0 %
        "base.json: ok: model 'net': params 112 (112) is −44.0 % against the baseline (200), within the allowed growth "
        "of +0% (at most 200)",
        "base.json: ok: model 'net': buffers 0 (0) is ±0 % against the baseline (0), within the allowed growth of +0% "
        "(at most 0)",
        "base.json: ok: model 'net': MACs 6,912 (6.91 K) is ±0 % against the baseline (6,912), within the allowed growth "
        "of +0% (at most 6,912)",
        # 2 · 6,912 + 256 bias adds = 14,080 FLOPs where the baseline had none: no percentage of 0
        "base.json: error: model 'net': FLOPs 14,080 (14.08 K) is new against the baseline (0), over the allowed growth "
        "of +0% (at most 0)",
        "base.json: ok: model 'net': activations 256 (256) is ±0 % against the baseline (256), within the allowed growth "
        "of +0% (at most 256)",
    ]


def test_a_baseline_model_s_place_is_its_name_key(tmp_path: Path) -> None:
    """Checked against a mutation of `_model_lines` that survived mutmut (the least indentation taken from the line
    numbers): here the first "name" key is on line 3 and indented 4, so the two differ."""
    totals = json.dumps(GROWN)
    text = '{"schema": "convcost.analyze/1", "models": [\n  {\n    "name": "net", "file": "net.yaml",\n    "totals": ' \
        + totals + "\n  }\n]}\n"
    (tmp_path / "a.json").write_text(text, encoding="utf-8")
    (tmp_path / "b.json").write_text(text, encoding="utf-8")
    first, second = load_baseline(tmp_path / "a.json"), load_baseline(tmp_path / "b.json")
    with pytest.raises(SpecError) as e:
        first.merged(second)
    # line 3, column 5: four spaces before "name"
    assert str(e.value) == f"{tmp_path / 'b.json'}:3:5: baseline model 'net' is also in {tmp_path / 'a.json'}; give each " \
        "model's baseline once"


def test_a_renamed_model_is_found_after_a_kept_one_and_other_files_models_are_left_alone() -> None:
    """Checked against mutations of `check_renamed` that survived mutmut and test_hostile_cli's renaming test: the
    loop stopped at the first model kept (`continue` → `break`), a model of another spec file taken for renamed."""
    a = analysis_of(NET)  # model 't' of t.yaml
    totals = _baseline(MACS).models[0].totals
    kept, elsewhere = BaselineModel("t", "t.yaml", totals, Loc("base.json", 3, 7)), BaselineModel("x", "other.yaml", totals,
                                                                                                   Loc("base.json", 6, 7))
    check_renamed([a], Baseline("base.json", (kept, elsewhere)))  # nothing renamed: other.yaml is not checked
    gone = BaselineModel("gone", "t.yaml", totals, Loc("base.json", 9, 7))
    with pytest.raises(SpecError) as e:
        check_renamed([a], Baseline("base.json", (kept, elsewhere, gone)))
    assert str(e.value) == ("base.json:9:7: baseline model 'gone' was recorded from t.yaml, which has no model 'gone' now "
                            "(it has t); a renamed or removed model must not escape its baseline: record the baseline "
                            "again, or name the models to check with --model")


def test_a_baseline_model_from_another_file_is_taken_when_it_is_the_only_one() -> None:
    """Checked against a mutation of `Baseline.find` that survived mutmut and test_hostile_cli (`len(same) > 1` made
    `>= 1`: the one model of that name, recorded from another spec file, refused as ambiguous)."""
    a = analysis_of(NET)  # model 't' of t.yaml
    totals = _baseline(MACS).models[0].totals
    moved = BaselineModel("t", "old/t.yaml", totals, Loc("base.json", 3, 7))
    assert Baseline("base.json", (moved,)).find(a) is moved
    other = BaselineModel("t", "u.yaml", totals, Loc("base.json", 6, 7))
    with pytest.raises(SpecError) as e:  # two, neither from t.yaml: which one is it?
        Baseline("base.json", (moved, other)).find(a)
    assert str(e.value) == ("base.json:6:7: baseline has 2 models named 't', none recorded from t.yaml (they are from "
                            "old/t.yaml, u.yaml); keep the one for this spec")
