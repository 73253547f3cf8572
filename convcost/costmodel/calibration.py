"""Calibrated device profiles: what `convcost calibrate` measured, read back from YAML and written out.

A calibration holds, for one set of run conditions (device, threads, dtype, memory format), the
sustained rate of each layer kind (costmodel/kinds.py) at several sizes, and the per-op overhead:

* ``compute``: curves of FLOP/s at sizes in FLOPs per call, for compute kinds;
* ``memory``: curves of bytes/s at sizes in bytes moved per call, for memory kinds;
* either section may also hold a curve for one op (``gelu``, ``layernorm``, ``avgpool``): a layer of
  that op uses it instead of its kind's (a GELU moves the bytes of a ReLU at a third of its speed);
* ``overhead``: the time a layer costs beyond its work (Python module call, dispatch, launch);
* ``overhead_after`` (optional): that time measured right after a layer that moved many bytes (a view after
  a 3×3 conv with 9 MB of weights takes 3× a view after a ReLU: the big layer has pushed the interpreter's and
  dispatcher's code and data out of the caches): a layer following one that moved ``after`` bytes is charged
  this curve's upper envelope (never less after more bytes; linear in log(after), clamped at both ends), never
  less than ``overhead``.
* ``weights`` and ``activations`` (optional): for a compute kind (or op) whose layers of equal FLOPs took longer
  the more weight bytes, or the more input and output bytes, they move (a 3×3 conv on 512×7×7 has the FLOPs of one on
  128×28×28, 16× its weights, and takes 1.8× as long: CPU convolutions reorder their weights on every call; one on
  64×56×56, twice the activations, takes 1.1× as long), the bandwidths those bytes cost at: fitted by calibrate among
  its layers of equal FLOPs (crosscheck/calibrate.py byte_rates), they price a layer's bytes *beyond those of the
  layers its curve measured at its size*: each point of such a curve holds the fewest weight and activation bytes
  among its layers (``weights``, ``activations``), its rate is theirs brought down to those bytes, and a layer pays
  (its weight bytes − the point's) / the weights rate + (its activation bytes − the point's) / the activations rate,
  each where positive, on top of max(FLOPs / rate, bytes / bandwidth) (the points' bytes interpolated log-log between
  sizes). At a calibrated shape that gives back its time; a 3×3 conv of ResNet's last stage pays for 64× the weights
  of one of its first stage, of the same FLOPs.

Each rate is *net* of the overhead (size / (time − overhead), the overhead after the layer before it), so
that a layer's predicted time, max(FLOPs / compute rate, bytes / bandwidth) + overhead, gives back the measured time at every
calibrated size. Between sizes the rate is interpolated linearly in log(size)–log(rate); below the
smallest size the time stays the smallest's (fixed costs), above the largest the rate stays the
largest's. No torch here.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from ..errors import Loc, SpecError, did_you_mean
from ..frontend.source import YMap, YNode, YScalar, YSeq, shorten, type_name
from ..ops.registry import REGISTRY, lookup
from .kinds import COMPUTE_KINDS, KINDS, MEMORY_KINDS

CALIBRATED_DTYPES = ("fp32", "fp16", "bf16")
DEVICES = ("cpu", "cuda")
CLOCKS = ("wall", "cpu")
# kinds measured in B/s at bytes moved that earlier files hold as compute kinds (FLOP/s at FLOPs)
BYTES_SINCE_0_1 = ("conv_depthwise", "conv_depthwise_large", "conv_grouped")
STREAM_KIND = "elementwise"  # the bandwidth a compute kind's bytes move at


@dataclass(frozen=True)
class Point:
    """One measured size of a kind: its rate net of the overhead, and what was measured."""

    size: float  # FLOPs (compute kinds) or bytes (memory kinds) per call
    rate: float  # FLOP/s or B/s
    time_s: float | None = None  # the measured per-call time (median of the repeats)
    spread_pct: float | None = None  # IQR of the repeats / median, %
    layer: str = ""  # the layer measured, in words
    # the fewest weight and activation (input + output) bytes among the layers measured, on a curve with byte rates
    # (Calibration.weights, activations): a layer pays for the bytes it moves beyond these
    weights: float | None = None
    activations: float | None = None


@dataclass(frozen=True)
class AfterPoint:
    """The per-op time measured right after a layer that moved ``after`` bytes."""

    after: float  # bytes moved by the layer before
    time_s: float
    spread_pct: float | None = None
    layer: str = ""  # the layer measured, in words


def _log_log(x: float, xa: float, ya: float, xb: float, yb: float) -> float:
    """y at x on the line through (xa, ya) and (xb, yb) in log(x)–log(y)."""
    f = (math.log(x) - math.log(xa)) / (math.log(xb) - math.log(xa))
    return math.exp(math.log(ya) + f * (math.log(yb) - math.log(ya)))


def excess_time(charges: Iterable[tuple[float | None, float | None, float]]) -> float:
    """The time of bytes beyond a reference: Σ (bytes − reference) / rate over (rate, reference, bytes), each where
    the rate and the reference are given and the bytes exceed the reference."""
    return sum((nbytes - ref) / rate for rate, ref, nbytes in charges if rate and ref is not None and nbytes > ref)


@dataclass(frozen=True)
class Curve:
    points: tuple[Point, ...]  # sorted by size, sizes distinct

    def rate_at(self, size: float) -> float:
        """The rate at ``size``: log-log interpolation between points; below the smallest, the smallest's time (a
        layer smaller than any measured pays the fixed costs the smallest did); above the largest, its rate."""
        pts = self.points
        if size <= pts[0].size:
            return pts[0].rate * size / pts[0].size
        if size >= pts[-1].size:
            return pts[-1].rate
        i = bisect.bisect_right([p.size for p in pts], size)
        a, b = pts[i - 1], pts[i]
        return _log_log(size, a.size, a.rate, b.size, b.rate)

    def bytes_at(self, size: float) -> tuple[float | None, float | None]:
        """The weight and activation bytes of the layers measured, at ``size``: log-log between points, the nearest
        point's outside them; None for a kind of bytes the points do not hold."""
        return self._interpolate(size, "weights"), self._interpolate(size, "activations")

    def _interpolate(self, size: float, field: str) -> float | None:
        pts = [(p.size, getattr(p, field)) for p in self.points]
        if any(v is None for _, v in pts):
            return None
        if size <= pts[0][0]:
            return pts[0][1]
        if size >= pts[-1][0]:
            return pts[-1][1]
        i = bisect.bisect_right([x for x, _ in pts], size)
        (xa, ya), (xb, yb) = pts[i - 1], pts[i]
        if not (ya and yb):  # a zero: linear between them
            return ya + (yb - ya) * (size - xa) / (xb - xa)
        return _log_log(size, xa, ya, xb, yb)

    @property
    def best(self) -> float:
        return max(p.rate for p in self.points)


