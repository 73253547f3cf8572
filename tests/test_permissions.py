"""A file convcost may not read is a clear error and exit 2, for every kind of input, as root too.

Root reads any file, so the test that chmod'ed a spec to 0 was always skipped where CI runs as root (issue 19).
Here the real permission check runs everywhere: as root, the command runs in a forked child that dropped to the
unprivileged user 'nobody' (the kernel then refuses the read with EACCES, as it does for any user); otherwise in
this process. The same message is also checked with the one open() that reads input files made to raise
PermissionError, and for the other ways a path is not a readable file (a directory, a path through a file).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from convcost.cli import app

NOBODY = 65534
pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")

SPEC = "input: [3, 8, 8]\nlayers: [relu]\n"
# command, the file it reads that is made unreadable, what the message calls it
CASES = [
    (["analyze", "locked.yaml"], "locked.yaml", SPEC),
    (["check", "net.yaml", "-B", "locked.yaml"], "locked.yaml", "all: {macs: 1G}\n"),
    (["check", "net.yaml", "--baseline", "locked.json", "--max-growth", "1%"], "locked.json", "{}\n"),
    (["report", "net.yaml", "--verify", "locked.json"], "locked.json", "{}\n"),
]


def run_cli(args: list[str], cwd: Path, unprivileged: bool) -> tuple[int, str]:
    """(exit code, stderr) of `convcost ARGS` in ``cwd``; ``unprivileged``: in a forked child that dropped root
    (after the same command ran here, so that the child has imported what it runs: 'nobody' may not be able to
    read the interpreter's own library)."""
    old = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, args)
    finally:
        os.chdir(old)
    if not unprivileged:
        return result.exit_code, _stderr(result)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code, err = 99, "child failed"
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.chdir(cwd)
            result = CliRunner().invoke(app, args)
            code, err = result.exit_code, _stderr(result)
        except BaseException as e:
            err = f"child failed: {e!r}"
        finally:
            os.write(write, f"{code}\n{err}".encode())
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        data = fh.read().decode()
    os.waitpid(pid, 0)
    code_text, _, err = data.partition("\n")
    return int(code_text), err


def _stderr(result: Result) -> str:
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    return result.stderr.strip() + (f" {result.exception!r}" if crashed else "")


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory everyone may enter and read (pytest's tmp_path is private to its owner), with a spec in it."""
    d = Path(tempfile.mkdtemp(prefix="convcost-perm-"))
    try:
        d.chmod(0o755)
        (d / "net.yaml").write_text(SPEC, encoding="utf-8")
        (d / "net.yaml").chmod(0o644)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize(("args", "locked", "text"), CASES, ids=lambda v: v[0] if isinstance(v, list) else None)
def test_an_unreadable_file_is_a_clear_error(shared: Path, args: list[str], locked: str, text: str) -> None:
    (shared / locked).write_text(text, encoding="utf-8")
    (shared / locked).chmod(0)
    code, err = run_cli(args, shared, unprivileged=os.geteuid() == 0)
    assert (code, err) == (2, f"{locked}: cannot read: Permission denied")


def test_the_same_file_readable_passes(shared: Path) -> None:
    """The counterpart: what the child can do when the file is readable (the failure above is the permission)."""
    (shared / "locked.yaml").write_text(SPEC, encoding="utf-8")
    (shared / "locked.yaml").chmod(0o644)
    code, err = run_cli(["analyze", "locked.yaml"], shared, unprivileged=os.geteuid() == 0)
    assert (code, err) == (0, "")


def test_a_permission_error_from_the_read_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The exact open() that reads an input file, made to fail as a file without read permission does."""
    from convcost.util import paths  # read_bytes: the one open() of every input file

    monkeypatch.chdir(tmp_path)
    Path("spec.yaml").write_text(SPEC, encoding="utf-8")
    real_open = open

    def refusing_open(file: object, *args: object, **kwargs: object) -> object:
        if Path(str(file)).name == "spec.yaml":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(file))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(paths, "open", refusing_open, raising=False)  # the module's `open`, before the builtin
    result = CliRunner().invoke(app, ["analyze", "spec.yaml"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "spec.yaml: cannot read: Permission denied"


def test_a_path_through_a_file_and_a_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("spec.yaml").write_text(SPEC, encoding="utf-8")
    Path("dir.yaml").mkdir()
    result = CliRunner().invoke(app, ["analyze", "spec.yaml/inner.yaml"])  # ENOTDIR, root or not
    assert (result.exit_code, result.stderr.strip()) == (2, "spec.yaml/inner.yaml: cannot read: Not a directory")
    result = CliRunner().invoke(app, ["analyze", "dir.yaml"])
    assert (result.exit_code, result.stderr.strip()) == (2, "dir.yaml: is a directory, expected a YAML spec file")
