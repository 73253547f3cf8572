"""importer/meta_kernels.py: the meta batch norm the trace computes itself gives what torch's own meta kernel (its
decomposition) gives, result by result: shape, dtype, strides and device; every other call is torch's."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from convcost.importer import meta_kernels  # noqa: E402

OP = torch.ops.aten.native_batch_norm.default
# batch 1 as `convcost import` traces, size-1 dims where a layout's strides are ambiguous, 2-D to 5-D
SHAPES = [(1, 8, 5, 7), (1, 8, 1, 1), (2, 3, 4, 4), (1, 1, 4, 4), (2, 1, 1, 1), (1, 4, 2, 1), (1, 1, 1, 1), (1, 3, 1, 5),
          (1, 16), (1, 16, 9), (1, 4, 3, 5, 6), (1, 4, 1, 1, 1), (1, 4, 1, 5, 1), (1, 3, 2, 2, 2)]


def layouts(shape: tuple[int, ...]) -> list[Any]:
    base = torch.empty(shape, device="meta")
    out = [base]
    if len(shape) == 4:
        out += [base.to(memory_format=torch.channels_last), base.transpose(2, 3)]
    if len(shape) == 5:
        out += [base.to(memory_format=torch.channels_last_3d)]
    if len(shape) >= 3:
        out += [base[..., ::2]]
    if shape[0] == 1:
        out += [base.expand(3, *shape[1:])]
    return out


def described(result: Any) -> Any:
    return [(tuple(t.shape), t.dtype, t.stride(), t.device.type) for t in result]


def test_each_fast_result_is_torchs() -> None:
    checked = fell_back = 0
    for shape in SHAPES:
        for x, dtype, affine, size, training in itertools.product(layouts(shape), (torch.float32, torch.float64, torch.float16),
                                                                  (True, False), (shape[1], 1), (False, True)):
            def vector() -> Any:
                return torch.empty(size, device="meta", dtype=dtype)  # noqa: B023
            args = (x.to(dtype), vector() if affine else None, vector() if affine else None, vector(), vector(), training,
                    0.1, 1e-5)
            mine = meta_kernels._batch_norm(*args)
            if mine is meta_kernels._MISSING:
                fell_back += 1
                continue
            checked += 1
            assert described(mine) == described(OP(*args)), (shape, x.stride(), dtype, affine, size)
            assert described(meta_kernels.fast(OP, args, {})) == described(mine)
    # both branches ran: contiguous and channels-last float32/64 eval calls with channel-sized statistics are computed
    # here (176 today), training, float16, strided or expanded inputs and size-1 statistics are torch's (1240)
    assert checked >= 150 and fell_back >= 1000, (checked, fell_back)


def test_malformed_and_other_calls_are_torchs() -> None:
    x = torch.empty(1, 8, 4, 4, device="meta")
    four = torch.empty(4, device="meta")
    with pytest.raises(RuntimeError):  # statistics of 4 values for 8 channels: torch's broadcasting error, not a result
        meta_kernels.fast(OP, (x, None, None, four, four, False, 0.1, 1e-5), {})
    cpu = torch.zeros(1, 2, 3, 3)
    stats = torch.zeros(2), torch.ones(2)
    out = meta_kernels.fast(OP, (cpu, None, None, *stats, False, 0.1, 1e-5), {})
    assert out[0].device.type == "cpu" and tuple(out[1].shape) == (0,)  # the CPU kernel's own: its empty statistics
