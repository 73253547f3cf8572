"""The typer application every command registers on, with what commands share: exit codes and the
handler that turns a ConvcostError into a compiler-style message. Below both convcost/cli.py (which
registers the commands and runs the app) and convcost/commands/ (which register on it)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from . import __version__
from .errors import ConvcostError, escape_controls

app = typer.Typer(
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
    """Turn ConvcostError into a compiler-style message on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConvcostError as e:
            text = escape_controls(f"convcost: error: {e}" if e.loc is None else f"{e}")  # one line, always
            if len(text) > MAX_MESSAGE:  # a message quotes the input: never echo megabytes of it
                text = text[: MAX_MESSAGE - 1] + "…"
            print(text, file=sys.stderr)
            raise typer.Exit(EXIT_BAD_INPUT) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        print(f"convcost {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Analytic FLOPs/parameter costs of convolutional networks written as YAML specs."""
