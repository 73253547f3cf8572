"""crosscheck/steps.py and structure.py on their own (torch-free): two graphs paired op by op by their data flow.

Both sides are specs here, the "model" one written in another order or with other names; what pairs and what
differs is read off the specs by hand."""

from __future__ import annotations

from conftest import graph_of

from convcost.crosscheck.counters import Status
from convcost.crosscheck.steps import side
from convcost.crosscheck.structure import Alignment, align


def match(spec: str, model: str) -> Alignment:
    return align(side(graph_of(spec)), side(graph_of(model)))


def pairs(a: Alignment) -> dict[str | None, str | None]:
    return {p.spec.name if p.spec else None: p.model.name if p.model else None for p in a.pairs}


RESIDUAL = """\
input: [8, 8, 8]
layers:
  - residual:
      body:
        - conv: {name: body_conv, out: 16, kernel: 3, stride: 2, padding: 1}
        - relu: {name: body_relu}
      shortcut:
        - avgpool: {name: pool, kernel: 2}
        - conv: {name: proj, out: 16, kernel: 1}
"""
# the same computation, the shortcut written (and so run) first, other names, the add's inputs the other way round
RESIDUAL_SHORTCUT_FIRST = """\
input: [8, 8, 8]
layers:
  - avgpool: {name: p0, kernel: 2}
  - conv: {name: p1, out: 16, kernel: 1}
  - conv: {name: b0, from: input, out: 16, kernel: 3, stride: 2, padding: 1}
  - relu: {name: b1}
  - add: {name: join, from: [p1, b1]}
"""


def test_run_order_and_names_do_not_matter() -> None:
    a = match(RESIDUAL, RESIDUAL_SHORTCUT_FIRST)
    assert a.divergence is None and not a.outputs
    assert pairs(a) == {"body_conv": "b0", "body_relu": "b1", "shortcut.pool": "p0", "shortcut.proj": "p1", "add1": "join"}
    assert all(p.status == Status.OK for p in a.pairs)


def test_an_argument_that_differs_is_named() -> None:
    a = match(RESIDUAL, RESIDUAL_SHORTCUT_FIRST.replace("stride: 2, padding: 1", "stride: 2, padding: 1, groups: 2"))
    d = a.divergence
    assert d is not None and (d.spec.name, d.model.name) == ("body_conv", "b0")  # type: ignore[union-attr]
    assert d.differences == ("conv groups: spec 1, model 2 at 'b0'",)
    assert sum(1 for p in a.pairs if not p.ok) == 1  # the relu after it, the add: the same again


def test_an_output_that_differs_is_named() -> None:
    spec = "input: [8, 8, 8]\nlayers:\n  - conv: {name: c, out: 16, kernel: 3, padding: 1}\n  - relu\n"
    a = match(spec, spec.replace("padding: 1", "padding: 0"))
    d = a.divergence
    assert d is not None and d.spec.name == "c"  # type: ignore[union-attr]
    # padding 0: 8 − 3 + 1 = 6 per side
    assert d.differences == ("conv padding: spec 1, model 0 at 'c'", "output: spec 16×8×8, model 16×6×6")
    relu = a.pairs[1]
    assert relu.differences == ("output: spec 16×8×8, model 16×6×6",)


CONCAT = """\
input: [4, 8, 8]
layers:
  - conv: {name: a, out: 2, kernel: 1}
  - conv: {name: b, from: input, out: 6, kernel: 1}
  - concat: {name: cat, from: [a, b]}
  - conv: {name: head, out: 3, kernel: 1}
"""


def test_a_concat_in_another_order_reads_otherwise() -> None:
    a = match(CONCAT, CONCAT.replace("from: [a, b]", "from: [b, a]"))
    d = a.divergence
    assert d is not None and d.spec.name == "cat"  # type: ignore[union-attr]
    assert d.differences == ("reads: spec 'a', 'b', model 'b', 'a'",)


def test_an_add_in_another_order_is_the_same() -> None:
    spec = CONCAT.replace("out: 6", "out: 2").replace("concat: {name: cat", "add: {name: cat")
    assert match(spec, spec.replace("from: [a, b]", "from: [b, a]")).divergence is None


