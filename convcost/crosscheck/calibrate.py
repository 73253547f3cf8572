"""`convcost calibrate`: micro-benchmarks of what this machine sustains, as a device profile.

Each micro-benchmark is a tiny spec (one layer of one kind at one size), built with the same torch
modules `profile` times (convcost/crosscheck/torch_build.py); its FLOPs and bytes come from the
same analytic model (costmodel/memory.py), so a rate measured here is a rate of exactly the layers
the prediction is for. The per-op overhead is a chain of tiny layers run as one model, divided by
its length. All benchmarks are timed together in interleaved rounds (crosscheck/timing.py).

torch is imported inside the functions only.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import __version__
from ..costmodel.analysis import analyze
from ..costmodel.calibration import Calibration, Curve, Point
from ..costmodel.kinds import KINDS, layer_kind
from ..costmodel.memory import analyze_memory
from ..errors import UsageError
from ..frontend.spec import parse_spec
from ..graph.build import Graph, build_graph
from .timing import Step, Timing, method_text, time_interleaved

OVERHEAD_CHAIN = 16  # tiny layers in the overhead benchmark
MIN_NET_SHARE = 0.05  # a rate is size / max(time − overhead, this share of the time)


@dataclass(frozen=True)
class Bench:
    """One micro-benchmark: a spec whose last layer is of ``kind`` (the layers before it only feed it)."""

    kind: str
    layers: str  # the spec's layers, YAML flow text
    input: tuple[int, ...]
    what: str  # the layer in words

    def spec(self) -> str:
        return f"input: {list(self.input)}\nlayers: {self.layers}\n"


def _conv(c: int, hw: int, out: int, k: int, groups: int = 1, stride: int = 1) -> Bench:
    pad = k // 2
    groups_arg = f", groups: {groups}" if groups > 1 else ""
    kind = "conv_depthwise" if groups == c and groups > 1 else "conv_grouped" if groups > 1 else (
        "conv_1x1" if k == 1 else "conv_dense"
    )
    what = f"conv {c}→{out} {k}×{k}{f' /{stride}' if stride > 1 else ''}{f' groups {groups}' if groups > 1 else ''} on {hw}×{hw}"
    return Bench(
        kind, f"[{{conv: {{out: {out}, kernel: {k}, stride: {stride}, padding: {pad}{groups_arg}, bias: false}}}}]",
        (c, hw, hw), what,
    )


def _map(kind: str, layer: str, c: int, hw: int, what: str) -> Bench:
    return Bench(kind, f"[{layer}]", (c, hw, hw), f"{what} on {c}×{hw}×{hw}")


def _tokens(kind: str, layer: str, d: int, hw: int, what: str) -> Bench:
    return Bench(kind, f"[to_tokens, {layer}]", (d, hw, hw), f"{what} on {hw * hw} tokens × {d}")


# Sizes span those of the layers of the configs/ networks at batch 1 (a few kFLOP to ~0.5 GFLOP; a few kB to
# ~10 MB), each a shape such networks use.
def cpu_benches(quick: bool = False) -> list[Bench]:
    convs = [
        _conv(16, 28, 16, 3), _conv(32, 56, 32, 3), _conv(64, 56, 64, 3), _conv(128, 28, 128, 3),
        _conv(256, 14, 256, 3), _conv(512, 7, 512, 3), _conv(3, 224, 64, 7, stride=2),
    ]
    pointwise = [
        _conv(16, 28, 32, 1), _conv(32, 56, 64, 1), _conv(64, 56, 256, 1), _conv(256, 28, 128, 1),
        _conv(1024, 14, 256, 1), _conv(2048, 7, 512, 1),
    ]
    depthwise = [
        _conv(32, 14, 32, 3, 32), _conv(96, 28, 96, 3, 96), _conv(144, 56, 144, 3, 144), _conv(96, 112, 96, 3, 96),
        _conv(384, 14, 384, 7, 384),
    ]
    grouped = [_conv(64, 14, 64, 3, 8), _conv(128, 28, 128, 3, 32), _conv(256, 28, 256, 3, 32), _conv(64, 56, 64, 3, 4)]
    linear = [
        _tokens("linear", "{linear: {out: 256}}", 64, 7, "linear 64→256"),
        Bench("linear", "[{linear: {out: 1000}}]", (512,), "linear 512→1000"),
        _tokens("linear", "{linear: {out: 768}}", 192, 14, "linear 192→768"),
        _tokens("linear", "{linear: {out: 3072}}", 768, 14, "linear 768→3072"),
    ]
    attention = [
        _tokens("attention", "{attention: {heads: 2}}", 64, 8, "attention, 2 heads"),
        _tokens("attention", "{attention: {heads: 4}}", 128, 14, "attention, 4 heads"),
        _tokens("attention", "{attention: {heads: 12}}", 768, 14, "attention, 12 heads"),
    ]
    pools = [
        _map("pool", "{maxpool: {kernel: 3, stride: 2, padding: 1}}", 64, 112, "maxpool 3×3 /2"),
        _map("pool", "{maxpool: {kernel: 3, stride: 1, padding: 1}}", 192, 28, "maxpool 3×3 /1"),
        _map("pool", "{maxpool: {kernel: 2, stride: 2}}", 64, 28, "maxpool 2×2 /2"),
    ]
    elementwise = [_map("elementwise", "relu", c, hw, "relu") for c, hw in ((64, 7), (64, 28), (64, 56), (128, 112))]
    elementwise += [_map("elementwise", "gelu", 256, 28, "gelu"), _map("elementwise", "silu", 64, 80, "silu")]
    norm = [_map("norm", "bn", c, hw, "batchnorm") for c, hw in ((64, 7), (64, 28), (64, 56), (128, 112))]
    norm += [Bench("norm", "[{layernorm: {}}]", (197, 768), "layernorm on 197 tokens × 768")]
    reduce = [_map("reduce", "gap", c, hw, "global average pool") for c, hw in ((512, 7), (1024, 14))]
    copy = [
        _map("copy", "{concat: {branches: [[identity], [identity]]}}", c, hw, "concat of 2") for c, hw in ((64, 14), (64, 56))
    ]
    copy += [_map("copy", "{upsample: {scale: 2}}", 128, 28, "nearest upsample ×2")]
    benches = [*convs, *pointwise, *depthwise, *grouped, *linear, *attention, *pools, *elementwise, *norm, *reduce, *copy]
    if quick:  # the smallest and the largest of each kind
        by_kind: dict[str, list[Bench]] = {}
        for b in benches:
            by_kind.setdefault(b.kind, []).append(b)
        benches = [b for bs in by_kind.values() for b in (bs[0], bs[-1])][: 2 * len(by_kind)]
    return benches


@dataclass(frozen=True)
class CalibrateOptions:
    device: str = "cpu"
    threads: int | None = None
    dtype: str = "fp32"
    channels_last: bool = False
    min_time: float = 0.25  # seconds of timed calls per benchmark, over all repeats
    repeats: int = 5
    warmup: int = 3
    quick: bool = False
    cudnn_benchmark: bool = True


@dataclass(frozen=True)
class Measurement:
    """One benchmark's result."""

    bench: Bench
    size: float
    timing: Timing


