"""importer/nodynamo.py: `convcost import` traces on the meta device without loading torch._dynamo (1.5 to 2 s of
CPU; benchmarks/bench_import.py measures it), and leaves the process as it found it. Runs in a fresh Python: this
test session has loaded torch._dynamo already (torchvision loads it), where the stand-in steps aside."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import json, sys
import torch
from torch import nn
from convcost.importer.nodynamo import without_dynamo
from convcost.importer.trace import import_model

def layers(imported):
    return [(l.key, l.op, sorted((k, repr(v)) for k, v in l.args.items()), list(l.inputs)) for l in imported.layers]

class Net(nn.Module):  # batch norm, layer norm, hardswish and linear: each meta kernel asks for dynamo (see the doc)
    def __init__(self, probe=False):
        super().__init__()
        self.conv, self.bn, self.act = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.Hardswish()
        self.ln, self.fc = nn.LayerNorm(8), nn.Linear(8, 4)
        self.probe = probe
    def forward(self, x):
        if self.probe and torch._dynamo.is_compiling():  # a forward that reads torch._dynamo itself
            x = x * 2
        x = self.act(self.bn(self.conv(x))).mean((2, 3))
        return self.fc(self.ln(x))

out = {}
with torch.device("meta"):
    net = Net().eval()
first = import_model(net, (3, 16, 16), False, "meta")
out["loaded_after_trace"] = "torch._dynamo" in sys.modules
with without_dynamo():
    torch.zeros(4, device="meta") + 1  # a reference op: its wrapper caches the stand-in's answer on the function
    stand_in = sys.modules["torch._dynamo"]
out["cached"] = len(stand_in.cached)
out["caches_left"] = sum(1 for fn in stand_in.cached if hasattr(fn, "__dynamo_disable"))
out["left_in_torch"] = "_dynamo" in torch.__dict__ or "torch._dynamo" in sys.modules
with torch.device("meta"):
    probing = Net(probe=True).eval()
second = import_model(probing, (3, 16, 16), False, "meta")
out["real_loaded"] = hasattr(sys.modules.get("torch._dynamo"), "optimize")
third = import_model(net, (3, 16, 16), False, "meta")  # dynamo loaded: torch's own wrappers, the same trace
out["same_trace"] = layers(first) == layers(second) == layers(third)
out["layers"] = len(first.layers)
print(json.dumps(out))
"""


def test_meta_trace_without_dynamo() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["loaded_after_trace"] is False  # the trace ran on the stand-in
    assert out["cached"] > 0 and out["caches_left"] == 0  # it was asked, and its answers are taken back
    assert out["left_in_torch"] is False
    assert out["real_loaded"] is True  # torch._dynamo.is_compiling() in the forward loaded the real one
    # conv, bn, hardswish, mean over (2, 3) (global_avgpool + flatten), layer_norm, linear: 7 layers, the same
    # whether or not dynamo was there
    assert out["same_trace"] is True and out["layers"] == 7


