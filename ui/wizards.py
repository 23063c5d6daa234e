"""The first-run identity wizard, the new-case wizard and the passphrase dialog."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from app.cases import INCIDENT_STATUSES, SEVERITIES, CaseHandle, create_case
from app.errors import UsageError
from app.identity import Identity, create_identity, load_identity, save_examiner_identity
from app.identity_backup import backup_identity
from app.passphrase import strength_hint
from app.paths import identity_file
from ui import theme
from ui.errors import show_error


def _line(name: str, placeholder: str = "", password: bool = False) -> QLineEdit:
    edit = QLineEdit()
    edit.setObjectName(name)
    edit.setAccessibleName(name.replace("_", " "))
    edit.setPlaceholderText(placeholder)
    if password:
        edit.setEchoMode(QLineEdit.EchoMode.Password)
    return edit


# --------------------------------------------------------------------------- identity


class _IdentityPage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Your examiner identity")
        self.setSubTitle(
            "Every act you record is signed with this identity: a P-256 key and a certificate "
            "that names you. It stays on this computer, protected by a passphrase."
        )
        form = QFormLayout(self)
        self.name = _line("examiner_name", "Alice Examiner")
        self.org = _line("organisation", "Example Forensics")
        self.email = _line("email", "alice@example.org")
        form.addRow("&Name", self.name)
        form.addRow("&Organisation", self.org)
        form.addRow("&E-mail", self.email)
        for edit in (self.name, self.org, self.email):
            edit.textChanged.connect(self.completeChanged)

    def isComplete(self) -> bool:
        return bool(self.name.text().strip() and self.org.text().strip()) and "@" in (
            self.email.text()
        )


class _PassphrasePage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Protect the key with a passphrase")
        self.setSubTitle(
            "You will type it to sign. It cannot be recovered: keep it somewhere safe."
        )
        form = QFormLayout(self)
        self.passphrase = _line("passphrase", password=True)
        self.confirm = _line("passphrase_confirmation", password=True)
        self.hint = QLabel()
        self.hint.setObjectName("strength_hint")
        self.hint.setAccessibleDescription("passphrase strength")
        self.hint.setWordWrap(True)
        form.addRow("&Passphrase", self.passphrase)
        form.addRow("&Again", self.confirm)
        form.addRow("", self.hint)
        self.passphrase.textChanged.connect(self._update)
        self.confirm.textChanged.connect(self._update)
        self._update()

    def _update(self) -> None:
        text, again = self.passphrase.text(), self.confirm.text()
        c = theme.colours()  # readable on the light or the dark scheme
        if not text:
            msg, colour = "Type a passphrase of at least 12 characters.", c.muted
        elif (weak := strength_hint(text)) is not None:
            msg, colour = f"Weak passphrase: {weak}.", c.bad
        elif again and again != text:
            msg, colour = "The two passphrases differ.", c.bad
        else:
            msg, colour = "Strong enough.", c.ok
        self.hint.setText(msg)
        self.hint.setStyleSheet(f"color: {colour}")
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        text = self.passphrase.text()
        return bool(text) and text == self.confirm.text() and strength_hint(text) is None


class IdentityWizard(QWizard):
    """First run: name, organisation, e-mail, passphrase; creates and saves the identity.

    An identity already at ``path`` is copied to a dated backup beside it first; if that
    copy cannot be made, nothing is replaced.
    """

    created = Signal(object)  # Identity

    def __init__(self, parent: QWidget | None = None, path: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Create your examiner identity")
        self.setObjectName("identity_wizard")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.path = path or identity_file()
        self.identity: Identity | None = None
        self.backup: Path | None = None  # where the replaced identity was kept
        self.details = _IdentityPage()
        if self.path.exists():
            self.details.setSubTitle(
                f"This replaces the identity in {self.path}. The old file is kept as a dated "
                "backup next to it. " + self.details.subTitle()
            )
        self.secret = _PassphrasePage()
        self.addPage(self.details)
        self.addPage(self.secret)
        self.setMinimumSize(560, 380)

    def accept(self) -> None:
        try:
            identity = create_identity(
                self.details.name.text().strip(),
                self.details.org.text().strip(),
                self.details.email.text().strip(),
            )
            passphrase = self.secret.passphrase.text().encode("utf-8")
            self.backup = backup_identity(self.path)  # before anything is overwritten
            save_examiner_identity(identity, passphrase, self.path)  # and identity.pem
        except Exception as exc:  # noqa: BLE001 - shown to the examiner; the wizard stays open
            show_error(self, exc)
            return
        self.identity = identity
        self.created.emit(identity)
        super().accept()


# --------------------------------------------------------------------------- passphrase


class PassphraseDialog(QDialog):
    """Asks for the passphrase of a PKCS#12 identity and opens it; errors shown, dialog kept."""

    unlocked = Signal(object)  # Identity

    def __init__(
        self, parent: QWidget | None = None, path: Path | None = None, purpose: str = ""
    ) -> None:
        super().__init__(parent)
        self.setObjectName("passphrase_dialog")
        self.setWindowTitle("Unlock examiner identity")
        self.path = path or identity_file()
        self.identity: Identity | None = None
        layout = QVBoxLayout(self)
        label = QLabel(
            (purpose + "\n\n" if purpose else "") + f"Passphrase for the identity in\n{self.path}"
        )
        label.setWordWrap(True)
        layout.addWidget(label)
        self.passphrase = _line("passphrase", password=True)
        label.setBuddy(self.passphrase)  # the passphrase field is read with what it opens
        layout.addWidget(self.passphrase)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        unlock = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        unlock.setText("&Unlock")
        unlock.setAccessibleName("unlock the identity")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(420)

    def accept(self) -> None:
        try:
            identity = load_identity(self.path, self.passphrase.text().encode("utf-8"))
        except Exception as exc:  # noqa: BLE001 - wrong passphrase and others: shown, dialog stays open
            show_error(self, exc)
            self.passphrase.selectAll()
            self.passphrase.setFocus()
            return
        self.identity = identity
        self.unlocked.emit(identity)
        super().accept()


