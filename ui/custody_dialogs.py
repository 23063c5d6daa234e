"""Hand-over and export: the transfer dialog (who hands the evidence to whom, both signing)
and the export dialog (a bundle written off the GUI thread, its PDF report opened)."""

from __future__ import annotations

import tempfile
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.paths import identity_file
from app.times import shown
from ui.accessibility import announce
from ui.confirm import confirm, warn
from ui.dialogs import open_local
from ui.errors import show_error
from ui.export_recipients import RecipientsBox
from ui.long_task import CancelQuestion, LongTask

if TYPE_CHECKING:
    from app.cases import CaseHandle
    from app.desktop_actions import Holder
    from app.errors import Cancelled
    from app.identity import Identity
    from ui.workers import Worker

REPORT = "custody-report.pdf"
_ZIP, _P7M = ".zip", ".p7m"


def bundle_name(path: Path, *, as_zip: bool, encrypted: bool) -> Path:
    """``path`` named for the bundle it will be: a folder (no suffix), ``.zip``, or an
    encrypted zip (``.zip.p7m``); the rest of the name is kept."""
    name = path.name
    for suffix in (_P7M, _ZIP):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
    if as_zip or encrypted:
        name += _ZIP
    if encrypted:
        name += _P7M
    return path.with_name(name)


_CANCEL_EXPORT = CancelQuestion(
    "Cancel the export",
    "Cancel the export?",
    "The bundle is not finished: its staging folder is removed, nothing is left at the "
    "bundle path, and the case's ledger records the export as failed, cancelled. You "
    "can export again later.",
    act="Cancel the export",
    keep="Go on exporting",
)


def holder_text(h: Holder | None, fallback: str = "") -> str:
    if h is None:
        return fallback
    return f"{h} — certificate SHA-256 {h.fingerprint[:16]}…"


