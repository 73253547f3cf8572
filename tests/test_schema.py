"""`convcost schema`: the spec format as a JSON Schema (draft 2020-12) generated from the op definitions.

It must accept every spec convcost accepts (configs/, the docs' examples, expressions wherever a value
is) and reject the typos convcost rejects (an unknown key, op or structure key, a wrong type, a value
out of range), each checked against convcost itself: every entry of the corpus below is first shown to
make convcost fail, then the schema. Validated with the jsonschema package.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from convcost.ci.budget import load_budget_file, spec_budgets
from convcost.cli import app
from convcost.errors import ConvcostError
from convcost.frontend.source import YMap, YNode, YSeq, load_yaml
from convcost.frontend.spec import parse_spec
from convcost.graph.build import build_graph
from convcost.ops.registry import REGISTRY, converter_schema, load_all
from convcost.render.spec_schema import budget_file_schema, op_words, spec_schema

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()
SCHEMA = spec_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
BUDGET_VALIDATOR = jsonschema.Draft202012Validator(budget_file_schema())


def plain(node: YNode) -> Any:
    """A spec as an editor's YAML parser gives it to the schema (YAML 1.2 scalars, as convcost reads them)."""
    if isinstance(node, YMap):
        return {k: plain(v) for k, v in node.items.items()}
    if isinstance(node, YSeq):
        return [plain(v) for v in node.items]
    return node.value


def document(text: str) -> Any:
    return plain(load_yaml(text, "t.yaml"))


def schema_errors(text: str) -> list[str]:
    return [e.message for e in VALIDATOR.iter_errors(document(text))]


def convcost_error(text: str) -> str | None:
    """convcost's own verdict: its message for the spec (parsed, every model built), or None."""
    try:
        spec = parse_spec(text, "t.yaml")
        for model in spec.models:
            build_graph(spec, model)
        spec_budgets(spec)  # what `convcost check` reads of it
    except ConvcostError as e:
        return str(e)
    return None


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.Draft202012Validator.check_schema(budget_file_schema())
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("config", sorted(p.name for p in (ROOT / "configs").glob("*.yaml")))
def test_every_config_validates(config: str) -> None:
    text = (ROOT / "configs" / config).read_text()
    assert convcost_error(text) is None
    assert schema_errors(text) == []


def doc_examples() -> list[tuple[str, str]]:
    """Every ```yaml block of README.md and docs/*.md, named file:line."""
    out = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        for m in re.finditer(r"```yaml\n(.*?)```", text, re.S):
            out.append((f"{path.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 2}", m.group(1)))
    return out


