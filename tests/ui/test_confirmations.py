"""Acts that cannot be undone ask first: stopping a collection, replacing the examiner key."""

from __future__ import annotations

import datetime as dt
import stat
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWizard

from app.paths import identity_file
from custody.record.keys import load_identity
from tests.conftest import PASSPHRASE
from tests.ui.helpers import press_escape, start_collection
from ui.wizards import IdentityWizard

YES, NO = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No


def test_escape_asks_before_it_stops_a_collection(
    qtbot: Any, opened: Any, make_tree: Any, message_boxes: Any
) -> None:
    tree = make_tree(1500, size=4096)
    view = opened.collect_view
    message_boxes.answers.append(NO)
    pressed: list[int] = []

    def escape_once(snap: Any) -> None:
        files = [c for c in snap.collectors if c.name == "files"]
        if not pressed and files and files[0].done > 0:
            pressed.append(files[0].done)
            press_escape(qtbot, opened)

    view.snapshot_shown.connect(escape_once)
    with qtbot.waitSignal(view.run_finished, timeout=120_000) as blocker:
        start_collection(qtbot, opened, [f"{tree}/**"])
    assert pressed, "no progress arrived before the run ended"
    assert blocker.args[0].status == "finished", "Esc stopped the run without asking"
    assert len(message_boxes) == 1 and "Stop the collection?" in message_boxes.texts()[0]
    message_boxes.clear()


def test_create_identity_asks_and_keeps_a_dated_backup_of_the_old_key(
    qtbot: Any, window: Any, alice: Any, message_boxes: Any
) -> None:
    path = identity_file()
    old = path.read_bytes()
    message_boxes.answers.append(NO)
    window.identity_action.trigger()  # File > Create identity
    assert len(message_boxes) == 1, "the examiner key is replaced without asking"
    assert "replace" in message_boxes.texts()[0].lower()
    assert not isinstance(window.dialog, IdentityWizard)
    assert path.read_bytes() == old

    message_boxes.answers.append(YES)
    window.identity_action.trigger()
    wizard = window.dialog
    assert isinstance(wizard, IdentityWizard)
    qtbot.keyClicks(wizard.details.name, "Dave Examiner")
    qtbot.keyClicks(wizard.details.org, "Example Forensics")
    qtbot.keyClicks(wizard.details.email, "dave@example.org")
    qtbot.mouseClick(wizard.button(QWizard.WizardButton.NextButton), Qt.MouseButton.LeftButton)
    qtbot.keyClicks(wizard.secret.passphrase, PASSPHRASE)
    qtbot.keyClicks(wizard.secret.confirm, PASSPHRASE)
    days = {dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")}
    qtbot.mouseClick(wizard.button(QWizard.WizardButton.FinishButton), Qt.MouseButton.LeftButton)
    days.add(dt.datetime.now(dt.UTC).strftime("%Y-%m-%d"))

    assert load_identity(path, PASSPHRASE.encode()).name == "Dave Examiner"
    backups = [p for p in path.parent.iterdir() if p.suffix == ".p12" and p != path]
    assert len(backups) == 1, f"no backup of the old key next to {path}"
    backup = backups[0]
    assert any(day in backup.name for day in days)
    assert backup.read_bytes() == old
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert load_identity(backup, PASSPHRASE.encode()).fingerprint == alice.fingerprint
    assert window.identity is not None and window.identity.name == "Dave Examiner"
    message_boxes.clear()
