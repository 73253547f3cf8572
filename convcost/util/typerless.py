"""A command line answered without typer (the plain analyze lines, commands/analyze_run.py; ``convcost --help`` and
``--version``, convcost/help_page.py), ending as the same line would end under typer.

:func:`end_as_typer_would` runs the answer under the handlers every command runs under (util/user_errors.py,
util/write_errors.py: a ConvcostError or a failed write is a message and exit 2) and ends as typer's own main does:
a closed pipe (``convcost --help | head -1``) exit 1, quietly; a Ctrl-C outside the command exit 130; an end of input
'Aborted!' and exit 1.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable
from typing import Any

from .user_errors import guard
from .write_errors import write_errors


class Pacified:
    """A stream whose flush ignores a closed pipe (click's PacifyFlushWrapper): Python's own flush at exit."""

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped

    def flush(self) -> None:
        try:
            self.wrapped.flush()
        except OSError as e:
            if e.errno != errno.EPIPE:
                raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


def end_as_typer_would(fn: Callable[..., Any], **kwargs: Any) -> None:
    """Run ``fn(**kwargs)`` as a typer command runs, ending as typer would (see the module docstring)."""
    try:
        guard(write_errors(fn), SystemExit)(**kwargs)
    except EOFError:  # as click ends
        print(file=sys.stderr)
        print("Aborted!", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except OSError as e:
        if e.errno != errno.EPIPE:
            raise
        sys.stdout = Pacified(sys.stdout)
        sys.stderr = Pacified(sys.stderr)
        raise SystemExit(1) from None
