"""Property: for random valid specs, analytic shapes/params and predicted fvcore/FlopCounterMode counts
equal what torch and the tools report, layer by layer (every independent number comes from torch)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("torch")
pytest.importorskip("fvcore")

from conftest import graph_of

from convcost.crosscheck.verify import verify_graph
from convcost.errors import SpecError

ACTS = ["relu", "relu6", "silu", "sigmoid", "hardswish", "gelu", "tanh", "hardsigmoid"]


def _conv(draw: Any, c: int, size: int, same_ok: bool = True) -> tuple[dict[str, Any], int, int]:
    """A random conv that fits a c×size×size input; returns (layer, out channels, out size)."""
    k = draw(st.integers(1, 4))
    d = draw(st.integers(1, 2))
    groups = draw(st.sampled_from([g for g in (1, 2, 4) if c % g == 0]))
    out = groups * draw(st.integers(1, 4))
    if same_ok and draw(st.booleans()):
        return {"conv": {"out": out, "kernel": k, "dilation": d, "padding": "same", "groups": groups,
                         "bias": draw(st.booleans())}}, out, size
    s = draw(st.integers(1, 2))
    p = draw(st.integers(0, 2))
    span = size + 2 * p - d * (k - 1) - 1
    if span < 0:  # kernel too big for this input: fall back to a 1×1
        k, d, p, span = 1, 1, 0, size - 1
    layer = {"conv": {"out": out, "kernel": k, "stride": s, "padding": p, "dilation": d, "groups": groups,
                      "bias": draw(st.booleans())}}
    return layer, out, span // s + 1


@st.composite
def specs(draw: Any) -> str:
    c, size = draw(st.integers(1, 8)), draw(st.integers(5, 12))
    layers: list[Any] = []
    cur_c, cur = c, size
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["conv", "conv", "bn_act", "pool", "residual", "concat", "gate"]))
        if kind == "conv":
            layer, cur_c, cur = _conv(draw, cur_c, cur)
            layers.append(layer)
        elif kind == "bn_act":
            layers.append({"batchnorm": {"affine": draw(st.booleans())}})
            layers.append(draw(st.sampled_from(ACTS)))
        elif kind == "pool" and cur >= 3:
            op = draw(st.sampled_from(["maxpool", "avgpool"]))
            layers.append({op: {"kernel": 3, "stride": draw(st.integers(1, 2)), "padding": 1,
                                "ceil_mode": draw(st.booleans())}})
            cur = 0  # unknown after ceil mode: stop tracking, later layers only use same-size ops
            break
        elif kind == "residual":
            body, _, _ = _conv(draw, cur_c, cur)
            body["conv"].update(out=cur_c, padding="same", groups=1)
            body["conv"].pop("stride", None)
            layers.append({"residual": {"body": [body, "relu"]}})
        elif kind == "concat":
            b1, _, _ = _conv(draw, cur_c, cur)
            b2, _, _ = _conv(draw, cur_c, cur)
            for b in (b1, b2):
                b["conv"].update(padding="same")
                b["conv"].pop("stride", None)
            layers.append({"concat": [[b1], [b2, "relu"]]})
            cur_c = b1["conv"]["out"] + b2["conv"]["out"]
        elif kind == "gate":
            layers.append({"gate": ["global_avgpool", {"conv": {"out": cur_c, "kernel": 1}}, "sigmoid"]})
    if draw(st.booleans()):
        layers += [{"adaptive_avgpool": {"out": [1, 1]}}, "flatten", {"linear": {"out": draw(st.integers(1, 5))}}]
    doc = {"input": [c, size, size], "layers": layers}
    return yaml.safe_dump(doc, sort_keys=False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs(), st.integers(1, 2))
def test_random_specs_verify_exactly(text: str, batch: int) -> None:
    try:
        graph = graph_of(f"batch: {batch}\n{text}")
    except SpecError:
        return  # an invalid random spec (e.g. a kernel larger than a shrunken input) is not the property
    assert graph.batch == batch
    report = verify_graph(graph)
    bad = [(lr.name, k, c.reason) for lr in report.layers for k, c in lr.checks.items() if c.status == "mismatch"]
    assert report.ok, (text, bad, report.totals)
    for lr in report.layers:  # every conv/linear is compared against both tools, never skipped
        if lr.op in ("conv", "linear"):
            assert lr.checks["flop_counter"].status == "ok"
