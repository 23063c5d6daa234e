"""The artifact screen: a filterable table of everything collected, and a details pane."""

from __future__ import annotations

import string
from collections.abc import Hashable
from typing import Any

from PySide6.QtCore import QItemSelection, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontMetrics, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app import browse
from app.cases import CaseHandle
from app.integrity import Verification
from app.times import shown
from ui import theme
from ui.artifact_model import ArtifactTableModel
from ui.errors import show_error
from ui.integrity import findings_text
from ui.keyboard import KeepSelection

HEX_WIDTH = 16


def mono() -> QFont:
    font = QFont("DejaVu Sans Mono")
    font.setStyleHint(QFont.StyleHint.Monospace)
    font.setFixedPitch(True)
    return font


def hex_dump(data: bytes, width: int = HEX_WIDTH) -> str:
    """Offset, hex bytes and printable ASCII, ``width`` bytes a line."""
    printable = set(string.printable.encode()) - set(b"\t\n\r\x0b\x0c")
    lines = []
    for off in range(0, len(data), width):
        chunk = data[off : off + width]
        hexpart = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if b in printable else "." for b in chunk)
        lines.append(f"{off:08x}  {hexpart:<{width * 3 - 1}}  {text}")
    return "\n".join(lines)


def text_preview(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace")
    return text.replace("\x00", "␀")


class ArtifactDetails(QWidget):
    """Metadata, hashes (with copy buttons), signature status and a text/hex preview.

    The evidence contents are shown only on request (``contents_requested``): the window
    records a signed access in the ledger first, then calls :meth:`show_contents`. Contents
    this examiner already opened in this session are shown again at once, unrecorded.
    """

    #: The examiner asks to see the contents of the artifact with this key.
    contents_requested = Signal(int)
    #: The examiner asks to extract the artifact with this key to a folder.
    extract_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.case: CaseHandle | None = None
        self.key: int | None = None
        #: Artifact keys whose contents were opened (and recorded) in this session.
        self.viewed: set[int] = set()
        self.details: dict[str, Any] = {}
        #: The case's verification the pane speaks of: a fresh check, or the ledger's last.
        self.verification: Verification | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel("Select an artifact")
        self.title.setObjectName("subheading")
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.title)

        self.meta = QLabel()
        self.meta.setObjectName("metadata")
        self.meta.setAccessibleDescription("artifact metadata")
        self.meta.setWordWrap(True)
        self.meta.setTextFormat(Qt.TextFormat.RichText)
        self.meta.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.meta.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.meta)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        layout.addWidget(scroll, 3)

        hashes = QGridLayout()
        self.hash_fields: dict[str, QLineEdit] = {}
        for row, algo in enumerate(("sha256", "sha1", "md5")):
            label = QLabel(algo.upper().replace("SHA", "SHA-"))
            field = QLineEdit()
            field.setReadOnly(True)
            font = mono()
            font.setPointSizeF(8.5)
            field.setFont(font)
            field.setMinimumWidth(QFontMetrics(font).horizontalAdvance("0" * 66))
            field.setObjectName(f"hash_{algo}")
            field.setAccessibleName(f"{algo} hash")
            copy = QPushButton("Copy")
            copy.setObjectName(f"copy_{algo}")
            copy.setAccessibleName(f"copy {algo} hash")
            copy.clicked.connect(lambda _=False, f=field: self._copy(f))
            hashes.addWidget(label, row, 0)
            hashes.addWidget(field, row, 1)
            hashes.addWidget(copy, row, 2)
            self.hash_fields[algo] = field
        layout.addLayout(hashes)

        self.signature = QLabel()
        self.signature.setObjectName("signature_status")
        self.signature.setAccessibleDescription("signature status")
        self.signature.setWordWrap(True)
        layout.addWidget(self.signature)

        self.preview_tabs = QTabWidget()
        self.preview_tabs.setObjectName("preview")
        self.text_view = QPlainTextEdit()
        self.text_view.setReadOnly(True)
        self.text_view.setFont(mono())
        self.text_view.setObjectName("text_preview")
        self.text_view.setAccessibleName("text preview")
        self.text_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.hex_view = QPlainTextEdit()
        self.hex_view.setReadOnly(True)
        self.hex_view.setFont(mono())
        self.hex_view.setObjectName("hex_preview")
        self.hex_view.setAccessibleName("hex preview")
        self.hex_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.preview_tabs.addTab(self.text_view, "Text")
        self.preview_tabs.addTab(self.hex_view, "Hex")
        self.show_contents_button = QPushButton("Show contents")
        self.show_contents_button.setObjectName("show_contents")
        self.show_contents_button.setAccessibleName("show the contents; recorded in the ledger")
        self.show_contents_button.setToolTip(
            "Reading the evidence is recorded in the custody ledger as an access, signed by you."
        )
        self.show_contents_button.clicked.connect(self._request_contents)
        self.show_contents_button.setEnabled(False)
        self.preview_note = QLabel()
        self.preview_note.setObjectName("muted")
        self.preview_note.setWordWrap(True)
        self.extract_button = QPushButton("E&xtract…")
        self.extract_button.setObjectName("extract")
        self.extract_button.setAccessibleName("extract the artifact to a folder")
        self.extract_button.setToolTip(
            "Write the artifact to a folder, re-hashed against the ledger (Ctrl+Shift+X); "
            "recorded as a signed access."
        )
        self.extract_button.clicked.connect(self._request_extract)
        self.extract_button.setEnabled(False)
        note_row = QHBoxLayout()
        note_row.addWidget(self.show_contents_button)
        note_row.addWidget(self.extract_button)
        note_row.addWidget(self.preview_note, 1)
        layout.addWidget(self.preview_tabs, 4)
        layout.addLayout(note_row)
        theme.watcher().changed.connect(self._restyle)

    def _restyle(self, _colours: theme.Colours) -> None:
        if self.case is not None and self.key is not None:
            self.show_key(self.key)

    def _request_extract(self) -> None:
        if self.key is not None and self.details.get("type") == "artifact":
            self.extract_requested.emit(self.key)

    def _copy(self, field: QLineEdit) -> None:
        QGuiApplication.clipboard().setText(field.text())

    def clear(self) -> None:
        self.key = None
        self.show_contents_button.setEnabled(False)
        self.extract_button.setEnabled(False)
        self.details = {}
        self.title.setText("Select an artifact")
        self.meta.clear()
        for f in self.hash_fields.values():
            f.clear()
        self.signature.clear()
        self.text_view.clear()
        self.hex_view.clear()
        self.preview_note.clear()

    def show_key(self, key: int) -> None:
        assert self.case is not None
        try:
            d = browse.artifact_details(self.case, key)
            seen = d["type"] == "artifact" and key in self.viewed
            data = browse.read_artifact_bytes(self.case, key) if seen else None
        except Exception as exc:  # noqa: BLE001 - e.g. archive missing: shown, pane cleared
            self.clear()
            show_error(self, exc)
            return
        self.key = key
        self.details = d
        if d["type"] == "error":
            self._show_error(d)
            return
        self.title.setText(d["source_path"] or d["member"])
        self.extract_button.setEnabled(True)
        rows = [
            ("Collector", d["collector"]),
            ("Kind", d["kind"]),
            ("Size", f"{d['size']:,} bytes"),
            ("Archive member", d["member"]),
            ("Archive", f"{d['archive']} at offset {d['data_offset']:,}"),
            ("Host", d["host"]),
            ("Collected (UTC)", d["collected_at"]),
            ("Mode / uid / gid", f"{d['mode'] or '–'} / {d['uid']} / {d['gid']}"),
            ("Modified", d["mtime"]),
            ("Accessed", d["atime"]),
            ("Changed", d["ctime"]),
            ("Born", d["birthtime"]),
            ("Symlink to", d["symlink_target"]),
            ("Run", d["run_id"]),
            ("Ledger entry", d["ledger_seq"]),
        ]
        if d["changed_while_read"]:
            rows.insert(0, ("Warning", "the file changed while it was read"))
        self.meta.setText(_table(rows))
        for algo, field in self.hash_fields.items():
            field.setText(d[algo])
            field.setCursorPosition(0)
        self._show_signature(d)
        if data is not None:
            self.show_contents(key, data)
        else:
            self.text_view.clear()
            self.hex_view.clear()
            self.show_contents_button.setEnabled(True)
            self.preview_note.setText(
                "Contents not shown. Showing them records a signed access in the custody ledger."
            )

    def _request_contents(self) -> None:
        if self.key is not None and self.details.get("type") == "artifact":
            self.contents_requested.emit(self.key)

    def show_contents(self, key: int, data: bytes) -> None:
        """Show ``data``, the first bytes of artifact ``key`` (its access already recorded)."""
        self.viewed.add(key)
        if key != self.key:
            return  # the examiner moved on while the access was being recorded
        self.show_contents_button.setEnabled(False)
        self.text_view.setPlainText(text_preview(data))
        self.hex_view.setPlainText(hex_dump(data))
        shown, size = len(data), self.details["size"]
        self.preview_note.setText(
            f"Preview of the first {shown:,} of {size:,} bytes, read from the archive."
            if shown < size
            else f"All {shown:,} bytes, read from the archive."
        )

    def _show_signature(self, d: dict[str, Any]) -> None:
        if d.get("signed_by_seq"):
            cover = (
                f"Recorded in ledger entry {d['ledger_seq']}, covered by the signed "
                f"{d['signed_by_event']} entry {d['signed_by_seq']} ({d['signed_at']})."
            )
        else:
            cover = f"Recorded in ledger entry {d['ledger_seq']}; not yet covered by a signature."
        state, colour = verification_state(self.verification, d["ledger_seq"])
        self.signature.setText(f"{cover}\n{state}")
        self.signature.setStyleSheet(f"color: {colour}")

    def _show_error(self, d: dict[str, Any]) -> None:
        self.title.setText(f"Not collected: {d['path'] or d['collector']}")
        self.meta.setText(
            _table(
                [
                    ("Collector", d["collector"]),
                    ("Outcome", d["kind"]),
                    ("Reason", d["reason"]),
                    ("Path", d["path"]),
                    ("At (UTC)", d["at"]),
                    ("Run", d["run_id"]),
                    ("Ledger entry", d["ledger_seq"]),
                ]
            )
        )
        for f in self.hash_fields.values():
            f.clear()
        self.signature.setText(
            "What was not collected, and why, is recorded in the ledger as evidence too."
        )
        self.signature.setStyleSheet("")
        self.show_contents_button.setEnabled(False)
        self.extract_button.setEnabled(False)
        self.text_view.clear()
        self.hex_view.clear()
        self.preview_note.clear()


