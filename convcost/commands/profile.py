"""`convcost profile` (measured latency beside the roofline) and `convcost roofline` (analytic only)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from typing import TYPE_CHECKING, Optional

import typer

from ..app import EXIT_FINDINGS, EXIT_OK, app, user_errors
from ..costmodel.sizes import DTYPE_BYTES, parse_max_memory
from ..util.write_errors import write_errors
from ._options import Clock, Device, batch_option, device_option, max_memory_option, model_option, optimizer_option
from ._output import check_output, emit, finish, output_option, wide_console

if TYPE_CHECKING:  # imported when a command runs: `convcost analyze` does not pay for them at start-up
    from ..costmodel.roofline import DeviceProfile
    from ..crosscheck.profiling import ProfileRun, Progress
    from ..graph.build import Graph


class Format(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"


PIPED_WIDTH = 150
HW_HELP = "Roofline device profile: cpu, h100, h200, a100, or a name from --hw-file."
HW_FILE_HELP = (
    "YAML file of device profiles: one written by `convcost calibrate`, or your own "
    "(devices: {NAME: {peak: {fp32: 19.5 TFLOP/s}, bandwidth: 2 TB/s}})."
)


def _emit(run: ProfileRun, fmt: Format, per_layer: bool, output: Optional[str] = None) -> None:
    from ..render import profile_out as out

    if fmt is Format.json:
        from ..render.profile_json import render_json

        emit(render_json(run), output)
    elif fmt is Format.markdown:
        emit(out.render_markdown(run), output)
    else:
        console = wide_console(output, PIPED_WIDTH)
        (out.print_roofline if per_layer else out.print_profile)(console, run)
        finish(console, output)


def _emit_accuracy(run: ProfileRun, fmt: Format, output: Optional[str]) -> float:
    """The --accuracy report; returns the largest whole-model |error| in % (inf when none was measured)."""
    from ..crosscheck.accuracy import accuracy
    from ..render import accuracy_out
    from ..render.profile_json import render_json

    acc = accuracy(run)
    if fmt is Format.json:
        emit(render_json(run, accuracy_out.accuracy_dict(acc)), output)
    elif fmt is Format.markdown:
        emit(accuracy_out.render_accuracy_markdown(run, acc), output)
    else:
        console = wide_console(output, PIPED_WIDTH)
        accuracy_out.print_accuracy(console, run, acc)
        finish(console, output)
    return abs(acc.models.worst) if acc.models else float("inf")


def load_many(specs: Optional[list[str]], model: Optional[list[str]], batch: Optional[int]) -> list[Graph]:
    """The graphs of every model of every spec (or those named by --model, from every spec that has them)."""
    from ..graph.build import build_graph
    from ..pipeline import load_graphs, open_specs, select_across

    if not specs or len(specs) == 1:
        return load_graphs(specs[0] if specs else None, model, batch)
    return [build_graph(f, m, batch) for f, m in select_across(open_specs(specs), model)]


def _hw(name: Optional[str], hw_file: Optional[str], default: str | None) -> DeviceProfile | None:
    if name is None and hw_file is None and default is None:
        return None
    from ..costmodel.roofline import resolve_profile

    return resolve_profile(name, hw_file, default or "cpu")


@contextmanager
def progress_bar(total: int, enabled: bool) -> Iterator[Progress | None]:
    """A rich progress bar on stderr, one step per timed unit; nothing when stderr is not a terminal."""
    from rich.console import Console

    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as bar:
        task = bar.add_task("timing", total=total)
        started = False

        def step(description: str) -> None:
            nonlocal started
            if started:
                bar.advance(task)
            started = True
            bar.update(task, description=f"timing {description}")

        yield step


@app.command()
@user_errors
@write_errors
def profile(
    specs: Optional[list[str]] = typer.Argument(None, help="YAML spec files; omit them to run the built-in example."),
    model: Optional[list[str]] = model_option("Model to profile (repeatable; default all)."),
    device: Device = device_option(Device.cpu, "Where to run the torch modules."),
    batch: Optional[int] = batch_option(),
    dtype: str = typer.Option("fp32", "--dtype", help="fp32, fp16 or bf16 (int8: see `convcost roofline`)."),
    channels_last: bool = typer.Option(False, "--channels-last", help="Run in channels_last memory format."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads (torch.set_num_threads)."),
    min_time: float = typer.Option(
        0.2, "--min-time", min=0.0, help="Seconds of timed calls per model, block or layer, over all repeats."
    ),
    repeats: int = typer.Option(5, "--repeats", min=1, help="Interleaved rounds: each unit is measured once per round."),
    quick: bool = typer.Option(
        False, "--quick", help="Short timing (--min-time 0.01, 3 repeats, 1 warm-up): for smoke tests."
    ),
    whole_only: bool = typer.Option(False, "--no-blocks", help="Time the whole model only, not each top-level block."),
    layers: bool = typer.Option(False, "--layers", help="Also time each layer alone (a table of predicted/measured)."),
    accuracy: bool = typer.Option(
        False, "--accuracy", help="Summarise predicted against measured (median and 90th-percentile error of models, "
        "blocks, layers); times each layer."
    ),
    max_error: Optional[float] = typer.Option(
        None, "--max-error", min=0.0, help="With --accuracy: exit 1 when a whole model's |error| is above this (%)."
    ),
    cudnn_benchmark: bool = typer.Option(
        True, "--cudnn-benchmark/--no-cudnn-benchmark", help="CUDA: let cuDNN pick the fastest algorithm per shape."
    ),
    clock: Clock = typer.Option(
        Clock.wall, "--clock", help="CPU: wall time, or the CPU time of the one thread (--threads 1): steady on a "
        "machine shared with other jobs."
    ),
    hw: Optional[str] = typer.Option(None, "--hw", help=HW_HELP + " Default: matches --device."),
    hw_file: Optional[str] = typer.Option(None, "--hw-file", help=HW_FILE_HELP),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar on stderr (terminals only)."),
    probe: bool = typer.Option(
        True, "--probe/--no-probe", help="With a calibrated --hw-file: time its speed probe beside each model and "
        "predict at the speed measured (--no-probe: at the calibration's speed)."
    ),
    max_memory: str = max_memory_option(
        "Refuse a model whose weights and kept layer outputs would need "
        "more than this many bytes (e.g. 2G, 16G)."
    ),
    training: bool = typer.Option(
        False, "--training", help="Instead of timing: run training steps and measure their memory (weights, gradients, "
        "optimizer state, saved activations; the peak on CUDA) beside `analyze --training`'s estimate."
    ),
    optimizer: Optional[str] = optimizer_option(),
    output: Optional[str] = output_option(),
) -> None:
    """Time the model's torch modules (whole, per top-level block, per layer) beside FLOPs, bytes and the
    roofline's time -- a prediction when the device profile comes from `convcost calibrate`."""
    from ..crosscheck.profiling import ProfileOptions, profile_graphs, units_per_model
    from ..errors import UsageError

    _check_ranges(min_time, threads)
    if max_error is not None and not accuracy:
        raise UsageError("--max-error applies to --accuracy; add --accuracy")
    check_output(output, [p for p in (*(specs or []), hw_file) if p])
    limit = parse_max_memory(max_memory)
    graphs = load_many(specs, model, batch)
    if optimizer is not None and not training:
        raise UsageError("--optimizer sets the training step's optimizer: add --training")
    if training:
        _profile_training(graphs, device.value, dtype, optimizer, limit, fmt, output)
        return
    options = ProfileOptions(
        device=device.value,
        dtype=dtype,
        channels_last=channels_last,
        threads=threads,
        min_time=0.01 if quick else min_time,
        warmup=1 if quick else 3,
        blocks=not whole_only,
        max_bytes=limit,
        layers=layers or accuracy,
        repeats=3 if quick else repeats,
        cudnn_benchmark=cudnn_benchmark,
        clock=clock.value,
        probe=probe,
    )
    profile_hw = _hw(hw, hw_file, None)
    total = sum(units_per_model(g, options, profile_hw) for g in graphs) * options.repeats
    with progress_bar(total, progress) as step:
        run = profile_graphs(graphs, options, profile_hw, step)
    if not accuracy:
        _emit(run, fmt, per_layer=False, output=output)
        return
    worst = _emit_accuracy(run, fmt, output)
    if max_error is not None and not worst <= max_error:
        print(f"convcost: a whole model's prediction is off by {worst:.1f} %, above --max-error {max_error:g} %", file=sys.stderr)
        raise typer.Exit(EXIT_FINDINGS)
    raise typer.Exit(EXIT_OK)


