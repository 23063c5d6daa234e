"""A packet capture chosen on the collection screen: its settings, its live counts in its
own row while the other collectors run, and its artifact."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from tests.app.test_capture_run import Sender, capture_artifact
from ui.workers import Snapshot

pytestmark = pytest.mark.skipif(
    not (platform.system() == "Linux" and hasattr(os, "geteuid") and os.geteuid() == 0),
    reason="native capture runs as root on Linux (as CI does)",
)


def test_capture_settings_show_only_while_the_capture_is_chosen(opened: Any) -> None:
    opened.show_page(1)
    view = opened.collect_view
    view.select_profile("none")
    assert not view.capture_box.isVisible()
    view.set_collector_checked("capture", True)
    assert view.capture_box.isVisible()
    view.capture_seconds.setValue(7)
    view.capture_interfaces.setText("lo, eth0")
    view.capture_filter.setText("udp")
    view.capture_snaplen.setValue(96)
    view.capture_max.setText("500MiB")
    view.capture_tool.setCurrentText("tcpdump")
    options = view.build_profile().collectors["capture"]
    assert options == {
        "seconds": 7,
        "interfaces": ["lo", "eth0"],
        "filter": "udp",
        "snaplen": 96,
        "max_bytes": "500MiB",
        "tool": "tcpdump",
    }
    view.set_collector_checked("capture", False)
    assert not view.capture_box.isVisible()
    assert "capture" not in view.build_profile().collectors


def test_capture_runs_beside_the_files_with_its_counts_in_its_row(
    qtbot: Any, opened: Any, make_tree: Any, tmp_path: Path
) -> None:
    view = opened.collect_view
    view.select_profile("none")
    view.set_collector_checked("capture", True)
    view.capture_seconds.setValue(3)
    view.capture_interfaces.setText("lo")
    sender = Sender()
    snapshots: list[Snapshot] = []

    def seen(snap: Snapshot) -> None:
        snapshots.append(snap)
        if any(c.name == "capture" and "packets" in c.detail for c in snap.collectors):
            sender.go.set()  # traffic while the capture runs

    view.snapshot_shown.connect(seen)
    view.set_collector_checked("screenshot", False)
    view.add_path(f"{make_tree(300)}/**")
    try:
        with qtbot.waitSignal(view.run_finished, timeout=60_000) as blocker:
            qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
    finally:
        sender.close()
    summary = blocker.args[0]
    assert summary.status == "finished", summary
    rows = [{c.name: c for c in s.collectors} for s in snapshots]
    # the files collector ran while the capture was still running, not "done"
    assert any(r["files"].state == "running" and r["capture"].state == "running" for r in rows)
    assert any("packets" in r["capture"].detail for r in rows)
    assert all(c.state == "done" for c in snapshots[-1].collectors)
    bar = view._bars["capture"]
    assert bar.format() == "done"
    artifact = capture_artifact(opened.case)
    assert artifact.capture is not None and artifact.capture.interfaces == ("lo",)
    assert artifact.capture.packets >= len(sender.sent) > 0
    assert view.capture_box.isEnabled()  # given back once the run ended


def test_capture_settings_that_are_not_valid_start_nothing(
    opened: Any, alice: Any, message_boxes: Any
) -> None:
    view = opened.collect_view
    view.select_profile("none")
    view.set_collector_checked("capture", True)
    view.capture_max.setText("a lot")
    view.start(alice)
    assert not view.running
    assert message_boxes and message_boxes[-1][0] == "Packet capture"
    message_boxes.clear()  # the box was expected


def test_capture_settings_fit_a_1024x700_window(qtbot: Any, opened: Any) -> None:
    from tests.ui.test_layout_theme import SMALL, _problems

    opened.resize(SMALL)
    opened.show_page(1)
    opened.collect_view.select_profile("none")
    opened.collect_view.set_collector_checked("capture", True)
    qtbot.wait(50)
    assert opened.size() == SMALL
    assert opened.collect_view.capture_box.isVisible()
    assert not _problems(opened)
