"""Renderers stay linear in the number of layers: compare's block alignment, the mermaid chart, the
roofline and profile tables. Each was quadratic once (list lookups, a rich Table, tuple copies)
and took 10-35 s on 15,000-30,000 layers.

The check is loose so it holds on a slow or busy machine: 4× the layers may take at most 4× the
time plus a second of slack; a quadratic step takes 16×.
"""

from __future__ import annotations

import gc
import io
import time
from collections.abc import Callable

import pytest
from conftest import analysis_of
from rich.console import Console

from convcost.costmodel.analysis import Analysis
from convcost.costmodel.compare import make_comparison, merged_order
from convcost.costmodel.roofline import BUILTIN
from convcost.crosscheck.profiling import ProfileRun, analytic_profile
from convcost.graph.segments import top_level_segments
from convcost.render.compare_out import print_comparison
from convcost.render.mermaid import mermaid_flowchart
from convcost.render.profile_out import print_profile, print_roofline

SMALL, LARGE = 2_500, 10_000  # layers
ROOFLINE_S_PER_LAYER = 4e-4  # about 35 µs now; rich's Table took 750 µs


def deep_net(layers: int) -> Analysis:
    """``layers`` layers: a 3-layer block repeated, so every layer is its own box at depth 3."""
    return analysis_of(
        f"""
blocks:
  unit:
    layers:
      - conv: {{out: 4, kernel: 3, padding: 1}}
      - bn
      - relu
models:
  deep:
    input: [4, 8, 8]
    layers:
      - unit: {{repeat: {layers // 3}}}
"""
    )


def wide_net(layers: int) -> Analysis:
    """``layers`` layers at the top level (no scopes): as many top-level blocks as layers."""
    body = "".join("      - relu\n" for _ in range(layers - 1))
    return analysis_of(f"input: [4, 8, 8]\nlayers:\n      - conv: {{out: 4, kernel: 1}}\n{body}")


@pytest.fixture(scope="module")
def nets() -> dict[int, tuple[Analysis, Analysis]]:
    return {n: (deep_net(n), wide_net(n)) for n in (SMALL, LARGE)}


def _console() -> Console:
    return Console(file=io.StringIO(), width=150, color_system=None)


def _compare(deep: Analysis, wide: Analysis) -> None:
    print_comparison(_console(), make_comparison([deep, deep]), "macs", depth=3)


def _mermaid(deep: Analysis, wide: Analysis) -> None:
    mermaid_flowchart(deep, depth=5)
    mermaid_flowchart(wide, depth=1)


def _roofline(deep: Analysis, wide: Analysis) -> None:
    hw = BUILTIN["cpu"]
    print_roofline(_console(), ProfileRun(None, hw, "fp32", (analytic_profile(deep.graph, "fp32", hw),)))
    # one row per top-level block: as many rows as layers for the wide net
    print_profile(_console(), ProfileRun(None, hw, "fp32", (analytic_profile(wide.graph, "fp32", hw),)))


def _segments(deep: Analysis, wide: Analysis) -> None:
    top_level_segments(deep.graph)
    top_level_segments(wide.graph)


def _seconds(fn: Callable[[Analysis, Analysis], None], pair: tuple[Analysis, Analysis]) -> float:
    # Objects earlier tests left alive (torch, fvcore and FlopCounterMode internals: a few 100,000) are
    # frozen out of the collector while timing: a full collection walking them would time the test
    # process's heap, not the renderer (a CLI process does not hold them). CPU time of this process:
    # other processes on a loaded 2-core machine do not make a linear renderer look quadratic.
    gc.collect()
    gc.freeze()
    try:
        started = time.process_time()
        fn(*pair)
        return time.process_time() - started
    finally:
        gc.unfreeze()


@pytest.mark.parametrize("fn", [_compare, _mermaid, _roofline, _segments], ids=lambda f: f.__name__.strip("_"))
def test_linear_in_layers(fn: Callable[[Analysis, Analysis], None], nets: dict[int, tuple[Analysis, Analysis]]) -> None:
    gc.collect()  # garbage an earlier test left (a jit trace's) would slow the collections timed here
    small = min(_seconds(fn, nets[SMALL]) for _ in range(2))
    large = _seconds(fn, nets[LARGE])
    assert large < (LARGE / SMALL) * small + 1.0, f"{fn.__name__}: {SMALL} layers {small:.2f} s, {LARGE} {large:.2f} s"
    if fn is _roofline:  # linear is not enough: rich's Table was linear at 0.75 ms a layer (23 s on 30,000)
        assert large < 2 * LARGE * ROOFLINE_S_PER_LAYER, f"roofline: {2 * LARGE} layers took {large:.2f} s"


def test_merged_order_is_linear() -> None:
    names = [f"b{k}" for k in range(40_000)]
    started = time.perf_counter()
    order = merged_order([names[::2], names, names[1::2]])
    assert time.perf_counter() - started < 1.0
    assert order == names