def verification_state(v: Verification | None, seq: int) -> tuple[str, str]:
    """What is known of ledger entry ``seq``'s verification, and the colour to say it in
    (the scheme's: light or dark)."""
    c = theme.colours()
    grey, red, green = c.muted, c.bad, c.ok
    if v is None:
        return "Not verified: no verification is recorded (Verify: Ctrl+Shift+V).", grey
    when = shown(v.at)
    if not v.covers(seq):
        return f"Recorded after the verification of {when}: not checked yet.", grey
    if v.per_entry:
        found = v.findings_at(seq)
        if found:
            return f"✗ VERIFICATION FAILED: {'; '.join(found)}", red
        return "✓ Verified: hashes re-computed from the archive match.", green
    where = f" (ledger entry {v.recorded_seq})" if v.recorded_seq else ""
    if v.ok:
        return f"✓ Verified {when}{where}; not checked again in this session.", green
    return (
        f"✗ The last recorded verification FAILED ({when}{where}, "
        f"{findings_text(v.findings)}). The ledger does not say which entries: verify again "
        "(Ctrl+Shift+V) to see them.",
        red,
    )


def _table(rows: list[tuple[str, Any]]) -> str:
    from html import escape

    muted = theme.colours().muted
    cells = "".join(
        f"<tr><td style='color:{muted};padding-right:12px'>{escape(k)}</td>"
        f"<td>{escape(str(v))}</td></tr>"
        for k, v in rows
        if v not in (None, "")
    )
    return f"<table cellspacing='2'>{cells}</table>"


