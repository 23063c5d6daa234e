"""One place that shows errors to a person: ``show_error(parent, exc)``."""

from __future__ import annotations

import traceback

from PySide6.QtWidgets import QMessageBox, QWidget

from app.errors import ChainproofError


def error_text(exc: BaseException) -> tuple[str, str | None]:
    """(message for a person, technical details or None)."""
    if isinstance(exc, ChainproofError):
        return exc.diagnostics(), None
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return (
        f"An unexpected error occurred: {type(exc).__name__}: {exc}\n\n"
        "Nothing was hidden: the details below say where it happened.",
        details,
    )


def show_error(
    parent: QWidget | None, exc: BaseException, title: str = "Chainproof"
) -> QMessageBox:
    """Show ``exc`` in a modal dialog: ChainproofError.diagnostics(), or the unexpected error
    with its traceback. Returns the box (already closed when this returns)."""
    text, details = error_text(exc)
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Critical if details else QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(text)
    box.setAccessibleName("Error message")
    if details:
        box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.exec()
    return box
