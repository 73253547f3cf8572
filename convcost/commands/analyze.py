"""`convcost analyze`: per-layer table and totals of one spec. Its options, for typer; what a run does is
commands/analyze_run.py's, which also runs the common command lines without typer (start-up time)."""

from __future__ import annotations

from typing import Optional

import typer

from ..app import app, user_errors
from ..util.write_errors import write_errors
from ._options import (
    batch_option,
    convention_option,
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
from ._output import output_option
from ._targets import TargetOptions
from .analyze_run import By, Format, analyze_run


@app.command()
@user_errors
@write_errors
def analyze(
    spec: Optional[str] = typer.Argument(
        None, help="YAML spec file ('-' reads standard input), or a torch target path/to/file.py:factory or "
        "package.module:factory with --input; omit it to run the built-in example."
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
    input_shape: Optional[list[str]] = input_option(),
    reference_arg: Optional[list[str]] = reference_arg_option(),
    max_memory: str = target_max_memory_option(),
) -> None:
    """Count params, MACs, FLOPs and activations per layer, analytically (no torch needed)."""
    targets = TargetOptions(tuple(input_shape or ()), tuple(reference_arg or ()), max_memory)
    analyze_run(spec, model, fmt, depth, batch, set_, by, top, plot, convention, training, optimizer, dtype, rf, output,
                targets)
