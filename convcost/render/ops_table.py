"""The op table, from the op definitions: ``convcost ops`` prints it, docs/spec.md embeds it.

docs/spec.md's table sits between the two markers below and is regenerated with

    python -m convcost.render.ops_table docs/spec.md

(tests/test_op_definitions.py fails when it is stale).
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..ops import REGISTRY
from ..ops.macros import MACROS
from ..ops.registry import arg_fields

BEGIN = "<!-- BEGIN op table: generated from convcost/ops/ by `python -m convcost.render.ops_table docs/spec.md` -->"
END = "<!-- END op table -->"


@dataclass(frozen=True)
class OpRow:
    name: str
    aliases: tuple[str, ...]
    category: str
    args: type
    summary: str
    notes: str = ""


def op_rows() -> list[OpRow]:
    """Every op by category then name, then the sugar layers (macros)."""
    rows = [
        OpRow(name, rule.aliases, rule.category, rule.args, rule.summary, " ".join(filter(None, (rule.notes, _forms(rule)))))
        for name, rule in sorted(REGISTRY.items(), key=lambda kv: (kv[1].category, kv[0]))
    ]
    rows += [OpRow(name, (), "sugar", m.args, m.summary, m.notes) for name, m in sorted(MACROS.items())]
    return rows


def _forms(rule: Any) -> str:
    """How a layer of the op may meet torch besides as its module (the spec's `torch` key), for the table."""
    c = rule.counting
    forms = [*([f"`function` ({c.function.replace('{n}', 'N')})"] if c.function else []), *(["`subclass`"] if c.subclass else [])]
    return f"`torch:` {', '.join(forms)}." if forms else ""


def _required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _yaml(value: Any) -> str:
    """A default as a spec would write it: true, null, 1 for (1, 1), [2, 3]."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return _yaml(value[0]) if len(set(value)) == 1 else f"[{', '.join(_yaml(v) for v in value)}]"
    return str(value)


def compact_args(args_type: type) -> str:
    """'out, kernel, stride=(1,1)': names with their defaults, as `convcost ops` shows them."""
    parts = []
    for name, f in arg_fields(args_type).items():
        if _required(f):
            parts.append(name)
        else:
            default = f.default
            shown = "null" if default is None else str(default).lower() if isinstance(default, bool) else str(default)
            parts.append(f"{name}={shown.replace(' ', '')}")
    return ", ".join(parts) or "—"


def documented_args(args_type: type) -> str:
    """'`out`: output channels; `stride` (1): stride': each argument, its default and its doc."""
    parts = []
    for name, f in arg_fields(args_type).items():
        default = "" if _required(f) or f.default is None else f" ({_yaml(f.default)})"
        doc = f.metadata.get("doc", "")
        parts.append(f"`{name}`{default}" + (f": {doc}" if doc else ""))
    return "; ".join(parts).replace("|", "\\|") or "—"


def markdown() -> str:
    lines = ["| op | category | arguments (default) | what |", "|---|---|---|---|"]
    for r in op_rows():
        name = f"`{r.name}`" + (f" ({', '.join(f'`{a}`' for a in r.aliases)})" if r.aliases else "")
        what = " ".join(filter(None, (r.summary, r.notes))).replace("|", "\\|")
        lines.append(f"| {name} | {r.category} | {documented_args(r.args)} | {what} |")
    return "\n".join(lines) + "\n"


def embedded(doc: str) -> str | None:
    """The table between the markers of a document; None when the markers are missing."""
    start, end = doc.find(BEGIN), doc.find(END)
    if start < 0 or end < start:
        return None
    return doc[start + len(BEGIN):end].strip("\n") + "\n"


def with_table(doc: str) -> str:
    """The document with the table between its markers replaced by the current one."""
    start, end = doc.find(BEGIN), doc.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the document has no op-table markers: add a line '{BEGIN}' and a line '{END}'")
    return doc[: start + len(BEGIN)] + "\n\n" + markdown() + "\n" + doc[end:]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m convcost.render.ops_table docs/spec.md", file=sys.stderr)
        return 2
    path = Path(argv[0])
    path.write_text(with_table(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
