"""The export dialog encrypts a bundle for recipients (issue 19, item 1): two real recipient
certificates made here (RSA-3072 as PEM, P-256 as DER) are added through the dialog, shown
with their subject and SHA-256, and the export is a ``.zip.p7m`` that ``openssl cms
-decrypt`` opens for each, giving a bundle that ``chainproof verify`` passes; the ledger's
``exported`` names both. A file that is not a usable certificate is refused in the dialog
with the reason, and nothing is exported."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.hashes import SHA256
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from app.cli import main
from custody.db.ledger import read_entries
from custody.record.events import Exported, ExportStarted, parse
from tests.custody.envelope.conftest import Party, make_party
from tests.ui.helpers import collect
from ui.custody_dialogs import ExportDialog

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@pytest.fixture(scope="module")
def legal(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Party]:
    """Two recipients of a legal team: RSA-3072 and P-256, each key with its certificate."""
    d = tmp_path_factory.mktemp("legal")
    return {
        "rsa": make_party(d, "Counsel RSA", rsa.generate_private_key(65537, 3072)),
        "p256": make_party(d, "Counsel P256", ec.generate_private_key(ec.SECP256R1())),
    }


@pytest.fixture
def chosen_files(monkeypatch: pytest.MonkeyPatch) -> list[list[Path]]:
    """What the file chooser returns, one list per time it is opened (queued by the test)."""
    queue: list[list[Path]] = []

    def pick(*_args: Any, **_kwargs: Any) -> tuple[list[str], str]:
        return [str(p) for p in queue.pop(0)], ""

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", pick)
    return queue


def _dialog(qtbot: Any, window: Any, make_tree: Any) -> ExportDialog:
    collect(qtbot, window, [f"{make_tree(8)}/**"])
    window.export_action.trigger()
    dialog = window.dialog
    assert isinstance(dialog, ExportDialog)
    return dialog


def _events(window: Any) -> list[Any]:
    case = window.case
    return [parse(e) for e in read_entries(case.sessions, case.case_id)]


def _cli(*args: str | Path) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main([str(a) for a in args])
    return code, out.getvalue()


@needs_openssl
def test_an_export_encrypted_in_the_dialog_opens_with_openssl_for_each_and_verifies(
    qtbot: Any,
    opened: Any,
    make_tree: Any,
    legal: dict[str, Party],
    chosen_files: list[list[Path]],
    tmp_path: Path,
) -> None:
    dialog = _dialog(qtbot, opened, make_tree)
    box = dialog.encryption
    assert Path(dialog.out.text()).suffix == ""  # a folder until recipients are added
    der = tmp_path / "p256.der"
    der.write_bytes(legal["p256"].certificate.public_bytes(serialization.Encoding.DER))
    chosen_files.append([legal["rsa"].cert_pem, der])
    qtbot.mouseClick(box.add_button, Qt.MouseButton.LeftButton)

    lines = [box.list.item(i).text() for i in range(box.list.count())]
    rsa_fp, p256_fp = (legal[w].certificate.fingerprint(SHA256()).hex() for w in ("rsa", "p256"))
    assert lines == [
        f"Counsel RSA (RSA-3072) — CN=Counsel RSA\ncertificate SHA-256 {rsa_fp}",
        f"Counsel P256 (P-256) — CN=Counsel P256\ncertificate SHA-256 {p256_fp}",
    ]
    assert box.problem_text == ""
    out = Path(dialog.out.text())
    assert out.name.endswith(".zip.p7m") and not out.exists()
    assert dialog.as_zip.isChecked() and not dialog.as_zip.isEnabled()

    with qtbot.waitSignal(dialog.exported, timeout=300_000) as blocker:
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    result = blocker.args[0]
    assert result.path == out and out.is_file()
    fingerprints = [rsa_fp, p256_fp]
    assert [r.fingerprint for r in box.recipients] == fingerprints
    assert result.envelope.fingerprints == tuple(fingerprints)
    log = dialog.log.toPlainText()
    assert f".p7m SHA-256 {result.envelope.sha256}, encrypted to:" in log
    for fp in fingerprints:
        assert f"certificate SHA-256 {fp}" in log
    assert not dialog.report_button.isEnabled()  # the report is inside the envelope
    assert Path(dialog.out.text()).name.endswith(".zip.p7m")  # the next one, encrypted too
    assert Path(dialog.out.text()) != out

    (exported,) = [ev for ev in _events(opened) if isinstance(ev, Exported)]
    assert exported.encrypted_to == tuple(fingerprints)
    assert exported.p7m_sha256 == result.envelope.sha256
    assert exported.path == str(out)
    code, text = _cli("log", opened.case.root)
    assert code == 0, text
    assert f"encrypted to 2 recipient(s) ({rsa_fp[:16]}..., {p256_fp[:16]}...)" in text

    for who in ("rsa", "p256"):
        party = legal[who]
        plain = tmp_path / f"{who}.zip"
        done = subprocess.run(
            [
                *("openssl", "cms", "-decrypt", "-inform", "DER", "-in", str(out)),
                *("-recip", str(party.cert_pem), "-inkey", str(party.key_pem)),
                *("-out", str(plain)),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        code, text = _cli("verify", plain)
        assert code == 0, text


def test_recipients_are_removed_with_the_button_or_delete_and_the_name_follows(
    qtbot: Any,
    opened: Any,
    make_tree: Any,
    legal: dict[str, Party],
    chosen_files: list[list[Path]],
) -> None:
    dialog = _dialog(qtbot, opened, make_tree)
    box = dialog.encryption
    dialog.as_zip.setChecked(True)
    plain_zip = Path(dialog.out.text())
    assert plain_zip.suffix == ".zip"
    chosen_files.append([legal["rsa"].cert_pem])
    chosen_files.append([legal["p256"].cert_pem, legal["rsa"].cert_pem])  # the second: listed
    qtbot.mouseClick(box.add_button, Qt.MouseButton.LeftButton)
    assert dialog.out.text() == f"{plain_zip}.p7m"
    qtbot.mouseClick(box.add_button, Qt.MouseButton.LeftButton)
    assert [r.name for r in box.recipients] == ["Counsel RSA", "Counsel P256"]
    assert "listed already" in box.problem_text and box.problem.isVisible()

    assert not box.remove_button.isEnabled()  # nothing selected yet
    box.list.setCurrentRow(0)
    assert box.remove_button.isEnabled()
    qtbot.mouseClick(box.remove_button, Qt.MouseButton.LeftButton)
    assert [r.name for r in box.recipients] == ["Counsel P256"]
    assert box.problem_text == ""  # the list changed: the old refusal is gone
    box.list.setFocus()
    box.list.setCurrentRow(0)
    qtbot.keyClick(box.list, Qt.Key.Key_Delete)
    assert box.recipients == ()
    assert dialog.out.text() == str(plain_zip)  # back to the plain zip
    assert dialog.as_zip.isEnabled()


def test_the_encryption_controls_are_reached_with_tab(
    qtbot: Any, opened: Any, make_tree: Any
) -> None:
    dialog = _dialog(qtbot, opened, make_tree)
    box = dialog.encryption
    dialog.out.setFocus(Qt.FocusReason.TabFocusReason)
    reached = []
    widget = dialog.out
    for _ in range(12):
        widget = widget.nextInFocusChain()
        if widget.focusPolicy() & Qt.FocusPolicy.TabFocus and widget.isEnabled():
            reached.append(widget)
    assert box.list in reached and box.add_button in reached
    assert reached.index(box.list) < reached.index(box.add_button)
    assert box.add_button.text().startswith("&A")  # Alt+A


@pytest.mark.parametrize("kind", ["garbage", "private key", "RSA-1024", "P-384"])
def test_a_bad_certificate_file_is_refused_in_the_dialog_and_nothing_is_exported(
    qtbot: Any,
    opened: Any,
    make_tree: Any,
    message_boxes: Any,
    chosen_files: list[list[Path]],
    tmp_path: Path,
    kind: str,
) -> None:
    dialog = _dialog(qtbot, opened, make_tree)
    box = dialog.encryption
    before = Path(dialog.out.text())
    bad = tmp_path / "counsel.pem"
    expected = {
        "garbage": "holds no X.509 certificate (PEM or DER)",
        "private key": "holds no X.509 certificate (PEM or DER): give the recipient's "
        "certificate, never a private key",
        "RSA-1024": "has an RSA key of 1024 bits: at least 2048 are required",
        "P-384": "has an EC key on secp384r1: only P-256 (secp256r1) or RSA recipients",
    }[kind]
    if kind == "garbage":
        bad.write_bytes(b"not a certificate\n")
    elif kind == "private key":
        key = ec.generate_private_key(ec.SECP256R1())
        bad.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    else:
        key = (
            rsa.generate_private_key(65537, 1024)
            if kind == "RSA-1024"
            else ec.generate_private_key(ec.SECP384R1())
        )
        bad = make_party(tmp_path / "bad", kind, key).cert_pem
    chosen_files.append([bad])
    qtbot.mouseClick(box.add_button, Qt.MouseButton.LeftButton)

    assert box.recipients == () and box.list.count() == 0
    assert box.problem.isVisible()
    assert box.problem_text.startswith(f"✗ Not added: {bad}")
    assert expected in box.problem_text
    assert Path(dialog.out.text()) == before  # not renamed for an encrypted bundle

    # Export now: the examiner is asked whether to export in clear; going back exports nothing.
    message_boxes.answers.append(QMessageBox.StandardButton.No)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert message_boxes[-1] == (
        "A recipient certificate was not added",
        "Export the bundle NOT encrypted, readable by anyone who has it?",
    )
    message_boxes.clear()
    assert dialog.worker is None and "Nothing was exported." in dialog.log.toPlainText()
    assert list(opened.case.exports_dir.iterdir()) == []
    assert not [ev for ev in _events(opened) if isinstance(ev, ExportStarted | Exported)]


def test_a_p7m_name_without_recipients_is_refused(
    qtbot: Any, opened: Any, make_tree: Any, message_boxes: Any
) -> None:
    dialog = _dialog(qtbot, opened, make_tree)
    dialog.out.setText(str(opened.case.exports_dir / "for-counsel.zip.p7m"))
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert message_boxes[-1] == (
        "Not exported",
        "for-counsel.zip.p7m names an encrypted bundle, but no recipient is listed.",
    )
    message_boxes.clear()
    assert dialog.worker is None
    assert list(opened.case.exports_dir.iterdir()) == []
