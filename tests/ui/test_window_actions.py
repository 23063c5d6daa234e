"""The window's actions: seal, verify a bundle, export the certificate, Help and About, the
export dialog (a fresh path each time, a failed case with its failure stated, a PDF that no
program opens), custody with its custodian and hand-overs, and extracting an artifact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QMessageBox

from app.export_service import export_case
from app.identity import write_certificate_file
from app.paths import identity_file
from app.version import __version__
from custody.record.keys import save_identity
from tests.conftest import PASSPHRASE
from tests.ui.helpers import collect, flip_artifact_byte
from ui.bundle_dialog import BundleVerifyDialog
from ui.custody_dialogs import ExportDialog, TransferDialog
from ui.dialogs import SealDialog
from ui.extract_dialog import ExtractDialog

YES, NO = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No


def _events(case: Any) -> list[str]:
    from custody.db.ledger import read_entries

    return [e.event for e in read_entries(case.sessions, case.case_id)]


def test_seal_records_a_sealed_entry_only_after_confirmation(
    qtbot: Any, opened: Any, message_boxes: Any
) -> None:
    before = _events(opened.case)
    opened.seal_action.trigger()  # Case > Seal case…
    dialog = opened.dialog
    assert isinstance(dialog, SealDialog)
    assert not dialog.seal_button.isEnabled(), "a seal without a reason"
    qtbot.keyClicks(dialog.reason, "collection complete; handed to legal")
    message_boxes.answers.append(NO)
    qtbot.mouseClick(dialog.seal_button, Qt.MouseButton.LeftButton)
    assert len(message_boxes) == 1 and "Seal" in message_boxes.texts()[0]
    assert _events(opened.case) == before, "sealed without confirmation"
    assert dialog.isVisible()

    message_boxes.answers.append(YES)
    qtbot.mouseClick(dialog.seal_button, Qt.MouseButton.LeftButton)
    events = _events(opened.case)
    assert events == [*before, "sealed"]
    assert opened.case.state().seal.event.reason == "collection complete; handed to legal"
    assert not dialog.isVisible()
    # no more collection: the action, the button and the screen say so
    assert not opened.collect_action.isEnabled() and not opened.seal_action.isEnabled()
    opened.show_page(1)
    assert not opened.collect_view.start_button.isEnabled()
    assert "sealed" in opened.collect_view.state_label.text()
    opened.show_page(3)
    assert "Sealed" in opened.custody_view.custodian.text()
    assert "sealed" in opened.case_label.text()
    message_boxes.clear()


@pytest.fixture
def bundles(qtbot: Any, opened: Any, make_tree: Any, alice: Any, tmp_path: Path) -> Any:
    """A directory bundle and a zip bundle of a collected case."""
    collect(qtbot, opened, [f"{make_tree(10)}/**"])
    folder = export_case(opened.case, alice, tmp_path / "bundle").path
    zipped = export_case(opened.case, alice, tmp_path / "bundle.zip", as_zip=True).path
    return folder, zipped


def _verify_bundle(qtbot: Any, window: Any, target: Path) -> BundleVerifyDialog:
    window.bundle_action.trigger()  # File > Verify a bundle… (Ctrl+Shift+O)
    dialog = window.dialog
    assert isinstance(dialog, BundleVerifyDialog)
    dialog.path.setText(str(target))
    with qtbot.waitSignal(dialog.verified, timeout=120_000):
        qtbot.mouseClick(dialog.verify_button, Qt.MouseButton.LeftButton)
    return dialog


@pytest.mark.parametrize("kind", ["directory", "zip"])
def test_verify_a_bundle_and_a_tampered_one(
    qtbot: Any, opened: Any, bundles: Any, kind: str
) -> None:
    target = bundles[0] if kind == "directory" else bundles[1]
    dialog = _verify_bundle(qtbot, opened, target)
    assert "VERIFIED" in dialog.banner.text() and dialog.report.ok
    assert "Alice Examiner" in dialog.banner.text()  # who signed it
    assert dialog.findings.rowCount() == 0
    dialog.close()

    if kind == "directory":
        with (target / "VERIFY.md").open("a") as f:
            f.write("\nOne line more.\n")
    else:
        data = bytearray(target.read_bytes())
        data[len(data) // 3] ^= 0x01
        target.write_bytes(bytes(data))
    dialog = _verify_bundle(qtbot, opened, target)
    assert "FAILED" in dialog.banner.text() and not dialog.report.ok
    assert dialog.findings.rowCount() == len(dialog.report.findings) >= 1
    first = dialog.report.findings[0]
    assert dialog.findings.item(0, 1).text() == first.code
    assert dialog.findings.item(0, 2).text() == first.message


def test_export_certificate_writes_the_identitys_pem(
    qtbot: Any, window: Any, alice: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "alice.pem"
    asked: list[str] = []

    def save_as(*args: Any, **_kw: Any) -> tuple[str, str]:
        asked.append(args[2])  # the proposed file
        return str(out), "PEM certificate (*.pem *.crt)"

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_as)
    window.set_identity(alice)
    window.certificate_action.trigger()  # File > Export my certificate…
    assert out.read_text() == alice.certificate_pem()
    assert asked and asked[0].endswith(".pem")
    assert str(out) in window.message_label.text()

    # locked: the public copy beside the identity file serves, no passphrase asked
    out.unlink()
    window.set_identity(None)
    write_certificate_file(identity_file(), alice.certificate)
    window.certificate_action.trigger()
    assert out.read_text() == alice.certificate_pem()
    assert window.dialog is None


def test_about_shows_the_version_and_the_documentation(
    window: Any, message_boxes: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    window.about_action.trigger()  # Help > About Chainproof
    assert message_boxes[0][0] == "About Chainproof"
    assert __version__ in message_boxes[0][1]
    message_boxes.clear()
    opened_urls: list[str] = []
    monkeypatch.setattr(
        QDesktopServices, "openUrl", lambda url: opened_urls.append(url.toLocalFile()) or True
    )
    window.help_action.trigger()  # Help > Documentation (F1)
    assert opened_urls and opened_urls[0].endswith("README.md")
    assert not message_boxes


def _export(qtbot: Any, dialog: ExportDialog) -> Any:
    with qtbot.waitSignal(dialog.exported, timeout=120_000) as blocker:
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def test_second_export_goes_to_a_fresh_path_and_a_report_no_program_opens_is_said(
    qtbot: Any, opened: Any, make_tree: Any, monkeypatch: pytest.MonkeyPatch, message_boxes: Any
) -> None:
    collect(qtbot, opened, [f"{make_tree(5)}/**"])
    opened.export_action.trigger()
    dialog = opened.dialog
    assert isinstance(dialog, ExportDialog)
    first = Path(dialog.out.text())
    assert not first.exists() and first.parent == opened.case.exports_dir
    assert _export(qtbot, dialog).path == first and first.is_dir()
    second = Path(dialog.out.text())
    assert second != first and not second.exists(), "the next export proposes a used path"
    assert dialog.start_button.isEnabled()
    assert _export(qtbot, dialog).path == second and second.is_dir()
    dialog.close()
    opened.export_action.trigger()  # a new dialog proposes a fresh path too
    assert Path(opened.dialog.out.text()) not in (first, second)
    opened.dialog.as_zip.setChecked(True)
    assert opened.dialog.out.text().endswith(".zip")
    opened.dialog.close()

    monkeypatch.setattr(QDesktopServices, "openUrl", lambda _url: False)
    qtbot.mouseClick(dialog.report_button, Qt.MouseButton.LeftButton)
    assert [t for t, _ in message_boxes] == ["Cannot open the PDF report"]
    assert "No program opened the PDF report" in message_boxes.texts()[0]
    message_boxes.clear()


def test_a_case_that_fails_verification_is_exported_only_when_confirmed_with_the_failure(
    qtbot: Any, opened: Any, make_tree: Any, message_boxes: Any
) -> None:
    tree = make_tree(5)
    collect(qtbot, opened, [f"{tree}/**"])
    flip_artifact_byte(opened.case, tree / "d1" / "f00001.txt")
    before = _events(opened.case)
    opened.export_action.trigger()
    dialog = opened.dialog
    out = Path(dialog.out.text())
    message_boxes.answers.append(NO)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert dialog.worker is not None
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=120_000)
    assert len(message_boxes) == 1 and "fails verification" in message_boxes.texts()[0]
    assert "Nothing was exported" in dialog.log.toPlainText()
    assert not out.exists() and _events(opened.case) == before
    message_boxes.clear()

    message_boxes.answers.append(YES)
    with qtbot.waitSignal(dialog.exported, timeout=120_000) as blocker:
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    result = blocker.args[0]
    assert result.path == out and out.is_dir() and not result.verified
    assert "failed verification" in dialog.log.toPlainText()
    manifest = json.loads((out / "manifest.json").read_text())
    assert "fail" in json.dumps(manifest).lower()
    exported = opened.case.state().exports[-1].event
    assert exported.verification == "failed" and exported.findings >= 1
    message_boxes.clear()


def test_custody_shows_the_custodian_and_every_hand_over(
    qtbot: Any, opened: Any, alice: Any, bob_identity: Any, tmp_path: Path, message_boxes: Any
) -> None:
    opened.show_page(3)
    view = opened.custody_view
    assert "Custodian: Alice Examiner (Example Forensics)" in view.custodian.text()
    assert "0 transfers" in view.custodian.text()
    bob_file = tmp_path / "bob.p12"
    save_identity(bob_identity, bob_file, b"bob's long passphrase 42")
    write_certificate_file(bob_file, bob_identity.certificate)  # bob.pem: shown unlocked
    write_certificate_file(identity_file(), alice.certificate)
    opened.transfer_action.trigger()
    dialog = opened.dialog
    assert isinstance(dialog, TransferDialog)
    assert "Alice Examiner" in dialog.current.text()  # who holds it now
    qtbot.keyClicks(dialog.from_pass, PASSPHRASE)
    dialog.to_file.setText(str(bob_file))
    assert "Bob Receiver (Example Legal)" in dialog.to_who.text()
    qtbot.keyClicks(dialog.to_pass, "bob's long passphrase 42")
    qtbot.keyClicks(dialog.reason, "handed to legal for review")
    qtbot.keyClicks(dialog.location, "Evidence room 2")
    summary = dialog.summary.text()
    assert "Alice Examiner hands the evidence" in summary and "to Bob Receiver" in summary
    assert "Evidence room 2" in summary and "handed to legal for review" in summary
    message_boxes.answers.append(NO)
    dialog.accept()
    assert dialog.seq is None and "transferred" not in _events(opened.case)
    message_boxes.answers.append(YES)
    dialog.accept()
    assert dialog.seq is not None
    message_boxes.clear()

    opened.show_page(3)
    text = view.custodian.text()
    assert "Custodian: Bob Receiver (Example Legal)" in text and f"entry {dialog.seq}" in text
    assert "1 transfer" in text
    row = [view.transfers.item(0, c).text() for c in range(view.transfers.columnCount())]
    assert row[0] == str(dialog.seq)
    assert row[2:] == [
        "Alice Examiner (Example Forensics)",
        "Bob Receiver (Example Legal)",
        "handed to legal for review",
        "Evidence room 2",
    ]


def test_extract_an_artifact_records_the_access_and_writes_its_bytes(
    qtbot: Any, opened: Any, make_tree: Any, tmp_path: Path
) -> None:
    tree = make_tree(10)
    collect(qtbot, opened, [f"{tree}/**"])
    source = tree / "d4" / "f00004.txt"
    opened.show_page(2)
    view = opened.artifact_view
    model = view.model
    view.select_row(
        next(r for r in range(model.rowCount()) if model.data(model.index(r, 0)) == str(source))
    )
    opened.extract_action.trigger()  # Case > Extract artifact… (Ctrl+Shift+X)
    dialog = opened.dialog
    assert isinstance(dialog, ExtractDialog)
    assert not dialog.extract_button.isEnabled(), "an extraction without a purpose"
    dest = tmp_path / "out"
    dialog.folder.setText(str(dest))
    qtbot.keyClicks(dialog.purpose, "malware analysis")
    with qtbot.waitSignal(dialog.extracted, timeout=60_000) as blocker:
        qtbot.mouseClick(dialog.extract_button, Qt.MouseButton.LeftButton)
    result = blocker.args[0]
    assert result.status == "extracted"
    assert result.path.read_bytes() == source.read_bytes()
    assert result.path.is_relative_to(dest)
    access = opened.case.state().access[-1]
    assert access.seq == result.access_seq and "malware analysis" in access.event.purpose
    assert "extracted" in dialog.outcome.text().lower() or "✓" in dialog.outcome.text()
