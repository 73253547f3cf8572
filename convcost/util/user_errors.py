"""What every command runs under, without typer: a ConvcostError becomes a compiler-style message on stderr and
exit code 2, a Ctrl-C 'convcost: interrupted' and exit code 130 (convcost/app.py's ``user_errors`` raises
typer.Exit with the code; the plain analyze path, commands/analyze_run.py, SystemExit)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from ..errors import ConvcostError, escape_controls
from .interrupt import EXIT_INTERRUPTED
from .streams import guarded_streams

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT = 0, 1, 2  # every command's (convcost/app.py, convcost/cli.py)
MAX_MESSAGE = 2_000

F = TypeVar("F", bound=Callable[..., Any])


def guard(fn: F, exit_with: Callable[[int], BaseException]) -> F:
    """``fn`` with ConvcostError and KeyboardInterrupt turned into a message and ``exit_with(code)``; while it
    runs, no line it prints can be a GitHub workflow command made of user data (util/streams.py)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with guarded_streams():
            try:
                return fn(*args, **kwargs)
            except ConvcostError as e:
                fail(f"convcost: error: {e}" if e.loc is None else f"{e}", exit_with)
            except KeyboardInterrupt:  # Ctrl-C: the user's code turns one it raises itself into an error
                fail("convcost: interrupted", exit_with, EXIT_INTERRUPTED)

    return wrapper  # type: ignore[return-value]


def fail(text: str, exit_with: Callable[[int], BaseException], code: int = EXIT_BAD_INPUT) -> NoReturn:
    text = escape_controls(text)  # one line, always
    if len(text) > MAX_MESSAGE:  # a message quotes the input: never echo megabytes of it
        text = text[: MAX_MESSAGE - 1] + "…"
    print(text, file=sys.stderr)
    raise exit_with(code) from None
