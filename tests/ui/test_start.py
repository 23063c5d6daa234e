"""A quick start: the first screen imports nothing it does not need (the PDF and signature
libraries, the database engine, the collectors, the chart module come when used)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Modules the case list does not need on the GUI thread (the list is read off it).
DEFERRED = (
    "reportlab",
    "pyhanko",
    "sqlalchemy",
    "collectors",
    "app.cases",
    "app.verification",
    "app.export_service",
    "PySide6.QtCharts",
    "ui.collection_view",
    "ui.custody_view",
    "ui.verify_view",
)


def test_the_main_window_module_defers_what_the_first_screen_does_not_need() -> None:
    code = (
        "import sys, ui.main_window\n"
        f"print(' '.join(m for m in {DEFERRED!r} if m in sys.modules))\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == [], f"imported at start: {done.stdout.strip()}"
