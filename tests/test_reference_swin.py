"""configs/swin_t.yaml against torchvision's own swin_t (slow: a real Swin-T forward, import and fvcore trace).

Run with ``pytest -m slow`` (.ci/run runs it on its own line); needs torchvision (the ``models`` extra)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from convcost.cli import app

torch = pytest.importorskip("torch")
pytest.importorskip("fvcore")
tv = pytest.importorskip("torchvision.models")

from conftest import CONFIGS  # noqa: E402

pytestmark = pytest.mark.slow


def test_swin_t_pairs_torchvisions_swin_t() -> None:
    r = CliRunner().invoke(app, ["verify", str(CONFIGS / "swin_t.yaml"), "--reference", "torchvision.models:swin_t",
                                 "-f", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)["models"][0]
    model = tv.swin_t()
    t = doc["totals"]
    assert t["params"]["reference"] == t["params"]["spec"] == sum(p.numel() for p in model.parameters()) == 28_288_354
    assert t["buffers"]["reference"] == t["buffers"]["spec"] == sum(b.numel() for b in model.buffers())
    assert t["flop_counter"]["status"] == "ok" and t["fvcore"]["status"] == "ok"
    assert all(p["ok"] for p in doc["layers"])  # nothing differs
    # ShiftedWindowAttention registers relative_position_bias_table on itself, beside its qkv and proj Linears: the
    # module is one unit, with the table (it was a unit of its own: "spec 37,755, reference 507")
    attn = model.features[1][0].attn
    own = sum(p.numel() for p in attn.parameters())
    assert own == 96 * 288 + 288 + 96 * 96 + 96 + 13 * 13 * 3  # qkv, proj, the (2·7 − 1)² × 3 heads table
    pair = next(p for p in doc["layers"] if p["reference"] and p["reference"]["name"] == "features.1.0.attn")
    assert pair["spec"]["name"] == "features.1.0.attn" and pair["spec"]["params"] == pair["reference"]["params"] == own
    assert pair["checks"]["macs"]["status"] == "ok"
    # every weight of the model is in a pair that agrees: window attentions and patch merging compared whole
    paired = sum(p["reference"]["params"] or 0 for p in doc["layers"] if p["reference"] and p["spec"])
    assert paired == 28_288_354
    # the importer reads ShiftedWindowAttention and PatchMerging whole and the Permute modules as permutes, which
    # are the spec's to_tokens/to_map of a grid: every part read, every op, argument and count agrees
    assert doc["verified"] and doc["agrees"] and doc["not_compared"] == [] and r.exit_code == 0
