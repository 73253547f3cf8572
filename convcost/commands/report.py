"""`convcost report`: one markdown file for a pull-request review."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from ..app import app, user_errors
from ..errors import Loc
from ..util.write_errors import write_errors


@app.command()
@user_errors
@write_errors
def report(
    specs: Optional[list[str]] = typer.Argument(None, help="Spec files; omit for the built-in example."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the report here (default: stdout)."),
    model: Optional[list[str]] = typer.Option(None, "--model", "-m", help="Model to include (repeatable, in order)."),
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
    batch: Optional[int] = typer.Option(None, "--batch", "-b", min=1, help="Override the specs' batch size."),
) -> None:
    """Write a markdown report: totals, comparison, cost by op type, layer graph (mermaid), per-layer table."""
    from ..costmodel.compare import load_analyses
    from ..render.report import ReportOptions, render_report
    from ..render.results import load_result, result_models
    from ._output import check_output, emit

    check_output(output, [*(specs or []), *(verify or []), *(profile or [])])
    analyses = load_analyses(specs or [], model, batch)
    opts = ReportOptions(
        title=title,
        graph_depth=graph_depth,
        table_depth=depth,
        verify=tuple((p, load_result(p, "convcost.verify")) for p in verify or []),
        profile=tuple((p, load_result(p, "convcost.profile")) for p in profile or []),
    )
    shown = {a.graph.model for a in analyses}
    for path, doc in (*opts.verify, *opts.profile):
        other = [m for m in result_models(doc) if m not in shown]
        if other:  # e.g. yesterday's verify of another net: say so rather than show it as this one's
            names = ", ".join(f"'{m}'" for m in other)
            print(f"{Loc(path)}: warning: results for {names}, not among this report's models", file=sys.stderr)
    emit(render_report(analyses, opts), output)