@dataclass(frozen=True)
class ProbeTimes:
    """The speed probe's layers' median times summed by class: compute kinds, memory kinds, views (the overhead)."""

    compute_s: float
    memory_s: float
    overhead_s: float


@dataclass(frozen=True)
class Probe:
    """The speed probe of a calibration: a few of its benchmarks (named by what they measure), timed again beside
    the models by `profile`, and what they took while it calibrated (roofline.Speed compares the two)."""

    benches: tuple[str, ...]
    times: ProbeTimes


@dataclass(frozen=True)
class Calibration:
    """Rates measured on one device under one set of conditions."""

    device: str  # 'cpu' | 'cuda'
    threads: int | None  # CPU threads of the run (None on CUDA)
    dtype: str
    channels_last: bool
    overhead_s: float
    compute: dict[str, Curve]  # FLOP/s curves by compute kind or op name
    memory: dict[str, Curve]  # bytes/s curves by memory kind or op name
    device_name: str = ""
    torch: str = ""
    convcost: str = ""
    date: str = ""  # ISO 8601, UTC
    method: str = ""
    repeats: int | None = None
    warmup: int | None = None
    cudnn_benchmark: bool | None = None
    load: tuple[float, ...] = ()  # the 1, 5, 15-minute load averages when it started (where the OS has them)
    duration_s: float | None = None
    clock: str = "wall"  # 'wall' or 'cpu' (the CPU time of the one thread: what the work takes with a core to itself)
    overhead_after: tuple[AfterPoint, ...] = ()  # sorted by ``after``, distinct
    probe: Probe | None = None  # None: written before the speed probe (profile then assumes the calibration's speed)
    # B/s at which a compute curve's layers pay for their weight bytes, and for their input and output bytes, beyond
    # their FLOPs, by the curve's key (kind or op); a curve not in one pays nothing for those bytes (a file written
    # before they were fitted, no equal-FLOP layers to fit them from, or no cost seen)
    weights: dict[str, float] = field(default_factory=dict)
    activations: dict[str, float] = field(default_factory=dict)
    loc: Loc | None = field(default=None, compare=False)

    def overhead_at(self, after: float | None) -> float:
        """The per-op time of a layer that follows one that moved ``after`` bytes (None: the first layer): the upper
        envelope of the ``overhead_after`` curve (each point's time raised to the largest at or below its size: a
        bigger layer before leaves the caches no warmer than a smaller one did), linear in log(after) between its
        points and clamped at both ends, never below ``overhead``; ``overhead`` without a curve or after a layer
        that moved nothing."""
        pts = self.overhead_after
        if not pts or not after or after <= 0:
            return self.overhead_s
        sizes, times = [p.after for p in pts], list(itertools.accumulate((p.time_s for p in pts), max))
        if after <= sizes[0]:
            t = times[0]
        elif after >= sizes[-1]:
            t = times[-1]
        else:
            i = bisect.bisect_left(sizes, after)
            f = (math.log(after) - math.log(sizes[i - 1])) / (math.log(sizes[i]) - math.log(sizes[i - 1]))
            t = times[i - 1] + f * (times[i] - times[i - 1])
        return max(self.overhead_s, t)

    def score_time(self, passes: Iterable[tuple[str, float]]) -> float:
        """The time of an attention's passes over the score matrices it holds in memory ((op, bytes moved) each,
        kinds.score_passes): each at its op's memory curve where there is one (softmax, add, multiply), else the
        elementwise one, at the bytes it moves; 0 for a pass neither has."""
        total = 0.0
        for op, size in passes:
            curve = self.memory.get(op) or self.memory.get(STREAM_KIND)
            if curve is not None and size > 0:
                total += size / curve.rate_at(size)
        return total

    @property
    def conditions(self) -> str:
        threads = f", {self.threads} thread{'s' if self.threads != 1 else ''}" if self.threads else ""
        clock = ", CPU time" if self.clock == "cpu" else ""
        return f"{self.device}{threads}, {self.dtype}{', channels_last' if self.channels_last else ''}{clock}"

    def curve(self, kind: str, op: str) -> tuple[Curve | None, bool]:
        """The curve a layer of ``op`` and ``kind`` runs at: its op's, else its kind's; and whether it is its own
        (False: a fallback, or None when the calibration has neither)."""
        section = self.compute if KINDS[kind].compute else self.memory
        own = section.get(op) or section.get(kind)
        if own is not None:
            return own, True
        return (None if KINDS[kind].compute else self.memory.get(STREAM_KIND)), False

    def bytes_time(self, kind: str, op: str, flops: float, weight_bytes: float, activation_bytes: float) -> float:
        """What a layer of ``op`` and ``kind`` with ``flops`` pays, beyond its curve's time, for ``weight_bytes`` and
        ``activation_bytes`` (inputs and outputs) beyond those of the layers its curve measured at that size
        (Curve.bytes_at): each excess / the curve's ``weights`` or ``activations`` rate (its op's curve, else its
        kind's); nothing for fewer bytes (the curve's rate is already that of its fewest). 0 for a memory kind (its
        bytes are what its curve is measured by) and for a curve without such a rate."""
        if not KINDS[kind].compute:
            return 0.0
        key = op if op in self.compute else kind
        curve = self.compute.get(key)
        if curve is None:
            return 0.0
        ref_w, ref_a = curve.bytes_at(flops)
        return excess_time(((self.weights.get(key), ref_w, weight_bytes), (self.activations.get(key), ref_a,
                                                                           activation_bytes)))

    @property
    def best_compute(self) -> float | None:
        rates = [c.best for c in self.compute.values()]
        return max(rates) if rates else None

    @property
    def best_bandwidth(self) -> float | None:
        curve = self.memory.get(STREAM_KIND)
        return curve.best if curve else None


