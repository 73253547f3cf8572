"""`convcost --help` and `convcost --version`, answered without typer: its import is two thirds of a ``--help`` run.

The page is the one typer prints for the app (convcost/app.py: click's plain layout, rich_markup_mode=None) built
from the same parts: the app's description and options (this module's, which app.py declares typer's with), typer's
completion options, and each command by name and summary (cli.SUMMARIES, which tests/test_lazy_ops.py checks against
each command's own docstring), laid out as click lays out a group's help: the usage line, the description, the
options and the commands as definition lists, each text wrapped to the terminal's width (click's: COLUMNS or the
terminal, at most 80, less 2, at least 50) and each summary shortened as click shortens a command's help.

Nothing here is a copy of typer's output: tests/test_help_page.py compares this page with typer's own at every width
click can choose, under both program names (``convcost``, ``python -m convcost``); a new option, a changed
description or summary, or a change to typer's layout fails there.
"""

from __future__ import annotations

import os
import sys

from . import __version__

DESCRIPTION = "Analytic FLOPs/parameter costs of convolutional networks written as YAML specs."
VERSION_HELP = "Show the version."
# the app's options as typer lists them: its own (app.py), the completion options typer adds (add_completion=True),
# click's --help
OPTIONS: tuple[tuple[str, str], ...] = (
    ("--version", VERSION_HELP),
    ("--install-completion", "Install completion for the current shell."),
    ("--show-completion", "Show completion for the current shell, to copy it or customize the installation."),
    ("--help", "Show this message and exit."),
)
USAGE = "[OPTIONS] COMMAND [ARGS]..."


def program_name() -> str:
    """The program's name as click shows it: the script's file name, or ``python -m PACKAGE`` for ``python -m``."""
    main = sys.modules.get("__main__")
    package = getattr(main, "__package__", None)
    if package in (None, ""):
        return os.path.basename(sys.argv[0])
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    module = str(package) if name == "__main__" else f"{package}.{name}"
    return f"python -m {module.lstrip('.')}"


def page_width() -> int:
    """The width click formats help to: the terminal's columns (COLUMNS first), at most 80, less 2, at least 50."""
    import shutil

    return max(min(shutil.get_terminal_size().columns, 80) - 2, 50)


def wrap(text: str, width: int, initial_indent: str = "", subsequent_indent: str = "") -> list[str]:
    """``text`` filled to ``width`` as click fills it (a word longer than a line is cut where the line ends)."""
    import textwrap

    class Wrapper(textwrap.TextWrapper):
        def _handle_long_word(self, reversed_chunks: list[str], cur_line: list[str], cur_len: int, width: int) -> None:
            space_left = max(width - cur_len, 1)
            last = reversed_chunks[-1]
            cur_line.append(last[:space_left])
            reversed_chunks[-1] = last[space_left:]

    wrapper = Wrapper(width, initial_indent=initial_indent, subsequent_indent=subsequent_indent, replace_whitespace=False)
    return wrapper.wrap(text.expandtabs())


def short_help(text: str, limit: int) -> str:
    """A command's help shortened to ``limit`` characters as click shortens it for a group's list: the first
    sentence when it fits, else the words that fit and '...'."""
    words = text.split("\n\n", 1)[0].split()
    total = 0
    for i, word in enumerate(words):
        total += len(word) + (i > 0)
        if total > limit:
            break
        if word[-1] == ".":  # a sentence ends: cut there, without '...'
            return " ".join(words[: i + 1])
        if total == limit and i != len(words) - 1:
            break
    else:
        return " ".join(words)
    total += len("...")
    while i > 0:  # words come off until the rest and '...' fit
        total -= len(words[i]) + (i > 0)
        if total <= limit:
            break
        i -= 1
    return " ".join(words[:i]) + "..."


def definitions(rows: list[tuple[str, str]], width: int, indent: int = 2) -> list[str]:
    """Rows of a term and its text as click writes a definition list: the texts in a column after the widest term (at
    most 30 wide, 2 apart), a longer term on a line of its own."""
    first_col = min(max(len(term) for term, _ in rows), 30) + 2
    pad = " " * indent
    lines: list[str] = []
    for term, text in rows:
        if not text:
            lines.append(pad + term)
            continue
        wrapped = wrap(text, max(width - first_col - 2, 10)) or [""]
        if len(term) <= first_col - 2:
            lines.append(f"{pad}{term}{' ' * (first_col - len(term))}{wrapped[0]}")
        else:
            lines.append(pad + term)
            lines.append(f"{' ' * (first_col + indent)}{wrapped[0]}")
        lines.extend(f"{' ' * (first_col + indent)}{line}" for line in wrapped[1:])
    return lines


def help_page(summaries: dict[str, str], prog: str, width: int) -> str:
    """The whole ``PROG --help`` page, ``width`` wide (without its last newline, as click's get_help)."""
    prefix = f"Usage: {prog} "
    if width >= len(prefix) + 20:
        usage = wrap(USAGE, width, prefix, " " * len(prefix))
    else:  # the arguments go on the next line
        usage = [prefix, *wrap(USAGE, width, " " * 11, " " * 11)]
    names = sorted(summaries)
    limit = width - 6 - max(len(n) for n in names)
    commands = [(n, short_help(summaries[n], limit)) for n in names]
    return "\n".join([
        *usage, "", *wrap(DESCRIPTION, width, "  ", "  "),
        "", "Options:", *definitions(list(OPTIONS), width),
        "", "Commands:", *definitions(commands, width),
    ])


def answer(option: str, summaries: dict[str, str]) -> None:
    """Print what ``convcost OPTION`` prints, OPTION being --help (the commands' ``summaries``) or --version."""
    if option == "--version":
        print(f"convcost {__version__}")
        return
    sys.stdout.write(help_page(summaries, program_name(), page_width()) + "\n")
