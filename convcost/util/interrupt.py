"""Ctrl-C, told apart from a KeyboardInterrupt that code raises.

Python turns SIGINT into a KeyboardInterrupt wherever the main thread is, and code can raise one too: the
user's model (``raise KeyboardInterrupt`` in a forward) must not end a run with the silent code of a Ctrl-C.
:func:`install` (called once by the command line, convcost/cli.py) puts a SIGINT handler in place that notes
the signal before it raises, so that:

- a Ctrl-C, wherever it arrives (in convcost, in torch, in the user's code), stops the run with
  ``convcost: interrupted`` on stderr and exit code 130, the shell's code for SIGINT (convcost/app.py);
- a KeyboardInterrupt that the user's code raises with no SIGINT behind it is an error of that code: exit
  code 2 with a message naming the user's file and line (crosscheck/target.py). Outside the user's code, where
  only a signal raises one, a KeyboardInterrupt is taken for a Ctrl-C.
"""

from __future__ import annotations

# the C module under the standard library's `signal`, which also builds enums of every signal and handler at import,
# and no `threading` to ask which thread this is (signal.signal refuses any other than the main one): a third of a
# `convcost --help` run's own start-up
import _signal
from types import FrameType

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process that SIGINT ended

_signalled = False


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    global _signalled
    _signalled = True
    raise KeyboardInterrupt


def install() -> None:
    """Note each SIGINT before it becomes a KeyboardInterrupt; only where Python's own handler is in place (an
    embedding program's handler is left alone) and in the main thread (the only one signals reach)."""
    if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
        try:
            _signal.signal(_signal.SIGINT, _on_sigint)
        except ValueError:  # not the main thread (of the main interpreter): no signal reaches this one
            pass


def by_signal() -> bool:
    """Whether a SIGINT (Ctrl-C) has arrived since :func:`install`."""
    return _signalled
