"""Measured latency of the torch modules built from a spec, beside the analytic roofline.

torch is imported inside the functions only (the analytic path must never import it).

Method. The model is built with convcost.crosscheck.torch_build (eval mode, random weights), cast to the
dtype and memory format asked for, and run once to check that torch supports it. Timing runs
under torch.inference_mode():

* CPU: torch.utils.benchmark.Timer.blocked_autorange with ``num_threads``: it warms up, picks how
  many calls one measurement holds so that timer overhead vanishes, and repeats measurements for
  at least ``min_time`` seconds.
* CUDA: warm-up calls, then pairs of torch.cuda.Event(enable_timing=True) recorded around each
  call on the current stream, read after torch.cuda.synchronize(); repeated for ``min_time``.

Each measurement is a per-call time; we report the median and the interquartile range.

Per top-level block (convcost.graph.segments), the model is first run once node by node to capture the
real tensors each block reads; then the block's modules alone are timed on those tensors.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..costmodel.analysis import Analysis, analyze
from ..costmodel.memory import (
    DEFAULT_MAX_BYTES,
    DTYPE_BYTES,
    WEIGHT_BUILD_BYTES,
    MemoryReport,
    analyze_memory,
    forward_bytes,
    human_bytes,
)
from ..costmodel.roofline import BUILTIN, DeviceProfile, Roofline, Span, roofline
from ..errors import UsageError, did_you_mean
from ..graph.build import Graph
from ..graph.segments import top_level_segments
from .torch_deps import TORCH_ERRORS

if TYPE_CHECKING:
    import torch

MEASURED_DTYPES = ("fp32", "fp16", "bf16")
CUDA_MAX_RUNS = 10_000


@dataclass(frozen=True)
class ProfileOptions:
    device: str = "cpu"
    dtype: str = "fp32"
    channels_last: bool = False
    threads: int | None = None  # CPU threads (torch.set_num_threads); None: torch's default
    min_time: float = 0.2  # seconds of timed calls per measurement target
    warmup: int = 3
    blocks: bool = True  # also time each top-level block
    max_bytes: int = DEFAULT_MAX_BYTES  # refuse a model whose estimated memory is above this


@dataclass(frozen=True)
class Timing:
    """Per-call times of repeated measurements."""

    times_s: tuple[float, ...]
    calls_per_run: int

    @property
    def runs(self) -> int:
        return len(self.times_s)

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s)

    @property
    def iqr_s(self) -> float:
        """Interquartile range (0 with fewer than 2 measurements)."""
        if len(self.times_s) < 2:
            return 0.0
        q = statistics.quantiles(self.times_s, n=4, method="inclusive")
        return q[2] - q[0]

    @property
    def min_s(self) -> float:
        return min(self.times_s)

    @property
    def max_s(self) -> float:
        return max(self.times_s)


@dataclass(frozen=True)
class Measured:
    """One timed unit (the whole model or a top-level block) with its analytic roofline."""

    name: str
    kind: str
    layers: int
    macs: int
    span: Span  # analytic flops, bytes, ideal time
    timing: Timing | None  # None when not measured

    @property
    def achieved_flops_per_s(self) -> float | None:
        return self.span.flops / self.timing.median_s if self.timing and self.timing.median_s > 0 else None

    @property
    def roofline_pct(self) -> float | None:
        """Roofline ideal time as a percentage of the measured median (100 % = at the roof)."""
        if not self.timing or self.timing.median_s <= 0:
            return None
        return 100 * self.span.ideal_s / self.timing.median_s


@dataclass(frozen=True)
class ModelProfile:
    analysis: Analysis
    memory: MemoryReport
    roofline: Roofline
    whole: Measured
    blocks: tuple[Measured, ...]

    @property
    def graph(self) -> Graph:
        return self.analysis.graph


@dataclass(frozen=True)
class Environment:
    torch: str
    device: str
    device_name: str
    threads: int | None
    dtype: str
    channels_last: bool
    method: str
    min_time_s: float
    warmup: int


@dataclass(frozen=True)
class ProfileRun:
    environment: Environment | None  # None: analytic only (no measurement)
    hardware: DeviceProfile
    peak_dtype: str
    models: tuple[ModelProfile, ...] = field(default_factory=tuple)


Progress = Callable[[str], None]  # called before each timed unit with its description


# ---- analytic part (no torch) ----------------------------------------------------------------
def analytic_profile(graph: Graph, dtype: str, hw: DeviceProfile, peak_dtype: str | None = None) -> ModelProfile:
    a = analyze(graph)
    mem = analyze_memory(a, dtype)
    roof = roofline(mem, hw, peak_dtype)
    return _profile_of(a, mem, roof, None, {})


def _profile_of(
    a: Analysis, mem: MemoryReport, roof: Roofline, whole: Timing | None, blocks: dict[str, Timing]
) -> ModelProfile:
    g = a.graph
    macs = {lc.node.index: lc.cost.macs for lc in a.layers}
    measured = tuple(
        Measured(seg.name, seg.kind, len(seg.nodes), sum(macs[i] for i in seg.indices), span, blocks.get(seg.name))
        for seg, (_, _, span) in zip(top_level_segments(g), roof.segments())
    )
    model = Measured(g.model, "model", len(g.nodes), a.total.macs, roof.total, whole)
    return ModelProfile(a, mem, roof, model, measured)


def block_count(graph: Graph) -> int:
    return len(top_level_segments(graph))


# ---- torch part ------------------------------------------------------------------------------
def _torch_dtype(name: str) -> torch.dtype:
    import torch

    if name not in MEASURED_DTYPES:
        if name in DTYPE_BYTES:  # known to the analytic roofline, not runnable as torch modules here
            raise UsageError(
                f"--dtype {name} cannot be measured (torch modules run in {', '.join(MEASURED_DTYPES)}); "
                f"`convcost roofline --dtype {name}` gives its analytic roofline"
            )
        raise UsageError(
            f"unknown --dtype '{name}'{did_you_mean(name, list(DTYPE_BYTES))}; profile measures "
            f"{', '.join(MEASURED_DTYPES)} (`convcost roofline` also takes "
            f"{', '.join(d for d in DTYPE_BYTES if d not in MEASURED_DTYPES)})"
        )
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[name]


def device_name(device: str) -> str:
    import platform

    import torch

    if device == "cuda":
        return str(torch.cuda.get_device_name())
    return platform.processor() or platform.machine()


def default_hw(device: str) -> str:
    """The built-in profile that matches the device (by CUDA device name), else 'cpu'."""
    if device != "cuda":
        return "cpu"
    name = device_name(device).upper()
    for key in ("H200", "H100", "A100"):
        if key in name:
            return key.lower()
    raise UsageError(f"no built-in roofline profile for '{device_name(device)}'; give one with --hw/--hw-file")


def peak_dtype_for(device: str, dtype: str, hw: DeviceProfile) -> str:
    """fp32 convs on CUDA run on TF32 tensor cores when cuDNN allows it (torch's default)."""
    if device == "cuda" and dtype == "fp32" and "tf32" in hw.peak:
        import torch

        if torch.backends.cudnn.allow_tf32:
            return "tf32"
    return dtype


def time_cpu(fn: Callable[[], Any], threads: int | None, min_time: float, warmup: int, min_runs: int = 5) -> Timing:
    import torch
    from torch.utils import benchmark

    for _ in range(warmup):
        fn()
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads or torch.get_num_threads())
    m = timer.blocked_autorange(min_run_time=min_time)
    times = list(m.times)
    while len(times) < min_runs:  # slow calls: blocked_autorange may stop after one block
        times.extend(timer.timeit(m.number_per_run).times)
    return Timing(tuple(times), m.number_per_run)


