"""The collection screen: what to collect, where it goes, and the run's live progress."""

from __future__ import annotations

import copy
import dataclasses
import gc
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.browse import same_filesystem
from app.cases import CaseHandle
from app.collection import CollectionRun, RunSummary
from app.identity import Identity
from app.profiles import BUILTIN_PROFILES, Profile, capture_problem, load_profile, ordered
from ui import screenshot_collector, theme
from ui.accessibility import announce
from ui.confirm import confirm, warn
from ui.errors import show_error
from ui.widgets import ElidedLabel
from ui.workers import CollectionWorker, CollectorProgress, Snapshot

_CUSTOM = "Profile file…"
#: The capture's largest snap length (whole packets, its default) and its methods.
_WHOLE_PACKETS = 262_144
_CAPTURE_TOOLS = ("native", "tcpdump", "dumpcap")
_NAME = Qt.ItemDataRole.UserRole
_TARGET = Qt.ItemDataRole.UserRole + 1


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 10:
        return "under 1 s" if seconds < 1 else f"{seconds:.1f} s"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _target_path(target: Any) -> str:
    return str(target.get("path", "")) if isinstance(target, dict) else str(target)


class CollectionView(QWidget):
    """Choose a profile or collectors and paths, start a run, follow it, cancel it."""

    start_requested = Signal()
    run_finished = Signal(object)  # RunSummary
    run_failed = Signal(object)  # exception
    snapshot_shown = Signal(object)  # Snapshot (for tests and the status bar)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.case: CaseHandle | None = None
        self.worker: CollectionWorker | None = None
        self.last_summary: RunSummary | None = None
        self.last_snapshot: Snapshot | None = None
        self._profile: Profile | None = None
        self.sealed = False  # the case is sealed: no collection
        self._bars: dict[str, QProgressBar] = {}
        self._rows: dict[str, QTreeWidgetItem] = {}

        outer = QVBoxLayout(self)
        heading = QLabel("Collect evidence")
        heading.setObjectName("heading")
        outer.addWidget(heading)
        split = QSplitter(Qt.Orientation.Horizontal)
        outer.addWidget(split, 1)
        split.addWidget(self._build_choice())
        split.addWidget(self._build_progress())
        split.setStretchFactor(0, 5)
        split.setStretchFactor(1, 6)
        split.setSizes([560, 680])
        self.profile_combo.setCurrentText("minimal")
        self._load_profile("minimal")
        self._set_running(False)

    # ------------------------------------------------------------------ layout
    def _build_choice(self) -> QWidget:
        box = QGroupBox("What to collect")
        layout = QVBoxLayout(box)
        form = QFormLayout()
        self.profile_combo = QComboBox()
        self.profile_combo.setObjectName("profile")
        self.profile_combo.setAccessibleName("collection profile")
        self.profile_combo.addItems([*BUILTIN_PROFILES, _CUSTOM])
        self.profile_combo.activated.connect(self._profile_chosen)
        form.addRow("&Profile", self.profile_combo)
        self.profile_description = QLabel()
        self.profile_description.setWordWrap(True)
        self.profile_description.setObjectName("muted")
        form.addRow("", self.profile_description)
        layout.addLayout(form)

        self.tree = QTreeWidget()
        self.tree.setObjectName("collector_tree")
        self.tree.setAccessibleName("collectors and paths")
        self.tree.setHeaderLabels(["Collector / path", "What it takes"])
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setStretchLastSection(True)
        self.tree.setUniformRowHeights(True)
        self.tree.itemChanged.connect(self._item_changed)
        layout.addWidget(self.tree, 1)

        paths = QHBoxLayout()
        self.path_edit = QLineEdit()
        self.path_edit.setObjectName("path_edit")
        self.path_edit.setAccessibleName("path or glob to add")
        self.path_edit.setPlaceholderText("/var/www/**  or  ~/Downloads/*.exe")
        self.path_edit.returnPressed.connect(self._add_path_from_edit)
        add = QPushButton("Add path")
        add.setAccessibleName("add path")
        add.clicked.connect(self._add_path_from_edit)
        folder = QPushButton("Folder…")
        folder.setAccessibleName("add a folder")
        folder.clicked.connect(self._add_folder)
        paths.addWidget(self.path_edit, 1)
        paths.addWidget(add)
        paths.addWidget(folder)
        layout.addLayout(paths)
        layout.addWidget(self._build_capture())

        out = QFormLayout()
        self.output_label = QLabel("(no case open)")
        self.output_label.setObjectName("output_location")
        self.output_label.setAccessibleDescription("output location")
        self.output_label.setWordWrap(True)
        self.output_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        out.addRow("Output", self.output_label)
        layout.addLayout(out)
        self.fs_warning = QLabel()
        self.fs_warning.setObjectName("fs_warning")
        self.fs_warning.setAccessibleDescription("same file system warning")
        self.fs_warning.setWordWrap(True)
        self.fs_warning.setStyleSheet(theme.notice_css())
        theme.watcher().changed.connect(self._restyle)
        self.fs_warning.hide()
        layout.addWidget(self.fs_warning)

        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start collection")
        self.start_button.setObjectName("start")
        self.start_button.setAccessibleName("start collection")
        self.start_button.setToolTip("Start collection (F5)")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start_requested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel")
        self.cancel_button.setAccessibleName("cancel collection")
        self.cancel_button.setToolTip(
            "Stop (Esc, asks first): what was collected so far is sealed and kept"
        )
        self.cancel_button.clicked.connect(self.request_cancel)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.start_button)
        layout.addLayout(buttons)
        self.choice_box = box
        return box

    def _build_capture(self) -> QWidget:
        """The packet capture's settings, shown while the capture collector is chosen."""
        box = QGroupBox("Packet capture (beside the other collectors)")
        box.setObjectName("capture_settings")
        grid = QGridLayout(box)
        grid.setContentsMargins(6, 2, 6, 2)
        grid.setVerticalSpacing(2)
        self.capture_seconds = QSpinBox()
        self.capture_seconds.setObjectName("capture_seconds")
        self.capture_seconds.setAccessibleName("capture duration in seconds")
        self.capture_seconds.setRange(1, 24 * 3600)
        self.capture_seconds.setValue(60)
        self.capture_seconds.setSuffix(" s")
        self.capture_interfaces = QLineEdit()
        self.capture_interfaces.setObjectName("capture_interfaces")
        self.capture_interfaces.setAccessibleName("interfaces to capture")
        self.capture_interfaces.setPlaceholderText("every interface up but loopback; or: eth0 lo")
        self.capture_filter = QLineEdit()
        self.capture_filter.setObjectName("capture_filter")
        self.capture_filter.setAccessibleName("capture filter")
        self.capture_filter.setPlaceholderText("optional BPF filter, e.g. tcp port 443")
        self.capture_snaplen = QSpinBox()
        self.capture_snaplen.setObjectName("capture_snaplen")
        self.capture_snaplen.setAccessibleName("bytes kept of each packet")
        self.capture_snaplen.setRange(1, _WHOLE_PACKETS)
        self.capture_snaplen.setValue(_WHOLE_PACKETS)
        self.capture_snaplen.setSuffix(" bytes")
        self.capture_max = QLineEdit()
        self.capture_max.setObjectName("capture_max_bytes")
        self.capture_max.setAccessibleName("stop the capture at this size")
        self.capture_max.setPlaceholderText("1GiB")
        self.capture_tool = QComboBox()
        self.capture_tool.setObjectName("capture_tool")
        self.capture_tool.addItems(list(_CAPTURE_TOOLS))
        self.capture_tool.setAccessibleName("capture method")
        rows = [
            (("Capture &for", self.capture_seconds), ("Snap &length", self.capture_snaplen)),
            (("I&nterfaces", self.capture_interfaces), ("F&ilter", self.capture_filter)),
            (("Stop at si&ze", self.capture_max), ("Ca&pture with", self.capture_tool)),
        ]  # two settings a row: the screen must fit 1024x700 with the capture chosen
        for row, pairs in enumerate(rows):
            for column, (text, field) in enumerate(pairs):
                label = QLabel(text)
                label.setBuddy(field)
                grid.addWidget(label, row, 2 * column)
                grid.addWidget(field, row, 2 * column + 1)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        box.hide()
        self.capture_box = box
        return box

    def _capture_options(self, base: dict[str, Any]) -> dict[str, Any]:
        """The capture collector's options: the profile's, with the settings shown."""
        options = {**base, "seconds": self.capture_seconds.value()}
        interfaces = self.capture_interfaces.text().replace(",", " ").split()
        options["interfaces"] = interfaces or None
        options["filter"] = self.capture_filter.text().strip() or None
        options["snaplen"] = self.capture_snaplen.value()
        options["max_bytes"] = self.capture_max.text().strip() or None
        options["tool"] = self.capture_tool.currentText()
        return {k: v for k, v in options.items() if v is not None}

    def _show_capture_settings(self, profile: Profile | None = None) -> None:
        item = self._collector_items.get("capture")
        chosen = item is not None and item.checkState(0) == Qt.CheckState.Checked
        if profile is not None:  # a profile's own capture settings fill the fields
            given = profile.collectors.get("capture") or {}
            self.capture_seconds.setValue(int(given.get("seconds") or 60))
            self.capture_interfaces.setText(" ".join(given.get("interfaces") or ()))
            self.capture_filter.setText(str(given.get("filter") or ""))
            snaplen = given.get("snaplen")
            self.capture_snaplen.setValue(snaplen if isinstance(snaplen, int) else _WHOLE_PACKETS)
            self.capture_max.setText(str(given.get("max_bytes") or ""))
            tool = str(given.get("tool") or _CAPTURE_TOOLS[0])
            self.capture_tool.setCurrentText(tool if tool in _CAPTURE_TOOLS else _CAPTURE_TOOLS[0])
        self.capture_box.setVisible(chosen)

    def _build_progress(self) -> QWidget:
        box = QGroupBox("Progress")
        layout = QVBoxLayout(box)
        self.state_label = QLabel("Not started.")
        self.state_label.setWordWrap(True)  # long states wrap rather than widen the window
        self.state_label.setObjectName("run_state")
        self.state_label.setAccessibleDescription("run state")
        layout.addWidget(self.state_label)
        self.overall = QProgressBar()
        self.overall.setObjectName("overall_progress")
        self.overall.setAccessibleName("overall progress")
        self.overall.setRange(0, 1000)
        self.overall.reset()
        layout.addWidget(self.overall)

        self.collector_table = QTreeWidget()
        self.collector_table.setObjectName("collector_progress")
        self.collector_table.setAccessibleName("progress per collector")
        self.collector_table.setHeaderLabels(["Collector", "Progress", "Items", "Problems"])
        self.collector_table.setRootIsDecorated(False)
        self.collector_table.setUniformRowHeights(True)
        h = self.collector_table.header()
        h.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        h.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        h.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        h.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        h.setStretchLastSection(False)
        layout.addWidget(self.collector_table, 2)

        stats = QFormLayout()
        # The path being read, shortened in the middle to the room there is.
        self.current_label = ElidedLabel("–", minimum=100, mode=Qt.TextElideMode.ElideMiddle)
        self.current_label.setObjectName("current_item")
        self.current_label.setAccessibleDescription("current file")
        self.current_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.rate_label = QLabel("–")
        self.rate_label.setObjectName("rate")
        self.rate_label.setAccessibleDescription("rate")
        self.rate_label.setWordWrap(True)
        self.eta_label = QLabel("–")
        self.eta_label.setWordWrap(True)
        self.eta_label.setObjectName("eta")
        self.eta_label.setAccessibleDescription("time remaining")
        stats.addRow("Current", self.current_label)
        stats.addRow("Collected", self.rate_label)
        stats.addRow("Remaining", self.eta_label)
        layout.addLayout(stats)

        problems = QLabel("Problems (skipped, unreadable, changed while read)")
        problems.setWordWrap(True)
        layout.addWidget(problems)
        self.errors = QListWidget()
        self.errors.setObjectName("problems")
        self.errors.setAccessibleName("problems during collection")
        self.errors.setUniformItemSizes(True)
        layout.addWidget(self.errors, 1)
        return box

    def _restyle(self, colours: theme.Colours) -> None:
        self.fs_warning.setStyleSheet(theme.notice_css(colours))

    # ------------------------------------------------------------------ choice
    def set_case(self, case: CaseHandle | None) -> None:
        """Collect into ``case``; the last run shown was another case's, so it goes.

        The window never changes the case while a run goes on (see
        ``MainWindow.may_change_case``): the run's progress belongs to its case.
        """
        if self.running and case is not self.case:
            raise RuntimeError("the case cannot change while a collection runs")
        if case is not self.case:
            self._clear_progress()
        self.case = case
        if case is None:
            self.output_label.setText("(no case open)")
        else:
            self.output_label.setText(f"{case.evidence_dir}  (one archive per run)")
        self._check_output()
        self.refresh_sealed()

    def refresh_sealed(self) -> None:
        """A sealed case takes no more evidence: Start is off, and the screen says why."""
        try:
            self.sealed = self.case is not None and self.case.state().sealed
        except Exception as exc:  # noqa: BLE001 - an unreadable ledger: shown, Start stays off
            self.sealed = True
            show_error(self, exc)
        if self.sealed and not self.running:
            self.state_label.setText(
                "The case is sealed: no more evidence can be collected into it."
            )
        self._set_running(self.running)

    def _clear_progress(self) -> None:
        """Nothing run yet: no collectors, problems, figures or result."""
        self.last_summary = None
        self.last_snapshot = None
        self.collector_table.clear()
        self._bars.clear()
        self._rows.clear()
        self.errors.clear()
        self.overall.setRange(0, 1000)
        self.overall.reset()
        self.state_label.setText("Not started.")
        for label in (self.current_label, self.rate_label, self.eta_label):
            label.setText("–")
            label.setToolTip("")

    def _profile_chosen(self, index: int) -> None:
        name = self.profile_combo.itemText(index)
        if name == _CUSTOM:
            chosen, _ = QFileDialog.getOpenFileName(
                self, "Collection profile", "", "Profiles (*.yaml *.yml)"
            )
            if not chosen:
                return
            name = chosen
        self._load_profile(name)

    def select_profile(self, name: str) -> None:
        """Choose a built-in profile (or a profile file path)."""
        if name in BUILTIN_PROFILES:
            self.profile_combo.setCurrentText(name)
        self._load_profile(name)

    def _load_profile(self, name: str) -> None:
        try:
            profile = load_profile(name)
        except Exception as exc:  # noqa: BLE001 - a malformed profile file is shown, not fatal
            show_error(self, exc)
            return
        self._profile = profile
        self.profile_description.setText(profile.description)
        self._fill_tree(profile)

    def _fill_tree(self, profile: Profile) -> None:
        self.tree.blockSignals(True)
        self.tree.clear()
        self._collector_items: dict[str, QTreeWidgetItem] = {}
        in_profile = set(profile.collectors)
        for cls in ordered():
            item = QTreeWidgetItem([cls.name, cls.description])
            item.setData(0, _NAME, cls.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            on = cls.name in in_profile or (
                cls.name == screenshot_collector.NAME and profile.name != "none"
            )
            item.setCheckState(0, Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
            item.setToolTip(1, cls.description)
            self.tree.addTopLevelItem(item)
            self._collector_items[cls.name] = item
            if cls.name == "files":
                for target in (profile.collectors.get("files") or {}).get("targets") or []:
                    self._add_target_item(target, checked=True)
        self.tree.expandAll()
        self.tree.blockSignals(False)
        self._show_capture_settings(profile)
        self._check_output()

    def _add_target_item(self, target: Any, *, checked: bool) -> QTreeWidgetItem:
        parent = self._collector_items["files"]
        extra = ""
        if isinstance(target, dict):
            extra = ", ".join(f"{k} {v}" for k, v in target.items() if k != "path")
        child = QTreeWidgetItem([_target_path(target), extra or "path or glob"])
        child.setData(0, _TARGET, target)
        child.setFlags(child.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        child.setCheckState(0, Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        parent.addChild(child)
        return child

    def add_path(self, pattern: str) -> None:
        """Add a path or glob to the files collector (and select the files collector)."""
        pattern = pattern.strip()
        if not pattern:
            return
        self.tree.blockSignals(True)
        self._add_target_item(pattern, checked=True)
        self._collector_items["files"].setCheckState(0, Qt.CheckState.Checked)
        self._collector_items["files"].setExpanded(True)
        self.tree.blockSignals(False)
        self._check_output()

    def _add_path_from_edit(self) -> None:
        self.add_path(self.path_edit.text())
        self.path_edit.clear()

    def _add_folder(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Folder to collect")
        if chosen:
            self.add_path(str(Path(chosen) / "**"))

    def _item_changed(self, _item: QTreeWidgetItem, column: int) -> None:
        if column == 0:
            self._show_capture_settings()
            self._check_output()

    def set_collector_checked(self, name: str, checked: bool) -> None:
        self._collector_items[name].setCheckState(
            0, Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked
        )

    def chosen_targets(self) -> list[Any]:
        files = self._collector_items.get("files")
        if files is None or files.checkState(0) != Qt.CheckState.Checked:
            return []
        children = (files.child(i) for i in range(files.childCount()))
        return [
            child.data(0, _TARGET)
            for child in children
            if child is not None and child.checkState(0) == Qt.CheckState.Checked
        ]

    def chosen_collectors(self) -> list[str]:
        return [
            name
            for name, item in self._collector_items.items()
            if item.checkState(0) == Qt.CheckState.Checked
        ]

    def build_profile(self, capture_token: str | None = None) -> Profile:
        """The profile the run will record: the chosen collectors with their options."""
        assert self._profile is not None
        base = self._profile
        chosen: dict[str, dict[str, Any]] = {}
        for name in self.chosen_collectors():
            options = copy.deepcopy(base.collectors.get(name) or {})
            if name == "files":
                options["targets"] = copy.deepcopy(self.chosen_targets())
            if name == screenshot_collector.NAME:
                options = {"capture": capture_token or ""}
            if name == "capture":
                options = self._capture_options(options)
            chosen[name] = options
        same = {k: v for k, v in chosen.items() if k != screenshot_collector.NAME} == {
            k: v for k, v in base.collectors.items() if k != screenshot_collector.NAME
        }
        name = base.name if same else f"{base.name} (edited)"
        return dataclasses.replace(base, name=name, collectors=chosen)

    def _check_output(self) -> None:
        if self.case is None:
            self.fs_warning.hide()
            return
        patterns = [_target_path(t) for t in self.chosen_targets()]
        same = same_filesystem(self.case.evidence_dir, patterns)
        if same:
            shown = ", ".join(same[:3]) + (f" and {len(same) - 3} more" if len(same) > 3 else "")
            self.fs_warning.setText(
                "⚠ The output is on the same file system as the evidence paths "
                f"({shown}). Writing there can overwrite deleted data that is evidence too: "
                "prefer a case on an external evidence drive."
            )
            self.fs_warning.show()
        else:
            self.fs_warning.hide()

    # ------------------------------------------------------------------ run
    @property
    def running(self) -> bool:
        return self.worker is not None

    def _set_running(self, running: bool) -> None:
        self.choice_box.setEnabled(True)
        for w in (self.tree, self.profile_combo, self.path_edit, self.capture_box):
            w.setEnabled(not running)
        self.start_button.setEnabled(not running and self.case is not None and not self.sealed)
        self.cancel_button.setEnabled(running)

    def start(self, identity: Identity) -> None:
        """Start a run of the chosen profile into the open case (off the GUI thread)."""
        if self.case is None or self.running:
            return
        if "capture" in self.chosen_collectors():
            base = self._profile.collectors.get("capture") if self._profile else None
            why = capture_problem(self._capture_options(dict(base or {})))
            if why is not None:
                warn(self, "Packet capture", "The capture's settings are not valid.", why)
                return
        token = None
        if screenshot_collector.NAME in self.chosen_collectors():
            # Qt grabs on the GUI thread only: grab now, hand the bytes to the collector.
            token = screenshot_collector.hold(screenshot_collector.grab_screens())
        profile = self.build_profile(token)
        run = CollectionRun(
            self.case,
            identity,
            profile,
            command_line=["chainproof", "gui", "collect", "--profile", profile.name],
        )
        # A collection allocates by the hundred thousand; a full collection of the cyclic GC
        # would scan the whole heap (Qt, SQLAlchemy, ...) and stall the UI thread for 50-200
        # ms at a time. Freezing what lives now leaves only the run's own objects to scan.
        gc.collect(1)
        gc.freeze()
        self.worker = worker = CollectionWorker(run, self)
        self._reset_progress(list(worker.names))
        worker.progress.connect(self._show_snapshot)
        worker.finished.connect(self._finished)
        worker.failed.connect(self._failed)
        self._set_running(True)
        self.state_label.setText(f"Running profile {profile.name}…")
        worker.start()

    @property
    def cancelling(self) -> bool:
        return self.worker is not None and self.worker.cancel_event.is_set()

    def request_cancel(self) -> None:
        """Stop the run, if the examiner confirms it (Esc and the Cancel button)."""
        if self.worker is None or self.cancelling:
            return
        stop = confirm(
            self,
            "Stop collection",
            "Stop the collection?",
            "What was collected so far is sealed and kept, and the run is recorded as "
            "cancelled. Nothing more is collected in this run.",
            act="Stop collection",
            keep="Continue collecting",
        )
        if stop:
            self.cancel()  # no-op if the run ended while the question was open

    def cancel(self) -> None:
        """Stop the run now, without asking (the window asked, or is closing)."""
        if self.worker is not None:
            self.worker.cancel()
            self.cancel_button.setEnabled(False)
            self.state_label.setText("Cancelling: sealing what was collected…")

    def _reset_progress(self, names: list[str]) -> None:
        self.collector_table.clear()
        self._bars.clear()
        self._rows.clear()
        self.errors.clear()
        # Busy: how much of the run is done is not known until its last collector runs.
        self.overall.setRange(0, 0)
        for name in names:
            row = QTreeWidgetItem([name, "", "", ""])
            self.collector_table.addTopLevelItem(row)
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setTextVisible(True)
            bar.setFormat("waiting")
            bar.setAccessibleName(f"{name} progress")
            bar.setMaximumHeight(18)
            self.collector_table.setItemWidget(row, 1, bar)
            self._bars[name] = bar
            self._rows[name] = row

    def _show_snapshot(self, snap: Snapshot) -> None:
        self.last_snapshot = snap
        for c in snap.collectors:
            bar = self._bars.get(c.name)
            if bar is None:
                continue
            _show_collector(bar, c)
            row = self._rows[c.name]
            row.setText(2, f"{c.done:,}" if c.done or c.total else "")
            row.setText(3, str(c.errors) if c.errors else "")
        n = len(snap.collectors)
        if snap.state == "running":
            if snap.step and not self.cancelling:
                running = next((c for c in snap.collectors if c.name == snap.active), None)
                what = f": {running.description}" if running and running.description else ""
                self.state_label.setText(
                    f"Running: collector {snap.step} of {n}, {snap.active}{what}"
                )
        else:
            self._show_end(snap.state, snap.collectors_done, n)
        self.current_label.setText(snap.current or "–")  # shortened when painted
        self.current_label.setToolTip(snap.current)
        self.rate_label.setText(
            f"{human_bytes(snap.bytes_done)} in {human_duration(snap.elapsed)}"
            f" — {human_bytes(snap.rate_bytes)}/s"
        )
        later = len(snap.collectors) - snap.step
        eta = human_duration(snap.eta_seconds) if snap.eta_seconds is not None else "–"
        if snap.state != "running":
            eta = "–"
        elif later > 0:
            eta += f" for {snap.active}, then {later} more collector{'s' if later > 1 else ''}"
        self.eta_label.setText(eta)
        if snap.problems:
            self.errors.addItems(snap.problems)
            self.errors.scrollToBottom()
        self.snapshot_shown.emit(snap)

    def _show_end(self, status: str, done: int, n: int) -> None:
        """The overall bar when the run has ended: full only for a finished run."""
        if status == "finished":
            self.overall.setRange(0, 1000)
            self.overall.setValue(1000)
            self.overall.setFormat("finished")
            return
        verb = "cancelled" if status == "interrupted" else status
        self.overall.setRange(0, max(1, n))
        self.overall.setValue(min(done, max(1, n) - 1))
        self.overall.setFormat(f"{verb} after {done} of {n} collectors")

    def _finished(self, summary: RunSummary) -> None:
        self.worker = None
        self.last_summary = summary
        self._set_running(False)
        snap = self.last_snapshot
        if snap is None or snap.state == "running":  # the run's end was not reported
            collectors = snap.collectors if snap else []
            for c in collectors:
                bar = self._bars.get(c.name)
                if bar is not None and c.state in ("waiting", "running"):
                    c.state = "not reached" if c.state == "waiting" else "stopped"
                    _show_collector(bar, c)
            done = sum(1 for c in collectors if c.state == "done")
            self._show_end(summary.status, done, len(collectors))
        verb = {"finished": "finished", "interrupted": "cancelled"}.get(
            summary.status, summary.status
        )
        self.state_label.setText(
            f"Run {verb}: {summary.artifacts:,} artifacts ({human_bytes(summary.bytes)}), "
            f"{summary.errors} errors, {summary.skipped} skipped. "
            + ("Everything collected so far is sealed and kept." if verb == "cancelled" else "")
        )
        announce(self.state_label, self.state_label.text(), assertive=summary.status != "finished")
        self.run_finished.emit(summary)

    def _failed(self, exc: BaseException) -> None:
        self.worker = None
        self._set_running(False)
        snap = self.last_snapshot
        if snap is None or snap.state == "running":
            n = len(snap.collectors) if snap else 0
            self._show_end("failed", snap.collectors_done if snap else 0, n)
        self.state_label.setText("The run failed; what was collected is sealed.")
        announce(self.state_label, f"The collection failed: {exc}", assertive=True)
        self.run_failed.emit(exc)
        show_error(self, exc)


def _show_collector(bar: QProgressBar, c: CollectorProgress) -> None:
    """One collector's bar: its items when it knows their number, busy while it does not;
    when the run ended, whether this collector finished, was cut short or never ran."""
    counted = f"{c.done:,} / {c.total:,}" if c.total else ""
    if c.state == "done":
        bar.setRange(0, 1000)
        bar.setValue(1000)
        bar.setFormat("done")
    elif c.state == "running":
        if c.total:
            bar.setRange(0, 1000)
            bar.setValue(int(1000 * c.done / c.total))
            bar.setFormat(counted)
        elif c.detail:  # what it has so far, in words (a capture: packets, bytes, time left)
            bar.setRange(0, 1000)
            bar.setValue(0)
            bar.setFormat(c.detail)
        else:
            bar.setRange(0, 0)  # busy: no total known yet
    elif c.state in ("cancelled", "stopped"):
        bar.setRange(0, 1000)
        bar.setValue(int(1000 * c.done / c.total) if c.total else 0)
        bar.setFormat(f"{c.state} at {counted}" if counted else c.state)
    elif c.state == "not reached":
        bar.setRange(0, 1000)
        bar.setValue(0)
        bar.setFormat("not reached")
