"""PyInstaller run-time hook for Chainproof's one-file build (see build.spec, docs/BUILD.md).

It replaces PyInstaller's own PySide6 hook, which imports ``PySide6.QtCore`` (and with it the
Qt and ICU libraries) when *any* command starts: ``chainproof --version`` and every CLI
command would load Qt. This hook only points Qt at the bundled plugins; the PySide6 wheel
registers its own relocating ``qt.conf`` when the GUI imports QtCore.
"""

import os
import sys
from pathlib import Path


def _pyi_rthook() -> None:
    base = getattr(sys, "_MEIPASS", None)
    if base is None:
        return
    qt_dir = Path(base, "PySide6") if sys.platform == "win32" else Path(base, "PySide6", "Qt")
    # As PyInstaller does: the bundled plugins only, never a system Qt's of another version.
    os.environ["QT_PLUGIN_PATH"] = str(qt_dir / "plugins")


_pyi_rthook()
del _pyi_rthook