def test_ops_the_spec_lacks_are_stepped_over() -> None:
    model = RESIDUAL.replace("        - relu: {name: body_relu}\n",
                             "        - batchnorm: {name: bn}\n        - relu: {name: body_relu}\n")
    a = match(RESIDUAL, model)
    extra = [p for p in a.pairs if p.spec is None]
    assert [p.model.name for p in extra] == ["bn"]  # type: ignore[union-attr]
    assert extra[0].differences[0].startswith("the spec has no batchnorm here: the model's 'bn' reads 'body_conv'")
    assert sum(1 for p in a.pairs if not p.ok) == 1  # the relu after it pairs again


def test_ops_the_model_lacks_are_stepped_over() -> None:
    spec = RESIDUAL.replace("        - relu: {name: body_relu}\n",
                            "        - batchnorm: {name: bn}\n        - relu: {name: body_relu}\n")
    a = match(spec, RESIDUAL)
    extra = [p for p in a.pairs if p.model is None]
    assert [p.spec.name for p in extra] == ["bn"]  # type: ignore[union-attr]
    assert extra[0].differences == ("the model has no batchnorm here (after 'body_conv')",)
    assert sum(1 for p in a.pairs if not p.ok) == 1


QKV = """\
input: {{tokens: [6, 8]}}
layers:
{first}
{second}
  - gelu: {{name: g, from: k}}
  - relu: {{name: r, from: q}}
  - add: {{from: [g, r]}}
"""


def test_alike_ops_are_told_apart_by_what_reads_them() -> None:
    q, k = "  - linear: {name: q, from: input, out: 8}", "  - linear: {name: k, from: input, out: 8}"
    a = match(QKV.format(first=q, second=k), QKV.format(first=k, second=q))  # the two linears listed the other way
    assert a.divergence is None
    assert pairs(a)["q"] == "q" and pairs(a)["k"] == "k"


def test_a_composition_pairs_with_its_parts() -> None:
    spec = "input: [3, 32, 32]\nlayers:\n  - patch_embed: {name: embed, out: 16, patch: 8}\n  - layernorm\n"
    model = ("input: [3, 32, 32]\nlayers:\n  - conv: {name: proj, out: 16, kernel: 8, stride: 8}\n  - to_tokens\n"
             "  - dropout: {p: 0.1}\n  - layernorm\n")
    a = match(spec, model)
    assert a.divergence is None
    assert [(p.spec.op, p.model.op) for p in a.pairs] == [("conv", "conv"), ("to_tokens", "to_tokens"),  # type: ignore[union-attr]
                                                          ("layernorm", "layernorm")]
    first = a.pairs[0]
    assert first.spec.first and not a.pairs[1].spec.first  # type: ignore[union-attr]  # the weights: on the conv


def test_arguments_that_change_nothing_are_not_compared() -> None:
    spec = """\
input: [8, 9, 9]
layers:
  - batchnorm: {momentum: 0.1}
  - maxpool: {kernel: 3, stride: 1, padding: 1}
  - chunk: {index: 0, parts: 2}
  - upsample: {scale: 2, mode: bilinear}
"""
    model = spec.replace("momentum: 0.1", "momentum: 0.99").replace("padding: 1}", "padding: 1, ceil_mode: true}") \
        .replace("parts: 2", "sizes: [4, 4]").replace("mode: bilinear", "mode: bilinear, align_corners: false")
    assert match(spec, model).divergence is None
    # ...but what does change them is
    for changed in (spec.replace("stride: 1", "stride: 2"), spec.replace("parts: 2", "sizes: [2, 6]"),
                    spec.replace("mode: bilinear", "mode: bilinear, align_corners: true")):
        assert match(spec, changed).divergence is not None, changed


TWO_CONVS = """\
input: [4, 8, 8]
layers:
{convs}
  - {act}: {{name: act_a, from: a}}
  - relu: {{name: act_b, from: b}}
  - add: {{from: [act_a, act_b]}}
"""
CONV_A = "  - conv: {name: a, from: input, out: 4, kernel: 1}"
CONV_B = "  - conv: {name: b, from: input, out: 4, kernel: 3, padding: 1}"


def test_arguments_decide_between_two_candidates() -> None:
    # the model lists b first, and a's activation differs: a still pairs with a (its kernel), not with b
    spec = TWO_CONVS.format(convs=f"{CONV_A}\n{CONV_B}", act="relu")
    model = TWO_CONVS.format(convs=f"{CONV_B}\n{CONV_A}", act="gelu")
    a = match(spec, model)
    assert pairs(a)["a"] == "a" and pairs(a)["b"] == "b"
    d = a.divergence
    assert d is not None and d.differences == ("spec relu, model gelu at 'act_a'",)
