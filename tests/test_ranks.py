"""1-D (C×L) and 3-D (C×D×H×W) inputs and conv_transpose, against torch itself.

Every expected number comes from torch: the test builds torch's own module for each random layer from
the layer's arguments (nn.Conv1d/2d/3d, nn.ConvTranspose*, nn.MaxPool*, nn.AvgPool*,
nn.AdaptiveAvgPool*, nn.BatchNorm*), written here, not taken from convcost, and compares the output
shape, the parameter count and FlopCounterMode's MACs; where torch refuses the layer, convcost must
refuse the spec too. Random stacks of such layers then go through `verify` (fvcore and
FlopCounterMode layer by layer) and, in tests/test_other_counters.py, through the real ptflops and thop.
Hand-derived numbers for the same ops are in tests/test_ops.py (RANK_CASES).
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import yaml
from acceptance import Acceptance
from conftest import analysis_of, graph_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convcost.errors import SpecError

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

OPS = ["conv", "conv_transpose", "maxpool", "avgpool", "adaptive_avgpool", "global_avgpool", "batchnorm"]


def _dims(draw: Any, rank: int, lo: int, hi: int) -> int | list[int]:
    """An int for every spatial dim or, as often, one value per dim."""
    if draw(st.booleans()):
        return draw(st.integers(lo, hi))
    return [draw(st.integers(lo, hi)) for _ in range(rank)]


@st.composite
def layers(draw: Any, channels: int, rank: int) -> dict[str, Any]:
    """A random layer of one of OPS for a `channels`-channel input of `rank` spatial dims; it may not fit
    the input (torch and convcost must then both refuse it)."""
    op = draw(st.sampled_from(OPS))
    if op in ("conv", "conv_transpose"):
        groups = draw(st.sampled_from(sorted({g for g in (1, 2, channels) if channels % g == 0})))
        args: dict[str, Any] = {
            "out": groups * draw(st.integers(1, 3)), "kernel": _dims(draw, rank, 1, 4), "stride": _dims(draw, rank, 1, 3),
            "padding": _dims(draw, rank, 0, 2), "dilation": _dims(draw, rank, 1, 2), "groups": groups,
            "bias": draw(st.booleans()),
        }
        if op == "conv_transpose":
            args["output_padding"] = _dims(draw, rank, 0, 1)
        return {op: args}
    if op in ("maxpool", "avgpool"):
        args = {"kernel": _dims(draw, rank, 1, 3), "padding": _dims(draw, rank, 0, 1), "ceil_mode": draw(st.booleans())}
        if draw(st.booleans()):
            args["stride"] = _dims(draw, rank, 1, 2)
        if op == "avgpool":
            args["count_include_pad"] = draw(st.booleans())
        return {op: args}
    if op == "adaptive_avgpool":
        return {op: {"out": _dims(draw, rank, 1, 5)}}
    if op == "batchnorm":
        return {op: {"affine": draw(st.booleans())}}
    return {op: {}}


def torch_module(layer: dict[str, Any], channels: int, rank: int) -> nn.Module:
    """torch's module for a layer, built from its arguments with torch's own names (independent of convcost)."""
    (op, a), n = next(iter(layer.items())), rank
    if op == "conv":
        cls = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[n]
        return cls(channels, a["out"], a["kernel"], a["stride"], a["padding"], a["dilation"], a["groups"], a["bias"])
    if op == "conv_transpose":
        cls = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}[n]
        return cls(channels, a["out"], a["kernel"], a["stride"], a["padding"], a["output_padding"], a["groups"], a["bias"],
                   a["dilation"])
    if op == "maxpool":
        cls = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}[n]
        return cls(a["kernel"], a.get("stride"), a["padding"], ceil_mode=a["ceil_mode"])
    if op == "avgpool":
        cls = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}[n]
        return cls(a["kernel"], a.get("stride"), a["padding"], a["ceil_mode"], a["count_include_pad"])
    if op == "adaptive_avgpool":
        return {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}[n](a["out"])
    if op == "global_avgpool":
        return {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}[n](1)
    assert op == "batchnorm"
    return {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[n](channels, affine=a["affine"])


def run_torch(layer: dict[str, Any], shape: tuple[int, ...], batch: int) -> tuple[tuple[int, ...], int, int] | None:
    """(output shape without the batch, params, FlopCounterMode MACs) of torch's module; None where torch refuses."""
    try:
        module = torch_module(layer, shape[0], len(shape) - 1).eval()
        with warnings.catch_warnings(), torch.no_grad(), FlopCounterMode(display=False) as counter:
            warnings.simplefilter("ignore")
            y = module(torch.zeros(batch, *shape))
    except (RuntimeError, ValueError):  # "Output size is too small", "pad should be at most half", ...
        return None
    if y.numel() == 0:  # torch 'succeeds' with an empty output in a few corner cases: no layer either
        return None
    return tuple(y.shape[1:]), sum(p.numel() for p in module.parameters()), counter.get_total_flops() // 2


