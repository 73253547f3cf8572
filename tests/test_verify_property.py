"""Property: for random valid specs, analytic shapes/params and predicted fvcore/FlopCounterMode counts
equal what torch and the tools report, layer by layer (every independent number comes from torch).

The generator tracks the shape (torch's output-size rule, written here) so that nearly every spec
it writes is valid; the test rejects the rest with assume() and asserts that almost all examples
were accepted and really verified (tests/acceptance.py)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from acceptance import Acceptance
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("torch")
pytest.importorskip("fvcore")

from conftest import graph_of

from convcost.crosscheck.verify import verify_graph
from convcost.errors import SpecError

ACTS = ["relu", "relu6", "silu", "sigmoid", "hardswish", "gelu", "tanh", "hardsigmoid"]
EXAMPLES = 60


def out_size(size: int, k: int, s: int, p: int, d: int = 1, ceil: bool = False) -> int:
    """torch's rule (nn.Conv2d / nn.MaxPool2d docs); 0 when the window does not fit."""
    span = size + 2 * p - d * (k - 1) - 1
    if span < 0:
        return 0
    if not ceil:
        return span // s + 1
    out = -(-span // s) + 1
    return out - 1 if (out - 1) * s >= size + p else out  # the last window must start inside


def _pair(draw: Any, lo: int, hi: int) -> int | list[int]:
    """An int or, as often, a non-square [h, w]."""
    if draw(st.booleans()):
        return draw(st.integers(lo, hi))
    return [draw(st.integers(lo, hi)), draw(st.integers(lo, hi))]


def _hw(v: int | list[int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (v[0], v[1])


Shape = tuple[int, int, int]


def _conv(draw: Any, shape: Shape, keep_size: bool = False) -> tuple[dict[str, Any], Shape]:
    """A random conv (grouped, dilated, strided, non-square) that fits the input; returns it and its output."""
    c, h, w = shape
    groups = draw(st.sampled_from(sorted({g for g in (1, 2, 4, c) if c % g == 0})))
    out = groups * draw(st.integers(1, 3))
    k, d = _pair(draw, 1, 4), _pair(draw, 1, 2)
    args: dict[str, Any] = {"out": out, "kernel": k, "dilation": d, "groups": groups, "bias": draw(st.booleans())}
    if keep_size or draw(st.integers(0, 3)) == 0:
        return {"conv": {**args, "padding": "same"}}, (out, h, w)
    s, p = _pair(draw, 1, 2), _pair(draw, 0, 2)
    dims = [out_size(n, *kspd) for n, kspd in zip((h, w), zip(_hw(k), _hw(s), _hw(p), _hw(d)))]
    if 0 in dims:  # kernel too big for this input: a 1×1 instead
        args.update(kernel=1, dilation=1)
        dims = [out_size(n, 1, ss, pp) for n, ss, pp in zip((h, w), _hw(s), _hw(p))]
    return {"conv": {**args, "stride": s, "padding": p}}, (out, dims[0], dims[1])


def _pool(draw: Any, shape: Shape) -> tuple[dict[str, Any], Shape]:
    c, h, w = shape
    op = draw(st.sampled_from(["maxpool", "avgpool"]))
    k = _pair(draw, 1, 3)
    p = [draw(st.integers(0, kk // 2)) for kk in _hw(k)]  # torch: padding at most half the window
    args: dict[str, Any] = {"kernel": k, "padding": p, "ceil_mode": draw(st.booleans())}
    if draw(st.booleans()):
        args["stride"] = _pair(draw, 1, 2)
    if op == "avgpool":
        args["count_include_pad"] = draw(st.booleans())
    s = _hw(args.get("stride", k))
    dims = [out_size(n, kk, ss, pp, 1, args["ceil_mode"]) for n, kk, ss, pp in zip((h, w), _hw(k), s, p)]
    if 0 in dims:
        return {op: {"kernel": 1}}, shape
    return {op: args}, (c, dims[0], dims[1])


def _same_size(draw: Any, shape: Shape) -> dict[str, Any]:
    """A size-keeping conv (for branches that must agree in shape)."""
    layer, _ = _conv(draw, shape, keep_size=True)
    return layer


def _norm_or_act(draw: Any, shape: Shape) -> tuple[Any, Shape]:
    """Issue 11's norms, layer scale, linear over channels and activations (ConvNeXt's and others)."""
    c = shape[0]
    kind = draw(st.sampled_from(["layernorm", "groupnorm", "instancenorm", "layer_scale", "linear", "prelu", "act"]))
    if kind == "layernorm":
        return {"layernorm": {"affine": draw(st.booleans()), "channels_last": draw(st.booleans())}}, shape
    if kind == "groupnorm":
        groups = draw(st.sampled_from([g for g in (1, 2, 4, c) if c % g == 0]))
        return {"groupnorm": {"groups": groups, "affine": draw(st.booleans())}}, shape
    if kind == "instancenorm":
        return {"instancenorm": {"affine": draw(st.booleans()), "track_running_stats": draw(st.booleans())}}, shape
    if kind == "layer_scale":
        return "layer_scale", shape
    if kind == "linear":
        out = draw(st.integers(1, 8))
        return {"linear": {"out": out, "over": "channels", "bias": draw(st.booleans())}}, (out, shape[1], shape[2])
    if kind == "prelu":
        return {"prelu": {"num_parameters": draw(st.sampled_from([1, c]))}}, shape
    return draw(st.sampled_from(["mish", {"elu": {"alpha": 0.5}}, {"hardtanh": {"min": -2, "max": 2}}, "softmax"])), shape


@st.composite
def specs(draw: Any, batches: st.SearchStrategy[int] = st.integers(1, 2)) -> str:
    c, h, w = draw(st.integers(1, 8)), draw(st.integers(5, 12)), draw(st.integers(5, 12))
    shape: Shape = (c, h, w)
    layers: list[Any] = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["conv", "conv", "macro", "bn_act", "pool", "adaptive", "residual",
                                     "concat", "add", "gate", "pass", "norm"]))
        if kind == "conv":
            layer, shape = _conv(draw, shape)
            layers.append(layer)
        elif kind == "macro":
            m = draw(st.sampled_from(["depthwise", "pointwise", "dwsep"]))
            if m == "pointwise":
                out = draw(st.integers(1, 8))
                layers.append({"pointwise": {"out": out, "bias": draw(st.booleans())}})
                shape = (out, shape[1], shape[2])
            elif m == "depthwise":
                mult = draw(st.integers(1, 2))
                layers.append({"depthwise": {"kernel": 3, "multiplier": mult, "bias": draw(st.booleans())}})
                shape = (shape[0] * mult, shape[1], shape[2])  # default padding 1 keeps 3×3 size-keeping
            else:
                out = draw(st.integers(1, 8))
                layers.append({"dwsep": {"out": out, "bn": draw(st.booleans()), "act": draw(st.sampled_from(ACTS[:3]))}})
                shape = (out, shape[1], shape[2])
        elif kind == "bn_act":
            layers.append({"batchnorm": {"affine": draw(st.booleans())}})
            act = draw(st.sampled_from([*ACTS, "leaky_relu"]))
            layers.append({"leaky_relu": {"slope": 0.2}} if act == "leaky_relu" else act)
        elif kind == "pool":
            layer, shape = _pool(draw, shape)
            layers.append(layer)
        elif kind == "adaptive":  # non-divisible windows too (7 → 3: windows of 3 overlapping)
            oh, ow = draw(st.integers(1, shape[1])), draw(st.integers(1, shape[2]))
            layers.append({"adaptive_avgpool": {"out": [oh, ow]}})
            shape = (shape[0], oh, ow)
        elif kind == "residual":
            body = _same_size(draw, shape)
            body["conv"].update(out=shape[0], groups=1)
            layers.append({"residual": {"body": [body, {"batchnorm": {"affine": draw(st.booleans())}}]}})
            layers.append("relu")
        elif kind == "concat":
            b1, b2 = _same_size(draw, shape), _same_size(draw, shape)
            layers.append({"concat": [[b1], [b2, "relu"], [] if draw(st.booleans()) else ["identity"]]})
            shape = (b1["conv"]["out"] + b2["conv"]["out"] + shape[0], shape[1], shape[2])
        elif kind == "add":
            b1 = _same_size(draw, shape)
            b1["conv"].update(out=shape[0], groups=1)
            layers.append({"add": [[b1], [{"dropout": {"p": 0.3}}], ["sigmoid"]]})
        elif kind == "gate":
            layers.append({"gate": ["global_avgpool", {"conv": {"out": shape[0], "kernel": 1}}, "hardsigmoid"]})
        elif kind == "norm":
            layer, shape = _norm_or_act(draw, shape)
            layers.append(layer)
        else:
            layers.append(draw(st.sampled_from(["identity", {"dropout": {"p": 0.5}}])))
    head = draw(st.sampled_from(["none", "gap", "adaptive", "flatten"]))
    if head != "none":
        layers += [{"gap": "global_avgpool", "adaptive": {"adaptive_avgpool": {"out": [1, 1]}}, "flatten": "identity"}[head],
                   "flatten"]
        if draw(st.booleans()):
            layers += [{"bn": {"affine": draw(st.booleans())}}, "relu"]
        layers.append({"linear": {"out": draw(st.integers(1, 5)), "bias": draw(st.booleans())}})
    doc = {"input": {"shape": [c, h, w], "batch": draw(batches)}, "layers": layers}
    return yaml.safe_dump(doc, sort_keys=False)


def test_random_specs_verify_exactly() -> None:
    seen = Acceptance()
    ops: set[str] = set()

    # derandomize: CI must not depend on luck for the op-coverage assertion below (a fixed, reproducible draw)
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(specs())
    def verify_matches(text: str) -> None:
        try:
            graph = graph_of(text)
        except SpecError as e:  # the generator tracks shapes: this should (almost) never happen
            seen.accept(False, f"{e}\n{text}")
            return
        seen.accept(True)
        report = verify_graph(graph)
        assert report.real_forward  # fvcore ran too, on a real forward
        bad = [(lr.name, k, c.reason) for lr in report.layers for k, c in lr.checks.items() if c.status == "mismatch"]
        assert report.ok, (text, bad, report.totals)
        assert [lr.name for lr in report.layers] == [n.name for n in graph.nodes]
        for lr in report.layers:  # torch's shape, params and buffers of every layer were compared
            assert all(lr.checks[k].status == "ok" for k in ("shape", "params", "buffers")), (lr.name, lr.checks)
            ops.add(lr.op)
            if lr.op in ("conv", "linear"):  # both tools compared on every conv/linear, never skipped
                assert lr.checks["flop_counter"].status == "ok"
                if lr.op == "linear" or "same" != graph_node(graph, lr.name).args.padding:
                    assert lr.checks["fvcore"].status == "ok"
        assert all(t.status == "ok" for t in report.totals.values()), report.totals

    verify_matches()
    seen.check(min_accepted=EXAMPLES * 9 // 10)
    # the generator reaches the interesting ops (40 examples of up to 5 layers each)
    assert {"conv", "batchnorm", "maxpool", "avgpool", "adaptive_avgpool", "add", "concat"} <= ops, ops
    assert {"layernorm", "groupnorm", "instancenorm"} <= ops, ops


def graph_node(graph: Any, name: str) -> Any:
    return next(n for n in graph.nodes if n.name == name)
