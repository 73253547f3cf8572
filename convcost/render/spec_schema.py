"""The spec format as a JSON Schema (draft 2020-12), generated from the op definitions: `convcost schema`.

Every op, alias and sugar layer with its arguments (JSON type from the argument's converter, its
default and its doc), the structures, blocks and their calls, vars, references (`from`), inputs and
outputs, budgets. A `$name` or `${expression}` is accepted wherever a value is (any string holding a
`$`: convcost evaluates it). An editor with yaml-language-server completes and checks a spec against
it (docs/spec.md, "Editor support").

What a schema cannot know: the names of a file's own blocks. In a file without `blocks:` every layer
must name a known op, sugar layer or structure; in a file with blocks, a layer whose name is none of
those is taken for a block call (convcost itself then checks that the block exists), so two families
of layer definitions are generated, chosen at the top by whether the file has `blocks:`. Semantic
rules (groups dividing channels, shapes that fit) are convcost's own: `convcost analyze` checks them.

`budget_file_schema()` is the schema of a `--budget` file (docs/budgets.md).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from .. import __version__
from ..costmodel.convention import DEFAULT
from ..crosscheck.counters import GRAD_SUFFIX, names
from ..frontend.spec import (
    FILE_KEYS,
    ITEM_KEYS,
    JOINS,
    LAYER_NAME_RE,
    MAX_NAME_CHARS,
    MODEL_KEYS,
    NAME_RE,
    RESERVED_VARS,
    VAR_RE,
)
from ..frontend.structures import STRUCTURES
from ..graph.limits import MAX_BATCH, MAX_REPEAT
from ..ops.counting import FORMS
from ..ops.registry import ALIASES, MACROS, MAX_DIM, REGISTRY, Schema, arg_fields, converter_schema, load_all
from ..units import MAX_COUNT

DRAFT = "https://json-schema.org/draft/2020-12/schema"
# A budget's count as units.parse_count reads it: '_' anywhere (dropped), ',' only between thousands, a unit k/K/M/G/T.
_DIGITS = r"[0-9_]*\.?_*[0-9][0-9_]*(?:[eE]_*[+-]?_*[0-9][0-9_]*)?"
COUNT_PATTERN = rf"^(?:[\s_]*{_DIGITS}[\s_]*[kKMGT]?[\s_]*|\s*[0-9]{{1,3}}(?:,[0-9]{{3}})+(?:\.[0-9]+)?\s*[kKMGT]?\s*)$"
# A growth allowance as ci/budget.py's parse_percent reads it: not negative ('-0' is 0), '%' optional.
_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?"
PERCENT_PATTERN = rf"^\s*(?:\+?{_NUMBER}|-(?:0+(?:\.0*)?|\.0+)(?:[eE][+-]?[0-9]{{1,3}})?)\s*%?\s*$"
EXPR: Schema = {"$ref": "#/$defs/expression"}
METRICS = ("params", "buffers", "macs", "flops", "activations")  # ci/budget.py's ALL_METRICS
# the limits on training numbers (costmodel/training.py), checked with `convcost check --training`
TRAINING_METRICS = ("trainable_params", "backward_flops", "step_flops", "training_memory")
BLOCK_TRAINING_METRICS = ("trainable_params", "backward_flops", "step_flops")
MODES = ("plain", "blocks")  # a file without blocks: every layer is a known op; with blocks: block calls too
FIRST_NEEDS_REPEAT = {"first": ["repeat"], "each": ["repeat"]}  # the first iteration's arguments, each iteration's name
# 'scope' is said of what opens a scope: on an op (or a structure but seq) only with 'repeat'
OP_NEEDS_REPEAT = {**FIRST_NEEDS_REPEAT, "scope": ["repeat"]}
MAX_PERCENT = 10**6  # ci/budget.py's (not imported: it imports the analysis)


def exprable(schema: Schema) -> Schema:
    """``schema``, or an expression; inside lists too (``kernel: [$k, 3]``)."""
    if not schema:
        return {}
    inner = dict(schema)
    if "anyOf" in inner:
        inner["anyOf"] = [_items_exprable(s) for s in inner["anyOf"]]
    else:
        inner = _items_exprable(inner)
    return {"anyOf": [inner, EXPR]}


def _items_exprable(schema: Schema) -> Schema:
    if "items" in schema:
        return {**schema, "items": exprable(schema["items"])}
    if "anyOf" in schema:
        return {**schema, "anyOf": [_items_exprable(s) for s in schema["anyOf"]]}
    return schema


def yaml_default(value: Any) -> Any:
    """A field default as a spec writes it (tuples as lists)."""
    if isinstance(value, tuple):
        return [yaml_default(v) for v in value]
    return value


def arg_schema(f: dataclasses.Field[Any]) -> Schema:
    out = exprable(converter_schema(f.metadata["convert"]))
    doc = f.metadata.get("doc", "")
    if f.default is not dataclasses.MISSING:
        out["default"] = yaml_default(f.default)
        doc += f" (default: {json.dumps(out['default'])})"
    else:
        doc += " (required)"
    if doc:
        out["description"] = doc.strip()
    return out


def _is_required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def args_object(args_type: type, title: str, layer: bool = True, several: bool = False, tied: bool = False) -> Schema:
    """The arguments mapping of an op or sugar layer, with the keys every layer takes (``layer``); ``tied``: the op
    holds parameters another layer's may be (`tied: {weight: a}`)."""
    fields = arg_fields(args_type)
    props: dict[str, Schema] = {name: arg_schema(f) for name, f in fields.items()}
    out: Schema = {"type": "object", "description": title}
    if layer:
        props.update(_layer_keys(several))
        if tied:
            props["tied"] = {"type": "object", "additionalProperties": {"$ref": "#/$defs/ref"}, "minProperties": 1,
                             "description": "Parameters that are an earlier layer's (its name): counted once, there."}
        props["first"] = {
            **args_object(args_type, f"Arguments that differ on the first iteration of 'repeat' ({title}).", False),
        }
    out["properties"] = props
    out["additionalProperties"] = False
    if layer:
        out["dependentRequired"] = OP_NEEDS_REPEAT
    required = [name for name, f in fields.items() if _is_required(f)]
    if required and layer:
        out["required"] = required
    return out


