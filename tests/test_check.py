"""`convcost check`: budgets (file and in-spec), baseline growth, CI output, every exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import CONFIGS
from golden_files import assert_golden
from typer.testing import CliRunner

from convcost.ci.annotations import annotation
from convcost.cli import app
from convcost.errors import Loc

runner = CliRunner()

NAIVE_MACS = 28 * 28 * 32 * 5 * 5 * 192  # 120,422,400
BOTTLENECK_MACS = 28 * 28 * 16 * 192 + 28 * 28 * 32 * 5 * 5 * 16  # 12,443,648
CONV5X5_SMALL = 28 * 28 * 32 * 5 * 5 * 16  # 10,035,200 (the 5x5 after the 1x1 reduction)

# line numbers and columns in the comments are where each value starts
BUDGET = """\
models:
  naive:
    macs: 100M
    params: 160K
  bottleneck:
    macs: 13M
    blocks:
      conv5x5: {macs: 10M}
"""


def write(tmp: Path, name: str, text: str) -> str:
    (tmp / name).write_text(text, encoding="utf-8")
    return name


def run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    base = {"GITHUB_ACTIONS": "", "GITHUB_STEP_SUMMARY": ""}
    result = runner.invoke(app, args, env={**base, **(env or {})})
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_over_budget_exits_1_with_file_line_col(here: Path) -> None:
    write(here, "budget.yaml", BUDGET)
    code, out = run(["check", "-B", "budget.yaml"])
    assert code == 1
    lines = out.splitlines()
    # naive: 120,422,400 - 100,000,000 = 20,422,400 over (+20.4 %); value at line 3, col 11
    assert lines[0] == (
        "budget.yaml:3:11: error: model 'naive': MACs 120,422,400 (120.42 M) over budget 100M (100,000,000) "
        "by 20,422,400 (+20.4 %)"
    )
    # bottleneck's 5x5: 10,035,200 - 10,000,000 = 35,200 over; '      conv5x5: {macs: ' is 22 characters
    assert lines[1].startswith("budget.yaml:8:23: error: model 'bottleneck', block 'conv5x5': MACs 10,035,200")
    assert "by 35,200 (+0.4 %)" in lines[1]
    assert lines[-1] == "convcost check: FAILED: 2 of 4 checks on 2 models over budget or grown too much"
    assert len(lines) == 3  # passing checks are quiet without -v


def test_within_budget_exits_0_and_verbose_lists_checks(here: Path) -> None:
    write(here, "budget.yaml", "models:\n  naive: {macs: 121M, params: 153600}\n  bottleneck: {flops: 25M}\n")
    code, out = run(["check", "-B", "budget.yaml", "-v"])
    assert code == 0, out
    assert "ok: model 'naive': MACs 120,422,400 (120.42 M) within budget 121M" in out
    assert "params 153,600 (153.60 K) within budget 153600 (100.0 % of it)" in out  # exactly at the limit passes
    assert "FLOPs 24,887,296" in out  # 2 * 12,443,648: no bias, no BN, no activation
    assert out.splitlines()[-1] == "convcost check: passed: 3 checks on 2 models, all within budget"


def test_scopes_and_layers_by_dotted_name(here: Path) -> None:
    write(
        here,
        "budget.yaml",
        "models:\n  bottleneck:\n    blocks:\n      block: {macs: 219M}\n      block.conv2: {macs: 115M}\n",
    )
    code, out = run(["check", str(CONFIGS / "resnet_bottleneck.yaml"), "-B", "budget.yaml", "-v"])
    assert code == 1
    # block: 56*56*(256*64 + 64*64*9 + 64*256) = 218,365,952 <= 219M
    assert "block 'block': MACs 218,365,952 (218.37 M) within budget 219M" in out
    # block.conv2: 56*56*64 * 64*3*3 = 115,605,504 > 115M
    assert "budget.yaml:5:27: error: model 'bottleneck', block 'block.conv2': MACs 115,605,504" in out


SPEC_WITH_BUDGETS = """\
budget:
  params: 200K
models:
  naive:
    input: [192, 28, 28]
    budget: {macs: 100M}
    layers:
      - conv: {name: conv5x5, out: 32, kernel: 5, padding: same, bias: false}
  bottleneck:
    input: [192, 28, 28]
    layers:
      - conv: {name: reduce1x1, out: 16, kernel: 1, bias: false}
      - conv: {name: conv5x5, out: 32, kernel: 5, padding: same, bias: false}