def spec_text(shape: tuple[int, ...], batch: int, layer_list: list[Any]) -> str:
    return yaml.safe_dump({"input": {"shape": list(shape), "batch": batch}, "layers": layer_list}, sort_keys=False)


@st.composite
def single_layers(draw: Any) -> tuple[tuple[int, ...], int, dict[str, Any]]:
    rank = draw(st.sampled_from([1, 1, 3, 3, 2]))
    channels = draw(st.integers(1, 6))
    shape = (channels, *[draw(st.integers(1, 9)) for _ in range(rank)])
    return shape, draw(st.integers(1, 2)), draw(layers(channels, rank))


def test_random_layers_of_every_rank_equal_torch() -> None:
    """Each random layer: convcost and torch agree on whether it fits, and where it does on the output
    shape, the parameters and the MACs (FlopCounterMode / 2; 0 for pools and batch norm)."""
    seen = Acceptance()
    outcomes = {"fits": 0, "refused": 0}
    ops: set[tuple[str, int]] = set()

    @settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(single_layers())
    def agrees(case: tuple[tuple[int, ...], int, dict[str, Any]]) -> None:
        shape, batch, layer = case
        seen.accept(True)
        expected = run_torch(layer, shape, batch)
        text = spec_text(shape, batch, [layer])
        if expected is None:
            with pytest.raises(SpecError):
                graph_of(text)
            outcomes["refused"] += 1
            return
        lc = analysis_of(text).layers[0]
        assert (lc.node.shape, lc.cost.params, lc.cost.macs) == expected, text
        outcomes["fits"] += 1
        ops.add((next(iter(layer)), len(shape) - 1))

    agrees()
    seen.check(min_accepted=300)
    # both outcomes were exercised, most examples fit, and every op was seen in 1-D and 3-D
    assert outcomes["fits"] >= 150 and outcomes["refused"] >= 10, outcomes
    assert {(op, r) for op in OPS for r in (1, 3)} <= ops, sorted(ops)


@st.composite
def ranked_specs(draw: Any, batches: st.SearchStrategy[int] = st.integers(1, 2)) -> str:
    """A random stack of 1-D or 3-D layers (plus ReLUs) that torch runs: each drawn layer is kept only
    where torch's module accepts the current shape, and the next shape is the one torch returns."""
    rank = draw(st.sampled_from([1, 3]))
    shape: tuple[int, ...] = (draw(st.integers(1, 6)), *[draw(st.integers(3, 9)) for _ in range(rank)])
    first = shape
    stack: list[Any] = []
    for _ in range(draw(st.integers(1, 4))):
        layer = draw(layers(shape[0], rank))
        got = run_torch(layer, shape, 1)
        if got is None or max(got[0]) > 64:  # keep the specs small
            continue
        stack.append(layer)
        shape = got[0]
        if draw(st.booleans()):
            stack.append("relu")
    if not stack:
        stack = ["relu"]
    if draw(st.booleans()):
        stack += ["global_avgpool", "flatten", {"linear": {"out": draw(st.integers(1, 4))}}]
    return spec_text(first, draw(batches), stack)


