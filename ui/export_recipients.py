"""The export dialog's "Encrypt for recipients" part: the certificates an encrypted bundle
is made for, each shown with who it names and its SHA-256, added from PEM or DER files and
removed one by one. Reading and checking a certificate is :mod:`app.encryption`'s."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.errors import ChainproofError
from ui import theme
from ui.accessibility import announce

if TYPE_CHECKING:
    from app.encryption import Recipient

CERTIFICATE_FILES = "Certificates (*.pem *.crt *.cer *.der);;All files (*)"


def recipient_line(r: Recipient, subject: str) -> str:
    """A recipient as the list shows it: name, key, subject, then the full SHA-256."""
    return f"{r.name} ({r.kind}) — {subject}\ncertificate SHA-256 {r.fingerprint}"


class RecipientsBox(QGroupBox):
    """Recipient certificates for an encrypted export (none: the bundle is not encrypted).

    A file that holds no certificate, or one that cannot receive a bundle (a key other than
    RSA of 2,048 bits or more or P-256, or outside its validity period), is not added: why
    is shown below the list (:attr:`problem`) and announced, until the list next changes.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None, start_in: Path | None = None) -> None:
        super().__init__("Encrypt for recipients", parent)
        self.setObjectName("encrypt_box")
        self._start_in = start_in or Path.home()
        self._recipients: list[Recipient] = []
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Optional. With recipients, the bundle is one encrypted file (.zip.p7m, CMS) that "
            "only the holders of these certificates' keys can open, with 'chainproof "
            "decrypt' or 'openssl cms -decrypt'. Certificates: PEM or DER files, RSA (2,048 "
            "bits or more) or P-256. The ledger records each one's SHA-256."
        )
        intro.setWordWrap(True)
        intro.setObjectName("muted")
        layout.addWidget(intro)
        self.list = QListWidget()
        self.list.setObjectName("recipients")
        self.list.setAccessibleName("recipient certificates")
        self.list.setAccessibleDescription(
            "who the encrypted bundle is for: name, key, subject and certificate SHA-256; "
            "Delete removes the selected one"
        )
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setWordWrap(True)
        self.list.setMinimumHeight(64)
        self.list.setMaximumHeight(120)
        self.list.itemSelectionChanged.connect(self._selection)
        self.list.installEventFilter(self)  # Delete removes the selected recipient
        layout.addWidget(self.list)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("&Add certificate…")
        self.add_button.setObjectName("add_recipient")
        self.add_button.setAccessibleName("add a recipient certificate")
        self.add_button.setAccessibleDescription("choose one or more PEM or DER certificate files")
        self.add_button.clicked.connect(self._pick)
        self.remove_button = QPushButton("&Remove")
        self.remove_button.setObjectName("remove_recipient")
        self.remove_button.setAccessibleName("remove the selected recipient")
        self.remove_button.setEnabled(False)
        self.remove_button.clicked.connect(self.remove_selected)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.problem = QLabel("")
        self.problem.setObjectName("recipient_problem")
        self.problem.setAccessibleDescription("why a recipient certificate was not added")
        self.problem.setWordWrap(True)
        self.problem.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problem.hide()
        layout.addWidget(self.problem)
        self._restyle(theme.colours())
        theme.watcher().changed.connect(self._restyle)

    def _restyle(self, colours: theme.Colours) -> None:
        self.problem.setStyleSheet(f"QLabel {{ color: {colours.bad}; font-weight: 600; }}")

    @property
    def recipients(self) -> tuple[Recipient, ...]:
        """The recipients, in the order they were added."""
        return tuple(self._recipients)

    @property
    def problem_text(self) -> str:
        """Why the last certificate was not added ("": none refused since the list changed)."""
        return self.problem.text() if self.problem.isVisibleTo(self) else ""

    def _pick(self) -> None:
        chosen, _ = QFileDialog.getOpenFileNames(
            self, "Recipient certificates", str(self._start_in), CERTIFICATE_FILES
        )
        if chosen:
            self._start_in = Path(chosen[0]).parent
            self.add_files([Path(c) for c in chosen])

    def add_files(self, paths: Sequence[Path]) -> bool:
        """Add the certificate of each file; True when every one was added. The first file
        that is refused stops there and says why (the ones before it stay added); a
        certificate already listed is not listed twice."""
        from app.encryption import recipient_file, subject_text

        before = len(self._recipients)
        problem = ""
        for path in paths:
            try:
                r = recipient_file(path)
            except ChainproofError as exc:
                problem = f"✗ Not added: {exc.diagnostics()}"
                break
            if any(x.fingerprint == r.fingerprint for x in self._recipients):
                problem = (
                    f"✗ Not added again: {path} is the certificate of {r.name}, listed already"
                )
                break
            self._recipients.append(r)
            item = QListWidgetItem(recipient_line(r, subject_text(r)))
            item.setToolTip(f"from {path}")
            self.list.addItem(item)
        self._show_problem(problem)
        if len(self._recipients) != before:
            self.changed.emit()
        return not problem

    def remove_selected(self) -> None:
        """Remove the selected recipient (the certificate file is left alone)."""
        selected = self.list.selectedItems()
        if not selected:
            return
        row = self.list.row(selected[0])
        self.list.takeItem(row)
        removed = self._recipients.pop(row)
        self._show_problem("")
        announce(self.list, f"Recipient {removed.name} removed.")
        self.changed.emit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Delete (or Backspace) in the list removes the selected recipient."""
        if (
            watched is self.list
            and isinstance(event, QKeyEvent)
            and event.type() == QEvent.Type.KeyPress
            and event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace)
            and self.list.selectedItems()
        ):
            self.remove_selected()
            return True
        return super().eventFilter(watched, event)

    def _selection(self) -> None:
        self.remove_button.setEnabled(bool(self.list.selectedItems()))

    def _show_problem(self, text: str) -> None:
        self.problem.setText(text)
        self.problem.setVisible(bool(text))
        if text:
            announce(self.problem, text, assertive=True)
