"""File writes that never leave a half-written file behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import ConvcostError, Loc


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically.

    The text goes to a temporary file in the same directory, is flushed to disk, then renamed
    over ``path`` with os.replace, so readers see the old file or the new one, never a torn one.
    A failure (missing directory, no permission, disk full) raises ConvcostError naming the path.
    A symlink is written through (the link stays a link); a path that exists but is not a regular
    file (a FIFO, /dev/stdout, a device) is written into directly, never replaced by a file.
    """
    target = Path(path)
    if target.is_symlink():  # write through the link to its file, and keep the link
        target = Path(os.path.realpath(target))
    directory = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise ConvcostError("is a directory; cannot write a file there", Loc(str(path)))
    if target.exists() and not target.is_file():  # a FIFO, /dev/stdout, a device: stream into it, never replace it
        try:
            with open(target, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        except OSError as e:
            raise ConvcostError(f"cannot write: {e.strerror or e}", Loc(str(path))) from None
        return
    tmp_name: str | None = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            mode = target.stat().st_mode & 0o777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
        tmp_name = None
    except OSError as e:
        raise ConvcostError(f"cannot write: {e.strerror or e}", Loc(str(path))) from None
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
