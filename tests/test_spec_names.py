"""`each` (the names of a repeat's iterations) and `scope: false` (no scope of its own): docs/spec.md, *Names*.

They let a spec name its layers as the model does where its repeats are not an nn.Sequential of units named 0, 1...
(RegNet's `block2-0`; VGG's flat `features.0` ... `features.30`). Counts are derived by hand beside each test; the
error cases of the corpus (tests/bad_specs/repeat_each_*, repeat_scope_*, repeat_name_with_scope_false) go through
every command there."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest
from conftest import graph_of
from typer.testing import CliRunner

from convcost.cli import app
from convcost.costmodel.analysis import analyze
from convcost.errors import SpecError
from convcost.frontend.source import YMap, YNode, YSeq, load_yaml
from convcost.render.spec_schema import spec_schema

ROOT = Path(__file__).resolve().parent.parent
UNIT = "blocks:\n  unit:\n    layers:\n      - conv: {out: 4, kernel: 1}\n      - relu\n"  # 4→4 1×1 conv: 20 params


def names(text: str) -> list[str]:
    return [n.name for n in graph_of(text).nodes]


def error_of(text: str) -> str:
    with pytest.raises(SpecError) as e:
        graph_of(text)
    return str(e.value)


def test_each_names_the_iterations_and_star_reads_them_in_order() -> None:
    text = UNIT + "input: [4, 5, 5]\nlayers:\n  - unit: {name: stage, repeat: 3, each: 'stage-${i}'}\n" \
                  "  - concat: {from: [stage.*]}\n"
    assert names(text) == [f"stage.stage-{k}.{op}" for k in range(3) for op in ("conv1", "relu1")] + ["concat1"]
    g = graph_of(text)
    assert g.nodes[-1].inputs == (1, 3, 5)  # the three relus, in order
    assert g.output.shape == (12, 5, 5)  # 3 × 4 channels
    total = analyze(g).total
    assert (total.params, total.macs) == (3 * (4 * 4 + 4), 3 * 5 * 5 * 4 * 4)
    scopes = {".".join(s.path): s.kind for s in g.scopes}
    assert scopes == {"stage": "repeat", **{f"stage.stage-{k}": "block" for k in range(3)}}


def test_each_without_an_expression_of_i_is_a_duplicate() -> None:
    assert error_of("input: [4, 5, 5]\nlayers:\n  - relu: {repeat: 2, each: r}\n") == \
        "t.yaml:3:29: duplicate layer name 'r' (first used at line 3)"


def test_scope_false_names_a_block_calls_layers_in_the_callers_scope() -> None:
    assert names(UNIT + "input: [4, 5, 5]\nlayers:\n  - unit: {scope: false}\n  - unit: {scope: false}\n") == \
        ["conv1", "relu1", "conv2", "relu2"]  # the caller's counters, on through both calls
    assert names(UNIT + "input: [4, 5, 5]\nlayers:\n  - unit: {scope: true, repeat: 2}\n") == \
        ["unit1.0.conv1", "unit1.0.relu1", "unit1.1.conv1", "unit1.1.relu1"]  # true: the default
    g = graph_of(UNIT + "vars: {flat: false}\ninput: [4, 5, 5]\nlayers:\n  - unit: {scope: $flat}\n")
    assert [n.name for n in g.nodes] == ["conv1", "relu1"] and g.scopes == ()  # an expression; no scope recorded


def test_a_flat_repeat_names_its_layers_where_it_is() -> None:
    text = "input: [4, 5, 5]\nlayers:\n  - seq: {repeat: 2, scope: false, layers: [{conv: {out: 4, kernel: 1}}, relu]}\n" \
           "  - conv: {out: 4, kernel: 1}\n"
    assert names(text) == ["conv1", "relu1", "conv2", "relu2", "conv3"]
    assert graph_of(text).scopes == ()


def test_a_flat_repeat_with_each_names_each_iteration_in_the_enclosing_scope() -> None:
    text = UNIT + "input: [4, 5, 5]\nlayers:\n  - seq:\n      name: features\n      layers:\n" \
                  "        - conv: {name: 0, out: 4, kernel: 1}\n        - unit: {repeat: 2, scope: false, each: '${1 + i}'}\n" \
                  "        - relu: {repeat: 2, scope: false, each: '${3 + i}'}\n"
    assert names(text) == ["features.0", "features.1.conv1", "features.1.relu1", "features.2.conv1", "features.2.relu1",
                           "features.3", "features.4"]


def spec_md_example(marker: str) -> str:
    """The yaml block of docs/spec.md that holds ``marker``."""
    doc = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
    return next(b for b in re.findall(r"```yaml\n(.*?)```", doc, re.S) if marker in b)


def test_the_docs_vgg_example_names_its_layers_as_torchvision() -> None:
    """docs/spec.md's flat nn.Sequential: VGG-16's first two stages, features.0 ... features.9."""
    g = graph_of(spec_md_example("ConvRelu"))
    assert [n.name for n in g.nodes] == [f"features.{k}" for k in range(10)]
    assert [n.op for n in g.nodes] == ["conv", "relu"] * 2 + ["maxpool"] + ["conv", "relu"] * 2 + ["maxpool"]
    assert g.output.shape == (128, 56, 56)
    total = analyze(g).total
    # torchvision's VGG-16 features.0/2/5/7: 3·9·64+64, 64·9·64+64, 64·9·128+128, 128·9·128+128
    assert total.params == 1792 + 36928 + 73856 + 147584
    assert total.macs == 224 * 224 * 64 * (3 * 9 + 64 * 9) + 112 * 112 * 128 * (64 * 9 + 128 * 9)


def test_flat_layers_whose_names_clash_are_an_error_at_the_name() -> None:
    text = "blocks:\n  b:\n    layers:\n      - relu: {name: a}\ninput: [4, 5, 5]\nlayers:\n  - b: {scope: false}\n" \
           "  - b: {scope: false}\n"
    assert error_of(text) == "t.yaml:4:22: duplicate layer name 'a' (first used at line 4) (in block 'b' called at t.yaml:8:5)"


def test_scope_errors() -> None:
    act = "blocks:\n  row:\n    params: {act: relu}\n    layers:\n      - $act: {scope: false}\n" \
          "input: [4, 5, 5]\nlayers:\n  - row\n"
    assert error_of(act) == ("t.yaml:5:23: 'scope' applies to a block call, a 'seq' or a repeat; 'relu' without 'repeat' "
                             "is none of them (in block 'row' called at t.yaml:8:5)")
    assert error_of("input: [4, 5, 5]\nlayers:\n  - seq: {scope: 3, layers: [relu]}\n").startswith(
        "t.yaml:3:18: 'scope' must be true or false, got ")
    assert error_of("input: [4, 5, 5]\nlayers:\n  - seq: {name: s, scope: false, layers: [relu]}\n") == (
        "t.yaml:3:17: 'name' names the scope of 'seq', and 'scope: false' opens none: leave out one of them")
    assert error_of("blocks:\n  b:\n    params: {each: 1}\n    layers: [relu]\ninput: [4, 5, 5]\nlayers:\n  - b\n") \
        .startswith("t.yaml:3:14: 'each' cannot be a parameter name")


def plain(node: YNode) -> object:
    if isinstance(node, YMap):
        return {k: plain(v) for k, v in node.items.items()}
    if isinstance(node, YSeq):
        return [plain(v) for v in node.items]
    return node.value


def test_the_schema_knows_each_and_scope() -> None:
    """An editor's completion accepts what convcost accepts and flags the keys where convcost refuses them."""
    validator = jsonschema.Draft202012Validator(spec_schema())

    def errors(text: str) -> list[str]:
        return [e.message for e in validator.iter_errors(plain(load_yaml(text, "t.yaml")))]

    assert errors(spec_md_example("ConvRelu")) == []
    assert errors(UNIT + "input: [4, 5, 5]\nlayers:\n  - unit: {name: s, repeat: 3, each: 's-${i}'}\n") == []
    assert errors("input: [4, 5, 5]\nlayers:\n  - seq: {scope: false, layers: [relu]}\n") == []
    assert errors("input: [4, 5, 5]\nlayers:\n  - relu: {each: r}\n") != []  # each without repeat
    assert errors("input: [4, 5, 5]\nlayers:\n  - relu: {scope: false}\n") != []  # an op without repeat
    assert errors("input: [4, 5, 5]\nlayers:\n  - relu: {scope: false, repeat: 2}\n") == []


@pytest.mark.parametrize("text", [
    "input: [4, 5, 5]\nlayers:\n  - relu: {each: r}\n",
    "input: [4, 5, 5]\nlayers:\n  - relu: {scope: false}\n",
    "input: [4, 5, 5]\nlayers:\n  - relu: {repeat: 2, each: 'a.${i}'}\n",
])
def test_bad_each_and_scope_exit_2_without_a_traceback(text: str, tmp_path: Path) -> None:
    spec = tmp_path / "t.yaml"
    spec.write_text(text)
    r = CliRunner().invoke(app, ["analyze", str(spec)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert re.match(rf"{re.escape(str(spec))}:3:\d+: ", r.stderr), r.stderr
