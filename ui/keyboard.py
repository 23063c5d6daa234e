"""Keyboard use: Tab leaves tables, and a table keeps its selection across sorts and reloads."""

from __future__ import annotations

from collections.abc import Callable, Hashable

from PySide6.QtCore import QItemSelectionModel, QObject, Qt
from PySide6.QtWidgets import QAbstractItemView, QWidget


def tab_leaves_views(root: QWidget) -> None:
    """Tab and Shift+Tab move the focus out of every item view under ``root`` (the arrow
    keys move within it), so no table traps the keyboard."""
    views = root.findChildren(QAbstractItemView)
    if isinstance(root, QAbstractItemView):
        views.append(root)
    for view in views:
        view.setTabKeyNavigation(False)


class KeepSelection(QObject):
    """Keeps the selected row of ``view`` across its model's resets (a sort, a new filter,
    new rows): the row is remembered by its key and selected again where it now is, and
    scrolled to. A row that is gone leaves nothing selected.

    ``key_of(row)`` gives a row's key (None: none); ``row_of(key)`` finds it (-1: gone).
    """

    def __init__(
        self,
        view: QAbstractItemView,
        key_of: Callable[[int], Hashable | None],
        row_of: Callable[[Hashable], int],
    ) -> None:
        super().__init__(view)
        self.view = view
        self.key_of, self.row_of = key_of, row_of
        self._key: Hashable | None = None
        self._column = 0
        model = view.model()
        model.modelAboutToBeReset.connect(self._remember)
        model.modelReset.connect(self._restore)
        model.layoutAboutToBeChanged.connect(self._remember)
        model.layoutChanged.connect(self._restore)

    def _remember(self) -> None:
        current = self.view.currentIndex()
        selected = self.view.selectionModel().selectedRows()
        row = selected[0].row() if selected else -1
        self._key = self.key_of(row) if row >= 0 else None
        self._column = current.column() if current.isValid() else 0

    def _restore(self) -> None:
        key, self._key = self._key, None
        if key is None:
            return
        row = self.row_of(key)
        if row < 0:
            return
        model = self.view.model()
        index = model.index(row, max(0, min(self._column, model.columnCount() - 1)))
        flags = (
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows
        )
        self.view.selectionModel().setCurrentIndex(index, flags)
        self.view.scrollTo(index, QAbstractItemView.ScrollHint.EnsureVisible)


def user_role_key(
    view: QAbstractItemView,
) -> tuple[Callable[[int], Hashable | None], Callable[[Hashable], int]]:
    """``key_of`` and ``row_of`` for a model whose rows carry their key in ``UserRole`` of
    column 0 (a linear search: for tables of hundreds of rows)."""

    def key_of(row: int) -> Hashable | None:
        value = view.model().index(row, 0).data(Qt.ItemDataRole.UserRole)
        return value if isinstance(value, Hashable) else None

    def row_of(key: Hashable) -> int:
        model = view.model()
        for r in range(model.rowCount()):
            if model.index(r, 0).data(Qt.ItemDataRole.UserRole) == key:
                return r
        return -1

    return key_of, row_of
