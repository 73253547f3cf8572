"""Where `convcost import` runs the model: a real forward when verify's estimate fits --max-memory, else the
meta device (importer/trace.py traces it either way)."""

from __future__ import annotations

import contextlib
import itertools
import math
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..costmodel.memory import human_bytes
from ..errors import ConvcostError, UsageError
from .nodynamo import without_dynamo
from .nosympy import without_sympy
from .trace import Imported, import_model
from .write import write_spec

if TYPE_CHECKING:
    from torch import nn

    from ..crosscheck.target import Target


@dataclass(frozen=True)
class Placement:
    """Where the forward that import_target kept ran, and what a real forward of the model would need."""

    device: str  # 'meta': built and run on the meta device; 'cpu': a real forward (the model cannot run on meta)
    need: int  # bytes of a real forward: verify's estimate_bytes of the imported spec, or `floor` of it
    floor: bool  # need is only the weights, buffers and input: the layers' shapes are unknown
    limit: int  # --max-memory

    @property
    def over(self) -> bool:
        """A real forward needs more than --max-memory: `verify --reference` runs this model on the meta device too."""
        return self.need > self.limit


def import_target(t: Target, shape: tuple[int, ...], allow: bool, max_bytes: int,
                  more: tuple[tuple[int, ...], ...] = ()) -> tuple[Imported, Placement]:
    """Build the target and trace it: on the meta device where it runs there, else with a real forward when one fits
    ``max_bytes``.

    On the meta device the factory allocates nothing and the forward does no arithmetic, and its tensors have the
    real shapes: the trace is the real forward's. A model that cannot be built or run there (a forward that reads a
    tensor's value, ``if x.sum() > 0``; a tensor made on the CPU inside the forward) is built and run on the CPU when
    its weights, buffers and input fit ``max_bytes``, else a UsageError says to raise --max-memory. ``need`` is
    verify's estimate_bytes of the imported spec (weights, buffers, the input and every layer's output, float32), the
    rule by which `verify --reference` of it runs for real or on the meta device. The user's prints go to stderr
    (stdout may carry the spec). torch._dynamo and torch's symbolic shapes are stood in for meanwhile
    (importer/nodynamo.py, importer/nosympy.py). ``more``: the shapes of the forward's further inputs, in order."""
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings(), without_dynamo(), without_sympy():
        warnings.simplefilter("ignore")
        return _import_target(t, shape, allow, max_bytes, more)


def _import_target(t: Target, shape: tuple[int, ...], allow: bool, max_bytes: int,
                   more: tuple[tuple[int, ...], ...]) -> tuple[Imported, Placement]:
    from ..crosscheck.target import failure, load_model, user_files
    from ..crosscheck.torch_deps import TORCH_ERRORS

    files = user_files(t)
    shown = " and ".join("1×" + "×".join(map(str, s)) for s in (shape, *more))
    meta_model: nn.Module | None = None
    why = ""
    try:
        meta_model = load_model(t, "meta")
    except UsageError as e:  # the factory fails under torch.device('meta'): a real build says why, if it fails too
        why = str(e)
    else:
        check_inputs(meta_model, 1 + len(more), t.text)
        try:
            meta = import_model(meta_model, shape, allow, "meta", more)
        except Exception as e:  # the user's forward on meta tensors: .item(), `if x.sum() > 0`, an op without a meta kernel
            why = str(failure(f"reference '{t.text}': running the model on {shown} on the meta device failed", e, files))
        else:
            meta.method = "an aten trace on the meta device"
            need = forward_estimate(meta, shape)
            return meta, Placement("meta", need if need is not None else _floor(meta_model, shape, more), need is None,
                                   max_bytes)
    model = meta_model if meta_model is not None else load_model(t)
    check_inputs(model, 1 + len(more), t.text)
    floor = _floor(model, shape, more)
    if floor > max_bytes:
        raise UsageError(f"{why}; a real forward needs at least {human_bytes(floor)} (its weights, buffers and input), "
                         f"over --max-memory {human_bytes(max_bytes)}: raise --max-memory to run it for real")
    if model is meta_model:
        model = load_model(t)
    try:
        with one_thread():
            real = import_model(model, shape, allow, more=more)
    except (*TORCH_ERRORS, AssertionError, KeyError, AttributeError) as e:
        raise failure(f"reference '{t.text}': running the model on {shown} failed", e, files) from None
    real.method = "an aten trace of a real forward"
    real.note = why.removeprefix(f"reference '{t.text}': ")
    need = forward_estimate(real, shape)
    return real, Placement("cpu", need if need is not None else floor, need is None, max_bytes)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """torch on one CPU thread. The real forward is run for its shapes only, and at most --max-memory big: on
    one thread it cannot be slowed by the other thread waiting for a core (bench_import.py's ResNet-152 at
    224×224, on a loaded 2-core machine: 0.5 s on one thread, 2.3 to 3.5 s on two)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def forward_estimate(imported: Imported, shape: tuple[int, ...]) -> int | None:
    """verify's estimate_bytes of the imported spec; None where it does not analyze (a part kept as identity that
    should change the shape, a part left out)."""
    from ..costmodel.analysis import analyze
    from ..crosscheck.verify import estimate_bytes
    from ..frontend.spec import parse_spec
    from ..graph.build import build_graph

    if imported.unsupported and not any(layer.op == "unsupported" for layer in imported.layers):
        return None  # parts left out: the spec is not the model's
    try:
        spec = parse_spec(write_spec(imported.layers, shape, imported.outputs, [], inputs=imported.inputs), "<imported>")
        return estimate_bytes(analyze(build_graph(spec, next(iter(spec.models)))))
    except ConvcostError:
        return None


def _floor(model: nn.Module, shape: tuple[int, ...], more: tuple[tuple[int, ...], ...] = ()) -> int:
    """The part of estimate_bytes known without the layers' shapes: the weights, buffers and inputs, float32."""
    from ..crosscheck.verify import BYTES_PER_VALUE

    weights = sum(t.numel() for t in itertools.chain(model.parameters(), model.buffers()))
    return BYTES_PER_VALUE * (weights + sum(math.prod(s) for s in (shape, *more)))


def check_inputs(model: nn.Module, given: int, target: str, api: bool = False) -> None:
    """A UsageError unless the model's forward takes ``given`` positional inputs (one --input each): how many it takes,
    named, and how to give them, before a forward fails with "missing 1 required positional argument". ``api``: the
    Python API's words (input= shapes) for a built module named ``target``."""
    import inspect

    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):  # no signature to read: the forward says
        return
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p.name for p in positional if p.default is p.empty]
    varargs = any(p.kind == p.VAR_POSITIONAL for p in params)
    if required and len(required) <= given and (varargs or given <= len(positional)):
        return
    if not required and (varargs or given <= len(positional)):
        return
    takes = f"{type(model).__name__}.forward({', '.join(p.name for p in positional)}) takes "
    takes += (f"{len(required)} input{'s' if len(required) != 1 else ''} ({', '.join(required)})" if required else
              "no input")
    if len(positional) > len(required):
        takes += f" and {len(positional) - len(required)} optional"
    if api:
        raise UsageError(f"{target}: {takes}, and {given} input= shape{'s were' if given != 1 else ' was'} given: give "
                         "input= one shape per input, in the forward's order (input=[(3, 224, 224), (3, 224, 224)])")
    raise UsageError(f"reference '{target}': {takes}, and {given} --input shape{'s were' if given != 1 else ' was'} given: "
                     f"`convcost import` takes --input once per input, in the forward's order (convcost import {target} "
                     "--input 3,224,224 --input 3,224,224)")
