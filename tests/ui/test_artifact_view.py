"""The artifact screen: filters, sorting, details with hashes, previews; 100,000 rows."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QGuiApplication
from sqlalchemy import insert

from app import browse
from custody.db.models import Case, LedgerEntry
from custody.db.projection import artifact_row, insert_rows
from custody.record.digests import Digests
from custody.record.events import ArtifactCollected, MemberRef, SourceFacts
from custody.record.times import utc_text
from tests.conftest import PASSPHRASE
from tests.ui.helpers import collect
from ui.artifact_model import CACHE_PAGES, PAGE, ArtifactTableModel
from ui.wizards import PassphraseDialog


def _rows(view: Any) -> int:
    return view.model.rowCount()


def _row_of(view: Any, text: str) -> int:
    model = view.model
    for r in range(model.rowCount()):
        if model.data(model.index(r, 0)) == text:
            return r
    raise AssertionError(f"{text} not listed")


def test_filters_details_hashes_and_previews(qtbot: Any, opened: Any, make_tree: Any) -> None:
    tree = make_tree(200)
    special = tree / "notes.txt"
    special.write_bytes(b"Chainproof preview \x00\x01\x02 bytes\n" + os.urandom(100_000))
    os.mkfifo(tree / "a-fifo")  # skipped, and recorded as such
    summary = collect(qtbot, opened, [f"{tree}/**"])
    assert summary.status == "finished" and summary.skipped == 1
    view = opened.artifact_view
    opened.show_page(2)
    assert _rows(view) == 203  # system record, 201 files, one skip

    view.collector.setCurrentIndex(view.collector.findData("files"))
    assert _rows(view) == 202
    view.collector.setCurrentIndex(view.collector.findData("system"))
    assert _rows(view) == 1
    view.collector.setCurrentIndex(0)

    qtbot.keyClicks(view.search, "f0001")  # f00010 .. f00019
    qtbot.waitUntil(lambda: _rows(view) == 10, timeout=3000)
    view.search.clear()
    qtbot.keyClicks(view.search, "/D3/")  # case-insensitive: d3/ holds every tenth file
    qtbot.waitUntil(lambda: _rows(view) == 20, timeout=3000)
    view.search.clear()
    qtbot.waitUntil(lambda: _rows(view) == 203, timeout=3000)

    qtbot.mouseClick(view.errors_only, Qt.MouseButton.LeftButton)
    assert _rows(view) == 1
    assert view.model.row_at(0).kind == "skipped"
    qtbot.mouseClick(view.errors_only, Qt.MouseButton.LeftButton)

    # details: hashes equal hashlib's of the source; the contents only once asked for
    view.select_row(_row_of(view, str(special)))
    details = view.details
    assert details.hash_fields["sha256"].text() == hashlib.sha256(special.read_bytes()).hexdigest()
    assert details.hash_fields["md5"].text() == hashlib.md5(special.read_bytes()).hexdigest()
    assert details.hex_view.toPlainText() == "" and details.text_view.toPlainText() == ""
    assert "records a signed access" in details.preview_note.text()
    qtbot.mouseClick(details.show_contents_button, Qt.MouseButton.LeftButton)
    first = details.hex_view.toPlainText().splitlines()[0]
    assert first.startswith("00000000  43 68 61 69 6e 70 72 6f 6f 66 20 70 72 65 76 69")
    assert details.text_view.toPlainText().startswith("Chainproof preview ␀")
    assert len(details.hex_view.toPlainText().splitlines()) == 64 * 1024 // 16  # capped
    assert f"first 65,536 of {special.stat().st_size:,} bytes" in details.preview_note.text()
    assert "covered by the signed" in details.signature.text()
    qtbot.mouseClick(_copy(details), Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == details.hash_fields["sha256"].text()

    # sorting happens in SQL: by size, largest first
    view.table.sortByColumn(3, Qt.SortOrder.DescendingOrder)
    assert view.model.row_at(0).name == str(special)


def _copy(details: Any) -> Any:
    from PySide6.QtWidgets import QPushButton

    return details.findChild(QPushButton, "copy_sha256")


class _CountingModel(ArtifactTableModel):
    """Counts the rows each query loads (the model's cost; bench_ui_stall.py times it)."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[int] = []
        self.keys: list[Sequence[int]] = []

    def _load_rows(self, keys: Sequence[int]) -> dict[int, Any]:
        self.loaded.append(len(keys))
        self.keys.append(keys)
        return super()._load_rows(keys)


def test_model_stays_fast_at_100k_rows(opened: Any) -> None:
    """100,000 recorded artifacts: listing loads only keys, and reading any row (after a far
    scroll, after a sort) loads one page of rows in one query, at most once while cached."""
    case = opened.case
    at = utc_text(dt.datetime.now(dt.UTC))
    run_id = "00000000-0000-4000-8000-000000000000"
    first = 1000
    ledger, index = [], []
    for i in range(100_000):
        event = ArtifactCollected(
            run_id=run_id,
            collector="files" if i % 3 else "logs",
            kind="file",
            member=MemberRef(
                name=f"m/{i:06d}",
                header_offset=i * 1024,
                data_offset=i * 1024 + 512,
                size=(i * 7919) % 100_000,
            ),
            digests=Digests(hashlib.sha256(str(i).encode()).hexdigest(), "0" * 40, "0" * 32),
            source=SourceFacts(path=f"/data/dir{i % 100}/file{i:06d}"),
        )
        # Rows as the ledger writer stores them; browsing does not check the chain.
        ledger.append(
            {
                "case_id": case.case_id,
                "seq": first + i,
                "at": at,
                "actor": "x" * 64,
                "event": event.EVENT,
                "payload": json.dumps(event.payload()),
                "prev_hash": "0" * 64,
                "entry_hash": "0" * 64,
            }
        )
        index.append(artifact_row(case.case_id, first + i, at, event))
    with case.sessions.begin() as s:
        s.execute(insert(LedgerEntry), ledger)
        insert_rows(s, "artifacts", index)
    model = _CountingModel()
    model.set_case(case)
    assert model.rowCount() == 100_000 and model.loaded == []  # keys only, no rows yet
    assert model.data(model.index(99_999, 0)).startswith("/data/")
    assert model.data(model.index(50_000, 1)) in ("files", "logs")
    assert model.data(model.index(50_001, 0)).startswith("/data/")  # same page: no query
    last = 100_000 - 99_999 // PAGE * PAGE  # the rows of the last, shorter page
    assert model.loaded == [last, PAGE] == [len(set(k)) for k in model.keys]
    model.sort(3, Qt.SortOrder.DescendingOrder)
    top = model.row_at(0)
    assert top.size >= model.row_at(1).size >= model.row_at(99_999).size
    assert model.loaded == [last, PAGE, PAGE, last]
    for row in range(0, 100_000, 997):  # a long scroll: each page is queried once
        model.row_at(row)
    pages = {r // PAGE for r in range(0, 100_000, 997)} - {0}
    assert len(model.loaded) == 4 + len(pages) and len(pages) > CACHE_PAGES
    model.row_at(997)  # evicted long ago: the model holds CACHE_PAGES pages, not the case
    assert len(model.loaded) == 5 + len(pages)
    model.set_filter(browse.ArtifactFilter(collector="logs", text="dir7"))
    assert 0 < model.rowCount() < 100_000
    assert model.rowCount(QModelIndex()) == sum(
        1 for i in range(0, 100_000, 3) if f"/data/dir{i % 100}/".startswith("/data/dir7")
    )


def test_open_case_that_is_not_a_case_shows_an_error(
    opened: Any, tmp_path: Path, message_boxes: Any
) -> None:
    opened.open_case_dir(tmp_path / "nowhere")
    assert "is not a Chainproof case" in message_boxes.texts()[0]
    message_boxes.clear()


def test_ctrl_f_focuses_the_filter(qtbot: Any, opened: Any) -> None:
    assert opened.filter_action.shortcut().toString() == "Ctrl+F"
    opened.activateWindow()
    qtbot.waitUntil(lambda: opened.isActiveWindow(), timeout=3000)
    opened.filter_action.trigger()
    assert opened.nav.currentRow() == 2
    qtbot.waitUntil(lambda: opened.artifact_view.search.hasFocus(), timeout=3000)


def _accesses(case: Any) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from custody.db.models import LedgerEntry

    with case.sessions() as s:
        rows = s.execute(
            select(LedgerEntry.payload, LedgerEntry.actor, LedgerEntry.signatures)
            .where(LedgerEntry.event == "accessed")
            .order_by(LedgerEntry.seq)
        ).all()
    import json

    return [{**json.loads(p), "actor": a, "signed": bool(sig)} for p, a, sig in rows]


def test_viewing_contents_is_recorded_once_per_session(
    qtbot: Any, opened: Any, make_tree: Any, alice: Any
) -> None:
    tree = make_tree(3)
    secret = tree / "secret.txt"
    secret.write_bytes(b"the evidence itself\n")
    collect(qtbot, opened, [f"{tree}/**"])
    opened.show_page(2)
    view, details, case = opened.artifact_view, opened.artifact_view.details, opened.case
    assert _accesses(case) == []

    view.select_row(_row_of(view, str(secret)))
    member = details.details["member"]
    assert _accesses(case) == []  # selecting shows metadata and hashes only
    assert details.show_contents_button.isEnabled()
    qtbot.mouseClick(details.show_contents_button, Qt.MouseButton.LeftButton)
    assert details.text_view.toPlainText() == "the evidence itself\n"
    accesses = _accesses(case)
    assert accesses == [
        {
            "purpose": browse.VIEW_PURPOSE,
            "by": alice.fingerprint,
            "artifacts": [member],
            "actor": alice.fingerprint,
            "signed": True,
        }
    ]
    assert not details.show_contents_button.isEnabled()

    # another artifact, then back: shown at once, not recorded twice in this session
    view.select_row(_row_of(view, str(tree / "d0" / "f00000.txt")))
    assert details.text_view.toPlainText() == "" and details.show_contents_button.isEnabled()
    view.select_row(_row_of(view, str(secret)))
    assert details.text_view.toPlainText() == "the evidence itself\n"
    assert len(_accesses(case)) == 1

    # the custody timeline lists the access
    opened.show_page(3)
    summaries = {
        opened.custody_view.model.row_at(r).event: opened.custody_view.model.row_at(r).summary
        for r in range(opened.custody_view.model.rowCount())
    }
    assert summaries["accessed"] == (
        f"Evidence accessed by Alice Examiner, 1 artifact: files{secret}. "
        f"Purpose: {browse.VIEW_PURPOSE}"
    )

    # locked: asking for contents asks for the passphrase first; nothing shown before
    opened.set_identity(None)
    opened.show_page(2)
    view.select_row(_row_of(view, str(tree / "d0" / "f00000.txt")))
    view.select_row(_row_of(view, str(secret)))
    assert details.text_view.toPlainText() == ""  # a new session for the new unlock
    qtbot.mouseClick(details.show_contents_button, Qt.MouseButton.LeftButton)
    dialog = opened.dialog
    assert isinstance(dialog, PassphraseDialog) and dialog.isVisible()
    assert details.text_view.toPlainText() == "" and len(_accesses(case)) == 1
    qtbot.keyClicks(dialog.passphrase, PASSPHRASE)
    qtbot.keyClick(dialog.passphrase, Qt.Key.Key_Return)
    assert details.text_view.toPlainText() == "the evidence itself\n"
    assert len(_accesses(case)) == 2


def test_failed_recording_shows_nothing(
    qtbot: Any, opened: Any, make_tree: Any, message_boxes: Any
) -> None:
    """If the access cannot be recorded (the case's row is gone), no byte is shown."""
    tree = make_tree(2)
    collect(qtbot, opened, [f"{tree}/**"])
    opened.show_page(2)
    view, details = opened.artifact_view, opened.artifact_view.details
    view.select_row(_row_of(view, str(tree / "d0" / "f00000.txt")))
    key = details.key
    assert key is not None
    with opened.case.sessions.begin() as s:
        s.query(Case).filter(Case.id == opened.case.case_id).delete()  # the ledger's lock row
    qtbot.mouseClick(details.show_contents_button, Qt.MouseButton.LeftButton)
    assert len(message_boxes) == 1 and "not in this database" in message_boxes.texts()[0]
    assert details.text_view.toPlainText() == "" and _accesses(opened.case) == []
    message_boxes.clear()
