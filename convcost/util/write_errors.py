"""A full disk under stdout is a message, not a traceback (and each command starts its record of inputs afresh).

``convcost roofline SPEC > /dev/full`` (or a full disk, or a file over its size limit) fails in
the middle of writing. :func:`write_errors` wraps a command: it flushes stdout before the command
returns, so buffered output fails inside it, and turns ENOSPC/EDQUOT/EFBIG (and EBADF/EIO: a stdout
that is closed, see util/streams.py, or opened read-only) into a UsageError
(``convcost: error: cannot write the output: No space left on device``, exit 2; the caller's
``user_errors`` prints it). stdout is then pointed at /dev/null so that Python's own flush at exit
does not print a second error.

A closed pipe (``convcost roofline SPEC | head -1``) is left to rich and click, which already end
quietly with exit 1, as a process killed by SIGPIPE would.
"""

from __future__ import annotations

import errno
import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import UsageError
from .paths import forget_inputs

F = TypeVar("F", bound=Callable[..., Any])

# disk full, quota, file too large; a stdout that is closed (util/streams.py) or opened read-only; I/O error
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EBADF, errno.EIO})


def _silence_stdout() -> None:
    """Point file descriptor 1 at /dev/null (nothing more can be written there anyway)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # a test runner's stdout has no descriptor
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _exits() -> tuple[type[BaseException], ...]:
    """typer.Exit, where typer is loaded (the plain analyze path, commands/analyze_run.py, runs without it)."""
    typer = sys.modules.get("typer")
    return (typer.Exit,) if typer is not None else ()


def write_errors(fn: F) -> F:
    """Run a command; a failed write to stdout becomes a UsageError (see the module docstring)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        forget_inputs()  # the inputs no output may replace are this command's (util/paths.py)
        try:
            try:
                result = fn(*args, **kwargs)
            except _exits():  # verify and check end with their exit code (typer.Exit), after writing
                sys.stdout.flush()
                raise
            sys.stdout.flush()
            return result
        except OSError as e:
            if e.errno not in WRITE_ERRNOS:
                raise
            _silence_stdout()
            raise UsageError(f"cannot write the output: {e.strerror or e}") from None

    return wrapper  # type: ignore[return-value]
