"""Questions before acts that cannot be undone, and notices: one modal box each."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def confirm(
    parent: QWidget | None,
    title: str,
    question: str,
    details: str,
    *,
    act: str,
    keep: str = "Cancel",
) -> bool:
    """Ask ``question`` (``details`` below it); True only if the person chose ``act``.

    The safe answer (``keep``) is the default and Esc's, so a key pressed twice or a box
    closed in haste changes nothing.
    """
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle(title)
    box.setText(question)
    box.setInformativeText(details)
    box.setAccessibleName(title)
    box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
    box.button(QMessageBox.StandardButton.Yes).setText(act)
    box.button(QMessageBox.StandardButton.No).setText(keep)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    box.setEscapeButton(QMessageBox.StandardButton.No)
    return int(box.exec()) == int(QMessageBox.StandardButton.Yes.value)


def inform(parent: QWidget | None, title: str, text: str, details: str = "") -> None:
    """Say why something was not done (not an error: nothing failed)."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Information)
    box.setWindowTitle(title)
    box.setText(text)
    if details:
        box.setInformativeText(details)
    box.setAccessibleName(title)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.exec()


def warn(parent: QWidget | None, title: str, text: str, details: str = "") -> None:
    """Say that something did not happen that the person asked for (not a program error)."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(text)
    if details:
        box.setInformativeText(details)
    box.setAccessibleName(title)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.exec()
