"""The --convention value parsed, shared by analyze, compare, check and report (typer-free: the plain analyze
path, commands/analyze_run.py, runs without typer)."""

from __future__ import annotations

from typing import Any


def chosen_convention(name: str | None) -> Any:
    """The --convention value parsed (None: convcost's own counts); a usage error (exit 2) for an unknown name."""
    from ..costmodel.convention import parse
    from ..errors import UsageError

    try:
        return parse(name)
    except ValueError as e:
        raise UsageError(f"--convention: {e}") from None
