"""How each imported layer met torch (the spec's ``torch`` key: module, function or subclass; torch-free).

The arithmetic of a ReLU is the same whether the model holds an ``nn.ReLU`` or returns ``F.relu(x)``, and a conv is
a conv whether it is an ``nn.Conv3d`` or torchvision's ``Conv3DSimple(nn.Conv3d)``; what counters that hook modules
report is not (ops/counting.py, docs/conventions.md). `convcost import` writes what it saw, so the imported spec
predicts every tool's number on the model itself:

- ``subclass``: the layer's op ran directly in a module whose class is a strict subclass of the torch.nn class the op
  builds (found through the class's ``__mro__``: Conv3DSimple → nn.Conv3d), and the op can be built so;
- ``module``: it ran in that torch.nn class itself (an ``nn.ReLU``, whose forward calls ``F.relu``);
- ``function``: it ran anywhere else, called as a function (``F.relu`` in GoogLeNet's BasicConv2d,
  ``F.adaptive_avg_pool2d`` in MobileNetV2, ``F.interpolate`` in DeepLabV3, ``torch.flatten``), where its op has a
  function form. Where the code spelled the call otherwise than the op's function (``x.relu()`` for ``F.relu``, a
  mean for an adaptive pool) it is still a function, with a note where a tool patches that function (ptflops,
  calflops): they may not see this spelling.

Ops with no other form are modules.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ops.counting import CALFLOPS_PATCHED, FUNCTION, MODULE, PTFLOPS_PATCHED, SUBCLASS
from ..ops.registry import rule
from .graph import Recording

RANKS = (1, 2, 3)


@dataclass(frozen=True)
class Met:
    form: str = MODULE
    note: str = ""  # why the form is only the nearest one (a call spelled otherwise than the op's function)


def _ranked(text: str) -> set[str]:
    return {text.replace("{n}", str(k)) for k in RANKS}


def _torch_nn(qualname: str) -> str:
    """'Conv3d' for 'torch.nn.conv.Conv3d'; '' for a class outside torch.nn."""
    return qualname.rpartition(".")[2] if qualname.startswith("torch.nn.") else ""


def met(rec: Recording, op: str, call: int, node: int) -> Met:
    """How a layer of ``op``, made by ``node`` that ran in module call ``call`` (-1: none), met torch."""
    counting = rule(op).counting
    forms = counting.forms()
    if forms == (MODULE,):
        return Met()
    classes = set(rule(op).imports) | _ranked(counting.module.removeprefix("nn."))
    if call >= 0:
        c = rec.calls[call]
        own = _torch_nn(c.qualname)
        if own in classes:
            return Met()
        if SUBCLASS in forms and any(_torch_nn(b) in classes for b in rec.bases.get(c.path, ())):
            return Met(SUBCLASS)
    if FUNCTION not in forms:
        return Met()
    spelled = rec.nodes[node].spelled if 0 <= node < len(rec.nodes) else ""
    function = counting.function
    if spelled in _ranked(function) or not _ranked(function) & (PTFLOPS_PATCHED | CALFLOPS_PATCHED):
        return Met(FUNCTION)
    how = f"called as {spelled}" if spelled else f"made by {rec.nodes[node].fn}" if 0 <= node < len(rec.nodes) else \
        "made by a call"
    return Met(FUNCTION, f"{how}, not {function.replace('{n}', 'N')}: ptflops and calflops, which patch that function, may "
                         "count it otherwise")
