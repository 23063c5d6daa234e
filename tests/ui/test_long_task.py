"""A dialog's long task (ui/long_task.py) on a real dialog and real worker threads: the bar
fills from the work's steps, Start and Cancel follow the task, Cancel asks its question
first, closing cancels, and a failure idles the controls and shows the error."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QMessageBox, QPushButton, QVBoxLayout

from app.errors import Cancelled, ExportError
from ui.long_task import STEPS, CancelQuestion, LongTask, slim_bar
from ui.workers import wait_for_workers

NO = QMessageBox.StandardButton.No
YES = QMessageBox.StandardButton.Yes
QUESTION = CancelQuestion("Stop it", "Stop it?", "Nothing is kept.", act="Stop", keep="Go on")


class Task(QDialog):
    """The least a dialog gives its task: a bar, a status label, Start and Cancel."""

    def __init__(self, **options: Any) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        self.status = QLabel("idle")
        self.bar = slim_bar("task progress")
        self.start_button = QPushButton("Start")
        self.cancel_button = QPushButton("Cancel")
        layout.addWidget(self.status)
        layout.addWidget(self.bar)
        row = QHBoxLayout()
        row.addWidget(self.cancel_button)
        row.addWidget(self.start_button)
        layout.addLayout(row)
        self.task = LongTask(
            self,
            bar=self.bar,
            start_button=self.start_button,
            status=self.status,
            cancel_button=self.cancel_button,
            **options,
        )
        self.ended: list[tuple[str, Any]] = []
        self.said: list[Any] = []
        self.task.finished.connect(lambda r: self.ended.append(("finished", r)))
        self.task.cancelled.connect(lambda e: self.ended.append(("cancelled", e)))
        self.task.failed.connect(lambda e: self.ended.append(("failed", e)))
        self.task.said.connect(self.said.append)


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """Holds the work until the test lets it go (and always at the end)."""
    event = threading.Event()
    yield event
    event.set()
    assert wait_for_workers(10_000)


def held(gate: threading.Event, *steps: Any) -> Callable[..., str]:
    """Work that reports ``steps``, waits for ``gate`` (or a cancel), and returns "done"."""

    def work(cancel: threading.Event, report: Callable[[Any], None]) -> str:
        for step in steps:
            report(step)
        while not gate.wait(0.01):
            if cancel.is_set():
                raise Cancelled("stopped by the examiner")
        return "done"

    return work


def test_steps_fill_the_bar_and_the_controls_follow_the_task(
    qtbot: Any, gate: threading.Event, message_boxes: Any
) -> None:
    dialog = Task(describe=lambda p, d, t: f"{p}: {d} of {t}", hide_idle=True)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.bar.isHidden() and dialog.cancel_button.isHidden()
    assert dialog.start_button.isEnabled() and not dialog.task.running

    dialog.task.run(held(gate, "a line for the log", ("ledger", 250, 1000)), "Working…")
    assert dialog.task.running and not dialog.start_button.isEnabled()
    assert dialog.bar.isVisible() and dialog.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.status.text() == "ledger: 250 of 1000")
    assert (dialog.bar.maximum(), dialog.bar.value()) == (STEPS, 250)
    assert dialog.said == ["a line for the log"]
    dialog.task.run(held(gate), "a second one")  # one task at a time
    assert dialog.status.text() == "ledger: 250 of 1000"

    with qtbot.waitSignal(dialog.task.finished, timeout=10_000) as blocker:
        gate.set()
    assert blocker.args == ["done"] and dialog.ended == [("finished", "done")]
    assert not dialog.task.running and dialog.start_button.isEnabled()
    assert dialog.bar.isHidden() and dialog.cancel_button.isHidden()
    assert not dialog.cancel_button.isEnabled() and not message_boxes


def test_cancel_without_a_question_stops_at_once_and_closing_cancels(
    qtbot: Any, gate: threading.Event, message_boxes: Any
) -> None:
    dialog = Task()
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.task.run(held(gate), "Working…")
    with qtbot.waitSignal(dialog.task.cancelled, timeout=10_000):
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
        assert dialog.status.text() == "Cancelling…" and not dialog.cancel_button.isEnabled()
    ((how, exc),) = dialog.ended
    assert how == "cancelled" and isinstance(exc, Cancelled)
    assert dialog.start_button.isEnabled() and not message_boxes  # no question, no error box

    dialog.task.run(held(gate), "again")
    assert dialog.task.may_close()  # closing cancels it: nothing to ask
    with qtbot.waitSignal(dialog.task.cancelled, timeout=10_000):
        pass
    assert dialog.task.may_close() and not message_boxes


def test_cancel_asks_its_question_first_and_closing_waits(
    qtbot: Any, gate: threading.Event, message_boxes: Any
) -> None:
    dialog = Task(question=QUESTION, describe=lambda p, d, t: p)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.task.run(held(gate, ("copying", 1, 2)), "Working…")
    qtbot.waitUntil(lambda: dialog.status.text() == "copying")
    worker = dialog.task.worker
    assert worker is not None

    message_boxes.answers.append(NO)  # "Go on"
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert message_boxes[-1] == ("Stop it", "Stop it?")
    assert not worker.cancel_event.is_set() and dialog.cancel_button.isEnabled()

    message_boxes.answers.append(NO)
    assert not dialog.task.may_close()  # asked, kept: the dialog stays open
    assert len(message_boxes) == 2 and not worker.cancel_event.is_set()

    message_boxes.answers.append(YES)
    with qtbot.waitSignal(dialog.task.cancelled, timeout=10_000):
        assert not dialog.task.may_close()  # cancelled, but it stays open until the task ends
        assert worker.cancel_event.is_set() and dialog.status.text() == "Cancelling…"
        dialog.task.cancel()  # already cancelling: nothing more is asked
    assert len(message_boxes) == 3 and dialog.ended[0][0] == "cancelled"
    assert dialog.bar.maximum() == 1 and dialog.start_button.isEnabled()


def test_a_failure_idles_the_controls_then_shows_the_error(qtbot: Any, message_boxes: Any) -> None:
    dialog = Task(can_start=lambda: False)
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.start_button.isEnabled()  # the dialog's inputs are not ready
    seen: list[bool] = []
    dialog.task.failed.connect(lambda _e: seen.append(bool(message_boxes)))

    def work(_cancel: threading.Event, _report: Callable[[Any], None]) -> None:
        raise ExportError("the disk is full: 0 bytes free")

    with qtbot.waitSignal(dialog.task.failed, timeout=10_000):
        dialog.task.run(work, "Working…")
    assert seen == [False]  # the dialog says its part before the box is shown
    assert message_boxes.texts() == ["the disk is full: 0 bytes free"]
    assert not dialog.task.running and not dialog.cancel_button.isEnabled()
    assert not dialog.start_button.isEnabled()
    message_boxes.clear()
