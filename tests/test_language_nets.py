"""Spec language additions for whole networks: 'first:' on repeats, residual 'connect:', model vars in blocks."""

from __future__ import annotations

import pytest
from conftest import analysis_of, graph_of

from convcost.errors import SpecError

STAGE = """
blocks:
  unit:
    params: {out: ~, stride: 1}
    layers:
      - conv: {out: $out, kernel: 3, stride: $stride, padding: 1, bias: false}
models:
  m:
    input: [4, 16, 16]
    layers:
      - unit: {name: stage, out: 8, repeat: 3, first: {stride: 2}}
      - conv: {name: tail, out: 2, kernel: 1, repeat: 2, first: {out: 6, bias: false}}
"""


def test_first_overrides_arguments_of_the_first_repeat_only() -> None:
    g = graph_of(STAGE)
    convs = {n.name: n for n in g.nodes}
    assert convs["stage.0.conv1"].args.stride == (2, 2)
    assert convs["stage.1.conv1"].args.stride == (1, 1)
    assert convs["stage.2.conv1"].args.stride == (1, 1)
    assert convs["stage.2.conv1"].shape == (8, 8, 8)  # 16 → 8 once, then size-keeping
    # an op, not only a block: the first of the two 'tail' convs has out 6 and no bias
    assert (convs["tail.0"].shape, convs["tail.0"].args.bias) == ((6, 8, 8), False)
    assert (convs["tail.1"].shape, convs["tail.1"].args.bias) == ((2, 8, 8), True)


def test_first_is_the_same_as_the_index_expression() -> None:
    with_index = STAGE.replace("repeat: 3, first: {stride: 2}", 'repeat: 3, stride: "${2 if i == 0 else 1}"')
    a, b = analysis_of(STAGE), analysis_of(with_index)
    assert [(n.name, n.shape) for n in a.graph.nodes] == [(n.name, n.shape) for n in b.graph.nodes]
    assert a.total == b.total


def where(text: str, needle: str) -> tuple[int, int]:
    """1-based line and column of the first ``needle`` in ``text``."""
    before = text[: text.index(needle)]
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


@pytest.mark.parametrize(
    ("old", "new", "message", "at"),
    [
        # without repeat: points at the 'first' key
        ("repeat: 3, first: {stride: 2}", "first: {stride: 2}", "the arguments of the first repeat; add 'repeat: N'", "first"),
        # not a mapping: points at the value
        ("first: {stride: 2}", "first: 2", "'first' (arguments for the first repeat) must be a mapping, got number 2", "2}"),
        # item keys cannot go in first
        ("first: {stride: 2}", "first: {name: x}", "'name' cannot be set in 'first'; only arguments of 'unit' can", "name: x"),
        # an op's unknown argument, with a suggestion
        (
            "first: {out: 6, bias: false}",
            "first: {out: 6, bais: false}",
            "unknown key 'bais' in 'first' of 'conv' (did you mean 'bias'?)",
            "bais",
        ),
        # a block's unknown parameter is found when the block is called
        ("first: {stride: 2}", "first: {strid: 2}", "block 'unit' has no parameter 'strid' (did you mean 'stride'?)", "strid"),
    ],
)
def test_first_errors(old: str, new: str, message: str, at: str) -> None:
    text = STAGE.replace(old, new)
    assert text != STAGE
    with pytest.raises(SpecError) as e:
        graph_of(text)
    assert message in e.value.message
    line = text.splitlines()[where(text, new)[0] - 1]
    expected = (where(text, new)[0], line.index(at) + 1)
    assert e.value.loc is not None and (e.value.loc.line, e.value.loc.col) == expected, str(e.value)


def test_first_on_a_structure_is_refused() -> None:
    text = """
input: [4, 8, 8]
layers:
  - residual: {body: [relu], repeat: 2, first: {x: 1}}
"""
    with pytest.raises(SpecError, match="'first' sets arguments of the first repeat, and 'residual' takes no arguments") as e:
        graph_of(text)
    assert e.value.loc is not None and (e.value.loc.line, e.value.loc.col) == where(text, "first")


INVERTED = """
blocks:
  ir:
    params: {out: ~, stride: 1}
    layers:
      - residual:
          connect: ${stride == 1 and in_channels == out}
          body:
            - conv: {out: 8, kernel: 1}
            - conv: {out: $out, kernel: 3, stride: $stride, padding: 1}
input: [4, 16, 16]
layers:
  - ir: {name: a, out: 4}              # shapes agree: residual add
  - ir: {name: b, out: 6}              # channels change: the body alone
  - ir: {name: c, out: 6, stride: 2}   # stride: the body alone
"""


def test_residual_connect() -> None:
    g = graph_of(INVERTED)
    names = [n.name for n in g.nodes]
    assert names == ["a.conv1", "a.conv2", "a.add1", "b.conv1", "b.conv2", "c.conv1", "c.conv2"]
    add = g.nodes[2]
    assert add.inputs == (1, -1)  # the body's output and the model input (the identity shortcut)
    assert g.output.shape == (6, 8, 8)


def test_residual_connect_false_drops_the_shortcut_too() -> None:
    # a plain (non-residual) variant of a ResNet block, as in the ResNet paper's plain-vs-residual nets
    text = """
vars: {residual: false}
input: [4, 8, 8]
layers:
  - residual:
      connect: $residual
      body: [conv: {out: 8, kernel: 3, padding: 1}]
      shortcut: [conv: {out: 8, kernel: 1}]
"""
    assert [n.name for n in graph_of(text).nodes] == ["conv1"]
    assert [n.name for n in graph_of(text.replace("false", "true")).nodes] == ["conv1", "shortcut.conv1", "add1"]


def test_residual_connect_must_be_boolean() -> None:
    text = "input: [4, 8, 8]\nlayers:\n  - residual: {connect: 1, body: [relu]}\n"
    with pytest.raises(SpecError, match="'connect' must be true or false, got number 1") as e:
        graph_of(text)
    assert e.value.loc is not None and (e.value.loc.line, e.value.loc.col) == where(text, "1,")


def test_model_vars_reach_blocks() -> None:
    text = """
blocks:
  unit:
    params: {c: ~}
    layers:
      - conv: {out: "${int(c * alpha)}", kernel: 1}
models:
  full:
    vars: {alpha: 1.0}
    input: [4, 8, 8]
    layers: &layers
      - unit: {c: 64}
  half:
    vars: {alpha: 0.5}
    input: [4, 8, 8]
    layers: *layers
"""
    assert graph_of(text, "full").output.shape == (64, 8, 8)
    assert graph_of(text, "half").output.shape == (32, 8, 8)  # int(64 * 0.5)


def test_block_params_shadow_model_vars() -> None:
    text = """
blocks:
  unit:
    params: {out: 3}
    layers: [conv: {out: $out, kernel: 1}]
vars: {out: 7}
input: [4, 8, 8]
layers: [unit]
"""
    assert graph_of(text).output.shape == (3, 8, 8)
