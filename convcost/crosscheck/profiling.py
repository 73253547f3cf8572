"""Measured latency of the torch modules built from a spec, beside the roofline's (predicted) time.

torch is imported inside the functions only (the analytic path must never import it).

Method. The model is built with convcost.crosscheck.torch_build (eval mode, random weights), cast to the
dtype and memory format asked for, and run once to check that torch supports it. Timing runs
under torch.inference_mode(), with crosscheck/timing.py: every unit (the whole model, each top-level
block, each layer with ``layers``) is warmed up, then measured once per round, in turn, for
``repeats`` rounds (CPU: perf_counter around a block of calls; CUDA: an event pair around it, with
cudnn.benchmark as asked). We report the median per-call time and the interquartile range.

Per top-level block (convcost.graph.segments), the model is first run once node by node to capture the
real tensors each block reads; then the block's modules alone are timed on those tensors. Per layer, a
pass of the model reads the clock between its layers (timing.LayerProbe): each layer timed in the model.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..costmodel.analysis import Analysis, analyze
from ..costmodel.calibration import ProbeTimes
from ..costmodel.kinds import layer_kind
from ..costmodel.memory import MemoryReport, analyze_memory
from ..costmodel.roofline import BUILTIN, NOMINAL, DeviceProfile, Fit, Roofline, Span, fit_profile, roofline
from ..errors import UsageError
from ..graph.build import Graph
from ..graph.segments import top_level_segments
from .calibrate import Bench, probe_benches, probe_graph, probe_spread, probe_times
from .options import ProfileOptions
from .profile_limits import check_memory, torch_failure
from .runner import ModelRunner, device_name, torch_dtype
from .timing import (
    PROBE_PASSES,
    Timing,
    check_clock,
    method_text,
    settle_cpu_allocator,
    time_interleaved,
)
from .torch_deps import TORCH_ERRORS

ADD_UP_TOLERANCE = 0.25  # block medians should sum to the model's within this share (or twice its spread)


@dataclass(frozen=True)
class Measured:
    """One timed unit (the whole model, a top-level block or a layer) with its roofline (predicted) time."""

    name: str
    kind: str  # 'model'; a block's scope kind or op; a layer's op
    layers: int
    macs: int
    span: Span  # analytic flops, bytes, roofline time
    timing: Timing | None  # None when not measured
    latency_kind: str = ""  # a layer's kind in the latency model (costmodel/kinds.py); '' for models and blocks

    @property
    def achieved_flops_per_s(self) -> float | None:
        return self.span.flops / self.timing.median_s if self.timing and self.timing.median_s > 0 else None

    @property
    def roofline_pct(self) -> float | None:
        """Roofline ideal time as a percentage of the measured median (100 % = at the roof)."""
        if not self.timing or self.timing.median_s <= 0:
            return None
        return 100 * self.span.ideal_s / self.timing.median_s

    @property
    def error_pct(self) -> float | None:
        """(predicted − measured median) / measured median, in % (the roofline time is the prediction)."""
        pct = self.roofline_pct
        return None if pct is None else pct - 100


@dataclass(frozen=True)
class ModelProfile:
    analysis: Analysis
    memory: MemoryReport
    roofline: Roofline
    whole: Measured
    blocks: tuple[Measured, ...]
    layers: tuple[Measured, ...] = ()  # each layer, when timed

    @property
    def graph(self) -> Graph:
        return self.analysis.graph

    @property
    def blocks_sum_s(self) -> float | None:
        """The sum of the blocks' median times (None unless every block was timed)."""
        if not self.blocks or any(b.timing is None for b in self.blocks):
            return None
        return sum(b.timing.median_s for b in self.blocks if b.timing)

    @property
    def blocks_ratio(self) -> float | None:
        """Σ block medians / the whole model's median."""
        total, whole = self.blocks_sum_s, self.whole.timing
        return None if total is None or whole is None or whole.median_s <= 0 else total / whole.median_s

    @property
    def add_up_tolerance(self) -> float:
        """How far from 1 the blocks' ratio may be and still add up: 25 %, or twice the model's spread if larger."""
        spread = self.whole.timing.spread_pct if self.whole.timing else None
        return max(ADD_UP_TOLERANCE, 2 * (spread or 0) / 100)

    @property
    def blocks_add_up(self) -> bool | None:
        ratio = self.blocks_ratio
        return None if ratio is None else abs(ratio - 1) <= self.add_up_tolerance


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
    repeats: int = 1
    cudnn_benchmark: bool | None = None  # CUDA only
    load: tuple[float, ...] = ()  # 1, 5, 15-minute load averages when timing started (where the OS has them)
    clock: str = "wall"


