"""What a screen reader needs that Qt does not give by itself.

- Every interactive widget has a name: a combo box's popup list and a line edit's clear
  button are named after the widget they belong to (:func:`name_parts`).
- A label that carries state has no fixed accessible name: its text is what is read, and
  its purpose is its description (the screens set it so; :func:`labels_read_their_text`
  enforces it for a whole window).
- Results are announced (:func:`announce`): Qt's ``QAccessibleAnnouncementEvent`` (Qt 6.8+,
  an ``object:announcement`` on AT-SPI) as well as being shown on screen.
- The navigation list switches the page when an assistive technology selects an item
  through its accessible action (:func:`selecting_makes_current`).
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelection
from PySide6.QtGui import QAccessible, QAccessibleAnnouncementEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QToolButton,
    QWidget,
)

from ui.keyboard import tab_leaves_views


def purpose_of(widget: QWidget) -> str:
    """What ``widget`` is for: its accessible name, else its description."""
    return widget.accessibleName() or widget.accessibleDescription() or widget.objectName()


def name_parts(root: QWidget) -> None:
    """Name the parts Qt leaves unnamed under ``root``: each combo box's popup list (after
    the combo's purpose, which is also its description: on Linux a combo box is read by its
    value), each line edit's clear button and the menu bar's overflow button."""
    combos = root.findChildren(QComboBox)
    if isinstance(root, QComboBox):
        combos.append(root)
    for combo in combos:
        purpose = purpose_of(combo)
        if not combo.accessibleDescription():
            combo.setAccessibleDescription(purpose)
        combo.view().setAccessibleName(f"{purpose} choices")
    for button in root.findChildren(QToolButton, "qt_menubar_ext_button"):
        button.setAccessibleName("more menus")  # shown when the menus do not fit
    for spin in root.findChildren(QAbstractSpinBox):
        for edit in spin.findChildren(QLineEdit):  # its text field is what takes the focus
            edit.setAccessibleName(spin.accessibleName() or purpose_of(spin))
    for edit in root.findChildren(QLineEdit):
        if edit.isClearButtonEnabled():
            for button in edit.findChildren(QToolButton):
                button.setAccessibleName(f"clear {purpose_of(edit)}")
                button.setToolTip(f"Clear {purpose_of(edit)}")


def labels_read_their_text(root: QWidget) -> None:
    """A label with text reads it: a fixed accessible name would hide it, so it becomes the
    label's description (what the text is about)."""
    for label in root.findChildren(QLabel):
        name = label.accessibleName()
        if name and label.pixmap().isNull():
            if not label.accessibleDescription():
                label.setAccessibleDescription(name)
            label.setAccessibleName("")


def make_accessible(root: QWidget) -> None:
    """Everything above for a screen or dialog ``root``, and Tab leaves its tables."""
    tab_leaves_views(root)
    name_parts(root)
    labels_read_their_text(root)


def announce(widget: QWidget, text: str, *, assertive: bool = False) -> None:
    """Have assistive technology say ``text`` now (a result: a run, a verification, an
    export or a transfer ended, failed or was cancelled). Polite waits for the current
    speech; assertive (failures) interrupts it."""
    event = QAccessibleAnnouncementEvent(widget, text)
    event.setPoliteness(
        QAccessible.AnnouncementPoliteness.Assertive
        if assertive
        else QAccessible.AnnouncementPoliteness.Polite
    )
    QAccessible.updateAccessibility(event)


def selecting_makes_current(view: QAbstractItemView) -> None:
    """Selecting an item (an assistive technology's "toggle" action selects without moving
    the current item) makes it the current one, so a list that switches pages on its
    current row switches for a screen reader too. Unselecting keeps the current item
    selected: a navigation list always has a page."""

    def changed(selected: QItemSelection, _deselected: QItemSelection) -> None:
        model = view.selectionModel()
        rows = [i for i in selected.indexes() if i.isValid()]
        if rows:
            if rows[0] != view.currentIndex():
                view.setCurrentIndex(rows[0])
        elif not model.hasSelection() and view.currentIndex().isValid():
            model.select(view.currentIndex(), model.SelectionFlag.Select)

    view.selectionModel().selectionChanged.connect(changed)
