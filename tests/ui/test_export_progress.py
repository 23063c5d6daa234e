"""The export dialog shows the phase and how far it is, and cancels only once confirmed
(issue 16 item 6, issue 14 item 3): after a cancel it says "Cancelled", nothing is left at
the bundle path, the ledger records the export as failed, "cancelled", and a second export
from the same window goes to a new path and succeeds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from custody.db.ledger import read_entries
from custody.record.events import ExportFailed, parse
from tests.ui.helpers import collect
from ui.custody_dialogs import ExportDialog

NO = QMessageBox.StandardButton.No
YES = QMessageBox.StandardButton.Yes


def _failed_exports(window: Any) -> list[ExportFailed]:
    case = window.case
    events = (parse(e) for e in read_entries(case.sessions, case.case_id))
    return [ev for ev in events if isinstance(ev, ExportFailed)]


def test_export_shows_progress_and_cancels_once_confirmed(
    qtbot: Any, opened: Any, make_tree: Any, message_boxes: Any
) -> None:
    collect(qtbot, opened, [f"{make_tree(1500, size=300)}/**"], timeout=300_000)
    opened.export_action.trigger()
    dialog = opened.dialog
    assert isinstance(dialog, ExportDialog)
    first = Path(dialog.out.text())
    assert not dialog.cancel_button.isEnabled()
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert dialog.cancel_button.isEnabled() and not dialog.start_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.phase.text().startswith("writing the bundle"), timeout=120_000)
    assert "%" in dialog.phase.text() and "entries" in dialog.phase.text()
    assert dialog.progress.maximum() > 0  # a real bar, not the busy one

    message_boxes.answers.append(NO)  # "Go on exporting"
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert message_boxes[-1][0] == "Cancel the export"
    assert dialog.worker is not None and not dialog.worker.cancel_event.is_set()

    message_boxes.answers.append(YES)
    with qtbot.waitSignal(dialog.worker.done, timeout=120_000):
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    message_boxes.clear()  # the two questions; no error box may follow
    assert dialog.phase.text() == "Cancelled"
    assert "Cancelled: export cancelled" in dialog.log.toPlainText()
    assert "Done" not in dialog.log.toPlainText()
    assert dialog.progress.value() == 0 and dialog.start_button.isEnabled()
    assert not first.exists()
    assert [p.name for p in first.parent.iterdir() if p.name.startswith(".")] == []
    (failed,) = _failed_exports(opened)
    assert failed.reason == "cancelled" and failed.path == str(first)

    second = Path(dialog.out.text())
    # A fresh default path that nothing holds (within the same second, the cancelled
    # export's name is free again: its staging folder is gone)
    assert not second.exists() and second.parent == first.parent
    with qtbot.waitSignal(dialog.exported, timeout=300_000) as blocker:
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0].path == second and (second / "manifest.json").is_file()
    assert dialog.phase.text() == "Done"
    third = Path(dialog.out.text())
    assert third not in (first, second) and not third.exists()


def test_closing_during_an_export_asks_to_cancel_it(
    qtbot: Any, opened: Any, make_tree: Any, message_boxes: Any
) -> None:
    collect(qtbot, opened, [f"{make_tree(300, size=300)}/**"], timeout=300_000)
    opened.export_action.trigger()
    dialog = opened.dialog
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    message_boxes.answers.append(NO)
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert message_boxes[-1][0] == "Cancel the export"
    assert dialog.isVisible()  # still exporting, still shown
    with qtbot.waitSignal(dialog.exported, timeout=300_000):
        pass
    message_boxes.clear()
    assert dialog.phase.text() == "Done"
