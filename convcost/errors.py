"""Errors that reach the user as compiler-style messages (``file:line:col: message``)."""

from __future__ import annotations

from typing import NamedTuple


class Loc(NamedTuple):
    """A position in a spec file; line and column are 1-based (0: the whole file)."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        file = shown_path(self.file)  # a file name is user input: no newline, no terminal escape, no '::' first
        if self.line <= 0:
            return file
        return f"{file}:{self.line}:{self.col}"


class ConvcostError(Exception):
    """Any error caused by the user's input. The CLI prints it and exits with code 2."""

    def __init__(self, message: str, loc: Loc | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.loc = loc

    def __str__(self) -> str:
        return f"{self.loc}: {self.message}" if self.loc else self.message


class SpecError(ConvcostError):
    """The spec is malformed: bad YAML, wrong types, unknown keys or ops, bad shapes."""


class UsageError(ConvcostError):
    """The command line asks for something that does not exist (e.g. an unknown --model)."""


class ImportRefused(UsageError):
    """An import refused for parts of the model convcost cannot express (the Python API's; the command line prints
    ``lines`` one by one and exits 2). ``lines``: every line the command would print, the summary last."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def printable(text: str) -> str:
    """``text`` with control characters escaped, so a hostile spec cannot write terminal escape
    sequences (or NULs) through an error message."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable() or ch == "\n":
            out.append(ch)
        else:
            out.append(ascii(ch)[1:-1])  # '\x1b', '\u200b'
    return "".join(out)


def escape_controls(text: str) -> str:
    """``text`` on one line: every control character escaped, newlines too (``printable`` keeps them), so
    a file name cannot start a line of its own (``::stop-commands::`` in a CI log) or move the cursor."""
    return text if text.isprintable() else printable(text).replace("\n", "\\n")


def shown_path(name: str) -> str:
    """A file name as printed: on one line (:func:`escape_controls`), with './' in front where it would start
    with '::' once blanks are trimmed, so that a line it starts ('x.yaml:3:7: ...') is no GitHub workflow command
    ('::stop-commands::tok.yaml' silenced every annotation after it; util/streams.py guards every line too)."""
    text = escape_controls(name)
    if len(text) > MAX_SHOWN_PATH:  # a path of 4,096 bytes would push the reason off the end of the message
        half = MAX_SHOWN_PATH // 2 - 1
        text = f"{text[:half]}…{text[-half:]}"
    return "./" + text if text.lstrip().startswith("::") else text


MAX_SHOWN_PATH = 500  # characters of a file name in a message; a longer one is shown as its start…its end


def did_you_mean(word: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """A ' (did you mean 'x'?)' suffix when a close match exists, else ''."""
    import difflib

    if len(word) > 100:  # no name is that long; difflib would index every character of it
        return ""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
