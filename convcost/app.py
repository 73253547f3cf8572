"""The typer application every command registers on, with what commands share: exit codes and the
handler that turns a ConvcostError into a compiler-style message. Below both convcost/cli.py (which
registers the commands and runs the app) and convcost/commands/ (which register on it)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import typer
from typer.core import TyperGroup

from . import __version__
from .errors import ConvcostError, escape_controls
from .util.interrupt import EXIT_INTERRUPTED
from .util.streams import guarded_streams


class _Commands(TyperGroup):
    """The commands listed by name (as click does), not in the order their modules happened to be imported."""

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted(self.commands)


app = typer.Typer(
    cls=_Commands,
    name="convcost",
    help="Analytic FLOPs/parameter costs of convolutional networks written as YAML specs.",
    add_completion=True,  # --install-completion, --show-completion (bash, zsh, fish, PowerShell)
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT = 0, 1, 2
MAX_MESSAGE = 2_000

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(fn: F) -> F:
    """Turn ConvcostError into a compiler-style message on stderr and exit code 2, and a Ctrl-C into 'convcost:
    interrupted' and exit code 130, the shell's code for SIGINT (click and typer end with no word, or with
    "Aborted!" and exit code 1, which `check` keeps for "over budget"); util/interrupt.py. The user's code is
    guarded where it runs (crosscheck/target.py). While the command runs, no line it prints can be a GitHub
    workflow command made of user data (util/streams.py)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with guarded_streams():
            try:
                return fn(*args, **kwargs)
            except ConvcostError as e:
                _error(f"convcost: error: {e}" if e.loc is None else f"{e}")
            except KeyboardInterrupt:  # Ctrl-C: the user's code turns one it raises itself into an error
                _error("convcost: interrupted", EXIT_INTERRUPTED)

    return wrapper  # type: ignore[return-value]


def _error(text: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    text = escape_controls(text)  # one line, always
    if len(text) > MAX_MESSAGE:  # a message quotes the input: never echo megabytes of it
        text = text[: MAX_MESSAGE - 1] + "…"
    print(text, file=sys.stderr)
    raise typer.Exit(code) from None


def _version(value: bool) -> None:
    if value:
        print(f"convcost {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Analytic FLOPs/parameter costs of convolutional networks written as YAML specs."""
