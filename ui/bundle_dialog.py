"""Open and verify an exported bundle (a directory or a zip) as ``chainproof verify`` does:
every file, the manifest, the ledger's chain and signatures, the archives and the report."""

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
from ui.integrity import FAILED_MARK, PASSED_MARK, findings_text
from ui.long_task import LongTask, slim_bar
from ui.verify_view import progress_text
from ui.widgets import FindingsTable

if TYPE_CHECKING:
    from app.errors import Cancelled
    from app.verification import Report
    from ui.workers import Worker


def report_text(report: Report) -> str:
    """A bundle's verification in words: the result, what was checked, who signed."""
    checked = (
        f"{report.entries:,} ledger entries, {report.signatures:,} signatures, "
        f"{report.artifacts:,} artifacts re-hashed ({report.bytes_hashed:,} bytes)"
    )
    signers = "; ".join(
        f"{name} (certificate SHA-256 {fp[:16]}…)" for fp, name in report.signers.items()
    )
    signed = f" Signed by {signers}." if signers else ""
    if report.ok:
        return f"{PASSED_MARK} VERIFIED — every check held: {checked}.{signed}"
    return (
        f"{FAILED_MARK} FAILED — {findings_text(len(report.findings))}; checked {checked}.{signed}"
    )


class BundleVerifyDialog(QDialog):
    """Choose a bundle directory or zip (and, if wanted, the certificate to trust); verify
    it off the GUI thread; show the result, what was checked, and every finding."""

    verified = Signal(object)  # Report

    def __init__(self, parent: QWidget | None = None, start_in: Path | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("bundle_dialog")
        self.setWindowTitle("Verify a bundle")
        self.report: Report | None = None
        self._start_in = start_in or Path.home()
        self._ok: bool | None = None
        layout = QVBoxLayout(self)
        intro = QLabel(
            "A bundle exported by Chainproof (a folder or a .zip file) is checked on its own: "
            "every file against SHA256SUMS and the manifest, the ledger's hash chain and "
            "signatures, every archive byte, and the signed PDF report. Nothing is written."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.path = QLineEdit()
        self.path.setObjectName("bundle_path")
        self.path.setAccessibleName("bundle folder or zip file")
        self.path.setPlaceholderText("exports/bundle-…  or  bundle.zip")
        self.path.returnPressed.connect(self.start)
        folder = QPushButton("&Folder…")
        folder.setAccessibleName("choose a bundle folder")
        folder.clicked.connect(self._pick_folder)
        zip_file = QPushButton("&Zip file…")
        zip_file.setAccessibleName("choose a bundle zip file")
        zip_file.clicked.connect(self._pick_zip)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(folder)
        row.addWidget(zip_file)
        form.addRow("&Bundle", row)
        self.trust = QLineEdit()
        self.trust.setObjectName("trust")
        self.trust.setAccessibleName("certificate to trust, optional")
        self.trust.setPlaceholderText("optional: the examiner's certificate (.pem)")
        trust_pick = QPushButton("Browse…")
        trust_pick.setAccessibleName("choose the certificate to trust")
        trust_pick.clicked.connect(self._pick_trust)
        trow = QHBoxLayout()
        trow.addWidget(self.trust, 1)
        trow.addWidget(trust_pick)
        form.addRow("&Trust", trow)
        layout.addLayout(form)
        self.banner = QLabel("Choose a bundle and press Verify.")
        self.banner.setObjectName("bundle_banner")
        self.banner.setAccessibleDescription("bundle verification result")
        self.banner.setWordWrap(True)
        layout.addWidget(self.banner)
        self.progress = slim_bar("bundle verification progress")
        layout.addWidget(self.progress)
        self.findings = FindingsTable("bundle_findings")
        layout.addWidget(self.findings, 1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        self.verify_button = QPushButton("&Verify")
        self.verify_button.setObjectName("verify_bundle")
        self.verify_button.setAccessibleName("verify the bundle")
        self.verify_button.setDefault(True)
        self.verify_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel_bundle_verify")
        self.cancel_button.setAccessibleName("cancel the bundle verification")
        buttons.addWidget(close)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.verify_button)
        layout.addLayout(buttons)
        self.task = LongTask(
            self,
            bar=self.progress,
            start_button=self.verify_button,
            status=self.banner,
            cancel_button=self.cancel_button,
            describe=progress_text,
            hide_idle=True,
        )
        self.task.finished.connect(self._done)
        self.task.cancelled.connect(self._cancelled)
        self.task.failed.connect(self._failed)
        self._style(None)
        theme.watcher().changed.connect(self._restyle)
        self.setMinimumSize(560, 380)
        self.resize(760, 480)

    def _restyle(self, _colours: theme.Colours) -> None:
        self._style(self._ok)

    def _style(self, ok: bool | None) -> None:
        self._ok = ok
        self.banner.setStyleSheet(theme.banner_css(ok))

    def _pick_folder(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Bundle folder", str(self._start_in))
        if chosen:
            self.path.setText(chosen)

    def _pick_zip(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(
            self, "Bundle zip file", str(self._start_in), "Zip bundles (*.zip)"
        )
        if chosen:
            self.path.setText(chosen)

    def _pick_trust(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(
            self, "Certificate to trust", str(Path.home()), "Certificates (*.pem *.crt)"
        )
        if chosen:
            self.trust.setText(chosen)

    @property
    def worker(self) -> Worker | None:
        return self.task.worker

    @property
    def running(self) -> bool:
        return self.task.running

    def start(self) -> None:
        text = self.path.text().strip()
        if self.running or not text:
            return
        target = Path(text).expanduser()
        trust = [Path(self.trust.text().strip()).expanduser()] if self.trust.text().strip() else []

        def work(cancel: threading.Event, report: Callable[[Any], None]) -> Report:
            from app.verification import verify_target  # PDF checks: imported when used

            def progress(phase: str, done: int, total: int) -> None:
                report((phase, done, total))

            return verify_target(target, trust=trust, progress=progress, cancel=cancel)

        self.findings.setRowCount(0)
        self._style(None)
        self.task.run(work, f"Verifying {target} …")

    def cancel(self) -> None:
        """Stop the running check (within a MiB or a thousand entries)."""
        self.task.cancel()

    def reject(self) -> None:
        if self.task.may_close():  # closing the dialog stops its check
            super().reject()

    def _cancelled(self, _exc: Cancelled) -> None:
        self.banner.setText("Verification cancelled: the bundle was neither verified nor failed.")
        self._style(None)
        announce(self.banner, self.banner.text())

    def _failed(self, _exc: BaseException) -> None:
        self.banner.setText("The bundle could not be verified.")
        self._style(None)

    def _done(self, report: Report) -> None:
        self.report = report
        self.banner.setText(report_text(report))
        self._style(report.ok)
        announce(self.banner, self.banner.text(), assertive=not report.ok)
        self.findings.show_findings(report.findings)
        self.verified.emit(report)
