"""Standard streams that are closed (``convcost analyze SPEC >&-``) or unusable are files like any other.

Python sets ``sys.stdin``/``sys.stdout``/``sys.stderr`` to None when the descriptor is closed at
start-up. :func:`guard_streams` puts a stand-in there: writing to a closed stdout raises
``OSError(EBADF, 'standard output is closed')``, which ``write_errors`` turns into one message and
exit code 2 (so ``check`` never reports "over budget" for it); a closed stderr swallows the
message, and the exit code still tells. A closed stdin is read as an error by ``source.read_text``.
"""

from __future__ import annotations

import errno
import io
import os
import sys


class ClosedStream(io.TextIOBase):
    """Stands in for a closed standard stream: writing raises EBADF; a flush with nothing written is fine."""

    def __init__(self, name: str) -> None:
        self.what = name

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not text:
            return 0
        raise OSError(errno.EBADF, f"{self.what} is closed")

    def fileno(self) -> int:
        raise OSError(errno.EBADF, f"{self.what} is closed")

    def isatty(self) -> bool:
        return False


def guard_streams() -> None:
    """Replace closed standard output/error streams (None) by stand-ins; see the module docstring."""
    if sys.stdout is None:
        sys.stdout = ClosedStream("standard output")
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # lives as long as the process
