"""Reliability round 2 (issue #15): attacks on the command line's inputs and outputs that used to
clobber a baseline, pass CI falsely or end in a traceback. Spec-level attacks live in
tests/bad_specs/ and tests/hostile.py; these need files, streams or options around the spec."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CONFIGS
from typer.testing import CliRunner, Result

from convcost.cli import app


def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    base = {"GITHUB_ACTIONS": "", "GITHUB_STEP_SUMMARY": ""}
    return CliRunner().invoke(app, args, env={**base, **(env or {})})


def bad_input(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.stderr.strip()


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(CONFIGS / "inception_naive_vs_bottleneck.yaml", tmp_path / "net.yaml")
    monkeypatch.chdir(tmp_path)
    made = invoke(["analyze", "net.yaml", "-f", "json", "-o", "base.json"])
    assert made.exit_code == 0, made.output
    Path("budget.yaml").write_text("all: {params: 1G}\n", encoding="utf-8")
    return tmp_path


# ---- 4: --summary (and $GITHUB_STEP_SUMMARY) never replace an input --------------------------------
@pytest.mark.parametrize("target", ["base.json", "net.yaml", "budget.yaml", "./sub/../base.json"])
def test_summary_cannot_replace_an_input(work: Path, target: str) -> None:
    (work / "sub").mkdir()
    before = {p: Path(p).read_bytes() for p in ("base.json", "net.yaml", "budget.yaml")}
    message = bad_input(invoke(["check", "net.yaml", "-B", "budget.yaml", "--baseline", "base.json", "--summary", target]))
    assert message.startswith(f"convcost: error: --summary {target} is the input file ")
    assert message.endswith("; write the summary somewhere else")
    assert {p: Path(p).read_bytes() for p in before} == before


def test_step_summary_cannot_append_to_an_input(work: Path) -> None:
    before = Path("base.json").read_bytes()
    result = invoke(["check", "net.yaml", "--baseline", "base.json"], {"GITHUB_STEP_SUMMARY": str(work / "base.json")})
    message = bad_input(result)
    assert message == (
        f"convcost: error: $GITHUB_STEP_SUMMARY {work / 'base.json'} is the input file base.json; "
        "write the summary somewhere else"
    )
    assert Path("base.json").read_bytes() == before


# ---- 10 and 14: a baseline names each model once; its field errors point at the field ------------------
def test_duplicate_model_in_a_baseline_is_refused(work: Path) -> None:
    doc = json.loads(Path("base.json").read_text(encoding="utf-8"))
    planted = json.loads(json.dumps(doc["models"][0]))
    for key in planted["totals"]:
        planted["totals"][key] *= 4  # the planted entry first: doubled MACs would pass against it
    doc["models"].insert(0, planted)
    Path("base.json").write_text(json.dumps(doc) + "\n", encoding="utf-8")  # one line: columns tell the entries apart
    text = Path("base.json").read_text(encoding="utf-8")
    entry = '{"name": "naive"'
    first = text.index(entry) + 1  # 1-based columns of the two entries
    second = text.index(entry, first) + 1
    message = bad_input(invoke(["check", "net.yaml", "--baseline", "base.json"]))
    assert message == (
        f"base.json:1:{second}: baseline names model 'naive' twice (first at line 1, column {first}); "
        "a baseline holds each model once"
    )


@pytest.mark.parametrize(
    ("plant", "key"),
    [
        (('"macs": 120422400,', '"macs": 120422400, "macs": 999999999999,'), "macs"),  # the last one won: MACs could grow 8,000×
        (('"models": [', '"models": [], "models": ['), "models"),
        (('"name": "naive",', '"name": "naive", "name": "other",'), "name"),
    ],
    ids=["totals", "top-level", "model"],
)
def test_duplicate_keys_in_a_baseline_are_refused(work: Path, plant: tuple[str, str], key: str) -> None:
    text = Path("base.json").read_text(encoding="utf-8")
    assert plant[0] in text
    text = text.replace(plant[0], plant[1], 1)
    Path("base.json").write_text(text, encoding="utf-8")
    second = text.index(f'"{key}"', text.index(f'"{key}"') + 1)  # the repeated key
    first = text.rindex(f'"{key}"', 0, second)
    line = text.count("\n", 0, second) + 1
    col, first_col = second - text.rfind("\n", 0, second), first - text.rfind("\n", 0, first)
    message = bad_input(invoke(["check", "net.yaml", "--baseline", "base.json"]))
    assert message == (
        f"base.json:{line}:{col}: baseline JSON has the key '{key}' twice in one object "
        f"(first at line {text.count(chr(10), 0, first) + 1}, column {first_col}); JSON keys must be unique"
    )


def test_duplicate_keys_in_verify_results_are_refused(work: Path) -> None:
    # the second "schema" starts at column 33: {"schema": "convcost.verify/1", is 32 characters
    Path("ver.json").write_text('{"schema": "convcost.verify/1", "schema": "x", "models": []}\n', encoding="utf-8")
    message = bad_input(invoke(["report", "net.yaml", "--verify", "ver.json"]))
    assert message == (
        "ver.json:1:33: result JSON has the key 'schema' twice in one object (first at line 1, column 2); "
        "JSON keys must be unique"
    )


def test_the_same_model_in_two_baselines_is_ambiguous(work: Path) -> None:
    shutil.copy("base.json", "copy.json")
    message = bad_input(invoke(["check", "net.yaml", "--baseline", "base.json", "--baseline", "copy.json"]))
    assert message.startswith("copy.json:")
    assert "model 'naive' is also in base.json" in message


def test_baseline_field_errors_point_at_the_field(work: Path) -> None:
    doc = json.loads(Path("base.json").read_text(encoding="utf-8"))
    doc["models"][1]["totals"]["macs"] = -5
    text = json.dumps(doc)  # one line
    Path("base.json").write_text(text, encoding="utf-8")
    col = text.index("-5") + 1
    message = bad_input(invoke(["check", "net.yaml", "--baseline", "base.json"]))
    assert message == f"base.json:1:{col}: baseline model 'bottleneck': totals.macs must be a non-negative integer"
    doc["models"][1]["batch"] = "two"
    doc["models"][1]["totals"]["macs"] = 5
    text = json.dumps(doc)
    Path("base.json").write_text(text, encoding="utf-8")
    col = text.index('"two"') + 1
    message = bad_input(invoke(["check", "net.yaml", "--baseline", "base.json"]))
    assert message == f"base.json:1:{col}: baseline model 'bottleneck': batch must be a positive integer"
    doc["models"][1] = {"name": 3}
    text = json.dumps(doc)
    Path("base.json").write_text(text, encoding="utf-8")
    col = text.index('{"name": 3}') + 1
    message = bad_input(invoke(["check", "net.yaml", "--baseline", "base.json"]))
    assert message == f"base.json:1:{col}: baseline model #2 needs a 'name' and 'totals'"


# ---- 5: across sources the strictest growth allowance wins; within one source the most specific ---
NAIVE_MACS = 28 * 28 * 32 * 5 * 5 * 192  # 120,422,400 (configs/inception_naive_vs_bottleneck.yaml)


def _baseline_naive_macs(macs: int) -> None:
    doc = json.loads(Path("base.json").read_text(encoding="utf-8"))
    doc["models"][0]["totals"]["macs"] = macs
    Path("base.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def _spec_budget(text: str) -> None:
    spec = Path("net.yaml").read_text(encoding="utf-8")
    Path("net.yaml").write_text(spec.replace("    input: [192, 28, 28]\n", f"    budget: {text}\n    input: [192, 28, 28]\n", 1),
                                encoding="utf-8")


@pytest.mark.parametrize(
    ("budgets", "args"),
    [
        ({"ci.yaml": "models: {naive: {max_growth: 0%}}\n"}, ["-B", "ci.yaml"]),
        ({}, ["--max-growth", "0%"]),
        ({"ci.yaml": "max_growth: 0%\n"}, ["-B", "ci.yaml", "--max-growth", "5%"]),
        ({"ci.yaml": "all: {max_growth: {macs: 0%}}\n"}, ["-B", "ci.yaml"]),
    ],
    ids=["budget-file-model", "command-line", "file-and-command-line", "budget-file-all-per-metric"],
)
def test_a_spec_cannot_loosen_the_growth_allowance(work: Path, budgets: dict[str, str], args: list[str]) -> None:
    _baseline_naive_macs(NAIVE_MACS // 2)  # the model doubled its MACs
    _spec_budget("{max_growth: 1000%}")
    for name, text in budgets.items():
        Path(name).write_text(text, encoding="utf-8")
    result = invoke(["check", "net.yaml", "--baseline", "base.json", *args])
    assert result.exit_code == 1, result.output
    assert "model 'naive': MACs 120,422,400 (120.42 M) is +100.0 % against the baseline (60,211,200), over the allowed " \
        "growth of +0%" in result.output


@pytest.mark.parametrize("args", [[], ["-B", "ci.yaml"], ["--max-growth", "0%"]], ids=["baseline", "budget", "cli"])
def test_a_spec_cannot_escape_its_baseline_by_renaming_a_model(work: Path, args: list[str]) -> None:
    """'naive' renamed 'wide' with twice the channels: the baseline's 'naive' was never looked at and
    'wide' was a new model (a note), so doubled MACs passed with exit 0."""
    Path("ci.yaml").write_text("models: {naive: {max_growth: 0%}}\n", encoding="utf-8")
    spec = Path("net.yaml").read_text(encoding="utf-8")
    Path("net.yaml").write_text(spec.replace("  naive:\n", "  wide:\n", 1).replace("out: 32", "out: 64", 1), encoding="utf-8")
    result = invoke(["check", "net.yaml", "--baseline", "base.json", *args])
    assert bad_input(result) == (
        "base.json:6:7: baseline model 'naive' was recorded from net.yaml, which has no model 'naive' now "
        "(it has bottleneck, wide); a renamed or removed model must not escape its baseline: record the baseline "
        "again, or name the models to check with --model"
    )
    result = invoke(["check", "net.yaml", "--baseline", "base.json", "-m", "bottleneck", *args])
    assert result.exit_code == 0, result.output  # the models named are checked, as before


def test_a_spec_can_tighten_the_growth_allowance(work: Path) -> None:
    _baseline_naive_macs(NAIVE_MACS - 1)
    _spec_budget("{max_growth: {macs: 0%}}")  # line 8, the 0% at column 33
    result = invoke(["check", "net.yaml", "--baseline", "base.json", "--max-growth", "10%"])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("net.yaml:8:33: error: model 'naive': MACs 120,422,400")


@pytest.mark.parametrize("order", [("loose.yaml", "strict.yaml"), ("strict.yaml", "loose.yaml")])
def test_of_two_budget_files_the_stricter_allowance_wins(work: Path, order: tuple[str, str]) -> None:
    _baseline_naive_macs(NAIVE_MACS // 2)
    Path("loose.yaml").write_text("max_growth: 150%\n", encoding="utf-8")
    Path("strict.yaml").write_text("max_growth: 50%\n", encoding="utf-8")
    result = invoke(["check", "net.yaml", "--baseline", "base.json", "-B", order[0], "-B", order[1]])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("strict.yaml:1:13: error: model 'naive': MACs")


def test_within_one_budget_file_the_most_specific_allowance_wins(work: Path) -> None:
    _baseline_naive_macs(118_000_000)  # 120,422,400 / 118,000,000 = +2.05 %
    Path("ci.yaml").write_text("max_growth: 1%\nmodels:\n  naive: {max_growth: 3%}\n", encoding="utf-8")
    result = invoke(["check", "net.yaml", "--baseline", "base.json", "-B", "ci.yaml"])
    assert result.exit_code == 0, result.output  # this file allows 'naive' more than the rest
    result = invoke(["check", "net.yaml", "--baseline", "base.json", "-B", "ci.yaml", "--max-growth", "2%"])
    assert result.exit_code == 1, result.output  # but the command line's 2 % is stricter


# ---- 6: closed or wrong standard streams are unusable files: exit 2 and one line -----------------------
def _shell(command: str, cwd: Path) -> tuple[int, str, str]:
    import subprocess
    import sys

    from workmeter import HANG_GUARD_S

    full = command.replace("convcost ", f"'{sys.executable}' -m convcost ", 1)
    done = subprocess.run(["bash", "-c", full], cwd=cwd, capture_output=True, text=True, timeout=HANG_GUARD_S, check=False)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("convcost analyze - <&-", "<stdin>: cannot read: standard input is closed"),
        ("convcost analyze - 0>>stdin.txt", "<stdin>: cannot read: Bad file descriptor"),  # write-only stdin
        ("convcost analyze net.yaml >&-", "convcost: error: cannot write the output: standard output is closed"),
        ("convcost analyze net.yaml 1<net.yaml", "convcost: error: cannot write the output: Bad file descriptor"),
        ("convcost check net.yaml --baseline base.json >&-",
         "convcost: error: cannot write the output: standard output is closed"),
    ],
    ids=["stdin-closed", "stdin-write-only", "stdout-closed", "stdout-read-only", "check-stdout-closed"],
)
def test_unusable_standard_streams(work: Path, command: str, message: str) -> None:
    code, _, err = _shell(command, work)
    assert (code, err.strip()) == (2, message)


def test_closed_stdout_does_not_matter_with_an_output_file(work: Path) -> None:
    code, _, err = _shell("convcost analyze net.yaml -f json -o out.json >&-", work)
    assert (code, err.strip()) == (0, "wrote out.json")
    assert json.loads(Path("out.json").read_text(encoding="utf-8"))["schema"] == "convcost.analyze/1"


def test_closed_stderr_keeps_the_exit_code(work: Path) -> None:
    Path("bad.yaml").write_text("input: [3, 8, 8]\nlayers: [nope]\n", encoding="utf-8")
    code, out, _ = _shell("convcost analyze bad.yaml 2>&-", work)
    assert (code, out) == (2, "")  # the message has nowhere to go, and does not land on stdout


@pytest.mark.parametrize(
    ("command", "refused"),
    [
        ("convcost analyze - -f json -o net.yaml <net.yaml", "--output net.yaml"),
        ("convcost report - -o ./net.yaml <net.yaml", "--output ./net.yaml"),
        ("convcost check - --summary net.yaml <net.yaml", "--summary net.yaml"),
        ("convcost check net.yaml --baseline - --summary base.json <base.json", "--summary base.json"),
        ("convcost check net.yaml -B - --summary budget.yaml <budget.yaml", "--summary budget.yaml"),
    ],
    ids=["analyze", "report", "check-spec", "check-baseline", "check-budget"],
)
def test_output_cannot_replace_the_file_read_as_standard_input(work: Path, command: str, refused: str) -> None:
    """`-` reads standard input; when that is a file, writing the output over it loses the input, as
    `-o net.yaml net.yaml` would (which is refused)."""
    before = {p: Path(p).read_bytes() for p in ("net.yaml", "base.json", "budget.yaml")}
    code, _, err = _shell(command, work)
    what = "summary" if refused.startswith("--summary") else "output"
    assert (code, err.strip()) == (
        2, f"convcost: error: {refused} is the file read as standard input; write the {what} somewhere else"
    )
    assert {p: Path(p).read_bytes() for p in before} == before


@pytest.mark.parametrize(
    "command",
    [
        "(echo header; convcost analyze net.yaml -f csv -o /dev/stdout; echo footer) > log.txt",
        "echo header > log.txt; convcost analyze net.yaml -f csv -o /dev/stdout >> log.txt; echo footer >> log.txt",
        "(echo header; convcost analyze net.yaml -f csv -o /dev/stdout | cat; echo footer) > log.txt",
        "(echo header; convcost analyze net.yaml -f csv -o /dev/fd/3 3>&1; echo footer) > log.txt",
    ],
    ids=["file", "append", "pipe", "fd"],
)
def test_output_to_a_descriptor_writes_into_the_stream(work: Path, command: str) -> None:
    """`-o /dev/stdout` names the stream, not the file behind it: replacing that file dropped what the
    shell had written before (and after), and through a pipe it was 'No such file or directory'."""
    code, _, err = _shell(command, work)
    assert (code, err.strip()) == (0, f"wrote {command.split('-o ')[1].split()[0].rstrip(';')}")
    lines = Path("log.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "header" and lines[1].startswith("model,layer,op") and lines[-1] == "footer"
    assert len(lines) == 2 + 1 + 3  # header, the CSV's head and its 3 layers (1 + 2), footer


# ---- 12: JSON is strict: a number too large for a float is null, never Infinity/NaN -----------------------
def _strict(text: str) -> object:
    def refuse(constant: str) -> object:
        raise AssertionError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def test_roofline_json_is_strict_when_times_overflow(work: Path) -> None:
    Path("big.yaml").write_text(
        "input: {shape: [1000000000, 1000000000, 1000000000], batch: 1000000}\n"
        "layers:\n  - conv: {out: 1000000000, kernel: 1, bias: false}\n", encoding="utf-8")
    Path("hw.yaml").write_text("devices:\n  slow: {peak: {fp32: 1e-300 FLOP/s}, bandwidth: 1e-300 B/s}\n", encoding="utf-8")
    result = invoke(["roofline", "big.yaml", "-f", "json", "--hw-file", "hw.yaml", "--hw", "slow"])
    assert result.exit_code == 0, result.output
    doc = _strict(result.stdout)
    assert isinstance(doc, dict)
    layer = doc["models"][0]["layers"][0]
    assert layer["compute_s"] is None  # 2·10^42 FLOPs / 10^-300 FLOP/s is past the largest float


# ---- 14: messages that name the right thing ------------------------------------------------------
def test_an_empty_budget_file_is_called_a_budget_file(work: Path) -> None:
    Path("empty.yaml").write_text("# nothing yet\n", encoding="utf-8")
    message = bad_input(invoke(["check", "net.yaml", "-B", "empty.yaml"]))
    assert message == "empty.yaml:1:1: empty budget file: expected a mapping with 'models', 'all' or 'max_growth'"
    message = bad_input(invoke(["roofline", "net.yaml", "--hw-file", "empty.yaml", "--hw", "x"]))
    assert message == "empty.yaml:1:1: empty device profile file: expected a mapping with 'devices'"


def test_exponent_numbers_are_numbers(work: Path) -> None:
    """YAML 1.1 reads 1e-3 (no dot) as a string; convcost reads it as YAML 1.2 does, a number."""
    from convcost.frontend.source import YMap, YScalar, load_yaml

    root = load_yaml("a: 1e-3\nb: 5E+1\nc: '1e-3'\nd: 1e999\ne: 2.5e-1\nf: 1e\n", "x.yaml")
    assert isinstance(root, YMap)
    values = {k: v.value for k, v in root.items.items() if isinstance(v, YScalar)}
    assert values == {"a": 0.001, "b": 50.0, "c": "1e-3", "d": "1e999", "e": 0.25, "f": "1e"}
    Path("p.yaml").write_text("input: [3, 8, 8]\nlayers:\n  - dropout: {p: 5e-1}\n", encoding="utf-8")
    assert invoke(["analyze", "p.yaml"]).exit_code == 0


# ---- 9: a file name is user input: escaped wherever it is printed ------------------------------------------
EVIL = "net\n::stop-commands::tok\x1b[2J.yaml"


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["check", EVIL, "-v"], True),  # the spec's own budget: every finding line starts with the file name
        (["check", EVIL, "--baseline", "base.json", "-v"], True),
        (["check", EVIL, "-B", "typo.yaml"], False),  # an error message
        (["analyze", EVIL, "-f", "markdown"], True),
        (["analyze", EVIL], False),
        (["report", EVIL], True),
        (["analyze", EVIL, "-m", "nope"], True),
    ],
    ids=["check-limits", "check-growth", "check-error", "analyze-markdown", "analyze-table", "report", "unknown-model"],
)
def test_a_hostile_file_name_cannot_write_commands_or_escapes(work: Path, args: list[str], shown: bool) -> None:
    Path(EVIL).write_text("budget: {macs: 1, max_growth: 0%}\n" + Path("net.yaml").read_text(encoding="utf-8"),
                          encoding="utf-8")
    Path("typo.yaml").write_text("models:\n  naiv: {macs: 1}\n", encoding="utf-8")
    doc = json.loads(Path("base.json").read_text(encoding="utf-8"))
    for m in doc["models"]:
        m["file"] = EVIL
    Path("base.json").write_text(json.dumps(doc), encoding="utf-8")
    result = invoke(args, {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(work / "summary.md")})
    assert "Traceback" not in result.output
    summary = Path("summary.md").read_text(encoding="utf-8") if Path("summary.md").exists() else ""
    for text in (result.stdout, result.stderr, summary):
        assert "\x1b" not in text
        assert not any(line.startswith("::stop-commands::") for line in text.splitlines()), text
    if shown:
        assert "net\\n::stop-commands::tok\\x1b[2J.yaml" in result.stdout + result.stderr


# ---- 11: -o respects the target's permissions and ownership, as `cp` or `echo >` would ---------------------
NOBODY = 65534
USERS_GID = 100


def _as_nobody() -> None:  # preexec_fn: drop root to an unprivileged user in two groups
    import os

    os.setgroups([NOBODY, USERS_GID])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def _run_unprivileged(args: list[str], cwd: Path) -> tuple[int, str]:
    """`convcost ARGS` in a forked child that dropped root (the interpreter's own files may be unreadable to
    'nobody', so the child runs the CLI in-process, with what it needs imported before the fork)."""
    import encodings.utf_8_sig  # noqa: F401 - imported for the child
    import os
    import tempfile  # noqa: F401 - imported for the child

    import convcost.render.json_out
    import convcost.util.fsutil  # noqa: F401 - imported for the child

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code, err = 99, "child failed"
        try:
            os.close(read)
            _as_nobody()
            os.chdir(cwd)
            result = CliRunner().invoke(app, args)
            code, err = result.exit_code, result.stderr.strip() or repr(result.exception)
        except BaseException as e:
            err = f"child failed: {e!r}"
        finally:
            os.write(write, f"{code}\n{err}".encode())
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        data = fh.read().decode()
    os.waitpid(pid, 0)
    code_text, _, err = data.partition("\n")
    return int(code_text), err


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory anyone may write in (as /tmp; pytest's own tmp_path is private to root), holding a spec
    anyone may read."""
    import os
    import tempfile

    if os.geteuid() != 0:
        pytest.skip("needs root to create files owned by another user and to drop to that user")
    d = Path(tempfile.mkdtemp(prefix="convcost-shared-"))
    try:
        d.chmod(0o777)
        shutil.copy(CONFIGS / "inception_naive_vs_bottleneck.yaml", d / "net.yaml")
        (d / "net.yaml").chmod(0o644)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_output_does_not_replace_a_read_only_file(shared: Path) -> None:
    import os

    target = shared / "baseline.json"
    target.write_text("old\n", encoding="utf-8")
    target.chmod(0o444)  # owned by root, read-only: `echo > baseline.json` as nobody fails
    code, err = _run_unprivileged(["analyze", "net.yaml", "-f", "json", "-o", "baseline.json"], shared)
    assert (code, err) == (2, "baseline.json: cannot write: Permission denied")
    assert target.read_text(encoding="utf-8") == "old\n"
    assert os.stat(target).st_uid == 0
    assert [p.name for p in shared.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_output_keeps_the_group_of_the_file_it_replaces(shared: Path) -> None:
    import os

    target = shared / "baseline.json"
    target.write_text("old\n", encoding="utf-8")
    os.chown(target, NOBODY, USERS_GID)
    target.chmod(0o640)
    code, err = _run_unprivileged(["analyze", "net.yaml", "-f", "json", "-o", "baseline.json"], shared)
    assert (code, err) == (0, "wrote baseline.json")
    st = os.stat(target)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (NOBODY, USERS_GID, 0o640)
    assert json.loads(target.read_text(encoding="utf-8"))["schema"] == "convcost.analyze/1"


# ---- 8: profile's numeric options are finite and in range (checked before torch is imported) ---------------
@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--min-time", "nan"], "--min-time must be a finite number of seconds from 0 to 60, got nan"),
        (["--min-time", "inf"], "--min-time must be a finite number of seconds from 0 to 60, got inf"),
        (["--min-time", "1e308"], "--min-time must be a finite number of seconds from 0 to 60, got 1e+308"),
        (["--threads", "100000"], "--threads 100,000 is too many (limit 1,024)"),
    ],
)
def test_profile_refuses_absurd_numbers(work: Path, option: list[str], message: str) -> None:
    from workmeter import measure

    with measure() as done:
        assert bad_input(invoke(["profile", "net.yaml", "--no-progress", *option])) == f"convcost: error: {message}"
    # refused before anything is built or timed: 9,500-16,000 calls; a profile run of net.yaml makes 10 times more
    assert done.calls <= 50_000, f"{done.calls:,} calls"


