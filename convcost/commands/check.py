"""`convcost check`: budgets and baseline growth for CI. Exit 0 pass, 1 over budget, 2 bad input."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from ..app import EXIT_BAD_INPUT, EXIT_FINDINGS, app, user_errors
from ..errors import ConvcostError, UsageError, escape_controls, shown_path
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
from ._output import check_output, write_output

if TYPE_CHECKING:
    from ..ci.check import CheckResult


@app.command()
@user_errors
@write_errors
def check(
    specs: Optional[list[str]] = typer.Argument(
        None, help="Spec files (every model, or those named by --model), or torch targets path/to/file.py:factory or "
        "package.module:factory with --input."
    ),
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
    model: Optional[list[str]] = model_option("Model to check (repeatable; default all)."),
    batch: Optional[int] = batch_option("Override the specs' batch size."),
    set_: Optional[list[str]] = set_option(),
    training: bool = training_option(),
    optimizer: Optional[str] = optimizer_option(),
    dtype: Optional[str] = dtype_option(),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also list the checks that pass."),
    convention: Optional[str] = convention_option(),
    summary: Optional[str] = typer.Option(
        None, "--summary", help="Also write the markdown summary to this file (GitHub's $GITHUB_STEP_SUMMARY is used "
        "automatically)."
    ),
    input_shape: Optional[list[str]] = input_option(),
    reference_arg: Optional[list[str]] = reference_arg_option(),
    max_memory: str = target_max_memory_option(),
) -> None:
    """Check models against budgets and a baseline. Exit 0: pass, 1: over budget or grown, 2: bad input."""
    from ..ci.check import check_options, check_training_convention, collect_budgets, evaluate
    from ..graph.settings import settings_of
    from ..pipeline import analyze_across, open_specs
    from ._targets import TargetOptions, resolve_specs, target_inputs

    inputs = [*target_inputs(specs or []), *(budget or []), *(baseline or [])]
    if summary is not None:
        _check_writable(summary)
        check_output(summary, inputs, "--summary", "summary")
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        check_output(step_summary, inputs, "$GITHUB_STEP_SUMMARY", "summary")
    from ..costmodel.extras import training_options

    chosen = chosen_convention(convention)
    train = training_options(training, optimizer, dtype)
    conv_name = chosen.name if chosen is not None else None
    check_training_convention(train is not None, conv_name)
    check_options(max_growth, baseline or [])
    targets = TargetOptions(tuple(input_shape or ()), tuple(reference_arg or ()), max_memory)
    files = open_specs(resolve_specs(specs or [], targets))
    budgets = collect_budgets(files, budget or [])
    analyses = analyze_across(files, model, batch, settings_of(set_))
    trainings = None
    if train is not None:
        from ..costmodel.training import analyze_training

        trainings = [analyze_training(a, train.optimizer, train.dtype) for a in analyses]
    result = evaluate(analyses, budgets, baseline or [], max_growth, every_model=not model, convention=conv_name,
                      trainings=trainings)
    raise typer.Exit(_report(result, verbose, summary))


def _report(result: CheckResult, verbose: bool, summary: Optional[str]) -> int:
    """Print the result for a CI log (annotations inside GitHub Actions), write the summaries; the exit code."""
    from ..ci.annotations import append_step_summary, in_github_actions, print_annotation
    from ..render.check_out import finding_line, summary_line, summary_markdown

    findings, models = list(result.findings), len(result.analyses)
    gha = in_github_actions()
    for note in result.notes:
        print(escape_controls(note))
    for warning in result.uncounted:
        print(escape_controls(warning))
    for f in findings:
        if f.ok and not verbose:
            continue
        print(escape_controls(finding_line(f)))
        if gha and not f.ok:
            print_annotation("error", f.message, f.loc, "convcost budget")
    print(summary_line(findings, models))
    md = summary_markdown(findings, models, result.uncounted)
    try:
        append_step_summary(md)
        if summary:
            write_output(md, summary, "--summary", "summary")
    except ConvcostError as e:  # the verdict above stands: a failed check stays exit 1
        sys.stdout.flush()
        print(escape_controls(f"{e}"), file=sys.stderr)
        return result.exit_code if result.exit_code == EXIT_FINDINGS else EXIT_BAD_INPUT
    sys.stdout.flush()
    return result.exit_code


def _check_writable(path: str) -> None:
    """Refuse a --summary path that cannot be written before any check runs (a failed write after them keeps
    their verdict, so that one cannot turn into exit code 1)."""
    import stat

    def refused(e: OSError) -> UsageError:
        return UsageError(f"--summary {shown_path(path)}: cannot write: {e.strerror or e}")

    try:
        if stat.S_ISDIR(os.stat(path).st_mode):
            raise UsageError(f"--summary {shown_path(path)}: is a directory")
        return
    except FileNotFoundError:
        pass  # a new file: its directory must exist
    except OSError as e:  # a name too long, a loop of links, a component that is a file
        raise refused(e) from None
    parent = Path(path).parent
    try:
        is_dir = stat.S_ISDIR(os.stat(parent).st_mode)
    except FileNotFoundError:
        raise UsageError(f"--summary {shown_path(path)}: directory {shown_path(str(parent))} does not exist") from None
    except OSError as e:
        raise refused(e) from None
    if not is_dir:
        raise refused(OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)))