"""


def test_budgets_inside_the_spec(here: Path) -> None:
    write(here, "net.yaml", SPEC_WITH_BUDGETS)
    code, out = run(["check", "net.yaml", "-v"])
    assert code == 1
    assert "net.yaml:6:20: error: model 'naive': MACs 120,422,400" in out  # '    budget: {macs: ' = 19 chars
    assert "net.yaml:2:11: ok: model 'naive': params 153,600" in out  # file level applies to every model
    assert "net.yaml:2:11: ok: model 'bottleneck': params 15,872" in out  # 192*16 + 16*5*5*32
    assert "1 of 3 checks on 2 models" in out


def test_single_model_file_budget_counts_once(here: Path) -> None:
    spec = (
        "input: [192, 28, 28]\nbudget: {macs: 12M}\nlayers:\n  - conv: {out: 16, kernel: 1, bias: false}\n"
        "  - conv: {out: 32, kernel: 5, padding: same, bias: false}\n"
    )
    write(here, "one.yaml", spec)
    code, out = run(["check", "one.yaml"])
    assert code == 1
    # 12,443,648 - 12,000,000 = 443,648 over
    assert "one.yaml:2:16: error: model 'one': MACs 12,443,648 (12.44 M) over budget 12M (12,000,000) by 443,648" in out
    assert "1 of 1 check on 1 model" in out


def baseline(here: Path, naive_macs: int, model: list[str] | None = None) -> str:
    args = ["analyze", "-f", "json"] + [a for m in (model or []) for a in ("-m", m)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    for m in doc["models"]:
        if m["name"] == "naive":
            m["totals"]["macs"] = naive_macs
    return write(here, "base.json", json.dumps(doc, indent=2) + "\n")


def test_baseline_growth(here: Path) -> None:
    baseline(here, 118_000_000)
    # 120,422,400 / 118,000,000 = +2.05 %: over 2 % (120,360,000), within 3 % (121,540,000)
    code, out = run(["check", "--baseline", "base.json", "--max-growth", "2%"])
    assert code == 1
    # the baseline's second model entry is '      "name": "naive"' on line 6 (indent 2 per level)
    assert out.splitlines()[0] == (
        "base.json:6:7: error: model 'naive': MACs 120,422,400 (120.42 M) is +2.1 % against the baseline "
        "(118,000,000), over the allowed growth of +2% (at most 120,360,000)"
    )
    code, out = run(["check", "--baseline", "base.json", "--max-growth", "3"])
    assert code == 0, out
    assert "passed: 10 checks on 2 models" in out  # 5 metrics x 2 models
    code, out = run(["check", "--baseline", "base.json"])  # no allowance: any growth fails
    assert code == 1


def test_growth_rules_in_budget_file_most_specific_wins(here: Path) -> None:
    baseline(here, 118_000_000)
    write(here, "budget.yaml", "max_growth: {macs: 3%}\n")
    code, out = run(["check", "--baseline", "base.json", "-B", "budget.yaml", "--max-growth", "1%"])
    assert code == 1, out  # across sources the strictest wins: the command line's 1 % (issue #15)
    code, out = run(["check", "--baseline", "base.json", "-B", "budget.yaml", "--max-growth", "5%"])
    assert code == 0, out  # the file's 3 % for MACs is the strictest
    write(here, "budget.yaml", "max_growth: 3%\nmodels:\n  naive:\n    max_growth: 2%\n")
    code, out = run(["check", "--baseline", "base.json", "-B", "budget.yaml"])
    assert code == 1
    assert out.startswith("budget.yaml:4:17: error: model 'naive': MACs")  # the model's own 2 %


def test_model_missing_from_baseline_is_a_note(here: Path) -> None:
    baseline(here, NAIVE_MACS, ["naive"])
    code, out = run(["check", "--baseline", "base.json"])
    assert code == 0, out
    assert "base.json: note: model 'bottleneck' is not in the baseline" in out


def test_github_actions_annotations_and_step_summary(here: Path) -> None:
    write(here, "budget.yaml", BUDGET)
    summary = here / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    code, out = run(["check", "-B", "budget.yaml"], {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    assert code == 1
    assert (
        "::error file=budget.yaml,line=3,col=11,title=convcost budget::model 'naive': MACs 120,422,400 (120.42 M) "
        "over budget 100M (100,000,000) by 20,422,400 (+20.4 %25)"
    ) in out.splitlines()
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n### ❌ convcost check: FAILED")
    assert_golden("check_summary.md", text.removeprefix("earlier step\n"))
    code, out = run(["check", "-B", "budget.yaml"])
    assert "::error" not in out  # only inside GitHub Actions


def test_summary_file_option(here: Path) -> None:
    write(here, "budget.yaml", "all: {params: 1G}\n")
    code, _ = run(["check", "-B", "budget.yaml", "--summary", "s.md"])
    assert code == 0
    assert (here / "s.md").read_text(encoding="utf-8").startswith("### ✅ convcost check: passed: 2 checks")


def test_annotation_escaping() -> None:
    assert annotation("error", "50% done\nnext", Loc("a,b:c.yaml", 3, 4)) == (
        "::error file=a%2Cb%3Ac.yaml,line=3,col=4,title=convcost::50%25 done%0Anext"
    )
    assert annotation("error", "x", Loc("<built-in>/e.yaml", 1, 1)) == "::error title=convcost::x"


@pytest.mark.parametrize(
    ("files", "args", "needle"),
    [
        ({"b.yaml": "models:\n  naive: {macss: 1M}\n"}, ["-B", "b.yaml"], "b.yaml:2:11: unknown key 'macss'"),
        ({"b.yaml": "models:\n  naive: {macs: 12X}\n"}, ["-B", "b.yaml"], "b.yaml:2:17: budget 'macs': expected a count"),
        ({"b.yaml": "models:\n  naive: {macs: -5M}\n"}, ["-B", "b.yaml"], "expected a count"),
        (
            {"b.yaml": "models:\n  naive:\n    blocks: {conv5x6: {macs: 1M}}\n"},  # value at col 4+8+1+9+1+6+1 = 30
            ["-B", "b.yaml"],
            "b.yaml:3:30: budget for block 'conv5x6', but model 'naive' has no block or layer of that name "
            "(did you mean 'conv5x5'?)",
        ),
        ({"b.yaml": "models:\n  naiv: {macs: 1G}\n"}, ["-B", "b.yaml"], "b.yaml:2:3: budget for model 'naiv'"),
        ({"b.yaml": "{}\n"}, ["-B", "b.yaml"], "sets no limit"),
        ({}, ["-B", "missing.yaml"], "missing.yaml: no such file"),
        ({}, [], "nothing to check"),
        ({}, ["--max-growth", "2%"], "--max-growth needs --baseline"),
        ({"base.json": "{}"}, ["--baseline", "base.json", "--max-growth", "lots"], "expected a percentage"),
        ({"base.json": '{"schema": "other/1"}'}, ["--baseline", "base.json"], "base.json:1:1: baseline must be"),
        ({"base.json": '{\n  "schema": }'}, ["--baseline", "base.json"], "base.json:2:13: baseline is not valid JSON"),
        ({"x.yaml": "models: [1]\n"}, ["x.yaml", "-B", "x.yaml"], "x.yaml:1:9: 'models' must be a mapping"),
        ({}, ["-m", "naiv", "--baseline", "b.json"], "did you mean 'naive'"),
    ],
)
def test_bad_input_exits_2(here: Path, files: dict[str, str], args: list[str], needle: str) -> None:
    for name, text in files.items():
        write(here, name, text)
    code, out = run(["check", *args])
    assert code == 2, out
    assert needle in out


def test_several_baselines_combine(here: Path) -> None:
    baseline(here, NAIVE_MACS, ["naive"])
    (here / "base.json").rename(here / "a.json")
    baseline(here, BOTTLENECK_MACS - 1, ["bottleneck"])  # the 'naive' edit does not apply: bottleneck only
    doc = json.loads((here / "base.json").read_text(encoding="utf-8"))
    doc["models"][0]["totals"]["macs"] = BOTTLENECK_MACS - 1  # the current model is 1 MAC larger
    write(here, "b.json", json.dumps(doc, indent=2))
    code, out = run(["check", "--baseline", "a.json", "--baseline", "b.json"])
    assert code == 1
    assert "b.json:6:7: error: model 'bottleneck': MACs 12,443,648" in out
    assert "1 of 10 checks on 2 models" in out


def test_documented_example_budget_passes() -> None:
    code, out = run(["check", str(CONFIGS / "resnet50.yaml"), str(CONFIGS / "resnet18.yaml"), "-B",
                     str(CONFIGS.parent / "docs" / "budgets.yaml")])
    assert code == 0, out
    assert out.strip() == "convcost check: passed: 5 checks on 2 models, all within budget"


def test_a_baseline_that_matches_no_model_checks_nothing_and_exits_2(here: Path) -> None:
    baseline(here, NAIVE_MACS, ["naive"])
    doc = json.loads((here / "base.json").read_text(encoding="utf-8"))
    doc["models"][0]["name"] = "renamed"  # the spec's models are naive and bottleneck
    write(here, "base.json", json.dumps(doc))
    code, out = run(["check", "--baseline", "base.json"])
    assert code == 2, out
    assert "nothing was checked on 2 model(s): model 'naive' is not in the baseline" in out


def test_max_growth_without_a_baseline_checks_nothing_and_exits_2(here: Path) -> None:
    write(here, "g.yaml", "max_growth: 1%\n")
    code, out = run(["check", "-B", "g.yaml"])
    assert code == 2, out
    assert "the budgets set only max_growth, which needs --baseline FILE.json" in out


def test_summary_path_is_checked_before_any_check(here: Path) -> None:
    write(here, "budget.yaml", BUDGET)
    code, out = run(["check", "-B", "budget.yaml", "--summary", "no/such/dir/s.md"])
    assert code == 2, out
    assert "--summary no/such/dir/s.md: directory no/such/dir does not exist" in out
    assert "FAILED" not in out  # refused up front, not after the verdict


def test_a_failed_check_stays_exit_1_when_the_step_summary_cannot_be_written(here: Path) -> None:
    write(here, "budget.yaml", BUDGET)
    (here / "summary-dir").mkdir()  # appending to a directory fails
    code, out = run(["check", "-B", "budget.yaml"], {"GITHUB_STEP_SUMMARY": str(here / "summary-dir")})
    assert code == 1, out
    assert "cannot append the step summary" in out


def test_unknown_model_across_several_specs(here: Path) -> None:
    spec = str(CONFIGS / "inception_naive_vs_bottleneck.yaml")
    code, out = run(["check", spec, str(CONFIGS / "grouped_conv.yaml"), "-m", "bottlenek", "--max-growth", "1%",
                     "--baseline", "b.json"])
    assert code == 2, out
    assert "no model 'bottlenek' in any of the specs (did you mean 'bottleneck'?)" in out


def test_budget_for_a_model_not_checked_is_a_note_but_a_near_miss_is_an_error(here: Path) -> None:
    # a repository-wide budget file, a run that checks one of its nets (as the README's pre-commit hook)
    budgets = str(CONFIGS.parent / "docs" / "budgets.yaml")
    code, out = run(["check", str(CONFIGS / "resnet50.yaml"), "-B", budgets])
    assert code == 0, out
    assert "budgets.yaml:11:3: note: budget for model 'resnet18' not used: it is not among the checked models" in out
    # 'naiv' is one letter off 'naive', which is checked and has no budget of its own: a typo
    write(here, "b.yaml", "models:\n  naiv: {macs: 1G}\n  bottleneck: {macs: 1G}\n")
    code, out = run(["check", "-B", "b.yaml"])
    assert code == 2, out
    assert "b.yaml:2:3: budget for model 'naiv', which is not among the checked models (did you mean 'naive'?)" in out


def test_a_baseline_bigger_than_the_spec_limit_is_read(here: Path) -> None:
    from convcost.frontend.source import MAX_FILE_BYTES

    baseline(here, NAIVE_MACS)
    text = (here / "base.json").read_text(encoding="utf-8")
    write(here, "base.json", text + " " * MAX_FILE_BYTES)  # a big model's baseline outgrows the 4 MiB spec limit
    code, out = run(["check", "--baseline", "base.json"])
    assert code == 0, out
    (here / "adir").mkdir()
    code, out = run(["check", "--baseline", "adir"])
    assert code == 2 and "adir: is a directory, expected a baseline JSON file" in out


def test_a_baseline_at_another_batch_is_not_comparable(here: Path) -> None:
    baseline(here, NAIVE_MACS)  # recorded at the spec's batch 1
    code, out = run(["check", "--baseline", "base.json", "--batch", "2", "--max-growth", "1%"])
    assert code == 2, out
    assert "base.json:6:7: baseline model 'naive' was recorded at batch 1, this run is at batch 2" in out
