"""The collector pause restores the collector's state, also on errors."""

from __future__ import annotations

import gc

import pytest

from convcost.errors import SpecError
from convcost.frontend.spec import parse_spec
from convcost.util.gcpause import paused_gc


def test_pause_restores_the_collector_even_after_an_error() -> None:
    assert gc.isenabled()
    with pytest.raises(SpecError):
        parse_spec("input: [3, 8, 8]\nlayers: [relux]\n", "t.yaml")
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()
