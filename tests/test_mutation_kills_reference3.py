"""`verify --reference` when fvcore or convcost's importer fails on the user's model: the failure becomes one line,
its message's first line, whatever the message (one line, several, or none). Found by the survivors of issue 19's
third uniform mutation sample (seed 2107, docs/testing.md); written after that draw, so these kills do not count in
its score.
"""

from __future__ import annotations

import pytest
from conftest import graph_of

torch = pytest.importorskip("torch")
fvcore_nn = pytest.importorskip("fvcore.nn")

from convcost.crosscheck import reference  # noqa: E402

SPEC = "input: [3, 4, 4]\nlayers:\n  - conv: {out: 2, kernel: 1}\n"


def _raising(message: str) -> type:
    class Fails:
        def __init__(self, *args: object) -> None:
            raise RuntimeError(message)

    return Fails


@pytest.mark.parametrize(("message", "shown"), [
    ("cannot trace a dict output", "cannot trace a dict output"),  # one line
    ("first line\nsecond line", "first line"),  # only the first
    ("", ""),  # no message: nothing after the type
])
def test_fvcore_failure_on_the_reference_is_its_first_line(monkeypatch: pytest.MonkeyPatch, message: str,
                                                           shown: str) -> None:
    monkeypatch.setattr(fvcore_nn, "FlopCountAnalysis", _raising(message))
    got = reference._fvcore_total(torch.nn.Conv2d(3, 2, 1), (torch.zeros(1, 3, 4, 4),))
    assert got == (None, f"fvcore cannot trace the reference: RuntimeError: {shown}")


@pytest.mark.parametrize(("message", "shown"), [("no grid\nmore", "no grid"), ("", "")])
def test_importer_failure_on_the_reference_is_its_first_line(monkeypatch: pytest.MonkeyPatch, message: str,
                                                             shown: str) -> None:
    import convcost.importer.trace as trace

    def fails(*args: object) -> None:
        raise ValueError(message)

    monkeypatch.setattr(trace, "import_model", fails)
    st = reference._structure(graph_of(SPEC), torch.nn.Conv2d(3, 2, 1), "cpu")
    assert (st.alignment, st.model, st.model_analysis) == (None, None, None)
    assert st.why == f"convcost's importer cannot read the model: ValueError: {shown}"
