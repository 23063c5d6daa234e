"""Custody screen (timeline, ledger, journal, transfer), verification and window settings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from sqlalchemy import select

from app.paths import config_dir
from custody.db.models import Artifact, LedgerEntry
from custody.record.keys import save_identity
from tests.conftest import PASSPHRASE
from tests.ui.helpers import collect
from ui.custody_dialogs import ExportDialog, TransferDialog
from ui.errors import error_text, show_error


def _ledger_events(window: Any) -> list[tuple[str, str]]:
    window.show_page(3)  # hidden pages refresh when shown
    model = window.custody_view.model
    return [
        (model.data(model.index(r, 2)), model.data(model.index(r, 4)))
        for r in range(model.rowCount())
    ]


def test_missing_archive_marks_every_artifact_of_its_run(
    qtbot: Any, opened: Any, make_tree: Any
) -> None:
    tree = make_tree(20)
    collect(qtbot, opened, [f"{tree}/**"])
    (archive,) = opened.case.evidence_dir.glob("*.tar")
    archive.rename(archive.with_suffix(".moved"))
    vv = opened.verify_view
    with qtbot.waitSignal(vv.verified, timeout=60_000) as blocker:
        qtbot.mouseClick(vv.verify_button, Qt.MouseButton.LeftButton)
    report = blocker.args[0]
    missing = [f for f in report.findings if f.code == "archive.missing"]
    assert len(missing) == 1 and missing[0].seq is None and missing[0].run_id
    model = vv.artifacts
    col = model.columnCount() - 1
    states = {model.data(model.index(r, col)) for r in range(model.rowCount())}
    assert states == {"FAILED"} and model.rowCount() == 21  # 20 files and system.json


def test_journal_note_appears_in_the_ledger_and_timeline(qtbot: Any, opened: Any) -> None:
    opened.note_action.trigger()
    view = opened.custody_view
    assert opened.nav.currentRow() == 3
    before = view.chart.points
    qtbot.keyClicks(view.text, "Took the web server off the load balancer.")
    view.kind.setCurrentIndex(view.kind.findData("action"))
    qtbot.mouseClick(view.add_button, Qt.MouseButton.LeftButton)
    assert ("note", "[action] Took the web server off the load balancer.") in _ledger_events(opened)
    assert view.chart.points == before + 1
    assert view.text.toPlainText() == ""


def test_decision_needs_a_reason(qtbot: Any, opened: Any, message_boxes: Any) -> None:
    opened.show_page(3)
    view = opened.custody_view
    view.kind.setCurrentIndex(view.kind.findData("decision"))
    qtbot.keyClicks(view.text, "Isolate web-01")
    qtbot.mouseClick(view.add_button, Qt.MouseButton.LeftButton)
    assert "needs its reason" in message_boxes.texts()[0]
    message_boxes.clear()
    qtbot.keyClicks(view.reason, "active attacker session")
    qtbot.mouseClick(view.add_button, Qt.MouseButton.LeftButton)
    assert (
        "decision",
        "Decision: Isolate web-01. Reason: active attacker session",
    ) in _ledger_events(opened)


def test_verify_green_then_red_after_one_flipped_byte(
    qtbot: Any, opened: Any, make_tree: Any
) -> None:
    tree = make_tree(50)
    collect(qtbot, opened, [f"{tree}/**"])
    vv = opened.verify_view
    with qtbot.waitSignal(vv.verified, timeout=60_000) as blocker:
        opened.verify_action.trigger()  # Ctrl+Shift+V
    report = blocker.args[0]
    assert report.ok and report.artifacts == 51
    assert "VERIFIED" in vv.banner.text()
    model = vv.artifacts
    col = model.columnCount() - 1
    assert {model.data(model.index(r, col)) for r in range(model.rowCount())} == {"verified"}
    # the verification itself was signed into the ledger
    assert any(e == "verified" for e, _ in _ledger_events(opened))

    victim = tree / "d3" / "f00013.txt"
    with opened.case.sessions() as s:
        art = s.scalars(select(Artifact).where(Artifact.source_path == str(victim))).one()
        archive = opened.case.evidence_dir / f"{art.run_id}.tar"
        seq = art.seq
        offset = art.data_offset
    archive.chmod(0o644)
    with archive.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x01]))
    with qtbot.waitSignal(vv.verified, timeout=60_000) as blocker:
        qtbot.mouseClick(vv.verify_button, Qt.MouseButton.LeftButton)
    report = blocker.args[0]
    assert not report.ok
    assert "FAILED" in vv.banner.text()
    assert vv.findings.rowCount() >= 1 and "entry" in vv.findings.item(0, 0).text()
    states = {
        model.data(model.index(r, 0)): model.data(model.index(r, col))
        for r in range(model.rowCount())
    }
    assert states[str(victim)] == "FAILED"
    assert sum(1 for v in states.values() if v == "FAILED") == 1
    entries = vv.entries
    failed_rows = [
        r for r in range(entries.rowCount()) if entries.data(entries.index(r, 6)) == "FAILED"
    ]
    assert [entries.data(entries.index(r, 0)) for r in failed_rows] == [seq]
    red = model.data(
        model.index(list(states).index(str(victim)), col), Qt.ItemDataRole.ForegroundRole
    )
    assert red.color().name() == "#b3261e"
    # the artifact screen says so too
    opened.show_page(2)
    av = opened.artifact_view
    av.select_row(
        next(
            r
            for r in range(av.model.rowCount())
            if av.model.data(av.model.index(r, 0)) == str(victim)
        )
    )
    assert "VERIFICATION FAILED" in av.details.signature.text()


def test_transfer_is_signed_by_both_examiners(
    qtbot: Any, opened: Any, bob_identity: Any, tmp_path: Path, message_boxes: Any
) -> None:
    bob_file = tmp_path / "bob.p12"
    save_identity(bob_identity, bob_file, b"bob's long passphrase 42")
    opened.transfer_action.trigger()
    dialog = opened.dialog
    assert isinstance(dialog, TransferDialog)
    qtbot.keyClicks(dialog.from_pass, PASSPHRASE)
    dialog.to_file.setText(str(bob_file))
    qtbot.keyClicks(dialog.to_pass, "bob's long passphrase 42")
    qtbot.keyClicks(dialog.reason, "handed to legal for review")
    qtbot.keyClicks(dialog.location, "Evidence room 2")
    message_boxes.answers.append(QMessageBox.StandardButton.Yes)  # the hand-over, confirmed
    dialog.accept()
    assert len(message_boxes) == 1 and "Bob Receiver" in message_boxes.texts()[0]
    message_boxes.clear()
    assert dialog.seq is not None
    with opened.case.sessions() as s:
        entry = s.scalars(select(LedgerEntry).where(LedgerEntry.seq == dialog.seq)).one()
    assert entry.event == "transferred" and entry.signatures and entry.signatures.count('"by"') == 2
    assert any(e == "transferred" for e, _ in _ledger_events(opened))


@pytest.mark.parametrize("as_zip", [False, True])
def test_export_dialog_writes_a_bundle_and_opens_its_report(
    qtbot: Any, opened: Any, make_tree: Any, monkeypatch: pytest.MonkeyPatch, as_zip: bool
) -> None:
    from PySide6.QtGui import QDesktopServices

    opened_urls: list[str] = []
    monkeypatch.setattr(
        QDesktopServices, "openUrl", lambda url: opened_urls.append(url.toLocalFile()) or True
    )
    collect(qtbot, opened, [f"{make_tree(20)}/**"])
    opened.export_action.trigger()  # Ctrl+E
    dialog = opened.dialog
    assert isinstance(dialog, ExportDialog)
    dialog.as_zip.setChecked(as_zip)
    with qtbot.waitSignal(dialog.exported, timeout=120_000) as blocker:
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    result = blocker.args[0]
    assert result.path == dialog.result_path and result.path.exists()
    assert result.path.suffix == (".zip" if as_zip else "")
    assert "manifest.json SHA-256" in dialog.log.toPlainText()
    assert dialog.report_button.isEnabled()
    qtbot.mouseClick(dialog.report_button, Qt.MouseButton.LeftButton)
    assert opened_urls and opened_urls[0].endswith("custody-report.pdf")
    assert Path(opened_urls[0]).read_bytes().startswith(b"%PDF")
    assert any(e == "exported" for e, _ in _ledger_events(opened))


def test_window_state_is_remembered(qtbot: Any, opened: Any) -> None:
    from ui.main_window import MainWindow

    opened.resize(1111, 777)
    opened.show_page(3)
    opened.close()
    ini = config_dir() / "gui.ini"
    assert ini.exists() and "geometry" in ini.read_text()
    again = MainWindow()
    qtbot.addWidget(again)
    assert again.cases_view.recent[0] == opened.case.root.resolve()
    assert again.nav.currentRow() == 0  # no case open yet: the case list
    again.open_case_dir(again.cases_view.recent[0])
    assert again.case is not None


def test_unexpected_errors_are_shown_with_their_traceback(message_boxes: Any) -> None:
    try:
        raise ValueError("boom")
    except ValueError as exc:
        text, details = error_text(exc)
        show_error(None, exc)
    assert "ValueError: boom" in text and details and "Traceback" in details
    assert message_boxes.texts() == [text]
    message_boxes.clear()


def test_accessible_names_on_controls(opened: Any) -> None:
    from PySide6.QtWidgets import QAbstractButton, QLineEdit

    unnamed = [
        w.objectName() or w.metaObject().className()
        for cls in (QLineEdit, QAbstractButton)
        for w in opened.findChildren(cls)
        if w.isVisibleTo(opened)
        and not w.accessibleName()
        and not (isinstance(w, QAbstractButton) and w.text())
        and type(w).__name__ in ("QLineEdit", "QPushButton")
    ]
    assert not unnamed
    assert os.environ["CHAINPROOF_HOME"]
