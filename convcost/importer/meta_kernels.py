"""Meta kernels the trace computes itself where torch's is a slow Python decomposition, giving what torch's gives.

On the meta device ``aten.native_batch_norm`` (every batch norm in eval: nn.BatchNorm*d, ``F.batch_norm``, timm's
BatchNormAct2d) has no C++ kernel: torch runs its decomposition (torch/_decomp/decompositions.py,
native_batch_norm_helper) through the reference ops and their Python meta functions, ~4 ms of CPU per call, 53 calls
in a ResNet-50: about 0.2 s, a sixth of what a ResNet-50 import spends beyond ``import torch``
(benchmarks/bench_import_models.py). For an eval-mode call whose shapes the decomposition accepts, its results are
fixed by the input: ``output`` an empty tensor of the input's shape, dtype and strides (the decomposition's
elementwise ops keep the layout of an input with a layout's own strides: contiguous or channels-last), ``save_mean``
and ``save_invstd`` two new tensors of the channels' count (off the CPU the decomposition returns the running
statistics as the computation dtype, float32 for float32, float64 for float64).

Any other call (training, a half-precision input, a layout that is neither, statistics or an affine of another size,
another device) runs torch's own kernel, which also raises what torch raises for a malformed call.
tests/test_import_meta_kernels.py compares each result, shape, dtype and strides, with torch's.
"""

from __future__ import annotations

from typing import Any

BATCH_NORM = "native_batch_norm"
_MISSING = object()


def fast(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """What ``func(*args, **kwargs)`` returns, computed here where this module knows the answer; else torch's call."""
    if not kwargs and func._opname == BATCH_NORM and func._overloadname == "default":
        out = _batch_norm(*args)
        if out is not _MISSING:
            return out
    return func(*args, **kwargs)


def _batch_norm(x: Any, weight: Any, bias: Any, mean: Any, var: Any, training: bool, momentum: Any, eps: Any) -> Any:
    import torch

    if training or x.device.type != "meta" or x.dtype not in (torch.float32, torch.float64) or x.dim() < 2:
        return _MISSING
    channels = x.shape[1]
    for t in (mean, var):  # eval mode reads both: the decomposition refuses None
        if not _vector(t, channels, x.dtype):
            return _MISSING
    for t in (weight, bias):
        if t is not None and not _vector(t, channels, x.dtype):
            return _MISSING
    layouts = [torch.contiguous_format] + ([torch.channels_last] if x.dim() == 4 else []) + \
        ([torch.channels_last_3d] if x.dim() == 5 else [])
    for layout in layouts:  # the layout's own strides, size-1 dims too: there the decomposition's output has them
        out = torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=layout)
        if layout is not torch.contiguous_format and x.is_contiguous():
            break  # channels-last strides that are contiguous too (size-1 dims): torch's output may be either
        if out.stride() == x.stride():
            return out, torch.empty(channels, dtype=x.dtype, device=x.device), \
                torch.empty(channels, dtype=x.dtype, device=x.device)
    return _MISSING


def _vector(t: Any, channels: int, dtype: Any) -> bool:
    """A 1-D meta tensor of ``channels`` values of ``dtype``: one the decomposition broadcasts as a channel vector."""
    import torch

    return isinstance(t, torch.Tensor) and t.device.type == "meta" and t.dim() == 1 and t.shape[0] == channels \
        and t.dtype == dtype
