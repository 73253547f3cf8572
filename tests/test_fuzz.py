"""Fuzzing the analytic path: whatever the input, the only exception allowed out is ConvcostError.

Four generators: raw bytes read as a spec file, a soup of YAML and spec tokens, byte-level splices
of the shipped configs, and structured mutations of the configs (keys deleted or renamed, values
swapped for huge, negative, fractional, textual or nested ones, random layers inserted), plus
random expressions straight into the expression evaluator. Each example's work is bounded: at most
MAX_CALLS Python calls (twice the worst spec tests/test_limits.py knows, which stops at the 1,000,000-step
limit), counted, not timed (tests/workmeter.py), so a busy machine cannot fail it; and a CPU-time guard
turns a hang into a failure instead of a stuck CI job.

CI runs a bounded number of examples (the whole file takes well under 30 s on 2 cores). Run
longer locally with, e.g.::

    CONVCOST_FUZZ_EXAMPLES=20000 pytest tests/test_fuzz.py -p no:cacheprovider

(the number applies to each test). docs/limits.md records how long it has run without a finding.
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import CONFIGS
from hostile import run_pipeline
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from workmeter import measure

from convcost.errors import ConvcostError, Loc
from convcost.frontend.expr import evaluate
from convcost.frontend.spec import load_spec

EXAMPLES = int(os.environ.get("CONVCOST_FUZZ_EXAMPLES", "0"))
MAX_CALLS = 12_000_000  # per example: the worst of tests/test_limits.py's WORST_CASES takes 5.3 M


def fuzz_settings(ci_examples: int) -> settings:
    return settings(
        max_examples=EXAMPLES or ci_examples,
        deadline=None,  # work is bounded by bounded_work() instead: a deadline is wall time, which load stretches
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        print_blob=True,
    )


@contextmanager
def bounded_work() -> Iterator[None]:
    """Fail an example that makes more than MAX_CALLS calls (a hang fails by workmeter's CPU-time guard)."""
    with measure() as work:
        yield
    assert work.calls <= MAX_CALLS, f"{work.calls:,} calls for one example"


def must_not_crash(text: str) -> None:
    with bounded_work():
        try:
            run_pipeline(text)
        except ConvcostError as e:
            assert str(e).strip(), "an error message must say something"


# ---- raw input ------------------------------------------------------------------------------
_TMP = tempfile.TemporaryDirectory(prefix="convcost-fuzz-")


@fuzz_settings(300)
@given(st.binary(max_size=400))
def test_random_bytes_as_a_spec_file(data: bytes) -> None:
    path = Path(_TMP.name) / "spec.yaml"
    path.write_bytes(data)
    with bounded_work():
        try:
            text = path.read_text(encoding="utf-8")  # when it decodes, the whole pipeline runs
        except UnicodeDecodeError:
            with pytest.raises(ConvcostError, match=r"not valid UTF-8|UTF-16|UTF-32"):
                load_spec(path)
            return
        try:
            load_spec(path)
        except ConvcostError:
            return
    must_not_crash(text)


TOKENS = [
    "input", "layers", "models", "blocks", "vars", "params", "batch", "shape", "description", "budget",
    "conv", "linear", "bn", "relu", "maxpool", "avgpool", "global_avgpool", "flatten", "dropout", "dwsep",
    "pointwise", "depthwise", "seq", "concat", "add", "residual", "gate", "multiply", "body", "shortcut",
    "branches", "connect", "out", "kernel", "stride", "padding", "dilation", "groups", "bias", "p", "name",
    "repeat", "when", "first", "same", "valid", "true", "false", "~", "null", "x",
    ":", ": ", "-", "- ", ",", "[", "]", "{", "}", "\n", "\n  ", "\n    ", "  ", "#", "'", '"', "&a ", "*a", "!!str ",
    "!!int ", "<<: ", "---\n", "\t", "\\", "|", ">", "?", "%", "@", "`",
    "0", "1", "3", "8", "-1", "2.5", "1e3", "1e400", ".inf", ".nan", "10000", "1000000000", "99999999999999999999",
    "$", "$x", "$i", "$in_channels", "${", "${i * 2}", "${in_channels // 0}", "${2 ** 64}", "${round(1, -99)}",
    "${(-1) ** 0.5}", "${x * 99999}", "${make_divisible(x, 8)}", "${max()}", "${'a' + 'b'}", "${True + 1}",
    # issue #15: YAML 1.1 numbers, huge adaptive outputs, long names, the reserved top-level name
    "010", "1:30", "1e-3", "5E+1", "adaptive_avgpool", "out: [100000000, 1]", "[1000000000, 1000000000]",
    "name: input", "name: " + "n" * 150, "${max(l)}", "${l < l}",
    # issue 11: resampling and channel ops, the split structure
    "upsample", "scale", "size", "mode", "bilinear", "bicubic", "trilinear", "align_corners", "split", "sizes",
    "channel_shuffle", "pixel_shuffle", "pixel_unshuffle", "chunk", "index", "parts", "factor", "1e300", "0.3",
]


@fuzz_settings(400)
@given(st.lists(st.sampled_from(TOKENS), max_size=80).map("".join))
def test_token_soup(text: str) -> None:
    must_not_crash(text)


@fuzz_settings(300)
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    must_not_crash(text)


# ---- the shipped configs, spliced at the byte level --------------------------------------------------
CONFIG_TEXTS = {p.name: p.read_text(encoding="utf-8") for p in sorted(CONFIGS.glob("*.yaml"))}


@st.composite
def spliced_config(draw: st.DrawFn) -> str:
    text = CONFIG_TEXTS[draw(st.sampled_from(sorted(CONFIG_TEXTS)))]
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        end = draw(st.integers(at, min(len(text), at + 20)))
        insert = draw(st.one_of(st.just(""), st.sampled_from(TOKENS), st.text(max_size=5)))
        text = text[:at] + insert + text[end:]
    return text


@fuzz_settings(300)
@given(spliced_config())
def test_spliced_configs(text: str) -> None:
    must_not_crash(text)


# ---- structured mutations of the configs ------------------------------------------------------------
CONFIG_DOCS = {name: yaml.safe_load(text) for name, text in CONFIG_TEXTS.items()}

WORDS = sorted({t for t in TOKENS if t.isidentifier()} | {"kernal", "strides", "relu6", "silu", "hardswish", "bn1"})

scalars = st.one_of(
    st.integers(-3, 300),
    st.sampled_from([0, -1, 2**31, 10**9, 10**9 + 1, 10**15, 10**18, 10**18 + 1, 2**64, -(10**19)]),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.sampled_from([t for t in TOKENS if t.startswith("$")] + ["same", "valid", "", " ", "2%", "1e999", "x" * 2000]),
    st.sampled_from(["n" * 150, "input", "1e-3", [10**8, 1], [10**9, 10**9], list(range(1000))]).map(copy.deepcopy),  # #15
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(WORDS), inner, max_size=3),
    ),
    max_leaves=8,
)