@dataclass(frozen=True)
class ProfileRun:
    environment: Environment | None  # None: analytic only (no measurement)
    hardware: DeviceProfile
    peak_dtype: str
    models: tuple[ModelProfile, ...] = field(default_factory=tuple)
    fit: Fit = NOMINAL  # how the device profile applies to this run (its calibration, thread scaling)


Progress = Callable[[str], None]  # called before each timed unit with its description


# ---- analytic part (no torch) ----------------------------------------------------------------
def analytic_profile(
    graph: Graph, dtype: str, hw: DeviceProfile, peak_dtype: str | None = None, threads: int | None = None,
    probe: ProbeTimes | None = None, probe_spread: ProbeTimes | None = None,
) -> ModelProfile:
    """The roofline alone; ``probe``: what a speed probe took beside the model (roofline.Speed), if one ran, and
    ``probe_spread`` its spread over the rounds."""
    a = analyze(graph)
    mem = analyze_memory(a, dtype)
    roof = roofline(mem, hw, peak_dtype, threads=threads, probe=probe, probe_spread=probe_spread)
    return _profile_of(a, mem, roof, None, {}, None)


def _profile_of(
    a: Analysis,
    mem: MemoryReport,
    roof: Roofline,
    whole: Timing | None,
    blocks: dict[str, Timing],
    layers: dict[int, Timing] | None,
) -> ModelProfile:
    g = a.graph
    macs = {lc.node.index: lc.cost.macs for lc in a.layers}
    measured = tuple(
        Measured(seg.name, seg.kind, len(seg.nodes), sum(macs[i] for i in seg.indices), span, blocks.get(seg.name))
        for seg, (_, _, span) in zip(top_level_segments(g), roof.segments())
    )
    model = Measured(g.model, "model", len(g.nodes), a.total.macs, roof.total, whole)
    per_layer: tuple[Measured, ...] = ()
    if layers is not None:
        kinds = roof.kinds or tuple(layer_kind(lt.node) for lt in mem.layers)
        per_layer = tuple(
            Measured(lt.node.name, lt.node.op, 1, macs[lt.node.index], span, layers.get(lt.node.index), kind)
            for lt, span, kind in zip(mem.layers, roof.layers, kinds)
        )
    return ModelProfile(a, mem, roof, model, measured, per_layer)


def block_count(graph: Graph) -> int:
    return len(top_level_segments(graph))


# ---- torch part ------------------------------------------------------------------------------
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


def load_average() -> tuple[float, ...]:
    try:
        return tuple(round(x, 2) for x in os.getloadavg())
    except (AttributeError, OSError):  # not on this OS
        return ()


def run_threads(options: ProfileOptions) -> int | None:
    """The CPU threads a run uses (None on CUDA)."""
    import torch

    return (options.threads or torch.get_num_threads()) if options.device == "cpu" else None


def environment(options: ProfileOptions, load: tuple[float, ...] = ()) -> Environment:
    import torch

    cuda = options.device == "cuda"
    return Environment(
        torch.__version__, options.device, device_name(options.device), run_threads(options), options.dtype,
        options.channels_last, method_text(options.device, options.repeats, options.cudnn_benchmark if cuda else None,
                                           options.clock),
        options.min_time, options.warmup, options.repeats, options.cudnn_benchmark if cuda else None, load,
        options.clock,
    )


