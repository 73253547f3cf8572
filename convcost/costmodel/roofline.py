"""Roofline estimates: device profiles (built-in and user YAML) and the time each layer takes.

With nominal peaks, a layer takes at least max(FLOPs / peak FLOP/s, bytes / bandwidth): it is
compute-bound when the first term is larger, memory-bound otherwise. With a calibrated profile
(`convcost calibrate`, calibration.py) the time is a prediction: max(FLOPs / the rate measured for
the layer's kind at its size, bytes / the bandwidth measured at its size) + the per-op overhead; a conv or linear adds
its weight and its input and output bytes beyond those of the calibrated layers of its size, at the rates calibrate
fitted for them (Calibration.bytes_time), an attention layer its passes over its score matrices (kinds.score_passes)
at its ops' measured bandwidths.
Layers are assumed unfused (see memory.py), so the time of a block or model is the sum of its
layers' times. No torch here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from ..errors import Loc, SpecError, UsageError, did_you_mean
from ..frontend.source import YMap, YNode, YScalar, load_yaml, read_text, shorten, type_name
from ..graph.segments import top_level_segments
from .calibration import STREAM_KIND, Calibration, ProbeTimes, parse_calibrations
from .kinds import KINDS, VIEW, curve_bytes, layer_kind, score_passes
from .memory import MemoryReport, dtype_bytes

PEAK_DTYPES = ("fp32", "tf32", "fp16", "bf16", "int8")


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    description: str
    peak: dict[str, float]  # FLOP/s (OP/s for int8) per dtype, dense
    bandwidth: float  # bytes/s of main memory
    source: str = ""
    loc: Loc | None = None  # where a user profile defines it (its 'peak:' mapping); None: built in
    cores: int | None = None  # CPU cores the peak is for: a run on fewer threads gets that share of it
    calibrations: tuple[Calibration, ...] = ()  # measured by `convcost calibrate`

    def peak_for(self, dtype: str) -> float:
        if dtype not in self.peak:
            message = f"device profile '{self.name}' has no peak for {dtype}; it has: {', '.join(self.peak)}"
            if self.loc is None:
                raise UsageError(message)
            raise SpecError(f"{message} (add '{dtype}: ...' here, e.g. {dtype}: 19.5 TFLOP/s)", self.loc)
        return self.peak[dtype]

    def ridge(self, dtype: str) -> float:
        """The arithmetic intensity (FLOP/byte) where memory-bound turns compute-bound."""
        return self.peak_for(dtype) / self.bandwidth


T, G = 1e12, 1e9

# Dense (no structured sparsity) peaks. Datasheets quote tensor-core numbers "with sparsity";
# the dense figure is half of that.
BUILTIN: dict[str, DeviceProfile] = {
    "cpu": DeviceProfile(
        "cpu",
        "generic 2-core x86 CPU (assumed)",
        # Assumptions, not a measurement: 2 cores × 2.5 GHz × AVX2 with two FMA units of 8 fp32
        # lanes = 2 · 2.5e9 · 2 · 8 · 2 FLOP = 160 GFLOP/s. AVX2 has no fp16/bf16 arithmetic, so
        # those convert to fp32 (same peak); int8 via vpmaddubsw/vpmaddwd assumed 2× fp32.
        # Bandwidth: 20 GB/s, what two cores typically sustain (STREAM triad) of a dual-channel
        # DDR4-3200 socket (51.2 GB/s theoretical).
        {"fp32": 160 * G, "fp16": 160 * G, "bf16": 160 * G, "int8": 320 * G},
        20 * G,
        "assumptions stated in convcost/costmodel/roofline.py",
        cores=2,
    ),
    "h100": DeviceProfile(
        "h100",
        "NVIDIA H100 SXM5 80GB",
        # NVIDIA H100 Tensor Core GPU datasheet (SXM column): FP32 67 TFLOPS; TF32 tensor 989,
        # BF16/FP16 tensor 1,979, INT8 tensor 3,958 TOPS (all "with sparsity", dense = half);
        # GPU memory bandwidth 3.35 TB/s (HBM3).
        {"fp32": 67 * T, "tf32": 494.5 * T, "fp16": 989.5 * T, "bf16": 989.5 * T, "int8": 1979 * T},
        3.35 * T,
        "NVIDIA H100 Tensor Core GPU datasheet, SXM",
    ),
    "h200": DeviceProfile(
        "h200",
        "NVIDIA H200 SXM 141GB",
        # NVIDIA H200 Tensor Core GPU datasheet (SXM): same compute as H100 SXM (FP32 67 TFLOPS;
        # TF32 989, BF16/FP16 1,979, INT8 3,958 with sparsity); 4.8 TB/s HBM3e.
        {"fp32": 67 * T, "tf32": 494.5 * T, "fp16": 989.5 * T, "bf16": 989.5 * T, "int8": 1979 * T},
        4.8 * T,
        "NVIDIA H200 Tensor Core GPU datasheet, SXM",
    ),
    "a100": DeviceProfile(
        "a100",
        "NVIDIA A100 SXM4 80GB",
        # NVIDIA A100 Tensor Core GPU datasheet (80GB SXM): FP32 19.5 TFLOPS; TF32 tensor 156,
        # BF16/FP16 tensor 312, INT8 tensor 624 TOPS (dense; 2× with sparsity); 2,039 GB/s HBM2e.
        {"fp32": 19.5 * T, "tf32": 156 * T, "fp16": 312 * T, "bf16": 312 * T, "int8": 624 * T},
        2039 * G,
        "NVIDIA A100 Tensor Core GPU datasheet, 80GB SXM",
    ),
}

_PREFIX = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_RATE = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKMGTP]?)\s*([A-Za-z/]*)\s*")
_UNITS = {"bandwidth": ("", "B/s", "Bps"), "peak": ("", "FLOP/s", "FLOPS", "OP/s", "OPS")}


def parse_rate(node: YNode, kind: str, what: str) -> float:
    """A positive rate: a number (per second) or text like '3.35 TB/s', '989 TFLOP/s', '67T'."""
    if not isinstance(node, YScalar) or isinstance(node.value, bool) or node.value is None:
        raise SpecError(f"{what} must be a number or text like {_example(kind)}, got {type_name(node)}", node.loc)
    value = node.value
    if isinstance(value, (int, float)):
        rate = float(value)
    else:
        m = _RATE.fullmatch(str(value))
        if not m or m.group(3) not in _UNITS[kind]:
            raise SpecError(
                f"{what}: cannot read '{shorten(str(value))}'; write a number or text like {_example(kind)}", node.loc
            )
        rate = float(m.group(1)) * _PREFIX[m.group(2)]
    shown = shorten(str(value))
    if math.isnan(rate):
        raise SpecError(f"{what} must be a positive number, got {shown}", node.loc)
    if math.isinf(rate):
        raise SpecError(f"{what} is out of range: {shown} is not a finite rate", node.loc)
    if rate <= 0:
        raise SpecError(f"{what} must be positive, got {shown}", node.loc)
    return rate


def _example(kind: str) -> str:
    return "'3.35 TB/s'" if kind == "bandwidth" else "'989 TFLOP/s'"


DEVICE_KEYS = ("description", "peak", "bandwidth", "source", "cores", "calibrations")


def _text(node: YNode | None, what: str) -> str:
    if node is None:
        return ""
    if not isinstance(node, YScalar) or not isinstance(node.value, str):
        raise SpecError(f"{what} must be a string, got {type_name(node)}", node.loc)
    return node.value


def parse_profiles(text: str, filename: str) -> dict[str, DeviceProfile]:
    """User device profiles: ``devices: {NAME: {peak: {fp32: ...}, bandwidth: ..., description, source}}``."""
    from ..frontend.spec import NAME_RE, check_keys, expect_map

    empty = "empty device profile file: expected a mapping with 'devices'"
    root = expect_map(load_yaml(text, filename, empty), "a device profile file")
    check_keys(root, ("devices",), "a device profile file")
    if root.get("devices") is None:
        raise SpecError("a device profile file needs 'devices:'", root.loc)
    devices = expect_map(root.items["devices"], "'devices'")
    if not devices.items:
        raise SpecError("'devices' is empty", devices.loc)
    out: dict[str, DeviceProfile] = {}
    for name, node in devices.items.items():
        if not NAME_RE.fullmatch(name):
            raise SpecError(f"device name '{name}' must be letters, digits, '_' or '-'", devices.keys[name])
        dmap = expect_map(node, f"device '{name}'")
        check_keys(dmap, DEVICE_KEYS, f"device '{name}'")
        for key in ("peak", "bandwidth"):
            if dmap.get(key) is None:
                raise SpecError(f"device '{name}' needs '{key}'", devices.keys[name])
        peak_map: YMap = expect_map(dmap.items["peak"], f"device '{name}' peak")
        if not peak_map.items:
            raise SpecError(f"device '{name}': 'peak' is empty; give at least fp32", peak_map.loc)
        check_keys(peak_map, PEAK_DTYPES, f"device '{name}' peak")
        peak = {dt: parse_rate(v, "peak", f"device '{name}' peak {dt}") for dt, v in peak_map.items.items()}
        bandwidth = parse_rate(dmap.items["bandwidth"], "bandwidth", f"device '{name}' bandwidth")
        cal_node = dmap.get("calibrations")
        out[name] = DeviceProfile(
            name,
            _text(dmap.get("description"), "'description'") or name,
            peak,
            bandwidth,
            _text(dmap.get("source"), "'source'") or filename,
            peak_map.loc,
            _cores(dmap.get("cores"), name),
            () if cal_node is None else parse_calibrations(cal_node, name),
        )
    return out


def _cores(node: YNode | None, device: str) -> int | None:
    if node is None:
        return None
    if not isinstance(node, YScalar) or isinstance(node.value, bool) or not isinstance(node.value, int) or node.value < 1:
        raise SpecError(f"device '{device}' cores must be a positive integer, got {type_name(node)}", node.loc)
    return node.value


def load_profiles(path: str | Path) -> dict[str, DeviceProfile]:
    return parse_profiles(read_text(path, "device profile file"), str(path))


def resolve_profile(name: str | None, hw_file: str | Path | None = None, default: str = "cpu") -> DeviceProfile:
    """A profile by name: the user's file first (its only device when no name is given), then built-ins.

    A device in the file named like a built-in (``cpu``) overrides the built-in.
    """
    user = load_profiles(hw_file) if hw_file is not None else {}
    if name is None:
        if len(user) == 1:
            return next(iter(user.values()))
        if user:
            raise UsageError(f"{hw_file} defines several devices ({', '.join(user)}); pick one with --hw")
        name = default
    if name in user:
        return user[name]
    key = name.lower()
    if key in BUILTIN:
        return user.get(key, BUILTIN[key])
    choices = list(dict.fromkeys([*user, *BUILTIN]))  # once each, the file's first
    shown = [f"{c} (from {hw_file}, overrides the built-in)" if c in user and c in BUILTIN else c for c in choices]
    raise UsageError(f"unknown device profile '{name}'{did_you_mean(key, choices)}; known: {', '.join(shown)}")


@dataclass(frozen=True)
class Span:
    """Roofline numbers of one layer or a sum of layers."""

    flops: int = 0
    bytes: int = 0
    compute_s: float = 0.0
    memory_s: float = 0.0
    ideal_s: float = 0.0  # sum of each layer's max(compute, memory) + overhead: the roofline's (predicted) time
    memory_bound_s: float = 0.0  # the part of ideal_s spent in memory-bound layers (overheads not included)
    overhead_s: float = 0.0  # the part of ideal_s that is per-op overhead (0 with nominal peaks)

    def __add__(self, other: Span) -> Span:
        return Span(
            self.flops + other.flops,
            self.bytes + other.bytes,
            self.compute_s + other.compute_s,
            self.memory_s + other.memory_s,
            self.ideal_s + other.ideal_s,
            self.memory_bound_s + other.memory_bound_s,
            self.overhead_s + other.overhead_s,
        )

    @property
    def intensity(self) -> float:
        return self.flops / self.bytes if self.bytes else 0.0

    @property
    def bound(self) -> str:
        """What most of the time goes to: 'compute'-bound layers, 'memory'-bound layers or per-op 'overhead'."""
        if self.ideal_s == 0:
            return "–"
        compute_bound = self.ideal_s - self.memory_bound_s - self.overhead_s
        parts = [(compute_bound, "compute"), (self.memory_bound_s, "memory"), (self.overhead_s, "overhead")]
        return max(parts, key=lambda p: p[0])[1]  # the first of equal parts: compute


def layer_span(flops: int, nbytes: int, peak: float, bandwidth: float, overhead: float = 0.0) -> Span:
    compute, memory = flops / peak, nbytes / bandwidth
    work = max(compute, memory)
    return Span(flops, nbytes, compute, memory, work + overhead, work if memory > compute else 0.0, overhead)


@dataclass(frozen=True)
class Speed:
    """How fast the machine ran during a measurement against its calibration, by class of work: the speed probe's
    layers (crosscheck/calibrate.py PROBE_BENCHES, timed beside the models) took ``calibrated`` when calibrated and
    ``now`` in the run; each factor is calibrated / now (above 1: faster now). Compute kinds' rates are multiplied
    by ``compute``, memory kinds' (and the bandwidth a compute kind's bytes move at) by ``memory``, the per-op
    overhead divided by ``overhead``. A class the probe timed at 0 keeps 1. ``spread``: each class's spread over the
    run's rounds (interquartile range / median, a fraction); a class whose ratio is within it keeps 1 (the probe
    cannot tell that speed from its own noise: on a few-µs model a factor of noise is the whole error)."""

    calibrated: ProbeTimes
    now: ProbeTimes
    spread: ProbeTimes | None = None

    def _ratio(self, field: str) -> float:
        calibrated, now = getattr(self.calibrated, field), getattr(self.now, field)
        return calibrated / now if calibrated > 0 and now > 0 else 1.0

    def _factor(self, field: str) -> float:
        ratio = self._ratio(field)
        if self.spread is not None and abs(math.log(ratio)) <= math.log1p(getattr(self.spread, field)):
            return 1.0
        return ratio

    @property
    def compute(self) -> float:
        return self._factor("compute_s")

    @property
    def memory(self) -> float:
        return self._factor("memory_s")

    @property
    def overhead(self) -> float:
        return self._factor("overhead_s")

    @property
    def text(self) -> str:
        gated = self.spread is not None and any(
            getattr(self, name) == 1.0 != self._ratio(field) for name, field in
            (("compute", "compute_s"), ("memory", "memory_s"), ("overhead", "overhead_s")))
        within = "; ×1.00 where its ratio was within the probe's own spread" if gated else ""
        return (f"speed probe: this run at ×{self.compute:.2f} the calibration's compute speed, ×{self.memory:.2f} its "
                f"memory speed, ×{self.overhead:.2f} its per-op speed{within}")


@dataclass(frozen=True)
class Fit:
    """How a device profile applies to one run: the calibration measured in (or nearest to) its
    conditions, the factor compute rates are scaled by for the run's thread count, and the machine's speed
    during the run against the calibration's where a speed probe measured it."""

    calibration: Calibration | None  # None: the nominal peak and bandwidth
    scale: float = 1.0  # compute rates (or the nominal peak) × this
    threads: int | None = None  # the run's CPU threads (None: as calibrated, or all cores)
    note: str = ""  # what was adapted, for the header ('' when the profile fits the run as it is)
    speed: Speed | None = None  # None: no speed probe (the calibration's speed is assumed)

    def with_speed(self, speed: Speed) -> Fit:
        """This fit, its rates brought to the speed the probe measured (per model: ``note`` stays the run's)."""
        return replace(self, speed=speed)


