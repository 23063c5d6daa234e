"""Small dialogs of the window's actions: seal a case, save the examiner's certificate, open a
file with the desktop's program (and say so when none opens it), Help (documentation, the
keyboard routes) and About."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMenuBar,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.version import __version__
from ui.confirm import confirm, warn
from ui.errors import show_error

if TYPE_CHECKING:
    from app.cases import CaseHandle
    from app.identity import Identity


def open_local(parent: QWidget | None, path: Path, what: str) -> bool:
    """Open ``path`` with the desktop's program for it; when none opens it, say so and
    where the file is (QDesktopServices.openUrl only returns False)."""
    if not path.exists():
        warn(parent, f"Cannot open the {what}", f"The {what} is not there: {path}")
        return False
    if QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
        return True
    warn(
        parent,
        f"Cannot open the {what}",
        f"No program opened the {what}.",
        f"The desktop has no program for this kind of file, or it failed to start. The file "
        f"is at:\n{path}\nOpen it with a program of your choice.",
    )
    return False


class SealDialog(QDialog):
    """Seal the case: a reason, then a confirmation; the sealed entry is signed."""

    def __init__(self, case: CaseHandle, identity: Identity, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("seal_dialog")
        self.setWindowTitle("Seal case")
        self.case, self.identity = case, identity
        self.seq: int | None = None
        state = case.state()
        self.title = state.title
        layout = QVBoxLayout(self)
        intro = QLabel(
            f"Sealing “{state.title}” records a signed entry naming the ledger's head (entry "
            f"{state.head_seq:,}). After it no more evidence can be collected into the case; "
            "notes, transfers, access records, verification and export remain possible. A "
            "seal cannot be undone."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        reason_label = QLabel("&Reason (recorded in the ledger):")
        layout.addWidget(reason_label)
        self.reason = QLineEdit()
        self.reason.setObjectName("seal_reason")
        self.reason.setAccessibleName("reason for sealing")
        self.reason.setPlaceholderText("collection complete; handed to legal")
        layout.addWidget(self.reason)
        reason_label.setBuddy(self.reason)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.seal_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.seal_button.setText("Seal case…")
        self.seal_button.setAccessibleName("seal the case")
        self.seal_button.setEnabled(False)
        self.reason.textChanged.connect(lambda t: self.seal_button.setEnabled(bool(t.strip())))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(460)

    def accept(self) -> None:
        from app.journal import seal_case

        reason = self.reason.text().strip()
        if not reason:
            return
        if not confirm(
            self,
            "Seal case",
            f"Seal “{self.title}” now?",
            f"Reason: {reason}\nSigned by {self.identity.name}. No evidence can be collected "
            "into the case after this, and the seal cannot be undone.",
            act="Seal case",
            keep="Do not seal",
        ):
            return
        try:
            self.seq = seal_case(self.case, self.identity, reason=reason)
        except Exception as exc:  # noqa: BLE001 - e.g. already sealed: shown, nothing recorded
            show_error(self, exc)
            return
        super().accept()


def save_certificate(parent: QWidget | None, identity: Identity | None) -> Path | None:
    """Ask where to save the examiner's certificate (PEM) and write it; the path, or None
    (cancelled, or no certificate without unlocking: the caller unlocks and asks again)."""
    from app.desktop_actions import examiner_certificate, write_certificate

    cert = examiner_certificate(identity)
    if cert is None:
        return None
    name = identity.name if identity is not None else "examiner"
    suggested = Path.home() / f"{'-'.join(name.lower().split()) or 'examiner'}-certificate.pem"
    chosen, _ = QFileDialog.getSaveFileName(
        parent,
        "Export examiner certificate",
        str(suggested),
        "PEM certificate (*.pem *.crt);;All files (*)",
    )
    if not chosen:
        return None
    try:
        return write_certificate(cert, Path(chosen))
    except Exception as exc:  # noqa: BLE001 - not writable: shown
        show_error(parent, exc)
        return None


def open_documentation(parent: QWidget | None) -> None:
    from app.desktop_actions import documentation

    readme = documentation()
    if readme is None:
        warn(
            parent,
            "Documentation",
            "The documentation is not installed with this program.",
            "It is the README.md and docs/DESIGN.md of Chainproof's source; "
            "'chainproof --help' and 'chainproof COMMAND --help' describe every command.",
        )
        return
    open_local(parent, readme, "documentation")


def about_text() -> tuple[str, str]:
    from app.desktop_actions import documentation

    readme = documentation()
    docs = (
        f"Documentation: <a href='{QUrl.fromLocalFile(str(readme)).toString()}'>{readme}</a> "
        f"and docs/DESIGN.md beside it (Help ▸ Documentation, F1)."
        if readme is not None
        else "Documentation: README.md and docs/DESIGN.md of the source; "
        "<code>chainproof --help</code> for the command line."
    )
    return (
        f"<b>Chainproof {__version__}</b>",
        "Forensic evidence collection with a signed, tamper-evident chain of custody: every "
        "artifact hashed (SHA-256, SHA-1, MD5) into an append-only archive, every act signed "
        "into a hash-chained ledger, bundles a legal team can check with sha256sum, openssl "
        f"and a PDF reader.<br><br>{docs}",
    )


def show_about(parent: QWidget | None) -> QMessageBox:
    """Help ▸ About: the version and where the documentation is."""
    text, details = about_text()
    box = QMessageBox(parent)
    box.setObjectName("about")
    box.setWindowTitle("About Chainproof")
    box.setAccessibleName("About Chainproof")
    box.setIcon(QMessageBox.Icon.Information)
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setText(text)
    box.setInformativeText(details)
    box.setTextInteractionFlags(
        Qt.TextInteractionFlag.TextBrowserInteraction
        | Qt.TextInteractionFlag.TextSelectableByKeyboard
    )
    docs = box.addButton("Open documentation", QMessageBox.ButtonRole.HelpRole)
    box.addButton(QMessageBox.StandardButton.Close)
    box.exec()
    if box.clickedButton() is docs:
        open_documentation(parent)
    return box


#: Keys that are not menu actions: moving around and inside the screens.
GENERAL_KEYS: tuple[tuple[str, str], ...] = (
    ("Tab / Shift+Tab", "Next / previous control; leaves every table and list"),
    ("Arrow keys", "Move inside a table, list, tree or the navigation"),
    ("Ctrl+1 … Ctrl+5", "Go to Cases, Collect, Artifacts, Custody, Verify"),
    ("Enter (case list)", "Open the selected case"),
    ("Enter (custody timeline chart)", "Read the same events as a table (Events tab)"),
    ("Space", "Press the focused button, tick the focused box"),
    ("Alt+underlined letter", "Focus the field or press the button with that letter"),
    ("Esc", "Cancel the running collection (asks first); close a dialog"),
)


def mnemonic(text: str) -> str:
    """The letter after the "&" of a menu or button text ("" when none)."""
    i = text.replace("&&", "").find("&")
    return text.replace("&&", "")[i + 1].upper() if 0 <= i < len(text) - 1 else ""


def plain(text: str) -> str:
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…").strip()


def keyboard_routes(menu_bar: QMenuBar) -> list[tuple[str, str, str]]:
    """Every action of the menus: (menu, action, keys), the keys being its shortcut and
    the menu route (Alt+letter, then letter) that reaches it."""
    routes: list[tuple[str, str, str]] = []

    def visit(menu: QMenu, path: list[str], keys: list[str]) -> None:
        for action in menu.actions():
            if action.isSeparator():
                continue
            letter = mnemonic(action.text())
            step = [*keys, letter] if letter else [*keys, "arrows and Enter"]
            sub = action.menu()
            if isinstance(sub, QMenu):
                visit(sub, [*path, plain(action.text())], step)
                continue
            route = (f"Alt+{step[0]}, " if step and step[0] else "") + ", ".join(step[1:])
            shortcut = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            routes.append(
                (
                    " ▸ ".join(path),
                    plain(action.text()),
                    f"{shortcut} or {route}" if shortcut else route,
                )
            )

    for top in menu_bar.actions():
        sub = top.menu()
        if isinstance(sub, QMenu):
            visit(sub, [plain(top.text())], [mnemonic(top.text())])
    return routes


class KeyboardHelp(QDialog):
    """Help ▸ Keyboard: every action's keys (shortcut and menu route) and the general keys,
    as a table a screen reader reads row by row."""

    def __init__(self, menu_bar: QMenuBar, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("keyboard_help")
        self.setWindowTitle("Keyboard")
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Everything Chainproof does can be done from the keyboard. Menus open with Alt "
            "and the underlined letter; the shortcuts work from any screen."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        rows = [(m, a, k) for m, a, k in keyboard_routes(menu_bar)]
        rows += [("Everywhere", what, keys) for keys, what in GENERAL_KEYS]
        self.table = QTableWidget(len(rows), 3)
        self.table.setObjectName("keyboard_routes")
        self.table.setAccessibleName("keyboard routes")
        self.table.setHorizontalHeaderLabels(["Where", "Action", "Keys"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setTabKeyNavigation(False)
        for r, values in enumerate(rows):
            for c, value in enumerate(values):
                self.table.setItem(r, c, QTableWidgetItem(value))
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(760, 560)
