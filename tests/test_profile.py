"""`convcost profile`: the timing method and its output on tiny specs (timings themselves are not asserted)."""

from __future__ import annotations

import json
import time

import pytest
from conftest import graph_of
from typer.testing import CliRunner

from convcost.cli import app
from convcost.costmodel.analysis import analyze
from convcost.costmodel.memory import analyze_memory
from convcost.errors import UsageError
from convcost.frontend.spec import parse_spec
from convcost.graph.build import build_graph

torch = pytest.importorskip("torch")

from convcost.crosscheck.profiling import ProfileOptions, profile_graphs, profile_latency  # noqa: E402
from convcost.crosscheck.runner import ModelRunner  # noqa: E402
from convcost.crosscheck.timing import time_cpu, time_cuda  # noqa: E402
from convcost.crosscheck.torch_build import build_model  # noqa: E402
from convcost.graph.segments import top_level_segments  # noqa: E402

runner = CliRunner()
HAS_CUDA = torch.cuda.is_available()

TINY = """\
models:
  tiny:
    input: [3, 16, 16]
    layers:
      - conv: {name: stem, out: 8, kernel: 3, padding: 1}
      - bn
      - relu
      - residual:
          name: res
          body:
            - conv: {out: 8, kernel: 3, padding: 1, bias: false}
            - bn
            - silu
      - concat:
          name: mix
          branches:
            - [{conv: {out: 4, kernel: 1}}, sigmoid]
            - [{maxpool: {kernel: 3, stride: 1, padding: 1}}]
      - gap
      - flatten
      - dropout: {p: 0.1}
      - linear: {out: 5}
  small:
    input: [4, 8, 8]
    layers:
      - conv: {out: 4, kernel: 3, padding: 1}
      - relu
"""


@pytest.fixture
def tiny_spec(tmp_path):  # type: ignore[no-untyped-def]
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY)
    return str(p)


def test_time_cpu_measures_at_least_the_work() -> None:
    t = time_cpu(lambda: time.sleep(0.002), threads=1, min_time=0.02, warmup=1)
    assert t.runs >= 5  # enough measurements for a median and an IQR
    assert t.median_s >= 0.002  # a call cannot take less than its sleep
    assert t.min_s <= t.median_s <= t.max_s and t.iqr_s >= 0


def test_block_runner_reproduces_the_model_on_real_inputs() -> None:
    g = graph_of(TINY, "tiny")
    with torch.inference_mode():
        r = ModelRunner(g, ProfileOptions())
        tensors = r.run_all()
        assert torch.equal(r.whole()(), tensors[g.output.index])
        for seg in top_level_segments(g):
            out = r.block(seg.nodes, tensors)()
            assert torch.equal(out, tensors[seg.nodes[-1].index]), seg.name


def test_training_saved_bytes_match_torch_autograd() -> None:
    """The analytic count against what torch's autograd actually saves (saved_tensors_hooks)."""
    g = build_graph(parse_spec(TINY, "t.yaml"), "tiny", batch=2)
    model = build_model(g).train()
    own = {p.untyped_storage().data_ptr() for p in [*model.parameters(), *model.buffers()]}
    saved: dict[int, int] = {}

    def pack(t):  # type: ignore[no-untyped-def]
        s = t.untyped_storage()
        if s.data_ptr() not in own:  # weights are not activations
            saved[s.data_ptr()] = s.nbytes()  # one entry per storage: views and re-saves count once
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(torch.randn(2, *g.input_shape)).sum()
    assert sum(saved.values()) == analyze_memory(analyze(g), "fp32").activations.training_saved_bytes


