"""The report as a document: its sections in order, its page templates, its furniture, its
outline (bookmarks) and contents.

The document is laid out in passes (reportlab's ``multiBuild``) until the contents (each
section's page number, linked to it) and the page count ("page X of Y" on every page) no
longer change: usually three. Every section is bounded in size whatever the number of
artifacts; only the optional full inventory (:attr:`ReportModel.full_inventory`) grows
with the case.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from reportlab import rl_config
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, PageTemplate
from reportlab.platypus.flowables import Flowable as _Flowable

from custody.report.model import ReportModel
from custody.report.pdf.annexes import annexes
from custody.report.pdf.attestation import attestation
from custody.report.pdf.case import authority, personnel
from custody.report.pdf.clocks import time_integrity
from custody.report.pdf.collection import collection
from custody.report.pdf.cover import contents, cover
from custody.report.pdf.custody import custody_log
from custody.report.pdf.furniture import Furniture, draw_furniture, fixed_canvas
from custody.report.pdf.integrity import integrity
from custody.report.pdf.inventory import inventory
from custody.report.pdf.method import how, independent
from custody.report.pdf.page import (
    LANDSCAPE,
    LANDSCAPE_W,
    MARGIN,
    PORTRAIT,
    PORTRAIT_W,
    Anchor,
    Heading,
)
from custody.report.pdf.problems import problems
from custody.report.pdf.storage import storage
from custody.report.pdf.styles import Styles, make_styles
from custody.report.pdf.text import HEADING_LIMIT, para_text, printable
from custody.report.sign import SignatureBox

Section = Callable[[ReportModel, Styles], list[Flowable]]

#: The sections after the attestation, in the order the report gives them.
AFTER_ATTESTATION: tuple[Section, ...] = (
    custody_log,
    collection,
    problems,
    inventory,
    integrity,
    authority,
    personnel,
    storage,
    time_integrity,
    how,
    independent,
    annexes,
)
#: Layout passes at most (the contents and the page count settle in two or three).
MAX_PASSES = 6


class PageCount(_Flowable):  # type: ignore[misc]  # reportlab is untyped
    """Takes no room; remembers the page count of the previous pass so that every page can
    say "page X of Y", and asks for another pass until the count is settled."""

    def __init__(self, doc: BaseDocTemplate) -> None:
        super().__init__()
        self.doc = doc
        self.total: int | None = None  # the previous pass's count, drawn on the pages
        self._counted: int | None = None

    def isIndexing(self) -> int:
        return 1

    def beforeBuild(self) -> None:
        self.total = self._counted

    def afterBuild(self) -> None:
        self._counted = self.doc.page

    def isSatisfied(self) -> bool:
        return self.total is not None and self.total == self._counted

    def notify(self, kind: str, stuff: Any) -> None:
        pass  # the document tells every indexing flowable of every entry

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        return 0, 0

    def draw(self) -> None:
        pass


class ReportDocument(BaseDocTemplate):  # type: ignore[misc]  # reportlab is untyped
    """Turns each :class:`Heading` into a bookmark and, for the contents, a TOC entry."""

    def __init__(self, buf: io.BytesIO, furniture: Furniture, **kw: Any) -> None:
        super().__init__(buf, **kw)
        self.furniture = furniture
        self.count = PageCount(self)

    def afterFlowable(self, flowable: Flowable) -> None:
        if not isinstance(flowable, Heading | Anchor):
            return
        level, title, key, toc = flowable.outline
        c = self.canv
        top = self.frame._y + flowable.height
        c.bookmarkPage(key, fit="XYZ", left=0, top=top)
        c.addOutlineEntry(title, key, level=level, closed=False)
        if toc:
            self.notify("TOCEntry", (level, para_text(title), self.page, key))

    def handle_documentBegin(self) -> None:
        super().handle_documentBegin()
        self.canv.showOutline()

    def on_page_end(self, canvas: Any, doc: Any) -> None:
        draw_furniture(canvas, self.furniture, self.page, self.count.total)


def render_model(model: ReportModel) -> tuple[bytes, SignatureBox | None]:
    """Lay out the report; the PDF bytes and where the visible signature goes."""
    styles = make_styles()
    box: list[SignatureBox] = []

    def place(page: int, x1: float, y1: float, x2: float, y2: float) -> None:
        box[:] = [SignatureBox(page, x1, y1, x2, y2)]

    buf = io.BytesIO()
    furniture = Furniture(
        model.case_id, model.bundle_id, model.manifest_sha256, MARGIN, model.generated_at
    )
    doc = _document(buf, model, furniture)
    story: list[Flowable] = [doc.count]
    story += cover(model, styles)
    story += contents(styles)
    story += attestation(model, styles, place)
    for section in AFTER_ATTESTATION:
        story += section(model, styles)
    with _no_ascii85():
        doc.multiBuild(story, maxPasses=MAX_PASSES, canvasmaker=fixed_canvas(furniture))
    return buf.getvalue(), box[-1] if box else None


def _document(buf: io.BytesIO, model: ReportModel, furniture: Furniture) -> ReportDocument:
    doc = ReportDocument(
        buf,
        furniture,
        pagesize=PORTRAIT,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=_info(f"Chain of Custody Report - {model.case_field('title')}"),
        author=_info(model.examiner.name),
        subject=_info(f"Case {model.case_id}, bundle {model.bundle_id}"),
        creator="Chainproof",
        keywords=f"manifest-sha256:{model.manifest_sha256}",
    )
    doc.addPageTemplates(
        [
            _template(doc, "portrait", "p", PORTRAIT, PORTRAIT_W),
            _template(doc, "landscape", "l", LANDSCAPE, LANDSCAPE_W),
        ]
    )
    return doc


def _info(text: str) -> str:
    """A value for the PDF's document information: printable and short."""
    return printable(text, limit=HEADING_LIMIT)


def _template(
    doc: ReportDocument, name: str, frame_id: str, size: tuple[float, float], width: float
) -> PageTemplate:
    frame = Frame(
        MARGIN,
        MARGIN,
        width,
        size[1] - 2 * MARGIN,
        id=frame_id,
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )
    return PageTemplate(id=name, frames=[frame], pagesize=size, onPageEnd=doc.on_page_end)


@contextmanager
def _no_ascii85() -> Iterator[None]:
    """Compressed streams without the ASCII85 layer (pure Python, slow, 25% larger)."""
    saved = rl_config.useA85
    rl_config.useA85 = 0
    try:
        yield
    finally:
        rl_config.useA85 = saved