class TransferDialog(QDialog):
    """Hand the evidence over: who holds it now, who releases it and who receives it, where
    and why; both examiners open their PKCS#12 identities and sign, after a last look at the
    hand-over as it will be recorded."""

    def __init__(self, case: CaseHandle, parent: QWidget | None = None) -> None:
        from app.desktop_actions import custody_of

        super().__init__(parent)
        self.setObjectName("transfer_dialog")
        self.setWindowTitle("Transfer custody")
        self.case = case
        self.seq: int | None = None
        self.received_by = ""  # the receiving examiner, once the transfer is recorded
        self.custody = custody_of(case)
        self.title = case.state().title
        form = QFormLayout(self)
        intro = QLabel(
            "Both examiners sign the transfer. Each opens their own identity (PKCS#12 file) "
            "with their passphrase; nothing leaves this computer."
        )
        intro.setWordWrap(True)
        form.addRow(intro)
        c = self.custody
        holder = (
            f"{c.custodian}, since entry {c.since_seq} ({shown(c.since_at)})"
            if c.custodian is not None and c.since_at
            else "not recorded"
        )
        self.current = QLabel(holder)
        self.current.setObjectName("current_custodian")
        self.current.setAccessibleDescription("current custodian")
        self.current.setWordWrap(True)
        form.addRow("Current custodian", self.current)
        self.from_file, self.from_who = self._file_row(
            form, "Releasing examiner", str(identity_file())
        )
        self.from_pass = QLineEdit()
        self.from_pass.setEchoMode(QLineEdit.EchoMode.Password)
        self.from_pass.setAccessibleName("releasing examiner passphrase")
        form.addRow("  passphrase", self.from_pass)
        self.to_file, self.to_who = self._file_row(form, "Receiving examiner", "")
        self.to_pass = QLineEdit()
        self.to_pass.setEchoMode(QLineEdit.EchoMode.Password)
        self.to_pass.setAccessibleName("receiving examiner passphrase")
        form.addRow("  passphrase", self.to_pass)
        self.reason = QLineEdit()
        self.reason.setAccessibleName("reason for the transfer")
        self.reason.setPlaceholderText("handed to legal for review")
        self.location = QLineEdit()
        self.location.setAccessibleName("location of the transfer")
        self.location.setPlaceholderText("Evidence room 2, HQ")
        form.addRow("Reason", self.reason)
        form.addRow("Location", self.location)
        self.summary = QLabel()
        self.summary.setObjectName("handover")
        self.summary.setAccessibleDescription("the hand-over as it will be recorded")
        self.summary.setWordWrap(True)
        form.addRow("Hand-over", self.summary)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Sign transfer…")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self._giver: Holder | None = None
        self._taker: Holder | None = None
        for edit in (self.from_file, self.to_file):
            edit.textChanged.connect(self._identify)
        for edit in (self.reason, self.location):
            edit.textChanged.connect(self._update)
        self._identify()
        self.setMinimumWidth(520)

    def _file_row(self, form: QFormLayout, label: str, value: str) -> tuple[QLineEdit, QLabel]:
        edit = QLineEdit(value)
        edit.setAccessibleName(f"{label} identity file")
        edit.setPlaceholderText("identity.p12")
        browse_button = QPushButton("Browse…")
        browse_button.setAccessibleName(f"browse for the {label.lower()} identity")

        def pick() -> None:
            chosen, _ = QFileDialog.getOpenFileName(
                self, label, edit.text(), "PKCS#12 (*.p12 *.pfx)"
            )
            if chosen:
                edit.setText(chosen)

        browse_button.clicked.connect(pick)
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        row.addWidget(browse_button)
        form.addRow(label, row)
        who = QLabel()
        who.setObjectName("muted")
        who.setAccessibleDescription(f"who the {label.lower()} identity names")
        who.setWordWrap(True)
        form.addRow("", who)
        return edit, who

    def _holder(self, edit: QLineEdit) -> Holder | None:
        from app.desktop_actions import certificate_holder

        text = edit.text().strip()
        return certificate_holder(Path(text)) if text else None

    def _identify(self) -> None:
        """Who each identity file names (from its public certificate, no passphrase)."""
        self._giver, self._taker = self._holder(self.from_file), self._holder(self.to_file)
        unknown = "its name is shown once it is unlocked (no certificate beside the file)"
        self.from_who.setText(holder_text(self._giver, unknown if self.from_file.text() else ""))
        self.to_who.setText(holder_text(self._taker, unknown if self.to_file.text() else ""))
        self._update()

    def _update(self) -> None:
        """The hand-over in words, as it will be recorded."""
        self.summary.setText(
            self._handover(
                self._giver.name if self._giver else "the releasing examiner",
                self._taker.name if self._taker else "the receiving examiner",
            )
        )

    def _handover(self, giver: str, taker: str) -> str:
        where = self.location.text().strip() or "(location)"
        why = self.reason.text().strip() or "(reason)"
        return (
            f"{giver[:1].upper()}{giver[1:]} hands the evidence of “{self.title}” to {taker} "
            f"at {where}, because: "
            f"{why}. Both sign; {taker} becomes the custodian."
        )

    def accept(self) -> None:
        from app.identity import load_identity
        from app.journal import record_transfer

        try:
            releasing = load_identity(
                Path(self.from_file.text()), self.from_pass.text().encode("utf-8")
            )
            receiving = load_identity(
                Path(self.to_file.text()), self.to_pass.text().encode("utf-8")
            )
        except Exception as exc:  # noqa: BLE001 - shown; the dialog stays open to fix the input
            show_error(self, exc)
            return
        details = self._handover(
            f"{releasing.name} ({releasing.organisation or 'no organisation'})",
            f"{receiving.name} ({receiving.organisation or 'no organisation'}, certificate "
            f"SHA-256 {receiving.fingerprint[:16]}…)",
        )
        current = self.custody.custodian
        if current is not None and current.fingerprint != releasing.fingerprint:
            details += f"\n\nThe ledger names {current} as the custodian now, not {releasing.name}."
        if not confirm(
            self,
            "Transfer custody",
            f"Hand the evidence over to {receiving.name}?",
            details,
            act="Sign transfer",
            keep="Go back",
        ):
            return
        try:
            self.seq = record_transfer(
                self.case,
                releasing,
                receiving,
                reason=self.reason.text().strip(),
                location=self.location.text().strip(),
            )
        except Exception as exc:  # noqa: BLE001 - shown; the dialog stays open to fix the input
            show_error(self, exc)
            return
        self.received_by = receiving.name
        super().accept()


