"""How the app shows a verification's result: a colour, an icon and words, never colour alone."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPen, QPixmap

from app.times import shown
from ui import theme

if TYPE_CHECKING:
    from app.integrity import Verification

UNKNOWN_COLOUR = QColor(theme.LIGHT_COLOURS.unknown)
PASSED_MARK, FAILED_MARK, UNKNOWN_MARK = "✓", "✗", "?"


def colour(ok: bool | None) -> QColor:
    """Green for passed, red for failed, grey for never verified (or unreadable), in the
    colours of the scheme shown (light or dark): for words."""
    c = theme.colours()
    return c.qt("unknown" if ok is None else "ok" if ok else "bad")


def icon_colour(ok: bool | None) -> QColor:
    """The saturated colour of a result's icon: a white mark on it reads on either scheme."""
    c = theme.LIGHT_COLOURS
    return QColor(c.unknown if ok is None else c.ok if ok else c.bad)


def mark(ok: bool | None) -> str:
    return UNKNOWN_MARK if ok is None else PASSED_MARK if ok else FAILED_MARK


def status_image(ok: bool | None, size: int = 16) -> QImage:
    """A disc in the result's colour with a white tick (passed), cross (failed) or dot
    (unknown), drawn with lines so that it does not depend on a font."""
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(QPen(icon_colour(ok).darker(130), max(1.0, size / 16)))
    p.setBrush(icon_colour(ok))
    p.drawEllipse(QRectF(0.5, 0.5, size - 1.0, size - 1.0))
    pen = QPen(QColor("white"), max(1.5, size / 7))
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    p.setPen(pen)
    s = float(size)
    if ok is None:
        p.setBrush(QColor("white"))
        p.drawEllipse(QPointF(s / 2, s / 2), s / 10, s / 10)
    elif ok:
        p.drawPolyline(
            [QPointF(s * 0.27, s * 0.52), QPointF(s * 0.44, s * 0.70), QPointF(s * 0.74, s * 0.33)]
        )
    else:
        p.drawLine(QPointF(s * 0.32, s * 0.32), QPointF(s * 0.68, s * 0.68))
        p.drawLine(QPointF(s * 0.68, s * 0.32), QPointF(s * 0.32, s * 0.68))
    p.end()
    return image


@cache
def status_icon(ok: bool | None) -> QIcon:
    """The result's icon (one per result, so equal results share it)."""
    icon = QIcon()
    for size in (16, 24, 32):
        icon.addPixmap(QPixmap.fromImage(status_image(ok, size)))
    return icon


def findings_text(n: int) -> str:
    return f"{n:,} finding" + ("" if n == 1 else "s")


def since_text(since: int) -> str:
    return f"{since:,} ledger entr{'y' if since == 1 else 'ies'} recorded since"


def short_text(v: Verification | None, since: int = 0) -> str:
    """One line: ``✓ verified 2026-12-01 04:07:15 UTC`` or ``✗ FAILED …, 2 findings``."""
    if v is None:
        return f"{UNKNOWN_MARK} not verified"
    when = shown(v.at)
    text = f"{PASSED_MARK} verified {when}" if v.ok else f"{FAILED_MARK} FAILED {when}"
    if not v.ok:
        text += f", {findings_text(v.findings)}"
    if since:
        text += f"; {since_text(since)}"
    return text


def long_text(v: Verification | None, since: int = 0) -> str:
    """What is known and where it comes from, in sentences (tooltips, the Verify page)."""
    if v is None:
        return "Not verified yet: no verification is recorded in the case's ledger."
    result = "every check held" if v.ok else f"{findings_text(v.findings)}"
    head = f"{PASSED_MARK} VERIFIED" if v.ok else f"{FAILED_MARK} FAILED"
    covered = f"entries 1–{v.through_seq:,}" if v.through_seq else "no readable entries"
    if v.recorded_seq is not None:
        who = f" by {v.examiner}" if v.examiner else ""
        source = f"recorded{who} in ledger entry {v.recorded_seq:,}"
    else:
        source = "not recorded in the ledger"
    text = f"{head} — {result}. Checked {shown(v.at)} ({covered}), {source}."
    if since:
        text += f" {since_text(since)}, not checked by it."
    return text
