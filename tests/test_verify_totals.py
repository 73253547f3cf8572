"""verify's whole-model checks: a total that disagrees is a mismatch even when every layer agrees, the
mismatch count includes the totals, and the --max-memory limit is inclusive (a forward that needs exactly
the limit runs for real).

Each test here was checked against a mutation of convcost/crosscheck/verify.py that survived the rest of the
suite (issue 19): `_total_check` always OK, `Report.mismatches` without the totals, `need <= max_bytes` made
`need < max_bytes`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convcost.cli import app

torch = pytest.importorskip("torch")
pytest.importorskip("fvcore")

from conftest import analysis_of, graph_of  # noqa: E402

from convcost.crosscheck import verify  # noqa: E402
from convcost.crosscheck.counters import FLOP_COUNTER, FVCORE, Status  # noqa: E402

NET = """
input: [3, 8, 8]
layers:
  - conv: {out: 4, kernel: 3, padding: 1}
  - relu
"""
CONV_MACS = 8 * 8 * 4 * 3 * 3 * 3  # 6,912: H·W·C_out·C_in·k·k
WEIGHTS = 4 * 3 * 3 * 3 + 4  # 112: the kernel and the bias
# a real forward's float32 bytes: weights, the input, the conv's and the relu's outputs, 4 bytes each
NEED = 4 * (WEIGHTS + 3 * 8 * 8 + 4 * 8 * 8 + 4 * 8 * 8)  # 4 · (112 + 192 + 256 + 256) = 3,264


def _skew(monkeypatch: pytest.MonkeyPatch, name: str, by: int) -> None:
    """Make one tool's whole-model total ``by`` more than it measured, its per-layer counts left alone."""
    real = getattr(verify, name)

    def skewed(*args: object) -> tuple[object, ...]:
        *rest, total = real(*args)
        return (*rest, total + by)

    monkeypatch.setattr(verify, name, skewed)


@pytest.mark.parametrize(("runner", "key", "right"), [
    ("run_flop_counter", FLOP_COUNTER.key, 2 * CONV_MACS),  # FlopCounterMode: 2 FLOPs per MAC, relu unseen
    ("run_fvcore", FVCORE.key, CONV_MACS),  # fvcore: 1 per MAC, relu ignored
])
def test_a_total_that_disagrees_is_a_mismatch_though_every_layer_agrees(
    monkeypatch: pytest.MonkeyPatch, runner: str, key: str, right: int
) -> None:
    assert verify.verify_graph(graph_of(NET)).totals[key].status == Status.OK  # as measured, it agrees
    _skew(monkeypatch, runner, 3)
    r = verify.verify_graph(graph_of(NET))
    assert all(lr.ok for lr in r.layers)
    total = r.totals[key]
    assert (total.status, total.expected, total.actual) == (Status.MISMATCH, right, right + 3)
    assert total.reason.startswith(f"convcost predicts {right:,}")
    assert r.mismatches == 1  # the total, counted though no layer mismatches
    assert not r.ok


def test_a_total_that_disagrees_fails_the_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _skew(monkeypatch, "run_flop_counter", 3)
    spec = tmp_path / "net.yaml"
    spec.write_text(NET, encoding="utf-8")
    result = CliRunner().invoke(app, ["verify", str(spec), "--format", "json"])
    assert result.exit_code == 1, result.output
    model = json.loads(result.stdout)["models"][0]
    assert model["mismatches"] == 1


def test_the_estimate_is_the_forward_by_hand() -> None:
    assert verify.estimate_bytes(analysis_of(NET)) == NEED


@pytest.mark.parametrize(("limit", "real"), [(NEED, True), (NEED + 1, True), (NEED - 1, False)])
def test_the_memory_limit_is_inclusive(limit: int, real: bool) -> None:
    r = verify.verify_graph(graph_of(NET), max_bytes=limit)
    assert r.real_forward is real
    assert r.estimated_bytes == NEED
    assert r.device == ("cpu" if real else "meta")
    assert (FVCORE.key in r.skipped) is not real
    if not real:
        # 3,264 / 1,000 = 3.26 kB (decimal units, 3 significant digits)
        assert f"needs about 3.26 kB ({NEED:,} bytes), over the limit of" in r.skipped[FVCORE.key]
        assert f"({limit:,} bytes)" in r.skipped[FVCORE.key]
        assert r.totals[FVCORE.key].status == Status.NOT_COMPARED