def _profile_training(graphs: list[Graph], device: str, dtype: str, optimizer: Optional[str], limit: int, fmt: Format,
                      output: Optional[str]) -> None:
    """`profile --training`: one measured training step per model (crosscheck/training_check.py)."""
    from ..costmodel.analysis import analyze
    from ..costmodel.training import analyze_training, optimizer_state
    from ..crosscheck.torch_deps import require
    from ..errors import UsageError

    name = optimizer or "adamw"
    optimizer_state(name)
    require("profile --training")
    from ..crosscheck.runner import torch_dtype
    from ..crosscheck.training_check import measure_training_step
    from ..render import training_out

    torch_dtype(dtype)
    for g in graphs:
        need = analyze_training(analyze(g), name, dtype).memory.peak_bytes
        if need > limit:
            raise UsageError(f"model '{g.model}': a training step needs about {need:,} bytes (estimate), over "
                             f"--max-memory {limit:,}; lower --batch or raise --max-memory")
    checks = [measure_training_step(g, device, dtype, name) for g in graphs]
    if fmt.value == "json":
        emit(training_out.render_json(checks), output)
    elif fmt.value == "markdown":
        emit(training_out.render_markdown(checks), output)
    else:
        console = wide_console(output, 160)
        training_out.print_checks(console, checks)
        finish(console, output)


