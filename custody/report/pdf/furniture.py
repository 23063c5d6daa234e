"""What every page carries (case id, bundle id, manifest SHA-256, page X of Y), and the PDF's
dates fixed to the bundle's time so the same bundle renders the same bytes."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass
from typing import Any

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from custody.report.pdf.styles import MONO, MUTED, RULE, SANS, SANS_BOLD
from custody.report.pdf.text import visible

#: Characters of the case and bundle ids in the page header (a UUID has 36).
ID_CHARS = 48
TITLE = "Chain of Custody Report"


@dataclass(frozen=True)
class Furniture:
    """What every page carries: case id, bundle id, manifest SHA-256 and page X of Y."""

    case_id: str
    bundle_id: str
    manifest_sha256: str
    margin: float
    created: dt.datetime | None = None  # the PDF's creation date; None means now


def fixed_timestamp(at: dt.datetime) -> Any:
    """A reportlab timestamp for ``at``, so the PDF's dates are the bundle's time, not now."""
    from reportlab.lib.utils import TimeStamp

    stamp = TimeStamp(invariant=True)
    stamp.t = at.timestamp()
    stamp.lt = time.gmtime(stamp.t)
    stamp.YMDhms = tuple(stamp.lt)[:6]
    return stamp


def fixed_canvas(furniture: Furniture) -> type[Canvas]:
    """A canvas whose document ID is seeded with the bundle's time, not the wall clock."""

    class FixedCanvas(Canvas):  # type: ignore[misc]  # reportlab is untyped
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if furniture.created is not None:
                # reportlab seeds the document ID with the wall clock; seed it with the
                # bundle's time instead, so the same bundle renders the same bytes.
                doc = self._doc
                doc._timeStamp = fixed_timestamp(furniture.created)
                doc.signature = hashlib.md5(b"a reportlab document", usedforsecurity=False)
                doc.signature.update(ascii(doc._timeStamp.t).encode("ascii"))

    return FixedCanvas


def draw_furniture(c: Canvas, furniture: Furniture, number: int, total: int | None) -> None:
    """The page's header and footer: title, case and bundle ids, manifest SHA-256, and
    "page X of Y" (Y is "?" until the page count is known, on the first pass)."""
    width, height = c._pagesize
    m = furniture.margin
    c.saveState()
    c.setStrokeColor(RULE)
    c.setLineWidth(0.5)
    c.line(m, height - m + 6, width - m, height - m + 6)
    c.setFillColor(MUTED)
    c.setFont(SANS_BOLD, 7.5)
    c.drawString(m, height - m + 10, TITLE)
    c.setFont(SANS, 7.5)
    room = width - 2 * m - pdfmetrics.stringWidth(TITLE, SANS_BOLD, 7.5) - 12
    ids = f"Case {_short(furniture.case_id)}  ·  Bundle {_short(furniture.bundle_id)}"
    c.drawRightString(width - m, height - m + 10, _fit(ids, SANS, 7.5, room))
    c.line(m, m - 8, width - m, m - 8)
    label = "Manifest SHA-256 "
    c.setFont(SANS, 6.5)
    c.drawString(m, m - 17, label)
    c.setFont(MONO, 6.5)
    c.drawString(m + pdfmetrics.stringWidth(label, SANS, 6.5), m - 17, furniture.manifest_sha256)
    c.setFont(SANS_BOLD, 7.5)
    c.drawRightString(width - m, m - 17, f"page {number} of {total if total else '?'}")
    c.restoreState()


def _short(value: str) -> str:
    """An id for the page header: drawable, and cut with "…" past :data:`ID_CHARS`."""
    text, cut = visible(value, limit=ID_CHARS)
    return text[: ID_CHARS - 1] + "…" if cut else text


def _fit(text: str, font: str, size: float, width: float) -> str:
    """``text``, cut with "…" so that it is at most ``width`` points wide."""
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # the longest prefix that fits with the ellipsis
        mid = (lo + hi + 1) // 2
        if pdfmetrics.stringWidth(text[:mid] + "…", font, size) <= width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + "…"
