"""A hostile review of `each` and `scope: false` (docs/spec.md, *Names*): inputs a demanding user writes.

Each test here failed before its fix (the message it checks was wrong) or guards a probe that held."""

from __future__ import annotations

import pytest
from conftest import graph_of

from convcost.errors import SpecError

UNIT = "blocks:\n  unit:\n    layers:\n      - conv: {out: 4, kernel: 1}\n      - relu\n"  # 4→4 1×1 conv: 4*4+4 = 20 params


def error_of(text: str) -> str:
    with pytest.raises(SpecError) as e:
        graph_of(text)
    return str(e.value)


@pytest.mark.parametrize(
    ("each", "shown"),
    [
        ("${i == 0}", "true (from '${i == 0}')"),  # a boolean, not the string the message used to show
        ("${i / 2}", "0.0 (from '${i / 2}')"),  # i=0: 0/2 = 0.0, a fraction
        ("${-1 - i}", "-1 (from '${-1 - i}')"),  # i=0: -1, negative
        ("a${i}.b", "'a0.b' (from 'a${i}.b')"),  # a dot: a name is one level
        ("a ${i}", "'a 0' (from 'a ${i}')"),  # a space
    ],
)
def test_a_bad_each_value_is_shown_as_computed(each: str, shown: str) -> None:
    text = UNIT + f"input: [4, 5, 5]\nlayers:\n  - unit: {{repeat: 2, each: '{each}'}}\n"
    msg = error_of(text)
    assert msg.startswith("t.yaml:8:29: layer name must be letters, digits, '_' or '-', got "), msg
    assert shown in msg, msg


def test_a_written_name_that_is_not_an_expression_is_shown_as_written() -> None:
    text = UNIT + "input: [4, 5, 5]\nlayers:\n  - unit: {repeat: 2, each: ''}\n"
    assert error_of(text).endswith("got string ''")


WIRED = """blocks:
  res:
    layers:
      - conv: {out: 4, kernel: 1}
      - relu
      - add: {from: [conv1, relu1]}
input: [4, 5, 5]
layers:
  - conv: {out: 4, kernel: 3, padding: 1}
"""


def inputs_of(text: str, name: str) -> list[str]:
    g = graph_of(text)
    by_index = {n.index: n.name for n in g.nodes}
    node = next(n for n in g.nodes if n.name == name)
    return [by_index.get(i, "input") for i in node.inputs]


def test_a_flat_block_reads_its_own_layers_by_the_names_it_gives_them() -> None:
    # The block's 'conv1' is its own conv, called where it may be the caller's conv2: the add must read the block's
    # conv (named conv2 here), as it does with a scope of its own (res1.conv1), not the caller's 3×3 conv1.
    scoped = WIRED + "  - res\n"
    assert inputs_of(scoped, "res1.add1") == ["res1.conv1", "res1.relu1"]
    flat = WIRED + "  - res: {scope: false}\n"
    assert [n.name for n in graph_of(flat).nodes] == ["conv1", "conv2", "relu1", "add1"]
    assert inputs_of(flat, "add1") == ["conv2", "relu1"]
    # twice, each call its own: the second add reads the second call's conv3 and relu2
    twice = WIRED + "  - res: {scope: false}\n  - res: {scope: false}\n"
    assert inputs_of(twice, "add2") == ["conv3", "relu2"]
    # a repeat of it, flat: each iteration reads its own
    rep = WIRED + "  - res: {scope: false, repeat: 2}\n"
    assert inputs_of(rep, "add2") == ["conv3", "relu2"]


def test_a_flat_block_still_reads_the_callers_layers_it_does_not_name() -> None:
    text = WIRED.replace("[conv1, relu1]", "[stem, relu1]")\
        .replace("- conv: {out: 4, kernel: 3", "- conv: {name: stem, out: 4, kernel: 3")
    assert inputs_of(text + "  - res: {scope: false}\n", "add1") == ["stem", "relu1"]


def test_each_iteration_of_a_flat_repeat_reads_its_own_layers() -> None:
    # A residual unit written as a seq, repeated flat: iteration 1's 'from: [conv1, relu1]' is its own conv and relu
    # (named conv2, relu2 in the shared scope), as with a scope per iteration; not iteration 0's layers.
    text = (
        "input: [4, 5, 5]\nlayers:\n  - conv: {out: 4, kernel: 3, padding: 1}\n"
        "  - seq:\n      repeat: 2\n      scope: false\n      layers:\n"
        "        - conv: {out: 4, kernel: 1}\n        - relu\n        - add: {from: [conv1, relu1]}\n"
    )
    assert [n.name for n in graph_of(text).nodes] == ["conv1", "conv2", "relu1", "add1", "conv3", "relu2", "add2"]
    assert inputs_of(text, "add1") == ["conv2", "relu1"]
    assert inputs_of(text, "add2") == ["conv3", "relu2"]
    scoped = text.replace("      scope: false\n", "")  # the same unit with a scope per iteration: seq1.0, seq1.1
    assert inputs_of(scoped, "seq1.1.add1") == ["seq1.1.conv1", "seq1.1.relu1"]