def run_script(script: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# The process after the stand-in: a failure inside leaves nothing behind, a module imported meanwhile that kept
# `torch._dynamo` gets the real one's answers, torch.compile works, torchvision's lazy is_compile_supported answers
# as the real one.
AFTER = r"""
import json, sys
import torch
import torch.nn.functional as F
from convcost.importer import nodynamo
from convcost.importer.nodynamo import without_dynamo

out = {}
try:
    with without_dynamo():
        torch.zeros(4, device="meta") + 1
        stand_in = sys.modules["torch._dynamo"]
        raise KeyError("the user's forward failed")
except KeyError:
    pass
out["after_error"] = ["torch._dynamo" in sys.modules, "torch._dynamo.utils" in sys.modules, "_dynamo" in torch.__dict__,
                      sum(1 for fn in stand_in.cached if hasattr(fn, "__dynamo_disable"))]

import importlib.util
tv = importlib.util.find_spec("torchvision") is not None  # a test-only extra (.[models]): its part runs where installed
with without_dynamo():
    if tv:
        import torchvision_zoo  # torchvision: `from torch._dynamo.utils import is_compile_supported` at import time
    import torch._dynamo as held  # a module that binds torch._dynamo meanwhile holds the stand-in
out["torchvision_loaded_dynamo"] = "torch._dynamo" in sys.modules if tv else None
out["held_is_stand_in"] = isinstance(held, nodynamo._StandIn)

def helper(x):
    return x * 2
disabled = held.disable(helper, True, wrapping=False)  # as torch's wrapper asks, after the stand-in: dynamo's own
out["disable_after"] = disabled is not helper and "torch._dynamo" in sys.modules
import torch._dynamo.utils as real_utils
if tv:
    roi_align = sys.modules["torchvision.ops.roi_align"]
    out["lazy_same"] = roi_align.is_compile_supported("cpu") == real_utils.is_compile_supported("cpu")

calls = []
def f(x):
    calls.append(1)
    return F.hardswish(x) + torch.layer_norm(x, (4,))
x = torch.randn(3, 4)
compiled = torch.compile(f, backend="eager")
out["compile_same"] = torch.allclose(compiled(x), f(x))
print(json.dumps(out))
"""


def test_process_after_the_stand_in() -> None:
    out = run_script(AFTER)
    assert out["after_error"] == [False, False, False, 0]  # stand-ins and cached answers gone after a failure
    if importlib.util.find_spec("torchvision") is not None:  # its part of the script runs where it is installed
        assert out["torchvision_loaded_dynamo"] is False  # torchvision imported on the stand-in
        assert out["lazy_same"] is True
    assert out["held_is_stand_in"] is True
    assert out["disable_after"] is True  # mutation: stand-in's disable answering fn after the context -> fails
    assert out["compile_same"] is True


# torch's internals otherwise than the stand-in expects (its wrapper asking disable() without wrapping=False), or
# code asking for a submodule or another name of utils: each loads the real torch._dynamo, and the trace is the same.
DIFFERENT_CASES = {
    "plain_disable": "torch._dynamo.disable(lambda: 0, True)",  # no wrapping=False: dynamo's own
    "decorator_factory": "torch._dynamo.disable(recursive=False)",
    "submodule": "importlib.import_module('torch._dynamo.eval_frame')",
    "other_utils_name": "__import__('torch._dynamo.utils', fromlist=['counters']).counters",
    "is_compiling": "torch._dynamo.is_compiling()",
}


@pytest.mark.parametrize("case", sorted(DIFFERENT_CASES))
def test_other_questions_load_the_real_dynamo(case: str) -> None:
    script = f"""
import importlib, json, sys
import torch
from torch import nn
from convcost.importer.nodynamo import without_dynamo
from convcost.importer.trace import import_model

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.bn, self.act = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.Hardswish()
    def forward(self, x):
        return self.act(self.bn(self.conv(x)))

with torch.device("meta"):
    net = Net().eval()
before = [(l.op, sorted(l.args.items())) for l in import_model(net, (3, 8, 8), False, "meta").layers]
with without_dynamo():
    {DIFFERENT_CASES[case]}
    after = [(l.op, sorted(l.args.items())) for l in import_model(net, (3, 8, 8), False, "meta").layers]
    real = type(sys.modules.get("torch._dynamo")).__name__ == "module"  # not the stand-in (hasattr would load it)
print(json.dumps({{"real": real, "same": before == after, "n": len(after)}}))
"""
    out = run_script(script)
    assert out["real"] is True  # asked something the stand-in does not answer: the real torch._dynamo
    assert out["same"] is True and out["n"] == 3  # conv, batchnorm, hardswish


def test_before_torch_is_imported() -> None:
    """The stand-in imports torch itself where nothing has yet (import_target enters it first)."""
    out = run_script("""
import json, sys
from convcost.importer.nodynamo import without_dynamo
loaded = "torch" in sys.modules
with without_dynamo():
    import torch
    inside = type(sys.modules["torch._dynamo"]).__name__
print(json.dumps({"loaded": loaded, "inside": inside, "after": "torch._dynamo" in sys.modules}))
""")
    assert out == {"loaded": False, "inside": "_StandIn", "after": False}
