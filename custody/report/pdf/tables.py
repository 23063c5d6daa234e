"""Small tables: a grid with a header row repeated on every page, and label / value pairs.

Text cells go through :mod:`custody.report.pdf.text` (drawable, cut to their share of lines
with a note) and a row taller than a page continues on the next, so no value from the record
can stop the layout."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import Flowable, Paragraph, Table, TableStyle

from custody.report.model import NOT_RECORDED
from custody.report.pdf.styles import HEADER_BG, KEY_BG, RULE, WARN_BG, ZEBRA, Styles
from custody.report.pdf.text import (
    MIN_LIMIT,
    NAME_LINES,
    PROSE_LINES,
    line_chars,
    para_text,
    paragraph,
)


@dataclass(frozen=True)
class Prose:
    """Free text for a cell (a note, a reason): its line breaks are drawn, and it may fill
    :data:`~custody.report.pdf.text.PROSE_LINES` lines where a name fills
    :data:`~custody.report.pdf.text.NAME_LINES`."""

    text: str


Cell: TypeAlias = str | Prose | Flowable | list[Flowable]


def text_cell(
    value: str | Prose, style: ParagraphStyle, width: float, lines: int | None = None
) -> Paragraph:
    """A value from the record as a cell ``width`` points wide: drawable, and cut (with a
    note) when it would run past its share of lines (``lines``, when given, for any value:
    tables whose length must stay bounded)."""
    line = line_chars(width, style)
    if isinstance(value, Prose):
        limit = max(MIN_LIMIT, line * (lines or PROSE_LINES))
        return paragraph(value.text, style, lines=True, limit=limit, line=line)
    return paragraph(value, style, limit=max(MIN_LIMIT, line * (lines or NAME_LINES)))


def grid_table(
    styles: Styles,
    header: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    widths: Sequence[float],
    *,
    mono: Sequence[int] = (),
    highlight: Sequence[int] = (),
    lines: int | None = None,
) -> Table:
    """A table with a dark header row repeated on every page, zebra rows, wrapping cells.

    ``mono``: column indexes drawn in the monospace style; ``highlight``: row indexes
    (0-based, data rows) shaded as problems; ``lines``: lines a cell fills at most.
    """
    head = [Paragraph(para_text(h), styles.cell_head) for h in header]
    data: list[list[Cell]] = [list(head)]
    for row in rows:
        out: list[Cell] = []
        for i, cell in enumerate(row):
            if isinstance(cell, str | Prose):
                style = styles.cell_mono if i in mono else styles.cell
                out.append(text_cell(cell, style, widths[i] - 7, lines))
            else:
                out.append(cell)
        data.append(out)
    # splitInRow: a row taller than a page (a very long value) continues on the next page.
    table = Table(data, colWidths=list(widths), repeatRows=1, hAlign="LEFT", splitInRow=1)
    commands: list[tuple[Any, ...]] = [
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_BG),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, ZEBRA]),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE),
        ("BOX", (0, 0), (-1, -1), 0.5, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
        ("LEFTPADDING", (0, 0), (-1, -1), 3.5),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3.5),
    ]
    for r in highlight:
        commands.append(("BACKGROUND", (0, r + 1), (-1, r + 1), WARN_BG))
    table.setStyle(TableStyle(commands))
    return table


def kv_table(
    styles: Styles,
    rows: Sequence[tuple[str, Cell]],
    widths: tuple[float, float],
    *,
    mono_keys: Sequence[str] = (),
    lines: int | None = None,
) -> Table:
    """Label / value pairs, labels on a tinted column (``lines``: a value's lines at most)."""
    data: list[list[Cell]] = []
    for key, value in rows:
        if (value.text if isinstance(value, Prose) else value) == NOT_RECORDED:
            value = Paragraph(f"<i>{para_text(NOT_RECORDED)}</i>", styles.cell)
        elif isinstance(value, str | Prose):
            style = styles.cell_mono if key in mono_keys else styles.cell
            value = text_cell(value, style, widths[1] - 8, lines)
        data.append([Paragraph(para_text(key), styles.cell_bold), value])
    table = Table(data, colWidths=list(widths), hAlign="LEFT", splitInRow=1)
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (0, -1), KEY_BG),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE),
                ("BOX", (0, 0), (-1, -1), 0.5, RULE),
                ("TOPPADDING", (0, 0), (-1, -1), 2.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
                ("LEFTPADDING", (0, 0), (-1, -1), 4),
                ("RIGHTPADDING", (0, 0), (-1, -1), 4),
            ]
        )
    )
    return table
