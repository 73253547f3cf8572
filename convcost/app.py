"""The typer application every command registers on, with what commands share: exit codes and the
handler that turns a ConvcostError into a compiler-style message. Below both convcost/cli.py (which
registers the commands and runs the app) and convcost/commands/ (which register on it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import typer
from typer.core import TyperGroup

from . import __version__
from .help_page import DESCRIPTION, VERSION_HELP
from .util.user_errors import EXIT_BAD_INPUT, EXIT_FINDINGS, EXIT_OK, MAX_MESSAGE, guard


class _Commands(TyperGroup):
    """The commands listed by name (as click does), not in the order their modules happened to be imported."""

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted(self.commands)


app = typer.Typer(
    cls=_Commands,
    name="convcost",
    help=DESCRIPTION,  # `convcost --help` prints help_page.py's page, typer's own (tests/test_help_page.py)
    add_completion=True,  # --install-completion, --show-completion (bash, zsh, fish, PowerShell)
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

__all__ = ["EXIT_BAD_INPUT", "EXIT_FINDINGS", "EXIT_OK", "MAX_MESSAGE", "app", "user_errors"]

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(fn: F) -> F:
    """Turn ConvcostError into a compiler-style message on stderr and exit code 2, and a Ctrl-C into 'convcost:
    interrupted' and exit code 130, the shell's code for SIGINT (click and typer end with no word, or with
    "Aborted!" and exit code 1, which `check` keeps for "over budget"); util/interrupt.py. The user's code is
    guarded where it runs (crosscheck/target.py). While the command runs, no line it prints can be a GitHub
    workflow command made of user data (util/streams.py). The handler itself is typer-free
    (util/user_errors.py); here it ends with typer.Exit."""
    return guard(fn, typer.Exit)


def _version(value: bool) -> None:
    if value:
        print(f"convcost {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help=VERSION_HELP),
) -> None:
    """Analytic FLOPs/parameter costs of convolutional networks written as YAML specs."""
