"""Language gaps and messages found while writing real nets (issue #12)."""

from __future__ import annotations

import pytest
from conftest import graph_of

from convcost.costmodel.analysis import analyze
from convcost.errors import SpecError
from convcost.graph.limits import MAX_RECURSION


def error_of(text: str) -> str:
    with pytest.raises(SpecError) as e:
        graph_of(text)
    return str(e.value)


def test_block_in_channels_is_the_blocks_input_on_every_layer() -> None:
    # in_channels on the block's third layer is the second layer's width (16); block_in_channels stays 8
    g = graph_of(
        "blocks:\n  b:\n    layers:\n"
        "      - conv: {out: 16, kernel: 1}\n"
        "      - relu\n"
        "      - conv: {out: '${block_in_channels * 3}', kernel: 1, when: '${16 != block_in_channels}'}\n"
        "input: [8, 5, 6]\nlayers:\n  - b\n"
    )
    assert g.output.shape == (24, 5, 6)  # 8 * 3


def test_block_in_height_and_width() -> None:
    g = graph_of(
        "blocks:\n  b:\n    layers:\n"
        "      - maxpool: {kernel: 2}\n"
        "      - conv: {out: '${block_in_height * 10 + block_in_width}', kernel: 1}\n"
        "input: [2, 4, 6]\nlayers:\n  - b\n"
    )
    assert g.output.shape == (46, 2, 3)  # 4*10 + 6 channels on the pooled 2×3


def test_a_gate_without_a_body_is_an_error_not_x_times_x() -> None:
    assert error_of("input: [4, 8, 8]\nlayers:\n  - gate: [{relu: {when: false}}]\n") == (
        "t.yaml:3:5: 'gate' has no layers in its body ('when' left them all out, or it is empty); "
        "a gate multiplies its input by its body's output"
    )


def test_true_division_suggests_floor_division() -> None:
    assert error_of("input: [8, 4, 4]\nlayers:\n  - conv: {out: '${in_channels / 2}', kernel: 1}\n") == (
        "t.yaml:3:17: conv 'conv1': 'out' must be an integer, got 4.0 (write 4); "
        "'/' gives a fraction: use '//' for a whole number"
    )


def test_torch_argument_names_point_at_convcosts() -> None:
    assert error_of("input: [8, 4, 4]\nlayers:\n  - conv: {out_channels: 4, kernel_size: 1}\n").startswith(
        "t.yaml:3:12: unknown key 'out_channels' in 'conv' (torch's 'out_channels' is 'out' here); expected one of: out,"
    )
    assert error_of("input: [8, 4, 4]\nlayers:\n  - conv: {out: 4, kernel_size: 1}\n").startswith(
        "t.yaml:3:20: unknown key 'kernel_size' in 'conv' (torch's 'kernel_size' is 'kernel' here)"
    )


def test_an_unsupported_op_is_not_a_did_you_mean() -> None:
    assert error_of("input: [8, 4, 4]\nlayers:\n  - lstm: {out: 4}\n") == (
        "t.yaml:3:5: unknown op 'lstm': convcost does not support recurrent layers yet (`convcost ops` lists the ops)"
    )


def test_another_tools_spelling_names_convcosts_op() -> None:
    # 'deconv' is not "did you mean 'conv'": convcost has transposed convolutions as 'conv_transpose'
    assert error_of("input: [8, 4, 4]\nlayers:\n  - deconv: {out: 4}\n") == (
        "t.yaml:3:5: unknown op 'deconv': convcost calls it 'conv_transpose'"
    )


def test_lists_from_vars_are_indexed_and_measured() -> None:
    g = graph_of(
        "vars: {widths: [8, 16, 24]}\ninput: [3, 8, 8]\nlayers:\n"
        "  - conv: {out: '${widths[i]}', kernel: 1, repeat: '${len(widths)}'}\n"
        "  - conv: {out: '${widths[-1] + int(log2(64)) + int(sqrt(16)) + round(log(exp(2)))}', kernel: 1}\n"
    )
    assert [n.shape[0] for n in g.nodes] == [8, 16, 24, 24 + 6 + 4 + 2]


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("widths[3]", "index 3 is out of range for a list of 3"),
        ("widths[1.5]", "indexing needs a list and an integer, got a list and a number"),
        ("log(0)", "cannot evaluate '${log(0)}': math domain error"),
        ("exp(1000)", "cannot evaluate '${exp(1000)}': math range error"),
    ],
)
def test_list_and_math_errors(expr: str, message: str) -> None:
    msg = error_of(f"vars: {{widths: [8, 16, 24]}}\ninput: [3, 8, 8]\nlayers:\n  - conv: {{out: '${{{expr}}}', kernel: 1}}\n")
    assert msg.endswith(message), msg


