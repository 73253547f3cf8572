"""`convcost import`: a spec written from the user's PyTorch model (docs/import.md)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Optional

import typer

from ..app import EXIT_BAD_INPUT, EXIT_OK, app, user_errors
from ..costmodel.sizes import human_bytes, parse_max_memory
from ..errors import ImportRefused, UsageError, escape_controls
from ..util.write_errors import write_errors
from ._options import IMPORT_MAX_MEMORY_HELP, input_option, max_memory_option, reference_arg_option
from ._output import check_output, to_file, write_output

if TYPE_CHECKING:
    from torch import nn

    from ..importer.placement import Placement
    from ..importer.trace import Imported


def parse_input(text: str) -> tuple[int, ...]:
    """'3,224,224' -> (3, 224, 224): the input without the batch."""
    try:
        dims = tuple(int(p) for p in text.replace("x", ",").replace("×", ",").split(","))
    except ValueError:
        raise UsageError(f"--input '{text}': expected the input's shape without the batch, e.g. 3,224,224") from None
    if not dims or any(d < 1 for d in dims):
        raise UsageError(f"--input '{text}': every dimension must be a positive integer")
    return dims


@app.command("import")
@user_errors
@write_errors
def import_(
    target: str = typer.Argument(..., metavar="TARGET", help="package.module:factory or path/to/file.py:factory."),
    input_shape: list[str] = input_option(required=True),
    reference_arg: Optional[list[str]] = reference_arg_option(),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the spec to this file (default: stdout)."),
    no_blocks: bool = typer.Option(
        False, "--no-blocks", help="Write every module out layer by layer instead of folding repeated modules into blocks."
    ),
    allow_unsupported: bool = typer.Option(
        False, "--allow-unsupported", help="Keep modules convcost cannot express as identity rows marked in the spec "
        "(their params and MACs are then missing) instead of failing."
    ),
    max_memory: str = max_memory_option(IMPORT_MAX_MEMORY_HELP),
) -> None:
    """Trace your PyTorch model (torch.fx, else forward hooks) and write a spec with the same layers, params,
    buffers and MACs, named by module path, repeated modules folded into blocks. Exit 2 when it has ops
    convcost lacks (listed), unless --allow-unsupported."""
    from ..crosscheck.target import parse_target

    shape, *rest = (parse_input(s) for s in input_shape)
    limit = parse_max_memory(max_memory)
    t = parse_target(target, reference_arg or [])
    check_output(output, [t.where] if t.is_file else None, what="spec")  # never over the model's own source
    text, imported, placement = import_spec(target, reference_arg or [], shape, limit, allow_unsupported, no_blocks,
                                            tuple(rest))
    how = imported.method + (f" ({imported.note})" if imported.note else "")
    meta = "" if not placement.over else (
        f"on the meta device: a real forward needs {'at least' if placement.floor else 'about'} "
        f"{human_bytes(placement.need)}, over --max-memory {human_bytes(limit)}")
    if to_file(output):
        assert output is not None
        write_output(text, output, what="spec")  # atomically; refused over any file the import read or ran
        lines = text.count("\n")
        print(f"convcost: wrote {escape_controls(output)}: {len(imported.layers)} layers in {lines} lines "
              f"({how}{'; ' + meta if meta else ''})", file=sys.stderr)
    else:
        sys.stdout.write(text)
        if meta:
            print(f"convcost: note: traced {meta}", file=sys.stderr)
    raise typer.Exit(EXIT_OK)


def import_spec(
    target: str, reference_arg: list[str], shape: tuple[int, ...], limit: int, allow_unsupported: bool = False,
    no_blocks: bool = False, more: tuple[tuple[int, ...], ...] = (), quiet: bool = False,
) -> tuple[str, Imported, Placement]:
    """The import itself, as `convcost import` runs it and as analyze, compare, check and report run it on a torch
    target (commands/_targets.py): the spec's text, what was imported and where it ran. Its refusals are printed on
    stderr and end the command with exit code 2, the same lines whichever command asked (``quiet``, the Python API:
    raised as ImportRefused, nothing printed). ``more``: the shapes of a forward's further inputs (--input once per
    input), written as the spec's ``inputs``."""
    from ..crosscheck.target import parse_target, user_code, user_files
    from ..crosscheck.torch_deps import require

    t = parse_target(target, reference_arg)
    require("import")
    from ..importer.placement import import_target

    with user_code(f"reference '{t.text}': running the model failed", user_files(t), exceptions=False):
        imported, placement = import_target(t, shape, allow_unsupported, limit, more)  # the user's code may exit in there
    args = "".join(f" --reference-arg {a}" for a in reference_arg)
    given = "".join(f" --input {','.join(map(str, s))}" for s in (shape, *more))
    how = imported.method + (f" ({imported.note})" if imported.note else "")
    first = [
        f"Imported by `convcost import {target}{args}{given}` with {how}.",
        f"Layers are named by module path. Check it with: convcost verify SPEC --reference {target}{args}",
    ]
    text = written_spec(imported, t.text, first, shape, allow_unsupported, no_blocks, quiet)
    return text, imported, placement


