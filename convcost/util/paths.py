"""The user's files, read through one place and checked in one place before anything is written.

Reading: :func:`read_bytes` opens every file a command is given to read (specs, budget files, baselines,
``--verify``/``--profile`` results, device files); whatever the operating system answers (no such file, a
directory, a name or path too long, a component that is not a directory, a loop of links, no permission) is
one ``PATH: message`` (:func:`os_error`), exit code 2, never a traceback and never exit 1, which ``check``
keeps for "over budget".

Inputs: what a command has read is remembered by device and inode (:func:`note_input`; read_bytes does it,
and the import and ``--reference`` targets note the Python files they ran), so that :func:`input_named` can
tell whether an output path names one of them, whatever its spelling (``./a/../x.py``, a hard link, a
symlink). The outputs (``-o``, ``check --summary``, ``$GITHUB_STEP_SUMMARY``) are checked right before they
are written (commands/_output.py), which covers inputs known only once they ran: the file of a
``pkg.module:factory`` target, or a module the user's file imports. The record belongs to one command:
:func:`forget_inputs` starts it afresh (util/write_errors.py, which wraps every command).
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

from ..errors import ConvcostError, Loc, SpecError, UsageError, shown_path

_inputs: dict[tuple[int, int], str] = {}  # (st_dev, st_ino) -> the name it was given by
STDIN = "-"  # the name of the file read as standard input


def forget_inputs() -> None:
    """Start a command's record of inputs (a test process runs many commands)."""
    _inputs.clear()


def note_input(path: str | Path) -> None:
    """Remember ``path`` as an input of this command; a path that cannot be stat'ed is no file to protect."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return
    _inputs.setdefault((st.st_dev, st.st_ino), str(path))


def note_modules(names: set[str] | list[str]) -> None:
    """Remember the source files of the modules ``names`` (those the user's code imported) as inputs."""
    for name in names:
        file = getattr(sys.modules.get(name), "__file__", None)
        if isinstance(file, str):
            note_input(file)


def input_named(path: str) -> str | None:
    """The name of the input of this command that ``path`` is (the same file), or None."""
    if not _inputs:
        return None
    try:
        st = os.stat(path)
    except (OSError, ValueError):  # no such file (yet), or a name the OS refuses: not an input
        return None
    return _inputs.get((st.st_dev, st.st_ino))


def refuse_input(output: str, option: str, what: str) -> None:
    """A UsageError when ``output`` (given as ``option``) names an input of this command."""
    read = input_named(output)
    if read is not None:
        raise same_file(output, read, option, what)


def same_file(output: str, read: str, option: str, what: str) -> UsageError:
    """'--output x.yaml is the input file ./x.yaml; write the output somewhere else'."""
    is_what = "the file read as standard input" if read == STDIN else f"the input file {shown_path(read)}"
    return UsageError(f"{option} {shown_path(output)} is {is_what}; write the {what} somewhere else")


def os_error(e: OSError, path: str | Path, doing: str = "read") -> ConvcostError:
    """``PATH: cannot read: File name too long`` (``doing`` is 'read' or 'write')."""
    name = str(path)
    if doing == "read" and e.errno == errno.ENOENT:
        return SpecError("no such file", Loc(name))
    return ConvcostError(f"cannot {doing}: {e.strerror or e}", Loc(name))


def read_bytes(path: str | Path, kind: str, max_bytes: int) -> bytes:
    """At most ``max_bytes`` + 1 bytes of the ``kind`` of file at ``path`` (so a device that never ends is
    refused by the caller like a file too big); any refusal of the OS is a ConvcostError naming the path."""
    name = str(path)
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            data = fh.read(max_bytes + 1)
    except IsADirectoryError:
        raise SpecError(f"is a directory, expected a {kind}", Loc(name)) from None
    except OSError as e:
        raise os_error(e, name) from None
    except ValueError as e:  # a NUL in the name
        raise ConvcostError(f"cannot read: {e}", Loc(name)) from None
    _inputs.setdefault((st.st_dev, st.st_ino), name)
    return data


def check_readable(path: str | Path, kind: str) -> None:
    """Open ``path`` for reading and close it (another reader reads it: Python's import of the user's file):
    a refusal of the OS is a ConvcostError naming the path; the file is noted as an input."""
    name = str(path)
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
    except IsADirectoryError:
        raise SpecError(f"is a directory, expected a {kind}", Loc(name)) from None
    except OSError as e:
        raise os_error(e, name) from None
    except ValueError as e:  # a NUL in the name
        raise ConvcostError(f"cannot read: {e}", Loc(name)) from None
    _inputs.setdefault((st.st_dev, st.st_ino), name)


def note_stdin() -> None:
    """Standard input was read for '-': the regular file behind it (``<net.yaml``) is an input."""
    try:
        st = os.fstat(sys.stdin.fileno())
    except (AttributeError, OSError, ValueError):  # closed, or a test's stream with no descriptor
        return
    import stat

    if stat.S_ISREG(st.st_mode):
        _inputs.setdefault((st.st_dev, st.st_ino), STDIN)
