"""`convcost --help` and `--version` are answered without typer (convcost/help_page.py): the page must be typer's own,
at every width click formats to and under both program names, and the pieces it is laid out with must be click's
(its short help, its definition lists, its program name), checked against typer's vendored click itself."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convcost import __version__
from convcost.cli import SUMMARIES
from convcost.help_page import definitions, help_page, program_name, short_help

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ("convcost", "python -m convcost")
CLICK_WIDTHS = range(50, 79)  # max(min(columns, 80) - 2, 50): every width click formats help to


def typer_page(prog: str, width: int) -> str:
    """typer's own page for the whole app (every command registered, each listed by its own docstring), ``width`` wide."""
    import typer.main

    from convcost.cli import app

    group = typer.main.get_command(app)
    ctx = typer.Context(group, info_name=prog, terminal_width=width)
    return group.get_help(ctx)


@pytest.mark.parametrize("prog", PROGRAMS)
def test_the_page_is_typers_at_every_width(prog: str) -> None:
    for width in (*CLICK_WIDTHS, 30, 40, 100, 160):  # beyond click's range too: the layout, not a table of pages
        assert help_page(SUMMARIES, prog, width) == typer_page(prog, width), width


def run(args: list[str], columns: str | None, module: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    if columns is not None:
        env["COLUMNS"] = columns
    cmd = [sys.executable, "-m", "convcost", *args] if module else \
        [sys.executable, "-c", "import sys; sys.argv[0] = '/bin/convcost'; from convcost.cli import run; run()", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)


TYPER = ("import sys\nsys.argv[0] = '/bin/convcost'\nfrom convcost.cli import register_summaries\nregister_summaries()\n"
         "from convcost.app import app\napp(['--help'])")  # the listing typer printed before help_page.py


@pytest.mark.parametrize("columns", [None, "20", "64", "200", "wide"])
def test_convcost_help_prints_typers_page_at_the_terminals_width(columns: str | None) -> None:
    ours = run(["--help"], columns, module=False)
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    if columns is not None:
        env["COLUMNS"] = columns
    theirs = subprocess.run([sys.executable, "-c", TYPER], capture_output=True, text=True, cwd=ROOT, env=env)
    assert (ours.returncode, ours.stderr) == (0, "") and theirs.returncode == 0
    assert ours.stdout == theirs.stdout
    assert ours.stdout.startswith("Usage: convcost [OPTIONS] COMMAND [ARGS]...\n")


def test_python_m_convcost_help_names_itself_so() -> None:
    out = run(["--help"], "100")
    assert out.returncode == 0
    assert out.stdout == help_page(SUMMARIES, "python -m convcost", 78) + "\n"


def test_help_and_version_import_no_typer() -> None:
    code = ("import sys, json, io, contextlib\nsys.argv = ['convcost', '{}']\nfrom convcost.cli import run\n"
            "out = io.StringIO()\nwith contextlib.redirect_stdout(out):\n    run()\n"
            "print(json.dumps([out.getvalue(), [m for m in ('typer', 'click', 'rich', 'yaml') if m in sys.modules]]))")
    for option in ("--help", "--version"):
        got = subprocess.run([sys.executable, "-c", code.format(option)], capture_output=True, text=True, cwd=ROOT,
                             check=True).stdout.splitlines()[-1]
        import json

        shown, loaded = json.loads(got)
        assert loaded == [], option
        assert shown.startswith("Usage: convcost ") if option == "--help" else shown == f"convcost {__version__}\n"


def test_version_is_typers_line() -> None:
    ours = run(["--version"], None)
    theirs = run(["--version", "--help"], None)  # typer reads this line: --version is eager
    assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)
    assert ours.stdout == f"convcost {__version__}\n"


@pytest.mark.parametrize("option", ["--help", "--version"])
def test_a_closed_stdout_is_a_message_not_a_traceback(option: str) -> None:
    out = subprocess.run(["bash", "-c", f"'{sys.executable}' -m convcost {option} >&-"], capture_output=True, text=True,
                         cwd=ROOT)
    assert (out.returncode, out.stderr) == (2, "convcost: error: cannot write the output: standard output is closed\n")


def test_a_closed_pipe_ends_quietly() -> None:
    """As typer ends (and `convcost analyze ... | head -1`): exit 1, nothing on stderr."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the page is written: EPIPE, as in `convcost --help | true`
    try:
        out = subprocess.run([sys.executable, "-m", "convcost", "--help"], stdout=write, stderr=subprocess.PIPE, cwd=ROOT)
    finally:
        os.close(write)
    assert (out.returncode, out.stderr) == (1, b"")


# ---- the pieces, against click's own ------------------------------------------------------------------------------

WORDS = st.text(alphabet="abcdefghij.-/()", min_size=1, max_size=14)


@given(st.lists(WORDS, min_size=0, max_size=20), st.integers(min_value=1, max_value=90))
@settings(max_examples=400, deadline=None, derandomize=True)
def test_short_help_is_clicks(words: list[str], limit: int) -> None:
    from typer._click.utils import make_default_short_help

    text = " ".join(words)
    assert short_help(text, limit) == make_default_short_help(text, limit)
    COUNTED["short"] += 1


@given(st.lists(st.tuples(st.text(alphabet="-abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=40),
                          st.lists(WORDS, max_size=25).map(" ".join)), min_size=1, max_size=6),
       st.integers(min_value=12, max_value=120))
@settings(max_examples=300, deadline=None, derandomize=True)
def test_definition_lists_are_clicks(rows: list[tuple[str, str]], width: int) -> None:
    from typer._click.formatting import HelpFormatter

    formatter = HelpFormatter(width=width)
    formatter.indent()
    formatter.write_dl(rows)
    assert "\n".join(definitions(rows, width)) + "\n" == formatter.getvalue()
    COUNTED["dl"] += 1


COUNTED = {"short": 0, "dl": 0}


def test_the_property_tests_ran() -> None:
    """(Run after the two above, in file order: each example they accepted was counted.)"""
    if COUNTED == {"short": 0, "dl": 0}:
        pytest.skip("run with the property tests above (this file as a whole)")
    assert COUNTED["short"] >= 300 and COUNTED["dl"] >= 200, COUNTED


@pytest.mark.parametrize(("argv0", "package", "wanted"), [
    ("/usr/local/bin/convcost", None, "convcost"),
    ("/x/convcost/__main__.py", "convcost", "python -m convcost"),
    ("/x/convcost/cli.py", "convcost", "python -m convcost.cli"),
    ("app.py", "", "app.py"),
])
def test_the_program_name_is_clicks(monkeypatch: pytest.MonkeyPatch, argv0: str, package: str | None,
                                    wanted: str) -> None:
    from typer._click.utils import _detect_program_name

    main = types.ModuleType("__main__")
    main.__package__ = package
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.setattr(sys, "argv", [argv0])
    assert program_name() == _detect_program_name() == wanted