def time_cuda(fn: Callable[[], Any], min_time: float, warmup: int, min_runs: int = 10) -> Timing:
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times: list[float] = []
    started = time.perf_counter()
    batch = 10
    while len(times) < CUDA_MAX_RUNS:
        events = []
        for _ in range(batch):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            events.append((start, end))
        torch.cuda.synchronize()
        times.extend(s.elapsed_time(e) / 1e3 for s, e in events)  # elapsed_time is in ms
        if len(times) >= min_runs and time.perf_counter() - started >= min_time:
            break
    return Timing(tuple(times), 1)


def method_name(device: str) -> str:
    if device == "cuda":
        return "torch.cuda.Event pairs per call, torch.cuda.synchronize(); median and IQR"
    return "torch.utils.benchmark.Timer.blocked_autorange; median and IQR"


class _Runner:
    """The built model on its device, in the dtype and memory format asked for."""

    def __init__(self, graph: Graph, options: ProfileOptions) -> None:
        import torch

        from .torch_build import build_model, example_inputs

        self.options = options
        self.dtype = _torch_dtype(options.dtype)
        self.model = build_model(graph, device=options.device).to(self.dtype)
        xs = tuple(x.to(self.dtype) for x in example_inputs(graph, device=options.device))
        if options.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
            xs = tuple(x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x for x in xs)
        self.xs = xs
        self.graph = graph
        self.modules = {node.index: module for node, module in self.model.named_layers()}

    def run_all(self) -> dict[int, Any]:
        """Run every node once, keeping every output (to feed the blocks' timings)."""
        out: dict[int, Any] = {i.index: x for i, x in zip(self.graph.inputs, self.xs)}
        for node in self.graph.nodes:
            out[node.index] = self.modules[node.index](*(out[i] for i in node.inputs))
        return out

    def whole(self) -> Callable[[], Any]:
        model, xs = self.model, self.xs
        return lambda: model(*xs)

    def block(self, seg_nodes: tuple[Any, ...], tensors: dict[int, Any]) -> Callable[[], Any]:
        inside = {n.index for n in seg_nodes}
        ext = {i: tensors[i] for n in seg_nodes for i in n.inputs if i not in inside}
        plan = [(n.index, self.modules[n.index], n.inputs) for n in seg_nodes]

        def run() -> Any:
            env = dict(ext)
            out = None
            for idx, module, inputs in plan:
                out = module(*(env[i] for i in inputs))
                env[idx] = out
            return out

        return run

    def time(self, fn: Callable[[], Any]) -> Timing:
        o = self.options
        if o.device == "cuda":
            return time_cuda(fn, o.min_time, o.warmup)
        return time_cpu(fn, o.threads, o.min_time, o.warmup)