def _layer_keys(several: bool = False) -> dict[str, Schema]:
    """The keys every layer takes; ``several``: an op of several inputs reads a 'from' list."""
    source: Schema = {"$ref": "#/$defs/ref", "description": "Read this earlier output (a dotted name) instead of the "
                      "previous layer's."}
    if several:
        source = {"anyOf": [{"$ref": "#/$defs/ref"}, {"type": "array", "items": {"$ref": "#/$defs/ref"}, "minItems": 1}],
                  "description": "The earlier outputs it reads (dotted names), or the one instead of the previous layer's."}
    return {
        "name": {"$ref": "#/$defs/layerName"},
        "repeat": {"$ref": "#/$defs/repeat"},
        "when": {"$ref": "#/$defs/when"},
        "torch": {"$ref": "#/$defs/torchForm"},
        "from": source,
        "frozen": {"$ref": "#/$defs/frozen"},
        "each": {"$ref": "#/$defs/each"},
        "scope": {"$ref": "#/$defs/scope"},
    }


def _op_entry(word: str, args_type: type, summary: str, several: bool = False) -> Schema:
    """``- word`` with nothing, or ``- word: {args}``; null arguments only where none is required."""
    rule = REGISTRY.get(ALIASES.get(word, word))
    args = args_object(args_type, summary, several=several, tied=getattr(rule, "tensors", None) is not None)
    value: Schema = args if "required" in args else {"anyOf": [{"type": "null"}, args], "description": summary}
    return {"title": word, "type": "object", "properties": {word: value}, "required": [word], "additionalProperties": False}


def _reads_several(word: str) -> bool:
    rule = REGISTRY.get(ALIASES.get(word, word))
    inputs = getattr(rule, "inputs", (1, 1))  # (fewest, most) inputs an op reads
    return rule is not None and inputs[1] > 1


def op_words() -> dict[str, tuple[type, str]]:
    """Every op name and alias that is not a structure, and every sugar layer: (arguments type, summary)."""
    load_all()
    words: dict[str, tuple[type, str]] = {}
    for name, rule in REGISTRY.items():
        if name not in STRUCTURES:
            words[name] = (rule.args, rule.summary)
    for alias, name in ALIASES.items():
        if name not in STRUCTURES and alias not in STRUCTURES:
            rule = REGISTRY[name]
            words[alias] = (rule.args, f"{rule.summary} (alias of '{name}')")
    for name, m in MACROS.items():
        words[name] = (m.args, m.summary)
    return dict(sorted(words.items()))


