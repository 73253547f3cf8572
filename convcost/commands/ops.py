"""`convcost ops`: the op registry, as the spec language sees it."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from ..app import app, user_errors
from ..util.write_errors import write_errors
from ._options import complete_ops


@app.command("ops")
@user_errors
@write_errors
def list_ops(
    names: Optional[list[str]] = typer.Argument(
        None, metavar="[OP]...", help="Only these ops (names or aliases; completed by the shell).", autocompletion=complete_ops
    ),
) -> None:
    """List every op the spec language knows: category, arguments (with defaults), aliases; with OP names, those
    ops, each argument with its doc."""
    from ..frontend.spec import ITEM_KEYS, STRUCTURES
    from ..render.ops_table import compact_args, documented_args, op_rows
    from ..render.table import Style, grid, use_color

    rows = op_rows()
    if names:
        from ..errors import UsageError, did_you_mean

        known = {n: r for r in rows for n in (r.name, *r.aliases)}
        for n in names:
            if n not in known:
                raise UsageError(f"no op '{n}'{did_you_mean(n, list(known))}; `convcost ops` lists them all")
        chosen = list(dict.fromkeys(known[n] for n in names))
        for r in chosen:
            alias = f" (also {', '.join(r.aliases)})" if r.aliases else ""
            notes = f"\n  {r.notes}" if r.notes else ""
            sys.stdout.write(f"{r.name}{alias}: {r.category}. {r.summary}{notes}\n  arguments: "
                             f"{documented_args(r.args).replace('`', '')}\n")
        return
    out = []
    for r in rows:
        alias = f" ({', '.join(r.aliases)})" if r.aliases else ""
        out.append(((r.name + alias, r.category, compact_args(r.args), r.summary), ""))
    style = Style(use_color(sys.stdout))
    sys.stdout.write("\n".join(grid(("op", "category", "arguments", "what"), out, (False,) * 4, style)) + "\n")
    sys.stdout.write(
        f"\nStructures: {', '.join(STRUCTURES)}. Every layer also takes: {', '.join(ITEM_KEYS)}.\n"
    )