def module_spec(model: nn.Module, shapes: tuple[tuple[int, ...], ...], allow_unsupported: bool = False,
                no_blocks: bool = False) -> str:
    """The spec of a built ``nn.Module`` (the Python API's ``from_torch``): traced by a real forward of batch 1, in eval
    mode on the model's own device, its training mode given back after. Refusals raise ImportRefused."""
    import contextlib
    import warnings

    from ..crosscheck.target import failure, user_code
    from ..crosscheck.torch_deps import TORCH_ERRORS
    from ..importer.nodynamo import without_dynamo
    from ..importer.nosympy import without_sympy
    from ..importer.placement import check_inputs
    from ..importer.trace import import_model

    label = f"torch.nn.Module {type(model).__name__}"
    check_inputs(model, len(shapes), label, api=True)
    device = next((str(p.device) for p in [*model.parameters(), *model.buffers()]), "cpu")
    training = model.training
    shown = " and ".join("1×" + "×".join(map(str, s)) for s in shapes)
    try:
        with user_code(f"{label}: running the model failed", exceptions=False), contextlib.redirect_stdout(sys.stderr), \
                warnings.catch_warnings(), without_dynamo(), without_sympy():
            warnings.simplefilter("ignore")
            model.eval()
            imported = import_model(model, shapes[0], allow_unsupported, device, shapes[1:])
    except (*TORCH_ERRORS, AssertionError, KeyError, AttributeError) as e:
        raise failure(f"{label}: running the model on {shown} failed", e) from None
    finally:
        model.train(training)
    imported.method = "an aten trace of a real forward"
    given = ", ".join("(" + ", ".join(map(str, s)) + ")" for s in shapes)
    first = [f"Imported from {label} by convcost.api.from_torch (input {given}) with {imported.method}.",
             "Layers are named by module path."]
    return written_spec(imported, label, first, shapes[0], allow_unsupported, no_blocks, quiet=True)


def written_spec(imported: Imported, label: str, first: list[str], shape: tuple[int, ...], allow_unsupported: bool,
                 no_blocks: bool, quiet: bool) -> str:
    """The spec's text of what was imported, ``first`` its header's first lines; the refusal of parts convcost cannot
    express (unless ``allow_unsupported``): printed on stderr and exit code 2, or raised as ImportRefused (``quiet``)."""
    from ..importer.messages import grouped, unused_lines
    from ..importer.write import write_spec

    lines, roots, after = grouped(imported.unsupported)
    said = [f"{'warning' if allow_unsupported else 'error'}: {line}" for line in lines]
    said += [f"note: {note}" for note in (imported.notes if imported.unsupported else ())]
    if imported.unsupported and not allow_unsupported:
        more = f", and {after} after them that read what they make" if after else ""
        said.append(f"error: {label}: {roots} part{'s' if roots > 1 else ''} of the model convcost cannot express "
                    f"(above){more}; --allow-unsupported writes the spec anyway (each as an `unsupported` row with its "
                    "traced shape, not counted)")
        if quiet:
            raise ImportRefused(said)
        for line in said:
            print(f"convcost: {line}", file=sys.stderr)
        raise typer.Exit(EXIT_BAD_INPUT)
    said += [f"note: {line}" for line in unused_lines(imported.unused)]
    if not quiet:
        for line in said:
            print(f"convcost: {line}", file=sys.stderr)
    header = list(first)
    if imported.unsupported:
        shown = "; ".join(u.where for u in imported.unsupported[:5]) + ("..." if len(imported.unsupported) > 5 else "")
        header.append(f"{len(imported.unsupported)} unsupported part(s), not counted: {shown} (kept as `unsupported` rows "
                      "with their traced shapes).")
    if imported.unused:
        header.append(f"{len(imported.unused)} `unused` row(s) hold tensors the forward never reads (counted, no MACs).")
    return write_spec(imported.layers, shape, imported.outputs, header, imported.classes, fold_blocks=not no_blocks,
                      inputs=imported.inputs)
