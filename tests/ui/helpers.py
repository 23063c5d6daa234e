"""Helpers for driving the desktop application in tests."""

from __future__ import annotations

from typing import Any


def collect(
    qtbot: Any,
    w: Any,
    paths: list[str],
    profile: str = "none",
    screenshot: bool = False,
    timeout: int = 60_000,
) -> Any:
    """Collect through the collection screen (Start button); returns the RunSummary."""
    from PySide6.QtCore import Qt

    view = w.collect_view
    view.select_profile(profile)
    view.set_collector_checked("screenshot", screenshot)
    for p in paths:
        view.path_edit.setText(p)
        qtbot.keyClick(view.path_edit, Qt.Key.Key_Return)
    with qtbot.waitSignal(view.run_finished, timeout=timeout) as blocker:
        qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]