def _graph(text: str, name: str, batch: int = 1) -> Graph:
    spec = parse_spec(text, name)
    return build_graph(spec, next(iter(spec.models)), batch)


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else what the platform module knows."""
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load() -> tuple[float, ...]:
    try:
        return tuple(round(x, 2) for x in os.getloadavg())
    except (AttributeError, OSError):
        return ()


def benches_for(options: CalibrateOptions) -> list[tuple[Bench, int]]:
    """(benchmark, batch): on CUDA each shape also at batch 32, where a GPU leaves the launch-bound regime."""
    benches = cpu_benches(options.quick)
    batches = (1, 32) if options.device == "cuda" else (1,)
    return [(b, n) for n in batches for b in benches]


def calibrate(options: CalibrateOptions, step: Callable[[str], None] | None = None) -> Calibration:
    """Run the micro-benchmarks and return what they measured."""
    import torch

    from .profiling import ProfileOptions, _Runner, device_name
    from .torch_deps import TORCH_ERRORS

    started = time.time()
    load = _load()
    threads_before = torch.get_num_threads()
    bench_before = torch.backends.cudnn.benchmark
    popts = ProfileOptions(device=options.device, dtype=options.dtype, channels_last=options.channels_last)
    try:
        if options.device == "cpu" and options.threads:
            torch.set_num_threads(options.threads)
        if options.device == "cuda":
            torch.backends.cudnn.benchmark = options.cudnn_benchmark
        with torch.inference_mode():
            fns: list[Callable[[], Any]] = []
            chain = _overhead_graph()
            runner = _Runner(chain, popts)
            fns.append(runner.whole())
            plan: list[tuple[Bench, float]] = []
            for bench, batch in benches_for(options):
                graph = _graph(bench.spec(), f"<calibrate {bench.what}>", batch)
                node = graph.nodes[-1]
                assert layer_kind(node) == bench.kind, (bench, layer_kind(node))  # the ladder above is ours
                lt = analyze_memory(analyze(graph), options.dtype).layers[-1]
                size = lt.flops if KINDS[bench.kind].compute else lt.traffic.total
                r = _Runner(graph, popts)
                tensors = r.run_all()
                fns.append(r.block((node,), tensors))
                what = bench.what if batch == 1 else f"{bench.what}, batch {batch}"
                plan.append((Bench(bench.kind, bench.layers, bench.input, what), float(size)))
            names = ["overhead", *(b.what for b, _ in plan)]
            rounds_step: Step | None = None
            if step is not None:
                report = step

                def rounds_step(i: int, r: int) -> None:
                    report(f"{names[i]} ({r + 1}/{options.repeats})")

            timings = time_interleaved(
                fns, device=options.device, min_time=options.min_time, repeats=options.repeats,
                warmup=options.warmup, step=rounds_step,
            )
    except TORCH_ERRORS as e:
        text = str(e).strip().splitlines()
        raise UsageError(
            f"torch {torch.__version__} cannot run the calibration in {options.dtype} on {options.device}: "
            f"{text[0] if text else type(e).__name__}" + ("; try --dtype fp32" if options.dtype != "fp32" else "")
        ) from None
    finally:
        torch.set_num_threads(threads_before)
        torch.backends.cudnn.benchmark = bench_before
    overhead = timings[0].median_s / OVERHEAD_CHAIN
    measured = [Measurement(b, size, t) for (b, size), t in zip(plan, timings[1:])]
    return Calibration(
        device=options.device,
        threads=(options.threads or threads_before) if options.device == "cpu" else None,
        dtype=options.dtype,
        channels_last=options.channels_last,
        overhead_s=overhead,
        curves=curves_of(measured, overhead),
        device_name=cpu_model() if options.device == "cpu" else device_name("cuda"),
        torch=torch.__version__,
        convcost=__version__,
        date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        method=method_text(options.device, options.repeats, options.cudnn_benchmark if options.device == "cuda" else None)
        + f"; ≥{options.min_time:g} s per benchmark",
        repeats=options.repeats,
        warmup=options.warmup,
        cudnn_benchmark=options.cudnn_benchmark if options.device == "cuda" else None,
        load=load,
        duration_s=round(time.time() - started, 1),
    )


def _overhead_graph() -> Graph:
    layers = "[" + ", ".join(["relu"] * OVERHEAD_CHAIN) + "]"
    return _graph(f"input: [1, 1, 1]\nlayers: {layers}\n", "<calibrate overhead>")


def net_rate(size: float, time_s: float, overhead_s: float) -> float:
    """size / the time beyond the overhead (at least MIN_NET_SHARE of the time)."""
    return size / max(time_s - overhead_s, MIN_NET_SHARE * time_s)


def curves_of(measured: list[Measurement], overhead_s: float) -> dict[str, Curve]:
    """Each kind's points by size; benchmarks of one kind and the same size are merged (geometric mean rate)."""
    by_size: dict[str, dict[float, list[Measurement]]] = {}
    for m in measured:
        by_size.setdefault(m.bench.kind, {}).setdefault(m.size, []).append(m)
    curves: dict[str, Curve] = {}
    for kind in KINDS:
        sizes = by_size.get(kind)
        if not sizes:
            continue
        points = []
        for size in sorted(sizes):
            ms = sizes[size]
            rates = [net_rate(size, m.timing.median_s, overhead_s) for m in ms]
            spreads = [m.timing.spread_pct for m in ms if m.timing.spread_pct is not None]
            points.append(
                Point(
                    size,
                    math.exp(statistics.fmean(math.log(r) for r in rates)),
                    statistics.median(m.timing.median_s for m in ms),
                    max(spreads) if spreads else None,
                    "; ".join(m.bench.what for m in ms),
                )
            )
        curves[kind] = Curve(tuple(points))
    return curves
