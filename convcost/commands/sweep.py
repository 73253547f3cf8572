"""`convcost sweep`: one spec counted over a grid of vars, input sizes and batches."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Optional

import typer

from ..app import app, user_errors
from ..util.write_errors import write_errors
from ._options import model_option, plot_option
from ._output import check_output, emit, finish, output_option, wide_console

PIPED_WIDTH = 150
SWEEP_SET_HELP = (
    "A swept name and its values: NAME=A,B,C or NAME=START:STOP:STEP (the stop included); NAME is a var of the "
    "spec, 'input' (160, 160x128 or 3x160x160 per value) or 'batch'. Repeatable: the grid is every combination."
)


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


class Metric(str, Enum):
    params = "params"
    macs = "macs"
    flops = "flops"
    activations = "activations"
    traffic = "traffic"
    time = "time"


@contextmanager
def progress_bar(total: int, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on stderr for a terminal; nothing in CI (CI set) or when stderr is not a terminal."""
    from rich.console import Console

    console = Console(stderr=True)
    if not enabled or not console.is_terminal or os.environ.get("CI") or total < 2:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                  transient=True) as bar:
        task = bar.add_task("sweep", total=total)
        yield lambda n: bar.advance(task, n)


@app.command()
@user_errors
@write_errors
def sweep(
    spec: Optional[str] = typer.Argument(
        None, help="YAML spec file ('-' reads standard input); omit it for the built-in example."
    ),
    model: Optional[list[str]] = model_option("Model to sweep (repeatable; default all)."),
    set_: Optional[list[str]] = typer.Option(None, "--set", "-s", help=SWEEP_SET_HELP, metavar="NAME=VALUES"),
    pareto: Optional[str] = typer.Option(
        None, "--pareto", help="Mark the Pareto front of these names, e.g. macs,params (metrics are minimised) or "
        "macs,input (a swept name is maximised); NAME:min or NAME:max sets the goal."
    ),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
    metric: Metric = typer.Option(Metric.macs, "--metric", help="Metric of the charts (--plot, markdown)."),
    dtype: str = typer.Option("fp32", "--dtype", help="Element type for memory traffic and the roofline time."),
    hw: Optional[str] = typer.Option(None, "--hw", help="Roofline device profile: cpu, h100, h200, a100, or a name "
                                     "from --hw-file. Default: cpu."),
    hw_file: Optional[str] = typer.Option(None, "--hw-file", help="YAML file of device profiles (see `convcost roofline`)."),
    plot: Optional[str] = plot_option(),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar on stderr (terminals only)."),
    output: Optional[str] = output_option(),
) -> None:
    """Count a spec at every point of a grid (vars, input size, batch): params, MACs, FLOPs, activations, memory
    traffic and roofline time per point; a point that fails is listed with its error."""
    from ..costmodel.memory import dtype_bytes
    from ..costmodel.roofline import resolve_profile
    from ..costmodel.sweep import Axis, run_sweep
    from ..errors import UsageError
    from ..graph.settings import MAX_POINTS, PSEUDO, Settings, split_assignment, sweep_values
    from ..pipeline import check_settings, open_spec, select_across
    from ..render import sweep_out

    dtype_bytes(dtype)
    check_output(output, [p for p in (spec, hw_file) if p])
    if plot is not None:
        from ..render.chart import check_plot_path

        check_plot_path(plot, [p for p in (spec, hw_file, output) if p])
    axes: list[Axis] = []
    for text in set_ or []:
        name, values = split_assignment(text)
        if any(a.name == name for a in axes):
            raise UsageError(f"--set {name} is given twice; list its values in one --set {name}=A,B,C")
        axes.append(Axis(name, tuple(sweep_values(values, name))))
    points = 1
    for a in axes:
        points *= len(a.values)
    file = open_spec(spec)
    pairs = select_across([file], model)
    if points * len(pairs) > MAX_POINTS:
        raise UsageError(f"the grid has {points * len(pairs):,} points (limit {MAX_POINTS:,})")
    check_settings(pairs, Settings(tuple((a.name, a.values[0]) for a in axes if a.name not in PSEUDO)))
    profile = resolve_profile(hw, hw_file, "cpu")
    objectives = sweep_out.parse_objectives(pareto, [a.name for a in axes]) if pareto else None
    if plot is not None:
        from ..render.chart import require_matplotlib

        require_matplotlib("--plot")
    with progress_bar(points * len(pairs), progress) as step:
        result, _ = run_sweep(file, [m for _, m in pairs], tuple(axes), profile, dtype, step=step)
    marks = sweep_out.mark_front(result, objectives) if objectives else None
    if fmt is Format.json:
        emit(sweep_out.render_json(result, marks, objectives), output)
    elif fmt is Format.csv:
        emit(sweep_out.render_csv(result, marks), output)
    elif fmt is Format.markdown:
        emit(sweep_out.render_markdown(result, marks, metric.value), output)
    else:
        from rich.text import Text

        console = wide_console(output, PIPED_WIDTH)
        console.print(Text(sweep_out.headline(result, marks), style="bold"))
        sweep_out.sweep_table(result, marks).print(console)
        finish(console, output)
    if plot is not None:
        from ..render.chart import save, sweep_figure

        save(sweep_figure(result, marks, objectives, metric.value), plot)
    if not any(p.ok for p in result.points):  # nothing counted: as bad an input as a spec that fails analyze
        print("convcost sweep: error: every point failed (their messages are in the rows)", file=sys.stderr)
        raise typer.Exit(2)
