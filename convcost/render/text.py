"""Text from a spec made safe for one line of a terminal table or a markdown paragraph."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..errors import printable
from ..ops.shapes import fmt_shape

if TYPE_CHECKING:
    from ..graph.build import Graph


def one_line(text: str) -> str:
    """``text`` on one line (newlines and runs of blanks become one space) with control characters
    escaped, so a spec's description cannot write terminal escape sequences or inject a markdown
    heading into a report."""
    return printable(" ".join(text.split()))


_BLOCK_START = re.compile(r"([#>*+\-=`~|])|(\d+)([.)])")


def md_paragraph(text: str) -> str:
    """``one_line(text)`` that markdown reads as a plain paragraph, never as a heading, quote,
    list, fence or table: a leading block marker is backslash-escaped."""
    line = one_line(text)
    m = _BLOCK_START.match(line)
    if m is None:
        return line
    if m.group(1):
        return "\\" + line
    return f"{m.group(2)}\\{line[m.end(2):]}"


def plural(n: int, word: str) -> str:
    """'1 layer', '2 layers', '1,000 rows'."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def batched(g: Graph, shape: tuple[int, ...]) -> str:
    """'1×3×224×224': one of the graph's shapes with its batch in front."""
    return f"{g.batch}×{fmt_shape(shape)}"


def inputs_text(g: Graph) -> str:
    """'1×3×224×224', or each input by name when there are several: 'c4 1×128×40×40, c5 1×256×20×20'."""
    if len(g.inputs) == 1:
        return batched(g, g.input_shape)
    return ", ".join(f"{i.name} {batched(g, i.shape)}" for i in g.inputs)


def outputs_text(g: Graph) -> str:
    """'1×1000', or each output by name when there are several."""
    if len(g.outputs) == 1:
        return batched(g, g.output.shape)
    return ", ".join(f"{n.name} {batched(g, n.shape)}" for n in g.output_nodes)


def in_out_sentence(g: Graph) -> str:
    """'Input 1×3×224×224 → output 1×1000' ('Inputs ... → outputs ...' when there are several)."""
    i, o = ("Inputs", "outputs") if g.several else ("Input", "output")
    return f"{i} {inputs_text(g)} → {o} {outputs_text(g)}"


def in_out(g: Graph) -> str:
    """'1×3×224×224 → 1×1000' (every input and output, by name, when there are several)."""
    return f"{inputs_text(g)} → {outputs_text(g)}"


def uncounted_note(names: tuple[str, ...]) -> str:
    """The line under every total of a spec with `unsupported` parts: what the totals leave out."""
    shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
    return (f"not counted: {plural(len(names), 'unsupported part')} ({shown}): their params, MACs and other ops are "
            "missing from these totals")


def unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``... when ``taken`` already has it; the result is added to ``taken``."""
    candidate, k = name, 1
    while candidate in taken:
        k += 1
        candidate = f"{name}_{k}"
    taken.add(candidate)
    return candidate