def test_list_literals_in_expressions() -> None:
    g = graph_of(
        "input: [3, 8, 8]\nlayers:\n"
        "  - conv: {out: '${[8, 16, 24][i]}', kernel: 1, repeat: 3}\n"
        "  - conv: {out: '${len([1, 2, 3, 4]) + max([5, 6]) + [[7, 8], [9]][1][0]}', kernel: 1}\n"
        "  - conv: {out: '${[in_channels, 2][0] // 2}', kernel: '${[1, 1]}'}\n"
    )
    assert [n.shape[0] for n in g.nodes] == [8, 16, 24, 4 + 6 + 9, 19 // 2]


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("[1] * 100000000", "'*' needs numbers, got a list and a number; a list can only be indexed or passed to len(), "
                            "min() or max()"),
        ("[1] + [2]", "'+' needs numbers, got a list and a list"),
        ("[x for x in [1]]", "unsupported syntax in expression: [x for x in [1]]"),
        ("[1, 2][2]", "index 2 is out of range for a list of 2"),
    ],
)
def test_list_literal_errors(expr: str, message: str) -> None:
    msg = error_of(f"input: [3, 8, 8]\nlayers:\n  - conv: {{out: '${{{expr}}}', kernel: 1}}\n")
    assert msg.startswith("t.yaml:3:17: "), msg
    assert message in msg, msg


def test_a_list_literal_is_charged_to_the_work_budget() -> None:
    from convcost.frontend.expr import SIZE_PER_STEP
    from convcost.frontend.source import YScalar
    from convcost.graph.values import Budget, Values

    items = ",".join(["1"] * 150)  # 150 items in 299 characters (under MAX_EXPR_CHARS)
    text = f"${{len([{items}])}}"
    budget = Budget("m", 0)
    assert Values(budget).value(YScalar(text, None), {}) == 150  # type: ignore[arg-type]
    # 1 + len/2 for the text, and the list's 150 items at SIZE_PER_STEP items a step
    assert budget.steps == 1 + len(text) // 2 + 150 // SIZE_PER_STEP + 150 // SIZE_PER_STEP


def test_an_unclosed_expression_says_so() -> None:
    assert error_of("input: [8, 4, 4]\nlayers:\n  - conv: {out: '${in_channels * 2', kernel: 1}\n") == (
        "t.yaml:3:17: '${' is not closed in '${in_channels * 2': add '}' after the expression (at character 1)"
    )
    assert error_of("input: [8, 4, 4]\nlayers:\n  - conv: {name: 'c${1}_${2', out: 4, kernel: 1}\n") == (
        "t.yaml:3:18: '${' is not closed in 'c${1}_${2': add '}' after the expression (at character 7)"
    )


def test_indentation_errors_in_plain_words_from_libyaml_too() -> None:
    # files over 256 KiB are reported from libyaml's parse, whose wording differs from PyYAML's
    from convcost.frontend.source import _REPARSE_LIMIT

    padding = "#" + "x" * _REPARSE_LIMIT + "\n"
    misaligned = "input: [3, 8, 8]\nlayers:\n  - conv:\n      out: 4\n     kernel: 1\n"
    msg = error_of(misaligned + padding)
    assert msg.startswith("t.yaml:5:6: YAML syntax error: bad indentation: this line is not lined up with the lines above"), msg
    assert msg.endswith("(the mapping above starts at line 3, column 5)"), msg
    no_space = "input: [3, 8, 8]\nlayers:\n  - conv:\n      out:4\n      kernel: 1\n"
    assert error_of(no_space + padding) == (
        "t.yaml:5:13: YAML syntax error: a missing space after ':' on line 4 ('out:4'): write 'key: value'"
    )


