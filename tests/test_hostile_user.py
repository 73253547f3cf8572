"""Reliability round 3 (issue #19, items 1, 2, 8 and 9): the user's files and the user's code.

1. No output replaces an input: the spec, budgets, baselines, --verify/--profile results, device files, and
   the source file of an import or --reference target (for ``pkg.module:factory``, the module's file).
2. Every exit of the user's code (sys.exit, SystemExit, KeyboardInterrupt, any BaseException) while it is
   imported, built or run is exit code 2 with one line naming the target and the user's file:line.
8. A file name never becomes a GitHub workflow command (a line starting with ``::``, or ``##[cmd]`` anywhere),
   annotation properties round-trip through GitHub's own unescaping, and markdown shows names literally.
9. A path the operating system refuses (too long, not a directory, a loop of links, a directory, no
   permission) is one message and exit code 2 wherever it is given, never a traceback, never exit 1.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import CONFIGS, ROOT
from typer.testing import CliRunner, Result

from convcost.cli import app


def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    base = {"GITHUB_ACTIONS": "", "GITHUB_STEP_SUMMARY": ""}
    return CliRunner().invoke(app, args, env={**base, **(env or {})})


def refused(result: Result) -> str:
    """The first line of stderr of a run that must end with exit code 2 and no traceback."""
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.splitlines()
    assert lines, result.output
    return lines[0]


# ---- what GitHub's runner reads as a workflow command (actions/runner ActionCommand.cs) ----------------------------
REGISTERED = {"set-env", "set-output", "save-state", "add-mask", "add-path", "add-matcher", "remove-matcher", "debug",
              "warning", "error", "notice", "group", "endgroup", "echo", "stop-commands"}


def _unescape(text: str, table: list[tuple[str, str]]) -> str:
    for token, escaped in table:
        text = text.replace(escaped, token)
    return text


_DATA = [("\r", "%0D"), ("\n", "%0A"), ("%", "%25")]  # the order the runner unescapes in
_PROPS = [("\r", "%0D"), ("\n", "%0A"), (":", "%3A"), (",", "%2C"), ("%", "%25")]


def workflow_commands(text: str) -> list[tuple[str, dict[str, str], str]]:
    """(command, properties, data) of every line the runner would process: TryParseV2 (``::`` after leading
    whitespace is trimmed) and, failing that, TryParse (the legacy ``##[cmd]`` anywhere in the line)."""
    found = []
    for line in re.split(r"\r\n|\r|\n", text):
        s = line.lstrip()
        end = s.find("::", 2) if s.startswith("::") else -1
        if end >= 0:
            info = s[2:end]
            name, _, props_text = info.partition(" ")
            if name.lower() in REGISTERED:
                props = {}
                for p in props_text.strip().split(","):
                    key, eq, value = p.partition("=")
                    if eq and value:
                        props[key] = _unescape(value, _PROPS)
                found.append((name.lower(), props, _unescape(s[end + 2:], _DATA)))
                continue
        at = line.find("##[")
        close = line.find("]", at) if at >= 0 else -1
        if close >= 0:
            name = line[at + 3:close].split(" ")[0]
            if name in REGISTERED:
                found.append((name, {}, line[close + 1:]))
    return found


def assert_no_forged_commands(*texts: str) -> list[tuple[str, dict[str, str], str]]:
    """Only convcost's own annotations (``::error file=...,title=convcost...::``) are workflow commands."""
    commands = [c for t in texts for c in workflow_commands(t)]
    for name, props, _ in commands:
        assert name in {"error", "warning", "notice"}, commands
        assert props.get("title", "").startswith("convcost"), commands
    return commands


# ---- fixtures ------------------------------------------------------------------------------------------------------
NET = "input: [3, 8, 8]\nlayers:\n  - conv: {name: conv, out: 4, kernel: 3}\n"  # Net below: Conv2d(3, 4, 3)

FACTORIES = """\
import os
import signal
import sys

from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(x)


class Stop(BaseException):
    pass


def exit0():
    sys.exit(0)  # exit0


def exit1():
    raise SystemExit(1)  # exit1


def exit_none():
    sys.exit()  # exit_none


def interrupt():
    raise KeyboardInterrupt  # interrupt


def base():
    raise Stop("no model today")  # base


class ExitInInit(Net):
    def __init__(self):
        super().__init__()
        sys.exit(0)  # ExitInInit


class ForwardExit(Net):
    def forward(self, x):
        sys.exit(0)  # ForwardExit


class ForwardInterrupt(Net):
    def forward(self, x):
        raise KeyboardInterrupt  # ForwardInterrupt


class ForwardBase(Net):
    def forward(self, x):
        raise Stop("late")  # ForwardBase


class LaterForwardExit(Net):  # the first forward returns, a later one exits (fvcore's trace; import's real trace)
    def forward(self, x):
        calls = int(open("calls").read()) if os.path.exists("calls") else 0  # the file is imported more than once
        with open("calls", "w") as f:
            f.write(str(calls + 1))
        if calls:
            sys.exit(0)  # LaterForwardExit
        return self.conv(x)


def ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)  # ctrl_c
    return Net()
"""


def line_of(marker: str, text: str = FACTORIES) -> int:
    """The 1-based line of ``# marker`` in ``text``: where the user's code exits."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.rstrip().endswith(f"# {marker}"))


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(CONFIGS / "inception_naive_vs_bottleneck.yaml", tmp_path / "net.yaml")
    (tmp_path / "small.yaml").write_text(NET, encoding="utf-8")
    (tmp_path / "mine.py").write_text(FACTORIES, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return tmp_path


def _torch() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("fvcore")


# ==== 1: no output replaces an input ===============================================================================
def _snapshot(*paths: str) -> dict[str, bytes]:
    return {p: Path(p).read_bytes() for p in paths}


@pytest.mark.parametrize("output", ["mine.py", "./sub/../mine.py", "hardlink.py", "symlink.py"])
def test_import_cannot_write_over_its_factorys_file(work: Path, output: str) -> None:
    _torch()
    (work / "sub").mkdir()
    os.link("mine.py", "hardlink.py")
    os.symlink("mine.py", "symlink.py")
    before = _snapshot("mine.py")
    first = refused(invoke(["import", "mine.py:Net", "--input", "3,8,8", "-o", output]))
    assert first.startswith(f"convcost: error: --output {output} is the input file "), first
    assert first.endswith("; write the spec somewhere else"), first
    assert _snapshot("mine.py") == before


def test_import_cannot_write_over_a_module_targets_file(work: Path) -> None:
    """``pkg.module:factory``: the module's file is known only once it is imported; the write is refused then."""
    _torch()
    (work / "pkg").mkdir()
    (work / "pkg" / "__init__.py").write_text("", encoding="utf-8")
    shutil.copy("mine.py", "pkg/nets.py")
    for output in ("pkg/nets.py", "pkg/__init__.py"):
        before = _snapshot(output)
        first = refused(invoke(["import", "pkg.nets:Net", "--input", "3,8,8", "-o", output]))
        assert first.startswith(f"convcost: error: --output {output} is the input file "), first
        assert _snapshot(output) == before
    for name in [m for m in sys.modules if m == "pkg" or m.startswith("pkg.")]:  # the next test's cwd has none
        del sys.modules[name]


def test_import_cannot_write_over_a_module_its_file_imports(work: Path) -> None:
    _torch()
    Path("helpers.py").write_text("WIDTH = 4\n", encoding="utf-8")
    Path("uses.py").write_text("from torch import nn\n\nimport helpers\n\n\ndef net():\n"
                               "    return nn.Sequential(nn.Conv2d(3, helpers.WIDTH, 3))\n", encoding="utf-8")
    before = _snapshot("helpers.py")
    first = refused(invoke(["import", "uses.py:net", "--input", "3,8,8", "-o", "helpers.py"]))
    assert first.startswith("convcost: error: --output helpers.py is the input file "), first
    assert _snapshot("helpers.py") == before
    sys.modules.pop("helpers", None)


def test_what_a_command_read_is_refused_at_write_time(work: Path) -> None:
    """The root of the check: whatever was read through util/paths.py is refused by the write, by any spelling,
    with no list of inputs given (commands check their command-line paths early as well)."""
    from convcost.commands._output import write_output
    from convcost.errors import UsageError
    from convcost.frontend.source import read_text
    from convcost.util.paths import forget_inputs

    forget_inputs()
    read_text("net.yaml")
    os.link("net.yaml", "linked.yaml")
    before = _snapshot("net.yaml")
    for spelling in ("net.yaml", "./net.yaml", str(work / "net.yaml"), "linked.yaml"):
        with pytest.raises(UsageError) as e:
            write_output("replaced\n", spelling)
        assert str(e.value) == f"--output {spelling} is the input file net.yaml; write the output somewhere else"
    assert _snapshot("net.yaml") == before
    write_output("new\n", "other.yaml")  # what was not read is written
    forget_inputs()


def test_import_writes_its_spec_atomically_and_reads_back(work: Path) -> None:
    _torch()
    result = invoke(["import", "mine.py:Net", "--input", "3,8,8", "-o", "net_spec.yaml"])
    assert result.exit_code == 0, result.output
    assert invoke(["analyze", "net_spec.yaml"]).exit_code == 0
    assert [p.name for p in work.iterdir() if p.name.startswith(".net_spec")] == []  # no temporary file left


@pytest.mark.parametrize(
    ("args", "victim"),
    [
        (["verify", "small.yaml", "--reference", "mine.py:Net", "-f", "json", "-o", "mine.py"], "mine.py"),
        (["verify", "small.yaml", "-f", "json", "-o", "small.yaml"], "small.yaml"),
        (["profile", "small.yaml", "--quick", "--no-progress", "-f", "json", "-o", "small.yaml"], "small.yaml"),
        (["report", "small.yaml", "--verify", "v.json", "-o", "v.json"], "v.json"),
        (["report", "small.yaml", "--profile", "p.json", "-o", "p.json"], "p.json"),
        (["check", "small.yaml", "-B", "budget.yaml", "--summary", "budget.yaml"], "budget.yaml"),
        (["check", "small.yaml", "--baseline", "base.json", "--summary", "base.json"], "base.json"),
        (["roofline", "small.yaml", "--hw-file", "hw.yaml", "--hw", "box", "-o", "hw.yaml"], "hw.yaml"),
    ],
    ids=["verify-reference", "verify", "profile", "report-verify", "report-profile", "check-budget", "check-baseline",
         "roofline-hw-file"],
)
def test_no_output_replaces_an_input(work: Path, args: list[str], victim: str) -> None:
    if args[0] in ("verify", "profile"):
        _torch()
    Path("v.json").write_text(json.dumps({"schema": "convcost.verify/1", "models": [{"name": "small"}]}), encoding="utf-8")
    Path("p.json").write_text(json.dumps({"schema": "convcost.profile/1", "models": [{"name": "small"}]}), encoding="utf-8")
    Path("budget.yaml").write_text("all: {params: 1G}\n", encoding="utf-8")
    assert invoke(["analyze", "small.yaml", "-f", "json", "-o", "base.json"]).exit_code == 0
    Path("hw.yaml").write_text("devices:\n  box: {peak: {fp32: 1 TFLOP/s}, bandwidth: 1 TB/s}\n", encoding="utf-8")
    before = _snapshot(victim)
    first = refused(invoke(args))
    option = "--summary" if args[0] == "check" else "--output"
    assert first.startswith(f"convcost: error: {option} {victim} is the input file "), first
    assert _snapshot(victim) == before


# ==== 2: every exit of the user's code is exit code 2 with a message ===============================================
EXITS = [
    ("exit0", "SystemExit(0)"),
    ("exit1", "SystemExit(1)"),
    ("exit_none", "SystemExit(None)"),
    ("interrupt", "KeyboardInterrupt"),
    ("base", "Stop: no model today"),
    ("ExitInInit", "SystemExit(0)"),
]
FORWARD_EXITS = [
    ("ForwardExit", "SystemExit(0)"),
    ("ForwardInterrupt", "KeyboardInterrupt"),
    ("ForwardBase", "Stop: late"),
    ("LaterForwardExit", "SystemExit(0)"),
]


def _command(kind: str, target: str) -> list[str]:
    if kind == "import":
        return ["import", target, "--input", "3,8,8"]
    return ["verify", "small.yaml", "--reference", target, *(["-f", "json"] if kind == "verify-json" else [])]


def _doing(kind: str, factory: str) -> str:
    """What was running when the user's code exited, as the message says it."""
    if factory in dict(EXITS):
        return ": building the model failed: "
    if factory == "LaterForwardExit" or kind == "import":  # fvcore's trace; import's traces
        return ": running the model failed: "
    return " cannot run on the spec's input 1×3×8×8: "  # verify --reference's own forward


@pytest.mark.parametrize("kind", ["import", "verify", "verify-json"])
@pytest.mark.parametrize(("factory", "shown"), EXITS + FORWARD_EXITS, ids=[f for f, _ in EXITS + FORWARD_EXITS])
def test_an_exit_of_the_users_code_is_exit_2_with_where(work: Path, kind: str, factory: str, shown: str) -> None:
    _torch()
    if factory == "LaterForwardExit" and kind == "import":
        pytest.skip("import runs one forward (on the meta device where the model runs there): the later one never comes")
    result = invoke(_command(kind, f"mine.py:{factory}"))
    first = refused(result)
    assert first.startswith(f"convcost: error: reference 'mine.py:{factory}'{_doing(kind, factory)}{shown}"), first
    assert first.endswith(f"(mine.py:{line_of(factory)})"), first
    assert len(result.stderr.splitlines()) == 1, result.stderr
    if kind == "verify-json":
        assert result.stdout == ""  # no half report on stdout


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("import sys\nsys.exit(0)\n", "SystemExit(0)"),
        ("raise SystemExit(3)\n", "SystemExit(3)"),
        ("raise KeyboardInterrupt\n", "KeyboardInterrupt"),
        ("class Stop(BaseException):\n    pass\n\n\nraise Stop('at import')\n", "Stop: at import"),
    ],
    ids=["sys.exit", "SystemExit", "KeyboardInterrupt", "BaseException"],
)
@pytest.mark.parametrize("kind", ["import", "verify"])
@pytest.mark.parametrize("module", [False, True], ids=["file", "module"])
def test_an_exit_while_importing_the_users_file_is_exit_2(work: Path, source: str, shown: str, kind: str,
                                                          module: bool) -> None:
    _torch()
    name = f"leaves_{abs(hash((source, kind, module))) % 10**8}"  # a module name no earlier test imported
    Path(f"{name}.py").write_text(source, encoding="utf-8")
    target = f"{name}:Net" if module else f"{name}.py:Net"
    first = refused(invoke(_command(kind, target)))
    assert first.startswith(f"convcost: error: reference '{target}': importing {name}"), first
    assert shown in first, first
    assert first.endswith(f"({name}.py:{source.count(chr(10))})"), first


