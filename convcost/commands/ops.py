"""`convcost ops`: the op registry, as the spec language sees it."""

from __future__ import annotations

import dataclasses
import sys

from ..cli import app, user_errors
from ..frontend.spec import ITEM_KEYS, STRUCTURES
from ..ops import REGISTRY
from ..ops.macros import MACROS
from ..render.table import Style, grid, use_color
from ..util.write_errors import write_errors


def _args(args_type: type) -> str:
    parts = []
    for f in dataclasses.fields(args_type):
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            parts.append(f.name)
        else:
            default = f.default
            shown = "null" if default is None else str(default).lower() if isinstance(default, bool) else str(default)
            parts.append(f"{f.name}={shown.replace(' ', '')}")
    return ", ".join(parts) or "—"


@app.command("ops")
@user_errors
@write_errors
def list_ops() -> None:
    """List every op the spec language knows: category, arguments (with defaults), aliases."""
    rows = []
    for name, rule in sorted(REGISTRY.items(), key=lambda kv: (kv[1].category, kv[0])):
        alias = f" ({', '.join(rule.aliases)})" if rule.aliases else ""
        rows.append(((name + alias, rule.category, _args(rule.args), rule.summary), ""))
    for name, m in sorted(MACROS.items()):
        rows.append(((name, "sugar", _args(m.args), m.summary), ""))
    style = Style(use_color(sys.stdout))
    sys.stdout.write("\n".join(grid(("op", "category", "arguments", "what"), rows, (False,) * 4, style)) + "\n")
    sys.stdout.write(
        f"\nStructures: {', '.join(STRUCTURES)}. Every layer also takes: {', '.join(ITEM_KEYS)}.\n"
    )
