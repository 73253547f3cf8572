"""`convcost import`: a spec written from the user's PyTorch model (docs/import.md)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Optional

import typer

from ..app import EXIT_BAD_INPUT, EXIT_OK, app, user_errors
from ..costmodel.sizes import human_bytes, parse_max_memory
from ..errors import UsageError, escape_controls
from ..util.write_errors import write_errors
from ._options import IMPORT_MAX_MEMORY_HELP, input_option, max_memory_option, reference_arg_option
from ._output import check_output, to_file, write_output

if TYPE_CHECKING:
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
    no_blocks: bool = False, more: tuple[tuple[int, ...], ...] = (),
) -> tuple[str, Imported, Placement]:
    """The import itself, as `convcost import` runs it and as analyze, compare, check and report run it on a torch
    target (commands/_targets.py): the spec's text, what was imported and where it ran. Its refusals are printed on
    stderr and end the command with exit code 2, the same lines whichever command asked. ``more``: the shapes of a
    forward's further inputs (--input once per input), written as the spec's ``inputs``."""
    from ..crosscheck.target import parse_target, user_code, user_files
    from ..crosscheck.torch_deps import require

    t = parse_target(target, reference_arg)
    require("import")
    from ..importer.messages import grouped, unused_lines
    from ..importer.placement import import_target
    from ..importer.write import write_spec

    with user_code(f"reference '{t.text}': running the model failed", user_files(t), exceptions=False):
        imported, placement = import_target(t, shape, allow_unsupported, limit, more)  # the user's code may exit in there
    lines, roots, after = grouped(imported.unsupported)
    for line in lines:
        print(f"convcost: {'warning' if allow_unsupported else 'error'}: {line}", file=sys.stderr)
    for note in imported.notes if imported.unsupported else ():
        print(f"convcost: note: {note}", file=sys.stderr)
    if imported.unsupported and not allow_unsupported:
        more = f", and {after} after them that read what they make" if after else ""
        print(f"convcost: error: {t.text}: {roots} part{'s' if roots > 1 else ''} of the model convcost cannot express "
              f"(above){more}; --allow-unsupported writes the spec anyway (each as an `unsupported` row with its traced "
              "shape, not counted)", file=sys.stderr)
        raise typer.Exit(EXIT_BAD_INPUT)
    for line in unused_lines(imported.unused):
        print(f"convcost: note: {line}", file=sys.stderr)
    how = imported.method + (f" ({imported.note})" if imported.note else "")
    args = "".join(f" --reference-arg {a}" for a in reference_arg)
    given = "".join(f" --input {','.join(map(str, s))}" for s in (shape, *more))
    header = [
        f"Imported by `convcost import {target}{args}{given}` with {how}.",
        f"Layers are named by module path. Check it with: convcost verify SPEC --reference {target}{args}",
    ]
    if imported.unsupported:
        shown = "; ".join(u.where for u in imported.unsupported[:5]) + ("..." if len(imported.unsupported) > 5 else "")
        header.append(f"{len(imported.unsupported)} unsupported part(s), not counted: {shown} (kept as `unsupported` rows "
                      "with their traced shapes).")
    if imported.unused:
        header.append(f"{len(imported.unused)} `unused` row(s) hold tensors the forward never reads (counted, no MACs).")
    text = write_spec(imported.layers, shape, imported.outputs, header, imported.classes, fold_blocks=not no_blocks,
                      inputs=imported.inputs)
    return text, imported, placement
