"""Results of `convcost check`: compiler-style lines for the log, and a markdown summary."""

from __future__ import annotations

from collections.abc import Sequence

from ..ci.budget import Finding
from ..units import human
from .markdown import escape, md_code


def finding_line(f: Finding) -> str:
    """'budget.yaml:4:11: error: model 'naive': MACs 120,422,400 (120.42 M) over budget 100M ...'."""
    return f"{f.loc}: {'ok' if f.ok else 'error'}: {f.message}"


def summary_line(findings: list[Finding], models: int) -> str:
    failed = sum(not f.ok for f in findings)
    checks = f"{len(findings)} check{'s' if len(findings) != 1 else ''} on {models} model{'s' if models != 1 else ''}"
    if failed:
        return f"convcost check: FAILED: {failed} of {checks} over budget or grown too much"
    return f"convcost check: passed: {checks}, all within budget"


def summary_markdown(findings: list[Finding], models: int, warnings: Sequence[str] = ()) -> str:
    """The job summary: the verdict, a warning per model whose totals leave parts out (``warnings``), every check."""
    failed = [f for f in findings if not f.ok]
    head = "❌ " if failed else "✅ "
    lines = [f"### {head}{escape(summary_line(findings, models))}", ""]
    lines += [line for w in warnings for line in (f"> ⚠ {escape(w)}", "")]
    if findings:
        lines += [
            "| | model | block | metric | value | limit | rule | where |",
            "|---|---|---|---|---:|---:|---|---|",
        ]
        for f in sorted(findings, key=lambda f: f.ok):
            limit = f"{f.allowed:,} ({human(f.allowed)})"
            rule = f"≤ {f.rule}" if f.kind == "limit" else f"+{f.rule} over {f.baseline:,}"
            lines.append(
                f"| {'✅' if f.ok else '❌'} | {escape(f.model)} | {escape(f.block or '')} | {escape(f.what)} "
                f"| {f.actual:,} ({human(f.actual)}) | {limit} | {escape(rule)} | {md_code(str(f.loc), table=True)} |"
            )
    return "\n".join(lines) + "\n"
