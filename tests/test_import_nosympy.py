"""importer/nosympy.py: `convcost import` traces without loading torch.fx.experimental.symbolic_shapes and sympy (~0.8 s
of CPU; benchmarks/bench_import_models.py), with the same trace, and leaves the process as it found it. Each check runs
in a fresh Python: this test session may have loaded the real module already, where the stand-in steps aside."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent


def run_script(script: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# models whose meta kernels ask the stand-in many questions: convolutions, batch and layer norm, pooling, attention,
# interpolation, chunk/cat, view/permute/transpose/reshape, adds and muls with broadcasting
MODELS = {  # name -> (factory, input): the inputs tests/test_import.py imports them at
    "resnet50": ("reference_factories.resnet50()", (3, 64, 64)),
    "small_cnn": ("import_factories.small_cnn()", (3, 32, 32)),
    "unet": ("import_factories.unet()", (3, 64, 64)),
    "mean_pooled_vit": ("import_factories.mean_pooled_vit()", (3, 16, 16)),
    "small_convnext": ("import_factories.small_convnext()", (3, 32, 32)),
    "c2f": ("import_factories.c2f()", (3, 32, 32)),
    "shuffled": ("import_factories.shuffled()", (3, 8, 8)),
}

SAME_TRACE = r"""
MODELS = MODELS_GIVEN
import json, sys
import torch
import import_factories, reference_factories
from convcost.importer import nosympy
from convcost.importer.trace import import_model

NAME = nosympy.NAME
def layers(imported):
    return [(l.key, l.op, sorted((k, repr(v)) for k, v in l.args.items()), list(l.inputs)) for l in imported.layers]

from convcost.importer.nodynamo import without_dynamo
with torch.device("meta"), without_dynamo(), nosympy.without_sympy():  # built as import_target builds them
    models = {name: (eval(make).eval(), shape) for name, (make, shape) in MODELS.items()}
first, asked, seen = {}, {}, []
installed = nosympy._StandIn.install
def install(self):  # each stand-in put in place: its answers are read afterwards
    seen.append(self)
    installed(self)
nosympy._StandIn.install = install
for name, (model, shape) in models.items():
    before = len(seen)
    first[name] = layers(import_model(model, shape, False, "meta"))
    asked[name] = sum(sum(s.asked.values()) for s in seen[before:])
out = {"loaded": [m for m in (NAME, "sympy") if m in sys.modules], "asked": asked,
       "names": sorted({n for s in seen for n in s.asked})}
import torch.fx.experimental.symbolic_shapes  # the real one: the stand-in steps aside
second = {name: layers(import_model(model, shape, False, "meta")) for name, (model, shape) in models.items()}
out["same"] = {name: first[name] == second[name] and len(first[name]) > 0 for name in models}
print(json.dumps(out))
""".replace("MODELS_GIVEN", repr(MODELS))


def test_the_trace_is_the_same_without_sympy() -> None:
    out = run_script(SAME_TRACE)
    assert out["loaded"] == []  # neither the module nor sympy was loaded by any of the traces
    assert all(n > 0 for n in out["asked"].values()), out["asked"]  # type: ignore[union-attr]  # each was asked
    assert out["same"] == {name: True for name in MODELS}


# each plain answer against the real function, value by value: equal (value and type), or the real one refuses and the
# stand-in asked it (ASK)
PLAIN_VS_REAL = r"""
import enum, itertools, json
import torch
import torch.fx.experimental.symbolic_shapes as real
from convcost.importer.nosympy import ASK, PLAIN

class Small(enum.IntEnum):
    ONE = 1

SCALARS = [True, False, 0, 1, 2, -3, 1.0, 0.0, None, "1", Small.ONE, torch.tensor(1), torch.tensor(True)]
SEQUENCES = [[], (), [1, 2], (1, 2), [1, 3], [1, 2, 3], [[1, 2], [3]], ([1, 2], (3,)), [True, 1], [1, "2"], [1.0, 2]]
checked, asked = 0, 0

def outcome(fn, args):
    try:
        value = fn(*args)
    except Exception as e:
        return ("raises", type(e).__name__)
    return ("value", type(value).__name__, repr(value))

