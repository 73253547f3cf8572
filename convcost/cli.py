"""The `convcost` command line. Each command lives in convcost/commands/ and registers on convcost/app.py's `app`.

A run registers only the command it runs (`convcost analyze ...` imports commands/analyze.py, not the
other modules, and typer builds one command's options, not every command's): start-up time is a
feature; the common analyze lines (``analyze SPEC -f json``) run without typer at all
(commands/analyze_run.py), and so do ``convcost --help`` and ``convcost --version`` (help_page.py: typer's page, built
from :data:`SUMMARIES` as click lays it out). Any other run that names no command (`convcost --version --help`, a
misspelled command) lists every command to typer by its name and summary without importing any of them; shell completion
registers them all, and so does importing ``app`` from this module (``from convcost.cli import app``:
tests, CliRunner).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

from .util.user_errors import EXIT_BAD_INPUT, EXIT_FINDINGS, EXIT_OK

if TYPE_CHECKING:
    from .app import app

__all__ = ["COMMANDS", "EXIT_BAD_INPUT", "EXIT_FINDINGS", "EXIT_OK", "SUMMARIES", "app", "register_commands", "run"]

# command name -> the module of convcost/commands/ that defines it
COMMANDS: dict[str, str] = {
    "analyze": "analyze",
    "calibrate": "calibrate",
    "check": "check",
    "compare": "compare",
    "import": "import_",
    "ops": "ops",
    "profile": "profile",
    "report": "report",
    "roofline": "profile",
    "schema": "schema",
    "sweep": "sweep",
    "verify": "verify",
}

# command name -> the first paragraph of its help, which `convcost --help` shortens to one line: what a run
# that names no command lists (see :func:`register_summaries`). tests/test_lazy_ops.py checks it against each
# command's own docstring.
SUMMARIES: dict[str, str] = {
    "analyze": "Count params, MACs, FLOPs and activations per layer, analytically (no torch needed).",
    "calibrate": (
        "Measure what this machine sustains -- convolutions by kind and size, linear layers, attention, pooling, the "
        "bandwidth of elementwise, norm, reduce and copy layers, the per-op overhead -- and write it as a device "
        "profile (YAML) for --hw-file. Takes under a minute per thread count."
    ),
    "check": "Check models against budgets and a baseline. Exit 0: pass, 1: over budget or grown, 2: bad input.",
    "compare": "Compare params, MACs, FLOPs and activations of several models against the first.",
    "import": (
        "Trace your PyTorch model (torch.fx, else forward hooks) and write a spec with the same layers, params, buffers "
        "and MACs, named by module path, repeated modules folded into blocks. Exit 2 when it has ops convcost lacks "
        "(listed), unless --allow-unsupported."
    ),
    "ops": (
        "List every op the spec language knows: category, arguments (with defaults), aliases; with OP names, those ops, "
        "each argument with its doc."
    ),
    "profile": (
        "Time the model's torch modules (whole, per top-level block, per layer) beside FLOPs, bytes and the roofline's "
        "time -- a prediction when the device profile comes from `convcost calibrate`."
    ),
    "report": "Write a markdown report: totals, comparison, cost by op type, layer graph (mermaid), per-layer table.",
    "roofline": "Analytic memory traffic, arithmetic intensity and roofline time per layer (no torch needed).",
    "schema": (
        "Write the JSON Schema (draft 2020-12) of the spec format, generated from the op definitions: every op with its "
        "arguments, types, defaults and docs. Point yaml-language-server at it for completion and checks as you type "
        '(docs/spec.md, "Editor support").'
    ),
    "sweep": (
        "Count a spec at every point of a grid (vars, input size, batch): params, MACs, FLOPs, activations, memory "
        "traffic and roofline time per point; a point that fails is listed with its error."
    ),
    "verify": (
        "Build the spec as torch modules and check every layer's shape, params and fvcore/FlopCounterMode counts "
        "against what convcost predicts each tool reports. Exit 1 on any mismatch."
    ),
}


def register_commands(names: list[str] | None = None) -> None:
    """Import the modules of the named commands (all of them when None); each registers on the app."""
    for module in dict.fromkeys(COMMANDS[n] for n in (names if names is not None else COMMANDS)):
        importlib.import_module(f"{__package__}.commands.{module}")


def register_summaries() -> None:
    """Every command by its name and summary alone, none of its modules imported: for a run that names no
    command, where typer lists the commands (``--help``) or their names (a misspelled one: 'did you mean')."""
    from .app import app

    for name, summary in SUMMARIES.items():
        app.command(name, help=summary)(_listed_only)


def _listed_only() -> None:  # pragma: no cover - run() registers a command's module before it can run
    raise RuntimeError("internal error: a command was run as listed only (convcost/cli.py, invoked)")


def invoked(argv: list[str]) -> str | None:
    """The command a command line runs, when it names one: the first word that is not an option (the app's own
    options take no value), or the word after ``--``."""
    words = iter(argv)
    for word in words:
        if word == "--":
            word = next(words, "")
        elif word.startswith("-"):
            continue
        return word if word in COMMANDS else None
    return None


def __getattr__(name: str) -> Any:
    if name == "app":  # the whole CLI, every command registered
        from .app import app

        register_commands()
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run() -> None:
    from .util.gcpause import freeze_after_pauses
    from .util.interrupt import install
    from .util.streams import guard_streams

    guard_streams()  # `convcost ... >&-`: a message and exit 2, not a traceback (util/streams.py)
    install()  # a Ctrl-C is told apart from a KeyboardInterrupt that code raises (util/interrupt.py)
    freeze_after_pauses()  # a short process: see gcpause.py
    argv = sys.argv[1:]
    if any(k.endswith("_COMPLETE") and k.startswith("_") for k in os.environ):  # shell completion: every option
        register_commands()
    elif argv in (["--help"], ["--version"]):  # typer's page and line, without typer (help_page.py)
        from .help_page import answer
        from .util.typerless import end_as_typer_would

        end_as_typer_would(answer, option=argv[0], summaries=SUMMARIES)
        return
    elif (command := invoked(argv)) is not None:
        if command == "analyze":  # `analyze SPEC -f json` and the like run without typer (commands/analyze_run.py)
            from .commands.analyze_run import run_plain

            if run_plain(argv):
                return
        register_commands([command])
    else:
        register_summaries()
    from .app import app

    app()
