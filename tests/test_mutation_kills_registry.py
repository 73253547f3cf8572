"""The registry's factories called by the tests themselves (issue 19's mutation sample, docs/testing.md).

``op``, ``arg``, ``pair`` and the pool's ``_resolver`` run while convcost is imported, before mutmut can switch a
mutant on, so their mutants survive every test that only uses the ops they registered. Called here, at test time,
each mutant is the one that runs: ``op`` must copy every attribute of its class into the rule (or its documented
default), ``arg`` default to a compared argument, ``pair`` convert and describe [h, w], the pool resolve its
arguments per spatial dim. ``_op_sources`` is read once per process; here it is read again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from convcost.ops import registry
from convcost.ops.counting import Counting
from convcost.ops.pool import PoolArgs, _resolver
from convcost.ops.receptive import POINTWISE
from convcost.ops.registry import (
    ArgError,
    NoArgs,
    Saves,
    ShapeError,
    arg,
    converter_schema,
    no_extra,
    op,
    pair,
    pos_int,
    unregister,
)
from convcost.ops.shapes import Tokens


def _shape(a: Any, inputs: Any) -> Any:
    return inputs[0]


def _cost(a: Any, inputs: Any, out: Any, batch: int) -> Any:
    return None


def _build(node: Any) -> Any:
    return None


def _backward(*args: Any) -> Any:
    return None


def _fn(*args: Any) -> Any:
    return None


COUNTING = Counting("aten::toy", "nn.Toy", "toy_category")


@pytest.fixture
def toy() -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        unregister(name)


def test_op_copies_every_attribute_of_its_class(toy: list[str]) -> None:
    class ToyArgs:
        pass

    class Toy:
        """A toy op.
        More   about
        it."""

        shape = staticmethod(_shape)
        cost = staticmethod(_cost)
        build = staticmethod(_build)
        saves = Saves.INPUTS
        counting = COUNTING
        backward = staticmethod(_backward)
        rf = POINTWISE
        saves_frozen = Saves.NOTHING
        saved_extra = staticmethod(_fn)
        unread_buffers = 3
        parts = staticmethod(_fn)
        resolve = staticmethod(_fn)
        imports = ("Toy1d", "Toy2d")
        from_torch = staticmethod(_fn)
        spellings = ("toy_spelling",)
        tensors = staticmethod(_fn)
        lowered = staticmethod(_fn)
        inputs = (2, 5)

    assert op("toy_mutation_op", category="math", args=ToyArgs, aliases=("toy_mutation_alias",))(Toy) is Toy
    toy.append("toy_mutation_op")
    rule = registry.REGISTRY["toy_mutation_op"]
    assert (rule.name, rule.args, rule.category, rule.aliases) == ("toy_mutation_op", ToyArgs, "math",
                                                                   ("toy_mutation_alias",))
    assert (rule.summary, rule.notes) == ("A toy op.", "More about it.")  # the docstring's first line; the rest, joined
    assert (rule.shape, rule.cost, rule.build, rule.backward) == (_shape, _cost, _build, _backward)
    assert (rule.saves, rule.counting, rule.rf, rule.saves_frozen) == (Saves.INPUTS, COUNTING, POINTWISE, Saves.NOTHING)
    assert (rule.saved_extra, rule.unread_buffers, rule.parts, rule.resolve) == (_fn, 3, _fn, _fn)
    assert (rule.imports, rule.from_torch, rule.spellings) == (("Toy1d", "Toy2d"), _fn, ("toy_spelling",))
    assert (rule.tensors, rule.lowered, rule.inputs) == (_fn, _fn, (2, 5))
    assert registry.lookup("toy_mutation_alias") is rule and registry.SPELLINGS["toy_spelling"] == "toy_mutation_op"


def test_op_gives_the_documented_defaults(toy: list[str]) -> None:
    class Bare:
        shape = staticmethod(_shape)
        cost = staticmethod(_cost)
        build = staticmethod(_build)
        saves = Saves.NOTHING
        counting = COUNTING
        backward = staticmethod(_backward)
        rf = POINTWISE

    op("toy_mutation_bare", category="identity")(Bare)
    toy.append("toy_mutation_bare")
    rule = registry.REGISTRY["toy_mutation_bare"]
    assert (rule.args, rule.aliases, rule.summary, rule.notes) == (NoArgs, (), "", "")
    assert (rule.saves_frozen, rule.saved_extra, rule.unread_buffers, rule.parts, rule.resolve) == (None, no_extra, 0,
                                                                                                   None, None)
    assert (rule.imports, rule.from_torch, rule.spellings, rule.tensors, rule.lowered, rule.inputs) == ((), None, (), None,
                                                                                                       None, (1, 1))


def test_op_refuses_a_class_without_its_required_parts() -> None:
    class Half:
        shape = staticmethod(_shape)
        cost = staticmethod(_cost)
        saves = Saves.NOTHING

    with pytest.raises(ValueError, match=r"^op 'toy_mutation_half': its definition lacks build, counting, backward, rf$"):
        op("toy_mutation_half", category="math")(Half)
    assert "toy_mutation_half" not in dict.keys(registry.REGISTRY)


def test_arg_is_compared_unless_it_says_otherwise() -> None:
    assert arg(pos_int) == {"convert": pos_int, "doc": "", "compared": True}
    assert arg(pos_int, "a doc") == {"convert": pos_int, "doc": "a doc", "compared": True}
    assert arg(pos_int, "a doc", compared=False) == {"convert": pos_int, "doc": "a doc", "compared": False}


def test_pair_takes_one_number_or_two() -> None:
    conv = pair(pos_int)
    assert conv(3) == (3, 3)
    assert conv([3, 4]) == (3, 4)
    assert conv((5, 2)) == (5, 2)
    for bad, n in (([1, 2, 3], 3), ([7], 1)):
        with pytest.raises(ArgError) as e:
            conv(bad)
        assert str(e.value) == f"must be one number or a list [h, w], got a list of {n}"
    with pytest.raises(ArgError, match=r"^must be a positive integer, got 0$"):
        conv([3, 0])  # each value through the converter
    with pytest.raises(ArgError, match=r"^must be a positive integer, got 0$"):
        conv([0, 3])
    one = {"type": "integer", "minimum": 1, "maximum": 1_000_000_000}  # pos_int's: 1 to MAX_DIM
    assert converter_schema(conv) == {"anyOf": [one, {"type": "array", "items": one, "minItems": 2, "maxItems": 2}]}


def test_the_op_sources_are_read_again_when_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_sources", None)
    sources = registry._op_sources()
    assert {"conv", "matmul", "pool", "registry", "views"} <= set(sources.modules)
    assert not any(m.startswith("_") for m in sources.modules)
    assert list(sources.modules) == sorted(sources.modules)
    conv = sources.modules.index("conv")
    assert b'@op("conv"' in sources.text[sources.starts[conv]:sources.starts[conv + 1]]
    assert sources.starts[0] == 0 and list(sources.starts) == sorted(sources.starts)


# ---- the pools' arguments fitted to the input's spatial dims ---------------------------------------------------
@pytest.mark.parametrize(("args", "shape", "kernel", "stride", "padding"), [
    (PoolArgs(3), (4, 9, 9), (3, 3), (3, 3), (0, 0)),  # the stride defaults to the kernel
    (PoolArgs(3, 2, 1), (4, 9, 9), (3, 3), (2, 2), (1, 1)),
    (PoolArgs((3, 2), (1, 2), (1, 0)), (4, 9, 9), (3, 2), (1, 2), (1, 0)),
    (PoolArgs(2, 1), (4, 9), (2,), (1,), (0,)),  # C×L
    (PoolArgs(2, padding=1), (4, 5, 6, 7), (2, 2, 2), (2, 2, 2), (1, 1, 1)),  # C×D×H×W
])
def test_a_pool_resolves_one_value_per_spatial_dim(args: PoolArgs, shape: tuple, kernel: tuple, stride: tuple,
                                                    padding: tuple) -> None:
    got = _resolver("maxpool")(args, (shape,))
    assert (got.kernel, got.stride, got.padding, got.ceil_mode) == (kernel, stride, padding, False)


@pytest.mark.parametrize(("kind", "args", "shape", "message", "arg_name"), [
    ("maxpool", PoolArgs(3), Tokens(4, 9), "maxpool needs a C×H×W map, got tokens 4 tok×9; turn them into a map with "
                                           "'to_map' first", None),
    ("avgpool", PoolArgs(3), (4,), "avgpool needs a C×L, C×H×W or C×D×H×W input, got 4", None),
    ("maxpool", PoolArgs((3, 3, 3)), (4, 9, 9), "kernel has 3 values but the input 4×9×9 has 2 spatial dims", "kernel"),
    ("maxpool", PoolArgs(3, (2, 2, 2)), (4, 9, 9), "stride has 3 values but the input 4×9×9 has 2 spatial dims",
     "stride"),
    ("maxpool", PoolArgs(3, 2, (1,)), (4, 9, 9), "padding has 1 value but the input 4×9×9 has 2 spatial dims", "padding"),
])
def test_a_pool_refuses_arguments_that_do_not_fit(kind: str, args: PoolArgs, shape: tuple, message: str,
                                                   arg_name: str | None) -> None:
    with pytest.raises(ShapeError) as e:
        _resolver(kind)(args, (shape,))
    assert (e.value.message, e.value.arg) == (message, arg_name)
