"""Shared weights through `convcost import` and `verify --reference` (review rev20): a weight one module shares with
another (``b.weight = a.weight``), a module called twice (a Linear, a siamese conv, one conv object twice in an
nn.Sequential). Import ties them and counts each tensor once, as torch's parameters() does; `verify --reference`
compared each layer with the whole module's parameters (the shared weight again) and all its calls' MACs, and failed
(exit 1) every one of these exact imports."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")

from convcost.api import analyze_file
from convcost.cli import app

TESTS = Path(__file__).resolve().parent
runner = CliRunner()


@pytest.mark.parametrize(("factory", "arg", "shape", "params", "macs"), [
    # a: 8·8·9 + 8, b its own bias 8, fc 8·8 + 8: 656; MACs 2 · 8·8·8·8·9 + 8·8
    ("tied", "how=weight", "8,8,8", 8 * 8 * 9 + 8 + 8 + 8 * 8 + 8, 2 * 8 * 8 * 8 * 8 * 9 + 8 * 8),
    # the fc called twice: its 72 params once, its 64 MACs twice
    ("tied", "how=twice", "8,8,8", 8 * 8 * 9 + 8 + 8 + 8 * 8 + 8, 2 * 8 * 8 * 8 * 8 * 9 + 2 * 8 * 8),
    # a 3→4 3×3 conv on 16×16 (14×14 out) twice: 4·3·9 + 4 params once, 2 · 14·14·4·3·9 MACs
    ("siamese", "how=pair", "3,16,16", 4 * 3 * 9 + 4 + 3 * 3 * 9 + 3, 2 * 14 * 14 * 4 * 3 * 9),
    # the same 3→3 conv (padding 1) twice in one nn.Sequential: 3·3·9 + 3 params once, 2 · 16·16·3·3·9 MACs
    ("siamese", "how=seq", "3,16,16", 4 * 3 * 9 + 4 + 3 * 3 * 9 + 3, 2 * 16 * 16 * 3 * 3 * 9),
])
def test_shared_weights_import_exactly_and_verify(factory: str, arg: str, shape: str, params: int, macs: int,
                                                  tmp_path: Path) -> None:
    target = f"{TESTS / 'import_hostile_factories.py'}:{factory}"
    spec = tmp_path / "shared.yaml"
    r = runner.invoke(app, ["import", target, "--input", shape, "-o", str(spec), "--reference-arg", arg])
    assert r.exit_code == 0, r.output
    assert "tied:" in spec.read_text()
    total = analyze_file(spec)[0].total
    # the siamese model's unused branch is an `unused` row (counted, no MACs): all its params are in the totals
    assert (total.params, total.macs) == (params, macs)
    v = runner.invoke(app, ["verify", str(spec), "--reference", target, "--reference-arg", arg])
    assert v.exit_code == 0, v.output
    assert "every op, argument and count agrees" in v.output