def environment(options: ProfileOptions) -> Environment:
    import torch

    threads = (options.threads or torch.get_num_threads()) if options.device == "cpu" else None
    return Environment(
        torch.__version__, options.device, device_name(options.device), threads, options.dtype,
        options.channels_last, method_name(options.device), options.min_time, options.warmup,
    )


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
    layer's output in --dtype -- twice when blocks are timed (each block runs on the kept outputs
    of the first pass)."""
    return forward_bytes(a, DTYPE_BYTES[options.dtype], WEIGHT_BUILD_BYTES, 2 if options.blocks else 1)


def check_memory(a: Analysis, options: ProfileOptions, command: str = "profile") -> int:
    """The model's estimated bytes; a UsageError above ``options.max_bytes`` (before torch allocates)."""
    graph = a.graph
    need = profile_bytes(a, options)
    if need > options.max_bytes:
        twice = ", twice since each block is timed on kept outputs" if options.blocks else ""
        ways = ["lower --batch"] if graph.batch > 1 else []
        if options.blocks:
            ways.append("time the whole model only (--no-blocks)")
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


def measure(
    a: Analysis, options: ProfileOptions, hw: DeviceProfile, peak_dtype: str, progress: Progress | None = None
) -> ModelProfile:
    """Time one model (and its top-level blocks) and put the numbers beside its roofline."""
    import torch

    graph = a.graph
    mem = analyze_memory(a, options.dtype)
    roof = roofline(mem, hw, peak_dtype)
    threads_before = torch.get_num_threads()
    doing = "building"
    try:
        if options.device == "cpu" and options.threads:
            torch.set_num_threads(options.threads)
        with torch.inference_mode():
            runner = _Runner(graph, options)
            doing = "running"
            tensors = runner.run_all()  # once untimed: does torch support this dtype here?
            if not options.blocks:
                del tensors  # the whole model's timing needs none of them
            doing = "timing"
            if progress:
                progress(f"{graph.model}: whole model")
            whole = runner.time(runner.whole())
            blocks: dict[str, Timing] = {}
            if options.blocks:
                for seg in top_level_segments(graph):
                    if progress:
                        progress(f"{graph.model}: {seg.name}")
                    blocks[seg.name] = runner.time(runner.block(seg.nodes, tensors))
                del tensors
    except TORCH_ERRORS as e:
        raise torch_failure(e, a, options, doing) from None
    finally:
        torch.set_num_threads(threads_before)
    return _profile_of(a, mem, roof, whole, blocks)


def resolve_hw(options: ProfileOptions, hw: DeviceProfile | None) -> tuple[DeviceProfile, str]:
    profile = hw or BUILTIN[default_hw(options.device)]
    return profile, peak_dtype_for(options.device, options.dtype, profile)


def profile_graphs(
    graphs: list[Graph],
    options: ProfileOptions,
    hw: DeviceProfile | None = None,
    progress: Progress | None = None,
    command: str = "profile",
) -> ProfileRun:
    from .torch_deps import check_device, require

    require(command)
    check_device(options.device)
    _torch_dtype(options.dtype)
    if options.threads is not None and options.threads < 1:
        raise UsageError(f"--threads must be at least 1, got {options.threads}")
    analyses = [analyze(g) for g in graphs]
    for a in analyses:  # every model before timing any: a refusal comes first, not after minutes
        check_memory(a, options, command)
    profile, peak = resolve_hw(options, hw)
    models = tuple(measure(a, options, profile, peak, progress) for a in analyses)
    return ProfileRun(environment(options), profile, peak, models)


def profile_latency(graphs: list[Graph], options: ProfileOptions | None = None) -> list[Timing]:
    """Whole-model latency of each graph (the hook behind `compare --profile`)."""
    o = options or ProfileOptions()
    o = dataclasses.replace(o, blocks=False)
    run = profile_graphs(graphs, o, command="compare --profile")
    out = []
    for m in run.models:
        assert m.whole.timing is not None  # measured above
        out.append(m.whole.timing)
    return out
