"""Read-only table models over the case database that stay smooth at 100,000 rows.

The model holds only the ordered keys of its rows (sorted and filtered by SQL in
``app.browse``) and fetches the columns of a page of rows the first time a page is shown,
keeping a small LRU of pages. Scrolling anywhere costs one indexed query of ``PAGE`` rows.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont

from app import browse
from app.cases import CaseHandle
from app.integrity import Verification
from app.times import shown
from ui import theme

PAGE = 256
CACHE_PAGES = 64
#: The status colours of the light scheme (ui.theme has both schemes' colours).
OK_COLOUR = QColor(theme.LIGHT_COLOURS.ok)
BAD_COLOUR = QColor(theme.LIGHT_COLOURS.bad)
WARN_COLOUR = QColor(theme.LIGHT_COLOURS.warn)
#: The Verification column of an entry recorded after the check.
NOT_CHECKED = "not checked"

_Index = QModelIndex | QPersistentModelIndex


class WindowedModel(QAbstractTableModel):
    """Keys in memory, rows fetched by page. Subclasses implement ``_keys`` and ``_rows``."""

    columns: tuple[tuple[str, str], ...] = ()
    reloaded = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.case: CaseHandle | None = None
        self._keys: list[int] = []
        self._pages: OrderedDict[int, dict[int, Any]] = OrderedDict()
        self._sort = 0
        self._descending = False
        #: The verification whose marks the rows show (of this case), None for none.
        self.verification: Verification | None = None

    # -- subclass API
    def _load_keys(self) -> list[int]:
        raise NotImplementedError

    def _load_rows(self, keys: Sequence[int]) -> dict[int, Any]:
        raise NotImplementedError

    def _display(self, row: Any, column: str) -> Any:
        return getattr(row, column)

    # -- public
    def set_case(self, case: CaseHandle | None) -> None:
        self.case = case
        self.verification = None  # another case's marks are not this one's
        self.reload()

    def reload(self) -> None:
        """Re-read the keys (after a filter, sort or new data)."""
        self.beginResetModel()
        self._pages.clear()
        self._keys = self._load_keys() if self.case is not None else []
        self.endResetModel()
        self.reloaded.emit()

    def set_verification(self, verification: Verification | None) -> None:
        """Mark rows by a verification of this case: each entry it checked is verified or
        FAILED, entries recorded after it are "not checked". None, or a verification known
        only from the ledger's summary (which does not say which entries failed), marks none.
        """
        if verification is not None and (
            self.case is None or verification.case_id != self.case.case_id
        ):
            raise ValueError("a verification marks only the rows of the case it checked")
        self.verification = verification
        if self._keys:
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(self._keys) - 1, self.columnCount() - 1)
            )

    def key_at(self, row: int) -> int | None:
        return self._keys[row] if 0 <= row < len(self._keys) else None

    def row_at(self, row: int) -> Any:
        """The fetched row object at ``row`` (fetching its page if needed)."""
        if not 0 <= row < len(self._keys):
            return None
        page_no = row // PAGE
        page = self._pages.get(page_no)
        if page is None:
            assert self.case is not None
            page = self._load_rows(self._keys[page_no * PAGE : (page_no + 1) * PAGE])
            self._pages[page_no] = page
            if len(self._pages) > CACHE_PAGES:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(page_no)
        return page.get(self._keys[row])

    def row_of_key(self, key: int) -> int:
        try:
            return self._keys.index(key)
        except ValueError:
            return -1

    # -- Qt
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._keys)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section][1]
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole:
            return section + 1
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.row_at(index.row())
        if row is None:
            return None
        column = self.columns[index.column()][0]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self._display(row, column)
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._foreground(row, column)
        if role == Qt.ItemDataRole.FontRole and column in ("sha256", "entry_hash"):
            font = QFont("monospace")
            font.setStyleHint(QFont.StyleHint.Monospace)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and column in ("size", "seq", "signatures"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return self._keys[index.row()]
        return None

    def _foreground(self, row: Any, column: str) -> Any:
        return None

    def _mark(self, seq: int, error: bool = False) -> tuple[str, QColor | None]:
        """What the Verification column says of ledger entry ``seq``, and its colour."""
        v = self.verification
        if v is None or not v.per_entry:
            return "", None
        if not v.covers(seq):
            return NOT_CHECKED, None
        if error:
            return "recorded", None
        c = theme.colours()
        return ("FAILED", c.qt("bad")) if v.findings_at(seq) else ("verified", c.qt("ok"))

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self._sort = column
        self._descending = order == Qt.SortOrder.DescendingOrder
        self.reload()


class ArtifactTableModel(WindowedModel):
    """Artifacts and collection errors of a case, filtered and sorted by SQL."""

    columns = (*browse.ARTIFACT_COLUMNS, ("verified", "Verification"))

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.filter = browse.ArtifactFilter()
        self._sort = 5  # collected at

    def set_filter(self, flt: browse.ArtifactFilter) -> None:
        self.filter = flt
        self.reload()

    def _load_keys(self) -> list[int]:
        assert self.case is not None
        sort = self.columns[self._sort][0]
        if sort == "verified":
            sort = "at"
        return browse.artifact_keys(self.case, self.filter, sort=sort, descending=self._descending)

    def _load_rows(self, keys: Sequence[int]) -> dict[int, Any]:
        assert self.case is not None
        return browse.artifact_rows(self.case, keys)

    def _display(self, row: browse.ArtifactRow, column: str) -> Any:
        if column == "size":
            return "" if row.size is None else f"{row.size:,}"
        if column == "verified":
            return self._mark(row.ledger_seq, row.is_error)[0]
        return getattr(row, column)

    def _foreground(self, row: browse.ArtifactRow, column: str) -> Any:
        if column == "verified":
            shade = self._mark(row.ledger_seq, row.is_error)[1]
            return QBrush(shade) if shade is not None else None
        c = theme.colours()
        if column == "status" and row.is_error:
            return QBrush(c.qt("bad") if row.kind == "error" else c.qt("warn"))
        if column == "status" and row.status != "collected":
            return QBrush(c.qt("warn"))
        return None


class LedgerTableModel(WindowedModel):
    """Ledger entries of a case; artifact and error entries only when asked for."""

    columns = (
        ("seq", "Seq"),
        ("at", "Time"),
        ("event", "Event"),
        ("actor", "Actor"),
        ("summary", "Summary"),
        ("signatures", "Signatures"),
        ("verified", "Verification"),
        ("entry_hash", "Entry hash"),
    )

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.include_bulk = False
        self._names: dict[str, str] = {}

    def set_include_bulk(self, include: bool) -> None:
        self.include_bulk = include
        self.reload()

    def _load_keys(self) -> list[int]:
        assert self.case is not None
        self._names = browse.examiner_names(self.case)
        return browse.ledger_keys(
            self.case, include_bulk=self.include_bulk, descending=self._descending
        )

    def _load_rows(self, keys: Sequence[int]) -> dict[int, Any]:
        assert self.case is not None
        return browse.ledger_rows(self.case, keys, self._names)

    def _display(self, row: browse.LedgerRow, column: str) -> Any:
        if column == "at":
            return shown(row.at, micro=True)
        if column == "entry_hash":
            return row.entry_hash[:16] + "…"
        if column == "signatures":
            return row.signatures or "(checkpoint)"
        if column == "verified":
            return self._mark(row.seq)[0]
        return getattr(row, column)

    def _foreground(self, row: browse.LedgerRow, column: str) -> Any:
        if column == "verified":
            shade = self._mark(row.seq)[1]
            return QBrush(shade) if shade is not None else None
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        # The ledger is an ordered record: only the direction by seq can change.
        self._descending = order == Qt.SortOrder.DescendingOrder
        self.reload()
