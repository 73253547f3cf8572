"""`convcost calibrate`: measure what this machine sustains and write it as a device profile."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Optional

import typer

from ..app import app, user_errors
from ..util.write_errors import write_errors
from ._options import Clock, Device
from ._output import check_output, emit, output_option
from .profile import MAX_THREADS, progress_bar

if TYPE_CHECKING:
    from ..costmodel.calibration import Calibration

MAX_MIN_TIME_S = 10.0  # per micro-benchmark: longer is no more accurate, and the whole run stays short


def device_yaml(name: str, description: str, cores: int | None, calibrations: list[Calibration]) -> str:
    """A device profile file with one device: its best measured rates as ``peak``/``bandwidth``, and each calibration."""
    from .. import __version__
    from ..costmodel.calibration import calibration_yaml, fmt_quantity

    peaks: dict[str, float] = {}
    for cal in calibrations:
        best = cal.best_compute
        if best is not None:
            peaks[cal.dtype] = max(peaks.get(cal.dtype, 0.0), best)
    bandwidths = [b for b in (cal.best_bandwidth for cal in calibrations) if b is not None]
    first = calibrations[0]
    lines = [
        f"# convcost device profile, written by `convcost calibrate` (convcost {__version__}) on {first.date}.",
        "# Use it with --hw-file in `convcost roofline`, `convcost profile` and `convcost compare --profile`.",
        "# A layer's predicted time = max(FLOPs / the compute rate of its kind at its size,",
        "#                                bytes / the bandwidth at its size) + overhead   (docs/profile.md).",
        "# Rates are net of the overhead; between sizes they are interpolated log-log.",
        "devices:",
        f"  {name}:",
        f"    description: {_quoted(description)}",
        f"    source: {_quoted(f'convcost calibrate {__version__}, {first.date}')}",
    ]
    if cores is not None:
        lines.append(f"    cores: {cores}")
    peak_text = ", ".join(f"{dt}: {fmt_quantity(v, 'FLOP/s')}" for dt, v in peaks.items())
    lines.append(f"    peak: {{{peak_text}}}  # the fastest compute rate measured")
    bandwidth = max(bandwidths) if bandwidths else 1.0
    lines.append(f"    bandwidth: {fmt_quantity(bandwidth, 'B/s')}  # the fastest elementwise bandwidth measured")
    lines.append("    calibrations:")
    for cal in calibrations:
        lines.extend(calibration_yaml(cal, indent="        "))
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)


def summary(cal: Calibration) -> list[str]:
    """One line per kind: its rates from the smallest to the largest size measured."""
    from ..costmodel.calibration import fmt_quantity

    most = max((a.time_s for a in cal.overhead_after), default=None)
    after = f", {fmt_quantity(most, 's')} after the largest layers" if most is not None else ""
    lines = [f"{cal.conditions}: overhead {fmt_quantity(cal.overhead_s, 's')} per op{after}"]
    for compute, curves in ((True, cal.compute), (False, cal.memory)):
        unit, size_unit = ("FLOP/s", "FLOP") if compute else ("B/s", "B")
        for key, curve in curves.items():
            ends = (curve.points[0], curve.points[-1])[: len(curve.points)]
            rates = " … ".join(fmt_quantity(p.rate, unit) for p in ends)
            lo, hi = fmt_quantity(curve.points[0].size, size_unit), fmt_quantity(curve.points[-1].size, size_unit)
            extra = "".join(f"; {what} at {fmt_quantity(rates_of[key], 'B/s')}" for what, rates_of in
                            (("weights", cal.weights), ("activations", cal.activations)) if compute and key in rates_of)
            lines.append(f"  {key:<15} {rates}  ({len(curve.points)} sizes, {lo} … {hi}{extra})")
    if cal.probe is not None:
        t = cal.probe.times
        lines.append(f"  speed probe: {len(cal.probe.benches)} benchmarks took {fmt_quantity(t.compute_s, 's')} of compute, "
                     f"{fmt_quantity(t.memory_s, 's')} of memory kinds, {fmt_quantity(t.overhead_s, 's')} of views; "
                     "profile times them again beside each model")
    return lines


@app.command()
@user_errors
@write_errors
def calibrate(
    device: Device = typer.Option(Device.cpu, "--device", help="What to calibrate: this machine's CPU or its CUDA GPU."),
    threads: Optional[list[int]] = typer.Option(
        None, "--threads", min=1, help="CPU threads (repeatable: one calibration each). Default: torch's default."
    ),
    dtype: str = typer.Option("fp32", "--dtype", help="fp32, fp16 or bf16."),
    channels_last: bool = typer.Option(False, "--channels-last", help="Run the benchmarks in channels_last memory format."),
    name: Optional[str] = typer.Option(None, "--name", help="The device's name in the file (default: local-cpu, local-cuda)."),
    min_time: float = typer.Option(
        0.25, "--min-time", min=0.0, help="Seconds of timed calls per micro-benchmark, over all repeats."
    ),
    repeats: int = typer.Option(5, "--repeats", min=1, help="Interleaved rounds over all micro-benchmarks."),
    quick: bool = typer.Option(False, "--quick", help="Two sizes per kind, 0.01 s each, 3 repeats: for smoke tests."),
    cudnn_benchmark: bool = typer.Option(
        True, "--cudnn-benchmark/--no-cudnn-benchmark", help="CUDA: let cuDNN pick the fastest algorithm per shape."
    ),
    clock: Clock = typer.Option(
        Clock.wall, "--clock", help="CPU: wall time, or the CPU time of the one thread (--threads 1): steady on a "
        "machine shared with other jobs."
    ),
    chain: bool = typer.Option(
        False, "--chain", help="Run every micro-benchmark once per pass over all of them, in turn, as the layers of one "
        "long model (caches as cold as in a network), instead of each in a loop of its own."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar on stderr (terminals only)."),
    output: Optional[str] = output_option(),
) -> None:
    """Measure what this machine sustains -- convolutions by kind and size, linear layers, attention, pooling,
    the bandwidth of elementwise, norm, reduce and copy layers, the per-op overhead -- and write it as a
    device profile (YAML) for --hw-file. Takes under a minute per thread count."""
    import math

    from ..costmodel.calibration import CALIBRATED_DTYPES
    from ..costmodel.roofline import parse_profiles
    from ..errors import UsageError, did_you_mean
    from ..frontend.spec import NAME_RE

    if not math.isfinite(min_time) or min_time > MAX_MIN_TIME_S:
        raise UsageError(f"--min-time must be a finite number of seconds from 0 to {MAX_MIN_TIME_S:g}, got {min_time:g}")
    if dtype not in CALIBRATED_DTYPES:
        hint = did_you_mean(dtype, CALIBRATED_DTYPES)
        raise UsageError(f"--dtype must be one of {', '.join(CALIBRATED_DTYPES)}, got '{dtype}'{hint}")
    for t in threads or []:
        if t > MAX_THREADS:
            raise UsageError(f"--threads {t:,} is too many (limit {MAX_THREADS:,})")
    if threads and device is Device.cuda:
        raise UsageError("--threads applies to --device cpu")
    if len(set(threads or [])) != len(threads or []):
        raise UsageError("--threads lists the same thread count twice")
    device_name = name or f"local-{device.value}"
    if not NAME_RE.fullmatch(device_name):
        raise UsageError(f"--name '{device_name}' must be letters, digits, '_' or '-'")
    check_output(output, [])

    from ..crosscheck.torch_deps import check_device, require

    require("calibrate")
    check_device(device.value)
    import os

    import torch

    from ..crosscheck.timing import check_clock

    for t in threads or [torch.get_num_threads()]:
        check_clock(clock.value, device.value, t if device is Device.cpu else None)

    from ..crosscheck.calibrate import CalibrateOptions, benches_for
    from ..crosscheck.calibrate import calibrate as run_calibration

    base = CalibrateOptions(
        device=device.value, dtype=dtype, channels_last=channels_last, min_time=0.01 if quick else min_time,
        repeats=3 if quick else repeats, warmup=1 if quick else 3, quick=quick, cudnn_benchmark=cudnn_benchmark,
        clock=clock.value, chain=chain,
    )
    runs = [base] if not threads else [CalibrateOptions(**{**base.__dict__, "threads": t}) for t in threads]
    per_run = (1 if chain else 1 + len(benches_for(base))) * base.repeats
    calibrations = []
    with progress_bar(per_run * len(runs), progress) as step:
        for options in runs:
            calibrations.append(run_calibration(options, step))
    first = calibrations[0]
    description = f"{first.device_name} (calibrated)" if first.device_name else f"{device.value} (calibrated)"
    text = device_yaml(device_name, description, os.cpu_count() if device is Device.cpu else None, calibrations)
    parse_profiles(text, output or "<calibrate output>")  # what we write must read back
    emit(text, output)
    for cal in calibrations:
        for line in summary(cal):
            print(line, file=sys.stderr)
