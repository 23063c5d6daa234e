"""Small tables: a grid with a header row repeated on every page, and label / value pairs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

from reportlab.lib import colors
from reportlab.platypus import Flowable, Paragraph, Table, TableStyle

from custody.report.model import NOT_RECORDED
from custody.report.pdf.styles import HEADER_BG, KEY_BG, RULE, WARN_BG, ZEBRA, Styles
from custody.report.pdf.text import para_text

Cell: TypeAlias = str | Flowable | list[Flowable]


def grid_table(
    styles: Styles,
    header: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    widths: Sequence[float],
    *,
    mono: Sequence[int] = (),
    highlight: Sequence[int] = (),
) -> Table:
    """A table with a dark header row repeated on every page, zebra rows, wrapping cells.

    ``mono``: column indexes drawn in the monospace style; ``highlight``: row indexes
    (0-based, data rows) shaded as problems.
    """
    head = [Paragraph(para_text(h), styles.cell_head) for h in header]
    data: list[list[Cell]] = [list(head)]
    for row in rows:
        out: list[Cell] = []
        for i, cell in enumerate(row):
            if isinstance(cell, str):
                out.append(
                    Paragraph(para_text(cell), styles.cell_mono if i in mono else styles.cell)
                )
            else:
                out.append(cell)
        data.append(out)
    table = Table(data, colWidths=list(widths), repeatRows=1, hAlign="LEFT")
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
) -> Table:
    """Label / value pairs, labels on a tinted column."""
    data: list[list[Cell]] = []
    for key, value in rows:
        if isinstance(value, str):
            style = styles.cell_mono if key in mono_keys else styles.cell
            if value == NOT_RECORDED:
                value = Paragraph(f"<i>{para_text(value)}</i>", styles.cell)
            else:
                value = Paragraph(para_text(value), style)
        data.append([Paragraph(para_text(key), styles.cell_bold), value])
    table = Table(data, colWidths=list(widths), hAlign="LEFT")
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
