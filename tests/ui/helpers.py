"""Helpers for driving the desktop application in tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def collect(
    qtbot: Any,
    w: Any,
    paths: list[str],
    profile: str = "none",
    screenshot: bool = False,
    timeout: int = 60_000,
) -> Any:
    """Collect through the collection screen (Start button); returns the RunSummary."""
    from PySide6.QtCore import Qt

    view = w.collect_view
    view.select_profile(profile)
    view.set_collector_checked("screenshot", screenshot)
    for p in paths:
        view.path_edit.setText(p)
        qtbot.keyClick(view.path_edit, Qt.Key.Key_Return)
    with qtbot.waitSignal(view.run_finished, timeout=timeout) as blocker:
        qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def start_collection(qtbot: Any, w: Any, paths: list[str], profile: str = "none") -> None:
    """Start a run through the collection screen (Start button) and return at once."""
    from PySide6.QtCore import Qt

    view = w.collect_view
    view.select_profile(profile)
    view.set_collector_checked("screenshot", False)
    for p in paths:
        view.add_path(p)
    qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
    assert view.running


def verify_now(qtbot: Any, w: Any, *, record: bool = True, timeout: int = 60_000) -> Any:
    """Verify the open case with the Verify page's button; returns the Report."""
    from PySide6.QtCore import Qt

    vv = w.verify_view
    w.show_page(4)
    vv.record.setChecked(record)
    with qtbot.waitSignal(vv.verified, timeout=timeout) as blocker:
        qtbot.mouseClick(vv.verify_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def flip_artifact_byte(case: Any, source: Path) -> int:
    """Flip one bit of the archived copy of ``source``; returns its ledger entry (seq)."""
    from sqlalchemy import select

    from custody.db.models import Artifact

    with case.sessions() as s:
        art = s.scalars(select(Artifact).where(Artifact.source_path == str(source))).one()
        archive = case.evidence_dir / f"{art.run_id}.tar"
        seq, offset = int(art.seq), int(art.data_offset)
    archive.chmod(0o644)
    with archive.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x01]))
    return seq


def orphan_archive(case: Any) -> None:
    """Put an archive no run owns into the case: its next verification fails."""
    (case.evidence_dir / "stray.tar").write_bytes(b"\0" * 1024)


def column(model: Any, name: str) -> int:
    """The index of the column headed ``name``."""
    from PySide6.QtCore import Qt

    for c in range(model.columnCount()):
        if model.headerData(c, Qt.Orientation.Horizontal) == name:
            return c
    raise AssertionError(f"no column {name!r}")


def press_escape(qtbot: Any, w: Any) -> None:
    """Press Esc in the main window, made active first (as a person's click would; under a
    bare X server no window manager activates it, and window shortcuts need that)."""
    from PySide6.QtCore import Qt

    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5000)
    qtbot.keyClick(w, Qt.Key.Key_Escape)
