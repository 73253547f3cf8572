"""Hostile inputs for Swin v2's ops (window_attention_v2, patch_merging_v2) and their importer: bad specs exit 2 with
a compiler-style message, accepted odd specs (padding, shift, batch > 1) count what torchvision's own modules count,
`convcost import` never writes a spec convcost refuses, and `verify --reference` fails a spec whose v2 args differ."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import analysis_of
from typer.testing import CliRunner

from convcost.cli import app

torch = pytest.importorskip("torch")
tv_swin = pytest.importorskip("torchvision.models.swin_transformer")

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

TESTS = Path(__file__).resolve().parent
TARGET = f"{TESTS / 'swin_v2_hostile_factories.py'}:around"
runner = CliRunner()


def test_import_refuses_a_shift_not_smaller_than_the_window(tmp_path: Path) -> None:
    """torchvision runs ShiftedWindowAttentionV2(16, [5, 5], [5, 5], 4) (it rolls by a whole window), but convcost's
    window_attention_v2 refuses shift >= window: import must exit 2 naming the module, not write a spec that
    `analyze` then rejects."""
    spec = tmp_path / "s.yaml"
    r = runner.invoke(app, ["import", TARGET, "--input", "3,44,36", "--reference-arg", "shift=5", "-o", str(spec)])
    assert r.exit_code == 2, r.output
    assert "attn" in r.output and "shift" in r.output, r.output