def test_a_gates_broadcast_error_points_at_the_layer_that_made_the_width() -> None:
    # squeeze-excite whose last conv has 16 channels on a 32-channel input: line 7, the second conv (the sigmoid
    # after it keeps its width)
    msg = error_of(
        "input: [32, 8, 8]\nlayers:\n  - gate:\n"
        "      - global_avgpool\n"
        "      - conv: {out: 8, kernel: 1}\n"
        "      - relu\n"
        "      - conv: {out: 16, kernel: 1}\n"
        "      - sigmoid\n"
    )
    assert msg == (
        "t.yaml:7:9: multiply 'multiply1': cannot multiply 32×8×8 by the gate body's output 'sigmoid1' (16×1×1): "
        "shapes do not broadcast; its width comes from 'conv2'"
    )


# ---- an op named by a block parameter (MobileNetV3's per-row activation) -------------------------
ROWS = (
    "blocks:\n  row:\n    params: {out: ~, act: relu}\n    layers:\n"
    "      - conv: {out: $out, kernel: 1}\n"
    "      - $act\n"
    "      - ${act}: {when: '${out > 8}'}\n"
    "input: [3, 8, 8]\nlayers:\n"
)


def test_an_op_named_by_a_parameter() -> None:
    g = graph_of(ROWS + "  - row: {out: 8}\n  - row: {out: 16, act: hardswish}\n  - row: {out: 16, act: none}\n"
                 "  - row: {out: 16, act: ~}\n")
    assert [(n.name, n.op) for n in g.nodes] == [
        ("row1.conv1", "conv"), ("row1.relu1", "relu"),  # out 8: the second activation's 'when' is false
        ("row2.conv1", "conv"), ("row2.hardswish1", "hardswish"), ("row2.hardswish2", "hardswish"),
        ("row3.conv1", "conv"),  # 'none' leaves the layer out
        ("row4.conv1", "conv"),  # so does null
    ]


def test_an_op_named_by_a_parameter_takes_that_ops_arguments_and_blocks() -> None:
    g = graph_of(
        "blocks:\n  se:\n    layers: [relu]\n"
        "  row:\n    params: {act: relu, slope: 0.1}\n    layers:\n      - $act: {slope: $slope, when: '${act != \"se\"}'}\n"
        "      - $act\n"
        "input: [3, 8, 8]\nlayers:\n  - row: {act: leaky_relu}\n  - row: {act: se}\n"
    )
    assert [(n.name, n.op) for n in g.nodes] == [
        ("row1.leaky_relu1", "leaky_relu"), ("row1.leaky_relu2", "leaky_relu"), ("row2.se1.relu1", "relu"),
    ]
    assert g.nodes[0].args.slope == 0.1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("{out: 4, act: hardswsh}",
         "t.yaml:6:9: unknown op 'hardswsh' (the value of '$act') (did you mean 'hardswish'?) "
         "(in block 'row' called at t.yaml:10:5)"),
        ("{out: 4, act: deconv}",
         "t.yaml:6:9: unknown op 'deconv' (the value of '$act'): convcost calls it 'conv_transpose' "
         "(in block 'row' called at t.yaml:10:5)"),
        ("{out: 4, act: 3}",
         "t.yaml:6:9: '$act' must name an op, a block or 'none', got 3 (from '$act') (in block 'row' called at "
         "t.yaml:10:5)"),
        ("{out: 4, act: concat}",
         "t.yaml:6:9: '$act' names the structure 'concat'; a parameter can name an op or a block, and a structure is "
         "written out with its layers (in block 'row' called at t.yaml:10:5)"),
        ("{out: 16, act: sigmoid, name: r}",
         "t.yaml:7:38: unknown key 'slope' in 'sigmoid' (the value of '${act}') (did you mean 'scope'?); expected one of: "
         "name, repeat, when, "
         "first, frozen, torch, each, scope, from (in block 'row' called at t.yaml:10:5)"),
    ],
)
def test_an_op_parameter_that_names_no_op(call: str, message: str) -> None:
    rows = ROWS.replace("{when: '${out > 8}'}", "{when: '${out > 8}', slope: 0.2}")
    assert error_of(rows + f"  - row: {call}\n") == message


