"""The plain analyze lines (`convcost analyze SPEC -f json` ...) run without typer (commands/analyze_run.py):
the same output, messages and exit codes as the typer command, and any other line is left to typer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CONFIGS, ROOT
from workmeter import HANG_GUARD_S

from convcost.commands.analyze_run import Format, plain_options

SPEC = str(CONFIGS / "resnet18.yaml")
TYPER = "import sys\nfrom convcost.cli import app\napp(sys.argv[1:], prog_name='convcost')"  # every command registered


def both(argv: list[str], stdin: str | None = None) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """``argv`` run by `python -m convcost` (run(): the plain path where the line is plain) and by the typer app."""
    plain = subprocess.run([sys.executable, "-m", "convcost", *argv], capture_output=True, text=True, cwd=ROOT,
                           input=stdin, timeout=HANG_GUARD_S)
    typer = subprocess.run([sys.executable, "-c", TYPER, *argv], capture_output=True, text=True, cwd=ROOT,
                           input=stdin, timeout=HANG_GUARD_S)
    return plain, typer


PLAIN_LINES = [
    ["analyze", SPEC, "-f", "json"],
    ["analyze", "-fcsv", SPEC],
    ["analyze", "--format=markdown", "-m", "resnet18", SPEC],
    ["analyze", SPEC],  # the table (stdout is a pipe here: no colour either way)
    ["analyze"],  # the built-in example
    ["analyze", "configs/no_such_spec.yaml", "-f", "json"],  # exit 2, the file's message
    ["analyze", SPEC, "--model", "nope", "-f", "json"],  # exit 2, no such model
    ["analyze", SPEC, "-f", "json", "-o", "-"],
]


@pytest.mark.parametrize("argv", PLAIN_LINES, ids=[" ".join(a[1:]).replace(str(CONFIGS) + "/", "") for a in PLAIN_LINES])
def test_a_plain_line_runs_as_the_typer_command_does(argv: list[str]) -> None:
    assert plain_options(argv) is not None  # it is a plain line: run() takes the plain path
    plain, typer = both(argv)
    assert (plain.returncode, plain.stdout, plain.stderr) == (typer.returncode, typer.stdout, typer.stderr)
    assert plain.returncode in (0, 2)
    assert plain.stdout or plain.stderr


def test_a_plain_line_reads_standard_input_and_writes_a_file(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    text = (CONFIGS / "resnet18.yaml").read_text()
    plain, typer = both(["analyze", "-", "-f", "json", "-o", str(out)], stdin=text)
    assert plain.returncode == typer.returncode == 0
    assert plain.stderr == typer.stderr == f"wrote {out}\n"
    assert json.loads(out.read_text())["models"][0]["totals"]["params"] == 11_689_512  # torchvision resnet18


def test_a_plain_line_imports_neither_typer_nor_click() -> None:
    code = (
        "import sys, json, io, contextlib\n"
        f"sys.argv = ['convcost', 'analyze', {SPEC!r}, '-f', 'json']\n"
        "from convcost.cli import run\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    run()\n"
        "print(json.dumps([json.loads(out.getvalue())['models'][0]['name'],"
        " sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'click', 'rich'))]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                         timeout=HANG_GUARD_S)
    assert json.loads(out.stdout.splitlines()[-1]) == ["resnet18", []]


def test_plain_options_reads_each_form_of_an_option() -> None:
    got = plain_options(["analyze", "-mA", "--model=B", "-o", "-", "x.yaml", "--format", "csv", "--model", "C"])
    assert got == {"spec": "x.yaml", "model": ["A", "B", "C"], "output": "-", "fmt": Format.csv}
    assert plain_options(["analyze"]) == {"spec": None, "model": None}
    assert plain_options(["analyze", "-", "-ojson.out"]) == {"spec": "-", "model": None, "output": "json.out"}


DECLINED = [
    ["analyze", SPEC, "--help"],
    ["analyze", SPEC, "--depth", "2"],  # an option the plain path does not read
    ["analyze", SPEC, "-f", "jsn"],  # no such format: typer's message
    ["analyze", SPEC, "-f=json"],  # click reads '=json' as the value
    ["analyze", SPEC, "-f", "json", "-f", "csv"],  # twice
    ["analyze", SPEC, "-o", "a.json", "--output", "b.json"],
    ["analyze", "--", SPEC],
    ["analyze", SPEC, SPEC],  # an extra argument
    ["analyze", SPEC, "-m"],  # no value
    ["analyze", SPEC, "-m", "-x"],  # a value that looks like an option
    ["analyze", "-x", SPEC],
    ["--version", "analyze", SPEC],  # the app's own option first
    ["analyse", SPEC],
    ["analyze", "spec\udcff.yaml"],  # a name the file system encoding could not decode
]


@pytest.mark.parametrize("argv", DECLINED, ids=[" ".join(a).replace(str(CONFIGS) + "/", "") for a in DECLINED])
def test_any_other_line_is_left_to_typer(argv: list[str]) -> None:
    assert plain_options(argv) is None


def test_a_declined_line_gets_typers_message() -> None:
    plain, typer = both(["analyze", SPEC, "-f", "json", "-f", "jsn"])
    assert plain.returncode == typer.returncode == 2
    assert "Invalid value for '--format' / '-f': 'jsn'" in plain.stderr
