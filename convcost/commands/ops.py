"""`convcost ops`: the op registry, as the spec language sees it."""

from __future__ import annotations

import sys

from ..app import app, user_errors
from ..util.write_errors import write_errors


@app.command("ops")
@user_errors
@write_errors
def list_ops() -> None:
    """List every op the spec language knows: category, arguments (with defaults), aliases."""
    from ..frontend.spec import ITEM_KEYS, STRUCTURES
    from ..render.ops_table import compact_args, op_rows
    from ..render.table import Style, grid, use_color

    rows = []
    for r in op_rows():
        alias = f" ({', '.join(r.aliases)})" if r.aliases else ""
        rows.append(((r.name + alias, r.category, compact_args(r.args), r.summary), ""))
    style = Style(use_color(sys.stdout))
    sys.stdout.write("\n".join(grid(("op", "category", "arguments", "what"), rows, (False,) * 4, style)) + "\n")
    sys.stdout.write(
        f"\nStructures: {', '.join(STRUCTURES)}. Every layer also takes: {', '.join(ITEM_KEYS)}.\n"
    )
