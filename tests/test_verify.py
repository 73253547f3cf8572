"""`convcost verify`: the real modules agree with the analytic counts, and verify can fail."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convcost.cli import app
from convcost.ops import REGISTRY
from convcost.ops.registry import OpRule

torch = pytest.importorskip("torch")
pytest.importorskip("fvcore")

from conftest import CONFIGS, graph_of  # noqa: E402

from convcost.crosscheck.verify import verify_graph  # noqa: E402

runner = CliRunner()

BLOCK = """
input: [16, 14, 14]
layers:
  - conv: {name: stem, out: 32, kernel: 3, padding: 1, bias: false}
  - bn
  - relu
  - residual:
      body:
        - conv: {out: 32, kernel: 3, padding: 1, groups: 4}
        - relu6
  - global_avgpool
  - flatten
  - linear: {out: 10}
"""


def _write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "net.yaml"
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_verify_passes_on_every_config(path: Path) -> None:
    result = runner.invoke(app, ["verify", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output[-2000:]
    doc = json.loads(result.stdout)
    assert doc["ok"] and all(m["mismatches"] == 0 for m in doc["models"])


def test_numbers_from_torch_and_by_hand(tmp_path: Path) -> None:
    r = verify_graph(graph_of(BLOCK))
    assert r.ok
    stem = r.layers[0].checks
    assert stem["params"].actual == 32 * 16 * 3 * 3  # 4,608, no bias
    assert stem["fvcore"].actual == 14 * 14 * 32 * 16 * 3 * 3  # 903,168 MACs
    assert stem["flop_counter"].actual == 2 * 14 * 14 * 32 * 16 * 3 * 3  # FLOPs = 2 × MACs
    bn = r.layers[1].checks
    assert bn["fvcore"].actual == 2 * 32 * 14 * 14  # fvcore: eval batch_norm, 2 per element
    assert bn["flop_counter"].status == "not_compared"  # FlopCounterMode cannot see BN: not a 0
    relu = r.layers[2].checks
    assert relu["fvcore"].status == "not_compared" and "ignore list" in relu["fvcore"].reason
    gap = next(lr for lr in r.layers if lr.op == "global_avgpool").checks
    assert gap["fvcore"].actual == 32 * 14 * 14  # adaptive_avg_pool2d: 1 per input element


def test_batch_scales_every_count(tmp_path: Path) -> None:
    result = runner.invoke(app, ["verify", _write(tmp_path, BLOCK), "--batch", "3", "-f", "json"])
    assert result.exit_code == 0, result.output
    stem = json.loads(result.stdout)["models"][0]["layers"][0]["checks"]
    assert stem["shape"]["actual"] == [3, 32, 14, 14]
    assert stem["fvcore"]["actual"] == 3 * 14 * 14 * 32 * 16 * 3 * 3


def test_a_planted_wrong_formula_makes_verify_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rule = REGISTRY["conv"]

    def wrong_cost(a, inputs, out, batch):  # type: ignore[no-untyped-def]
        c = rule.cost(a, inputs, out, batch)
        return dataclasses.replace(c, macs=c.macs + 1, params=c.params)  # one MAC too many

    monkeypatch.setitem(REGISTRY, "conv", dataclasses.replace(rule, cost=wrong_cost))
    result = runner.invoke(app, ["verify", _write(tmp_path, BLOCK)])
    assert result.exit_code == 1, result.output
    assert "✗" in result.stdout and "fvcore reports" in result.stdout


def test_a_planted_wrong_param_count_makes_verify_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rule: OpRule = REGISTRY["linear"]

    def no_bias_params(a, inputs, out, batch):  # type: ignore[no-untyped-def]
        c = rule.cost(a, inputs, out, batch)
        return dataclasses.replace(c, params=inputs[0][0] * a.out)  # forgets the bias

    monkeypatch.setitem(REGISTRY, "linear", dataclasses.replace(rule, cost=no_bias_params))
    result = runner.invoke(app, ["verify", _write(tmp_path, BLOCK), "-f", "json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    fc = next(lr for lr in doc["models"][0]["layers"] if lr["op"] == "linear")["checks"]["params"]
    assert (fc["status"], fc["expected"], fc["actual"]) == ("mismatch", 32 * 10, 32 * 10 + 10)


def test_a_wrong_convention_is_a_mismatch_not_a_silent_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    from convcost.crosscheck import verify
    from convcost.crosscheck.counters import Prediction

    planted = dataclasses.replace(verify.FVCORE, predict=lambda node, cost, batch: Prediction.unseen("planted"))
    monkeypatch.setattr(verify, "FVCORE", planted)
    r = verify_graph(graph_of(BLOCK))
    assert not r.ok  # fvcore does count the convs; predicting "unseen" must fail
    assert r.layers[0].checks["fvcore"].status == "mismatch"


def test_string_same_padding_is_invisible_to_fvcore() -> None:
    # even kernel + 'same': torch pads asymmetrically, the conv runs as aten::_convolution_mode
    r = verify_graph(graph_of("input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernel: 2, padding: same}\n"))
    assert r.ok
    c = r.layers[0].checks
    assert c["fvcore"].status == "not_compared" and "_convolution_mode" in c["fvcore"].reason
    assert c["flop_counter"].actual == 2 * 8 * 8 * 4 * 3 * 2 * 2  # FlopCounterMode still sees it


def test_big_input_runs_on_meta_and_names_the_bytes(tmp_path: Path) -> None:
    spec = "input: [3, 2048, 2048]\nlayers:\n  - conv: {out: 8, kernel: 3, padding: 1}\n"
    result = runner.invoke(app, ["verify", _write(tmp_path, spec), "--max-memory", "1M"])
    assert result.exit_code == 0, result.output
    # 4 bytes × (8·3·3·3 + 8 params + 3·2048·2048 input + 8·2048·2048 output) = 4 × 46,137,568
    assert "184,550,272 bytes" in result.stdout
    assert "over the limit of 1.00 MB (1,000,000 bytes)" in result.stdout  # 1M is 10**6, shown in decimal units
    assert "meta" in result.stdout


def test_default_limit_is_the_cli_default_and_reads_as_2_gb() -> None:
    import inspect

    from convcost.costmodel.memory import DEFAULT_MAX_BYTES, DEFAULT_MAX_MEMORY, human_bytes, parse_max_memory

    default = inspect.signature(verify_graph).parameters["max_bytes"].default  # (follows a wrapper, as mutmut's)
    assert parse_max_memory(DEFAULT_MAX_MEMORY) == DEFAULT_MAX_BYTES == default
    assert human_bytes(DEFAULT_MAX_BYTES) == "2.00 GB"  # not 1.9 GiB
    big = graph_of("input: [3, 12000, 12000]\nlayers:\n  - conv: {out: 8, kernel: 1}\n")
    skipped = verify_graph(big).skipped["fvcore"]  # 4 bytes × (3 + 8)·12000² values ≈ 6.34 GB: runs on meta
    assert "over the limit of 2.00 GB (2,000,000,000 bytes)" in skipped


def test_explain_names_the_categories(tmp_path: Path) -> None:
    result = runner.invoke(app, ["verify", _write(tmp_path, BLOCK), "--explain", "-f", "markdown"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "ptflops-style (modelled)" in out and "thop-style (modelled)" in out
    # fvcore adds 2 ops per BN element: 2·32·14·14 = 12,544 and adaptive pool 32·14·14 = 6,272
    fvcore_row = next(line for line in out.splitlines() if line.startswith("| fvcore (run)"))
    assert "+12.54 K batch_norm" in fvcore_row and "+6.27 K adaptive_avg_pool" in fvcore_row
    assert "not seen: add ×1, flatten ×1, relu ×1, relu6 ×1" in fvcore_row


def test_markdown_and_json_schema(tmp_path: Path) -> None:
    path = _write(tmp_path, BLOCK)
    md = runner.invoke(app, ["verify", path, "-f", "markdown", "--explain"])
    assert md.exit_code == 0 and md.stdout.startswith("### net") and "| counter | total |" in md.stdout
    doc = json.loads(runner.invoke(app, ["verify", path, "-f", "json"]).stdout)
    assert doc["schema"] == "convcost.verify/1"
    m = doc["models"][0]
    assert set(m["layers"][0]["checks"]) == {"shape", "params", "buffers", "fvcore", "flop_counter"}
    # every tool's convention is explained (issue 21): the four verify runs and the ones --convention predicts
    assert {c["key"] for c in m["explain"]["counters"]} == {
        "fvcore", "flop_counter", "ptflops", "thop", "ptflops_aten", "torchinfo", "torchscan", "calflops",
        "calflops_flops", "torchvision"}


def test_without_torch_verify_explains_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import convcost

    for mod in ("verify", "torch_build"):  # forget the loaded modules, so the import runs again
        monkeypatch.delitem(sys.modules, f"convcost.{mod}", raising=False)
        monkeypatch.delattr(convcost, mod, raising=False)
    monkeypatch.setitem(sys.modules, "torch", None)  # None in sys.modules: 'import torch' raises ImportError
    monkeypatch.setitem(sys.modules, "fvcore", None)
    result = runner.invoke(app, ["verify", _write(tmp_path, BLOCK)])
    assert result.exit_code == 2
    assert "pip install torch==2.13.0 'fvcore>=0.1.5'" in result.stderr


def test_cuda_is_refused_cleanly_without_a_gpu(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = runner.invoke(app, ["verify", _write(tmp_path, BLOCK), "--device", "cuda"])
    assert result.exit_code == 2 and "CUDA is not available" in result.stderr


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_verify_on_cuda(tmp_path: Path) -> None:
    result = runner.invoke(app, ["verify", _write(tmp_path, BLOCK), "--device", "cuda", "-f", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["models"][0]["device"] == "cuda"
