"""Small widgets shared by the screens."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from ui import theme


class ElidedLabel(QLabel):
    """A one-line label that shortens its text with "…" to the room it has, instead of
    widening the window (the status bar at 1024 pixels). The whole text stays its
    ``text()``, which screen readers read; give it as the tooltip too."""

    def __init__(
        self,
        text: str = "",
        parent: QWidget | None = None,
        minimum: int = 60,
        mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight,
    ) -> None:
        super().__init__(text, parent)
        self._minimum = minimum
        self._mode = mode
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), self._minimum), hint.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        rect = self.contentsRect()
        margin = self.margin() + self.indent() if self.indent() > 0 else self.margin()
        rect = rect.adjusted(margin, 0, -margin, 0)
        text = self.fontMetrics().elidedText(self.text(), self._mode, rect.width())
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(rect, int(self.alignment() | Qt.AlignmentFlag.AlignVCenter), text)
        painter.end()


class FindingsTable(QTableWidget):
    """A verification's findings: where, which check, what does not hold (in the scheme's
    "failed" colour, each cell's whole text in its tooltip)."""

    def __init__(self, name: str = "findings", parent: QWidget | None = None) -> None:
        super().__init__(0, 3, parent)
        self.setObjectName(name)
        self.setAccessibleName("verification findings")
        self.setHorizontalHeaderLabels(["Where", "Check", "What does not hold"])
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setTabKeyNavigation(False)
        self.setWordWrap(False)
        h = self.horizontalHeader()
        h.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        h.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        h.setStretchLastSection(True)
        theme.watcher().changed.connect(self._recolour)

    def show_findings(self, findings: Iterable[Any]) -> None:
        """Show ``findings`` (each with ``where``, ``code`` and ``message``)."""
        self.setRowCount(0)
        bad = theme.colours().qt("bad")
        for f in findings:
            row = self.rowCount()
            self.insertRow(row)
            for col, text in enumerate((f.where, f.code, f.message)):
                item = QTableWidgetItem(text)
                item.setForeground(bad)
                item.setToolTip(text)
                self.setItem(row, col, item)

    def _recolour(self, colours: theme.Colours) -> None:
        bad = QColor(colours.bad)
        for r in range(self.rowCount()):
            for c in range(self.columnCount()):
                item = self.item(r, c)
                if item is not None:
                    item.setForeground(bad)


def table_view(name: str) -> QTableView:
    """A read-only table of rows (Tab leaves it; arrows move in it)."""
    view = QTableView()
    view.setObjectName(name)
    view.setAccessibleName(name.replace("_", " "))
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setTabKeyNavigation(False)
    view.setAlternatingRowColors(True)
    view.setWordWrap(False)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(22)
    view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    view.horizontalHeader().setStretchLastSection(True)
    view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    return view