# ---- quantities with units ------------------------------------------------------------------------
_PREFIX = {"": 0, "n": -9, "u": -6, "µ": -6, "m": -3, "k": 3, "K": 3, "M": 6, "G": 9, "T": 12, "P": 15}  # powers of 10
_QUANTITY = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([nuµmkKMGTP]?)([A-Za-z/%]*)\s*")
UNITS = {  # '': a number with a prefix alone ('231M'), as device peaks are written ('67T')
    "flops": ("", "FLOP", "FLOPs"),
    "bytes": ("", "B"),
    "flop_rate": ("", "FLOP/s", "FLOPS"),
    "byte_rate": ("", "B/s"),
    "time": ("s",),
    "percent": ("", "%"),
}
EXAMPLES = {
    "flops": "'231 MFLOP'", "bytes": "'1.6 MB'", "flop_rate": "'66 GFLOP/s'", "byte_rate": "'40 GB/s'",
    "time": "'4.1 us'", "percent": "'3 %'",
}


def quantity(node: YNode, unit: str, what: str, positive: bool = True) -> float:
    """A finite number (in base units) or text with a prefix and the unit: '231 MFLOP', '4.1 us', '40 GB/s'."""
    example = EXAMPLES[unit]
    if not isinstance(node, YScalar) or isinstance(node.value, bool) or node.value is None:
        raise SpecError(f"{what} must be a number or text like {example}, got {type_name(node)}", node.loc)
    value = node.value
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        m = _QUANTITY.fullmatch(str(value))
        prefixes = "nuµm" if unit == "time" else "" if unit == "percent" else "kKMGTP"
        if not m or m.group(3) not in UNITS[unit] or (m.group(2) and m.group(2) not in prefixes):
            raise SpecError(f"{what}: cannot read '{shorten(str(value))}'; write a number or text like {example}", node.loc)
        number = float(Decimal(m.group(1)).scaleb(_PREFIX[m.group(2)]))  # exact: '10 us' is 1e-05, not 9.99…e-06
    shown = shorten(str(value))
    if not math.isfinite(number):
        raise SpecError(f"{what} must be a finite number, got {shown}", node.loc)
    if number < 0 or (positive and number == 0):
        raise SpecError(f"{what} must be {'positive' if positive else 'at least 0'}, got {shown}", node.loc)
    return number


