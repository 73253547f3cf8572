"""Standard streams: closed ones are files like any other, and no line of them is a GitHub workflow command.

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
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO


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


# ---- no line of user data is a GitHub workflow command ----------------------------------------------------------
# GitHub's runner reads every line a step writes to stdout or stderr: a line that starts with '::' once leading
# blanks are trimmed is a workflow command ('::error file=...::', '::stop-commands::TOKEN', '::add-mask::'), and
# so is '##[cmd]...' anywhere in a line (the legacy form, still parsed). A file or layer name is user data: a
# budget file named '::stop-commands::tok.yaml' at the start of a `check` line silenced every annotation after it.
# File names are shown as './::x.yaml' where they start a line (errors.Loc); GuardedStream makes it true of every
# line, whatever prints it (tables, JSON, CSV, markdown, messages): a ':' that would start a command is written
# '\u003a', the second '#' of '##[' '\u0023' (escapes JSON reads back as ':' and '#'). convcost's own annotations
# go around it, through write_command.
COLON_ESCAPE = "\\u003a"
HASH_ESCAPE = "\\u0023"
_LINE_BREAK = re.compile(r"[\r\n]")  # the runner splits lines at both
_BLANKS = re.compile(r"[^\S\r\n]*")
_BLANKS_COLON = re.compile(r"[^\S\r\n]*:")


class GuardedStream:
    """A text stream that writes through to ``stream`` with workflow commands escaped (see above)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._line_start = True  # nothing but blanks written on the current line
        self._held = ""  # a line-start ':' or a trailing '#'/'##', until the next write tells what follows

    def write(self, text: str) -> int:
        if text:
            self.stream.write(self._guard(self._held + text))
        return len(text)

    def _guard(self, s: str) -> str:
        """``s`` escaped, in time linear in its length; what the next write decides is held back."""
        hashes = min(len(s) - len(s.rstrip("#")), 2)  # '#' or '##' at the end: '##[' if the next write starts with '['
        self._held, s = (s[-hashes:], s[:-hashes]) if hashes else ("", s)
        s = s.replace("##[", "#" + HASH_ESCAPE + "[")
        head = ""
        if not self._line_start:  # the rest of a line already begun is no command
            m = _LINE_BREAK.search(s)
            if m is None:
                return s
            head, s = s[: m.end()], s[m.end():]
            self._line_start = True
        last = s[max(s.rfind("\n"), s.rfind("\r")) + 1:]  # the line the next write goes on with
        if _BLANKS_COLON.fullmatch(last):  # blanks and ':': a command if the next write starts with ':'
            self._held, s = ":" + self._held, s[:-1]
        else:
            self._line_start = _BLANKS.fullmatch(last) is not None
        if "::" not in s:
            return head + s
        lines = s.splitlines(keepends=True)  # more breaks than the runner's \r and \n: a line start too many is safe
        for k, line in enumerate(lines):
            if line.lstrip().startswith("::"):
                blanks = len(line) - len(line.lstrip())
                lines[k] = line[:blanks] + COLON_ESCAPE + line[blanks + 1:]
        return head + "".join(lines)

    def write_command(self, line: str) -> None:
        """One of convcost's own workflow commands, on a line of its own."""
        pending = self._release()
        self.stream.write(pending + ("" if self._line_start else "\n") + line.rstrip("\n") + "\n")
        self._line_start = True

    def _release(self) -> str:
        """What is held back, written as it is: a ':' or '#' that nothing follows is no command."""
        held, self._held = self._held, ""
        if held:
            self._line_start = False
        return held

    def close_guard(self) -> None:
        """Write what is held back (the command has ended)."""
        pending = self._release()
        if pending:
            self.stream.write(pending)

    def flush(self) -> None:
        self.stream.flush()

    def writable(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding, errors, buffer...: the stream's own
        return getattr(self.stream, name)


@contextmanager
def guarded_streams() -> Iterator[None]:
    """sys.stdout and sys.stderr guarded (GuardedStream) for the length of a command."""
    saved = sys.stdout, sys.stderr
    out, err = GuardedStream(sys.stdout), GuardedStream(sys.stderr)
    sys.stdout, sys.stderr = out, err  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
        for guard in (out, err):
            try:
                guard.close_guard()
            except (OSError, ValueError):  # a closed or full stream: its error was already reported
                pass


def write_command(line: str) -> None:
    """Print one of convcost's own workflow commands (a GitHub annotation) on stdout, past the guard."""
    out = sys.stdout
    if isinstance(out, GuardedStream):
        out.write_command(line)
    else:
        print(line, file=out)