class ArtifactView(QWidget):
    """Filter bar, artifact table (100k rows smoothly) and details pane."""

    count_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.case: CaseHandle | None = None
        layout = QVBoxLayout(self)
        heading = QLabel("Artifacts")
        heading.setObjectName("heading")
        layout.addWidget(heading)

        bar = QHBoxLayout()
        self.collector = QComboBox()
        self.collector.setObjectName("collector_filter")
        self.collector.setAccessibleName("filter by collector")
        self.collector.addItem("All collectors", None)
        self.collector.currentIndexChanged.connect(self._apply_filter)
        self.search = QLineEdit()
        self.search.setObjectName("search")
        self.search.setAccessibleName("search artifacts")
        self.search.setPlaceholderText("Search paths, names, SHA-256, reasons  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self._apply_filter)
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        self.search.returnPressed.connect(self._apply_filter)
        self.errors_only = QCheckBox("Problems only")
        self.errors_only.setObjectName("errors_only")
        self.errors_only.setAccessibleName("show problems only")
        self.errors_only.toggled.connect(self._apply_filter)
        self.count = QLabel()
        self.count.setObjectName("artifact_count")
        self.count.setAccessibleDescription("number of rows")
        # Visible labels linked to the fields (buddies): a screen reader names each field by
        # its label, and Alt+letter focuses it.
        collector_label = QLabel("C&ollector")
        collector_label.setBuddy(self.collector)
        search_label = QLabel("S&earch")
        search_label.setBuddy(self.search)
        bar.addWidget(collector_label)
        bar.addWidget(self.collector)
        bar.addWidget(search_label)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.errors_only)
        bar.addWidget(self.count)
        layout.addLayout(bar)

        split = QSplitter(Qt.Orientation.Horizontal)
        self.details = ArtifactDetails()
        self.details.setObjectName("details")
        self.model = ArtifactTableModel(self)
        self.model.reloaded.connect(self._reloaded)
        self.table = QTableView()
        self.table.setObjectName("artifact_table")
        self.table.setAccessibleName("artifacts")
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(5, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        h = self.table.horizontalHeader()
        h.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for col, width in enumerate((320, 90, 70, 80, 150, 140, 110, 90)):
            h.resizeSection(col, width)
        h.setStretchLastSection(True)
        self.table.setTabKeyNavigation(False)  # Tab leaves the table; arrows move in it
        self.table.selectionModel().selectionChanged.connect(self._selected)
        KeepSelection(self.table, self.model.key_at, self._row_of)
        split.addWidget(self.table)
        split.addWidget(self.details)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([700, 580])
        layout.addWidget(split, 1)

    def _row_of(self, key: Hashable) -> int:
        return self.model.row_of_key(key) if isinstance(key, int) else -1

    def set_case(self, case: CaseHandle | None, verification: Verification | None = None) -> None:
        """Show ``case``; its rows carry ``verification`` (of this case) and nothing else."""
        self.table.clearSelection()  # another case's row is not kept
        self.case = case
        self.details.case = case
        self.details.viewed.clear()
        self.details.clear()
        self.model.case = case
        self.model.verification = None  # before the rows are read: never another case's
        self.refresh()
        self.set_verification(verification)

    def refresh(self) -> None:
        """Re-read the collectors list and the rows (after a run)."""
        self.collector.blockSignals(True)
        current = self.collector.currentData()
        self.collector.clear()
        self.collector.addItem("All collectors", None)
        if self.case is not None:
            for name in browse.collectors_used(self.case):
                self.collector.addItem(name, name)
        index = self.collector.findData(current)
        self.collector.setCurrentIndex(max(0, index))
        self.collector.blockSignals(False)
        self.model.case = self.case
        self._apply_filter()

    def set_verification(self, verification: Verification | None) -> None:
        """Show ``verification`` (of the open case) in the rows and the details pane."""
        self.details.verification = verification
        self.model.set_verification(verification)
        if self.details.details.get("type") == "artifact":
            self.details._show_signature(self.details.details)

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def _apply_filter(self) -> None:
        self._debounce.stop()
        flt = browse.ArtifactFilter(
            collector=self.collector.currentData(),
            text=self.search.text().strip(),
            errors_only=self.errors_only.isChecked(),
        )
        try:
            self.model.set_filter(flt)
        except Exception as exc:  # noqa: BLE001 - a database error is shown
            show_error(self, exc)

    def _reloaded(self) -> None:
        n = self.model.rowCount()
        self.count.setText(f"{n:,} rows")
        if not self.table.selectionModel().hasSelection():  # else kept (KeepSelection)
            self.details.clear()
        self.count_changed.emit(n)

    def select_row(self, row: int) -> None:
        self.table.selectRow(row)

    def _selected(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        if not indexes:
            return
        key = self.model.key_at(indexes[0].row())
        if key is not None:
            self.details.show_key(key)

    def current_index(self) -> QModelIndex:
        return self.table.currentIndex()
