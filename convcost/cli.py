"""The `convcost` command line. Each command lives in convcost/commands/ and registers on convcost/app.py's `app`."""

from __future__ import annotations

from .app import EXIT_BAD_INPUT, EXIT_FINDINGS, EXIT_OK, app

__all__ = ["EXIT_BAD_INPUT", "EXIT_FINDINGS", "EXIT_OK", "app", "run"]


def _register_commands() -> None:
    from .commands import (  # noqa: F401
        analyze,
        calibrate,
        check,
        compare,
        import_,
        ops,
        profile,
        report,
        sweep,
        verify,
    )


_register_commands()


def run() -> None:
    from .util.gcpause import freeze_after_pauses
    from .util.streams import guard_streams

    guard_streams()  # `convcost ... >&-`: a message and exit 2, not a traceback (util/streams.py)
    freeze_after_pauses()  # a short process: see gcpause.py
    app()
