"""Verify: re-hash every artifact and check every entry and signature of the open case."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app import browse
from app.cases import CaseHandle
from app.desktop_timestamps import case_stamping, task_stamping
from app.errors import Cancelled
from app.identity import Identity
from app.integrity import Verification, entries_since, from_check
from app.progress import human_bytes
from app.timestamps import timestamp_counts
from ui import theme
from ui.accessibility import announce
from ui.artifact_model import ArtifactTableModel, LedgerTableModel
from ui.errors import show_error
from ui.integrity import long_text
from ui.keyboard import KeepSelection
from ui.widgets import FindingsTable, table_view
from ui.workers import Worker

if TYPE_CHECKING:
    from app.verification import Report

#: Steps of the progress bar.
_STEPS = 1000
#: How each phase of a check is named on the screen.
_PHASES = {
    "ledger": "Checking the ledger's entries and signatures",
    "archives": "Re-hashing the evidence archives",
    "bundle": "Checking the bundle's files",
}


def progress_text(phase: str, done: int, total: int) -> str:
    """``Re-hashing the evidence archives: 1.2 MiB of 3.0 MiB (40%)``."""
    name = _PHASES.get(phase, phase)
    if phase == "archives":
        amount = f"{human_bytes(done)} of {human_bytes(total)}" if total else human_bytes(done)
    elif phase == "ledger":
        amount = f"{done:,} of {total:,} entries" if total else f"{done:,} entries"
    else:
        return f"{name}…"
    percent = f" ({100 * done // total}%)" if total else ""
    return f"{name}: {amount}{percent}"


class VerifyView(QWidget):
    """Re-hash every artifact and check every entry and signature; green or red, per item.

    What it shows belongs to its case: the ledger's last recorded verification when the case
    is opened, then each check run here. A check that ends after the case changed shows
    nothing (a recorded one is in its own case's ledger).
    """

    verify_requested = Signal(bool)  # record (signed) in the ledger
    verified = Signal(object)  # Report, of a check of the case shown
    checked = Signal(object)  # Verification, of a check of the case shown

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.case: CaseHandle | None = None
        self.worker: Worker | None = None
        self.report: Report | None = None  # the last check run here, of this case
        self.verification: Verification | None = None
        self._checking: CaseHandle | None = None  # the case the running check reads
        self._recording = False  # whether it records its result in that case's ledger
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        heading = QLabel("Verify")
        heading.setObjectName("heading")
        top.addWidget(heading)
        top.addStretch(1)
        self.record = QCheckBox("Record the verification in the ledger (signed)")
        self.record.setAccessibleName("record the verification in the ledger")
        self.record.setChecked(True)
        self.verify_button = QPushButton("Verify now")
        self.verify_button.setObjectName("verify")
        self.verify_button.setAccessibleName("verify the case")
        self.verify_button.setToolTip("Verify the case (Ctrl+Shift+V)")
        self.verify_button.clicked.connect(
            lambda: self.verify_requested.emit(self.record.isChecked())
        )
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel_verify")
        self.cancel_button.setAccessibleName("cancel the verification")
        self.cancel_button.setToolTip("Stop the verification: nothing is recorded")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        top.addWidget(self.record)
        top.addWidget(self.verify_button)
        top.addWidget(self.cancel_button)
        layout.addLayout(top)

        self.banner = QLabel("Not verified yet.")
        self.banner.setObjectName("verify_banner")
        self.banner.setAccessibleDescription("verification result")
        self.banner.setWordWrap(True)
        self._style_banner(None)
        layout.addWidget(self.banner)
        self.timestamps = QLabel("")
        self.timestamps.setObjectName("timestamps")
        self.timestamps.setAccessibleDescription("RFC 3161 timestamps of the signed entries")
        self.timestamps.setWordWrap(True)
        layout.addWidget(self.timestamps)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("verification progress")
        self.progress.setRange(0, 1)
        self.progress.setMaximumHeight(8)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.phase = QLabel("")
        self.phase.setObjectName("verify_phase")
        self.phase.setAccessibleDescription("verification step")
        self.phase.hide()
        layout.addWidget(self.phase)
        layout.addWidget(self.progress)

        self.findings = FindingsTable()
        self.findings.setMaximumHeight(170)

        self.failed_only = QCheckBox("Only what failed")
        self.failed_only.setObjectName("failed_only")
        self.failed_only.setAccessibleName("show only what failed verification")
        self.failed_only.setEnabled(False)
        self.failed_only.toggled.connect(self._apply_failed_only)
        self.tabs = QTabWidget()
        self.tabs.setCornerWidget(self.failed_only)
        self.artifacts = ArtifactTableModel(self)
        self.artifact_table = table_view("verified_artifacts")
        self.artifact_table.setModel(self.artifacts)
        KeepSelection(self.artifact_table, self.artifacts.key_at, self._artifact_row)
        for col, width in enumerate((360, 90, 70, 80, 150, 140, 110, 100)):
            self.artifact_table.horizontalHeader().resizeSection(col, width)
        self.entries = LedgerTableModel(self)
        self.entries.include_bulk = True
        self.entry_table = table_view("verified_entries")
        self.entry_table.setModel(self.entries)
        KeepSelection(self.entry_table, self.entries.key_at, self._entry_row)
        for col, width in enumerate((60, 190, 120, 120, 360, 80, 100)):
            self.entry_table.horizontalHeader().resizeSection(col, width)
        self.tabs.addTab(self.artifact_table, "Artifacts")
        self.tabs.addTab(self.entry_table, "Ledger entries")
        split = QSplitter(Qt.Orientation.Vertical)
        split.setChildrenCollapsible(False)
        split.addWidget(self.findings)
        split.addWidget(self.tabs)
        split.setSizes([120, 500])
        layout.addWidget(split, 1)
        self.findings.hide()
        theme.watcher().changed.connect(self._restyle)

    def _artifact_row(self, key: object) -> int:
        return self.artifacts.row_of_key(key) if isinstance(key, int) else -1

    def _entry_row(self, key: object) -> int:
        return self.entries.row_of_key(key) if isinstance(key, int) else -1

    def _apply_failed_only(self, on: bool) -> None:
        v = self.verification
        failed = frozenset(v.failed) if on and v is not None and v.failed is not None else None
        self.artifacts.set_filter(browse.ArtifactFilter(seqs=failed))

    def _restyle(self, _colours: theme.Colours) -> None:
        self._style_banner(self._banner_ok)

    def _style_banner(self, ok: bool | None) -> None:
        self._banner_ok = ok
        self.banner.setStyleSheet(theme.banner_css(ok))

    def set_case(self, case: CaseHandle | None, verification: Verification | None = None) -> None:
        """Show ``case`` with ``verification``, its last recorded one (None: never)."""
        self.artifact_table.clearSelection()  # another case's rows are not kept
        self.entry_table.clearSelection()
        self.case = case
        self.report = None
        self.verification = verification
        self.artifacts.filter = browse.ArtifactFilter()
        self.artifacts.set_case(case)
        self.entries.set_case(case)
        self.findings.setRowCount(0)
        self.findings.hide()
        self.failed_only.blockSignals(True)
        self.failed_only.setChecked(False)
        self.failed_only.setEnabled(False)
        self.failed_only.blockSignals(False)
        self.verify_button.setEnabled(case is not None and not self.running)
        self._show_verification()

    def prepare(self, case: CaseHandle | None, verification: Verification | None) -> None:
        """The case changed while the page is hidden: the banner and the Verify action see
        the new case at once; its rows are read when the page is shown (:meth:`set_case`)."""
        self.case, self.verification, self.report = case, verification, None
        self.findings.setRowCount(0)
        self.findings.hide()
        self.failed_only.setEnabled(False)
        self.verify_button.setEnabled(case is not None and not self.running)
        self._show_verification()

    def refresh(self, verification: Verification | None) -> None:
        """The case gained entries: list them; ``verification`` is the case's newest (the
        marks of a check stay on the entries it checked)."""
        if verification is not self.verification:  # e.g. recorded meanwhile by the CLI
            self.verification, self.report = verification, None
            self.findings.setRowCount(0)
            self.findings.hide()
            self.failed_only.setChecked(False)
            self.failed_only.setEnabled(False)
        self.artifacts.reload()
        self.entries.reload()
        self._show_verification()

    def _show_verification(self) -> None:
        v = self.verification
        if self.case is None:
            self.banner.setText("No case open.")
            self.timestamps.setText("")
            self._style_banner(None)
            return
        self._show_timestamps(self.case)
        if self._checking is not None and self._checking is self.case:
            return  # "Verifying…" until the check of this case ends
        self.progress.hide()
        since = entries_since(self.case, v) if v is not None else 0
        text = long_text(v, since)
        if v is not None and self.report is not None:
            r = self.report
            text += (
                f" {r.entries:,} ledger entries, {r.signatures:,} signatures, "
                f"{r.artifacts:,} artifacts re-hashed ({r.bytes_hashed:,} bytes)."
            )
        elif v is not None and not v.per_entry and not v.ok:
            text += " The ledger does not say which entries failed: verify again to see them."
        elif v is not None and not v.per_entry:
            text += " Verify again to check the case as it is now."
        self.banner.setText(text)
        self._style_banner(v.ok if v is not None else None)
        if self.artifacts.case is self.case:  # else the rows are another case's until shown
            self.artifacts.set_verification(v)
        if self.entries.case is self.case:
            self.entries.set_verification(v)

    def _show_timestamps(self, case: CaseHandle) -> None:
        """``12 of 14 signed entries timestamped (RFC 3161)``, as ``case show`` counts them."""
        c = timestamp_counts(case)
        text = f"{c['stamped']:,} of {c['signed']:,} signed entries timestamped (RFC 3161)"
        if c["untimestamped"]:
            text += f"; {c['untimestamped']:,} untimestamped"
        stamps = case_stamping(case)
        note = stamps.note() if stamps is not None else None
        if stamps is None:
            text += ". No timestamp authority is set: tsa_url in settings.json names one."
        elif note is not None:
            text += f". {note[:1].upper()}{note[1:]}."
        else:
            text += f". Timestamp authority: {stamps.url}"
        self.timestamps.setText(text)

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self, sign_with: Identity | None) -> None:
        """Verify the open case off the GUI thread."""
        if self.case is None or self.running:
            return
        case = self.case

        def work(cancel: threading.Event, report: Callable[[Any], None]) -> Report:
            from app.verification import verify_case  # PDF signature checks: imported when used

            # The core calls this at most ten times a second: one queued signal each.
            def progress(phase: str, done: int, total: int) -> None:
                report((phase, done, total))

            with task_stamping(case):  # a recorded verification gets its RFC 3161 token
                return verify_case(case, sign_with=sign_with, progress=progress, cancel=cancel)

        self._checking, self._recording = case, sign_with is not None
        self.worker = Worker(work, self)
        self.worker.progress.connect(self._show_progress)
        self.worker.finished.connect(self._done)
        self.worker.failed.connect(self._failed)
        self.verify_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.cancel_button.show()
        self.progress.setRange(0, 0)
        self.progress.show()
        self.phase.setText("Starting…")
        self.phase.show()
        self.banner.setText("Verifying: re-hashing every artifact, checking every signature…")
        self._style_banner(None)
        self.worker.start()

    def cancel(self) -> None:
        """Stop the running check (within a MiB or a thousand entries); nothing is recorded."""
        if self.worker is not None:
            self.worker.cancel()
            self.cancel_button.setEnabled(False)
            self.phase.setText("Cancelling…")

    def _show_progress(self, step: tuple[str, int, int]) -> None:
        if self.worker is None or self.worker.cancel_event.is_set():
            return
        phase, done, total = step
        self.phase.setText(progress_text(phase, done, total))
        if total:
            self.progress.setRange(0, _STEPS)
            self.progress.setValue(min(_STEPS, done * _STEPS // total))
        else:
            self.progress.setRange(0, 0)

    def _ended(self) -> CaseHandle | None:
        """The check ended: the case it read."""
        case, self._checking = self._checking, None
        self.worker = None
        self.progress.hide()
        self.phase.hide()
        self.cancel_button.hide()
        self.verify_button.setEnabled(self.case is not None)
        return case

    def _failed(self, exc: BaseException) -> None:
        case = self._ended()
        if case is not self.case:
            self._show_verification()
            return  # the examiner moved on: that case's error is not this one's
        if isinstance(exc, Cancelled):
            self._show_verification()  # what the case's ledger last recorded, if anything
            self.banner.setText(
                "Verification cancelled: this check neither verified nor failed the case, "
                "and nothing was recorded in the ledger. " + self.banner.text()
            )
            self._style_banner(None)
            announce(self.banner, self.banner.text())
            return
        self.banner.setText("Verification could not run.")
        self._style_banner(None)
        announce(self.banner, f"Verification could not run: {exc}", assertive=True)
        show_error(self, exc)

    def _done(self, report: Report) -> None:
        case = self._ended()
        if case is None or case is not self.case:
            self._show_verification()
            return  # a check of a case no longer shown marks nothing here
        self.report = report
        self.verification = verification = from_check(case, report, recorded=self._recording)
        self.findings.show_findings(report.findings)
        self.findings.setVisible(bool(report.findings))
        self.failed_only.setEnabled(bool(verification.failed))
        self.entries.reload()
        self.artifacts.reload()
        self._show_verification()
        announce(self.banner, self.banner.text(), assertive=not verification.ok)
        self.verified.emit(report)
        self.checked.emit(verification)
