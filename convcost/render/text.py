"""Text from a spec made safe for one line of a terminal table or a markdown paragraph."""

from __future__ import annotations

import re

from ..errors import printable


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
