"""A plain table for rich consoles, linear in its rows: what roofline, profile and compare print.

rich's ``Table`` measures and wraps every cell (about a millisecond a row: 30 s for a 30,000-layer
roofline). ``Grid`` draws the same layout as ``Table(show_edge=False, pad_edge=False)`` with
``no_wrap`` columns -- a title padded to the table's width, header cells joined by ``┃``, a
``━╇━`` rule, rows joined by ``│``, cells of several lines -- by padding strings, and yields one
rich Segment per line. It never shrinks a column to the console's width: print it with
:meth:`Grid.print` (``crop=False``) so that a narrow terminal wraps long lines instead of cutting them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions
from rich.segment import Segment
from rich.style import Style


def width_of(text: str) -> int:
    """Terminal cells of ``text`` (rich's cell_len, with a fast path for ASCII)."""
    return len(text) if text.isascii() else cell_len(text)


@dataclass
class Grid:
    headers: Sequence[str]
    right: Sequence[bool]  # right-justify this column (numbers)
    title: str = ""
    header_style: str = "bold"
    title_style: str = "italic"
    min_widths: Sequence[int] = ()
    rows: list[tuple[tuple[str, ...], str]] = field(default_factory=list)

    def add_row(self, *cells: str, style: str = "") -> None:
        self.rows.append((cells, style))

    def widths(self) -> list[int]:
        widths = [max(width_of(h), m) for h, m in zip(self.headers, [*self.min_widths, *[0] * len(self.headers)])]
        for cells, _ in self.rows:
            for k, cell in enumerate(cells):
                for part in cell.split("\n"):
                    widths[k] = max(widths[k], width_of(part))
        return widths

    def lines(self) -> Iterator[tuple[str, str]]:
        """(text, style) of each output line."""
        widths = self.widths()

        def pad(text: str, k: int) -> str:
            gap = " " * (widths[k] - width_of(text))
            return gap + text if self.right[k] else text + gap

        table_width = sum(widths) + 3 * (len(widths) - 1)
        if self.title:
            yield self.title + " " * max(0, table_width - width_of(self.title)), self.title_style
        yield " ┃ ".join(pad(h, k) for k, h in enumerate(self.headers)), self.header_style
        yield "━╇━".join("━" * w for w in widths), ""
        for cells, style in self.rows:
            parts = [c.split("\n") for c in cells]
            for i in range(max(len(p) for p in parts)):
                yield " │ ".join(pad(p[i] if i < len(p) else "", k) for k, p in enumerate(parts)), style

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        styles: dict[str, Style | None] = {}
        for text, name in self.lines():
            if name not in styles:
                styles[name] = console.get_style(name) if name else None
            yield Segment(text, styles[name])
            yield Segment.line()

    def print(self, console: Console) -> None:
        console.print(self, crop=False)
