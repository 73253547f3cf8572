"""`convcost analyze`: per-layer table and totals of one spec."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Optional

import typer

from ..app import app, user_errors
from ..util.write_errors import write_errors
from ._output import check_output, emit, output_option, to_file


class Format(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"
    csv = "csv"


@app.command()
@user_errors
@write_errors
def analyze(
    spec: Optional[str] = typer.Argument(
        None, help="YAML spec file ('-' reads standard input); omit it to run the built-in example."
    ),
    model: Optional[list[str]] = typer.Option(None, "--model", "-m", help="Model to analyse (repeatable; default all)."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
    depth: Optional[int] = typer.Option(
        None, "--depth", "-d", min=1, help="Show only N levels of the layer tree; deeper blocks collapse to a subtotal."
    ),
    batch: Optional[int] = typer.Option(None, "--batch", "-b", min=1, help="Override the spec's batch size."),
    output: Optional[str] = output_option(),
) -> None:
    """Count params, MACs, FLOPs and activations per layer, analytically (no torch needed)."""
    from ..api import analyze_file

    check_output(output, [spec] if spec else None)
    analyses = analyze_file(spec, model, batch)
    if fmt is Format.json:
        from ..render.json_out import render_json

        emit(render_json(analyses), output)
    elif fmt is Format.csv:
        from ..render.csv_out import render_csv

        emit(render_csv(analyses), output)
    elif fmt is Format.markdown:
        from ..render.markdown import render_markdown

        emit(render_markdown(analyses, depth), output)
    else:
        from ..render.table import render_table, use_color

        color = use_color(sys.stdout) and not to_file(output)
        emit(render_table(analyses, depth, color), output)
        if spec is None and not to_file(output):
            sys.stdout.write(
                "\nThis is the built-in example. Run `convcost analyze SPEC.yaml` on your own spec; "
                "see configs/ and docs/spec.md.\n"
            )
