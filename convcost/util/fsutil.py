"""File writes that never leave a half-written file behind."""

from __future__ import annotations

import errno
import os
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from ..errors import ConvcostError, Loc


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically.

    The text goes to a temporary file in the same directory, is flushed to disk, then renamed
    over ``path`` with os.replace, so readers see the old file or the new one, never a torn one.
    A failure (missing directory, no permission, disk full) raises ConvcostError naming the path.
    A symlink is written through (the link stays a link); a path that exists but is not a regular
    file (a FIFO, /dev/stdout, a device) is written into directly, never replaced by a file.
    Permissions are respected as `cp` or `echo >` would: a file the user may not write is refused
    (even though the directory would let it be replaced), and the new file keeps the old one's mode,
    owner and group; where it cannot (another user's file that this one may write), it is written in
    place, as `cp` does.
    """
    try:
        _atomic_write_text(path, text)
    except OSError as e:  # a name or path too long, a component not a directory, a loop of links, no permission
        raise ConvcostError(f"cannot write: {e.strerror or e}", Loc(str(path))) from None
    except ValueError as e:  # a NUL in the name
        raise ConvcostError(f"cannot write: {e}", Loc(str(path))) from None


def _atomic_write_text(path: str | Path, text: str) -> None:
    fd = _descriptor(path)
    if fd is not None:  # /dev/stdout, /dev/fd/3: the stream itself (its offset too), never the file behind it
        stream = _standard_stream(fd)
        if stream is not None:  # through sys.stdout/sys.stderr, in order with what they hold (util/streams.py)
            stream.write(text)
            stream.flush()
            return
        sys.stdout.flush()
        with os.fdopen(os.dup(fd), "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        return
    target = Path(path)
    if target.is_symlink():  # write through the link to its file, and keep the link
        target = Path(os.path.realpath(target))
    directory = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise ConvcostError("is a directory; cannot write a file there", Loc(str(path)))
    if target.exists() and not target.is_file():  # a FIFO, /dev/stdout, a device: stream into it, never replace it
        with open(target, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        return
    try:
        old = target.stat()
    except FileNotFoundError:
        old = None
    if old is not None and not os.access(target, os.W_OK):  # a read-only file stays, as with `cp` or `echo >`
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    tmp_name: str | None = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if old is not None:  # the replacement keeps the old file's mode, and its owner and group where allowed
            mode = old.st_mode & 0o7777
            if _owner(tmp_name) != (old.st_uid, old.st_gid) and not _chown(tmp_name, old):
                os.unlink(tmp_name)  # not allowed to give it that owner or group: write in place, as `cp` does
                tmp_name = None
                with open(target, "w", encoding="utf-8", newline="") as fh:
                    fh.write(text)
                return
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
        tmp_name = None
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass


def _descriptor(path: str | Path) -> int | None:
    """The open descriptor of this process that ``path`` names, directly or through links
    (/dev/stdout, /dev/stderr and /dev/fd/N lead to /proc/self/fd/N), or None. Writing the file behind
    it atomically replaced the file the shell redirected to, dropping what the shell had written there
    before and after (`(echo header; convcost ... -o /dev/stdout; echo footer) > log`); reopening it
    would write at the wrong offset; and a pipe has no file to replace."""
    own = os.path.realpath(f"/proc/{os.getpid()}/fd")
    current = os.path.abspath(path)
    for _ in range(40):  # as many links as the kernel follows
        name = os.path.basename(current)
        if name.isdigit() and os.path.realpath(os.path.dirname(current)) == own:
            return int(name)
        if not os.path.islink(current):
            return None
        current = os.path.normpath(os.path.join(os.path.dirname(current), os.readlink(current)))
    return None


def _standard_stream(fd: int) -> TextIO | None:
    """sys.stdout or sys.stderr when it writes to descriptor ``fd``."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream.fileno() == fd:
                return stream
        except (AttributeError, OSError, ValueError):  # closed, or a stream with no descriptor
            continue
    return None


def _owner(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_uid, st.st_gid


def _chown(path: str, old: os.stat_result) -> bool:
    """Give ``path`` the owner (only root can) and group of ``old``; False where that is not permitted."""
    try:
        os.chown(path, old.st_uid if os.geteuid() == 0 else -1, old.st_gid)
    except PermissionError:
        return False
    return _owner(path) == (old.st_uid, old.st_gid)