def measure(
    a: Analysis, options: ProfileOptions, hw: DeviceProfile, peak_dtype: str, progress: Progress | None = None
) -> ModelProfile:
    """Time one model (its top-level blocks, its layers) in interleaved rounds, beside its roofline."""
    import torch

    graph = a.graph
    mem = analyze_memory(a, options.dtype)
    def roof_at(probe: ProbeTimes | None = None, spread: ProbeTimes | None = None) -> Roofline:
        return roofline(mem, hw, peak_dtype, threads=run_threads(options), channels_last=options.channels_last,
                        device=options.device, clock=options.clock, probe=probe, probe_spread=spread)

    roof = roof_at()
    threads_before = torch.get_num_threads()
    bench_before = torch.backends.cudnn.benchmark
    doing = "building"
    segments = top_level_segments(graph) if options.blocks else []
    try:
        if options.device == "cpu" and options.threads:
            torch.set_num_threads(options.threads)
        if options.device == "cpu":
            settle_cpu_allocator()
        if options.device == "cuda":
            torch.backends.cudnn.benchmark = options.cudnn_benchmark
        with torch.inference_mode():
            runner = ModelRunner(graph, options)
            doing = "running"
            tensors = runner.run_all()  # once untimed: does torch support this dtype here?
            doing = "timing"
            names = ["whole model", *(seg.name for seg in segments)]
            fns: list[Callable[[], Any]] = [runner.whole(), *(runner.block(seg.nodes, tensors) for seg in segments)]
            del tensors  # the closures keep what they read
            probe = runner.probe() if options.layers else None
            if probe is not None:
                names.append("each layer")
                fns.append(probe)
            probe_at = len(fns) - 1 if probe is not None else -1
            per_layer: list[list[float]] = [[] for _ in graph.nodes]
            speed_graphs = [probe_graph(b) for b in speed_probe_benches(roof.fit, options)]
            speed_at = len(fns)
            speed_probes = [ModelRunner(g, options).probe() for g in speed_graphs]
            speed_layers: list[list[list[float]]] = [[[] for _ in g.nodes] for g in speed_graphs]
            fns += speed_probes
            names += [f"speed probe {k + 1}" for k in range(len(speed_probes))]
            # each unit's LayerProbe (its layers' times), by unit index
            layer_probes = {probe_at: (probe, per_layer)} if probe is not None else {}
            layer_probes.update({speed_at + k: (p, t) for k, (p, t) in enumerate(zip(speed_probes, speed_layers))})

            def step(i: int, r: int) -> None:
                if i in layer_probes:
                    layer_probes[i][0].take()  # forget the warm-up and estimate passes
                if progress:
                    progress(f"{graph.model}: {names[i]} ({r + 1}/{options.repeats})")

            def after(i: int, r: int) -> None:
                if i in layer_probes:
                    unit_probe, lists = layer_probes[i]
                    for times, t in zip(lists, unit_probe.take()):
                        times.append(t)

            timings = time_interleaved(
                fns, device=options.device, min_time=options.min_time, repeats=options.repeats,
                warmup=options.warmup, step=step, clock=options.clock, after=after,
                min_calls=[PROBE_PASSES if i in layer_probes else 1 for i in range(len(fns))],
            )
    except TORCH_ERRORS as e:
        raise torch_failure(e, a, options, doing) from None
    finally:
        torch.set_num_threads(threads_before)
        torch.backends.cudnn.benchmark = bench_before
    if speed_graphs:
        roof = roof_at(probe_times(speed_graphs, speed_layers, options.dtype), probe_spread(speed_graphs, speed_layers))
    blocks = {seg.name: t for seg, t in zip(segments, timings[1:])}
    layers = None
    if options.layers:
        passes = timings[-1].calls_per_run
        layers = {node.index: Timing(tuple(times), passes) for node, times in zip(graph.nodes, per_layer)}
    return _profile_of(a, mem, roof, timings[0], blocks, layers)


def speed_probe_benches(fit: Fit, options: ProfileOptions) -> list[Bench]:
    """The benchmarks of the calibration's speed probe, to time beside the model ([]: no calibration, one without a
    probe, one whose probe names benchmarks this version lacks, or ``options.probe`` off)."""
    cal = fit.calibration
    if not options.probe or cal is None or cal.probe is None:
        return []
    return probe_benches(cal.probe.benches) or []


def units_per_model(graph: Graph, options: ProfileOptions, hw: DeviceProfile | None = None) -> int:
    """Timed units of one model: the whole, its blocks, the pass that times its layers, the speed probe's benchmarks
    (for the progress bar)."""
    probes = 0
    if hw is not None:
        # options.threads, not run_threads: this runs before `profile` checks that torch is installed
        fit = fit_profile(hw, options.dtype, options.threads, options.channels_last, options.device, options.clock)
        probes = len(speed_probe_benches(fit, options))
    return 1 + (block_count(graph) if options.blocks else 0) + (1 if options.layers else 0) + probes


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
    torch_dtype(options.dtype)
    if options.threads is not None and options.threads < 1:
        raise UsageError(f"--threads must be at least 1, got {options.threads}")
    if options.repeats < 1:
        raise UsageError(f"--repeats must be at least 1, got {options.repeats}")
    check_clock(options.clock, options.device, run_threads(options))
    analyses = [analyze(g) for g in graphs]
    for a in analyses:  # every model before timing any: a refusal comes first, not after minutes
        check_memory(a, options, command)
    profile, peak = resolve_hw(options, hw)
    load = load_average()
    models = tuple(measure(a, options, profile, peak, progress) for a in analyses)
    fit = models[0].roofline.fit if models else NOMINAL
    return ProfileRun(environment(options, load), profile, peak, models, fit)


def profile_latency(graphs: list[Graph], options: ProfileOptions | None = None) -> list[Timing]:
    """Whole-model latency of each graph (the hook behind `compare --profile`)."""
    o = options or ProfileOptions()
    o = dataclasses.replace(o, blocks=False, layers=False)
    run = profile_graphs(graphs, o, command="compare --profile")
    out = []
    for m in run.models:
        assert m.whole.timing is not None  # measured above
        out.append(m.whole.timing)
    return out