class ExportDialog(QDialog):
    """Export a bundle (directory, zip, or a zip encrypted to recipients' certificates) off
    the GUI thread, then open its PDF report.

    Each export proposes a bundle path that nothing holds yet. A case that fails
    verification is exported only if the examiner confirms it; the bundle then states the
    failure, as ``chainproof export --force`` does. While it runs, a bar and a line show the
    phase, how far it is and an ETA (:class:`app.progress.ExportProgress`), and Cancel (once
    confirmed) stops it: the staging folder is removed and the ledger records the export as
    failed, "cancelled". With recipients (:class:`~ui.export_recipients.RecipientsBox`) the
    bundle is a ``.zip.p7m`` encrypted to each, written by the same service as ``chainproof
    export --encrypt-to``; the ledger names the recipients.
    """

    exported = Signal(object)

    def __init__(self, case: CaseHandle, identity: Identity, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("export_dialog")
        self.setWindowTitle("Export case bundle")
        self.case = case
        self.identity = identity
        self.result_path: Path | None = None
        self.forced = False
        self._extracted: Path | None = None
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.out = QLineEdit()
        self.out.setAccessibleName("bundle location")
        pick = QPushButton("Browse…")
        pick.setAccessibleName("choose bundle location")
        pick.clicked.connect(self._pick)
        row = QHBoxLayout()
        row.addWidget(self.out, 1)
        row.addWidget(pick)
        bundle_label = QLabel("&Bundle")  # a row of two widgets: the label needs its buddy
        bundle_label.setBuddy(self.out)
        form.addRow(bundle_label, row)
        self.as_zip = QCheckBox("Write a single .zip file")
        self.as_zip.setAccessibleName("export as zip")
        self.as_zip.toggled.connect(self._zip_toggled)
        form.addRow("", self.as_zip)
        layout.addLayout(form)
        self.encryption = RecipientsBox(self)
        self.encryption.changed.connect(self._recipients_changed)
        layout.addWidget(self.encryption)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("export progress")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        layout.addWidget(self.progress)
        self.phase = QLabel("")
        self.phase.setObjectName("export_phase")
        self.phase.setAccessibleName("export phase")
        self.phase.setWordWrap(True)
        layout.addWidget(self.phase)
        self._shown: Any = None  # the ExportProgress of the running export
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setAccessibleName("export log")
        self.log.setMaximumBlockCount(500)
        layout.addWidget(self.log, 1)
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Export")
        self.start_button.setAccessibleName("start export")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(lambda: self.start())
        self.report_button = QPushButton("Open PDF report")
        self.report_button.setAccessibleName("open the PDF report")
        self.report_button.setEnabled(False)
        self.report_button.clicked.connect(self.open_report)
        self.cancel_button = QPushButton("Cancel export")
        self.cancel_button.setObjectName("cancel_export")
        self.cancel_button.setAccessibleName("cancel the export")
        self.cancel_button.setToolTip(
            "Stop the export: nothing is left at the bundle path and the ledger records it "
            "as cancelled"
        )
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        buttons.addWidget(self.report_button)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(close)
        buttons.addWidget(self.start_button)
        layout.addLayout(buttons)
        self.task = LongTask(
            self,
            bar=self.progress,
            start_button=self.start_button,
            status=self.phase,
            cancel_button=self.cancel_button,
            question=_CANCEL_EXPORT,
            describe=self._describe,
        )
        self.task.said.connect(lambda line: self.log.appendPlainText(str(line)))
        self.task.finished.connect(self._done)
        self.task.cancelled.connect(self._cancelled)
        self.task.failed.connect(self._failed)
        self._propose()
        self.setMinimumSize(560, 460)

    @property
    def worker(self) -> Worker | None:
        return self.task.worker

    @property
    def encrypted(self) -> bool:
        """Whether the export is encrypted (recipients are listed)."""
        return bool(self.encryption.recipients)

    def _propose(self) -> None:
        """A bundle path in the case's exports folder that nothing holds yet."""
        from app.desktop_actions import fresh_bundle_path

        path = fresh_bundle_path(self.case, self.as_zip.isChecked(), encrypted=self.encrypted)
        self.out.setText(str(path))

    def _rename(self) -> None:
        """The bundle path's name follows the choices: folder, .zip or .zip.p7m."""
        text = self.out.text().strip()
        if text:
            path = bundle_name(Path(text), as_zip=self.as_zip.isChecked(), encrypted=self.encrypted)
            self.out.setText(str(path))

    def _zip_toggled(self, _on: bool) -> None:
        self._rename()

    def _recipients_changed(self) -> None:
        """An encrypted bundle is one zip: with recipients the zip box is ticked and fixed."""
        encrypted = self.encrypted
        if encrypted:
            self.as_zip.setChecked(True)
        self.as_zip.setEnabled(not encrypted)
        self.as_zip.setToolTip("An encrypted bundle is always one zip file." if encrypted else "")
        self._rename()

    def _pick(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Parent folder for the bundle")
        if chosen:
            self.out.setText(str(Path(chosen) / Path(self.out.text()).name))

    def start(self, force: bool = False) -> None:
        from app.desktop_actions import export_bundle
        from app.progress import ExportProgress

        if self.task.running:
            return
        out = Path(self.out.text().strip()).expanduser()
        as_zip = self.as_zip.isChecked()
        case, identity = self.case, self.identity
        recipients = self.encryption.recipients
        if not force and not self._encryption_settled(out):  # forced: settled the first time
            return
        if recipients:
            out = bundle_name(out, as_zip=True, encrypted=True)
            as_zip = True
        elif as_zip and out.suffix.lower() != ".zip":
            out = out.with_suffix(".zip")
        encrypt_to = [r.certificate for r in recipients]

        def work(cancel: threading.Event, report: Callable[[Any], None]) -> Any:
            from app.desktop_timestamps import task_stamping  # lazy: asn1crypto

            # The core calls ``phases`` at most ten times a second: one queued signal each.
            def phases(phase: str, done: int, total: int) -> None:
                report((phase, done, total))

            with task_stamping(case, pdf=True):  # RFC 3161 tokens, a PAdES B-T report
                return export_bundle(
                    case,
                    identity,
                    out,
                    as_zip=as_zip,
                    force=force,
                    progress=report,
                    phases=phases,
                    cancel=cancel,
                    encrypt_to=encrypt_to,
                )

        self.forced = force
        self._shown = ExportProgress(True, live=False)  # a model of the line: never entered
        self.report_button.setEnabled(False)
        self.encryption.setEnabled(False)
        self.log.appendPlainText(
            f"Exporting to {out} …"
            + (f" encrypted to {len(recipients)} recipient(s)" if recipients else "")
            + (" (the verification failure will be stated)" if force else "")
        )
        self.task.run(work, "Starting…")

    def _encryption_settled(self, out: Path) -> bool:
        """Whether the recipients are as the examiner meant them: a ``.p7m`` name needs
        recipients, and a certificate just refused is either replaced or knowingly left out
        (a bundle is never written in clear, or for fewer people, by mistake)."""
        recipients = self.encryption.recipients
        if not recipients and out.name.lower().endswith(_P7M):
            warn(
                self,
                "Not exported",
                f"{out.name} names an encrypted bundle, but no recipient is listed.",
                "Add the recipients' certificates under 'Encrypt for recipients', or choose "
                "a bundle name without .p7m for a bundle in clear. Nothing was exported.",
            )
            return False
        problem = self.encryption.problem_text
        if not problem:
            return True
        whom = (
            f"encrypted to the {len(recipients)} recipient(s) listed"
            if recipients
            else "NOT encrypted, readable by anyone who has it"
        )
        if confirm(
            self,
            "A recipient certificate was not added",
            f"Export the bundle {whom}?",
            f"{problem}\n\nAdd a valid certificate first to include that recipient.",
            act="Export without it",
            keep="Go back",
        ):
            return True
        self.log.appendPlainText("Nothing was exported.")
        return False

    def _describe(self, phase: str, done: int, total: int) -> str:
        """The phase line: how far the phase is, and an ETA."""
        self._shown.update(phase, done, total)
        return str(self._shown.summary())

    def cancel(self) -> None:
        """Stop the running export, once the examiner confirms it."""
        self.task.cancel()

    def reject(self) -> None:
        """Close, unless an export is running: then ask to cancel it first."""
        if self.task.may_close():
            super().reject()

    def _idle(self) -> None:
        self._shown = None
        self.encryption.setEnabled(True)

    def _done(self, result: Any) -> None:
        from app.desktop_actions import ExportRefusal

        self._idle()
        if isinstance(result, ExportRefusal):
            self.progress.setValue(0)
            self.log.appendPlainText("Not exported: the case fails verification.")
            self._ask_force(result.message)
            return
        self.progress.setValue(1)
        self.phase.setText("Done")
        self.result_path = Path(result.path)
        self._extracted = None
        self.log.appendPlainText(f"Done: {self.result_path}")
        self.log.appendPlainText(f"bundle {result.bundle_id}")
        self.log.appendPlainText(f"manifest.json SHA-256 {result.bundle.manifest_sha256}")
        if result.zip_sha256:
            inside = " (the zip inside the envelope)" if result.envelope is not None else ""
            self.log.appendPlainText(f"zip SHA-256 {result.zip_sha256}{inside}")
        if result.envelope is not None:
            self._log_envelope(self.result_path, result.envelope)
        self.log.appendPlainText(f"recorded as ledger entry {result.exported_seq}")
        if not result.verified:
            self.log.appendPlainText(
                f"The case failed verification ({result.findings} finding(s)): the bundle's "
                "manifest, report and guide state it, and the ledger records the export as "
                "made of a case that failed verification."
            )
        self.report_button.setEnabled(self._report_path() is not None)
        self._propose()  # the next export goes elsewhere
        self.exported.emit(result)

    def _log_envelope(self, path: Path, env: Any) -> None:
        """Who an encrypted bundle is for, and how they open it."""
        self.log.appendPlainText(f".p7m SHA-256 {env.sha256}, encrypted to:")
        for who in env.recipients:
            self.log.appendPlainText(
                f"  {who.name} ({who.kind}, certificate SHA-256 {who.fingerprint})"
            )
        self.log.appendPlainText(
            f"A recipient opens it with 'chainproof decrypt {path.name} --identity FILE.p12'"
            + (" or 'openssl cms -decrypt'" if env.openssl_opens else "")
            + ", then checks it with 'chainproof verify'. The PDF report is inside it."
        )
        if not env.openssl_opens:
            self.log.appendPlainText(
                "Note: it is larger than 'openssl cms -decrypt' (OpenSSL 3.0) can open (about "
                "1.5 GiB): recipients open it with 'chainproof decrypt'."
            )

    def _ask_force(self, message: str) -> None:
        if confirm(
            self,
            "Export a case that fails verification",
            "The case fails verification. Export it anyway, with the failure stated?",
            f"{message}\n\nThe bundle's manifest, PDF report and guide will state that the "
            "case failed verification and list the findings, and the export is recorded in "
            "the ledger as made of a case that failed verification (as 'chainproof export "
            "--force' does).",
            act="Export with the failure stated",
            keep="Do not export",
        ):
            self.start(force=True)
        else:
            self.log.appendPlainText("Nothing was exported.")

    def _cancelled(self, exc: Cancelled) -> None:
        self._idle()
        self.progress.setValue(0)
        self.phase.setText("Cancelled")
        self.log.appendPlainText(f"Cancelled: {exc.diagnostics()}")
        announce(self.phase, f"Export cancelled: {exc.diagnostics()}")
        self._propose()  # the next export goes elsewhere

    def _failed(self, exc: BaseException) -> None:
        self._idle()
        self.progress.setValue(0)
        self.phase.setText("Failed")
        self.log.appendPlainText("Export failed.")
        announce(self.phase, f"Export failed: {exc}", assertive=True)

    def _report_path(self) -> Path | None:
        """The bundle's PDF report; from a zip it is extracted to a temporary folder."""
        if self.result_path is None:
            return None
        if self.result_path.is_dir():
            pdf = self.result_path / REPORT
            return pdf if pdf.exists() else None
        if self._extracted is None and zipfile.is_zipfile(self.result_path):
            with zipfile.ZipFile(self.result_path) as z:
                if REPORT not in z.namelist():
                    return None
                target = Path(tempfile.mkdtemp(prefix="chainproof-report-")) / REPORT
                target.write_bytes(z.read(REPORT))
                self._extracted = target
        return self._extracted

    def open_report(self) -> None:
        try:
            pdf = self._report_path()
        except (OSError, zipfile.BadZipFile) as exc:
            warn(self, "Cannot open the PDF report", f"The report cannot be read: {exc}")
            return
        if pdf is None:
            warn(
                self,
                "Cannot open the PDF report",
                f"The bundle {self.result_path} holds no {REPORT}.",
            )
            return
        open_local(self, pdf, "PDF report")
