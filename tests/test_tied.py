"""`tied`: a layer's parameters that are an earlier layer's (docs/spec.md, *Shared weights*), counted once.

The counts beside each spec are derived by hand; verify builds the tie and compares with torch's own parameters()."""

from __future__ import annotations

import pytest
from conftest import analysis_of, graph_of

from convcost.errors import SpecError

SPEC = """
input: [8, 8, 8]
layers:
  - conv: {name: a, out: 8, kernel: 3, padding: 1}
  - relu
  - conv: {name: b, out: 8, kernel: 3, padding: 1, tied: {weight: a}}
  - global_avgpool
  - flatten
  - linear: {name: fc, out: 8}
  - relu
  - linear: {name: fc2, out: 8, tied: {weight: fc, bias: fc}}
"""


def test_tied_parameters_are_counted_once() -> None:
    layers = {lc.node.name: lc.cost for lc in analysis_of(SPEC).layers}
    assert layers["a"].params == 8 * 8 * 9 + 8  # 584
    assert layers["b"].params == 8  # its own bias; the 576 weights are a's
    assert layers["b"].macs == layers["a"].macs == 8 * 8 * 8 * 8 * 9  # each conv still computes: 36,864 MACs
    assert layers["fc"].params == 8 * 8 + 8 and layers["fc2"].params == 0  # fc2: fc's weight and bias
    assert analysis_of(SPEC).total.params == 584 + 8 + 72


@pytest.mark.parametrize(("change", "message"), [
    ("tied: {weight: a}}", None),
    ("tied: {kernel: a}}", "conv 'b': 'tied' names 'kernel', a parameter it does not hold (it holds weight, bias)"),
    ("tied: {weight: fc}}", "'fc' refers forward"),
    ("tied: {weight: b}}", "conv 'b': 'tied' must name an earlier layer, got 'b'"),
    ("tied: {weight: nope}}", "nope"),
    ("tied: weight}", "'tied' (a mapping of parameter: earlier layer, e.g. {weight: conv1}) must be a mapping"),
    ("tied: {weight: [a]}}", "'tied' maps 'weight' to an earlier layer's name, got a list"),
])
def test_tied_is_checked(change: str, message: str | None) -> None:
    text = SPEC.replace("tied: {weight: a}}", change)
    if message is None:
        graph_of(text)
        return
    with pytest.raises(SpecError) as e:
        graph_of(text)
    assert message in str(e.value)


def test_tied_needs_the_same_shape_and_an_op_with_parameters() -> None:
    text = SPEC.replace("- conv: {name: b, out: 8, kernel: 3, padding: 1,", "- conv: {name: b, out: 8, kernel: 1,")
    with pytest.raises(SpecError) as e:
        graph_of(text)
    assert "conv 'b': its weight [8, 8, 1, 1] cannot be 'a's weight ([8, 8, 3, 3])" in str(e.value)
    with pytest.raises(SpecError) as e:
        graph_of(SPEC.replace("- relu\n  - conv: {name: b", "- relu: {tied: {weight: a}}\n  - conv: {name: b"))
    assert "'relu' holds no parameters 'tied' can name (ops that do: " in str(e.value)


def test_verify_builds_the_tie() -> None:
    """verify's torch module shares the Parameter: torch's parameters() counts 664, and each layer agrees."""
    torch = pytest.importorskip("torch")
    from convcost.crosscheck.torch_build import build_model
    from convcost.crosscheck.verify import verify_graph

    graph = graph_of(SPEC)
    model = build_model(graph)
    assert model.module_for("b").weight is model.module_for("a").weight
    assert sum(p.numel() for p in model.parameters()) == 584 + 8 + 72
    assert isinstance(model.module_for("fc2").bias, torch.nn.Parameter)
    report = verify_graph(graph)
    assert report.ok, report