# ---- 7: verify turns every torch error on a spec `analyze` accepts into exit 2 and a message ---------------
@pytest.mark.parametrize(
    ("layers", "input_shape", "args", "expected"),
    [
        ("conv: {out: 4, kernel: 3, padding: 1000000000}", "[3, 8, 8]", [], "cannot run model 'm' on meta: "
         "Storage size calculation overflowed"),
        ("conv: {out: 1000000000, kernel: 1, bias: false}",
         "{shape: [1000000000, 1000000000, 1000000000], batch: 1000000}", [], "cannot run model 'm' on meta: "),
        # 12 TB for the input alone: refused by any allocator (profile answers exit 2 here already)
        ("conv: {out: 4, kernel: 3}", "[3, 1000000, 1000000]", ["--max-memory", "1000T"],
         "model 'm': torch ran out of memory verifying it on cpu (a real forward needs about "),
    ],
    ids=["huge-padding", "huge-shapes-meta", "allocation-failure"],
)
def test_verify_turns_torch_errors_into_messages(work: Path, layers: str, input_shape: str, args: list[str],
                                                 expected: str) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("fvcore")
    Path("m.yaml").write_text(f"input: {input_shape}\nlayers:\n  - {layers}\n", encoding="utf-8")
    assert invoke(["analyze", "m.yaml"]).exit_code == 0  # a spec analyze accepts
    message = bad_input(invoke(["verify", "m.yaml", *args]))
    assert expected in message
    assert "\n" not in message


def test_same_named_baselines_from_other_spec_files_are_ambiguous(work: Path) -> None:
    doc = json.loads(Path("base.json").read_text(encoding="utf-8"))
    first = json.loads(json.dumps(doc["models"][0]))
    first["file"] = "a/net.yaml"
    doc["models"][0]["file"] = "b/net.yaml"  # neither is the spec checked (net.yaml): which is its baseline?
    doc["models"].insert(0, first)
    Path("base.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    message = bad_input(invoke(["check", "net.yaml", "--baseline", "base.json"]))
    assert message.startswith("base.json:")
    assert "baseline has 2 models named 'naive', none recorded from net.yaml (they are from a/net.yaml, b/net.yaml)" in message
