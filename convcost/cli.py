"""The `convcost` command line. Each command lives in convcost/commands/ and registers on convcost/app.py's `app`.

A run registers only the command it runs (`convcost analyze ...` imports commands/analyze.py, not the
other eight modules, and typer builds one command's options, not every command's): start-up time is a
feature. Anything else (`convcost --help`, a misspelled command, shell completion) registers them all,
and so does importing ``app`` from this module (``from convcost.cli import app``: tests, CliRunner).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

from .app import EXIT_BAD_INPUT, EXIT_FINDINGS, EXIT_OK

if TYPE_CHECKING:
    from .app import app

__all__ = ["COMMANDS", "EXIT_BAD_INPUT", "EXIT_FINDINGS", "EXIT_OK", "app", "register_commands", "run"]

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


def register_commands(names: list[str] | None = None) -> None:
    """Import the modules of the named commands (all of them when None); each registers on the app."""
    for module in dict.fromkeys(COMMANDS[n] for n in (names if names is not None else COMMANDS)):
        importlib.import_module(f"{__package__}.commands.{module}")


def invoked(argv: list[str]) -> str | None:
    """The command a command line runs, when it names one (the first word that is not an option)."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def __getattr__(name: str) -> Any:
    if name == "app":  # the whole CLI, every command registered
        from .app import app

        register_commands()
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run() -> None:
    from .app import app
    from .util.gcpause import freeze_after_pauses
    from .util.interrupt import install
    from .util.streams import guard_streams

    guard_streams()  # `convcost ... >&-`: a message and exit 2, not a traceback (util/streams.py)
    install()  # a Ctrl-C is told apart from a KeyboardInterrupt that code raises (util/interrupt.py)
    freeze_after_pauses()  # a short process: see gcpause.py
    command = None if any(k.endswith("_COMPLETE") and k.startswith("_") for k in os.environ) else invoked(sys.argv[1:])
    register_commands([command] if command else None)
    app()
