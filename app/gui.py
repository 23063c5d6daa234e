"""The desktop application's entry point: the only module of ``app/`` that imports Qt."""

from __future__ import annotations

import sys
from pathlib import Path
from types import TracebackType

from app.errors import UsageError

#: How to get the desktop application onto an installation without it.
INSTALL_GUI = "pip install 'chainproof[gui]'"


def run_gui(case_dir: Path | None = None) -> int:
    """Create the QApplication and the main window, open ``case_dir`` if given, run.

    Without Qt (PySide6 not installed, or its libraries not loadable) it raises a one-line
    :class:`UsageError` that says how to get it, never a traceback.
    """
    try:
        from PySide6.QtWidgets import QApplication

        from ui.errors import show_error
        from ui.main_window import MainWindow
        from ui.settings import APPLICATION, ORGANISATION
    except ImportError as exc:
        raise gui_unavailable(exc) from exc

    app = QApplication.instance() or QApplication(sys.argv[:1])
    QApplication.setOrganizationName(ORGANISATION)
    QApplication.setApplicationName(APPLICATION)
    QApplication.setStyle("Fusion")
    window = MainWindow(case_dir)
    previous = sys.excepthook

    def hook(et: type[BaseException], ev: BaseException, tb: TracebackType | None) -> None:
        # An unexpected exception in a slot is shown to the examiner, never swallowed.
        previous(et, ev, tb)
        show_error(window, ev)

    sys.excepthook = hook
    try:
        window.show()
        if window.identity is None and case_dir is None:
            from app.paths import identity_file

            if not identity_file().exists():
                window.create_identity()
        return int(app.exec())
    finally:
        sys.excepthook = previous


def gui_unavailable(exc: ImportError) -> UsageError:
    """The one-line error for a desktop application that cannot be imported."""
    detail = " ".join(str(exc).split())
    qt = (exc.name or "").partition(".")[0] in ("PySide6", "shiboken6")
    if qt and isinstance(exc, ModuleNotFoundError):
        if getattr(sys, "frozen", False):
            return UsageError(
                "this chainproof binary was built without the desktop application "
                "(a headless build); use one built with it (scripts/build.sh)"
            )
        return UsageError(
            f"the desktop application needs PySide6, which is not installed: {INSTALL_GUI}"
        )
    if qt or "PySide6" in str(exc.path):  # installed, but a library of Qt's does not load
        return UsageError(f"the desktop application cannot load Qt (PySide6): {detail}")
    return UsageError(f"the desktop application is not available: {detail}")