def structure_words() -> dict[str, str]:
    """Each structure and each alias of a join op that is one ('mul'): the structure it is."""
    load_all()
    out = {s: s for s in STRUCTURES}
    out.update({alias: name for alias, name in ALIASES.items() if name in STRUCTURES})
    return out


STRUCTURE_DOCS = {
    "seq": "A sequence of layers; opens a scope when named.",
    "concat": "Parallel branches on the same input, joined along channels (Inception).",
    "split": "Each branch gets its slice of the input's channels (equal parts, or 'sizes'), joined along channels.",
    "add": "Parallel branches summed elementwise (shapes must be equal).",
    "multiply": "Parallel branches multiplied elementwise, with broadcasting.",
    "residual": "body(x) + shortcut(x); no shortcut is the identity.",
    "gate": "x * body(x): squeeze-and-excitation.",
}


def _structure(word: str, structure: str, mode: str) -> Schema:
    layers: Schema = {"$ref": f"#/$defs/layers-{mode}"}
    keys = STRUCTURES[structure].keys
    props: dict[str, Schema] = dict(_layer_keys())
    if keys[0] == "branches":
        branches: Schema = {
            "anyOf": [
                {"type": "array", "items": layers, "minItems": 2},
                {"type": "object", "propertyNames": {"$ref": "#/$defs/nameText"}, "additionalProperties": layers,
                 "minProperties": 2},
            ],
            "description": "The branches: a list of layer lists, or a mapping of branch name: layer list.",
        }
        short: Schema = {"type": "array", "items": layers, "minItems": 2}
        props["branches"] = branches
        join = STRUCTURES[structure].join
        if structure in JOINS and join is not None:  # the join op's own arguments ('add: {scalar: 1}', concat's dim)
            load_all()
            props.update({name: arg_schema(f) for name, f in arg_fields(REGISTRY[join].args).items()})
        if structure in JOINS:
            props["from"] = {
                "anyOf": [{"$ref": "#/$defs/ref"}, {"type": "array", "items": {"$ref": "#/$defs/ref"}, "minItems": 1}],
                "description": "Earlier outputs to join (instead of branches), or the one output the branches read.",
            }
        if "sizes" in keys:
            props["sizes"] = exprable({"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 2})
            props["sizes"]["description"] = "Channels of each branch (default: equal parts)."
    else:
        short = layers
        for key in keys:
            props[key] = {"$ref": "#/$defs/when"} if key == "connect" else layers
        if "connect" in props:
            props["connect"] = {**props["connect"], "description": "false: the body alone, no shortcut and no add."}
    mapping: Schema = {"type": "object", "properties": props, "additionalProperties": False}
    mapping["dependentRequired"] = FIRST_NEEDS_REPEAT if structure == "seq" else OP_NEEDS_REPEAT
    if keys[0] != "branches":
        mapping["required"] = [keys[0]]
    doc = STRUCTURE_DOCS.get(structure, structure) + ("" if word == structure else f" (alias of '{structure}')")
    value = {"anyOf": [short, mapping], "description": doc}
    return {"title": word, "type": "object", "properties": {word: value}, "required": [word], "additionalProperties": False}


def _known_words() -> list[str]:
    return sorted({*op_words(), *structure_words()})


def _bare_words() -> list[str]:
    """The ops and sugar layers a layer may name alone ('- relu'): those that require no argument."""
    return sorted(w for w, (args_type, _) in op_words().items()
                  if not any(_is_required(f) for f in arg_fields(args_type).values()))


def _layer(mode: str) -> Schema:
    words = op_words()
    structures = structure_words()
    choices: list[Schema] = [{"enum": _bare_words(), "description": "An op or sugar layer with its default arguments."}]
    choices += [{"$ref": f"#/$defs/op-{w}"} for w in words]
    choices += [{"$ref": f"#/$defs/struct-{w}-{mode}"} for w in structures]
    choices.append({"$ref": "#/$defs/opParameter"})
    if mode == "blocks":
        choices.append({"$ref": "#/$defs/blockCall"})
    return {"anyOf": choices}


def _op_parameter() -> Schema:
    """'- $act' or '- $act: {when: ...}': the op a block parameter names."""
    param = {"type": "string", "pattern": r"^\$([A-Za-z_][A-Za-z0-9_]*|\{[^}]*\})$"}
    return {
        "anyOf": [
            {**param, "description": "The op a parameter or variable names ('none' or null leaves the layer out)."},
            {"type": "object", "patternProperties": {param["pattern"]: {"anyOf": [{"type": "null"}, {"type": "object"}]}},
             "additionalProperties": False, "minProperties": 1, "maxProperties": 1},
        ]
    }


def _block_call() -> Schema:
    """A call of a block of this file: any name that is not a known op (convcost checks the block exists)."""
    name = {"$ref": "#/$defs/nameText", "not": {"enum": _known_words()}}
    args: Schema = {
        "type": "object",
        "properties": {**_layer_keys(), "first": {"type": "object",
                                                          "description": "Parameters of the first iteration."}},
        "dependentRequired": FIRST_NEEDS_REPEAT,
        "description": "The block's parameters, and the keys every layer takes.",
    }
    return {
        "anyOf": [
            {"type": "string", "allOf": [name], "description": "A block of this file, with its default parameters."},
            {"type": "object", "propertyNames": name, "minProperties": 1, "maxProperties": 1,
             "additionalProperties": {"anyOf": [{"type": "null"}, args]}},
        ]
    }


def _shape() -> Schema:
    dim = exprable({"type": "integer", "minimum": 1, "maximum": MAX_DIM})
    return {"type": "array", "items": dim, "minItems": 1, "maxItems": 4,
            "description": "[C, H, W], [C, L], [C, D, H, W] or [F] (no batch)."}


def _input() -> Schema:
    batch = {**exprable({"type": "integer", "minimum": 1, "maximum": MAX_BATCH}), "description": "Batch size (default 1)."}
    tokens = {"type": "array", "items": exprable({"type": "integer", "minimum": 1, "maximum": MAX_DIM}),
              "minItems": 2, "maxItems": 2, "description": "[N, D]: N tokens of width D."}
    return {
        "anyOf": [
            {"$ref": "#/$defs/shape"},
            {"type": "object", "properties": {"shape": {"$ref": "#/$defs/shape"}, "batch": batch},
             "required": ["shape"], "additionalProperties": False},
            {"type": "object", "properties": {"tokens": tokens, "batch": batch},
             "required": ["tokens"], "additionalProperties": False},
        ],
        "description": "The input: [C, H, W] (no batch), {shape: [...], batch: N} or {tokens: [N, D]}.",
    }


def _vars() -> Schema:
    return {
        "type": "object",
        "propertyNames": {"pattern": f"^{VAR_RE.pattern}$", "maxLength": MAX_NAME_CHARS, "not": {"enum": list(RESERVED_VARS)}},
        "description": "Variables for expressions (${width * 2}): numbers, strings, booleans or lists.",
    }


def _budget() -> Schema:
    limits = {m: {"$ref": "#/$defs/count", "description": f"Largest allowed {m}."} for m in METRICS}
    limits.update({m: {"$ref": "#/$defs/count", "description": f"Largest allowed {m} (checked with --training)."}
                   for m in TRAINING_METRICS})
    return {
        "type": "object",
        "properties": {
            **limits,
            "blocks": {
                "type": "object",
                "additionalProperties": {
                    "type": "object", "properties": {m: {"$ref": "#/$defs/count"} for m in (*METRICS, *BLOCK_TRAINING_METRICS)},
                    "additionalProperties": False, "minProperties": 1,
                },
                "description": "Limits per block (a scope path or a layer's dotted name).",
            },
            "convention": {
                "enum": [DEFAULT, *(n + suffix for n in names() for suffix in ("", GRAD_SUFFIX))],
                "description": "The tool whose numbers the limits are in (docs/budgets.md); default convcost's own.",
            },
            "max_growth": {
                "anyOf": [{"$ref": "#/$defs/percent"},
                          {"type": "object", "properties": {m: {"$ref": "#/$defs/percent"} for m in METRICS},
                           "additionalProperties": False}],
                "description": "Growth allowed over --baseline: 2% for every metric, or per metric.",
            },
        },
        "additionalProperties": False,
        "description": "Limits checked by `convcost check` (docs/budgets.md): 25.6M, 4.1G, 900K...",
    }


def _model(mode: str, single: bool) -> Schema:
    props: dict[str, Schema] = {
        "input": {"$ref": "#/$defs/input"},
        "inputs": {"type": "object", "propertyNames": {"$ref": "#/$defs/nameText"},
                   "additionalProperties": {"$ref": "#/$defs/input"}, "minProperties": 1,
                   "description": "Several named inputs (layers read them with 'from')."},
        "outputs": {"anyOf": [{"$ref": "#/$defs/ref"}, {"type": "array", "items": {"$ref": "#/$defs/ref"}, "minItems": 1}],
                    "description": "The layers the model returns (default: the last one)."},
        "layers": {"$ref": f"#/$defs/layers-{mode}", "minItems": 1},
        "vars": {"$ref": "#/$defs/vars"},
        "description": {"type": "string"},
        "budget": {"$ref": "#/$defs/budget"},
        "frozen": {"$ref": "#/$defs/frozen", "description": "The default of the model's layers: true freezes them all."},
        "torch": {"$ref": "#/$defs/torchForm", "description": "How its layers meet torch unless a layer says otherwise."},
    }
    assert set(props) == set(MODEL_KEYS)
    out: Schema = {"type": "object", "properties": props, "required": ["layers"],
                   "oneOf": [{"required": ["input"]}, {"required": ["inputs"]}]}
    if not single:
        out["additionalProperties"] = False
    return out


def _file(mode: str) -> Schema:
    """The whole file in one mode: several models under 'models', or one at the top."""
    model_keys = ("input", "inputs", "outputs", "layers")
    several = {
        "required": ["models"],
        "properties": {"models": {"type": "object", "propertyNames": {"$ref": "#/$defs/nameText"},
                                  "additionalProperties": {"$ref": f"#/$defs/model-{mode}"}, "minProperties": 1}},
        "not": {"anyOf": [{"required": [k]} for k in model_keys]},
    }
    single = {"not": {"required": ["models"]}, **{k: v for k, v in _model(mode, single=True).items() if k != "type"}}
    return {"anyOf": [several, single]}


def spec_schema() -> Schema:
    """The JSON Schema of a spec file."""
    defs: dict[str, Schema] = {
        "expression": {"type": "string", "pattern": r"\$",
                       "description": "A $name or ${expression}, evaluated by convcost (docs/spec.md)."},
        "nameText": {"type": "string", "pattern": f"^{NAME_RE.pattern}$", "maxLength": MAX_NAME_CHARS},
        "layerName": {"anyOf": [{"type": "string", "pattern": f"^{LAYER_NAME_RE.pattern}$", "maxLength": MAX_NAME_CHARS},
                                {"type": "integer", "minimum": 0}, EXPR],
                      "description": "The layer's name (default: the op and a counter, conv1, conv2...)."},
        "ref": {"anyOf": [{"type": "string", "minLength": 1}, {"type": "integer", "minimum": 0}],
                "description": "An earlier output: a dotted name as `convcost analyze` shows it."},
        "repeat": {**exprable({"type": "integer", "minimum": 1, "maximum": MAX_REPEAT}),
                   "description": "Repeat the layer N times in sequence (inside, i is the index)."},
        "when": {**exprable({"type": "boolean"}), "description": "Leave the layer out when false."},
        "each": {"$ref": "#/$defs/layerName", "description": "With 'repeat': the name of each iteration, an expression of i "
                 "('block2-${i}'; default the index 0, 1...)."},
        "scope": {**exprable({"type": "boolean"}), "description": "false: opens no scope of its own (a block call, a seq, a "
                  "repeat and its iterations): the layers inside are named in the enclosing scope."},
        "frozen": {**exprable({"type": "boolean"}), "description": "true: the parameters get no gradient (as "
                   "requires_grad_(False)); on a block or structure, the default of its layers (an inner false wins)."},
        "shape": _shape(),
        "input": _input(),
        "vars": _vars(),
        "count": {"anyOf": [{"type": "number", "minimum": 0, "maximum": MAX_COUNT},
                            {"type": "string", "pattern": COUNT_PATTERN}]},
        "percent": {"anyOf": [{"type": "number", "minimum": 0, "maximum": MAX_PERCENT},
                              {"type": "string", "pattern": PERCENT_PATTERN}]},
        "budget": _budget(),
        "torchForm": {**exprable({"enum": list(FORMS)}),
                      "description": "How the layer meets torch where that changes what a counter sees (docs/spec.md): a "
                                     "module (the default), a function (F.relu) or a subclass of the module; on a block or "
                                     "structure, the default inside."},
        "opParameter": _op_parameter(),
        "blockCall": _block_call(),
        "block": {
            "type": "object",
            "properties": {
                "params": {
                    "anyOf": [{"type": "object", "propertyNames": {"$ref": "#/$defs/paramName"},
                               "description": "name: default (~ for a required parameter)"},
                              {"type": "array", "items": {"$ref": "#/$defs/paramName"},
                               "description": "names, all required"}],
                },
                "vars": {"$ref": "#/$defs/vars"},
                "layers": {"$ref": "#/$defs/layers-blocks"},
                "description": {"type": "string"},
            },
            "required": ["layers"],
            "additionalProperties": False,
            "description": "A reusable block: used like an op, with its parameters as arguments.",
        },
        "paramName": {"type": "string", "pattern": f"^{VAR_RE.pattern}$", "maxLength": MAX_NAME_CHARS,
                      "not": {"enum": [*RESERVED_VARS, *ITEM_KEYS, "from"]}},
    }
    for word, (args_type, summary) in op_words().items():
        defs[f"op-{word}"] = _op_entry(word, args_type, summary, _reads_several(word))
    for mode in MODES:
        defs[f"layers-{mode}"] = {"type": "array", "items": {"$ref": f"#/$defs/layer-{mode}"}}
        defs[f"layer-{mode}"] = _layer(mode)
        defs[f"model-{mode}"] = _model(mode, single=False)
        defs[f"file-{mode}"] = _file(mode)
        for word, structure in structure_words().items():
            defs[f"struct-{word}-{mode}"] = _structure(word, structure, mode)
    top = {
        "models": {"description": "Several models: name -> {input, layers, ...}."},
        "blocks": {"type": "object", "propertyNames": {"$ref": "#/$defs/nameText", "not": {"enum": _known_words()}},
                   "additionalProperties": {"$ref": "#/$defs/block"},
                   "description": "Reusable, parameterised blocks, used like ops."},
        "vars": {"$ref": "#/$defs/vars"},
        "budget": {"$ref": "#/$defs/budget"},
        "input": {"$ref": "#/$defs/input"},
        "inputs": {"description": "Several named inputs (a single-model file)."},
        "outputs": {"description": "The layers the model returns (a single-model file)."},
        "layers": {"description": "The layers (a single-model file)."},
        "description": {"type": "string"},
        "frozen": {"$ref": "#/$defs/frozen", "description": "The default of every model's layers: true freezes them all."},
        "torch": {"$ref": "#/$defs/torchForm", "description": "How every model's layers meet torch unless one says otherwise."},
    }
    assert set(top) == set(FILE_KEYS)
    return {
        "$schema": DRAFT,
        "title": "convcost spec",
        "description": f"A convcost spec (convcost {__version__}): models made of layers, blocks, vars and budgets. "
                       "Generated by `convcost schema` from the op definitions; docs/spec.md.",
        "type": "object",
        "properties": top,
        "additionalProperties": False,
        "if": {"required": ["blocks"]},
        "then": {"$ref": "#/$defs/file-blocks"},
        "else": {"$ref": "#/$defs/file-plain"},
        "$defs": defs,
    }


def budget_file_schema() -> Schema:
    """The JSON Schema of a --budget file (docs/budgets.md)."""
    spec_defs = spec_schema()["$defs"]
    return {
        "$schema": DRAFT,
        "title": "convcost budget file",
        "description": f"Budgets for `convcost check --budget` (convcost {__version__}); docs/budgets.md.",
        "type": "object",
        "properties": {
            "max_growth": spec_defs["budget"]["properties"]["max_growth"],
            "convention": spec_defs["budget"]["properties"]["convention"],
            "all": {"$ref": "#/$defs/budget", "description": "A budget for every checked model."},
            "models": {"type": "object", "additionalProperties": {"$ref": "#/$defs/budget"},
                       "description": "A budget per model name."},
        },
        "additionalProperties": False,
        "minProperties": 1,
        "$defs": {k: spec_defs[k] for k in ("budget", "count", "percent")},
    }


def render_schema(kind: str = "spec") -> str:
    schema = budget_file_schema() if kind == "budget" else spec_schema()
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
