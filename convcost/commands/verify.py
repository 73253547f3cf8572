"""`convcost verify`: build the real torch modules and reconcile every layer with fvcore and torch."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Optional

import typer

from ..app import EXIT_FINDINGS, EXIT_OK, app, user_errors
from ..costmodel.sizes import parse_max_memory
from ..errors import UsageError
from ..util.write_errors import write_errors
from ._options import Device, batch_option, device_option, max_memory_option, model_option
from ._output import check_output, emit, finish, output_option, wide_console

if TYPE_CHECKING:
    from ..graph.build import Graph


class Format(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"


PIPED_WIDTH = 160


def _load_verify() -> object:
    """The verify module, or a UsageError (exit 2) with the install command when torch/fvcore are missing."""
    from ..crosscheck.torch_deps import require

    require("verify", fvcore=True)
    from ..crosscheck import verify

    return verify


@app.command()
@user_errors
@write_errors
def verify(
    spec: Optional[str] = typer.Argument(None, help="YAML spec file; omit it to run the built-in example."),
    model: Optional[list[str]] = model_option("Model to verify (repeatable; default all)."),
    device: Device = device_option(Device.cpu, "Where to run the real forward pass."),
    batch: Optional[int] = batch_option(),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
    explain: bool = typer.Option(
        False, "--explain", help="Also explain, op category by op category, why fvcore, FlopCounterMode, "
        "ptflops-style and thop-style totals differ."
    ),
    max_memory: str = max_memory_option(
        "Largest real forward to run (bytes, e.g. 2G); above it, fvcore is skipped "
        "and the rest runs on the meta device."
    ),
    reference: Optional[str] = typer.Option(
        None, "--reference", metavar="TARGET", help="Compare the spec with your own PyTorch model instead: "
        "package.module:factory or path/to/file.py:factory (a function or nn.Module class). See docs/import.md."
    ),
    reference_arg: Optional[list[str]] = typer.Option(
        None, "--reference-arg", metavar="KEY=VALUE", help="A keyword argument for the --reference factory, the value "
        "read as YAML (repeatable)."
    ),
    training: bool = typer.Option(
        False, "--training", help="Also run a backward pass (training mode, frozen layers frozen) under FlopCounterMode "
        "on the meta device and check every layer's backward FLOPs and trainable params against convcost's."
    ),
    output: Optional[str] = output_option(),
) -> None:
    """Build the spec as torch modules and check every layer's shape, params and fvcore/FlopCounterMode counts
    against what convcost predicts each tool reports. Exit 1 on any mismatch.

    With --reference, check instead that the spec describes your own PyTorch model: output shapes, params,
    buffers and counter totals, then layer by layer (by module path, else in order); exit 1 at the first
    divergence, 2 when the model cannot be imported, built or run."""
    from ..pipeline import load_graphs

    limit = parse_max_memory(max_memory)
    check_output(output, [spec] if spec else None)
    if reference_arg and not reference:
        raise UsageError("--reference-arg needs --reference")
    if training and reference:
        raise UsageError("--training checks the spec's own torch build; leave out --reference")
    graphs = load_graphs(spec, model, batch)
    if reference:
        _verify_reference(graphs, reference, reference_arg or [], limit, fmt, output)
    v = _load_verify()
    reports = [v.verify_graph(g, device.value, limit, training) for g in graphs]  # type: ignore[attr-defined]
    from ..render import verify_out

    if fmt is Format.json:
        emit(verify_out.render_json(reports), output)
    elif fmt is Format.markdown:
        emit(verify_out.render_markdown(reports, explain), output)
    else:
        console = wide_console(output, PIPED_WIDTH)
        for k, r in enumerate(reports):
            if k:
                console.print()
            verify_out.print_report(console, r, explain)
        finish(console, output)
    raise typer.Exit(EXIT_OK if all(r.ok for r in reports) else EXIT_FINDINGS)


def _verify_reference(graphs: list[Graph], reference: str, args: list[str], limit: int, fmt: Format,
                      output: Optional[str]) -> None:
    """`verify --reference`: the spec's model against the user's module; exits."""
    from ..crosscheck.target import parse_target, user_code, user_files
    from ..crosscheck.torch_deps import require

    target = parse_target(reference, args)
    check_output(output, [target.where] if target.is_file else None)  # never over the model's own source
    if len(graphs) != 1:
        raise UsageError(f"--reference compares one model, the spec has {len(graphs)}: pick one with --model")
    require("verify --reference")
    from ..crosscheck.reference import verify_reference
    from ..render import reference_out

    with user_code(f"reference '{target.text}': running the model failed", user_files(target), exceptions=False):
        reports = [verify_reference(graphs[0], target, limit)]  # the user's code may exit anywhere in there
    if fmt is Format.json:
        emit(reference_out.render_json(reports), output)
    elif fmt is Format.markdown:
        emit(reference_out.render_markdown(reports), output)
    else:
        console = wide_console(output, PIPED_WIDTH)
        reference_out.print_reference(console, reports[0])
        finish(console, output)
    raise typer.Exit(EXIT_OK if all(r.ok for r in reports) else EXIT_FINDINGS)