MAX_MIN_TIME_S = 60.0  # per timed unit (the whole model, each block): longer is no more accurate
MAX_THREADS = 1_024  # torch.set_num_threads(100000) dies inside the OpenMP runtime


def _check_ranges(min_time: float, threads: Optional[int]) -> None:
    """Numbers a timing run would hang or crash on (nan, inf, 1e308 s; 100,000 threads), refused first."""
    import math

    from ..errors import UsageError

    if not math.isfinite(min_time) or not 0 <= min_time <= MAX_MIN_TIME_S:
        raise UsageError(f"--min-time must be a finite number of seconds from 0 to {MAX_MIN_TIME_S:g}, got {min_time:g}")
    if threads is not None and threads > MAX_THREADS:
        raise UsageError(f"--threads {threads:,} is too many (limit {MAX_THREADS:,})")


@app.command()
@user_errors
@write_errors
def roofline(
    spec: Optional[str] = typer.Argument(None, help="YAML spec file; omit it to run the built-in example."),
    model: Optional[list[str]] = model_option(),
    batch: Optional[int] = batch_option(),
    dtype: str = typer.Option("fp32", "--dtype", help=f"Element type: {', '.join(DTYPE_BYTES)}."),
    threads: Optional[int] = typer.Option(
        None, "--threads", min=1, help="CPU threads the run would use: picks the calibration, scales the CPU peak."
    ),
    hw: Optional[str] = typer.Option(None, "--hw", help=HW_HELP + " Default: cpu."),
    hw_file: Optional[str] = typer.Option(None, "--hw-file", help=HW_FILE_HELP),
    blocks: bool = typer.Option(False, "--blocks", help="One row per top-level block instead of per layer."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
    output: Optional[str] = output_option(),
) -> None:
    """Analytic memory traffic, arithmetic intensity and roofline time per layer (no torch needed)."""
    from ..costmodel.roofline import NOMINAL
    from ..costmodel.sizes import dtype_bytes
    from ..crosscheck.profiling import ProfileRun, analytic_profile
    from ..pipeline import load_graphs

    dtype_bytes(dtype)  # a clear error for an unknown dtype before anything else
    check_output(output, [p for p in (spec, hw_file) if p])
    graphs = load_graphs(spec, model, batch)
    _check_ranges(0.0, threads)
    profile_hw = _hw(hw, hw_file, "cpu")
    assert profile_hw is not None
    models = tuple(analytic_profile(g, dtype, profile_hw, threads=threads) for g in graphs)
    fit = models[0].roofline.fit if models else NOMINAL
    run = ProfileRun(None, profile_hw, dtype, models, fit)
    _emit(run, fmt, per_layer=not blocks, output=output)
