"""`convcost check`: budgets and baseline growth for CI. Exit 0 pass, 1 over budget, 2 bad input."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer

from ..app import EXIT_BAD_INPUT, EXIT_FINDINGS, EXIT_OK, app, user_errors
from ..errors import ConvcostError, UsageError, escape_controls
from ..util.write_errors import write_errors
from ._options import chosen_convention, convention_option, set_option
from ._output import check_output


@app.command()
@user_errors
@write_errors
def check(
    specs: Optional[list[str]] = typer.Argument(None, help="Spec files (every model, or those named by --model)."),
    budget: Optional[list[str]] = typer.Option(
        None, "--budget", "-B", help="Budget file (YAML, see docs/budgets.md); repeatable."
    ),
    baseline: Optional[list[str]] = typer.Option(
        None,
        "--baseline",
        help="JSON from 'convcost analyze --format json': fail when a model grows past it (repeatable).",
    ),
    max_growth: Optional[str] = typer.Option(
        None, "--max-growth",
        help="Growth allowed over the baseline, e.g. 2%; where budgets also set max_growth, the strictest applies."
    ),
    model: Optional[list[str]] = typer.Option(None, "--model", "-m", help="Model to check (repeatable; default all)."),
    batch: Optional[int] = typer.Option(None, "--batch", "-b", min=1, help="Override the specs' batch size."),
    set_: Optional[list[str]] = set_option(),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also list the checks that pass."),
    convention: Optional[str] = convention_option(),
    summary: Optional[str] = typer.Option(
        None, "--summary", help="Also write the markdown summary to this file (GitHub's $GITHUB_STEP_SUMMARY is used "
        "automatically)."
    ),
) -> None:
    """Check models against budgets and a baseline. Exit 0: pass, 1: over budget or grown, 2: bad input."""
    from ..api import analyze_across, open_specs
    from ..ci.annotations import annotation, append_step_summary, in_github_actions
    from ..ci.budget import (
        Budgets,
        Counts,
        check_growth,
        check_limits,
        check_renamed,
        cli_growth,
        load_baseline,
        load_budget_file,
        spec_budgets,
        unchecked_budgets,
    )
    from ..render.check_out import finding_line, summary_line, summary_markdown

    inputs = [*(specs or []), *(budget or []), *(baseline or [])]
    if summary is not None:
        _check_writable(summary)
        check_output(summary, inputs, "--summary", "summary")
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        check_output(step_summary, inputs, "$GITHUB_STEP_SUMMARY", "summary")
    chosen = chosen_convention(convention)
    counts = Counts(chosen.name if chosen is not None else None)
    growth = cli_growth(max_growth)
    if growth is not None and not baseline:
        raise UsageError("--max-growth needs --baseline FILE.json to compare against")
    files = open_specs(specs)
    budgets = Budgets()
    for f in files:
        budgets += spec_budgets(f)
    for path in budget or []:
        budgets += load_budget_file(path)
    from ..graph.settings import settings_of

    analyses = analyze_across(files, model, batch, settings_of(set_))
    if budgets.empty and not baseline:
        raise UsageError(
            "nothing to check: give --budget FILE.yaml, --baseline FILE.json, or add 'budget:' to the spec "
            "(see docs/budgets.md)"
        )
    notes = unchecked_budgets(analyses, budgets)
    findings = check_limits(analyses, budgets, counts)
    if baseline:
        base = load_baseline(baseline[0])
        for more in baseline[1:]:
            base = base.merged(load_baseline(more))
        grown, growth_notes = check_growth(analyses, base, budgets, growth, counts)
        findings += grown
        notes += growth_notes

    if not findings:  # a renamed model or the wrong baseline must not pass CI by checking nothing
        if notes:
            why = "; ".join(n.split(": note: ", 1)[-1] for n in notes)
        elif not baseline and budgets.growth:
            why = "the budgets set only max_growth, which needs --baseline FILE.json"
        else:
            why = "no budget applies to them"
        raise UsageError(f"nothing was checked on {len(analyses)} model(s): {why}")
    if baseline and not model:  # a renamed model must not escape its baseline either
        check_renamed(analyses, base)
    gha = in_github_actions()
    for note in notes:
        print(escape_controls(note))
    for f in findings:
        if f.ok and not verbose:
            continue
        print(escape_controls(finding_line(f)))
        if gha and not f.ok:
            print(annotation("error", f.message, f.loc, "convcost budget"))
    print(summary_line(findings, len(analyses)))
    md = summary_markdown(findings, len(analyses))
    code = EXIT_FINDINGS if any(not f.ok for f in findings) else EXIT_OK
    try:
        append_step_summary(md)
        if summary:
            from ..util.fsutil import atomic_write_text

            atomic_write_text(summary, md)
    except ConvcostError as e:  # the verdict above stands: a failed check stays exit 1
        sys.stdout.flush()
        print(escape_controls(f"{e}"), file=sys.stderr)
        raise typer.Exit(code if code == EXIT_FINDINGS else EXIT_BAD_INPUT) from None
    sys.stdout.flush()
    raise typer.Exit(code)


def _check_writable(path: str) -> None:
    """Refuse a --summary path that cannot be written before any check runs."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"--summary {path}: is a directory")
    if not (p.parent if str(p.parent) else Path(".")).is_dir():
        raise UsageError(f"--summary {path}: directory {p.parent} does not exist")