def test_ctrl_c_outside_user_code_is_not_over_budget(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C while `check` runs is 130 and a word on stderr (typer's was a bare 130, click's "Aborted!" and 1, which
    is "over budget" for `check`)."""
    import convcost.ci.check as ci_check

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ci_check, "check_limits", interrupted)  # where `check` looks it up
    Path("budget.yaml").write_text("all: {params: 1G}\n", encoding="utf-8")
    result = invoke(["check", "net.yaml", "-B", "budget.yaml"])
    assert (result.exit_code, result.stderr, result.stdout) == (130, "convcost: interrupted\n", "")


def _run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]), "GITHUB_ACTIONS": ""}
    return subprocess.run([sys.executable, "-m", "convcost", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.parametrize("kind", ["import", "verify"])
def test_a_real_ctrl_c_stops_the_run_with_130(work: Path, kind: str) -> None:
    """SIGINT (what Ctrl-C sends; here the factory sends it to its own process) stops the run, said on stderr, with
    the shell's code for it, 130, even while the user's code runs."""
    _torch()
    done = _run_cli(_command(kind, "mine.py:ctrl_c"), work)
    assert done.returncode == 130, (done.returncode, done.stderr)
    assert done.stderr.splitlines() == ["convcost: interrupted"], done.stderr
    assert done.stdout == ""


# ==== 8: file names never become workflow commands; markdown shows them literally ===================================
HOSTILE_NAMES = [
    "::stop-commands::tok.yaml",
    "::error::forged.yaml",
    " ::warning file=x.py::indented.yaml",
    "x##[stop-commands]tok.yaml",
    "a##[error]forged.yaml",
    "%0A::add-mask::pct.yaml",
    "net\n::stop-commands::nl.yaml",
]
NAME_IDS = ["stop", "error", "indented", "legacy-stop", "legacy-error", "percent", "newline"]


def _over_budget_spec(text: str) -> str:
    return "budget: {macs: 1, max_growth: 0%}\n" + text


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=NAME_IDS)
def test_no_file_name_becomes_a_workflow_command(work: Path, name: str) -> None:
    spec = Path(name)
    spec.write_text(_over_budget_spec(Path("net.yaml").read_text(encoding="utf-8")), encoding="utf-8")
    budget = Path(name + ".budget.yaml")
    budget.write_text("models:\n  naive: {macs: 1}\n", encoding="utf-8")
    assert invoke(["analyze", "net.yaml", "-f", "json", "-o", "base.json"]).exit_code == 0
    doc = json.loads(Path("base.json").read_text(encoding="utf-8"))
    for m in doc["models"]:
        m["totals"]["macs"] //= 2  # every model grew
    baseline = Path(name + ".base.json")
    baseline.write_text(json.dumps(doc), encoding="utf-8")
    bad_json = Path(name + ".bad.json")
    bad_json.write_text("{", encoding="utf-8")
    runs = {
        "check-spec": ["check", name, "-v"],
        "check-budget": ["check", "net.yaml", "-B", str(budget), "-v"],
        "check-baseline": ["check", "net.yaml", "--baseline", str(baseline), "-v"],
        "check-bad-baseline": ["check", "net.yaml", "--baseline", str(bad_json)],
        "analyze": ["analyze", name],
        "analyze-json": ["analyze", name, "-f", "json"],
        "analyze-markdown": ["analyze", name, "-f", "markdown"],
        "analyze-csv": ["analyze", name, "-f", "csv"],
        "compare": ["compare", name, "net.yaml"],
        "report": ["report", name],
        "report-verify": ["report", "net.yaml", "--verify", str(bad_json)],
        "roofline": ["roofline", name, "-f", "json"],
        "missing": ["analyze", name + ".missing.yaml"],
        "unknown-model": ["analyze", name, "-m", "nope"],
    }
    summary = work / "summary.md"
    for what, args in runs.items():
        result = invoke(args, {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
        assert "Traceback" not in result.output, (what, result.output)
        assert result.exit_code in (0, 1, 2), (what, result.exit_code, result.output)
        commands = assert_no_forged_commands(result.stdout, result.stderr)
        if what.startswith("check-") and what != "check-bad-baseline":
            assert result.exit_code == 1, (what, result.output)
            assert commands, (what, result.stdout)  # the findings are annotated ...
            files = {c[1].get("file") for c in commands}
            assert files & {name, str(budget), str(baseline)}, (what, commands)  # ... on the file, unescaped by GitHub


def test_a_file_name_that_would_start_a_command_is_shown_as_a_path() -> None:
    from convcost.errors import Loc

    assert str(Loc("::stop-commands::t.yaml", 3, 9)) == "./::stop-commands::t.yaml:3:9"
    assert str(Loc("  ::x.yaml")) == "./  ::x.yaml"
    assert str(Loc(" \t::x.yaml")) == " \\t::x.yaml"  # the tab is escaped: no blank before the "::"
    assert str(Loc("a::b.yaml", 1, 1)) == "a::b.yaml:1:1"
    assert str(Loc("/abs/::x.yaml", 1, 1)) == "/abs/::x.yaml:1:1"


def test_annotation_round_trips_through_githubs_unescaping() -> None:
    from convcost.ci.annotations import annotation
    from convcost.errors import Loc

    for file in ["a:b,c%25d\r\n::e.yaml", "::stop-commands::x", "100%.yaml"]:
        for message in ["over by 5%\r\nnext line", "::error::x", "%0A%25"]:
            (found,) = workflow_commands(annotation("error", message, Loc(file, 3, 9), "convcost budget"))
            assert found == ("error", {"file": file, "line": "3", "col": "9", "title": "convcost budget"}, message)


MD_EVIL = "v`` x`<img src=x onerror=alert(1)>\n# injected *heading* [link](javascript:alert(1)) &amp; |cell| \\"


def _markdown_tokens(text: str) -> list[object]:
    from markdown_it import MarkdownIt

    tokens = []
    for t in MarkdownIt("commonmark").enable("table").parse(text):
        tokens.append(t)
        tokens += list(t.children or [])
    return tokens


def _users_html(tokens: list[object]) -> list[object]:
    """HTML in the markdown other than the report's own (<details>, <summary>, <br>)."""
    own = re.compile(r"</?(details|summary)>|<br/?>")
    return [t for t in tokens if t.type.startswith("html") and "<" in own.sub("", t.content)]  # type: ignore[attr-defined]


def test_report_shows_result_file_names_literally(work: Path) -> None:
    from convcost.errors import escape_controls

    verify_name, profile_name = MD_EVIL + ".json", MD_EVIL + "p.json"
    Path(verify_name).write_text(json.dumps({"schema": "convcost.verify/1", "models": [{"name": "naive"}]}),
                                 encoding="utf-8")
    Path(profile_name).write_text(json.dumps({"schema": "convcost.profile/1", "models": [{"name": "naive"}]}),
                                  encoding="utf-8")
    result = invoke(["report", "net.yaml", "--verify", verify_name, "--profile", profile_name])
    assert result.exit_code == 0, result.output
    tokens = _markdown_tokens(result.stdout)
    assert not _users_html(tokens), result.stdout
    headings = [t for t in tokens if t.type == "heading_open"]  # type: ignore[attr-defined]
    clean = _markdown_tokens(invoke(["report", "net.yaml", "--verify", _clean(verify_name, "v.json"),
                                     "--profile", _clean(profile_name, "p.json")]).stdout)
    assert len(headings) == len([t for t in clean if t.type == "heading_open"])  # type: ignore[attr-defined]
    spans = {t.content for t in tokens if t.type == "code_inline"}  # type: ignore[attr-defined]
    assert {escape_controls(verify_name), escape_controls(profile_name)} <= spans, spans
    assert not [t for t in tokens if t.type in ("link_open", "em_open")]  # type: ignore[attr-defined]


def _clean(hostile: str, plain: str) -> str:
    shutil.copy(hostile, plain)
    return plain


@pytest.mark.parametrize("where", ["analyze", "check-summary", "report-spec"])
def test_markdown_shows_a_hostile_spec_or_budget_name_literally(work: Path, where: str) -> None:
    from convcost.errors import escape_controls

    name = MD_EVIL + ".yaml"
    shutil.copy("net.yaml", name)
    Path(MD_EVIL + "b.yaml").write_text("models:\n  naive: {macs: 1}\n", encoding="utf-8")
    if where == "analyze":
        result = invoke(["analyze", name, "-f", "markdown"])
        text, shown = result.stdout, name
    elif where == "report-spec":
        result = invoke(["report", name])
        text, shown = result.stdout, name
    else:
        result = invoke(["check", "net.yaml", "-B", MD_EVIL + "b.yaml", "--summary", "s.md"])
        text, shown = Path("s.md").read_text(encoding="utf-8"), MD_EVIL + "b.yaml:2:"
    assert result.exit_code in (0, 1), result.output
    tokens = _markdown_tokens(text)
    assert not _users_html(tokens), text
    assert not [t for t in tokens if t.type in ("link_open", "em_open", "strong_open") and where != "report-spec"]  # type: ignore[attr-defined]
    assert any(t.content.startswith(escape_controls(shown)) for t in tokens if t.type == "code_inline"), text  # type: ignore[attr-defined]


def test_markdown_text_escape_is_literal() -> None:
    """Table cells and headings (not code spans): no HTML, link, emphasis or cell break survives, the text reads
    back as written."""
    from convcost.render.markdown import escape

    for text in [MD_EVIL, "__init__.py", "a*b*c", "~~x~~", "a\\|b", "&lt;b&gt;", "x_1_y", "`a`"]:
        tokens = _markdown_tokens(f"| {escape(text)} |\n|---|\n")
        inline = next(t for t in tokens if t.type == "inline")  # type: ignore[attr-defined]
        kinds = {c.type for c in inline.children}  # type: ignore[attr-defined]
        assert kinds == {"text"}, (text, kinds)
        from convcost.errors import escape_controls

        assert "".join(c.content for c in inline.children) == escape_controls(text).strip(), text  # type: ignore[attr-defined]


def test_markdown_code_span_cannot_be_closed() -> None:
    from convcost.errors import escape_controls
    from convcost.render.markdown import md_code

    for text in [MD_EVIL, "`", "``a``", " a ", "a|b", "```", "x` <b>y</b> `"]:
        for table in (False, True):
            md = f"| {md_code(text, table=True)} |\n|---|\n" if table else md_code(text)
            tokens = _markdown_tokens(md)
            spans = [t for t in tokens if t.type == "code_inline"]  # type: ignore[attr-defined]
            assert [s.content for s in spans] == [escape_controls(text)], (text, md, spans)  # type: ignore[attr-defined]


# ==== 9: paths the operating system refuses ========================================================================
LONG = "a" * 300  # one component over NAME_MAX (255)


def _bad_paths(work: Path) -> dict[str, tuple[str, int]]:
    """A path for each way the OS refuses one, and the errno it gives."""
    os.symlink("loop", work / "loop")
    (work / "adir.yaml").mkdir()
    return {
        "too-long": (LONG + ".yaml", errno.ENAMETOOLONG),
        "long-dir": (LONG + "/x.yaml", errno.ENAMETOOLONG),
        "long-path": ("/".join(["d" * 200] * 25) + "/x.yaml", errno.ENAMETOOLONG),  # over PATH_MAX (4,096)
        "not-a-dir": ("net.yaml/x.yaml", errno.ENOTDIR),
        "loop": ("loop", errno.ELOOP),
        "directory": ("adir.yaml", errno.EISDIR),
    }


READS: dict[str, Callable[[str], list[str]]] = {
    "spec": lambda p: ["analyze", p],
    "check-spec": lambda p: ["check", p, "-B", "budget.yaml"],
    "budget": lambda p: ["check", "net.yaml", "-B", p],
    "baseline": lambda p: ["check", "net.yaml", "--baseline", p],
    "report-verify": lambda p: ["report", "net.yaml", "--verify", p],
    "report-profile": lambda p: ["report", "net.yaml", "--profile", p],
    "hw-file": lambda p: ["roofline", "net.yaml", "--hw-file", p, "--hw", "x"],
    "compare": lambda p: ["compare", "net.yaml", p],
}
WRITES: dict[str, Callable[[str], list[str]]] = {
    "analyze-o": lambda p: ["analyze", "net.yaml", "-o", p],
    "report-o": lambda p: ["report", "net.yaml", "-o", p],
    "roofline-o": lambda p: ["roofline", "net.yaml", "-o", p],
    "compare-o": lambda p: ["compare", "net.yaml", "-o", p],
    "check-summary": lambda p: ["check", "net.yaml", "-B", "budget.yaml", "--summary", p],
}


@pytest.mark.parametrize("use", [*READS, *WRITES])
def test_a_path_the_os_refuses_is_exit_2(work: Path, use: str) -> None:
    Path("budget.yaml").write_text("all: {params: 1G}\n", encoding="utf-8")
    for kind, (path, code) in _bad_paths(work).items():
        args = (READS.get(use) or WRITES[use])(path)
        first = refused(invoke(args))
        assert len(first) < 2_000, (kind, first)  # a path too long is shortened in its middle, the reason stays
        if kind == "directory":
            assert "is a directory" in first, (kind, first)
        else:
            assert first.endswith(os.strerror(code)), (kind, first)
            assert ("cannot write" if use in WRITES else "cannot read") in first, (kind, first)


@pytest.mark.parametrize("use", ["import", "verify-reference", "import-o"])
def test_a_path_the_os_refuses_as_a_target_is_exit_2(work: Path, use: str) -> None:
    _torch()
    os.symlink("loop.py", "loop.py")
    for kind, (path, code) in _bad_paths(work).items():
        if use == "import-o":
            args = ["import", "mine.py:Net", "--input", "3,8,8", "-o", path]
        else:
            target = f"{path.removesuffix('.yaml')}.py:Net" if kind != "directory" else f"{path}/.py:Net"
            args = _command("import" if use == "import" else "verify", target)
        first = refused(invoke(args))
        if kind == "directory" and use != "import-o":
            continue  # 'adir.yaml/.py': no such file, already a message
        assert first.endswith(os.strerror(code)) or "is a directory" in first, (kind, first)


def _invoke_as_nobody(args: list[str], cwd: Path) -> tuple[int, str]:
    """`convcost ARGS` in a forked child that dropped root to 'nobody' (root reads any file, so EACCES needs another
    user). The interpreter's own files may be unreadable to 'nobody': the child runs the CLI in-process, with the
    modules it needs imported before the fork by a run of the same command on readable files."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code, err = 99, "child failed"
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            os.chdir(cwd)
            result = CliRunner().invoke(app, args, env={"GITHUB_ACTIONS": "", "GITHUB_STEP_SUMMARY": ""})
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


@pytest.mark.parametrize("args", [["analyze", "secret.yaml"], ["check", "net.yaml", "-B", "secret.yaml"]],
                         ids=["spec", "budget"])
def test_a_file_without_read_permission_is_exit_2_even_for_root(work: Path, args: list[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="convcost-perm-"))  # pytest's tmp_path is private to its user
    try:
        d.chmod(0o755)
        shutil.copy("net.yaml", d / "net.yaml")
        (d / "net.yaml").chmod(0o644)
        (d / "secret.yaml").write_text("all: {params: 1G}\n", encoding="utf-8")
        monkeypatch.chdir(d)
        warm = invoke(args)  # readable: imports what the command needs before the fork
        assert warm.exit_code in (0, 1, 2), warm.output
        (d / "secret.yaml").chmod(0o000)
        if os.geteuid() == 0:
            code, err = _invoke_as_nobody(args, d)
        else:
            result = invoke(args)
            code, err = result.exit_code, result.stderr.strip()
        assert (code, err) == (2, "secret.yaml: cannot read: Permission denied")
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---- the guard on the standard streams, alone ----------------------------------------------------------------------
GUARDED = [
    "::stop-commands::tok\n",
    "  \t::error file=a.py::forged\r\n::warning::x",
    "ok ::not a command\n::add-mask::secret\n",
    "a##[stop-commands]tok\n##[error]x\n###[error]y",
    "\n\n :: ::x\n:\n::",
]


def _guarded(chunks: list[str]) -> str:
    import io

    from convcost.util.streams import GuardedStream

    out = io.StringIO()
    guard = GuardedStream(out)
    for c in chunks:
        guard.write(c)
    guard.close_guard()
    return out.getvalue()


@pytest.mark.parametrize("text", GUARDED)
def test_guard_escapes_commands_however_the_text_is_split(text: str) -> None:
    whole = _guarded([text])
    assert workflow_commands(whole) == [], whole
    assert json.loads(json.dumps(whole).replace("\\\\u", "\\u")) == text  # the escapes read back as what they stand for
    for i in range(len(text) + 1):  # a print() cut anywhere: the same output
        for j in range(i, len(text) + 1):
            assert _guarded([text[:i], text[i:j], text[j:]]) == whole, (i, j)


def test_guard_lets_convcost_annotations_through_on_a_line_of_their_own() -> None:
    import io

    from convcost.util.streams import GuardedStream

    out = io.StringIO()
    guard = GuardedStream(out)
    guard.write("::stop-commands::x.yaml:3:5: over budget")  # no newline yet
    guard.write_command("::error file=x.yaml,line=3,title=convcost::over budget")
    guard.write("\n:")
    guard.close_guard()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("\\u003a:stop-commands"), lines
    assert lines[1] == "::error file=x.yaml,line=3,title=convcost::over budget"
    assert [c[0] for c in workflow_commands(out.getvalue())] == ["error"]


REF_NAMES = """\
from torch import nn


class Named(nn.Module):
    def __init__(self, name, out=4):
        super().__init__()
        self.add_module(name, nn.Conv2d(3, out, 3))
        self.name = name

    def forward(self, x):
        return getattr(self, self.name)(x)


def hostile(name):
    return Named(name, out=5)  # the spec says out: 4: a divergence, shown with the module's name
"""


@pytest.mark.parametrize("fmt", ["table", "markdown", "json"])
@pytest.mark.parametrize("name", ["::stop-commands::tok", "x" * 90 + "::error::wrapped", "a##[error]b",
                                  "<img src=x onerror=alert(1)>`|"])
def test_a_hostile_module_name_in_verify_reference_output(work: Path, name: str, fmt: str) -> None:
    """The reference's module names are the user's: in a narrow terminal rich wraps them onto lines of their own."""
    _torch()
    Path("names.py").write_text(REF_NAMES, encoding="utf-8")
    args = ["verify", "small.yaml", "--reference", "names.py:hostile", "--reference-arg", f"name={name}", "-f", fmt]
    result = invoke(args, {"COLUMNS": "40"})
    assert result.exit_code == 1, result.output
    assert_no_forged_commands(result.stdout, result.stderr)
    if fmt == "markdown":
        assert not _users_html(_markdown_tokens(result.stdout)), result.stdout
    if fmt == "json":
        doc = json.loads(result.stdout)
        assert name in json.dumps(doc, ensure_ascii=False)  # JSON reads the escapes back as the name


# ---- charts (report --charts, --plot) are outputs too; their names and labels reach markdown ------------------------
def test_a_chart_never_replaces_an_input(work: Path) -> None:
    """`report --charts DIR` names its files after the models: a comparison chart over a --verify result read from
    DIR is refused when it is written, though no list of paths on the command line says so."""
    pytest.importorskip("matplotlib")
    shutil.copy("net.yaml", "other.yaml")
    Path("comparison.svg").write_text(json.dumps({"schema": "convcost.verify/1", "models": [{"name": "naive"}]}),
                                      encoding="utf-8")
    before = _snapshot("comparison.svg")
    first = refused(invoke(["report", "net.yaml", "other.yaml", "--verify", "comparison.svg", "--charts", "."]))
    assert first == "convcost: error: --charts comparison.svg is the input file comparison.svg; write the chart somewhere else"
    assert _snapshot("comparison.svg") == before


def test_chart_links_and_mermaid_labels_survive_hostile_names(work: Path) -> None:
    pytest.importorskip("matplotlib")
    folder = "charts (v2) [x]\n<img src=x onerror=alert(1)>"
    stem = "twin\n```\n<img src=y onerror=alert(2)>"
    shutil.copy("net.yaml", stem + ".yaml")  # the same model names: labels are 'file-stem:model'
    with_charts = invoke(["report", "net.yaml", stem + ".yaml", "--charts", folder])
    mermaid = invoke(["report", "net.yaml", stem + ".yaml"])
    for result in (with_charts, mermaid):
        assert result.exit_code == 0, result.output
        tokens = _markdown_tokens(result.stdout)
        assert not _users_html(tokens), result.stdout
    images = [t.attrs["src"] for t in _markdown_tokens(with_charts.stdout) if t.type == "image"]  # type: ignore[attr-defined]
    from urllib.parse import unquote

    assert images and all(Path(unquote(str(src))).is_file() for src in images), images  # each link finds its file
    fences = [t for t in _markdown_tokens(mermaid.stdout) if t.type == "fence"]  # type: ignore[attr-defined]
    assert fences and all(t.info == "mermaid" for t in fences), [t.info for t in fences]  # type: ignore[attr-defined]
    assert all("```" not in t.content.splitlines()[0] for t in fences)  # type: ignore[attr-defined]
