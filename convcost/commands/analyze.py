"""`convcost analyze`: per-layer table and totals of one spec."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Optional

import typer

from ..api import analyze_file
from ..cli import app, user_errors


class Format(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"
    csv = "csv"


@app.command()
@user_errors
def analyze(
    spec: Optional[str] = typer.Argument(None, help="YAML spec file; omit it to run the built-in example."),
    model: Optional[list[str]] = typer.Option(None, "--model", "-m", help="Model to analyse (repeatable; default all)."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
    depth: Optional[int] = typer.Option(
        None, "--depth", "-d", min=1, help="Show only N levels of the layer tree; deeper blocks collapse to a subtotal."
    ),
    batch: Optional[int] = typer.Option(None, "--batch", "-b", min=1, help="Override the spec's batch size."),
) -> None:
    """Count params, MACs, FLOPs and activations per layer, analytically (no torch needed)."""
    analyses = analyze_file(spec, model, batch)
    if fmt is Format.json:
        from ..render.json_out import render_json

        sys.stdout.write(render_json(analyses))
    elif fmt is Format.csv:
        from ..render.csv_out import render_csv

        sys.stdout.write(render_csv(analyses))
    elif fmt is Format.markdown:
        from ..render.markdown import render_markdown

        sys.stdout.write(render_markdown(analyses, depth))
    else:
        from ..render.table import render_table, use_color

        color = use_color(sys.stdout)
        sys.stdout.write(render_table(analyses, depth, color))
        if spec is None:
            sys.stdout.write(
                "\nThis is the built-in example. Run `convcost analyze SPEC.yaml` on your own spec; "
                "see configs/ and docs/spec.md.\n"
            )
