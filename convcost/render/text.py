"""Text from a spec made safe for one line of a terminal table or a markdown paragraph."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..errors import escape_controls, printable
from ..ops.shapes import fmt_shape

if TYPE_CHECKING:
    from ..graph.build import Graph


def one_line(text: str) -> str:
    """``text`` on one line (newlines and runs of blanks become one space) with control characters
    escaped, so a spec's description cannot write terminal escape sequences or inject a markdown
    heading into a report."""
    return printable(" ".join(text.split()))


# Markdown's inline markup (a backslash escape of its own, code spans, emphasis and strikethrough, links and images,
# table cells) backslash-escaped, HTML's characters as entities; '_' only where it can open or close emphasis (not
# between two letters or digits: 'conv_1').
_MD_CHARS = str.maketrans({c: "\\" + c for c in "\\`*~[]|"} | {"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_MD_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_BACKTICKS = re.compile(r"`+")


def md_text(text: str) -> str:
    """``text`` (a file, model or layer name, a message) for markdown outside code spans: a table cell, a heading,
    a list item, a sentence. It reads back as written: on one line (a newline cannot start a heading), control
    characters escaped, markup backslash-escaped (nothing in it opens a code span, a link, an image or emphasis,
    or ends a table cell), and '&', '<', '>' as entities, so no HTML (``<img onerror=...>``) and no entity of
    the text's own passes through."""
    if text.isalnum():  # most names ('conv1', 'relu3'): nothing to escape
        return text
    line = escape_controls(text).translate(_MD_CHARS)
    return _MD_UNDERSCORE.sub(r"\\_", line) if "_" in line else line


def md_code(text: str, table: bool = False) -> str:
    """``text`` as an inline code span that nothing in it can close: on one line, fenced by one backtick more than
    its longest run of backticks, padded with a space where it starts or ends with a backtick (or with a space
    at both ends, which CommonMark strips once). Inside a code span, HTML and markup are shown literally. In a
    table cell (``table``) a '|' would end the cell even there: it is escaped, as GitHub-flavoured markdown
    requires (and takes out again)."""
    body = escape_controls(text)
    if table:
        body = body.replace("|", "\\|")
    if not body:
        return "` `"
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(body)), default=0) + 1)
    if body[0] == "`" or body[-1] == "`" or (body[0] == " " and body[-1] == " " and body.strip()):
        body = f" {body} "
    return f"{fence}{body}{fence}"


def md_url(path: str) -> str:
    """A relative path (a chart's file) as a markdown link destination: percent-encoded, so that no space,
    parenthesis, bracket, newline or '<' in it ends the link or starts HTML; GitHub decodes it back to the file."""
    from urllib.parse import quote

    return quote(path, safe="/")


_BLOCK_START = re.compile(r"([#>*+\-=`~|])|(\d+)([.)])")


def md_paragraph(text: str) -> str:
    """``text`` that markdown reads as one plain paragraph, never as a heading, quote, list, fence or table (a
    leading block marker is backslash-escaped), shown literally (:func:`md_text`)."""
    line = md_text(" ".join(text.split()))
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


def fmt_change(pct: float | None) -> str:
    """-89.66 -> '−89.7 %' (a true minus sign), 3 -> '+3.0 %', None (base was 0) -> 'n/a'."""
    if pct is None:
        return "n/a"
    if round(pct, 1) == 0:
        return "±0.0 %"
    sign = "+" if pct > 0 else "−"
    return f"{sign}{abs(pct):.1f} %"
