"""convcost/ops/registry.py: the JSON Schema inferred for a converter that declares none, `optional`'s schema, the
arguments `verify --reference` compares, the op modules found when their sources cannot be read, and the registry
tables' dict methods.

Written for issue 19's mutation run (docs/testing.md): ``inferred_schema`` had no test in mutmut's selection, and
mutants of ``optional``'s schema ('XXnullXX'), ``compared_args``' default (an argument without a 'compared' flag
left out) and ``module_names``' fallback (private modules listed) survived. Each expectation is derived by hand
from the probes a converter is tried with (registry._PROBES: integers -1, 0, 1, 2, 64; numbers 0.5, 1.5, -0.5;
booleans; null; strings; lists) or read from the file system.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import pytest

from convcost.ops import registry
from convcost.ops.registry import (
    MAX_DIM,
    REGISTRY,
    ArgError,
    arg,
    compared_args,
    inferred_schema,
    module_names,
    optional,
    pos_int,
)


def only(kind: type, error: type[Exception] = ArgError, least: int | None = None) -> Any:
    """A converter that takes values of exactly this type (bool is not an int here), raising ``error`` otherwise."""

    def convert(value: Any) -> Any:
        if type(value) is not kind or (least is not None and value < least):
            raise error(f"not a {kind.__name__}")
        return value

    return convert


ANY = {"anyOf": [{"type": "integer"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}, {"type": "string"},
                 {"type": "array"}]}  # every probe taken: -1 among them, so no minimum


@pytest.mark.parametrize(("convert", "schema"), [
    (lambda v: v, ANY),
    (only(int), {"type": "integer"}),  # takes -1: no lower bound
    (only(int, least=0), {"type": "integer", "minimum": 0}),  # refuses -1 only
    (only(int, ValueError, least=1), {"type": "integer", "minimum": 1}),  # refuses -1 and 0
    (only(int, TypeError, least=2), {"type": "integer", "minimum": 2}),
    (only(float), {"type": "number"}),  # 0.5, 1.5, -0.5 (the integers are ints)
    (only(bool, ValueError), {"type": "boolean"}),
    (only(type(None)), {"type": "null"}),
    (only(str, TypeError), {"type": "string"}),
    (only(list), {"type": "array"}),
    (lambda v: None if v is None else only(int, least=0)(v),
     {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]}),
    (lambda v: only(str)(v) if isinstance(v, str) else only(list)(v), {"anyOf": [{"type": "string"}, {"type": "array"}]}),
    (only(complex), {}),  # no probe taken: any value, never a narrower schema than the converter
])
def test_an_undeclared_converters_schema_is_what_it_takes(convert: Any, schema: dict) -> None:
    assert inferred_schema(convert) == schema


def test_a_converter_that_fails_otherwise_is_not_taken_for_refusing() -> None:
    def broken(value: Any) -> Any:
        raise KeyError(value)  # not a refusal (ArgError, ValueError, TypeError): a bug, let through

    with pytest.raises(KeyError):
        inferred_schema(broken)


def test_optional_takes_null_beside_its_converters_values() -> None:
    maybe = optional(pos_int)
    assert maybe(None) is None and maybe(3) == 3
    with pytest.raises(ArgError):
        maybe(0)
    assert maybe.schema() == {"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_DIM}, {"type": "null"}]}
    assert optional(only(int, least=0)).schema() == {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]}
    assert optional(only(complex)).schema() == {}  # its converter's schema says nothing: neither does it


# ---- the arguments `verify --reference` compares ---------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Toy:
    kernel: int = dataclasses.field(default=3, metadata=arg(pos_int, "the kernel"))
    momentum: float = dataclasses.field(default=0.1, metadata=arg(float, "not computed with", compared=False))
    heads: int = dataclasses.field(default=4, metadata={"convert": pos_int, "doc": "declared without arg()"})


@dataclasses.dataclass(frozen=True)
class Spelled:
    parts: int = 2

    def compared(self) -> list[tuple[str, Any]]:
        return [("sizes", (16, 16))]


def test_the_compared_arguments_are_those_not_marked_otherwise() -> None:
    # momentum is marked compared=False; heads has no mark: compared, as arg()'s default is
    assert compared_args(Toy(5, 0.9, 8)) == (("kernel", 5), ("heads", 8))
    assert compared_args(Spelled()) == (("sizes", (16, 16)),)  # a record that says them itself
    assert arg(pos_int) == {"convert": pos_int, "doc": "", "compared": True}


# ---- the op modules --------------------------------------------------------------------------------------------
def _op_files() -> list[str]:
    here = os.path.dirname(os.path.abspath(registry.__file__))
    return sorted(f[:-3] for f in os.listdir(here) if f.endswith(".py") and not f.startswith("_"))


def test_the_op_modules_are_the_public_python_files(monkeypatch: pytest.MonkeyPatch) -> None:
    assert module_names() == _op_files()
    assert "registry" in _op_files() and "__init__" not in _op_files()
    # a build without readable sources: pkgutil lists the modules, private ones still left out
    monkeypatch.setattr(registry, "_op_sources", lambda: registry._Sources((), (), b""))
    assert module_names() == _op_files()


def test_without_sources_a_private_module_is_not_an_op_module(monkeypatch: pytest.MonkeyPatch) -> None:
    import pkgutil

    found = [pkgutil.ModuleInfo(None, name, False) for name in ("pool", "_private", "conv", "__main__")]  # type: ignore[arg-type]
    monkeypatch.setattr(registry, "_op_sources", lambda: registry._Sources((), (), b""))
    monkeypatch.setattr(pkgutil, "iter_modules", lambda paths: iter(found))
    assert module_names() == ["conv", "pool"]  # sorted, the two private ones left out


def test_the_registry_tables_behave_as_dicts_of_every_op() -> None:
    everything = REGISTRY.copy()
    assert type(everything) is dict and everything == dict(REGISTRY.items())
    assert sorted(REGISTRY.keys()) == sorted(everything) == sorted(REGISTRY)
    assert len(REGISTRY) == len(everything) and list(REGISTRY.values()) == list(everything.values())
    assert all(everything[name].name == name for name in everything)
    assert "conv" in REGISTRY and REGISTRY["conv"].name == "conv" and REGISTRY.get("conv") is everything["conv"]
    assert REGISTRY.get("no_such_op") is None and REGISTRY.get("no_such_op", 7) == 7 and "no_such_op" not in REGISTRY
    with pytest.raises(KeyError) as e:
        REGISTRY["no_such_op"]
    assert e.value.args == ("no_such_op",)
    assert registry.all_rules() == [everything[name] for name in sorted(everything)]


def test_per_dim_takes_one_number_or_one_per_spatial_dim() -> None:
    from convcost.ops.registry import per_dim, spec_dims

    conv = per_dim(pos_int)  # made here: a factory's mutants run only when it is called
    assert conv(3) == 3 and conv([3]) == (3,) and conv((3, 4)) == (3, 4) and conv([1, 2, 3]) == (1, 2, 3)
    with pytest.raises(ArgError) as e:
        conv([])
    assert str(e.value) == "must be one number or a list with one per spatial dim, got an empty list"
    with pytest.raises(ArgError):
        conv([3, 0])  # each value through the converter
    one = {"type": "integer", "minimum": 1, "maximum": MAX_DIM}
    assert conv.schema() == {"anyOf": [one, {"type": "array", "items": one, "minItems": 1, "maxItems": 3}]}
    # torch's per-dim tuples as a spec writes them: one number when every dim agrees
    assert spec_dims((5,)) == 5 and spec_dims((3, 3)) == 3 and spec_dims([2.0, 2.0]) == 2
    assert spec_dims((3, 4)) == [3, 4] and spec_dims(7) == 7 and spec_dims(()) == []


def test_unreadable_sources_make_an_empty_table(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: str) -> list[str]:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(registry, "_sources", None)
    monkeypatch.setattr(registry.os, "listdir", refuse)
    assert registry._op_sources() == registry._Sources((), (), b"")
    assert registry.defining_modules("conv") == []  # nothing to search: every name then loads every module
