"""First-run identity wizard, passphrase dialog and new-case wizard, driven like a person."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWizard

from app.cases import open_case, summary
from app.paths import identity_file
from custody.record.keys import load_identity
from tests.conftest import PASSPHRASE
from ui.wizards import IdentityWizard, NewCaseWizard, PassphraseDialog


def _next(qtbot: Any, wizard: QWizard) -> None:
    qtbot.mouseClick(wizard.button(QWizard.WizardButton.NextButton), Qt.MouseButton.LeftButton)


def _finish(qtbot: Any, wizard: QWizard) -> None:
    qtbot.mouseClick(wizard.button(QWizard.WizardButton.FinishButton), Qt.MouseButton.LeftButton)


def test_identity_wizard_creates_a_protected_identity(qtbot: Any, window: Any) -> None:
    assert not identity_file().exists()
    window.new_case()  # needs an identity: first run opens the identity wizard
    wizard = window.dialog
    assert isinstance(wizard, IdentityWizard)
    next_button = wizard.button(QWizard.WizardButton.NextButton)
    assert not next_button.isEnabled()
    qtbot.keyClicks(wizard.details.name, "Carol Examiner")
    qtbot.keyClicks(wizard.details.org, "Example Forensics")
    qtbot.keyClicks(wizard.details.email, "carol@example.org")
    assert next_button.isEnabled()
    _next(qtbot, wizard)

    page = wizard.secret
    finish = wizard.button(QWizard.WizardButton.FinishButton)
    qtbot.keyClicks(page.passphrase, "short")
    assert "Weak" in page.hint.text()
    assert not finish.isEnabled()
    page.passphrase.clear()
    qtbot.keyClicks(page.passphrase, PASSPHRASE)
    qtbot.keyClicks(page.confirm, PASSPHRASE + "x")
    assert "differ" in page.hint.text()
    assert not finish.isEnabled()
    page.confirm.clear()
    qtbot.keyClicks(page.confirm, PASSPHRASE)
    assert page.hint.text() == "Strong enough."
    _finish(qtbot, wizard)

    assert identity_file().stat().st_mode & 0o777 == 0o600
    loaded = load_identity(identity_file(), PASSPHRASE.encode())
    assert loaded.name == "Carol Examiner"
    assert window.identity is not None and window.identity.fingerprint == loaded.fingerprint
    assert "Carol Examiner" in window.examiner_label.text()
    # the pending action (new case) continues with the new identity
    qtbot.waitUntil(lambda: isinstance(window.dialog, NewCaseWizard), timeout=5000)


def test_new_case_wizard_creates_the_incident_record(
    qtbot: Any, window: Any, alice: Any, tmp_path: Path
) -> None:
    window.new_action.trigger()  # Ctrl+N; the identity is locked: passphrase first
    dialog = window.dialog
    assert isinstance(dialog, PassphraseDialog)
    qtbot.keyClicks(dialog.passphrase, PASSPHRASE)
    qtbot.mouseClick(dialog.buttons.buttons()[0], Qt.MouseButton.LeftButton)
    assert window.identity is not None
    wizard = window.dialog
    assert isinstance(wizard, NewCaseWizard)

    page = wizard.case_page
    page.case_title.clear()
    qtbot.keyClicks(page.case_title, "Suspicious logins on web-01")
    qtbot.keyClicks(page.incident_ref, "INC-2024-0042")
    page.directory.setText(str(tmp_path / "cases" / "web-01"))
    _next(qtbot, wizard)
    inc = wizard.incident_page
    inc.severity.setCurrentText("high")
    inc.status.setCurrentText("assessed")
    qtbot.keyClicks(inc.legal_basis, "consent of the system owner")
    qtbot.keyClicks(inc.requesting_party, "Legal")
    qtbot.keyClicks(inc.description, "Logins from an unknown network at 03:00.")
    with qtbot.waitSignal(wizard.created, timeout=10_000):
        _finish(qtbot, wizard)

    root = tmp_path / "cases" / "web-01"
    assert json.loads((root / "case.json").read_text())["format"] == "chainproof-case/1"
    s = summary(open_case(root))
    assert s["title"] == "Suspicious logins on web-01"
    assert s["incident_ref"] == "INC-2024-0042"
    assert (s["severity"], s["status"]) == ("high", "assessed")
    assert s["legal_basis"] == "consent of the system owner"
    assert s["description"] == "Logins from an unknown network at 03:00."
    assert window.case is not None and window.case.root == root
    assert window.nav.currentRow() == 1  # straight on to Collect
    assert "INC-2024-0042" in window.case_label.text()
    assert "Ledger head #" in window.head_label.text()
    # the case list shows it (read off the GUI thread)
    with qtbot.waitSignal(window.cases_view.loaded, timeout=30_000):
        window.cases_view.refresh()
    titles = [
        window.cases_view.table.item(r, 0).text() for r in range(window.cases_view.table.rowCount())
    ]
    assert "Suspicious logins on web-01" in titles


def test_new_case_in_a_non_empty_directory_is_refused_with_a_dialog(
    qtbot: Any, window: Any, alice: Any, tmp_path: Path, message_boxes: Any
) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "something").write_text("x")
    window.set_identity(alice)
    window.new_case()
    wizard = window.dialog
    qtbot.keyClicks(wizard.case_page.case_title, "x")
    wizard.case_page.directory.setText(str(busy))
    _next(qtbot, wizard)
    _finish(qtbot, wizard)
    assert wizard.isVisible()  # stays open to fix the input
    assert "not empty" in message_boxes.texts()[0]
    message_boxes.clear()


def test_wrong_passphrase_shows_an_error_dialog(
    qtbot: Any, window: Any, alice: Any, message_boxes: Any
) -> None:
    window.unlock_action.trigger()
    dialog = window.dialog
    assert isinstance(dialog, PassphraseDialog)
    qtbot.keyClicks(dialog.passphrase, "not the passphrase")
    qtbot.keyClick(dialog.passphrase, Qt.Key.Key_Return)
    assert len(message_boxes) == 1
    assert "wrong passphrase" in message_boxes.texts()[0]
    assert dialog.isVisible() and window.identity is None
    message_boxes.clear()
    dialog.passphrase.clear()
    qtbot.keyClicks(dialog.passphrase, PASSPHRASE)
    qtbot.keyClick(dialog.passphrase, Qt.Key.Key_Return)
    assert window.identity is not None and window.identity.fingerprint == alice.fingerprint
    assert not dialog.isVisible()
