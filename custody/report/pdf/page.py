"""The page: sizes and margins, and what every section starts with."""

from __future__ import annotations

from reportlab.lib.pagesizes import A4, landscape
from reportlab.platypus import CondPageBreak, Flowable, HRFlowable, Paragraph

from custody.record.times import shown, shown_stacked
from custody.report.model import NOT_RECORDED
from custody.report.pdf.styles import ACCENT, Styles
from custody.report.pdf.tables import Prose
from custody.report.pdf.text import para_text

MARGIN = 42.5  # 15 mm
PORTRAIT = A4
LANDSCAPE = landscape(A4)
PORTRAIT_W = PORTRAIT[0] - 2 * MARGIN
LANDSCAPE_W = LANDSCAPE[0] - 2 * MARGIN


def heading(styles: Styles, number: int, title: str) -> list[Flowable]:
    """A numbered section heading, ruled, kept with what follows."""
    return [
        CondPageBreak(140),
        Paragraph(f"{number}. {para_text(title)}", styles.h1),
        HRFlowable(width="100%", thickness=0.8, color=ACCENT, spaceBefore=0, spaceAfter=8),
    ]


def body(styles: Styles, text: str) -> Paragraph:
    """A paragraph of body text (``text`` is markup)."""
    return Paragraph(text, styles.body)


def at_text(at: str | None) -> str:
    """A ledger time in full (to the microsecond), or "not recorded"."""
    return shown(at, micro=True) or NOT_RECORDED


def at_cell(at: str | None) -> str | Prose:
    """A ledger time for a narrow cell: date over time to the second (full value in Annex B);
    a value that is not a time is shown as the text it is."""
    stacked = shown_stacked(at)
    if not stacked:
        return NOT_RECORDED
    return at if stacked == at else Prose(stacked)
