"""Facts every op definition must keep, checked over a layer of every registered op (tests/op_catalogue.py).

Issue 19's mutation samples (docs/testing.md) found the same kinds of unguarded code in op after op: a counter's
prediction helper that only a rare branch reaches (CUDA, a frozen layer, a head width of its own) and that could crash
or return a reason of None unseen; a backward whose weight gradient stayed non-zero for frozen weights; a part of a
layer's table named by an op that does not exist; a refusal pointing at an argument the op does not have; a receptive
field without its reason. Instead of one test per mutant, each test here states one such fact for every op, in every
context the counters are predicted in, so a new op or a new branch is held to it too. Numbers are never taken from the
code under test: the facts are relations (a prediction is the sum of its parts; a frozen layer computes no weight
gradient; a part's op is a registered op).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Any

import pytest
from conftest import analysis_of
from op_catalogue import all_specs

from convcost.cost import Backward, Cost
from convcost.costmodel.analysis import Analysis
from convcost.ops.counting import BackwardCounted, Counted, Prediction, counters_run_on, counters_with_grad
from convcost.ops.grad import Need
from convcost.ops.receptive import RF, Taps
from convcost.ops.registry import ALIASES, REGISTRY, ShapeError, arg_fields
from convcost.ops.shapes import TokenGrid, Tokens

# ops no spec can hold a layer of: `convcost import`'s placeholders for a module it cannot express or never ran
NOT_WRITTEN = {"unsupported", "unused"}
WHERE = ("real", "meta", "cuda")  # where verify predicts the counters (ops/counting.py RUN_ON)


@functools.cache
def analyses() -> dict[str, Analysis]:
    return {name: analysis_of(text) for name, text in all_specs().items()}


def layers() -> list[tuple[str, Any, Cost, int]]:
    """(id, node, cost, batch) of every layer of the catalogue."""
    return [(f"{name}:{lc.node.name}", lc.node, lc.cost, a.graph.batch)
            for name, a in analyses().items() for lc in a.layers]


def test_the_catalogue_holds_every_registered_op() -> None:
    seen = {node.op for _, node, _, _ in layers()}
    assert set(REGISTRY) - NOT_WRITTEN - seen == set()


def _check(p: Any, what: str) -> int:
    """A prediction is a Prediction whose value is its parts' sum (None: unseen, no parts, and a reason why)."""
    assert isinstance(p, Prediction), what
    assert isinstance(p.reason, str), what
    if p.value is None:
        assert p.parts == () and p.reason, what
        return 0
    assert isinstance(p.value, int) and p.value >= 0, what
    assert all(isinstance(cat, str) and cat and isinstance(n, int) and n >= 0 for cat, n in p.parts), what
    assert p.value == sum(n for _, n in p.parts), what
    return 1


def _counted_fields(counting: Any) -> dict[str, Counted]:
    return {k: v for k, v in counting._asdict().items() if isinstance(v, Counted)}


def test_every_counters_prediction_of_every_layer_is_well_formed_wherever_it_runs() -> None:
    """Each counter's prediction of every layer, on a real CPU, on meta and on CUDA, with gradients on and off: a
    Prediction summing its parts, a reason string (shown by --explain), never a crash. The rarely taken branches
    (CUDA's kernels, the fused attention paths off the meta device) are reached here and nowhere else."""
    checked = 0
    for ident, node, cost, batch in layers():
        for key, counted in _counted_fields(node.rule.counting).items():
            assert callable(counted.predict), f"{ident} {key}"
            assert isinstance(counted.why, str) and isinstance(counted.part, str), f"{ident} {key}"
            for where in WHERE:
                for grad in (False, True):
                    with counters_run_on(where), counters_with_grad(grad):
                        checked += _check(counted.predict(node, cost, batch), f"{ident} {key} on {where}, grad {grad}")
    assert checked > 4_000  # proof that it ran: every layer, every counter it is seen by, six contexts


def _needs(node: Any) -> dict[str, Need]:
    k = len(node.in_shapes)
    return {"both": Need((True,) * k, True), "inputs": Need((True,) * k, False),
            "weights": Need((False,) * k, True), "nothing": Need((False,) * k, False)}


def _backward(node: Any, batch: int, need: Need) -> Backward:
    return node.rule.backward(node.args, node.in_shapes, node.shape, batch, need)


