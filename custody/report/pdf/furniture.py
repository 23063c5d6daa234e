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


def numbered_canvas(furniture: Furniture) -> type[Canvas]:
    """A canvas class that holds pages back until the end, then writes "page X of Y"."""

    class NumberedCanvas(Canvas):  # type: ignore[misc]  # reportlab is untyped
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._held: list[dict[str, Any]] = []
            if furniture.created is not None:
                # reportlab seeds the document ID with the wall clock; seed it with the
                # bundle's time instead, so the same bundle renders the same bytes.
                doc = self._doc
                doc._timeStamp = fixed_timestamp(furniture.created)
                doc.signature = hashlib.md5(b"a reportlab document", usedforsecurity=False)
                doc.signature.update(ascii(doc._timeStamp.t).encode("ascii"))

        def showPage(self) -> None:
            self._held.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._held)
            for number, state in enumerate(self._held, start=1):
                self.__dict__.update(state)
                self._furniture(number, total)
                Canvas.showPage(self)
            Canvas.save(self)

        def _furniture(self, number: int, total: int) -> None:
            width, height = self._pagesize
            m = furniture.margin
            self.saveState()
            self.setStrokeColor(RULE)
            self.setLineWidth(0.5)
            self.line(m, height - m + 6, width - m, height - m + 6)
            self.setFillColor(MUTED)
            self.setFont(SANS_BOLD, 7.5)
            self.drawString(m, height - m + 10, TITLE)
            self.setFont(SANS, 7.5)
            room = width - 2 * m - pdfmetrics.stringWidth(TITLE, SANS_BOLD, 7.5) - 12
            ids = f"Case {_short(furniture.case_id)}  ·  Bundle {_short(furniture.bundle_id)}"
            self.drawRightString(width - m, height - m + 10, _fit(ids, SANS, 7.5, room))
            self.line(m, m - 8, width - m, m - 8)
            label = "Manifest SHA-256 "
            self.setFont(SANS, 6.5)
            self.drawString(m, m - 17, label)
            self.setFont(MONO, 6.5)
            self.drawString(
                m + pdfmetrics.stringWidth(label, SANS, 6.5), m - 17, furniture.manifest_sha256
            )
            self.setFont(SANS_BOLD, 7.5)
            self.drawRightString(width - m, m - 17, f"page {number} of {total}")
            self.restoreState()

    return NumberedCanvas


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