def fmt_quantity(value: float, unit: str) -> str:
    """A number with an SI prefix and 5 significant digits: 231200000, 'FLOP' -> '231.2 MFLOP'."""
    if value == 0:
        return f"0 {unit}"
    if unit == "s":
        prefixes = [("", 1.0), ("m", 1e-3), ("u", 1e-6), ("n", 1e-9)]
    else:
        prefixes = [("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1.0)]
    prefix, scale = next(((p, s) for p, s in prefixes if abs(value) >= s * 0.99995), prefixes[-1])
    return f"{value / scale:.5g} {prefix}{unit}"


# ---- reading -----------------------------------------------------------------------------------------
CALIBRATION_KEYS = (
    "device", "device_name", "threads", "dtype", "channels_last", "torch", "convcost", "date", "method", "repeats",
    "warmup", "cudnn_benchmark", "load", "duration", "clock", "overhead", "overhead_after", "probe", "weights",
    "activations", "compute", "memory",
)
PROBE_KEYS = ("benches", "compute", "memory", "overhead")
POINT_KEYS = ("size", "rate", "time", "spread", "layer", "weights", "activations")
AFTER_KEYS = ("after", "time", "spread", "layer")


def _choice(node: YNode | None, what: str, choices: tuple[str, ...], loc: Loc) -> str:
    if node is None:
        raise SpecError(f"{what} is missing; expected one of: {', '.join(choices)}", loc)
    if not isinstance(node, YScalar) or node.value not in choices:
        shown = node.value if isinstance(node, YScalar) else None
        hint = did_you_mean(str(shown), choices) if isinstance(shown, str) else ""
        raise SpecError(f"{what} must be one of: {', '.join(choices)}; got {type_name(node)}{hint}", node.loc)
    return str(node.value)


def _text(node: YNode | None, what: str) -> str:
    if node is None:
        return ""
    if not isinstance(node, YScalar) or isinstance(node.value, bool) or node.value is None:
        raise SpecError(f"{what} must be text, got {type_name(node)}", node.loc)
    return str(node.value)


def _int(node: YNode | None, what: str) -> int | None:
    if node is None or (isinstance(node, YScalar) and node.value is None):
        return None
    if not isinstance(node, YScalar) or isinstance(node.value, bool) or not isinstance(node.value, int) or node.value < 1:
        raise SpecError(f"{what} must be a positive integer, got {type_name(node)}", node.loc)
    return node.value


def _bool(node: YNode | None, what: str) -> bool | None:
    if node is None or (isinstance(node, YScalar) and node.value is None):
        return None
    if not isinstance(node, YScalar) or not isinstance(node.value, bool):
        raise SpecError(f"{what} must be true or false, got {type_name(node)}", node.loc)
    return node.value


def _load(node: YNode | None, what: str) -> tuple[float, ...]:
    if node is None or (isinstance(node, YScalar) and node.value is None):
        return ()
    if not isinstance(node, YSeq) or not node.items or len(node.items) > 3:
        raise SpecError(f"{what} must be a list of up to 3 load averages, got {type_name(node)}", node.loc)
    return tuple(_number(n, what) for n in node.items)


def _number(node: YNode, what: str) -> float:
    if not isinstance(node, YScalar) or isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
        raise SpecError(f"{what} must be numbers, got {type_name(node)}", node.loc)
    if not math.isfinite(node.value) or node.value < 0:
        raise SpecError(f"{what} must be finite numbers ≥ 0, got {node.value}", node.loc)
    return float(node.value)


def _point_maps(seq: YSeq, keys: tuple[str, ...], required: tuple[str, ...], what: str) -> Iterator[tuple[str, YMap]]:
    """Each point of a measured list as (its name in messages, its map): a map of ``keys`` holding ``required``."""
    from ..frontend.spec import check_keys, expect_map

    for i, item in enumerate(seq.items):
        where = f"{what} point {i + 1}"
        pmap = expect_map(item, where)
        check_keys(pmap, keys, where)
        for key in required:
            if pmap.get(key) is None:
                raise SpecError(f"{where} needs '{key}'", pmap.loc)
        yield where, pmap


def _check_increasing(value: float, previous: float | None, where: str, which: str, unit: str, node: YNode) -> None:
    """A point's size (or 'after') above the previous point's, or a located error."""
    if previous is not None and value <= previous:
        raise SpecError(f"{where}: {which} must increase; {fmt_quantity(value, unit)} is not above the previous point's "
                        f"{fmt_quantity(previous, unit)}", node.loc)


def _curve(node: YNode, compute: bool, what: str) -> Curve:
    from ..frontend.spec import expect_list

    seq = expect_list(node, what)
    if not seq.items:
        raise SpecError(f"{what} is empty; give at least one measured size", seq.loc)
    points: list[Point] = []
    for where, pmap in _point_maps(seq, POINT_KEYS, ("size", "rate"), what):
        size = quantity(pmap.items["size"], "flops" if compute else "bytes", f"{where} size")
        _check_increasing(size, points[-1].size if points else None, where, "sizes", "FLOP" if compute else "B",
                          pmap.items["size"])
        rate = quantity(pmap.items["rate"], "flop_rate" if compute else "byte_rate", f"{where} rate")
        time_node, spread_node = pmap.get("time"), pmap.get("spread")
        w_node, a_node = pmap.get("weights"), pmap.get("activations")
        points.append(
            Point(
                size,
                rate,
                None if time_node is None else quantity(time_node, "time", f"{where} time"),
                None if spread_node is None else quantity(spread_node, "percent", f"{where} spread", positive=False),
                _text(pmap.get("layer"), f"{where} layer"),
                None if w_node is None else quantity(w_node, "bytes", f"{where} weights", positive=False),
                None if a_node is None else quantity(a_node, "bytes", f"{where} activations", positive=False),
            )
        )
    return Curve(tuple(points))


def _after_points(node: YNode | None, what: str) -> tuple[AfterPoint, ...]:
    """``overhead_after``: a list of {after: bytes, time: s}, ``after`` increasing."""
    from ..frontend.spec import expect_list

    if node is None:
        return ()
    seq = expect_list(node, f"{what} overhead_after")
    points: list[AfterPoint] = []
    for where, pmap in _point_maps(seq, AFTER_KEYS, ("after", "time"), f"{what} overhead_after"):
        after = quantity(pmap.items["after"], "bytes", f"{where} after")
        _check_increasing(after, points[-1].after if points else None, where, "'after'", "B", pmap.items["after"])
        spread = pmap.get("spread")
        points.append(AfterPoint(
            after,
            quantity(pmap.items["time"], "time", f"{where} time", positive=False),
            None if spread is None else quantity(spread, "percent", f"{where} spread", positive=False),
            _text(pmap.get("layer"), f"{where} layer"),
        ))
    return tuple(points)


def _probe(node: YNode | None, what: str) -> Probe | None:
    """``probe``: {benches: [what each measures], compute: time, memory: time, overhead: time}."""
    from ..frontend.spec import check_keys, expect_list, expect_map

    if node is None:
        return None
    where = f"{what} probe"
    pmap = expect_map(node, where)
    check_keys(pmap, PROBE_KEYS, where)
    for key in PROBE_KEYS:
        if pmap.get(key) is None:
            raise SpecError(f"{where} needs '{key}'", pmap.loc)
    benches = expect_list(pmap.items["benches"], f"{where} benches")
    if not benches.items:
        raise SpecError(f"{where} benches is empty; name at least one benchmark", benches.loc)
    names = tuple(_text(b, f"{where} benches") for b in benches.items)
    times = ProbeTimes(*(quantity(pmap.items[k], "time", f"{where} {k}", positive=False) for k in PROBE_KEYS[1:]))
    return Probe(names, times)


def _curves(node: YNode | None, section: str, kinds: tuple[str, ...], what: str) -> dict[str, Curve]:
    """A section's curves, by kind or op name (canonical: 'bn' is stored as 'batchnorm')."""
    from ..frontend.spec import expect_map

    if node is None:
        return {}
    cmap = expect_map(node, f"{what} '{section}'")
    out: dict[str, Curve] = {}
    for key, cnode in cmap.items.items():
        rule = lookup(key)
        if key in kinds:
            name = key
        elif key in KINDS:
            other = "compute" if KINDS[key].compute else "memory"
            stale = "; files written before depthwise and grouped convs were measured by the bytes they move hold it under " \
                "'compute', in FLOP/s: run `convcost calibrate` again" if key in BYTES_SINCE_0_1 else ""
            raise SpecError(f"'{key}' is a {other} kind: put it under '{other}'{stale}", cmap.keys[key])
        elif rule is not None:
            name = rule.name
            if name in out:
                raise SpecError(f"{what} {section}: '{key}' is '{name}' again", cmap.keys[key])
        else:
            hint = did_you_mean(key, [*kinds, *REGISTRY])
            raise SpecError(
                f"unknown {section} kind or op '{shorten(key)}'{hint}; the kinds are: {', '.join(kinds)} "
                "(or name an op, see `convcost ops`)",
                cmap.keys[key],
            )
        out[name] = _curve(cnode, section == "compute", f"{what} {section} {key}")
    return out


def _byte_rates(node: YNode | None, compute: dict[str, Curve], what: str, section: str) -> dict[str, float]:
    """``weights`` or ``activations``: {compute curve key: B/s}, each key one of the calibration's compute curves."""
    from ..frontend.spec import expect_map

    if node is None:
        return {}
    wmap = expect_map(node, f"{what} '{section}'")
    out: dict[str, float] = {}
    for key, rnode in wmap.items.items():
        rule = lookup(key)
        name = key if key in KINDS else rule.name if rule is not None else key
        if name not in compute:
            have = ", ".join(compute) or "none"
            raise SpecError(f"{what} {section}: '{shorten(key)}' has no compute curve here{did_you_mean(key, list(compute))}; "
                            f"the compute curves are: {have}", wmap.keys[key])
        if any(getattr(p, section) is None for p in compute[name].points):
            raise SpecError(f"{what} {section}: '{shorten(key)}' is priced against the {section} bytes of its curve's "
                            f"layers, but not every point of its curve gives them ('{section}: ...')", wmap.keys[key])
        out[name] = quantity(rnode, "byte_rate", f"{what} {section} {key}")
    return out


def parse_calibration(node: YNode, what: str) -> Calibration:
    """One entry of a device's ``calibrations`` list, validated (errors name the file, line and column)."""
    from ..frontend.spec import check_keys, expect_map

    cmap: YMap = expect_map(node, what)
    check_keys(cmap, CALIBRATION_KEYS, what)
    device = _choice(cmap.get("device"), f"{what} 'device'", DEVICES, cmap.loc)
    dtype = _choice(cmap.get("dtype"), f"{what} 'dtype'", CALIBRATED_DTYPES, cmap.loc)
    threads = _int(cmap.get("threads"), f"{what} 'threads'")
    if device == "cpu" and threads is None:
        raise SpecError(f"{what}: a CPU calibration needs 'threads' (the thread count it was measured with)", cmap.loc)
    if cmap.get("overhead") is None:
        raise SpecError(f"{what} needs 'overhead' (the per-op time, e.g. overhead: 4.1 us)", cmap.loc)
    overhead = quantity(cmap.items["overhead"], "time", f"{what} overhead", positive=False)
    compute = _curves(cmap.get("compute"), "compute", COMPUTE_KINDS, what)
    memory = _curves(cmap.get("memory"), "memory", MEMORY_KINDS, what)
    if not compute and not memory:
        raise SpecError(f"{what} has no measured kinds: give 'compute:' or 'memory:' curves", cmap.loc)
    duration = cmap.get("duration")
    clock = "wall" if cmap.get("clock") is None else _choice(cmap.get("clock"), f"{what} 'clock'", CLOCKS, cmap.loc)
    if clock == "cpu" and (device != "cpu" or threads != 1):
        raise SpecError(f"{what}: 'clock: cpu' (one thread's CPU time) needs device cpu and threads 1", cmap.items["clock"].loc)
    return Calibration(
        device=device,
        threads=threads if device == "cpu" else None,
        dtype=dtype,
        channels_last=bool(_bool(cmap.get("channels_last"), f"{what} 'channels_last'")),
        overhead_s=overhead,
        compute=compute,
        memory=memory,
        device_name=_text(cmap.get("device_name"), f"{what} 'device_name'"),
        torch=_text(cmap.get("torch"), f"{what} 'torch'"),
        convcost=_text(cmap.get("convcost"), f"{what} 'convcost'"),
        date=_text(cmap.get("date"), f"{what} 'date'"),
        method=_text(cmap.get("method"), f"{what} 'method'"),
        repeats=_int(cmap.get("repeats"), f"{what} 'repeats'"),
        warmup=_int(cmap.get("warmup"), f"{what} 'warmup'"),
        cudnn_benchmark=_bool(cmap.get("cudnn_benchmark"), f"{what} 'cudnn_benchmark'"),
        load=_load(cmap.get("load"), f"{what} 'load'"),
        duration_s=None if duration is None else quantity(duration, "time", f"{what} duration", positive=False),
        clock=clock,
        overhead_after=_after_points(cmap.get("overhead_after"), what),
        probe=_probe(cmap.get("probe"), what),
        weights=_byte_rates(cmap.get("weights"), compute, what, "weights"),
        activations=_byte_rates(cmap.get("activations"), compute, what, "activations"),
        loc=cmap.loc,
    )


def parse_calibrations(node: YNode, device: str) -> tuple[Calibration, ...]:
    from ..frontend.spec import expect_list

    what = f"device '{device}' calibrations"
    seq = expect_list(node, what)
    if not seq.items:
        raise SpecError(f"{what} is empty", seq.loc)
    out: list[Calibration] = []
    for i, item in enumerate(seq.items):
        cal = parse_calibration(item, f"device '{device}' calibration {i + 1}")
        for j, other in enumerate(out):
            if (other.device, other.threads, other.dtype, other.channels_last) == (
                cal.device, cal.threads, cal.dtype, cal.channels_last
            ):
                raise SpecError(
                    f"device '{device}' calibration {i + 1} measures the same conditions ({cal.conditions}) as "
                    f"calibration {j + 1}; keep one",
                    item.loc,
                )
        out.append(cal)
    return tuple(out)


# ---- writing ---------------------------------------------------------------------------------------
def _yaml_text(text: str) -> str:
    """A double-quoted YAML string (JSON escapes are valid YAML)."""
    import json

    return json.dumps(text, ensure_ascii=False)


def _point_yaml(p: Point, compute: bool) -> str:
    parts = [
        f"size: {fmt_quantity(p.size, 'FLOP' if compute else 'B')}",
        f"rate: {fmt_quantity(p.rate, 'FLOP/s' if compute else 'B/s')}",
    ]
    if p.time_s is not None:
        parts.append(f"time: {fmt_quantity(p.time_s, 's')}")
    if p.spread_pct is not None:
        parts.append(f"spread: {p.spread_pct:.0f} %")
    for key, nbytes in (("weights", p.weights), ("activations", p.activations)):
        if nbytes is not None:
            parts.append(f"{key}: {fmt_quantity(nbytes, 'B')}")
    if p.layer:
        parts.append(f"layer: {_yaml_text(p.layer)}")
    return "{" + ", ".join(parts) + "}"


def calibration_yaml(cal: Calibration, indent: str = "      ") -> list[str]:
    """The lines of one ``calibrations`` entry (a YAML list item at ``indent``)."""
    lines = [f"{indent[:-2]}- device: {cal.device}"]

    def add(key: str, value: str) -> None:
        lines.append(f"{indent}{key}: {value}")

    add("device_name", _yaml_text(cal.device_name))
    if cal.threads is not None:
        add("threads", str(cal.threads))
    add("dtype", cal.dtype)
    add("channels_last", str(cal.channels_last).lower())
    add("torch", _yaml_text(cal.torch))
    add("convcost", _yaml_text(cal.convcost))
    add("date", _yaml_text(cal.date))
    add("method", _yaml_text(cal.method))
    if cal.repeats is not None:
        add("repeats", str(cal.repeats))
    if cal.warmup is not None:
        add("warmup", str(cal.warmup))
    if cal.cudnn_benchmark is not None:
        add("cudnn_benchmark", str(cal.cudnn_benchmark).lower())
    if cal.load:
        add("load", "[" + ", ".join(f"{x:.2f}" for x in cal.load) + "]  # 1, 5 and 15-minute load averages at the start")
    if cal.duration_s is not None:
        add("duration", fmt_quantity(cal.duration_s, "s"))
    add("clock", cal.clock)
    add("overhead", fmt_quantity(cal.overhead_s, "s") + "  # per op, added to every layer's time")
    if cal.overhead_after:
        add("overhead_after", " # per op, after a layer that moved this many bytes (at least the overhead)")
        for a in cal.overhead_after:
            parts = [f"after: {fmt_quantity(a.after, 'B')}", f"time: {fmt_quantity(a.time_s, 's')}"]
            if a.spread_pct is not None:
                parts.append(f"spread: {a.spread_pct:.0f} %")
            if a.layer:
                parts.append(f"layer: {_yaml_text(a.layer)}")
            lines.append(f"{indent}  - {{{', '.join(parts)}}}")
    if cal.probe is not None:
        add("probe", " # the speed probe: these benchmarks' layers as calibrated, summed by class; `profile` times "
            "them beside the models")
        lines.append(f"{indent}  benches: [{', '.join(_yaml_text(b) for b in cal.probe.benches)}]")
        times = cal.probe.times
        for key, value in (("compute", times.compute_s), ("memory", times.memory_s), ("overhead", times.overhead_s)):
            lines.append(f"{indent}  {key}: {fmt_quantity(value, 's')}")
    for section, rates, what in (("weights", cal.weights, "weight"), ("activations", cal.activations, "input and output")):
        if rates:
            shown = ", ".join(f"{key}: {fmt_quantity(rate, 'B/s')}" for key, rate in rates.items())
            add(section, f"{{{shown}}}  # a compute layer's {what} bytes beyond its curve's layers' cost bytes / this")
    for section, curves, note in (
        ("compute", cal.compute, "FLOP/s at FLOPs per call, net of the overhead; by kind, or by op"),
        ("memory", cal.memory, "bytes/s at bytes moved per call, net of the overhead; by kind, or by op"),
    ):
        if not curves:
            continue
        add(section, f" # {note}")
        for key, curve in curves.items():
            lines.append(f"{indent}  {key}:")
            lines.extend(f"{indent}    - {_point_yaml(p, section == 'compute')}" for p in curve.points)
    return lines