bad = []
for name, plain in PLAIN.items():
    if name in ("sym_eq",):
        cases = [(x, y) for x in SCALARS + SEQUENCES for y in SCALARS + SEQUENCES]
    elif name in ("sym_and", "sym_or"):
        cases = [c for k in (1, 2, 3) for c in itertools.product(SCALARS[:8], repeat=k)]
    else:
        cases = [(x,) for x in SCALARS + SEQUENCES]
    for args in cases:
        mine = plain(*args)
        if mine is ASK:
            asked += 1
            continue
        checked += 1
        theirs = outcome(getattr(real, name), args)
        if theirs != ("value", type(mine).__name__, repr(mine)):
            bad.append([name, repr(args), repr(mine), theirs])
print(json.dumps({"bad": bad[:20], "checked": checked, "asked": asked}))
"""


def test_each_plain_answer_is_the_real_functions() -> None:
    out = run_script(PLAIN_VS_REAL)
    assert out["bad"] == []
    assert out["checked"] >= 150 and out["asked"] >= 1000, out  # both branches ran, many times (192 and 1816 today)


# a symbolic value, another name, the process afterwards
AFTER = r"""
import json, sys
import torch
from convcost.importer import nosympy
from convcost.importer.nosympy import NAME, without_sympy

out = {}
try:
    with without_sympy():
        held = sys.modules[NAME]
        out["inside"] = [type(held).__name__, held.guard_or_false(1 != 2), held.sym_eq([1, 2], (1, 2))]
        raise KeyError("the user's forward failed")
except KeyError:
    pass
import torch.fx.experimental as experimental
out["after_error"] = [NAME in sys.modules, "symbolic_shapes" in experimental.__dict__, "sympy" in sys.modules]
with without_sympy():
    from torch.fx.experimental.symbolic_shapes import ShapeEnv  # another name: the real module, in its place
    out["other_name"] = [type(sys.modules[NAME]).__name__, "sympy" in sys.modules]
symbolic = ShapeEnv().create_unbacked_symint()
out["held_after"] = [held.guard_or_false(symbolic == 3), held.guard_or_true(symbolic == 3), held.guard_or_false(True)]
with without_sympy():  # the real module loaded: no stand-in
    out["loaded_already"] = type(sys.modules[NAME]).__name__
sympy_held = nosympy._SympyStandIn()
out["basic_inside"] = sympy_held.Basic.__name__  # no sympy expression exists yet: an instance of nothing
sympy_held.active = False
import sympy
out["basic_after"] = [sympy_held.Basic is sympy.Basic, isinstance(sympy.Symbol("x"), sympy_held.Basic)]
stand_in = nosympy._StandIn()  # a symbolic value asked of a stand-in still in place: the real function answers
out["symbolic"] = [stand_in.guard_or_true(symbolic == 3), stand_in.real is not None]
print(json.dumps(out))
"""


def test_symbolic_values_and_other_names_go_to_the_real_module() -> None:
    out = run_script(AFTER)
    assert out["inside"] == ["_StandIn", True, True]
    assert out["after_error"] == [False, False, False]  # nothing left behind, and sympy never loaded
    assert out["other_name"] == ["module", True]
    assert out["held_after"] == [False, True, True]  # an unbacked size: unknown, the default each function names
    assert out["loaded_already"] == "module"
    assert out["symbolic"] == [True, True]
    assert out["basic_inside"] == "_Unmade" and out["basic_after"] == [True, True]  # after its time: sympy's own Basic


# what torchvision.ops does on import (torchvision/ops/_register_onnx_ops.py imports torch.onnx, whose ops register
# custom ops with fake kernels): torch.library.register_fake reads the caller's source location, and inspect.getmodule
# asks every module in sys.modules for its __file__, the sympy stand-in included
SCANNED = r"""
import inspect, json, sys, types
import torch
from convcost.importer.nosympy import without_sympy

with without_sympy():
    @torch.library.custom_op("convcost_test::twice", mutates_args=())
    def twice(x: torch.Tensor) -> torch.Tensor:
        return x * 2

    @twice.register_fake
    def _(x):
        return torch.empty_like(x)

    inspect.getmodule(types.FunctionType(compile("0", "/nowhere/new_file.py", "exec"), {}))  # a file not mapped yet
    loaded = "sympy" in sys.modules and type(sys.modules["sympy"]).__name__ == "module"
    out = {"loaded_inside": loaded, "file": hasattr(sys.modules["sympy"], "__file__")}
import sympy
out["version"] = bool(sympy.__version__)
print(json.dumps(out))
"""


def test_a_scan_of_every_module_does_not_load_sympy() -> None:
    out = run_script(SCANNED)
    assert out == {"loaded_inside": False, "file": False, "version": True}
