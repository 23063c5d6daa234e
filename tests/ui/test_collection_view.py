"""Collecting through the collection screen: progress, cancel, profiles, the output warning."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QMessageBox, QProgressBar
from sqlalchemy import select

from app.collection import ProgressEvent
from custody.db.models import Artifact, Run
from tests.ui.helpers import collect, press_escape, start_collection
from ui.workers import ProgressCoalescer, Snapshot

YES = QMessageBox.StandardButton.Yes


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


def test_cancel_midway_keeps_what_was_collected(
    qtbot: Any, opened: Any, make_tree: Any, message_boxes: Any
) -> None:
    tree = make_tree(3000, size=4096)
    view = opened.collect_view
    message_boxes.answers.append(YES)  # "Stop the collection?"
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
    assert message_boxes.texts() == [message_boxes.texts()[0]]  # asked once, then stopped
    message_boxes.clear()


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
    assert out[-1].state == "finished"
    assert [c.state for c in out[-1].collectors] == ["done"]


def test_coalescer_counts_items_before_their_total_is_known() -> None:
    out: list[Snapshot] = []
    c = ProgressCoalescer(["files"], out.append, interval=10.0)
    c(ProgressEvent("started"))
    c(ProgressEvent("collector", collector="files", message="Files"))
    for i in range(1, 501):  # past the run's look-ahead: no total while the walk goes on
        c(ProgressEvent("item", collector="files", done=i, bytes_done=i * 10))
    snap = c.snapshot()
    (files,) = snap.collectors
    assert (files.done, files.total, snap.items_done, snap.eta_seconds) == (500, None, 500, None)
    c(ProgressEvent("collector_end", collector="files", done=500, total=500))
    c(ProgressEvent("finished", message="finished"))
    assert [(c.done, c.total) for c in out[-1].collectors] == [(500, 500)]


@pytest.mark.parametrize("shortcut", ["F5"])
def test_collect_shortcut(opened: Any, shortcut: str) -> None:
    assert opened.collect_action.shortcut().toString() == shortcut


def _bar(view: Any, collector: str) -> QProgressBar:
    table = view.collector_table
    for i in range(table.topLevelItemCount()):
        row = table.topLevelItem(i)
        if row.text(0) == collector:
            bar = table.itemWidget(row, 1)
            assert isinstance(bar, QProgressBar)
            return bar
    raise AssertionError(f"no progress row for {collector}")


def test_overall_progress_claims_no_share_it_cannot_know(
    qtbot: Any, opened: Any, make_tree: Any
) -> None:
    tree = make_tree(300)
    view = opened.collect_view
    seen: list[tuple[Snapshot, int, int, str]] = []
    view.snapshot_shown.connect(
        lambda snap: seen.append(
            (snap, view.overall.maximum(), view.overall.value(), view.state_label.text())
        )
    )
    summary = collect(qtbot, opened, [f"{tree}/**"])
    assert summary.status == "finished"
    running = [(snap, hi, label) for snap, hi, _value, label in seen if snap.state == "running"]
    files = [
        (hi, label)
        for snap, hi, label in running
        if any(c.name == "files" and c.state == "running" for c in snap.collectors)
    ]
    assert files, "no snapshot arrived while the files collector ran"
    # How much of a run is done is not known while collectors run (what the next one will
    # find is not known yet): the overall bar is busy, and says which collector runs.
    assert [hi for hi, _label in files] == [0] * len(files), "overall claims a share of the work"
    assert all("collector 2 of 2" in label for _hi, label in files)
    assert view.overall.value() == view.overall.maximum() > 0  # finished: full


def test_a_cancelled_run_is_not_shown_as_done(
    qtbot: Any, opened: Any, make_tree: Any, message_boxes: Any
) -> None:
    tree = make_tree(3000, size=4096)
    view = opened.collect_view
    message_boxes.answers.append(YES)
    pressed: list[int] = []

    def escape_once(snap: Snapshot) -> None:
        files = [c for c in snap.collectors if c.name == "files"]
        if not pressed and files and files[0].done > 0:
            pressed.append(files[0].done)
            press_escape(qtbot, opened)

    view.snapshot_shown.connect(escape_once)
    with qtbot.waitSignal(view.run_finished, timeout=120_000) as blocker:
        start_collection(qtbot, opened, [f"{tree}/**"])
    summary = blocker.args[0]
    assert pressed and summary.status == "interrupted"
    bar = _bar(view, "files")
    assert bar.text() != "done" and "cancelled" in bar.text(), bar.text()
    assert view.last_snapshot is not None
    assert [c.state for c in view.last_snapshot.collectors] == ["done", "cancelled"]
    assert view.last_snapshot.state == "interrupted"
    assert view.overall.value() < view.overall.maximum(), "a cancelled run is shown complete"
    assert "cancelled" in view.overall.text()
    assert len(message_boxes) == 1  # asked first
    message_boxes.clear()


def test_collect_page_forgets_the_previous_cases_run(
    qtbot: Any, opened: Any, make_case: Any, make_tree: Any
) -> None:
    tree = make_tree(10)
    os.mkfifo(tree / "a-fifo")  # one problem to list
    collect(qtbot, opened, [f"{tree}/**"])
    view = opened.collect_view
    assert "finished" in view.state_label.text() and view.errors.count() == 1
    other = make_case("Case B")
    opened.open_case_dir(other.root)
    opened.show_page(1)
    assert view.state_label.text() == "Not started.", "case B shows case A's run"
    assert view.last_summary is None and view.last_snapshot is None
    assert view.collector_table.topLevelItemCount() == 0 and view.errors.count() == 0
    assert view.overall.value() < view.overall.minimum() or view.overall.value() == 0
    assert view.rate_label.text() == "–" and view.current_label.text() == "–"


def test_no_other_case_opens_while_a_collection_runs(
    qtbot: Any, opened: Any, make_case: Any, make_tree: Any, message_boxes: Any
) -> None:
    other = make_case("Case B")
    tree = make_tree(1500, size=4096)
    case_a = opened.case
    view = opened.collect_view
    with qtbot.waitSignal(view.run_finished, timeout=120_000):
        start_collection(qtbot, opened, [f"{tree}/**"])
        opened.open_case_dir(other.root)
        assert opened.case is case_a, "the window left a running collection's case"
        assert "collection is running" in message_boxes.texts()[0]
        assert view.cancel_button.isEnabled() and not view.start_button.isEnabled()
        message_boxes.answers.append(YES)
        qtbot.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)
    message_boxes.clear()
