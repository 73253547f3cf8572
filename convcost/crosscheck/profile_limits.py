"""What a profile run may cost and how it fails: the memory it needs (refused above --max-memory before torch
allocates anything) and torch's errors while building, running or timing, as messages for the user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..costmodel.analysis import Analysis
from ..costmodel.memory import DTYPE_BYTES, WEIGHT_BUILD_BYTES, forward_bytes, human_bytes
from ..errors import UsageError

if TYPE_CHECKING:
    from .options import ProfileOptions


def _out_of_memory(e: BaseException) -> bool:
    import torch

    text = str(e)
    return (
        isinstance(e, (MemoryError, torch.cuda.OutOfMemoryError))
        or "DefaultCPUAllocator" in text
        or "out of memory" in text.lower()
    )


def torch_failure(e: BaseException, a: Analysis, options: ProfileOptions, doing: str) -> UsageError:
    """A torch error while building, checking or timing the model, as a message for the user."""
    import torch

    graph = a.graph
    text = str(e).strip()
    first = text.splitlines()[0] if text else type(e).__name__
    where = f"in {options.dtype} on {options.device}"
    if _out_of_memory(e):
        need = profile_bytes(a, options)
        return UsageError(
            f"model '{graph.model}': torch ran out of memory {doing} it {where} (convcost estimates it needs "
            f"{human_bytes(need)}): {first}; {'lower --batch, or ' if graph.batch > 1 else ''}free memory on the device"
        )
    hint = ""
    if options.dtype != "fp32":
        hint = "; try --dtype fp32" + (" or bf16" if options.dtype == "fp16" and options.device == "cpu" else "")
    return UsageError(f"torch {torch.__version__} cannot run model '{graph.model}' {where}: {first}{hint}")




def profile_bytes(a: Analysis, options: ProfileOptions) -> int:
    """Memory one model's profile needs at most: the weights as built (fp32), the input, and every
    layer's output in --dtype -- twice when blocks or layers are timed (each runs on the kept outputs
    of the first pass)."""
    kept = options.blocks or options.layers
    return forward_bytes(a, DTYPE_BYTES[options.dtype], WEIGHT_BUILD_BYTES, 2 if kept else 1)


def check_memory(a: Analysis, options: ProfileOptions, command: str = "profile") -> int:
    """The model's estimated bytes; a UsageError above ``options.max_bytes`` (before torch allocates)."""
    graph = a.graph
    need = profile_bytes(a, options)
    if need > options.max_bytes:
        unit = "block and layer" if options.blocks and options.layers else "layer" if options.layers else "block"
        twice = f", twice since each {unit} is timed on kept outputs" if options.blocks or options.layers else ""
        ways = ["lower --batch"] if graph.batch > 1 else []
        if options.blocks or options.layers:
            ways.append("time the whole model only (--no-blocks" + (", without --layers)" if options.layers else ")"))
        if command == "profile":
            ways.append("raise --max-memory if this machine has the memory")
        advice = ", or ".join(ways) or "make the input or the layers smaller"
        raise UsageError(
            f"model '{graph.model}' needs about {human_bytes(need)} ({need:,} bytes) to {command}: its weights, "
            f"the input and every layer's output at batch {graph.batch} in {options.dtype}{twice}; that is over the "
            f"limit of {human_bytes(options.max_bytes)} ({options.max_bytes:,} bytes). "
            + advice[0].upper() + advice[1:]
        )
    return need
