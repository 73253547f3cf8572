"""`convcost compare`: several models side by side, against the first."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Optional

import typer

from ..app import app, user_errors
from ..errors import UsageError
from ..util.write_errors import write_errors
from ._convention import chosen_convention
from ._options import (
    Device,
    batch_option,
    convention_option,
    device_option,
    dtype_option,
    input_option,
    model_option,
    optimizer_option,
    plot_option,
    reference_arg_option,
    set_option,
    target_max_memory_option,
    training_option,
)
from ._output import check_output, emit, finish, output_option, wide_console

if TYPE_CHECKING:
    from ..costmodel.compare import Comparison
    from ..crosscheck.profiling import Timing


PIPED_WIDTH = 150  # like profile's and roofline's tables


class Format(str, Enum):
    table = "table"
    markdown = "markdown"
    json = "json"


class Metric(str, Enum):
    params = "params"
    macs = "macs"
    flops = "flops"
    activations = "activations"


@app.command()
@user_errors
@write_errors
def compare(
    specs: Optional[list[str]] = typer.Argument(
        None, help="Spec files; every model of each (or those named by --model), or torch targets path/to/file.py:factory "
        "or package.module:factory with --input. Omit for the built-in example."
    ),
    model: Optional[list[str]] = model_option("Model to compare (repeatable, in this order; looked up in every spec)."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
    metric: Metric = typer.Option(Metric.macs, "--metric", help="Metric of the bar chart and the per-block table."),
    depth: int = typer.Option(1, "--depth", "-d", min=1, help="Align blocks by the first N levels of their names."),
    batch: Optional[int] = batch_option("Override the specs' batch size."),
    profile: bool = typer.Option(False, "--profile", help="Also time each model (torch) and compare latency to MACs."),
    device: Optional[Device] = device_option(None, "With --profile: where to time (default cpu)."),
    hw: Optional[str] = typer.Option(
        None, "--hw", help="With --profile: also predict each model's latency on this device profile (see roofline)."
    ),
    hw_file: Optional[str] = typer.Option(
        None, "--hw-file", help="With --profile: device profiles file, e.g. from `convcost calibrate`."
    ),
    set_: Optional[list[str]] = set_option(),
    plot: Optional[str] = plot_option(),
    convention: Optional[str] = convention_option(),
    training: bool = training_option(),
    optimizer: Optional[str] = optimizer_option(),
    dtype: Optional[str] = dtype_option(),
    output: Optional[str] = output_option(),
    input_shape: Optional[list[str]] = input_option(),
    reference_arg: Optional[list[str]] = reference_arg_option(),
    max_memory: str = target_max_memory_option(),
) -> None:
    """Compare params, MACs, FLOPs and activations of several models against the first."""
    from ..costmodel.compare import load_analyses, make_comparison
    from ..costmodel.extras import training_options
    from ..graph.settings import settings_of
    from ._targets import TargetOptions, resolve_specs, target_inputs

    check_output(output, [*target_inputs(specs or []), *([hw_file] if hw_file else [])])
    chosen = chosen_convention(convention)
    train = training_options(training, optimizer, dtype)
    if device is not None and not profile:
        raise UsageError(f"--device {device.value} times the models: it needs --profile")
    if (hw is not None or hw_file is not None) and not profile:
        raise UsageError("--hw and --hw-file predict the measured latency: they need --profile")
    if plot is not None:
        from ..render.chart import check_plot_path, require_matplotlib

        check_plot_path(plot, [*target_inputs(specs or []), *([output] if output else [])])
        require_matplotlib("--plot")
    sources = resolve_specs(specs or [], TargetOptions(tuple(input_shape or ()), tuple(reference_arg or ()), max_memory))
    comp = make_comparison(load_analyses(sources, model, batch, settings_of(set_)))
    from ..costmodel.convention import views as convention_views

    views = convention_views([e.analysis for e in comp.entries], chosen)
    if plot is not None:
        from ..render.chart import comparison_figure, save

        save(comparison_figure(comp, metric.value, depth), plot)
    latency = _latency(comp, (device or Device.cpu).value, hw, hw_file) if profile else None  # crosscheck/profiling.py
    trainings = None
    if train is not None:
        from ..costmodel.training import analyze_training

        trainings = [analyze_training(e.analysis, train.optimizer, train.dtype) for e in comp.entries]
    if fmt is Format.json:
        from ..render.compare_out import render_compare_json
        from ..render.profile_out import latency_json

        emit(render_compare_json(comp, depth, latency_json(*latency) if latency else None, views, trainings), output)
    elif fmt is Format.markdown:
        from ..render.compare_out import render_compare_markdown

        text = render_compare_markdown(comp, metric.value, depth, views)
        if trainings is not None:
            from ..render.extras_out import training_comparison
            from ..render.markdown import escape

            headers, rows = training_comparison([e.label for e in comp.entries], trainings)
            text += ("\nTraining step (estimate: docs/conventions.md):\n\n| " + " | ".join(map(escape, headers)) + " |\n|---|"
                     + "---:|" * (len(headers) - 1) + "\n" + "".join("| " + " | ".join(map(escape, r)) + " |\n" for r in rows))
        if latency is not None:
            from ..render.profile_out import latency_lines

            text += "\nMeasured latency (median):\n\n" + "".join(f"- {x}\n" for x in latency_lines(*latency))
        emit(text, output)
    else:
        from ..render.compare_out import print_comparison

        console = wide_console(output, PIPED_WIDTH)  # piped: wide enough for long labels
        print_comparison(console, comp, metric.value, depth, views)
        if trainings is not None:
            from rich.table import Table

            from ..render.extras_out import training_comparison

            headers, rows = training_comparison([e.label for e in comp.entries], trainings)
            table = Table(title="training step (estimate)", title_justify="left", show_edge=False, pad_edge=False,
                          header_style="bold")
            for k, h in enumerate(headers):
                table.add_column(h, justify="left" if k == 0 else "right", no_wrap=True)
            for r in rows:
                table.add_row(*r)
            console.print()
            console.print(table)
        if latency is not None:
            from ..render.profile_out import latency_lines

            console.print()
            for line in latency_lines(*latency):
                console.print(line)
        finish(console, output)


def _latency(
    comp: Comparison, device: str, hw: Optional[str], hw_file: Optional[str]
) -> tuple[list[str], list[int], list[Timing], list[float] | None]:
    """--profile: whole-model latency of each entry (torch, imported lazily by profiling), and with --hw/--hw-file
    the roofline's (with a calibrated profile: predicted) time of each."""
    from ..crosscheck.profiling import ProfileOptions, profile_latency

    graphs = [e.analysis.graph for e in comp.entries]
    options = ProfileOptions(device=device)
    predicted = None
    if hw is not None or hw_file is not None:
        from ..costmodel.roofline import resolve_profile
        from ..crosscheck.profiling import profile_graphs

        profile_hw = resolve_profile(hw, hw_file, "cpu")
        run = profile_graphs(graphs, ProfileOptions(device=device, blocks=False), profile_hw, command="compare --profile")
        timings = [m.whole.timing for m in run.models if m.whole.timing is not None]
        predicted = [m.whole.span.ideal_s for m in run.models]
    else:
        timings = profile_latency(graphs, options)
    return [e.label for e in comp.entries], [e.analysis.total.macs for e in comp.entries], timings, predicted
