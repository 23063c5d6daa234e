"""The case list: the cases under a folder, and the recently opened ones."""

from __future__ import annotations

from pathlib import Path

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

from app.cases import find_cases, open_case, summary
from app.errors import ChainproofError
from app.integrity import entries_since, last_recorded
from app.times import shown
from ui.integrity import colour, long_text, short_text, status_icon

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


class CaseListView(QWidget):
    """Lists the cases under a root folder (and recent ones); emits ``open_requested(Path)``."""

    open_requested = Signal(object)  # Path
    new_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.recent: list[Path] = []
        layout = QVBoxLayout(self)
        title = QLabel("Cases")
        title.setObjectName("heading")
        layout.addWidget(title)
        bar = QHBoxLayout()
        self.root = QLineEdit(str(Path.home()))
        self.root.setObjectName("cases_root")
        self.root.setAccessibleName("folder to look for cases in")
        self.root.returnPressed.connect(self.refresh)
        browse = QPushButton("Folder…")
        browse.setAccessibleName("choose the folder to look for cases in")
        browse.clicked.connect(self._browse)
        refresh = QPushButton("Refresh")
        refresh.setAccessibleName("refresh the case list")
        refresh.clicked.connect(self.refresh)
        bar.addWidget(QLabel("Look in"))
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
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        self.table.doubleClicked.connect(lambda _i: self._open_selected())
        layout.addWidget(self.table, 1)

        self.message = QLabel()
        self.message.setWordWrap(True)
        layout.addWidget(self.message)

        buttons = QHBoxLayout()
        self.new_button = QPushButton("New case…")
        self.new_button.setAccessibleName("new case")
        self.new_button.clicked.connect(self.new_requested)
        self.open_button = QPushButton("Open selected")
        self.open_button.setAccessibleName("open the selected case")
        self.open_button.setDefault(True)
        self.open_button.clicked.connect(self._open_selected)
        self.open_other = QPushButton("Open other…")
        self.open_other.setAccessibleName("open a case directory")
        self.open_other.clicked.connect(self.choose_and_open)
        buttons.addWidget(self.new_button)
        buttons.addStretch(1)
        buttons.addWidget(self.open_other)
        buttons.addWidget(self.open_button)
        layout.addLayout(buttons)

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

    def refresh(self) -> None:
        """Re-read the cases under the root folder and the recent list."""
        root = Path(self.root.text()).expanduser()
        paths: list[Path] = []
        for p in [*self.recent, *(find_cases(root) if root.is_dir() else [])]:
            if p not in paths and p.is_dir():
                paths.append(p)
        self.table.setSortingEnabled(False)
        self.table.setRowCount(0)
        problems = 0
        for path in paths:
            try:
                handle = open_case(path)
                try:
                    s = summary(handle)
                    verification = last_recorded(handle)
                    since = entries_since(handle, verification) if verification else 0
                finally:
                    handle.sessions.kw["bind"].dispose()
            except ChainproofError:
                problems += 1
                continue
            row = self.table.rowCount()
            self.table.insertRow(row)
            values = (
                s["title"],
                s.get("incident_ref") or "",
                s.get("severity") or "",
                s.get("status") or "",
                short_text(verification, since),
                shown(s["created_at"]),
                str(len(s["runs"])),
                f"{s['artifacts']:,}",
                str(path),
            )
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setData(Qt.ItemDataRole.UserRole, str(path))
                if col in NUMBERS:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                if col == INTEGRITY:  # the last recorded verification: mark, words, colour
                    ok = verification.ok if verification else None
                    item.setIcon(status_icon(ok))
                    item.setForeground(colour(ok))
                    item.setToolTip(long_text(verification, since))
                self.table.setItem(row, col, item)
        self.table.setSortingEnabled(True)
        n = self.table.rowCount()
        text = f"{n} case{'s' if n != 1 else ''} in {root} and recently opened."
        if problems:
            text += f" {problems} folder(s) could not be read as cases."
        if not n:
            text = f"No cases in {root}. Create one with New case… (Ctrl+N)."
        self.message.setText(text)
        if n:
            self.table.selectRow(0)

    def _open_selected(self) -> None:
        row = self.table.currentRow()
        if row < 0:
            return
        item = self.table.item(row, 0)
        if item is not None:
            self.open_requested.emit(Path(item.data(Qt.ItemDataRole.UserRole)))
