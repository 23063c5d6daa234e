"""One long task of a dialog (verify a bundle, extract an artifact, export a case), run off
the GUI thread: its worker, its progress bar, its Start and Cancel buttons and the label that
says how it stands.

:class:`LongTask` holds that lifecycle once. A dialog gives it its widgets, starts the work
with :meth:`LongTask.run` and keeps only what is its own: its inputs, the app service the work
calls, and how it shows the result (:attr:`LongTask.finished`), the cancellation
(:attr:`LongTask.cancelled`) and a failure (:attr:`LongTask.failed`; the error box follows).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QWidget

from app.errors import Cancelled
from ui.confirm import confirm
from ui.errors import show_error
from ui.workers import Worker

#: Steps of a progress bar that knows its total.
STEPS = 1000

Work = Callable[[threading.Event, Callable[[Any], None]], Any]


@dataclass(frozen=True)
class CancelQuestion:
    """What is asked before a task is cancelled (:func:`ui.confirm.confirm`'s words)."""

    title: str
    question: str
    details: str
    act: str
    keep: str


def slim_bar(name: str) -> QProgressBar:
    """A thin progress bar without text, named ``name`` for assistive technology."""
    bar = QProgressBar()
    bar.setAccessibleName(name)
    bar.setRange(0, 1)
    bar.setMaximumHeight(8)
    bar.setTextVisible(False)
    return bar


class LongTask(QObject):
    """The lifecycle of a dialog's long task.

    While it runs, the bar is busy until the work reports ``(phase, done, total)``, then it
    fills (``describe`` words the step on the status label); Start is disabled and Cancel
    enabled. Cancel asks ``question`` first, if there is one. When the work ends, the controls
    are idle again (Start as ``can_start`` says) before :attr:`finished`, :attr:`cancelled` or
    :attr:`failed` is emitted. A report that is not a step is emitted by :attr:`said`.
    """

    finished = Signal(object)  # what the work returned
    cancelled = Signal(object)  # the Cancelled it raised
    failed = Signal(object)  # any other exception: the error box is shown after it
    said = Signal(object)  # a report that is not a (phase, done, total) step

    def __init__(
        self,
        owner: QWidget,
        *,
        bar: QProgressBar,
        start_button: QPushButton,
        status: QLabel,
        cancel_button: QPushButton | None = None,
        question: CancelQuestion | None = None,
        describe: Callable[[str, int, int], str] | None = None,
        can_start: Callable[[], bool] = lambda: True,
        hide_idle: bool = False,
    ) -> None:
        super().__init__(owner)
        self.owner = owner
        self.worker: Worker | None = None
        self.bar, self.start_button, self.status = bar, start_button, status
        self.cancel_button, self.question = cancel_button, question
        self._describe, self._can_start, self._hide_idle = describe, can_start, hide_idle
        if cancel_button is not None:
            cancel_button.clicked.connect(self.cancel)
        self._idle()

    @property
    def running(self) -> bool:
        return self.worker is not None

    def run(self, work: Work, text: str) -> None:
        """Start ``work(cancel, report)`` off the GUI thread; ``text`` says what it does."""
        if self.worker is not None:
            return
        self.worker = worker = Worker(work, self)
        worker.progress.connect(self._progress)
        worker.finished.connect(self._finished)
        worker.failed.connect(self._failed)
        self.start_button.setEnabled(False)
        self.bar.setRange(0, 0)
        self.bar.show()
        if self.cancel_button is not None:
            self.cancel_button.setEnabled(True)
            self.cancel_button.show()
        self.status.setText(text)
        worker.start()

    def cancel(self) -> None:
        """Stop the running task, once the examiner confirms it (if there is a question)."""
        worker = self.worker
        if worker is None or worker.cancel_event.is_set():
            return
        q = self.question
        if q is not None and not confirm(
            self.owner, q.title, q.question, q.details, act=q.act, keep=q.keep
        ):
            return
        if self.worker is worker and worker.running:
            worker.cancel()
            if self.cancel_button is not None:
                self.cancel_button.setEnabled(False)
            self.status.setText("Cancelling…")

    def may_close(self) -> bool:
        """Whether the dialog may close now. A running task is cancelled first: with a
        question the examiner is asked and the dialog stays open while the task ends;
        without one it is cancelled at once and the dialog closes."""
        if self.worker is None:
            return True
        self.cancel()
        return self.question is None

    def _idle(self) -> None:
        self.worker = None
        self.bar.setRange(0, 1)
        if self._hide_idle:
            self.bar.hide()
        if self.cancel_button is not None:
            self.cancel_button.setEnabled(False)
            if self._hide_idle:
                self.cancel_button.hide()
        self.start_button.setEnabled(self._can_start())

    def _progress(self, step: Any) -> None:
        if not isinstance(step, tuple):
            self.said.emit(step)
            return
        if self.worker is None or self.worker.cancel_event.is_set():
            return
        phase, done, total = step
        if self._describe is not None:
            self.status.setText(self._describe(phase, done, total))
        if total:
            self.bar.setRange(0, STEPS)
            self.bar.setValue(min(STEPS, done * STEPS // total))
        else:
            self.bar.setRange(0, 0)

    def _finished(self, result: Any) -> None:
        self._idle()
        self.finished.emit(result)

    def _failed(self, exc: BaseException) -> None:
        self._idle()
        if isinstance(exc, Cancelled):
            self.cancelled.emit(exc)
            return
        self.failed.emit(exc)
        show_error(self.owner, exc)
