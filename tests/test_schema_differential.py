"""`convcost schema` against convcost itself, on random specs drawn from the op definitions.

Each spec is a few layers of random ops (a structure around them sometimes, a block of the file sometimes), their
arguments drawn from what the converters declare, and sometimes one mutation: a misspelt argument or op name, a value
of the wrong type or out of range, a required argument dropped, a layer key ('name', 'repeat', 'when', 'from', 'first')
given a wrong value, an expression where a value is (holding a good or a bad value). jsonschema's verdict is compared
with convcost's (parse, build every model, read its budgets):

- convcost accepts ⇒ the schema accepts: an editor never squiggles a spec that works;
- convcost refuses while reading the file or converting an argument ⇒ the schema refuses, except where a schema
  cannot know (docs/spec.md, "Editor support"): an expression's value, a float without a fraction (2.0 is an integer
  to JSON Schema), and in a file with blocks a misspelt op (taken for a block call);
- convcost never fails with anything but its own error (no traceback).

What convcost refuses later, while building the graph (shapes that do not fit, groups that do not divide), is its own
to check; the test counts each outcome and checks that the interesting ones were drawn.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from typing import Any
from unittest import mock

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convcost.ci.budget import spec_budgets
from convcost.errors import ConvcostError
from convcost.frontend.source import YMap, YNode, YSeq, load_yaml
from convcost.frontend.spec import parse_spec
from convcost.graph import values
from convcost.graph.build import build_graph
from convcost.ops.registry import arg_fields, converter_schema
from convcost.render.spec_schema import op_words, spec_schema

VALIDATOR = jsonschema.Draft202012Validator(spec_schema())
WORDS = op_words()
INPUTS: list[Any] = [[8, 16, 16], {"tokens": [16, 32]}, [8, 32], [8, 4, 8, 8], [64], {"shape": [4, 8, 8], "batch": 2}]
WRONG: list[Any] = [None, True, "word", "1", [1, 2], [], {"a": 1}, 0, -1, 1.5, 10**9 + 1, "", [[1]], ["a"], [True]]
OUT_OF_RANGE: list[Any] = [-1, 0, 10**9 + 1, -0.5, 2**31, -(10**9) - 1]
MUTATIONS = ("key", "type", "range", "expression", "bad expression", "op", "drop", "layer key")
SEEN: Counter[str] = Counter()


def plain(node: YNode) -> Any:
    """The document as an editor's YAML parser gives it to the schema."""
    if isinstance(node, YMap):
        return {k: plain(v) for k, v in node.items.items()}
    if isinstance(node, YSeq):
        return [plain(v) for v in node.items]
    return node.value