def test_every_backward_computes_only_the_gradients_asked_for() -> None:
    """A layer's backward asked for nothing costs nothing; with its weights frozen it computes no weight gradient; with
    no input needing one, no input gradient; asked for both it does at least what either alone needs."""
    for ident, node, _, batch in layers():
        b = {k: _backward(node, batch, need) for k, need in _needs(node).items()}
        assert all(isinstance(v, Backward) for v in b.values()), ident
        assert b["nothing"] == Backward(), ident
        assert (b["inputs"].weight_macs, b["inputs"].weight_ops) == (0, 0), ident
        assert (b["weights"].input_macs, b["weights"].input_ops) == (0, 0), ident
        assert b["both"].accumulate_ops == b["inputs"].accumulate_ops == b["weights"].accumulate_ops == 0, ident
        for part in ("inputs", "weights"):
            assert b["both"].macs >= b[part].macs and b["both"].flops >= b[part].flops, f"{ident} {part}"
        if node.rule.detached:  # its output carries no gradient back to its input
            assert b["inputs"] == Backward(), ident


def test_every_backward_prediction_is_well_formed_and_sees_nothing_of_no_gradient() -> None:
    """FlopCounterMode's backward prediction for every layer and every choice of gradients, wherever it runs: well
    formed; a backward that computes no MAC shows no FLOP (FlopCounterMode counts matmuls and convolutions only)."""
    checked = 0
    for ident, node, _, batch in layers():
        counted = node.rule.counting.flop_counter_backward
        assert isinstance(counted, BackwardCounted) and callable(counted.predict) and isinstance(counted.why, str), ident
        for k, need in _needs(node).items():
            grads = _backward(node, batch, need)
            for where in WHERE:
                with counters_run_on(where):
                    p = counted.predict(node, grads, batch)
                checked += _check(p, f"{ident} {k} on {where}")
                if not grads.macs:
                    assert not p.value, f"{ident} {k} on {where}"
    assert checked > 500


def _op_names() -> set[str]:
    return set(REGISTRY) | set(ALIASES)


def test_every_part_is_a_registered_op_and_the_parts_add_up_to_the_layer() -> None:
    """A layer shown in parts (attention's qkv, q·kᵀ, softmax...): each row names a registered op in the op column,
    has a name of its own (lower case, as the spec's names and torch's attributes), and the rows add up to the layer."""
    with_parts = 0
    for ident, node, cost, batch in layers():
        if node.rule.parts is None:
            continue
        with_parts += 1
        parts = node.rule.parts(node.args, node.in_shapes, node.shape, batch)
        names = [p.name for p in parts]
        assert all(isinstance(n, str) and n and n == n.lower() for n in names), f"{ident} {names}"
        assert len(set(names)) == len(names), f"{ident} {names}"
        # the op column: an op name as a spec writes them (a registered op, or the step it is: attention's normalize)
        assert all(re.fullmatch(r"[a-z][a-z0-9_]*", p.op) for p in parts), f"{ident} {[p.op for p in parts]}"
        assert {p.op for p in parts} & _op_names(), f"{ident} {[p.op for p in parts]}"
        assert sum((p.cost for p in parts), Cost()) == cost, ident
    assert with_parts >= 20


def _rf_ok(rf: Any, ident: str) -> None:
    assert isinstance(rf, RF) and isinstance(rf.why, str), ident
    assert rf.kind in ("pointwise", "global", "taps", "regroup", "pairs", "unknown", "none"), ident
    if rf.kind in ("global", "regroup", "pairs", "unknown", "none"):
        assert rf.why, f"{ident}: a {rf.kind} field says why"
    if rf.kind == "taps":
        assert rf.dims and all(isinstance(t, Taps) for t in rf.dims), ident


def test_every_receptive_field_is_well_formed() -> None:
    for ident, node, _, _ in layers():
        _rf_ok(node.rule.receptive(node), ident)


# ---- refusals: an input of the wrong kind ----------------------------------------------------------------------------
def _wrong_inputs(node: Any) -> list[tuple[Any, ...]]:
    """Inputs of other kinds than the layer's: a token sequence, a token grid, a map, a flat vector, a 3-D volume."""
    kinds: list[Any] = [Tokens(6, 8), TokenGrid(4, 6, 8), (8, 6, 6), (8,), (8, 2, 4, 4), TokenGrid(2, 4, 4, 8)]
    k = len(node.in_shapes)
    return [(s,) * k for s in kinds if s != node.in_shapes[0]]