# --------------------------------------------------------------------------- new case


class _CasePage(QWizardPage):
    def __init__(self, default_root: Path) -> None:
        super().__init__()
        self.setTitle("New case")
        self.setSubTitle(
            "A case is a directory that holds the evidence, its database and the custody "
            "ledger. Choose a new, empty directory: on an evidence drive, not on the examined "
            "disk."
        )
        form = QFormLayout(self)
        self.case_title = _line("case_title", "Suspicious logins on web-01")
        self.incident_ref = _line("incident_reference", "INC-2024-0042")
        self.directory = _line("case_directory")
        self.directory.setText(str(default_root / "new-case"))
        browse = QPushButton("Browse…")
        browse.setAccessibleName("browse for case directory")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.directory, 1)
        row.addWidget(browse)
        form.addRow("&Title", self.case_title)
        form.addRow("&Incident reference", self.incident_ref)
        label = QLabel("&Directory")
        label.setBuddy(self.directory)
        form.addRow(label, row)
        self.case_title.textChanged.connect(self.completeChanged)
        self.directory.textChanged.connect(self.completeChanged)

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Parent directory for the case")
        if chosen:
            slug = (
                "".join(c if c.isalnum() else "-" for c in self.case_title.text().strip()) or "case"
            )
            self.directory.setText(str(Path(chosen) / slug.lower()))

    def isComplete(self) -> bool:
        return bool(self.case_title.text().strip() and self.directory.text().strip())


class _IncidentPage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Incident record")
        self.setSubTitle("What the custody report states about the incident and the authority.")
        form = QFormLayout(self)
        self.severity = QComboBox()
        self.severity.setObjectName("severity")
        self.severity.setAccessibleName("severity")
        self.severity.addItems(list(SEVERITIES))
        self.severity.setCurrentText("medium")
        self.status = QComboBox()
        self.status.setObjectName("status")
        self.status.setAccessibleName("incident status")
        self.status.addItems(list(INCIDENT_STATUSES))
        self.organisation = _line("organisation", "Example Corp")
        self.legal_basis = _line("legal_basis", "consent of the system owner, engagement letter")
        self.requesting_party = _line("requesting_party", "Legal department")
        self.scope = _line("scope", "web-01: logs and running state")
        self.responsible = _line("responsible", "Incident manager on duty")
        self.description = QPlainTextEdit()
        self.description.setObjectName("description")
        self.description.setAccessibleName("description")
        self.description.setPlaceholderText("Who noticed what, and when.")
        self.description.setMaximumHeight(80)
        form.addRow("&Severity", self.severity)
        form.addRow("S&tatus", self.status)
        form.addRow("&Organisation", self.organisation)
        form.addRow("&Legal basis", self.legal_basis)
        form.addRow("&Requesting party", self.requesting_party)
        form.addRow("Sc&ope", self.scope)
        form.addRow("Res&ponsible", self.responsible)
        form.addRow("&Description", self.description)


class NewCaseWizard(QWizard):
    """Creates a case (directory, database, signed ``case_opened`` entry) with its incident record."""

    created = Signal(object)  # CaseHandle

    def __init__(self, identity: Identity, default_root: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("new_case_wizard")
        self.setWindowTitle("New case")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.identity = identity
        self.handle: CaseHandle | None = None
        self.case_page = _CasePage(default_root)
        self.incident_page = _IncidentPage()
        self.addPage(self.case_page)
        self.addPage(self.incident_page)
        self.setMinimumSize(640, 520)

    def fields(self) -> dict[str, str | None]:
        p, i = self.case_page, self.incident_page

        def val(edit: QLineEdit) -> str | None:
            return edit.text().strip() or None

        return {
            "incident_ref": val(p.incident_ref),
            "severity": i.severity.currentText(),
            "status": i.status.currentText(),
            "organisation": val(i.organisation),
            "legal_basis": val(i.legal_basis),
            "requesting_party": val(i.requesting_party),
            "scope": val(i.scope),
            "responsible": val(i.responsible),
            "description": i.description.toPlainText().strip() or None,
        }

    def accept(self) -> None:
        root = Path(self.case_page.directory.text().strip()).expanduser()
        try:
            if not root.is_absolute():
                raise UsageError(f"choose an absolute directory for the case, not {root}")
            handle = create_case(
                root, self.identity, title=self.case_page.case_title.text().strip(), **self.fields()
            )
        except Exception as exc:  # noqa: BLE001 - shown; the wizard stays open to fix the input
            show_error(self, exc)
            return
        self.handle = handle
        self.created.emit(handle)
        super().accept()
