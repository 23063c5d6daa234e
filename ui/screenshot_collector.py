"""The screenshot collector: the screens as the examiner saw them, taken by the GUI.

Qt may only grab screens on the GUI thread, and collectors run on a worker thread and never
know Qt. So the GUI grabs every screen to PNG bytes *before* the run starts
(:func:`grab_screens`), puts them in a holder (:func:`hold`) and names the holder in the
collector's options (``{"capture": token}``); the collector only yields what it is given.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import ClassVar

from app.profiles import (
    REGISTRY,
    CollectContext,
    Collector,
    Observation,
    Problem,
    VolatileRecord,
    Volatility,
    register_collector,
)

NAME = "screenshot"
_HELD: dict[str, list[tuple[str, bytes]]] = {}
_LOCK = threading.Lock()


def hold(screens: list[tuple[str, bytes]]) -> str:
    """Keep grabbed screens ``[(description, png), ...]`` for one run; returns the token."""
    token = f"grab-{uuid.uuid4()}"
    with _LOCK:
        _HELD[token] = list(screens)
    return token


def take(token: str) -> list[tuple[str, bytes]] | None:
    """The screens held under ``token`` (once), or None."""
    with _LOCK:
        return _HELD.pop(token, None)


class Screenshot(Collector):
    """The screens as seen, grabbed by the GUI before the run started."""

    name: ClassVar[str] = NAME
    volatility: ClassVar[Volatility] = Volatility.SCREENSHOT
    description: ClassVar[str] = "Screenshots of every screen, taken by the desktop application"
    options_schema: ClassVar[dict[str, object]] = {"capture": str}

    def collect(self, ctx: CollectContext) -> Iterator[Observation]:
        token = str(ctx.options.get("capture") or "")
        screens = take(token) if token else None
        if not screens:
            yield Problem(
                "skipped",
                "no screens were captured (the screenshot collector runs only in the desktop "
                "application, which grabs the screens before the run)",
            )
            return
        for i, (what, png) in enumerate(screens, start=1):
            yield VolatileRecord(
                member=f"screenshots/screen-{i}.png", data=png, description=f"screenshot: {what}"
            )


if NAME not in REGISTRY:
    register_collector(Screenshot)


def grab_screens() -> list[tuple[str, bytes]]:
    """Grab every QScreen to PNG bytes (GUI thread only)."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtGui import QGuiApplication

    out: list[tuple[str, bytes]] = []
    for screen in QGuiApplication.screens():
        pixmap = screen.grabWindow(0)
        if pixmap.isNull():
            continue
        data = QByteArray()
        buf = QBuffer(data)
        buf.open(QIODevice.OpenModeFlag.WriteOnly)
        pixmap.save(buf, "PNG")
        buf.close()
        g = screen.geometry()
        what = f"{screen.name() or 'screen'} {g.width()}x{g.height()} at ({g.x()},{g.y()})"
        out.append((what, bytes(data.data())))
    return out
