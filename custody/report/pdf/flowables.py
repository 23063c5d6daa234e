"""Drawn pieces of the report: the verification badge, the logo, the signature's place."""

from __future__ import annotations

from collections.abc import Callable

from reportlab.lib import colors
from reportlab.platypus import Flowable

from custody.report.pdf.styles import ACCENT, MUTED, OK_GREEN, RULE, SANS, SANS_BOLD

#: Told where the signature's box landed: 0-based page index, then x1, y1, x2, y2 in points.
PlaceCallback = Callable[[int, float, float, float, float], None]


class Badge(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """The verification status: a coloured rounded box with a word and a line of detail."""

    def __init__(self, word: str, detail: str, colour: colors.Color, width: float) -> None:
        super().__init__()
        self.word, self.detail, self.colour = word, detail, colour
        self.width, self.height = width, 46

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        c = self.canv
        c.saveState()
        c.setFillColor(self.colour)
        c.roundRect(0, 0, self.width, self.height, 6, stroke=0, fill=1)
        c.setFillColor(colors.white)
        c.setFont(SANS_BOLD, 19)
        c.drawString(14, 20, self.word)
        c.setFont(SANS, 8.2)
        c.drawString(14, 8, self.detail)
        c.restoreState()


class Logo(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """Chainproof's mark, drawn as vectors: two interlocked chain links and a check."""

    def __init__(self, size: float = 34) -> None:
        super().__init__()
        self.size = size
        self.width = size * 5.2
        self.height = size

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        c = self.canv
        s = self.size
        c.saveState()
        c.setLineWidth(s * 0.11)
        c.setStrokeColor(ACCENT)
        c.roundRect(s * 0.05, s * 0.28, s * 0.62, s * 0.44, s * 0.22, stroke=1, fill=0)
        c.setStrokeColor(OK_GREEN)
        c.roundRect(s * 0.45, s * 0.28, s * 0.62, s * 0.44, s * 0.22, stroke=1, fill=0)
        c.setFillColor(ACCENT)
        c.setFont(SANS_BOLD, s * 0.5)
        c.drawString(s * 1.3, s * 0.32, "Chainproof")
        c.restoreState()


class SignatureSpot(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """An empty framed box where the visible PDF signature will be placed; records its place."""

    def __init__(self, width: float, height: float, caption: str, on_place: PlaceCallback):
        super().__init__()
        self.width, self.height = width, height
        self.caption = caption
        self.on_place = on_place

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        return self.width, self.height + 12

    def draw(self) -> None:
        c = self.canv
        c.saveState()
        c.setStrokeColor(RULE)
        c.setDash(2, 2)
        c.setLineWidth(0.6)
        c.rect(0, 12, self.width, self.height, stroke=1, fill=0)
        c.setFillColor(MUTED)
        c.setFont(SANS, 6.8)
        c.drawString(0, 3, self.caption)
        c.restoreState()
        x, y = c.absolutePosition(0, 12)
        self.on_place(c.getPageNumber() - 1, x, y, x + self.width, y + self.height)
