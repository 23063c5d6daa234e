"""Big tables (thousands of artifacts, the whole ledger): monospace cells, wrapped by
character count (exact in a monospace font), row heights known in advance, split page by page
by bisection and drawn with one text object per page. That keeps 10,000 artifacts to a few
seconds where reportlab's ``Table`` takes quadratic time.

A cell holds at most :data:`MAX_LINES` lines (a longer value is cut with a note saying where
it is whole), so every row fits a page.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from reportlab.lib import colors
from reportlab.platypus import Flowable

from custody.report.pdf.styles import (
    ASCII_MONO,
    HEADER_BG,
    INK,
    MONO,
    MONO_EM,
    RULE,
    SANS_BOLD,
    WARN_BG,
    ZEBRA,
    register_fonts,
)
from custody.report.pdf.text import IN_LEDGER, mono_cell, pdf_escape

FAST_PAD = 2.8
#: Lines of one cell at most: a longer value is cut with a note, so a row always fits a page.
MAX_LINES = 24


@dataclass(frozen=True)
class Column:
    title: str
    chars: int
    align: str = "left"


class FastTable(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """A large monospace table: exact wrapping, O(n) splitting, one text object per page."""

    def __init__(
        self,
        columns: Sequence[Column],
        rows: Sequence[Sequence[str]],
        *,
        size: float = 6.4,
        pad: float = FAST_PAD,
        vpad: float = 1.5,
        marks: frozenset[int] = frozenset(),
        where: str = IN_LEDGER,
        max_lines: int = MAX_LINES,
        _shared: tuple[list[tuple[tuple[str, ...], ...]], list[float]] | None = None,
        _span: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        register_fonts()
        self.columns = list(columns)
        self.size = size
        self.pad = pad
        self.vpad = vpad
        self.leading = size * 1.18
        self.char_w = size * MONO_EM
        self.col_w = [c.chars * self.char_w + 2 * pad for c in self.columns]
        self.width = sum(self.col_w)
        self.header_h = 7.2 * 1.2 + 2 * vpad + 2
        self.marks = marks
        if _shared is None:
            lines: list[tuple[tuple[str, ...], ...]] = []
            cum = [0.0]
            total = 0.0
            for row in rows:
                cells = tuple(
                    tuple(mono_cell(cell, col.chars, max_lines, where))
                    for cell, col in zip(row, self.columns, strict=True)
                )
                total += max(len(c) for c in cells) * self.leading + 2 * vpad
                lines.append(cells)
                cum.append(total)
            _shared = (lines, cum)
        self._lines, self._cum = _shared
        self.start, self.end = _span if _span is not None else (0, len(self._lines))

    def _clone(self, start: int, end: int) -> FastTable:
        return FastTable(
            self.columns,
            (),
            size=self.size,
            pad=self.pad,
            vpad=self.vpad,
            marks=self.marks,
            _shared=(self._lines, self._cum),
            _span=(start, end),
        )

    def _body_height(self) -> float:
        return self._cum[self.end] - self._cum[self.start]

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        self.height = self.header_h + self._body_height()
        return self.width, self.height

    def split(self, availWidth: float, availHeight: float) -> list[Flowable]:
        limit = self._cum[self.start] + availHeight - self.header_h
        k = bisect_right(self._cum, limit, self.start, self.end + 1) - 1
        if k <= self.start:
            if availHeight < 200:
                return []
            k = self.start + 1  # a single row taller than a page: let it overflow
        if k >= self.end:
            return [self]
        return [self._clone(self.start, k), self._clone(k, self.end)]

    def draw(self) -> None:
        c = self.canv
        top = self.header_h + self._body_height()
        width = self.width
        c.saveState()
        c.setFillColor(HEADER_BG)
        c.rect(0, top - self.header_h, width, self.header_h, stroke=0, fill=1)
        base = self._cum[self.start]
        body_top = top - self.header_h
        for i in range(self.start, self.end):
            mark = i in self.marks
            if not mark and i % 2 == 0:
                continue
            c.setFillColor(WARN_BG if mark else ZEBRA)
            y0 = body_top - (self._cum[i + 1] - base)
            c.rect(0, y0, width, self._cum[i + 1] - self._cum[i], stroke=0, fill=1)
        c.setStrokeColor(RULE)
        c.setLineWidth(0.5)
        c.rect(0, 0, width, top, stroke=1, fill=0)
        c.setLineWidth(0.25)
        x = 0.0
        for w in self.col_w[:-1]:
            x += w
            c.line(x, 0, x, body_top)
        # header text
        header = c.beginText()
        header.setFont(SANS_BOLD, 7.2)
        header.setFillColor(colors.white)
        x = 0.0
        for col, w in zip(self.columns, self.col_w, strict=True):
            header.setTextOrigin(x + self.pad, top - self.vpad - 1 - 7.2 * 0.9)
            header.textOut(col.title)
            x += w
        c.drawText(header)
        # Body text. Speed matters here (hundreds of thousands of cells): ASCII lines, the
        # hashes and most paths, are written as raw Tm/Tj operators in Courier (a standard
        # font, nothing to subset or measure); other lines go through reportlab in the
        # embedded DejaVu Sans Mono, which covers far more scripts.
        text = c.beginText()
        text.setFillColor(INK)
        text.setFont(ASCII_MONO, self.size)
        raw = text._code  # the text object's operator list
        ascii_font = True
        ascent = self.size * 0.82
        for i in range(self.start, self.end):
            row_top = body_top - (self._cum[i] - base)
            x = 0.0
            for cell, col, w in zip(self._lines[i], self.columns, self.col_w, strict=True):
                y = row_top - self.vpad - ascent
                for line in cell:
                    if line:
                        if col.align == "right":
                            tx = x + w - self.pad - len(line) * self.char_w
                        else:
                            tx = x + self.pad
                        if line.isascii():
                            if not ascii_font:
                                text.setFont(ASCII_MONO, self.size)
                                ascii_font = True
                            raw.append(f"1 0 0 1 {tx:.2f} {y:.2f} Tm ({pdf_escape(line)}) Tj")
                        else:
                            if ascii_font:
                                text.setFont(MONO, self.size)
                                ascii_font = False
                            text.setTextOrigin(tx, y)
                            text._textOut(line)
                    y -= self.leading
                x += w
        c.drawText(text)
        c.restoreState()


def fill_chars(cols: Sequence[Column], width: float, size: float, pad: float = FAST_PAD) -> int:
    """Characters left for the one column of width 0 so that the table spans ``width``."""
    char_w = size * MONO_EM
    used = sum(c.chars * char_w + 2 * pad for c in cols if c.chars) + 2 * pad
    return max(8, int((width - used) / char_w) - 1)
