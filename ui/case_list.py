"""The case list: the cases under a folder, and the recently opened ones.

The cases are read off the GUI thread (each case's ledger is folded for its summary), so the
window is usable at once and never waits on a folder of many cases. Enter or a double click
opens the selected case; the selection stays on its case when the list is sorted or read
again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.times import shown
from ui import theme
from ui.errors import show_error
from ui.integrity import colour, long_text, short_text, status_icon
from ui.workers import Worker

if TYPE_CHECKING:
    from app.desktop_actions import CaseRow

COLUMNS = (
    "Title",
    "Incident",
    "Severity",
    "Status",
    "Integrity",
    "Created",
    "Runs",
    "Artifacts",
    "Path",
)
INTEGRITY = COLUMNS.index("Integrity")
NUMBERS = (COLUMNS.index("Runs"), COLUMNS.index("Artifacts"))
_PATH = Qt.ItemDataRole.UserRole
_RESULT = Qt.ItemDataRole.UserRole + 1  # the integrity cell's result: True, False or None


class CaseListView(QWidget):
    """Lists the cases under a root folder (and recent ones); emits ``open_requested(Path)``."""

    open_requested = Signal(object)  # Path
    new_requested = Signal()
    #: The list was read (and shown).
    loaded = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.recent: list[Path] = []
        self.worker: Worker | None = None
        self._again = False  # asked to read again while reading
        layout = QVBoxLayout(self)
        title = QLabel("Cases")
        title.setObjectName("heading")
        layout.addWidget(title)
        bar = QHBoxLayout()
        self.root = QLineEdit(str(Path.home()))
        self.root.setObjectName("cases_root")
        self.root.setAccessibleName("folder to look for cases in")
        self.root.returnPressed.connect(self.refresh)
        look_in = QLabel("&Look in")
        look_in.setBuddy(self.root)
        browse = QPushButton("Fol&der…")
        browse.setAccessibleName("choose the folder to look for cases in")
        browse.clicked.connect(self._browse)
        refresh = QPushButton("&Refresh")
        refresh.setAccessibleName("refresh the case list")
        refresh.clicked.connect(self.refresh)
        bar.addWidget(look_in)
        bar.addWidget(self.root, 1)
        bar.addWidget(browse)
        bar.addWidget(refresh)
        layout.addLayout(bar)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("case_table")
        self.table.setAccessibleName("cases")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setTabKeyNavigation(False)  # Tab leaves the table; arrows move in it
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        # Enter (and a double click, which activates too) opens the selected case.
        self.table.activated.connect(lambda _i: self._open_selected())
        layout.addWidget(self.table, 1)

        self.message = QLabel()
        self.message.setObjectName("case_list_message")
        self.message.setWordWrap(True)
        layout.addWidget(self.message)

        buttons = QHBoxLayout()
        self.new_button = QPushButton("&New case…")
        self.new_button.setAccessibleName("new case")
        self.new_button.setToolTip("New case (Ctrl+N)")
        self.new_button.clicked.connect(self.new_requested)
        self.open_button = QPushButton("&Open selected")
        self.open_button.setAccessibleName("open the selected case")
        self.open_button.setToolTip("Open the selected case (Enter in the list)")
        self.open_button.setDefault(True)
        self.open_button.clicked.connect(self._open_selected)
        self.open_other = QPushButton("Open o&ther…")
        self.open_other.setAccessibleName("open a case directory")
        self.open_other.setToolTip("Open a case directory (Ctrl+O)")
        self.open_other.clicked.connect(self.choose_and_open)
        buttons.addWidget(self.new_button)
        buttons.addStretch(1)
        buttons.addWidget(self.open_other)
        buttons.addWidget(self.open_button)
        layout.addLayout(buttons)
        theme.watcher().changed.connect(self._recolour)

    def set_root(self, root: Path) -> None:
        self.root.setText(str(root))
        self.refresh()

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Folder with cases", self.root.text())
        if chosen:
            self.set_root(Path(chosen))

    def choose_and_open(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Open case directory", self.root.text())
        if chosen:
            self.open_requested.emit(Path(chosen))

    @property
    def loading(self) -> bool:
        return self.worker is not None

    def refresh(self) -> None:
        """Re-read the cases under the root folder and the recent list (off the GUI thread;
        :attr:`loaded` when shown)."""
        if self.worker is not None:
            self._again = True
            return
        root = Path(self.root.text()).expanduser()
        recent = list(self.recent)

        def work(_cancel: threading.Event, _report: Callable[[Any], None]) -> Any:
            from app.desktop_actions import list_cases

            found = list_cases(root, recent)
            # Imported here, off the GUI thread, so that opening a case does not wait on them.
            import app.browse
            import app.integrity  # noqa: F401

            return root, *found

        self.worker = Worker(work)  # no parent: it may end after the view is gone
        self.worker.finished.connect(self._show)
        self.worker.failed.connect(self._failed)
        if not self.table.rowCount():
            self.message.setText(f"Reading the cases in {root} …")
        self.worker.start()

    def _done(self) -> bool:
        """The read ended; True if another was asked for meanwhile (and is started)."""
        self.worker = None
        if self._again:
            self._again = False
            self.refresh()
            return True
        return False

    def _failed(self, exc: BaseException) -> None:
        if self._done():
            return
        self.message.setText("The cases could not be read.")
        show_error(self, exc)
        self.loaded.emit()

    def _show(self, result: tuple[Path, list[CaseRow], int]) -> None:
        if self._done():
            return
        root, rows, problems = result
        keep = self.selected_path()
        self.table.setSortingEnabled(False)
        self.table.setRowCount(0)
        for case in rows:
            row = self.table.rowCount()
            self.table.insertRow(row)
            s, verification = case.summary, case.verification
            values = (
                s["title"],
                s.get("incident_ref") or "",
                s.get("severity") or "",
                s.get("status") or "",
                short_text(verification, case.since),
                shown(s["created_at"]),
                str(len(s["runs"])),
                f"{s['artifacts']:,}",
                str(case.path),
            )
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setData(_PATH, str(case.path))
                if col in NUMBERS:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                if col == INTEGRITY:  # the last recorded verification: mark, words, colour
                    ok = verification.ok if verification else None
                    item.setData(_RESULT, ok)
                    item.setIcon(status_icon(ok))
                    item.setForeground(colour(ok))
                    item.setToolTip(long_text(verification, case.since))
                self.table.setItem(row, col, item)
        self.table.setSortingEnabled(True)
        n = self.table.rowCount()
        text = f"{n} case{'s' if n != 1 else ''} in {root} and recently opened."
        if problems:
            text += f" {problems} folder(s) could not be read as cases."
        if not n:
            text = f"No cases in {root}. Create one with New case… (Ctrl+N)."
        self.message.setText(text)
        if n and not self.select_path(keep):
            self.table.selectRow(0)
        self.loaded.emit()

    def selected_path(self) -> Path | None:
        row = self.table.currentRow()
        item = self.table.item(row, 0) if row >= 0 else None
        return Path(item.data(_PATH)) if item is not None else None

    def select_path(self, path: Path | None) -> bool:
        """Select the row of the case at ``path``; False if it is not listed."""
        if path is None:
            return False
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and Path(item.data(_PATH)) == path:
                self.table.selectRow(row)
                self.table.scrollToItem(item)
                return True
        return False

    def _recolour(self, _colours: theme.Colours) -> None:
        for row in range(self.table.rowCount()):
            item = self.table.item(row, INTEGRITY)
            if item is not None:
                item.setForeground(colour(item.data(_RESULT)))

    def _open_selected(self) -> None:
        path = self.selected_path()
        if path is not None:
            self.open_requested.emit(path)