NOMINAL = Fit(None)  # no calibration, nothing scaled


def _share(threads: int, of: int, cores: int | None) -> float:
    """The compute of ``threads`` threads relative to ``of`` threads, on ``cores`` cores (None: unknown)."""
    limit = cores or max(threads, of)
    return min(threads, limit) / min(of, limit)


def fit_profile(
    profile: DeviceProfile,
    dtype: str,
    threads: int | None = None,
    channels_last: bool = False,
    device: str | None = None,
    clock: str | None = None,
) -> Fit:
    """The calibration of ``profile`` for a run in ``dtype`` on ``threads`` CPU threads (``device``: 'cpu'/'cuda',
    None: any). Preferred: the same memory format, then the same thread count, then the nearest one, whose
    compute rates are scaled by threads (up to the cores). Without a calibration for the dtype: the nominal peak,
    scaled to the run's share of the profile's ``cores``."""
    cals = [c for c in profile.calibrations if c.dtype == dtype and (device is None or c.device == device)]
    if not cals:
        scale = 1.0 if threads is None or profile.cores is None else _share(threads, profile.cores, profile.cores)
        notes = []
        if profile.calibrations:
            have = ", ".join(sorted({c.conditions for c in profile.calibrations}))
            notes.append(f"not calibrated for {dtype}{f' on {device}' if device else ''} (calibrated: {have}): nominal peak")
        if scale != 1.0:
            notes.append(f"peak scaled to {threads} of {profile.cores} cores")
        return Fit(None, scale, threads, "; ".join(notes))
    same_layout = [c for c in cals if c.channels_last == channels_last] or cals
    if threads is None:
        cal = same_layout[0]
    else:
        cal = min(same_layout, key=lambda c: (abs(math.log((c.threads or threads) / threads)), -(c.threads or 0)))
    notes = []
    if cal.channels_last != channels_last:
        notes.append(f"calibrated {'with' if cal.channels_last else 'without'} channels_last")
    if clock is not None and cal.clock != clock:
        names = {"cpu": "CPU time", "wall": "wall time"}
        notes.append(f"calibrated in {names[cal.clock]}, measured in {names.get(clock, clock)} (they differ under load)")
    scale = 1.0
    if threads is not None and cal.threads is not None and cal.threads != threads:
        scale = _share(threads, cal.threads, profile.cores)
        notes.append(f"calibrated at {cal.threads} thread{'s' if cal.threads != 1 else ''}, run at {threads}: compute rates × "
                     f"{scale:.3g}")
    return Fit(cal, scale, threads if threads is not None else cal.threads, "; ".join(notes))