def _slots(node: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key-or-index) in a loaded YAML tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            out.append((node, k))
            _slots(v, out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.append((node, i))
            _slots(v, out)
    return out


@st.composite
def mutated_config(draw: st.DrawFn) -> str:
    doc = copy.deepcopy(CONFIG_DOCS[draw(st.sampled_from(sorted(CONFIG_DOCS)))])
    for _ in range(draw(st.integers(1, 5))):
        slots = _slots(doc, [])
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        kind = draw(st.sampled_from(["delete", "replace", "replace", "rename", "insert", "duplicate", "wrap"]))
        if kind == "delete":
            del container[key]
        elif kind == "replace":
            container[key] = draw(values)
        elif kind == "rename" and isinstance(container, dict):
            container[draw(st.sampled_from(WORDS))] = container.pop(key)
        elif kind == "insert" and isinstance(container, list):
            args = draw(st.one_of(st.none(), st.dictionaries(st.sampled_from(WORDS), values, max_size=4)))
            container.insert(key, {draw(st.sampled_from(WORDS)): args})
        elif kind == "duplicate" and isinstance(container, list):
            container.insert(key, copy.deepcopy(container[key]))
        elif kind == "wrap":
            container[key] = draw(st.sampled_from([[container[key]], {draw(st.sampled_from(WORDS)): container[key]}]))
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


@fuzz_settings(500)
@given(mutated_config())
def test_mutated_configs(text: str) -> None:
    must_not_crash(text)


# ---- expressions ------------------------------------------------------------------------------------
ENV = {"i": 3, "in_channels": 64, "in_height": 7, "in_width": 7, "w": 1.5, "s": "ab", "t": True, "big": 10**15, "xs": [1, 2],
       "l": [1] * 20_000, "nested": [[1, 2], ["a", "b"]]}
atoms = st.one_of(
    st.sampled_from(sorted(ENV)),  # 'l' and 'nested': calls and comparisons over lists are charged by size
    st.integers(-(10**6), 10**6).map(str),
    st.sampled_from(["0", "0.0", "1e308", "10**15", "'x'", "''", "True", "False", "-0.5", "999999999999999999999"]),
)
BINOPS = ["+", "-", "*", "/", "//", "%", "**", "==", "<", ">=", "!=", " and ", " or ", " if True else "]
FUNCS = ["min", "max", "abs", "int", "round", "ceil", "floor", "make_divisible"]
expressions = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(BINOPS), inner).map(lambda t: f"({t[0]}{t[1]}{t[2]})"),
        st.tuples(st.sampled_from(["-", "+", "not "]), inner).map(lambda t: f"{t[0]}{t[1]}"),
        st.tuples(st.sampled_from(FUNCS), st.lists(inner, max_size=3)).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
    ),
    max_leaves=12,
)


@fuzz_settings(1500)
@given(expressions)
def test_expressions(source: str) -> None:
    charged: list[int] = []
    with bounded_work():
        try:
            value = evaluate(source, ENV, Loc("e.yaml", 1, 1), charged.append)
        except ConvcostError:
            return
    assert all(steps > 0 for steps in charged)
    assert isinstance(value, (bool, int, float, str, list)), f"{source} -> {type(value).__name__}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        assert abs(value) <= 10**15 or value != value  # bounded (NaN aside)
