"""`convcost report`: one markdown file for a pull-request review."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Optional

import typer

from ..app import app, user_errors
from ..errors import Loc
from ..util.write_errors import write_errors
from ._convention import chosen_convention
from ._options import (
    batch_option,
    convention_option,
    dtype_option,
    input_option,
    model_option,
    optimizer_option,
    reference_arg_option,
    set_option,
    target_max_memory_option,
    training_option,
)

if TYPE_CHECKING:
    from ..costmodel.analysis import Analysis

# render/report.py's PR_COMMENT_LIMIT, written out: the command module is imported at start-up, the renderer is not
MAX_CHARS = 65_536

@app.command()
@user_errors
@write_errors
def report(
    specs: Optional[list[str]] = typer.Argument(
        None, help="Spec files, or torch targets path/to/file.py:factory or package.module:factory with --input; omit "
        "for the built-in example."
    ),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the report here (default: stdout)."),
    model: Optional[list[str]] = model_option("Model to include (repeatable, in order)."),
    verify: Optional[list[str]] = typer.Option(
        None, "--verify", help="Results of 'convcost verify --format json' to include (repeatable)."
    ),
    profile: Optional[list[str]] = typer.Option(
        None, "--profile", help="Results of 'convcost profile --format json' to include (repeatable)."
    ),
    graph_depth: Optional[int] = typer.Option(
        None, "--graph-depth", min=1, help="Collapse the mermaid graph to blocks at this depth (default: automatic)."
    ),
    depth: Optional[int] = typer.Option(
        None, "--depth", "-d", min=1, help="Levels of the per-layer table (default: every layer)."
    ),
    title: str = typer.Option("convcost report", "--title", help="Title of the report."),
    batch: Optional[int] = batch_option("Override the specs' batch size."),
    set_: Optional[list[str]] = set_option(),
    charts: Optional[str] = typer.Option(
        None, "--charts", metavar="DIR", help="Draw the charts with matplotlib into DIR (created if needed) and embed "
        "them (needs the 'plot' extra); without it the report has mermaid bar charts that GitHub renders."
    ),
    chart_format: str = typer.Option("svg", "--chart-format", help="svg or png, for --charts."),
    max_chars: int = typer.Option(
        MAX_CHARS, "--max-chars", min=0, help="Shorten a longer report (non-zero rows, shallower tables and "
        "graphs) and warn; 65,536 is what a pull-request comment holds. 0: no limit."
    ),
    convention: Optional[str] = convention_option(),
    training: bool = training_option(),
    optimizer: Optional[str] = optimizer_option(),
    dtype: Optional[str] = dtype_option(),
    input_shape: Optional[list[str]] = input_option(),
    reference_arg: Optional[list[str]] = reference_arg_option(),
    max_memory: str = target_max_memory_option(),
) -> None:
    """Write a markdown report: totals, comparison, cost by op type, layer graph (mermaid), per-layer table."""
    from ..costmodel.compare import load_analyses
    from ..render.report import ReportOptions, fitted_report
    from ..render.results import load_result, result_models
    from ._output import check_output, emit
    from ._targets import TargetOptions, resolve_specs, target_inputs

    check_output(output, [*target_inputs(specs or []), *(verify or []), *(profile or [])])
    chosen = chosen_convention(convention)
    from ..costmodel.extras import training_options
    from ..graph.settings import settings_of

    train = training_options(training, optimizer, dtype)
    if charts is not None:
        from ..errors import UsageError
        from ..render.chart import require_matplotlib

        if chart_format not in ("svg", "png"):
            raise UsageError(f"--chart-format {chart_format}: choose svg or png")
        require_matplotlib("--charts")
    sources = resolve_specs(specs or [], TargetOptions(tuple(input_shape or ()), tuple(reference_arg or ()), max_memory))
    analyses = load_analyses(sources, model, batch, settings_of(set_))
    verified = tuple((p, load_result(p, "convcost.verify")) for p in verify or [])
    profiled = tuple((p, load_result(p, "convcost.profile")) for p in profile or [])
    # every input read before the first chart is written: no chart may replace one (util/paths.py)
    files = _draw_charts(analyses, charts, chart_format, depth) if charts is not None else ()
    opts = ReportOptions(
        title=title,
        graph_depth=graph_depth,
        table_depth=depth,
        verify=verified,
        profile=profiled,
        charts=files,
        max_chars=max_chars,
        convention=chosen,
        training=train,
    )
    shown = {a.graph.model for a in analyses}
    for path, doc in (*opts.verify, *opts.profile):
        other = [m for m in result_models(doc) if m not in shown]
        if other:  # e.g. yesterday's verify of another net: say so rather than show it as this one's
            names = ", ".join(f"'{m}'" for m in other)
            print(f"{Loc(path)}: warning: results for {names}, not among this report's models", file=sys.stderr)
    text, warnings = fitted_report(analyses, opts)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    emit(text, output)


def _draw_charts(analyses: list[Analysis], directory: str, fmt: str, depth: Optional[int]) -> tuple[tuple[str, str], ...]:
    """Each model's 'where the cost goes' chart and, for several models, the comparison's, as DIR/NAME.FMT."""
    import re
    from pathlib import Path

    from ..costmodel.compare import labels_for, make_comparison
    from ..errors import ConvcostError, Loc
    from ..render.chart import analysis_figure, comparison_figure, save

    folder = Path(directory)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConvcostError(f"cannot create the chart directory: {e.strerror or e}", Loc(directory)) from None
    files: list[tuple[str, str]] = []
    taken: set[str] = set()
    for a, label in zip(analyses, labels_for(analyses)):
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", label) or "model"
        while stem in taken:
            stem += "_"
        taken.add(stem)
        path = folder / f"{stem}.{fmt}"
        save(analysis_figure([a], depth or 1), path, "--charts")
        files.append((label, path.as_posix()))
    if len(analyses) >= 2:
        path = folder / f"comparison.{fmt}"
        save(comparison_figure(make_comparison(analyses)), path, "--charts")
        files.append(("comparison", path.as_posix()))
    return tuple(files)