def predicted_span(
    kind: str, op: str, flops: int, nbytes: int, fit: Fit, peak: float, bandwidth: float, after: float | None = None,
    curve_nbytes: int | None = None, scores: tuple[tuple[str, int], ...] = (), weight_nbytes: int = 0,
    activation_nbytes: int = 0,
) -> tuple[Span, bool]:
    """A layer's time from a calibration (``fit.calibration`` must be set), and whether its op or kind has a curve.

    Compute kinds: max(FLOPs / the rate of its op's (else kind's) curve at that many FLOPs, bytes / the
    elementwise bandwidth at that many bytes); memory kinds: bytes / the bandwidth of its op's (else kind's)
    curve at that many bytes; views: nothing; each plus the overhead. Without a curve: the nominal peak
    (compute), the elementwise curve or else the nominal bandwidth (memory). ``after``: the bytes the layer
    before moved (None: the first layer); the overhead is the calibration's after it (Calibration.overhead_at).
    ``curve_nbytes``: the bytes a memory kind's time follows when not all it moves (kinds.curve_bytes: a strided
    grouped conv's); the span still reports ``nbytes``. ``scores``: an attention's passes over the score matrices its
    torch module holds in memory ((op, bytes moved) each, kinds.score_passes), added to a compute kind's time at
    their ops' memory curves (Calibration.score_time; the attention curve's rates are net of the same part); they
    count as memory-bound time. ``weight_nbytes``, ``activation_nbytes``: the layer's weight bytes and input and output
    bytes; a compute kind pays for those beyond its curve's layers' at the curve's rates for them (Calibration.bytes_time;
    memory-bound time).
    """
    cal = fit.calibration
    assert cal is not None
    speed = fit.speed
    overhead = cal.overhead_at(after) / (speed.overhead if speed else 1.0)
    if kind == VIEW:
        return Span(flops, nbytes, 0.0, 0.0, overhead, 0.0, overhead), True
    curve, own = cal.curve(kind, op)
    memory_speed = speed.memory if speed else 1.0
    if KINDS[kind].compute:
        stream = cal.memory.get(STREAM_KIND)
        rate = (curve.rate_at(flops) if curve else peak) * fit.scale * (speed.compute if speed else 1.0)
        bw = (stream.rate_at(nbytes) if stream and nbytes else bandwidth) * memory_speed
        span = layer_span(flops, nbytes, rate, bw, overhead)
        # its score passes, and its bytes beyond those of the layers its curve measured at this size
        extra = (cal.score_time(scores) + cal.bytes_time(kind, op, flops, weight_nbytes, activation_nbytes)) / memory_speed
        if not extra:
            return span, own
        return Span(flops, nbytes, span.compute_s, span.memory_s + extra, span.ideal_s + extra,
                    span.memory_bound_s + extra, overhead), own
    size = nbytes if curve_nbytes is None else curve_nbytes
    bw = (curve.rate_at(size) if curve and size else bandwidth) * memory_speed
    memory = size / bw
    return Span(flops, nbytes, 0.0, memory, memory + overhead, memory, overhead), own


