"""The desktop application's entry point: the only module of ``app/`` that imports Qt."""

from __future__ import annotations

import sys
from pathlib import Path
from types import TracebackType


def run_gui(case_dir: Path | None = None) -> int:
    """Create the QApplication and the main window, open ``case_dir`` if given, run."""
    from PySide6.QtWidgets import QApplication

    from ui.errors import show_error
    from ui.main_window import MainWindow
    from ui.settings import APPLICATION, ORGANISATION

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
