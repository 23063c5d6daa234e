"""The page: sizes and margins, the sections' numbers, and what every section starts with
(a heading that is also a bookmark of the PDF's outline and a line of the contents)."""

from __future__ import annotations

from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import CondPageBreak, Flowable, HRFlowable, Paragraph

from custody.record.times import shown, shown_stacked
from custody.report.model import NOT_RECORDED
from custody.report.pdf.styles import ACCENT, Styles
from custody.report.pdf.tables import Prose
from custody.report.pdf.text import HEADING_LIMIT, para_text, printable

#: The numbered sections, in the order the report gives them (cover and contents first).
ATTESTATION = 1
CUSTODY = 2
RUNS = 3
PROBLEMS = 4
INVENTORY = 5
INTEGRITY = 6
AUTHORITY = 7
PERSONNEL = 8
STORAGE = 9
TIME = 10
METHOD = 11
INDEPENDENT = 12
ANNEXES = 13

MARGIN = 42.5  # 15 mm
PORTRAIT = A4
LANDSCAPE = landscape(A4)
PORTRAIT_W = PORTRAIT[0] - 2 * MARGIN
LANDSCAPE_W = LANDSCAPE[0] - 2 * MARGIN


class Heading(Paragraph):  # type: ignore[misc]  # reportlab is untyped
    """A heading the document turns into a bookmark (the PDF's outline) and, when ``toc``,
    a line of the contents with its page number and a link to it."""

    def __init__(
        self, text: str, style: ParagraphStyle, *, level: int, key: str, toc: bool = True
    ) -> None:
        super().__init__(para_text(text, limit=HEADING_LIMIT), style)
        #: Outline level (0: section), plain title, destination name, listed in the contents.
        self.outline = (level, printable(text, limit=OUTLINE_LIMIT), key, toc)


class Anchor(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """A bookmark without a visible heading (the cover): takes no room."""

    def __init__(self, title: str, *, key: str) -> None:
        super().__init__()
        self.outline = (0, title, key, False)

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        return 0, 0

    def draw(self) -> None:
        pass


#: Characters of an outline title.
OUTLINE_LIMIT = 120


def heading(styles: Styles, number: int, title: str) -> list[Flowable]:
    """A numbered section heading, ruled, kept with what follows."""
    return [
        CondPageBreak(140),
        Heading(f"{number}. {title}", styles.h1, level=0, key=f"section-{number}"),
        HRFlowable(width="100%", thickness=0.8, color=ACCENT, spaceBefore=0, spaceAfter=8),
    ]


def subheading(styles: Styles, title: str, key: str, *, toc: bool = True) -> Heading:
    """A part of a section (level 1 of the outline): ``key`` names it, unique in the report."""
    return Heading(title, styles.h2, level=1, key=key, toc=toc)


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
