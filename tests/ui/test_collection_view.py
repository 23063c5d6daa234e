"""Collecting through the collection screen: progress, cancel, profiles, the output warning."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from sqlalchemy import select

from custody.db.models import Artifact, Run
from tests.ui.helpers import collect
from ui.workers import ProgressCoalescer, Snapshot


def test_collect_a_tree_with_live_progress(qtbot: Any, opened: Any, make_tree: Any) -> None:
    tree = make_tree(200)
    snapshots: list[Snapshot] = []
    opened.collect_view.snapshot_shown.connect(snapshots.append)

    summary = collect(qtbot, opened, [f"{tree}/**"])

    assert summary.status == "finished"
    assert summary.artifacts == 201  # the system record and 200 files
    assert snapshots and snapshots[-1].state == "finished"
    assert [c.name for c in snapshots[-1].collectors] == ["system", "files"]
    assert all(c.state == "done" for c in snapshots[-1].collectors)
    view = opened.collect_view
    assert view.overall.value() == view.overall.maximum()
    assert "finished" in view.state_label.text() and "201 artifacts" in view.state_label.text()
    assert view.start_button.isEnabled() and not view.cancel_button.isEnabled()
    # the artifact screen and the status bar follow the run
    opened.show_page(2)
    assert opened.artifact_view.model.rowCount() == 201
    assert "Ledger head #" in opened.head_label.text()
    with opened.case.sessions() as s:
        run = s.scalars(select(Run)).one()
    assert run.profile == "none (edited)" and run.status == "finished"


def test_cancel_midway_keeps_what_was_collected(qtbot: Any, opened: Any, make_tree: Any) -> None:
    tree = make_tree(3000, size=4096)
    view = opened.collect_view
    view.select_profile("none")
    view.set_collector_checked("screenshot", False)
    view.add_path(f"{tree}/**")
    clicked: list[float] = []

    def cancel_on_first_items(snap: Snapshot) -> None:
        files = [c for c in snap.collectors if c.name == "files"]
        if not clicked and files and files[0].done > 0:
            clicked.append(time.monotonic())
            qtbot.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)

    view.snapshot_shown.connect(cancel_on_first_items)
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(10)
    with qtbot.waitSignal(view.run_finished, timeout=60_000) as blocker:
        qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
    timer.stop()
    summary = blocker.args[0]

    assert clicked, "no progress arrived before the run ended"
    assert summary.status == "interrupted"
    assert time.monotonic() - clicked[0] < 5.0  # stops within a second, sealing included
    assert 0 < summary.artifacts < 3001
    with opened.case.sessions() as s:
        run = s.scalars(select(Run)).one()
        stored = s.scalar(select(Artifact.seq).order_by(Artifact.seq.desc()).limit(1))
    assert run.status == "interrupted" and stored is not None
    # the event loop kept turning during the run
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert ticks and max(gaps, default=0) < 1.0
    # the collected artifacts are listed
    opened.show_page(2)
    assert opened.artifact_view.model.rowCount() == summary.artifacts + summary.errors
    assert "cancelled" in view.state_label.text()


def test_minimal_profile_with_screenshots(qtbot: Any, opened: Any) -> None:
    summary = collect(qtbot, opened, [], profile="minimal", screenshot=True, timeout=120_000)
    assert summary.status == "finished"
    with opened.case.sessions() as s:
        collectors = set(s.scalars(select(Artifact.collector)))
        shots = s.scalars(
            select(Artifact.member_name).where(Artifact.collector == "screenshot")
        ).all()
    assert {"system", "processes", "network", "screenshot"} <= collectors
    assert shots and shots[0] == "screenshots/screen-1.png"
    opened.show_page(2)
    assert opened.artifact_view.model.rowCount() >= 4


def test_profile_choice_fills_the_collector_tree(opened: Any, tmp_path: Path) -> None:
    view = opened.collect_view
    view.select_profile("minimal")
    assert view.chosen_collectors() == ["system", "processes", "network", "screenshot"]
    view.select_profile("none")
    assert view.chosen_collectors() == ["system"]
    view.add_path(str(tmp_path / "x" / "**"))
    assert "files" in view.chosen_collectors()
    profile = view.build_profile()
    assert profile.collectors["files"]["targets"] == [str(tmp_path / "x" / "**")]
    assert profile.name == "none (edited)"


def test_same_file_system_warning(opened: Any, tmp_path: Path) -> None:
    view = opened.collect_view
    view.select_profile("none")
    view.add_path("/proc/self/status")  # procfs: never the case's file system
    assert view.fs_warning.isHidden()
    view.add_path(str(tmp_path / "tree" / "**"))  # the case lives in tmp_path too
    assert not view.fs_warning.isHidden()
    assert "same file system" in view.fs_warning.text()


def test_coalescer_emits_at_most_every_interval() -> None:
    from app.collection import ProgressEvent

    out: list[Snapshot] = []
    c = ProgressCoalescer(["files"], out.append, interval=10.0)
    c(ProgressEvent("started"))
    c(ProgressEvent("collector", collector="files", message="Files"))
    for i in range(1, 20_001):
        c(ProgressEvent("item", collector="files", done=i, total=20_000, bytes_done=i * 10))
    c(ProgressEvent("problem", collector="files", message="error: gone", errors=1))
    c(ProgressEvent("finished", message="finished", errors=1))
    assert len(out) == 3  # started, collector, finished: 20,000 items folded
    assert out[-1].items_done == 20_000 and out[-1].errors == 1
    assert out[-1].problems == ["[files]: error: gone"]
    assert out[-1].overall == 1.0


@pytest.mark.parametrize("shortcut", ["F5"])
def test_collect_shortcut(opened: Any, shortcut: str) -> None:
    assert opened.collect_action.shortcut().toString() == shortcut
