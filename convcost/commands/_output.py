"""`-o/--output FILE` for commands whose output a user saves (JSON baselines, reports): written
atomically (a temporary file renamed over FILE), so an interrupted CI job never leaves half a file."""

from __future__ import annotations

import io
import sys
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from rich.console import Console

OUTPUT_HELP = "Write the output to this file instead of stdout (atomically: the old file stays until the new one is whole)."


def output_option() -> Any:
    import typer  # here: the rest of this module serves the plain analyze path too, which runs without typer

    return typer.Option(None, "--output", "-o", help=OUTPUT_HELP)


def to_file(output: Optional[str]) -> bool:
    return output is not None and output != "-"


def check_output(output: Optional[str], inputs: list[str] | None = None, option: str = "--output",
                 what: str = "output") -> None:
    """Refuse an output path (``-o``, ``--summary``...) that is one of the inputs: the output would replace the
    spec, a budget file, a baseline, a result, or the source of the user's model. ``inputs`` are the paths given
    on the command line, checked before the command runs; :func:`emit` checks again right before it writes,
    against every file the command read (util/paths.py), the target's own source and what it imported included."""
    if not to_file(output):
        return
    import os

    from ..util.paths import STDIN, refuse_input, same_file

    assert output is not None
    for path in inputs or []:
        if path == "-":  # standard input: `convcost analyze - -o net.yaml <net.yaml` would lose net.yaml
            if _is_stdin(output):
                raise same_file(output, STDIN, option, what)
            continue
        try:
            same = os.path.samefile(path, output)
        except (OSError, ValueError):  # either does not exist (yet), or a name the OS refuses
            same = False
        if same:
            raise same_file(output, path, option, what)
    refuse_input(output, option, what)


def _is_stdin(output: str) -> bool:
    """Whether ``output`` is the regular file that standard input reads."""
    import os
    import stat

    try:
        fd = sys.stdin.fileno()
        given, target = os.fstat(fd), os.stat(output)
    except (AttributeError, OSError, ValueError):  # closed, not a real file (a test's stream), or no such output
        return False
    return stat.S_ISREG(given.st_mode) and (given.st_dev, given.st_ino) == (target.st_dev, target.st_ino)


def write_output(text: str, output: str, option: str = "--output", what: str = "output") -> None:
    """Write ``text`` to the file ``output`` atomically, unless it is one of the command's inputs."""
    from ..util.fsutil import atomic_write_text

    check_output(output, None, option, what)
    atomic_write_text(output, text)


def emit(text: str, output: Optional[str], what: str = "output") -> None:
    """``text`` to stdout, or atomically to ``output`` (with a 'wrote FILE' note on stderr)."""
    if not to_file(output):
        sys.stdout.write(text)
        return
    from ..errors import escape_controls

    assert output is not None
    write_output(text, output, "--output", what)
    print(f"wrote {escape_controls(output)}", file=sys.stderr)


def console_for(output: Optional[str], width: Optional[int] = None) -> Console:
    """A rich console on stdout, or one that records plain text (no colours) for ``emit``."""
    from rich.console import Console

    if not to_file(output):
        return Console(highlight=False, width=width)
    return Console(file=io.StringIO(), highlight=False, width=width or 150, color_system=None)


def wide_console(output: Optional[str], piped_width: int) -> Console:
    """``console_for(output)``, ``piped_width`` columns wide unless it writes to a terminal (which has
    its own width): piped or to a file, a table gets room for every column instead of 80."""
    console = console_for(output)
    return console if console.is_terminal else console_for(output, width=piped_width)


def finish(console: Console, output: Optional[str]) -> None:
    """Write what ``console_for(output)`` recorded, when it records."""
    if to_file(output):
        assert isinstance(console.file, io.StringIO)
        emit(console.file.getvalue(), output)
