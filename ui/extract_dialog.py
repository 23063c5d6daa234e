"""Extract one artifact to a folder, as ``chainproof extract`` does: the ledger checked, the
access recorded (signed, with its purpose), the bytes re-hashed against the ledger."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ui import theme
from ui.accessibility import announce
from ui.dialogs import open_local
from ui.long_task import LongTask, slim_bar

if TYPE_CHECKING:
    from app.cases import CaseHandle
    from app.desktop_actions import Extracted
    from app.identity import Identity
    from ui.workers import Worker


class ExtractDialog(QDialog):
    """Where to, and why; then the artifact is extracted off the GUI thread."""

    extracted = Signal(object)  # Extracted

    def __init__(
        self,
        case: CaseHandle,
        identity: Identity,
        details: dict[str, Any],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("extract_dialog")
        self.setWindowTitle("Extract artifact")
        self.case, self.identity = case, identity
        self.seq = int(details["ledger_seq"])
        self.outcome_of: Extracted | None = None
        layout = QVBoxLayout(self)
        what = QLabel(
            f"<b>{_esc(details.get('source_path') or details['member'])}</b><br>"
            f"archive member {_esc(details['member'])}, {int(details['size']):,} bytes, "
            f"SHA-256 {_esc(details['sha256'])}, ledger entry {self.seq}"
        )
        what.setWordWrap(True)
        layout.addWidget(what)
        note = QLabel(
            "The ledger is checked first; the access is recorded in it (signed by "
            f"{identity.name}, with your purpose) before a byte is read; the file is written "
            "only if its SHA-256, SHA-1 and MD5 match the ledger. Nothing is replaced."
        )
        note.setObjectName("muted")
        note.setWordWrap(True)
        layout.addWidget(note)
        form = QFormLayout()
        self.folder = QLineEdit(str(Path.home() / "chainproof-extracted" / case.root.name))
        self.folder.setObjectName("extract_folder")
        self.folder.setAccessibleName("folder to extract into")
        pick = QPushButton("Browse…")
        pick.setAccessibleName("choose the folder to extract into")
        pick.clicked.connect(self._pick)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(pick)
        form.addRow("&Folder", row)
        self.purpose = QLineEdit()
        self.purpose.setObjectName("extract_purpose")
        self.purpose.setAccessibleName("purpose of the extraction")
        self.purpose.setPlaceholderText("e.g. malware analysis of the uploaded script")
        form.addRow("&Purpose", self.purpose)
        layout.addLayout(form)
        self.progress = slim_bar("extraction progress")
        layout.addWidget(self.progress)
        self.outcome = QLabel()
        self.outcome.setObjectName("extract_outcome")
        self.outcome.setAccessibleDescription("extraction result")
        self.outcome.setWordWrap(True)
        layout.addWidget(self.outcome, 1)
        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open folder")
        self.open_button.setAccessibleName("open the folder the artifact was written to")
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(self._open_folder)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        self.extract_button = QPushButton("&Extract")
        self.extract_button.setObjectName("extract_start")
        self.extract_button.setAccessibleName("extract the artifact")
        self.extract_button.setDefault(True)
        self.extract_button.clicked.connect(self.start)
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        buttons.addWidget(self.extract_button)
        layout.addLayout(buttons)
        self.task = LongTask(
            self,
            bar=self.progress,
            start_button=self.extract_button,
            status=self.outcome,
            can_start=self._inputs_ready,
        )
        self.task.finished.connect(self._done)
        self.task.failed.connect(self._failed)
        self.purpose.textChanged.connect(self._ready)
        self.folder.textChanged.connect(self._ready)
        self.setMinimumWidth(520)

    @property
    def worker(self) -> Worker | None:
        return self.task.worker

    def _inputs_ready(self) -> bool:
        return bool(self.purpose.text().strip() and self.folder.text().strip())

    def _ready(self) -> None:
        self.extract_button.setEnabled(self._inputs_ready() and not self.task.running)

    def _pick(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Extract into", self.folder.text())
        if chosen:
            self.folder.setText(chosen)

    def start(self) -> None:
        from app.desktop_actions import extract_artifact

        if self.task.running or not self.purpose.text().strip():
            return
        case, identity, seq = self.case, self.identity, self.seq
        dest = Path(self.folder.text().strip()).expanduser()
        purpose = self.purpose.text().strip()

        def work(_cancel: threading.Event, _report: Callable[[Any], None]) -> Extracted:
            from app.desktop_timestamps import task_stamping  # lazy: asn1crypto

            with task_stamping(case):  # the signed access entry's RFC 3161 token
                return extract_artifact(case, identity, seq, dest, purpose=purpose)

        self.outcome.setStyleSheet("")
        self.task.run(work, f"Extracting into {dest} …")

    def _done(self, result: Extracted) -> None:
        self.outcome_of = result
        c = theme.colours()
        if result.status == "extracted":
            self.outcome.setText(
                f"✓ Extracted to {result.path} ({result.size:,} bytes): {result.message}. "
                f"The access is recorded as ledger entry {result.access_seq}."
            )
            self.outcome.setStyleSheet(f"color: {c.ok}")
            self.open_button.setEnabled(True)
        else:
            self.outcome.setText(
                f"✗ Not extracted ({result.status}): {result.message}. The access is recorded "
                f"as ledger entry {result.access_seq}."
            )
            self.outcome.setStyleSheet(f"color: {c.bad}")
        announce(self.outcome, self.outcome.text(), assertive=result.status != "extracted")
        self.extracted.emit(result)

    def _failed(self, _exc: BaseException) -> None:
        self.outcome.setText("Nothing was extracted.")

    def _open_folder(self) -> None:
        if self.outcome_of is not None:
            open_local(self, self.outcome_of.path.parent, "folder")


def _esc(text: object) -> str:
    from html import escape

    return escape(str(text))