def values_of(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Small values a converter's JSON Schema takes (shapes stay plausible)."""
    if not schema:
        return st.sampled_from([1, 2, "x", [1, 2], True])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    if "anyOf" in schema:
        return st.one_of([values_of(s) for s in schema["anyOf"]])
    kind = schema.get("type")
    if kind == "integer":
        low = max(schema.get("minimum", -3), -3)
        return st.integers(low, max(min(schema.get("maximum", 8), 8), low))
    if kind == "number":
        return st.sampled_from([0.001, 0.1, 0.5, 1.5, 3.25]).filter(
            lambda x: schema.get("minimum", -9) <= x <= schema.get("maximum", 9))
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "string":
        return st.sampled_from(["ab,bc->ac", "bnd,bmd->bnm"]) if "pattern" in schema else st.sampled_from(["x", "same"])
    if kind == "array":
        return st.lists(values_of(schema.get("items", {})), min_size=schema.get("minItems", 0),
                        max_size=min(schema.get("maxItems", 4), 4))
    return st.just(1)


def misspelt(draw: st.DrawFn, word: str) -> str:
    i = draw(st.integers(0, len(word) - 1))
    how = draw(st.sampled_from(["drop", "add", "swap", "plural"]))
    if how == "drop" and len(word) > 1:
        return word[:i] + word[i + 1:]
    if how == "swap" and i < len(word) - 1 and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word + "s" if how == "plural" else word[:i] + "x" + word[i:]


@st.composite
def layer(draw: st.DrawFn, mutation: str | None) -> Any:
    word = draw(st.sampled_from(sorted(WORDS)))
    fields = arg_fields(WORDS[word][0])
    args: dict[str, Any] = {}
    for name, f in fields.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required or draw(st.integers(0, 3)) == 0:
            args[name] = draw(values_of(converter_schema(f.metadata["convert"])))
    if draw(st.integers(0, 6)) == 0:
        args["name"] = draw(st.sampled_from(["a", "b1", "0", "x-y"]))
    if draw(st.integers(0, 8)) == 0:
        args["repeat"] = draw(st.integers(1, 3))
    if mutation == "key" and args:
        key = draw(st.sampled_from(sorted(args)))
        args[misspelt(draw, key)] = args.pop(key)
    elif mutation in ("type", "range", "bad expression") and fields:
        key = draw(st.sampled_from(sorted(fields)))
        value = draw(st.sampled_from(OUT_OF_RANGE if mutation == "range" else WRONG))
        args[key] = "${" + json.dumps(value) + "}" if mutation == "bad expression" else value
    elif mutation == "expression" and args:
        key = draw(st.sampled_from(sorted(args)))
        args[key] = "${" + json.dumps(args[key]) + "}"
    elif mutation == "op":
        word = misspelt(draw, word)
    elif mutation == "drop" and args:
        args.pop(draw(st.sampled_from(sorted(args))))
    elif mutation == "layer key":
        args[draw(st.sampled_from(["name", "repeat", "when", "from", "first"]))] = draw(st.sampled_from(WRONG))
    if not args and draw(st.booleans()):
        return word
    return {word: args or None}


@st.composite
def specs(draw: st.DrawFn) -> tuple[str, str | None, bool]:
    """(the spec as text, its mutation, whether its layers are a block's)."""
    mutation = draw(st.sampled_from([None, None, *MUTATIONS]))
    n = draw(st.integers(1, 3))
    mutated = draw(st.integers(0, n - 1))
    layers = [draw(layer(mutation if i == mutated else None)) for i in range(n)]
    wrap = draw(st.integers(0, 5))
    if wrap == 1:
        layers = [{"residual": layers}]
    elif wrap == 2:
        layers = [{"concat": [layers, []]}]
    elif wrap == 3:
        layers = [{"seq": {"layers": layers, "name": "s"}}]
    doc: dict[str, Any] = {"input": draw(st.sampled_from(INPUTS))}
    in_block = draw(st.integers(0, 3)) == 0
    if in_block:
        doc["blocks"] = {"unit": {"layers": layers}}
        layers = ["unit"]
    doc["layers"] = layers
    return json.dumps(doc), mutation, in_block  # JSON is YAML: both sides read the same document


def convcost_verdict(text: str) -> tuple[str, str]:
    """('ok' | 'parse' | 'arguments' | 'build', message): where convcost refused the spec."""
    stage = ["build"]
    make_args = values.Values.make_args

    def converting(self: values.Values, *args: Any, **kwargs: Any) -> Any:
        try:
            return make_args(self, *args, **kwargs)
        except ConvcostError:
            stage[0] = "arguments"
            raise

    try:
        spec = parse_spec(text, "t.yaml")
    except ConvcostError as e:
        return "parse", str(e)
    try:
        with mock.patch.object(values.Values, "make_args", converting):
            for model in spec.models:
                build_graph(spec, model)
        spec_budgets(spec)
    except ConvcostError as e:
        return stage[0], str(e)
    return "ok", ""


def integral_float(value: Any) -> bool:
    if isinstance(value, dict):
        return any(integral_float(v) for v in value.values())
    if isinstance(value, list):
        return any(integral_float(v) for v in value)
    return isinstance(value, float) and value.is_integer()


@settings(max_examples=300, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(specs())
def test_the_schema_agrees_with_convcost_on_random_specs(drawn: tuple[str, str | None, bool]) -> None:
    text, mutation, in_block = drawn
    stage, message = convcost_verdict(text)  # anything but a ConvcostError fails the test: a traceback
    document = plain(load_yaml(text, "t.yaml"))
    schema_errors = [e.message for e in VALIDATOR.iter_errors(document)]
    SEEN[f"{stage}, schema {'refuses' if schema_errors else 'accepts'}"] += 1
    SEEN[f"mutation {mutation}"] += 1
    if stage == "ok":
        assert schema_errors == [], (text, schema_errors[:2])
    elif stage in ("parse", "arguments"):
        beyond = "$" in text or integral_float(document) or (in_block and mutation == "op")
        assert schema_errors or beyond, (text, message)


def test_the_random_specs_reached_every_verdict() -> None:
    """The property above ran on specs convcost accepts and on every kind of refusal, each mutation drawn."""
    if not SEEN:
        test_the_schema_agrees_with_convcost_on_random_specs()
    for outcome in ("ok, schema accepts", "parse, schema refuses", "arguments, schema refuses", "build, schema accepts"):
        assert SEEN[outcome] >= 5, (outcome, SEEN)
    for mutation in MUTATIONS:
        assert SEEN[f"mutation {mutation}"] >= 5, (mutation, SEEN)
