"""`convcost analyze`: per-layer table and totals of one spec."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Optional

import typer

from ..app import app, user_errors
from ..util.write_errors import write_errors
from ._options import (
    batch_option,
    chosen_convention,
    convention_option,
    dtype_option,
    model_option,
    optimizer_option,
    plot_option,
    set_option,
    training_option,
)
from ._output import check_output, emit, output_option, to_file


class Format(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"
    csv = "csv"


class By(str, Enum):
    op = "op"
    block = "block"


@app.command()
@user_errors
@write_errors
def analyze(
    spec: Optional[str] = typer.Argument(
        None, help="YAML spec file ('-' reads standard input); omit it to run the built-in example."
    ),
    model: Optional[list[str]] = model_option(),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
    depth: Optional[int] = typer.Option(
        None, "--depth", "-d", min=1, help="Show only N levels of the layer tree; deeper blocks collapse to a subtotal."
    ),
    batch: Optional[int] = batch_option(),
    set_: Optional[list[str]] = set_option(),
    by: Optional[By] = typer.Option(
        None, "--by", help="Sum the cost by op type or by block (at --depth, default 1) instead of listing every layer."
    ),
    top: Optional[int] = typer.Option(
        None, "--top", min=1, help="Only the N heaviest rows (layers, or op types/blocks with --by), with bars."
    ),
    plot: Optional[str] = plot_option(),
    convention: Optional[str] = convention_option(),
    training: bool = training_option(),
    optimizer: Optional[str] = optimizer_option(),
    dtype: Optional[str] = dtype_option(),
    rf: bool = typer.Option(
        False, "--rf", help="Add each layer's receptive field and jump (effective stride) in input positions, the maximum "
        "over all paths through branches (docs/conventions.md)."
    ),
    output: Optional[str] = output_option(),
) -> None:
    """Count params, MACs, FLOPs and activations per layer, analytically (no torch needed)."""
    from ..costmodel.extras import extras_for, training_options
    from ..errors import UsageError
    from ..graph.settings import settings_of
    from ..pipeline import analyze_file

    check_output(output, [spec] if spec else None)
    if (by is not None or top is not None) and fmt in (Format.json, Format.csv):
        raise UsageError(f"--by and --top shape the table and markdown; --format {fmt.value} lists every layer")
    train = training_options(training, optimizer, dtype)
    if (by is not None or top is not None) and (train is not None or rf):
        raise UsageError("--training and --rf add per-layer columns; leave out --by and --top")
    if plot is not None:
        from ..render.chart import check_plot_path, require_matplotlib

        check_plot_path(plot, [p for p in (spec, output) if p])
        require_matplotlib("--plot")
    chosen = chosen_convention(convention)
    analyses = analyze_file(spec, model, batch, settings_of(set_))
    from ..costmodel.convention import views as convention_views

    views = convention_views(analyses, chosen)
    extras = extras_for(analyses, train, rf)
    if plot is not None:
        from ..render.chart import analysis_figure, save

        save(analysis_figure(analyses, depth or 1), plot)
    if by is not None or top is not None:
        from ..render.breakdown import markdown_grouped, render_grouped
        from ..render.table import use_color

        group = by.value if by is not None else None
        if fmt is Format.markdown:
            emit(markdown_grouped(analyses, group, depth or 1, top, views), output)
        else:
            emit(render_grouped(analyses, group, depth or 1, top, use_color(sys.stdout) and not to_file(output), views),
                 output)
        return
    if fmt is Format.json:
        from ..render.json_out import render_json

        emit(render_json(analyses, views, extras), output)
    elif fmt is Format.csv:
        from ..render.csv_out import render_csv

        emit(render_csv(analyses, views, extras), output)
    elif fmt is Format.markdown:
        from ..render.markdown import render_markdown

        emit(render_markdown(analyses, depth, views, extras), output)
    else:
        from ..render.table import render_table, use_color

        color = use_color(sys.stdout) and not to_file(output)
        emit(render_table(analyses, depth, color, views, extras), output)
        if spec is None and not to_file(output):
            sys.stdout.write(
                "\nThis is the built-in example. Run `convcost analyze SPEC.yaml` on your own spec; "
                "see configs/ and docs/spec.md.\n"
            )
