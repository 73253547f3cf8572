"""importer/nodynamo.py: `convcost import` traces on the meta device without loading torch._dynamo (1.5 to 2 s of
CPU; benchmarks/bench_import.py measures it), and leaves the process as it found it. Runs in a fresh Python: this
test session has loaded torch._dynamo already (torchvision loads it), where the stand-in steps aside."""

from __future__ import annotations

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