def sub_validator(definition: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$ref": f"#/$defs/{definition}", "$defs": SCHEMA["$defs"]})


@pytest.mark.parametrize("where,text", doc_examples(), ids=[w for w, _ in doc_examples()])
def test_the_docs_yaml_examples_validate(where: str, text: str, tmp_path: Path) -> None:
    """A whole spec validates as a spec, a budget file as a budget file; a fragment (a list of layers, a model
    without its input) part by part; the GitHub workflow, pre-commit and device-profile files are not specs."""
    if "[...]" in text or "- ..." in text:
        pytest.skip("an abbreviated example ('...')")
    if re.search(r"^(jobs|repos|devices|runs):", text, re.M):
        pytest.skip("not a spec: a workflow, pre-commit, action or device-profile file")
    doc = document(text)
    if isinstance(doc, dict) and doc.keys() & {"all", "max_growth"} and not doc.keys() & {"layers", "input"}:
        path = tmp_path / "budget.yaml"
        path.write_text(text)
        load_budget_file(path)  # convcost reads it
        assert [e.message for e in BUDGET_VALIDATOR.iter_errors(doc)] == []
        return
    if isinstance(doc, list):  # a fragment: layers
        assert [e.message for e in sub_validator("layers-blocks").iter_errors(doc)] == []
        return
    if convcost_error(text) is None:
        assert schema_errors(text) == []
        return
    # a model's fragment (an FPN's layers without the input they read): each part against its definition
    assert isinstance(doc, dict)
    for key, value in doc.items():
        definition = {"layers": "layers-blocks", "input": "input", "vars": "vars", "budget": "budget"}.get(key)
        if key == "blocks":
            for block in value.values():
                assert [e.message for e in sub_validator("block").iter_errors(block)] == []
        elif definition:
            assert [e.message for e in sub_validator(definition).iter_errors(value)] == [], key


# ---- what convcost rejects, the schema rejects ------------------------------------------------------
PLAIN = "input: [3, 32, 32]\nlayers:\n"
WITH_BLOCKS = "blocks:\n  unit:\n    params: {c: 8}\n    layers:\n<block>input: [3, 32, 32]\nlayers:\n  - unit: {c: 8}\n"


def with_blocks(block_layers: str, template: str = WITH_BLOCKS) -> str:
    return template.replace("<block>", block_layers)

TYPOS = {
    "argument name (kernal)": PLAIN + "  - conv: {out: 16, kernal: 3}\n",
    "optional argument name (biass)": PLAIN + "  - conv: {out: 16, kernel: 3, biass: false}\n",
    "argument name in a file with blocks": with_blocks("      - conv: {out: $c, kernal: 3}\n"),
    "argument name in 'first'": PLAIN + "  - conv: {out: 8, kernel: 3, repeat: 2, first: {strde: 2}}\n",
    "missing required argument": PLAIN + "  - conv: {out: 16}\n",
    "unknown op": PLAIN + "  - cnov: {out: 16, kernel: 3}\n",
    "unknown op, bare": PLAIN + "  - rleu\n",
    "unknown op in a residual body": PLAIN + "  - residual: [relu, batchnrom]\n",
    "unknown op in a branch": PLAIN + "  - concat: [[relu], [sigmod]]\n",
    "another tool's name": PLAIN + "  - Conv2d: {out: 16, kernel: 3}\n",
    "string for an integer": PLAIN + "  - conv: {out: '64', kernel: 3}\n",
    "float for an integer": PLAIN + "  - conv: {out: 16.5, kernel: 3}\n",
    "zero stride": PLAIN + "  - conv: {out: 16, kernel: 3, stride: 0}\n",
    "negative padding": PLAIN + "  - conv: {out: 16, kernel: 3, padding: -1}\n",
    "padding word": PLAIN + "  - conv: {out: 16, kernel: 3, padding: full}\n",
    "boolean as a number": PLAIN + "  - conv: {out: 16, kernel: 3, bias: 1}\n",
    "boolean as a word": PLAIN + "  - conv: {out: 16, kernel: 3, bias: 'no'}\n",
    "four kernel sizes": PLAIN + "  - conv: {out: 16, kernel: [3, 3, 3, 3]}\n",
    "probability over 1": PLAIN + "  - dropout: {p: 1.5}\n",
    "mode typo": PLAIN + "  - upsample: {scale: 2, mode: bilinar}\n",
    "activation of dwsep": PLAIN + "  - dwsep: {out: 16, act: relux}\n",
    "list for a number": PLAIN + "  - leaky_relu: {slope: [0.1]}\n",
    "structure key": PLAIN + "  - residual: {bodyy: [relu]}\n",
    "one branch": PLAIN + "  - concat: [[relu]]\n",
    "first on a structure": PLAIN + "  - seq: {layers: [relu], repeat: 2, first: {x: 1}}\n",
    "two ops in one item": PLAIN + "  - conv: {out: 16, kernel: 3}\n    bn:\n",
    "a number for a layer": PLAIN + "  - 3\n",
    "repeat 0": PLAIN + "  - relu: {repeat: 0}\n",
    "when as a word": PLAIN + "  - relu: {when: 'yes'}\n",
    "a name with a space": PLAIN + "  - relu: {name: 'my relu'}\n",
    "top-level key (model)": "model:\n  net: {input: [3, 8, 8], layers: [relu]}\n",
    "model key (layer)": "models:\n  net: {input: [3, 8, 8], layer: [relu]}\n",
    "no input": "models:\n  net: {layers: [relu]}\n",
    "input and inputs": "models:\n  net: {input: [3, 8, 8], inputs: {a: [3, 8, 8]}, layers: [relu]}\n",
    "no models": "models: {}\n",
    "models beside layers": "models:\n  net: {input: [3, 8, 8], layers: [relu]}\nlayers: [relu]\n",
    "input of five numbers": "input: [1, 3, 8, 8, 8]\nlayers: [relu]\n",
    "input mapping key": "input: {shap: [3, 8, 8]}\nlayers: [relu]\n",
    "input size zero": "input: [3, 0, 8]\nlayers: [relu]\n",
    "tokens of three": "input: {tokens: [4, 8, 2]}\nlayers: [relu]\n",
    "empty outputs": "input: [3, 8, 8]\nlayers: [relu]\noutputs: []\n",
    "reserved variable": "vars: {in_channels: 3}\ninput: [3, 8, 8]\nlayers: [relu]\n",
    "variable name": "vars: {2x: 3}\ninput: [3, 8, 8]\nlayers: [relu]\n",
    "reserved parameter": with_blocks("      - relu\n", WITH_BLOCKS.replace("params: {c: 8}", "params: {c: 8, i: 1}")),
    "block key": with_blocks("      - relu\n", WITH_BLOCKS.replace("    layers:\n", "    layer: [relu]\n    layers:\n")),
    "block named like an op": "blocks:\n  conv:\n    layers: [relu]\ninput: [3, 8, 8]\nlayers: [relu]\n",
    "budget metric (mac)": "input: [3, 8, 8]\nlayers: [relu]\nbudget: {mac: 1G}\n",
    "budget count": "input: [3, 8, 8]\nlayers: [relu]\nbudget: {macs: lots}\n",
    "budget growth": "input: [3, 8, 8]\nlayers: [relu]\nbudget: {max_growth: {mac: 2%}}\n",
    "description not text": "input: [3, 8, 8]\nlayers: [relu]\ndescription: [a, b]\n",
    "frozen as a word": PLAIN + "  - conv: {out: 8, kernel: 3, frozen: 'yes'}\n",
    "training memory of a block": "input: [3, 8, 8]\nlayers: [relu]\nbudget: {blocks: {relu1: {training_memory: 1M}}}\n",
    "bare op with a required argument": PLAIN + "  - maxpool\n",
    "bare op with a required argument, with blocks": with_blocks("      - norm\n"),
    "'first' without 'repeat'": PLAIN + "  - conv: {out: 8, kernel: 3, first: {stride: 2}}\n",
    "'first' without 'repeat' on a block call": with_blocks("      - relu\n").replace("unit: {c: 8}", "unit: {first: {c: 4}}"),
    "no layers": "input: [3, 8, 8]\nlayers: []\n",
    "infinite number": PLAIN + "  - leaky_relu: {slope: .inf}\n",
    "budget count's commas": "input: [3, 8, 8]\nlayers: [relu]\nbudget: {macs: '1,2,3'}\n",
    "budget count over 1e30": "input: [3, 8, 8]\nlayers: [relu]\nbudget: {macs: 1e31}\n",
    "budget growth too large": "input: [3, 8, 8]\nlayers: [relu]\nbudget: {max_growth: 2000000}\n",
    "integer over the limit": PLAIN + "  - flatten: {start: 1000000001}\n",
    "list of the wrong items": PLAIN + "  - reshape: {shape: [8, x]}\n",
    "empty list of dims": PLAIN + "  - mean: {dims: []}\n",
    "norm order word": PLAIN + "  - norm: {dims: 1, p: fro}\n",
    "einsum equation": PLAIN + "  - einsum: {equation: 'ab,bc', param: [8, 8]}\n",
}


@pytest.mark.parametrize("case", sorted(TYPOS))
def test_what_convcost_rejects_the_schema_rejects(case: str) -> None:
    text = TYPOS[case]
    assert convcost_error(text) is not None, "convcost accepts it: not a typo"
    assert schema_errors(text) != []


VALID = {
    "expressions everywhere": "vars: {k: 3, w: [16, 32]}\ninput: [3, '${8 * 4}', 32]\nlayers:\n"
                              "  - conv: {out: '${w[1]}', kernel: $k, stride: '${2 if true else 1}', padding: [$k, 1]}\n"
                              "  - relu: {when: '${k > 1}', repeat: $k, name: 'act${k}'}\n",
    "bare ops, aliases and null arguments": PLAIN + "  - conv: {out: 8, kernel: 3}\n  - bn\n  - swish:\n  - gap\n  - flatten\n"
                                                    "  - fc: {out: 10}\n",
    "per-dim lists and 'same'": PLAIN + "  - conv: {out: 8, kernel: [3, 1], padding: same}\n  - maxpool: {kernel: 2}\n",
    "structures, short and long": PLAIN + "  - residual: [conv: {out: 3, kernel: 1}]\n"
                                          "  - concat: {branches: {a: [relu], b: []}, name: cat}\n"
                                          "  - split: {sizes: [2, 4], branches: [[], [relu]]}\n  - gate: [sigmoid]\n"
                                          "  - residual: {body: [relu], shortcut: [], connect: false}\n  - mul: [[relu], []]\n",
    "references": PLAIN + "  - conv: {name: a, out: 8, kernel: 1}\n  - conv: {name: b, out: 8, kernel: 1, from: input}\n"
                          "  - add: {from: [a, b]}\n",
    "blocks, op parameters and first": "blocks:\n  row:\n    params: {out: ~, act: relu}\n    vars: {twice: '${out * 2}'}\n"
                                       "    layers:\n      - conv: {out: $twice, kernel: 1}\n      - $act\n"
                                       "      - ${act}: {when: true}\n"
                                       "input: [3, 8, 8]\nlayers:\n  - row: {out: 4, repeat: 2, first: {act: none}}\n"
                                       "  - row: {out: 2}\n",
    "several models, batch and budgets": "budget: {params: 1M}\nmodels:\n  a:\n    input: {shape: [3, 8, 8], batch: 4}\n"
                                         "    layers: [relu]\n"
                                         "    budget: {macs: 4.1G, max_growth: 2%, blocks: {relu1: {flops: '1,000'}}}\n"
                                         "  b:\n    inputs: {x: [3, 8, 8], t: {tokens: [4, 8]}}\n    outputs: [relu1]\n"
                                         "    layers: [{relu: {from: x}}]\n",
    "frozen everywhere and training budgets": "frozen: false\nblocks:\n  unit:\n    layers: [conv: {out: 8, kernel: 1}]\n"
                                              "models:\n  a:\n    frozen: true\n    input: [3, 8, 8]\n"
                                              "    layers:\n      - conv: {out: 8, kernel: 3, frozen: false}\n"
                                              "      - unit: {frozen: '${1 > 0}'}\n"
                                              "      - residual: {body: [relu], frozen: true}\n"
                                              "    budget: {trainable_params: 1M, backward_flops: 1G, step_flops: 2G,\n"
                                              "             training_memory: 1G, blocks: {unit1: {trainable_params: 100}}}\n",
    "counts and percentages as convcost reads them": "input: [3, 8, 8]\nlayers: [relu]\nbudget: {macs: .5G, params: '1_000_000', "
                                                     "flops: '1,000.5 K', activations: 1e3, max_growth: {macs: '+2%', "
                                                     "params: '2.%', flops: '1e1%', activations: 0.5}}\n",
    "an einsum equation with spaces": "input: {tokens: [4, 8]}\nlayers:\n  - einsum: {equation: ' b n d , d e - > b n e', "
                                      "param: [8, 2]}\n  - norm: {dims: -1, p: inf}\n",
}


@pytest.mark.parametrize("case", sorted(VALID))
def test_what_convcost_accepts_the_schema_accepts(case: str) -> None:
    text = VALID[case]
    assert convcost_error(text) is None
    assert schema_errors(text) == []


def test_in_a_file_with_blocks_an_unknown_name_is_taken_for_a_block_call() -> None:
    """The one typo the schema lets through: a schema cannot know a file's block names, so where the file
    has blocks a layer naming no known op is taken for a call of one (convcost then says there is none)."""
    text = with_blocks("      - relu\n").replace("  - unit: {c: 8}\n", "  - unti: {c: 8}\n")
    assert "unknown op 'unti' (did you mean 'unit'?)" in (convcost_error(text) or "")
    assert schema_errors(text) == []
    # ... but not a known op's name used as a block name, nor a typo of an argument of a known op
    assert schema_errors(text.replace("  - unti: {c: 8}\n", "  - relu: {c: 8}\n")) != []


def test_every_argument_of_every_op_has_a_type() -> None:
    """Declared by its converter (ops/registry.py's converters and combinators) or seen by probing it."""
    load_all()
    untyped = [f"{word}.{name}" for word, (args, _) in op_words().items()
               for name, f in args.__dataclass_fields__.items() if not converter_schema(f.metadata["convert"])]
    assert untyped == []


# Values an argument may be given, of every JSON type and at the edges of the converters' ranges.
PROBES: tuple[Any, ...] = (
    None, True, False, 0, 1, 2, 3, 64, -1, -2, 10**9, 10**9 + 1, -(10**9), -(10**9) - 1,
    0.0, 0.5, 1.5, -0.5, 1e308, float("inf"), float("-inf"),
    "", "x", "same", "valid", "mean", "sum", "max", "none", "nearest", "bilinear", "inf", "1", "relu", "gelu",
    "features", "channels", "class", "auto", "map", "tokens", "grid", "ab,bc->ac", " b n d , b m d - > b n m", "ab->b",
    [], [1], [1, 2], [2, 2], [1, 2, 3], [0], [0, 0], [-1], [-1, 2], [0.5], [1.0, 2.0], ["a"], [[1]], [True], [None],
    [1, 2, 3, 4], list(range(1, 10)), list(range(1, 11)), list(range(1, 19)), list(range(1, 20)), {"a": 1},
)


def converter_takes(convert: Any, value: Any) -> bool:
    from convcost.ops.registry import ArgError

    try:
        convert(value)
    except ArgError:
        return False
    return True


def integral_float(value: Any) -> bool:
    """A float without a fraction (2.0), or a list holding one."""
    if isinstance(value, list):
        return any(integral_float(v) for v in value)
    return isinstance(value, float) and value.is_integer()


def test_each_arguments_schema_takes_what_its_converter_takes() -> None:
    """Argument by argument, the schema's verdict on a value is the converter's: no squiggle on a value convcost
    takes, none missing on a value it refuses. What JSON Schema cannot say is left out, each named: a float with
    no fraction (2.0) is an integer to JSON Schema, which convcost refuses ('write 2'); a per-dim list ([h, w])
    is bounded by 3, the most spatial dims an input has, which convcost checks against the layer's input."""
    disagree = []
    for word, (args, _) in op_words().items():
        for name, f in args.__dataclass_fields__.items():
            schema = converter_schema(f.metadata["convert"])
            validator = jsonschema.Draft202012Validator(schema)
            for value in PROBES:
                takes, valid = converter_takes(f.metadata["convert"], value), validator.is_valid(value)
                if takes == valid:
                    continue
                if valid and integral_float(value):
                    continue  # JSON Schema's integer: 2.0 is one
                if takes and isinstance(value, list) and len(value) > 3 and '"maxItems": 3' in json.dumps(schema):
                    continue  # per dim: the input's rank decides (no input has more than 3 spatial dims)
                disagree.append(f"{word}.{name}={value!r}: convcost {'takes' if takes else 'refuses'} it")
    assert disagree == []


def test_an_undeclared_converter_is_typed_by_what_it_takes() -> None:
    from convcost.ops.registry import ArgError, inferred_schema

    def even(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value % 2:
            raise ArgError("must be even")
        return value

    def word(value: object) -> str:
        if value not in ("spam", "eggs"):
            raise ArgError("must be spam or eggs")
        return str(value)

    assert inferred_schema(even) == {"type": "integer", "minimum": 0}  # takes 0, 2, 64; refuses -1, 1
    assert inferred_schema(word) == {}  # none of the probes: any value, never a false squiggle


def test_the_schema_follows_the_definitions() -> None:
    conv = SCHEMA["$defs"]["op-conv"]["properties"]["conv"]
    props = conv["properties"]
    assert conv["required"] == ["out", "kernel"]
    assert props["stride"]["default"] == 1 and "stride" in props["stride"]["description"]
    assert props["bias"]["default"] is True
    bare = set(SCHEMA["$defs"]["layer-plain"]["anyOf"][0]["enum"])  # '- relu': the ops that need no argument
    assert bare >= {"bn", "relu", "gap", "depthwise"} and not bare & {"conv", "dwsep", "pointwise", "maxpool"}
    load_all()
    assert {f"op-{n}" for n in REGISTRY if n not in ("add", "concat", "multiply")} <= set(SCHEMA["$defs"])


def test_a_new_op_appears_in_the_schema() -> None:
    """Generated, not written: an op registered now (the toy of test_op_definitions) is in the next schema."""
    from test_op_definitions import MIX

    from convcost.ops.registry import register, unregister

    register(MIX)
    try:
        schema = spec_schema()
        mix = schema["$defs"]["op-mix"]["properties"]["mix"]
        assert mix["required"] == ["out"] and "output channels" in mix["properties"]["out"]["description"]
        ok = jsonschema.Draft202012Validator(schema).iter_errors(document(PLAIN + "  - mix: {out: 4}\n"))
        assert list(ok) == []
    finally:
        unregister("mix")
    assert "op-mix" not in spec_schema()["$defs"]


def test_budget_file_schema() -> None:
    good = "max_growth: 1%\nall: {params: 30M}\nmodels:\n  resnet50: {macs: 4.1G, blocks: {layer3: {macs: 1.5G}}}\n"
    assert list(BUDGET_VALIDATOR.iter_errors(document(good))) == []
    for bad in ("model:\n  resnet50: {macs: 4.1G}\n", "all: {mac: 1G}\n", "all: {macs: []}\n", "max_growth: lots\n"):
        assert list(BUDGET_VALIDATOR.iter_errors(document(bad))) != [], bad


def test_schema_command(tmp_path: Path) -> None:
    out = tmp_path / "spec.schema.json"
    result = runner.invoke(app, ["schema", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text()) == json.loads(json.dumps(SCHEMA))
    result = runner.invoke(app, ["schema", "--kind", "budget"])
    assert result.exit_code == 0 and json.loads(result.stdout)["title"] == "convcost budget file"
    result = runner.invoke(app, ["schema", "--kind", "specs"])
    assert result.exit_code == 2


COUNTED = {"count": 0, "percent": 0}


@settings(max_examples=400, deadline=None, database=None)
@given(st.text(alphabet="0123456789.,_eE+-%kKMGT x", max_size=12))
def test_budget_counts_and_percentages_match_what_convcost_reads(text: str) -> None:
    """The patterns of a budget's count ('25.6M') and growth ('2%') take the strings units.parse_count and ci/budget.py's
    parse_percent read, and refuse those they refuse, but for numbers too large (1e31, '1e10%'): a pattern does not
    weigh numbers."""
    from convcost.ci.budget import parse_percent
    from convcost.units import parse_count

    defs = SCHEMA["$defs"]
    for kind, parse in (("count", parse_count), ("percent", parse_percent)):
        try:
            parse(text)
            error = ""
        except ValueError as e:
            error = str(e)
        valid = jsonschema.Draft202012Validator(defs[kind]["anyOf"][1]).is_valid(text)
        if valid and error:
            assert "too large" in error or "at most 1e30" in error, (kind, text, error)
        else:
            assert valid == (not error), (kind, text, error)
        COUNTED[kind] += not error


def test_the_budget_patterns_saw_strings_convcost_reads() -> None:
    """The property test above ran, and not only on strings both refuse."""
    if COUNTED["count"] == 0:
        test_budget_counts_and_percentages_match_what_convcost_reads()
    assert COUNTED["count"] >= 20 and COUNTED["percent"] >= 20, COUNTED
