"""The verification screen while a check runs (issue 16 item 6): a progress bar with the
step, a Cancel button, and a cancelled check that is neither verified nor failed."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from PySide6.QtCore import Qt

from app import verification
from custody.verify.progress import Monitor
from tests.ui.helpers import collect

MIB = 1 << 20


@pytest.fixture
def big(qtbot: Any, opened: Any, make_tree: Any) -> Any:
    """The window with a case holding about 3 MiB of archives."""
    collect(qtbot, opened, [f"{make_tree(3, size=MIB)}/**"])
    opened.show_page(4)
    return opened


def test_progress_bar_advances_with_the_step(
    qtbot: Any, big: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every MiB heard (the core's pace of ten a second would make this case one step)
    monkeypatch.setattr(verification, "Monitor", lambda p, c: Monitor(p, c, interval=0))
    vv = big.verify_view
    vv.record.setChecked(False)
    shown: list[tuple[int, int, str]] = []
    with qtbot.waitSignal(vv.verified, timeout=60_000):
        qtbot.mouseClick(vv.verify_button, Qt.MouseButton.LeftButton)
        assert vv.running and vv.cancel_button.isVisible() and vv.progress.isVisible()
        vv.worker.progress.connect(  # after the view's own slot: what it shows
            lambda _s: shown.append((vv.progress.value(), vv.progress.maximum(), vv.phase.text()))
        )
    archives = [(v, m, t) for v, m, t in shown if t.startswith("Re-hashing the evidence archives")]
    assert len(archives) >= 4, shown  # start, each MiB, end
    values = [v for v, _, _ in archives]
    assert values == sorted(values) and values[-1] == 1000, values
    assert archives[-1][2].endswith("(100%)"), archives[-1]
    assert any(t.startswith("Checking the ledger's entries") for _, _, t in shown), shown
    assert not vv.cancel_button.isVisible() and not vv.progress.isVisible()
    assert "VERIFIED" in vv.banner.text()


def test_cancel_gives_the_cancelled_state(
    qtbot: Any, big: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check waits (in the worker) until Cancel is clicked: then it stops, the screen says
    cancelled, neither verified nor failed, and nothing is recorded."""
    gate = threading.Event()

    class Held(Monitor):
        def start(self, phase: str, total: int) -> None:
            gate.wait(30)
            super().start(phase, total)

    monkeypatch.setattr(verification, "Monitor", Held)
    vv = big.verify_view
    entries = vv.entries.rowCount()
    vv.record.setChecked(True)  # even a check that would record records nothing
    failed: list[Any] = []
    qtbot.mouseClick(vv.verify_button, Qt.MouseButton.LeftButton)
    assert vv.running
    vv.verified.connect(failed.append)
    qtbot.mouseClick(vv.cancel_button, Qt.MouseButton.LeftButton)
    assert not vv.cancel_button.isEnabled() and vv.phase.text() == "Cancelling…"
    gate.set()
    qtbot.waitUntil(lambda: not vv.running, timeout=30_000)
    text = vv.banner.text()
    assert text.startswith("Verification cancelled"), text
    assert "VERIFIED" not in text and "FAILED" not in text
    assert not failed and vv.report is None
    assert not vv.cancel_button.isVisible() and not vv.progress.isVisible()
    assert vv.verify_button.isEnabled()
    vv.entries.reload()
    assert vv.entries.rowCount() == entries  # no verified entry
