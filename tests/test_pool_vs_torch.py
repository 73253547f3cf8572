"""Pooling output sizes against torch itself, exhaustively on small sizes, floor and ceil mode,
including windows larger than the input that torch accepts in ceil mode."""

from __future__ import annotations

import itertools

import pytest

from convcost.ops.pool import AvgPoolArgs, PoolArgs, _window_shape
from convcost.ops.registry import ShapeError

torch = pytest.importorskip("torch")


def _ours(kind: str, args: PoolArgs, size: int) -> int | None:
    try:
        return _window_shape(kind, args, (1, size, size))[1]
    except ShapeError:
        return None


def _torch(module: torch.nn.Module, size: int) -> int | None:
    try:
        return int(module(torch.zeros(1, 1, size, size)).shape[-1])
    except RuntimeError:  # "Output size is too small" and friends
        return None


CASES = [c for c in itertools.product(range(1, 8), range(1, 6), range(1, 4), range(3), (False, True)) if 2 * c[3] <= c[1]]


def test_maxpool_and_avgpool_sizes_equal_torch() -> None:
    differ = []
    for size, k, s, p, ceil in CASES:
        mp = _torch(torch.nn.MaxPool2d(k, s, p, ceil_mode=ceil), size)
        ap = _torch(torch.nn.AvgPool2d(k, s, p, ceil_mode=ceil), size)
        if mp != _ours("maxpool", PoolArgs((k, k), (s, s), (p, p), ceil), size):
            differ.append(("maxpool", size, k, s, p, ceil, mp))
        if ap != _ours("avgpool", AvgPoolArgs((k, k), (s, s), (p, p), ceil), size):
            differ.append(("avgpool", size, k, s, p, ceil, ap))
    assert not differ
    assert len(CASES) > 400


def test_ceil_mode_window_larger_than_the_input() -> None:
    # 2×2 input, 3×3 window, stride 2, ceil mode: ceil((2 - 3) / 2) + 1 = 1 output; floor mode: none
    assert _ours("maxpool", PoolArgs((3, 3), (2, 2), (0, 0), True), 2) == 1
    assert _ours("maxpool", PoolArgs((3, 3), (2, 2), (0, 0), False), 2) is None
