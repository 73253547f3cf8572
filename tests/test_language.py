"""Spec language: expressions, blocks, repeat, when, naming."""

from __future__ import annotations

import pytest
from conftest import analysis_of, graph_of

from convcost.errors import Loc, SpecError
from convcost.frontend.expr import evaluate, make_divisible, substitute

L = Loc("x.yaml", 1, 1)


def test_expressions() -> None:
    env = {"mid": 64, "i": 0, "w": 0.75}
    assert substitute("$mid", env, L) == 64
    assert substitute("${mid * 4}", env, L) == 256
    assert substitute("${2 if i == 0 else 1}", env, L) == 2
    assert substitute("stage${i + 1}", env, L) == "stage1"
    assert substitute("${make_divisible(32 * w, 8)}", env, L) == 24  # 24 is a multiple of 8
    assert evaluate("max(1, min(3, 7)) // 2", env, L) == 1
    assert evaluate("[true, false][i]", env, L) is True and evaluate("not true or false", env, L) is False  # YAML's spelling


def test_make_divisible_matches_torchvision_rule() -> None:
    assert make_divisible(32 * 0.5, 8) == 16
    assert make_divisible(10, 8) == 16  # int(10 + 4)//8*8 = 8 < 0.9*10, so +8
    assert make_divisible(3, 8) == 8  # never below the divisor


@pytest.mark.parametrize(
    "expr, message",
    [
        ("__import__('os')", "unknown function '__import__'"),
        ("mid.__class__", "unsupported syntax in expression: mid.__class__"),
        ("[1] * 10", "'*' needs numbers, got a list and a number"),  # list literals exist; they do not multiply
        ("10 ** 100", "exponent too large"),
        ("1 / 0", "division by zero"),
        ("(", "invalid expression"),
    ],
)
def test_expressions_are_sandboxed(expr: str, message: str) -> None:
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        evaluate(expr, {"mid": 1}, L)


BLOCKS = """
vars: {width: 2}
blocks:
  unit:
    params: {out: ~, stride: 1}
    vars: {hidden: "${out * width}"}
    layers:
      - conv: {out: $hidden, kernel: 3, stride: $stride, padding: 1, bias: false}
      - conv: {out: $out, kernel: 1, bias: false, when: "${in_channels != out}"}
models:
  m:
    input: [4, 16, 16]
    layers:
      - unit: {out: 8, stride: "${2 if i == 0 else 1}", repeat: 3, name: stage}
"""


def test_blocks_repeat_when_and_names() -> None:
    g = graph_of(BLOCKS)
    names = [n.name for n in g.nodes]
    # iteration 0: 4 → conv 16 (stride 2) → conv 8; later iterations: in_channels 8 → 16 → 8
    assert names == ["stage.0.conv1", "stage.0.conv2", "stage.1.conv1", "stage.1.conv2", "stage.2.conv1",
                     "stage.2.conv2"]
    assert g.nodes[0].shape == (16, 8, 8)
    assert g.nodes[2].shape == (16, 8, 8)
    assert [s.name for s in g.scopes] == ["stage", "stage.0", "stage.1", "stage.2"]


def test_when_skips_layers_and_empty_shortcut_is_identity() -> None:
    g = graph_of(BLOCKS.replace("${in_channels != out}", "${False}"))
    assert [n.name for n in g.nodes] == ["stage.0.conv1", "stage.1.conv1", "stage.2.conv1"]


def test_generated_names_skip_explicit_ones() -> None:
    g = graph_of("input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernel: 1, name: conv2}\n  - conv: {out: 4, kernel: 1}"
                 "\n  - conv: {out: 4, kernel: 1}\n")
    assert [n.name for n in g.nodes] == ["conv2", "conv1", "conv3"]


def test_duplicate_name_is_an_error() -> None:
    with pytest.raises(SpecError, match="duplicate layer name 'a' \\(first used at line 3\\)"):
        graph_of("input: [3, 8, 8]\nlayers:\n  - relu: {name: a}\n  - relu: {name: a}\n")


def test_block_parameter_errors() -> None:
    spec = "blocks:\n  b:\n    params: [out]\n    layers: [conv: {out: $out, kernel: 1}]\ninput: [3, 8, 8]\nlayers:\n"
    with pytest.raises(SpecError, match="block 'b' needs parameter 'out'"):
        graph_of(spec + "  - b\n")
    with pytest.raises(SpecError, match="block 'b' has no parameter 'ot' \\(did you mean 'out'\\?\\)"):
        graph_of(spec + "  - b: {ot: 3}\n")


def test_named_structures_open_scopes() -> None:
    a = analysis_of(
        "input: [3, 8, 8]\nlayers:\n  - seq: {name: stem, layers: [conv: {out: 4, kernel: 3, padding: 1}, relu]}\n"
        "  - residual: {name: res, body: [conv: {out: 4, kernel: 1}]}\n"
    )
    assert [lc.node.name for lc in a.layers] == ["stem.conv1", "stem.relu1", "res.conv1", "res.add1"]
    assert a.scope_total(("stem",)).macs == 8 * 8 * 4 * 3 * 9


def test_depth_rows() -> None:
    a = analysis_of(BLOCKS)
    top = a.rows(1)
    assert [(r.name, r.collapsed) for r in top] == [("stage", True)]
    two = a.rows(2)
    assert [r.name for r in two] == ["stage", "stage.0", "stage.1", "stage.2"]
    assert sum(r.cost.macs for r in two[1:]) == top[0].cost.macs


def test_unnamed_branches_count_on_per_scope_and_gates_are_transparent() -> None:
    a = analysis_of(
        "input: [4, 8, 8]\nlayers:\n"
        "  - gate: [gap, {conv: {out: 4, kernel: 1}}, sigmoid]\n"
        "  - concat: [[relu], [relu]]\n"
        "  - concat: {branches: {a: [relu], b: [relu]}}\n"
        "  - concat: [[relu], [relu]]\n"
    )
    assert [lc.node.name for lc in a.layers] == [
        "gap1", "conv1", "sigmoid1", "multiply1",  # the gate's body is named in the enclosing scope
        "branch1.relu1", "branch2.relu1", "concat1",
        "a.relu1", "b.relu1", "concat2",
        "branch3.relu1", "branch4.relu1", "concat3",  # unnamed branches count on in their scope
    ]


def test_mul_alias_is_the_multiply_structure_and_empty_structures_are_explained() -> None:
    a = analysis_of("input: [4, 8, 8]\nlayers:\n  - mul: [[], [gap]]\n")
    assert [lc.node.name for lc in a.layers] == ["branch1.gap1", "multiply1"]
    assert a.layers[-1].node.shape == (4, 8, 8)  # x · gap(x), broadcast over 8×8
    with pytest.raises(SpecError, match="has no layers: 'when' conditions skipped them all or its structures are empty"):
        analysis_of("input: [4, 8, 8]\nlayers:\n  - seq: []\n")
