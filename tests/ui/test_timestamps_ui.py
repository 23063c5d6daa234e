"""RFC 3161 timestamps from the desktop app, against a real local TSA (``openssl ts -reply``).

With ``tsa_url`` in settings.json, every signed entry the window writes (the case's first
entries, a collection, a journal entry, a seal, an export, a recorded verification) gets
``timestamps/<seq>.tsr``, which ``openssl ts -verify`` and ``verify --tsa-ca`` accept; the
Verify page counts them as ``case show`` does.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from app.desktop_timestamps import case_stamping
from app.paths import settings_file
from app.timestamps import timestamp_counts
from app.verification import verify_target
from custody.db.ledger import PROCESS_AFTER_COMMIT, read_entries
from tests.tsa_server import Tsa, run_tsa
from tests.ui.helpers import collect, verify_now
from ui.custody_dialogs import ExportDialog
from ui.dialogs import SealDialog

YES = QMessageBox.StandardButton.Yes


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tsa]:
    with run_tsa(tmp_path_factory.mktemp("tsa")) as running:
        yield running


def _settings(url: str | None) -> None:
    doc = {} if url is None else {"tsa_url": url}
    settings_file().write_text(json.dumps(doc), encoding="utf-8")


@pytest.fixture
def stamped_window(qtbot: Any, window: Any, make_case: Any, alice: Any, tsa: Tsa) -> Iterator[Any]:
    """The window with a new case open, stamped by the local TSA (settings.json)."""
    _settings(tsa.url)
    handle = make_case("Stamped from the window")
    window.set_identity(alice)
    window.open_case_dir(handle.root)
    assert window.stamps is not None
    yield window
    window.close()  # stops stamping: its hook leaves the process
    assert window.wait_for_stamps(30.0)
    assert all(h is not window.stamps for h in PROCESS_AFTER_COMMIT)


def _signed(case: Any) -> list[int]:
    return [e.seq for e in read_entries(case.sessions, case.case_id) if e.signatures]


def _tokens(case: Any) -> list[int]:
    folder = case.root / "timestamps"
    return sorted(int(p.stem) for p in folder.glob("*.tsr")) if folder.is_dir() else []


def _all_stamped(qtbot: Any, case: Any) -> list[int]:
    qtbot.waitUntil(lambda: _tokens(case) == _signed(case), timeout=30_000)
    return _signed(case)


def _openssl_ok(data: bytes, token: Path, ca: Path, tmp_path: Path) -> bool:
    body = tmp_path / "signed.json"
    body.write_bytes(data)
    out = subprocess.run(
        ["openssl", "ts", "-verify", "-data", str(body), "-in", str(token), "-CAfile", str(ca)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return out.strip() == "Verification: OK"


def _seal(qtbot: Any, w: Any, message_boxes: Any) -> float:
    """Seal through Case > Seal case…; how long the click took (the window's wait)."""
    w.seal_action.trigger()
    dialog = w.dialog
    assert isinstance(dialog, SealDialog)
    qtbot.keyClicks(dialog.reason, "collection complete")
    message_boxes.answers.append(YES)
    start = time.monotonic()
    qtbot.mouseClick(dialog.seal_button, Qt.MouseButton.LeftButton)
    took = time.monotonic() - start
    assert w.case.state().sealed
    message_boxes.clear()
    return took


def test_collect_and_seal_from_the_window_stamps_every_signed_entry(
    qtbot: Any,
    stamped_window: Any,
    make_tree: Any,
    message_boxes: Any,
    tsa: Tsa,
    tmp_path: Path,
) -> None:
    w = stamped_window
    case = w.case
    summary = collect(qtbot, w, [f"{make_tree(30)}/**"])
    assert summary.status == "finished"
    # The task waited for its tokens before it reported: the run's entries have them all,
    # and so do the case's first entries (written just before it was opened).
    assert _tokens(case) == _signed(case)
    w.show_page(3)
    w.custody_view.text.setPlainText("looked at the host")
    qtbot.mouseClick(w.custody_view.add_button, Qt.MouseButton.LeftButton)
    took = _seal(qtbot, w, message_boxes)
    assert took < 5.0  # the seal only queued its entry: the window never waits on the TSA
    seqs = _all_stamped(qtbot, case)
    events = {e.seq: e.event for e in read_entries(case.sessions, case.case_id, seqs=seqs)}
    assert {"case_opened", "identity_added", "run_started", "checkpoint", "note", "sealed"} <= set(
        events.values()
    )
    for e in read_entries(case.sessions, case.case_id, seqs=seqs):
        assert _openssl_ok(
            e.signed_bytes(), case.root / f"timestamps/{e.seq}.tsr", tsa.ca_pem, tmp_path
        )

    report = verify_now(qtbot, w)  # recorded: a signed 'verified' entry, stamped before the end
    assert report.ok, report.render()
    assert _tokens(case) == _signed(case)
    counts = timestamp_counts(case)
    assert counts["untimestamped"] == 0 and counts["stamped"] == len(_signed(case))
    text = w.verify_view.timestamps.text()
    n = counts["signed"]
    assert f"{n} of {n} signed entries timestamped (RFC 3161)" in text and tsa.url in text
    checked = verify_target(case.root, tsa_ca=tsa.ca_pem)
    assert checked.ok, checked.render()
    assert checked.timestamps is not None and checked.timestamps["untimestamped"] == 0


def test_an_export_from_the_window_is_stamped_and_its_report_is_pades_b_t(
    qtbot: Any, stamped_window: Any, make_tree: Any, tsa: Tsa
) -> None:
    w = stamped_window
    collect(qtbot, w, [f"{make_tree(5)}/**"])
    w.export_action.trigger()
    dialog = w.dialog
    assert isinstance(dialog, ExportDialog)
    with qtbot.waitSignal(dialog.exported, timeout=120_000) as blocker:
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    bundle = blocker.args[0].path
    dialog.close()
    assert _tokens(w.case) == _signed(w.case)  # the 'exported' entry too, before the end
    signed = sorted(int(p.stem) for p in (bundle / "signatures").glob("*.json"))
    assert signed and sorted(int(p.stem) for p in (bundle / "timestamps").glob("*.tsr")) == signed
    with (bundle / "custody-report.pdf").open("rb") as f:
        info = PdfFileReader(f).embedded_signatures[0].signer_info
        unsigned = {a["type"].native for a in info["unsigned_attrs"]}
    assert "signature_time_stamp_token" in unsigned
    text = subprocess.run(
        ["pdftotext", str(bundle / "custody-report.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    flat = " ".join(text.split())
    n = len(signed)
    assert f"Signed entries timestamped {n} of {n}" in flat and "CN=Test TSA" in flat
    report = verify_target(bundle, tsa_ca=tsa.ca_pem)
    assert report.ok, report.render()


def test_without_an_authority_nothing_is_stamped_and_the_verify_page_says_where_to_set_one(
    qtbot: Any, window: Any, make_case: Any, alice: Any
) -> None:
    _settings(None)
    handle = make_case("Not stamped")
    window.set_identity(alice)
    window.open_case_dir(handle.root)
    assert window.stamps is None and case_stamping(handle) is None
    window.show_page(4)
    text = window.verify_view.timestamps.text()
    assert "0 of 2 signed entries timestamped (RFC 3161); 2 untimestamped" in text
    assert "tsa_url in settings.json" in text
    assert not (handle.root / "timestamps").exists()


def test_an_unreachable_authority_leaves_the_work_done_and_says_how_to_stamp_later(
    qtbot: Any, window: Any, make_case: Any, alice: Any, make_tree: Any
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/tsa"  # nothing listens once closed
    _settings(dead)
    handle = make_case("Offline")
    window.set_identity(alice)
    window.open_case_dir(handle.root)
    summary = collect(qtbot, window, [f"{make_tree(5)}/**"])
    assert summary.status == "finished"
    assert _tokens(window.case) == []
    window.show_page(4)
    text = window.verify_view.timestamps.text()
    assert "0 of" in text and "could not be reached" in text
    assert f"'chainproof timestamp {handle.root}'" in text
    window.close()
    assert window.wait_for_stamps(30.0)