@dataclass(frozen=True)
class Roofline:
    memory: MemoryReport
    profile: DeviceProfile
    dtype: str  # the peak used (may be tf32 while tensors are fp32)
    layers: tuple[Span, ...]  # aligned with memory.layers
    fit: Fit = NOMINAL  # the calibration used, if any
    kinds: tuple[str, ...] = ()  # each layer's kind (costmodel/kinds.py) when a calibration is used, else ()
    uncalibrated: tuple[str, ...] = ()  # layers whose kind the calibration has no curve for

    @property
    def calibrated(self) -> bool:
        return self.fit.calibration is not None

    @cached_property
    def total(self) -> Span:
        return sum(self.layers, Span())

    def segments(self) -> list[tuple[str, str, Span]]:
        """(name, kind, span) of each top-level block, in order."""
        by_index = {lt.node.index: s for lt, s in zip(self.memory.layers, self.layers)}
        return [
            (seg.name, seg.kind, sum((by_index[i] for i in seg.indices), Span()))
            for seg in top_level_segments(self.memory.graph)
        ]


def roofline(
    memory: MemoryReport,
    profile: DeviceProfile,
    peak_dtype: str | None = None,
    *,
    threads: int | None = None,
    channels_last: bool = False,
    device: str | None = None,
    clock: str | None = None,
    probe: ProbeTimes | None = None,
    probe_spread: ProbeTimes | None = None,
) -> Roofline:
    """Each layer's roofline time on ``profile``: predicted from its calibration for ``memory.dtype`` (see
    fit_profile) when it has one, else from the nominal peak for ``peak_dtype`` (default: the tensors' dtype).
    ``probe``: what the calibration's speed probe took during the run (its rates are brought to that speed, see
    Speed; ignored without a calibration that holds the probe's own times); ``probe_spread``: its spread over the run's
    rounds (Speed.spread)."""
    fit = fit_profile(profile, memory.dtype, threads, channels_last, device, clock)
    if probe is not None and fit.calibration is not None and fit.calibration.probe is not None:
        fit = fit.with_speed(Speed(fit.calibration.probe.times, probe, probe_spread))
    dtype = peak_dtype or memory.dtype
    if fit.calibration is None:
        peak = profile.peak_for(dtype) * fit.scale
        spans = tuple(layer_span(lt.flops, lt.traffic.total, peak, profile.bandwidth) for lt in memory.layers)
        return Roofline(memory, profile, dtype, spans, fit)
    peak = profile.peak.get(dtype) or max(profile.peak.values())
    kinds = tuple(layer_kind(lt.node) for lt in memory.layers)
    elem = dtype_bytes(memory.dtype)
    predicted = [
        predicted_span(
            kind, lt.node.op, lt.flops, lt.traffic.total, fit, peak, profile.bandwidth,
            memory.layers[i - 1].traffic.total if i else None, curve_bytes(kind, lt.node, lt.traffic),
            score_passes(lt.node, memory.graph.batch, elem), lt.traffic.weight_bytes,
            lt.traffic.input_bytes + lt.traffic.output_bytes,
        )
        for i, (kind, lt) in enumerate(zip(kinds, memory.layers))
    ]
    missing = tuple(lt.node.name for lt, (_, ok) in zip(memory.layers, predicted) if not ok)
    return Roofline(memory, profile, dtype, tuple(s for s, _ in predicted), fit, kinds, missing)