# ---- a block that calls itself behind a 'when:' guard (U-Net's depth as a parameter) ---------------
UNET = (
    "blocks:\n  unet:\n    params: [depth, width]\n    layers:\n"
    "      - conv: {out: $width, kernel: 3, padding: 1, name: enc}\n"
    "      - concat:\n"
    "          - []\n"
    "          - - maxpool: {kernel: 2}\n"
    "            - unet: {depth: '${depth - 1}', width: '${width * 2}', when: '${depth > 1}'}\n"
    "            - upsample: {scale: 2}\n"
    "      - conv: {out: $width, kernel: 3, padding: 1, name: dec}\n"
    "input: [3, 8, 8]\nlayers:\n  - unet: {depth: DEPTH, width: 4}\n"
)


def test_a_block_calls_itself_behind_a_when_guard() -> None:
    g = graph_of(UNET.replace("DEPTH", "2"))
    convs = {n.name: (n.in_shapes[0], n.shape) for n in g.nodes if n.op == "conv"}
    assert convs == {
        "unet1.enc": ((3, 8, 8), (4, 8, 8)),
        "unet1.branch1.unet1.enc": ((4, 4, 4), (8, 4, 4)),  # width doubles one level down, on the pooled map
        "unet1.branch1.unet1.dec": ((16, 4, 4), (8, 4, 4)),  # 8 skipped + 8 pooled and upsampled (depth 1 stops)
        "unet1.dec": ((12, 8, 8), (4, 8, 8)),  # 4 skipped + 8 from below
    }
    a = analyze(g)
    # 3*4*9+4 + 4*8*9+8 + 16*8*9+8 + 12*4*9+4 = 112 + 296 + 1160 + 436 (3×3 convs with bias)
    assert a.total.params == 2004
    deeper = graph_of(UNET.replace("DEPTH", "4").replace("[3, 8, 8]", "[3, 16, 16]"))
    assert sum(n.op == "conv" for n in deeper.nodes) == 8  # two convs per level


def test_a_self_call_without_a_guard_and_one_that_never_stops() -> None:
    unguarded = UNET.replace(", when: '${depth > 1}'", "")
    assert error_of(unguarded.replace("DEPTH", "2")) == (
        "t.yaml:9:15: block 'unet' uses itself (unet → unet); a block can call itself only behind a 'when:' guard "
        "that stops it"
    )
    endless = UNET.replace("when: '${depth > 1}'", "when: '${depth > -1000}'").replace("kernel: 2", "kernel: 1")
    assert error_of(endless.replace("DEPTH", "2")) == (
        f"t.yaml:9:15: block 'unet' calls itself more than {MAX_RECURSION} levels deep (limit, see docs/limits.md); "
        "does its 'when:' guard ever turn false?"
    )


def test_a_guard_on_another_call_of_the_cycle_counts() -> None:
    g = graph_of(
        "blocks:\n  a:\n    params: [n]\n    layers: [relu, b: {n: $n, when: '${n > 1}'}]\n"
        "  b:\n    params: [n]\n    layers: [{a: {n: '${n - 1}'}}]\n"
        "input: [3, 8, 8]\nlayers: [a: {n: 3}]\n"
    )
    assert [n.name for n in g.nodes] == ["a1.relu1", "a1.b1.a1.relu1", "a1.b1.a1.b1.a1.relu1"]


# ---- a bad block argument is reported at the call site too -----------------------------------------
def test_a_bad_block_argument_names_the_call() -> None:
    unit = "blocks:\n  unit:\n    params: [c]\n    layers: [conv: {out: $c, kernel: 1}]\ninput: [3, 8, 8]\nlayers:\n"
    assert error_of(unit + "  - unit: {c: 4}\n  - unit: {c: 0}\n") == (
        "t.yaml:4:26: conv 'unit2.conv1': 'out' must be a positive integer, got 0 (in block 'unit' called at t.yaml:8:5)"
    )
    # through two blocks: the innermost call is named (where the layer's arguments came from)
    outer = "  outer:\n    params: [c]\n    layers: [relu, unit: {c: '${c - 4}'}]\n"
    assert error_of(unit.replace("input:", outer + "input:") + "  - outer: {c: 4}\n") == (
        "t.yaml:4:26: conv 'outer1.unit1.conv1': 'out' must be a positive integer, got 0 (in block 'unit' called at t.yaml:7:20)"
    )
