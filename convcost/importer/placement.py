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
from .trace import Imported, import_model
from .write import write_spec

if TYPE_CHECKING:
    from torch import nn

    from ..crosscheck.target import Target


@dataclass(frozen=True)
class Placement:
    """Where the forward that import_target kept ran, and the estimate that decided it."""

    device: str  # 'cpu': a real forward; 'meta': built and run on the meta device
    need: int  # bytes of a real forward: verify's estimate_bytes of the imported spec, or `floor` of it
    floor: bool  # need is only the weights, buffers and input: the layers' shapes are unknown


def import_target(t: Target, shape: tuple[int, ...], allow: bool, max_bytes: int) -> tuple[Imported, Placement]:
    """Build the target and trace it, with a real forward when one fits ``max_bytes``, else on the meta device.

    The rule is verify --reference's: a real forward when ``estimate_bytes`` (weights, buffers, the input and
    every layer's output, float32) is at most ``max_bytes``. That needs the layers' shapes, so the model is
    first built and traced on the meta device (no memory, no arithmetic) and the estimate is taken on that
    spec: `verify --reference` of the imported spec then decides the same way. Where it fits, the model is
    built and traced again for real, and that trace is kept (the same layers: meta tensors have real shapes).
    Where the meta trace fails (a forward that reads a tensor's value) or its spec does not analyze, only the
    weights, buffers and input are known: a real forward when they fit, else a UsageError saying to raise
    --max-memory. The user's prints go to stderr (stdout may carry the spec)."""
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _import_target(t, shape, allow, max_bytes)


def _import_target(t: Target, shape: tuple[int, ...], allow: bool, max_bytes: int) -> tuple[Imported, Placement]:
    from ..crosscheck.target import failure, load_model, user_files
    from ..crosscheck.torch_deps import TORCH_ERRORS

    files = user_files(t)
    shown = "1×" + "×".join(map(str, shape))
    meta_model: nn.Module | None = None
    meta: Imported | None = None
    why = ""
    try:
        meta_model = load_model(t, "meta")
        meta = import_model(meta_model, shape, allow, "meta")
    except UsageError as e:  # the factory fails under torch.device('meta'): a real build says why, if it fails too
        why = str(e)
    except Exception as e:  # the user's forward on meta tensors: .item(), `if x.sum() > 0`, an op without a meta kernel
        why = str(failure(f"reference '{t.text}': running the model on {shown} on the meta device failed", e, files))
    need = forward_estimate(meta, shape) if meta is not None else None
    floor = need is None
    model = None
    if need is None:
        model = meta_model if meta_model is not None else load_model(t)
        need = _floor(model, shape)
    placement = Placement("cpu" if need <= max_bytes else "meta", need, floor)
    if placement.device == "meta":
        if meta is None:
            raise UsageError(f"{why}; a real forward needs at least {human_bytes(need)} (its weights, buffers and input), "
                             f"over --max-memory {human_bytes(max_bytes)}: raise --max-memory to run it for real")
        return meta, placement
    if model is None or model is meta_model:
        model = load_model(t)
    try:
        with one_thread():
            return import_model(model, shape, allow), placement
    except (*TORCH_ERRORS, AssertionError, KeyError, AttributeError) as e:
        raise failure(f"reference '{t.text}': running the model on {shown} failed", e, files) from None


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

    try:
        spec = parse_spec(write_spec(imported.layers, shape, imported.outputs, []), "<imported>")
        return estimate_bytes(analyze(build_graph(spec, next(iter(spec.models)))))
    except ConvcostError:
        return None


def _floor(model: nn.Module, shape: tuple[int, ...]) -> int:
    """The part of estimate_bytes known without the layers' shapes: the weights, buffers and input, float32."""
    from ..crosscheck.verify import BYTES_PER_VALUE

    return BYTES_PER_VALUE * (sum(t.numel() for t in itertools.chain(model.parameters(), model.buffers())) + math.prod(shape))