def test_profile_json(tiny_spec: str) -> None:
    result = runner.invoke(app, ["profile", tiny_spec, "-m", "tiny", "--quick", "-f", "json", "--batch", "2"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["schema"] == "convcost.profile/1"
    env = doc["environment"]
    assert env["device"] == "cpu" and env["dtype"] == "fp32" and "3 interleaved repeats" in env["method"]
    assert env["repeats"] == 3 and env["clock"] == "wall"  # --quick: 3 repeats
    assert doc["hardware"]["name"] == "cpu"
    (m,) = doc["models"]
    assert m["input"] == [2, 3, 16, 16]
    assert [b["name"] for b in m["blocks"]] == [
        "stem", "bn1", "relu1", "res", "mix", "gap1", "flatten1", "dropout1", "linear1"
    ]
    whole = m["model"]
    t = whole["measured"]
    assert t["runs"] == 3 and t["min_s"] <= t["median_s"] <= t["max_s"]
    assert whole["achieved_flops_per_s"] == pytest.approx(whole["roofline"]["flops"] / t["median_s"])
    assert whole["roofline_pct"] == pytest.approx(100 * whole["roofline"]["ideal_s"] / t["median_s"])
    # stem conv: batch 2 · 16·16 positions · 8 out · 3·3·3 taps
    assert m["blocks"][0]["macs"] == 2 * 16 * 16 * 8 * 27
    assert all(b["measured"]["median_s"] > 0 for b in m["blocks"])


def test_profile_table_dtype_layout_threads(tiny_spec: str) -> None:
    result = runner.invoke(
        app,
        ["profile", tiny_spec, "-m", "small", "--quick", "--no-blocks", "--dtype", "bf16", "--channels-last",
         "--threads", "1"],
    )
    assert result.exit_code == 0, result.output
    assert "bf16, channels_last" in result.stdout and "1 thread)" in result.stdout
    assert "% roof" in result.stdout and "GFLOP/s" in result.stdout


def test_profile_markdown(tiny_spec: str) -> None:
    result = runner.invoke(app, ["profile", tiny_spec, "-m", "small", "--quick", "--no-blocks", "-f", "markdown"])
    assert result.exit_code == 0, result.output
    assert "| **total** | model |" in result.stdout and "### small" in result.stdout


def test_profile_usage_errors(tiny_spec: str) -> None:
    r = runner.invoke(app, ["profile", tiny_spec, "--dtype", "int8", "--quick"])
    assert r.exit_code == 2 and "convcost roofline --dtype int8" in r.stderr
    r = runner.invoke(app, ["profile", tiny_spec, "--hw", "h1000", "--quick"])
    assert r.exit_code == 2 and "did you mean 'h100'" in r.stderr
    if not HAS_CUDA:
        r = runner.invoke(app, ["profile", tiny_spec, "--device", "cuda", "--quick"])
        assert r.exit_code == 2 and "no CUDA GPU" in r.stderr


def test_profile_latency_hook() -> None:
    graphs = [graph_of(TINY, "small"), graph_of(TINY, "tiny")]
    timings = profile_latency(graphs, ProfileOptions(min_time=0.01, warmup=1))
    assert len(timings) == 2 and all(t.median_s > 0 for t in timings)


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
def test_cuda_events_timing() -> None:
    x = torch.randn(256, 256, device="cuda")
    t = time_cuda(lambda: x @ x, min_time=0.01, warmup=2)
    assert t.runs >= 10 and t.median_s > 0


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
def test_profile_on_cuda(tiny_spec: str) -> None:
    graphs = [graph_of(TINY, "tiny")]
    run = profile_graphs(graphs, ProfileOptions(device="cuda", min_time=0.01, warmup=1), hw=None)
    assert run.environment is not None and "cuda.Event" in run.environment.method
    assert run.models[0].whole.timing is not None


def test_profile_unknown_dtype_direct() -> None:
    with pytest.raises(UsageError, match="cannot be measured"):
        profile_graphs([graph_of(TINY, "small")], ProfileOptions(dtype="int8"))


def test_compare_profile_puts_latency_beside_macs(tiny_spec: str) -> None:
    result = runner.invoke(app, ["compare", tiny_spec, "-m", "small", "-m", "tiny", "--profile", "-f", "json"])
    assert result.exit_code == 0, result.output
    base, other = json.loads(result.stdout)["latency"]
    assert base["label"].endswith("small") and base["latency_change_pct"] == 0
    assert base["macs"] == 8 * 8 * 4 * 4 * 9  # 8·8 positions · 4 out · 4 in · 3·3
    assert other["macs_change_pct"] == pytest.approx(100 * (other["macs"] - base["macs"]) / base["macs"])
    t0, t1 = base["measured"]["median_s"], other["measured"]["median_s"]
    assert other["latency_change_pct"] == pytest.approx(100 * (t1 - t0) / t0)
    table = runner.invoke(app, ["compare", tiny_spec, "-m", "small", "-m", "tiny", "--profile"], terminal_width=200)
    assert table.exit_code == 0 and "% latency" in table.stdout and "% MACs" in table.stdout


# ---- memory guard and torch failures ------------------------------------------------------------
SMALL_ONLY = "input: [4, 8, 8]\nlayers:\n  - conv: {out: 4, kernel: 3, padding: 1}\n  - relu\n"
# weights 4·4·3·3 + 4 = 148 (fp32 as built: 592 B); input 4·8·8 = 256; conv and relu outputs 2 · 4·8·8 = 512
SMALL_WITH_BLOCKS = 4 * 148 + 4 * (256 + 2 * 512)  # 5,712 bytes: outputs twice when blocks are timed
SMALL_WHOLE_ONLY = 4 * 148 + 4 * (256 + 512)  # 3,664 bytes


def test_profile_refuses_a_model_over_max_memory(tmp_path) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "small.yaml"
    spec.write_text(SMALL_ONLY)
    over = runner.invoke(app, ["profile", str(spec), "--quick", "--max-memory", str(SMALL_WITH_BLOCKS - 1)])
    assert over.exit_code == 2, over.output
    assert f"needs about 5.71 kB ({SMALL_WITH_BLOCKS:,} bytes) to profile" in over.stderr
    assert f"over the limit of 5.71 kB ({SMALL_WITH_BLOCKS - 1:,} bytes)" in over.stderr
    assert "--no-blocks" in over.stderr and "raise --max-memory" in over.stderr
    assert "lower --batch" not in over.stderr.lower()  # batch is already 1
    whole = runner.invoke(app, ["profile", str(spec), "--quick", "--no-blocks", "--max-memory", str(SMALL_WITH_BLOCKS - 1)])
    assert whole.exit_code == 0, whole.output  # 3,664 bytes without the kept outputs
    exact = runner.invoke(app, ["profile", str(spec), "--quick", "--max-memory", str(SMALL_WITH_BLOCKS)])
    assert exact.exit_code == 0, exact.output
    batch = runner.invoke(app, ["profile", str(spec), "--quick", "-b", "1000"])  # 2 GB default: fine at batch 1000
    assert batch.exit_code == 0, batch.output
    bad = runner.invoke(app, ["profile", str(spec), "--max-memory", "lots"])
    assert bad.exit_code == 2 and "--max-memory: expected a count" in bad.stderr


def test_profile_bytes_by_hand() -> None:
    from convcost.crosscheck.profile_limits import profile_bytes

    a = analyze(graph_of(SMALL_ONLY))
    assert profile_bytes(a, ProfileOptions()) == SMALL_WITH_BLOCKS
    assert profile_bytes(a, ProfileOptions(blocks=False)) == SMALL_WHOLE_ONLY
    # bf16 halves the input and outputs, not the fp32 weights as built
    assert profile_bytes(a, ProfileOptions(dtype="bf16")) == 4 * 148 + 2 * (256 + 2 * 512)


def test_out_of_memory_while_building_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import convcost.crosscheck.torch_build

    def no_memory(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory\nmore")

    monkeypatch.setattr(convcost.crosscheck.torch_build, "build_model", no_memory)
    with pytest.raises(UsageError) as e:
        profile_graphs([graph_of(SMALL_ONLY)], ProfileOptions(min_time=0.01, warmup=1))
    message = str(e.value)
    assert "torch ran out of memory building it in fp32 on cpu" in message
    assert "estimates it needs 5.71 kB" in message and "DefaultCPUAllocator" in message and "more" not in message


@pytest.mark.parametrize(
    ("dtype", "hint"), [("fp32", None), ("bf16", "; try --dtype fp32"), ("fp16", "; try --dtype fp32 or bf16")]
)
def test_torch_failure_suggests_fp32_only_when_not_fp32(monkeypatch: pytest.MonkeyPatch, dtype: str, hint: str | None) -> None:
    def fail(self):  # type: ignore[no-untyped-def]
        raise RuntimeError("\"addmm_impl_cpu_\" not implemented for 'Half'")

    monkeypatch.setattr(ModelRunner, "run_all", fail)
    with pytest.raises(UsageError) as e:
        profile_graphs([graph_of(SMALL_ONLY)], ProfileOptions(dtype=dtype, min_time=0.01, warmup=1))
    message = str(e.value)
    assert f"cannot run model 't' in {dtype} on cpu: \"addmm_impl_cpu_\" not implemented" in message
    if hint is None:
        assert "--dtype" not in message
    else:
        assert message.endswith(hint)


def test_unknown_dtype_lists_the_valid_ones(tiny_spec: str) -> None:
    r = runner.invoke(app, ["profile", tiny_spec, "--dtype", "foo", "--quick"])
    assert r.exit_code == 2
    assert "unknown --dtype 'foo'; profile measures fp32, fp16, bf16 (`convcost roofline` also takes int8)" in r.stderr
    assert "roofline --dtype foo" not in r.stderr
    r = runner.invoke(app, ["profile", tiny_spec, "--dtype", "fp61", "--quick"])
    assert r.exit_code == 2 and "did you mean 'fp16'" in r.stderr


def test_markdown_says_1_layer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "one.yaml"
    spec.write_text("input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernel: 1}\n")
    r = runner.invoke(app, ["profile", str(spec), "--quick", "-f", "markdown"])
    assert r.exit_code == 0, r.output
    assert "1 layer." in r.stdout and "1 layers" not in r.stdout