def test_random_ranked_stacks_verify_exactly() -> None:
    """`verify` on random 1-D/3-D stacks: torch's shapes, params and buffers, fvcore's and FlopCounterMode's
    counts equal convcost's predictions layer by layer."""
    from convcost.crosscheck.verify import verify_graph

    pytest.importorskip("fvcore")
    seen = Acceptance()

    @settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(ranked_specs())
    def verifies(text: str) -> None:
        try:
            graph = graph_of(text)
        except SpecError as e:  # torch ran every layer: convcost must accept them all
            seen.accept(False, f"{e}\n{text}")
            return
        seen.accept(True)
        report = verify_graph(graph)
        assert report.real_forward
        bad = [(lr.name, k, c.reason) for lr in report.layers for k, c in lr.checks.items() if c.status == "mismatch"]
        assert report.ok, (text, bad)
        for lr in report.layers:
            assert all(lr.checks[k].status == "ok" for k in ("shape", "params", "buffers")), (lr.name, lr.checks)
            if lr.op in ("conv", "conv_transpose"):
                assert lr.checks["fvcore"].status == "ok" and lr.checks["flop_counter"].status == "ok"

    verifies()
    seen.check(min_accepted=40, min_ratio=1.0)


@pytest.mark.parametrize("shape", ["[3, 12]", "[2, 6, 6]", "[2, 4, 6, 6]"])
def test_training_saved_bytes_match_torch_autograd_on_every_rank(shape: str) -> None:
    """What autograd keeps for the backward pass (saved_tensors_hooks) against the memory model, on 1-D
    and 3-D stacks of every op here (max pool's int64 indices, batch norm's statistics, a global pool's nothing,
    a windowed average pool to size 1 its input)."""
    from convcost.costmodel.analysis import analyze
    from convcost.costmodel.memory import analyze_memory
    from convcost.crosscheck.torch_build import build_model

    g = graph_of(f"""input: {{shape: {shape}, batch: 2}}
layers:
  - conv: {{out: 4, kernel: 3, padding: 1}}
  - bn
  - relu
  - maxpool: {{kernel: 2}}
  - conv_transpose: {{out: 4, kernel: 2, stride: 2}}
  - avgpool: {{kernel: 2, stride: 1}}
  - adaptive_avgpool: {{out: 2}}
  - avgpool: {{kernel: 2}}
  - global_avgpool
""")
    model = build_model(g).train()
    own = {p.untyped_storage().data_ptr() for p in [*model.parameters(), *model.buffers()]}
    saved: dict[int, int] = {}

    def pack(t: Any) -> Any:
        s = t.untyped_storage()
        if s.data_ptr() not in own:  # weights are not activations
            saved[s.data_ptr()] = s.nbytes()  # one entry per storage: views and re-saves count once
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(torch.randn(2, *g.input_shape)).sum()
    assert sum(saved.values()) == analyze_memory(analyze(g), "fp32").activations.training_saved_bytes, shape


def test_counter_names_follow_the_rank() -> None:
    """--explain and verify's reasons name the module and aten op of the layer's rank."""
    from convcost.crosscheck.counters import FVCORE, THOP

    a = analysis_of("input: [2, 4, 6, 6]\nlayers:\n  - maxpool: {kernel: 2}\n  - adaptive_avgpool: {out: 2}\n")
    mp, ap = a.layers
    assert "aten::max_pool3d" in FVCORE.predict(mp.node, mp.cost, 1).reason
    assert "nn.MaxPool3d" in THOP.predict(mp.node, mp.cost, 1).reason
    assert "aten::adaptive_avg_pool3d" in FVCORE.predict(ap.node, ap.cost, 1).reason
