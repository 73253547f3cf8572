"""Renderers stay linear in the number of layers: compare's block alignment, the mermaid chart, the
roofline and profile tables. Each was quadratic once (list lookups, a rich Table, tuple copies)
and took 10-35 s on 15,000-30,000 layers.

The work is counted, not timed (tests/workmeter.py), so a busy machine cannot fail it: 4× the layers may
make at most 4.4× the Python calls (a quadratic step in Python makes 16×; all four make 3.99-4.05× now), and
the roofline at most 250 calls a layer (126 now; rich's Table did about 20 times the work). Quadratic work
inside C (a list scanned for every layer, a tuple copied) makes no calls: the CPU-time version of these
checks is benchmarks/bench_scaling.py, and merged_order's own test below counts the comparisons its names
undergo.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from conftest import analysis_of
from rich.console import Console
from workmeter import measure

from convcost.costmodel.analysis import Analysis
from convcost.costmodel.compare import make_comparison, merged_order
from convcost.costmodel.roofline import BUILTIN
from convcost.crosscheck.profiling import ProfileRun, analytic_profile
from convcost.graph.segments import top_level_segments
from convcost.render.compare_out import print_comparison
from convcost.render.mermaid import mermaid_flowchart
from convcost.render.profile_out import print_profile, print_roofline

SMALL, LARGE = 2_500, 10_000  # layers
ROOFLINE_CALLS_PER_LAYER = 250  # 126 now (the roofline and profile tables of both nets, per layer)


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


def calls(fn: Callable[[Analysis, Analysis], None], pair: tuple[Analysis, Analysis]) -> int:
    with measure() as work:
        fn(*pair)
    return work.calls


@pytest.mark.parametrize("fn", [_compare, _mermaid, _roofline, _segments], ids=lambda f: f.__name__.strip("_"))
def test_linear_in_layers(fn: Callable[[Analysis, Analysis], None], nets: dict[int, tuple[Analysis, Analysis]]) -> None:
    fn(*nets[SMALL])  # once unmeasured: what runs only the first time (imports, caches) is not per layer
    small, large = calls(fn, nets[SMALL]), calls(fn, nets[LARGE])
    assert large <= 1.1 * (LARGE / SMALL) * small, f"{fn.__name__}: {SMALL:,} layers {small:,} calls, {LARGE:,} {large:,}"
    if fn is _roofline:  # linear is not enough: rich's Table was linear at 0.75 ms a layer (23 s on 30,000)
        assert large <= 2 * LARGE * ROOFLINE_CALLS_PER_LAYER, f"roofline: {2 * LARGE:,} layers, {large:,} calls"


class Name(str):
    """A layer name whose hashing and comparing are Python calls, so that the profiler counts them: scanning a
    list for a name (``in``, ``index``) compares it with every element before it, each a call."""

    def __hash__(self) -> int:
        return str.__hash__(self)

    def __eq__(self, other: object) -> bool:
        return str.__eq__(self, other)


def test_merged_order_is_linear() -> None:
    n = 40_000
    names = [Name(f"b{k}") for k in range(n)]
    with measure() as work:
        order = merged_order([names[::2], names, names[1::2]])
    assert order == names
    # each name is hashed a few times per list it is in (2 lists each): 10 calls a name now; scanning a list
    # for every name would be about n²/4 = 4·10^8 comparisons
    assert work.calls <= 20 * n, f"{work.calls:,} calls for {n:,} names"
