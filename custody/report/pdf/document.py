"""The report as a document: its sections in order, its page templates, its furniture."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from reportlab import rl_config
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, PageTemplate

from custody.report.model import ReportModel
from custody.report.pdf.acquisition import acquisition
from custody.report.pdf.annexes import annexes
from custody.report.pdf.attestation import attestation
from custody.report.pdf.case import authority, personnel
from custody.report.pdf.clocks import time_integrity
from custody.report.pdf.collection import collection
from custody.report.pdf.cover import cover
from custody.report.pdf.custody import custody_log
from custody.report.pdf.furniture import Furniture, numbered_canvas
from custody.report.pdf.integrity import integrity
from custody.report.pdf.inventory import inventory
from custody.report.pdf.method import how, independent
from custody.report.pdf.page import LANDSCAPE, LANDSCAPE_W, MARGIN, PORTRAIT, PORTRAIT_W
from custody.report.pdf.storage import storage
from custody.report.pdf.styles import Styles, make_styles
from custody.report.pdf.text import HEADING_LIMIT, printable
from custody.report.sign import SignatureBox

Section = Callable[[ReportModel, Styles], list[Flowable]]

#: The sections before the attestation, in the order a court reads them.
BEFORE_ATTESTATION: tuple[Section, ...] = (
    cover,
    authority,
    personnel,
    inventory,
    collection,
    acquisition,
    integrity,
    custody_log,
    storage,
    time_integrity,
    how,
    independent,
)


def render_model(model: ReportModel) -> tuple[bytes, SignatureBox | None]:
    """Lay out the report; the PDF bytes and where the visible signature goes."""
    styles = make_styles()
    box: list[SignatureBox] = []

    def place(page: int, x1: float, y1: float, x2: float, y2: float) -> None:
        box[:] = [SignatureBox(page, x1, y1, x2, y2)]

    story: list[Flowable] = []
    for section in BEFORE_ATTESTATION:
        story += section(model, styles)
    story += attestation(model, styles, place)
    story += annexes(model, styles)
    buf = io.BytesIO()
    doc = _document(buf, model)
    furniture = Furniture(
        model.case_id, model.bundle_id, model.manifest_sha256, MARGIN, model.generated_at
    )
    with _no_ascii85():
        doc.build(story, canvasmaker=numbered_canvas(furniture))
    return buf.getvalue(), box[-1] if box else None


def _document(buf: io.BytesIO, model: ReportModel) -> BaseDocTemplate:
    doc = BaseDocTemplate(
        buf,
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
            _template("portrait", "p", PORTRAIT, PORTRAIT_W),
            _template("landscape", "l", LANDSCAPE, LANDSCAPE_W),
        ]
    )
    return doc


def _info(text: str) -> str:
    """A value for the PDF's document information: printable and short."""
    return printable(text, limit=HEADING_LIMIT)


def _template(name: str, frame_id: str, size: tuple[float, float], width: float) -> PageTemplate:
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
    return PageTemplate(id=name, frames=[frame], pagesize=size)


@contextmanager
def _no_ascii85() -> Iterator[None]:
    """Compressed streams without the ASCII85 layer (pure Python, slow, 25% larger)."""
    saved = rl_config.useA85
    rl_config.useA85 = 0
    try:
        yield
    finally:
        rl_config.useA85 = saved