def test_every_refusal_points_at_an_argument_the_op_has() -> None:
    """Every op given inputs of every other kind: a refusal is a ShapeError whose message is a sentence and whose
    argument, if any, is one of the op's own (the spec's line and column are found by it)."""
    refused = 0
    for ident, node, _, _ in layers():
        fields = set(arg_fields(node.rule.args))
        for inputs in _wrong_inputs(node):
            try:
                args = node.rule.resolve(node.args, inputs) if node.rule.resolve else node.args
                node.rule.shape(args, inputs)
            except ShapeError as e:
                refused += 1
                assert isinstance(e.message, str) and " " in e.message, f"{ident} {inputs}: {e.message!r}"
                assert e.arg is None or e.arg in fields, f"{ident} {inputs}: {e.arg!r} not in {sorted(fields)}"
            except (ValueError, ZeroDivisionError, IndexError, TypeError, KeyError, AttributeError) as e:
                pytest.fail(f"{ident} {inputs}: {type(e).__name__}: {e}")
    assert refused > 200


# The ops that take one kind of input only, and the message that names them when given another (what a user who
# wrote the op reads first): map ops refuse tokens, token ops refuse maps, grid ops refuse sequences.
MAP_ONLY = ("conv", "conv_transpose", "maxpool", "avgpool", "adaptive_avgpool", "global_avgpool", "upsample",
            "pixel_shuffle", "pixel_unshuffle", "channel_shuffle", "batchnorm", "groupnorm", "instancenorm", "chunk",
            "patch_embed", "to_tokens")
TOKENS_ONLY = ("attention", "class_token", "pos_embed", "token_pool", "pooling_attention", "spacetime_embed", "grid_pool")
GRID_ONLY = ("window_attention", "window_attention_3d", "window_attention_v2", "patch_merging", "patch_merging_v2")


def _kind_refusals(op: str, shape: Any) -> list[str]:
    """The messages of the refusals of every catalogue layer of ``op`` given inputs of ``shape``."""
    messages = []
    for _, node, _, _ in layers():
        if node.op != op:
            continue
        inputs = (shape,) * len(node.in_shapes)
        for resolved in (False, True):  # the shape rule alone (its args already fitted), and as analyze runs it
            try:
                args = node.rule.resolve(node.args, inputs) if resolved and node.rule.resolve else node.args
                node.rule.shape(args, inputs)
            except ShapeError as e:
                messages.append(e.message)
    return messages


@pytest.mark.parametrize("op", MAP_ONLY)
def test_a_map_op_given_tokens_says_which_op(op: str) -> None:
    messages = [m for m in _kind_refusals(op, Tokens(6, 8)) if "tokens" in m]  # (a chunk's dim may refuse otherwise)
    assert messages and all(m.startswith(f"{op} needs ") for m in messages), messages


@pytest.mark.parametrize("op", TOKENS_ONLY + GRID_ONLY)
def test_a_token_op_given_a_map_says_which_op(op: str) -> None:
    messages = [m for m in _kind_refusals(op, (8, 6, 6)) if "map" in m]
    assert messages and all(m.startswith(f"{op} needs ") for m in messages), messages


@pytest.mark.parametrize("op", ("attention", "class_token", "pooling_attention", "spacetime_embed"))
def test_a_sequence_op_given_a_grid_says_which_op(op: str) -> None:
    messages = [m for m in _kind_refusals(op, TokenGrid(4, 6, 8)) if "grid" in m]
    assert messages and all(m.startswith(f"{op} needs a token sequence") for m in messages), messages


@pytest.mark.parametrize("op", GRID_ONLY)
def test_a_grid_op_given_a_sequence_says_which_op(op: str) -> None:
    messages = [m for m in _kind_refusals(op, Tokens(24, 8)) if "sequence" in m]
    assert messages and all(m.startswith(f"{op} needs ") for m in messages), messages


def test_the_catalogue_layers_are_what_the_specs_say() -> None:
    """A guard on the catalogue itself: its layers hold the arguments written (a spec that silently lost one would
    leave a branch unchecked)."""
    vit = {lc.node.name: lc.node.args for lc in analyses()["vit"].layers}
    heads = [(a.heads, a.head_dim, a.qkv_bias, a.bias, a.sdpa) for a in vit.values() if hasattr(a, "sdpa")]
    assert heads == [(2, None, True, True, False), (3, None, True, True, False), (3, 5, True, True, False),
                     (2, None, False, True, False), (4, None, False, False, False), (2, None, True, True, True),
                     (3, 4, False, True, True)]
    assert dataclasses.is_dataclass(next(iter(vit.values())))
