"""Custody: who holds the evidence, the ledger as a timeline and a table, the hand-overs,
the journal, and the transfer, seal and export actions."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING

from PySide6.QtCharts import (
    QCategoryAxis,
    QChart,
    QChartView,
    QDateTimeAxis,
    QLineSeries,
    QScatterSeries,
)
from PySide6.QtCore import QDateTime, QMargins, Qt, QTimeZone, Signal
from PySide6.QtGui import QColor, QKeyEvent, QPainter, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app import browse
from app.cases import CaseHandle
from app.events import (
    Accessed,
    ArchiveSetAside,
    CaseOpened,
    CaseUpdated,
    Checkpoint,
    Decision,
    Exported,
    ExportFailed,
    ExportStarted,
    IdentityAdded,
    IndexRebuilt,
    Note,
    RunFinished,
    RunStarted,
    Sealed,
    Transferred,
    Verified,
)
from app.identity import Identity
from app.integrity import verification_results
from app.journal import JOURNAL_KINDS, add_journal_entry
from app.times import parse_utc, shown
from ui import theme
from ui.artifact_model import LedgerTableModel
from ui.errors import show_error
from ui.integrity import colour, mark, status_image
from ui.keyboard import KeepSelection
from ui.widgets import table_view

if TYPE_CHECKING:
    pass

TRANSFER_COLUMNS = ("Entry", "Time", "Released by", "Received by", "Reason", "Location")
#: The timeline's events as text: the chart's accessible equivalent.
EVENT_COLUMNS = ("Entry", "Time (UTC)", "Event", "Actor", "Result")

#: Timeline lanes (y) and the kinds of entry drawn in each.
LANES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Case", (CaseOpened.EVENT, CaseUpdated.EVENT, IdentityAdded.EVENT, IndexRebuilt.EVENT)),
    ("Collection", (RunStarted.EVENT, RunFinished.EVENT, Checkpoint.EVENT, ArchiveSetAside.EVENT)),
    ("Journal", (Note.EVENT, Decision.EVENT)),
    (
        "Custody",
        (
            Transferred.EVENT,
            Accessed.EVENT,
            ExportStarted.EVENT,
            Exported.EVENT,
            ExportFailed.EVENT,
            Sealed.EVENT,
        ),
    ),
    ("Verification", (Verified.EVENT,)),
)
EVENT_COLOURS = {
    CaseOpened.EVENT: "#1f4e79",
    CaseUpdated.EVENT: "#2e75b6",
    IdentityAdded.EVENT: "#7f7f7f",
    IndexRebuilt.EVENT: "#5b9bd5",
    RunStarted.EVENT: "#548235",
    RunFinished.EVENT: "#375623",
    Checkpoint.EVENT: "#a9d18e",
    ArchiveSetAside.EVENT: "#8c8c3a",
    Note.EVENT: "#bf8f00",
    Decision.EVENT: "#c55a11",
    Transferred.EVENT: "#7030a0",
    Accessed.EVENT: "#8064a2",
    ExportStarted.EVENT: "#4fb3bf",
    Exported.EVENT: "#00838f",
    ExportFailed.EVENT: "#c62828",
    Sealed.EVENT: "#3f3f3f",
}
#: A verification's point: its result decides colour, icon and words (None: unreadable).
VERIFICATION_SERIES: dict[bool | None, str] = {
    True: "verification passed",
    False: "verification FAILED",
    None: "verification (result unreadable)",
}


class TimelineChart(QChartView):
    """The acts of people on the case over time, one lane per kind of act.

    It takes the keyboard focus; Enter (or Space, or Down) asks for the same events as a
    table (:attr:`events_requested`), which is what a screen reader reads.
    """

    events_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        chart = QChart()
        chart.setTitle("Custody timeline")
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignRight)
        chart.setMargins(QMargins(4, 4, 4, 4))
        chart.setBackgroundRoundness(0)
        super().__init__(chart, parent)
        self.setObjectName("timeline")
        self.setAccessibleName("custody timeline chart")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setToolTip("Enter: the same events as a table")
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setMinimumHeight(160)
        self.points = 0
        self._drawn: tuple[list[browse.TimelinePoint], Mapping[int, bool]] = ([], {})
        theme.watcher().changed.connect(self._restyle)

    def _restyle(self, _colours: theme.Colours) -> None:
        self.set_points(*self._drawn)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space, Qt.Key.Key_Down):
            self.events_requested.emit()
            return
        super().keyPressEvent(event)

    def set_points(
        self, points: list[browse.TimelinePoint], results: Mapping[int, bool] | None = None
    ) -> None:
        """Draw ``points``; ``results`` says which ``verified`` entries passed (by seq).
        The chart follows the light or dark scheme; each kind's colour is made to stand
        out from its background."""
        results = results or {}
        self._drawn = (points, results)
        chart = self.chart()
        chart.removeAllSeries()
        c = theme.colours()
        chart.setTheme(
            QChart.ChartTheme.ChartThemeDark if c.dark else QChart.ChartTheme.ChartThemeLight
        )
        chart.setBackgroundRoundness(0)
        legend_font = chart.legend().font()
        legend_font.setPointSizeF(8.5)  # every kind fits beside a short chart (small screens)
        chart.legend().setFont(legend_font)
        background = chart.backgroundBrush().color()
        for axis in chart.axes():
            chart.removeAxis(axis)
        self.points = len(points)
        lane_of = {e: i for i, (_, events) in enumerate(LANES) for e in events}
        x_axis = QDateTimeAxis()
        x_axis.setTitleText("UTC")
        y_axis = QCategoryAxis()
        y_axis.setLabelsPosition(QCategoryAxis.AxisLabelsPosition.AxisLabelsPositionOnValue)
        for i, (lane, _) in enumerate(LANES):
            y_axis.append(lane, i)
        y_axis.setRange(-0.5, len(LANES) - 0.5)
        chart.addAxis(x_axis, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(y_axis, Qt.AlignmentFlag.AlignLeft)
        self.setAccessibleName(
            f"custody timeline chart: {len(points)} signed act{'' if len(points) == 1 else 's'}"
        )
        self.setAccessibleDescription(
            _describe_timeline(points, results)
            + " Press Enter for the same events as a table (the Events tab)."
        )
        if not points:
            chart.setTitle("Custody timeline (no entries)")
            now = QDateTime.currentDateTimeUtc()
            x_axis.setRange(now.addSecs(-60), now)
            return
        chart.setTitle(f"Custody timeline: {len(points)} signed acts")
        path = QLineSeries()
        path.setName("sequence")
        pen = QPen(QColor(c.chart_path))
        pen.setWidthF(1.0)
        path.setPen(pen)
        series: dict[str, QScatterSeries] = {}
        times = []
        for p in points:
            ms = int(parse_utc(p.at).timestamp() * 1000)
            times.append(ms)
            row = lane_of.get(p.event, len(LANES) - 1)
            path.append(ms, row)
            key = p.event
            if p.event == Verified.EVENT:
                key = VERIFICATION_SERIES[results.get(p.seq)]
            s = series.get(key)
            if s is None:
                s = series[key] = QScatterSeries()
                s.setMarkerSize(11.0)
                if p.event == Verified.EVENT:
                    _verification_series(s, results.get(p.seq))
                else:
                    s.setName(p.event.replace("_", " "))
                    shade = theme.readable(
                        QColor(EVENT_COLOURS.get(p.event, "#444444")), background
                    )
                    s.setColor(shade)
                    s.setBorderColor(shade.darker(130))
            s.append(ms, row)
        chart.addSeries(path)
        path.attachAxis(x_axis)
        path.attachAxis(y_axis)
        for s in series.values():
            chart.addSeries(s)
            s.attachAxis(x_axis)
            s.attachAxis(y_axis)
        legend = chart.legend()
        legend.markers(path)[0].setVisible(False)
        lo, hi = min(times), max(times)
        pad = max(1000, (hi - lo) // 20)
        x_axis.setRange(
            QDateTime.fromMSecsSinceEpoch(lo - pad, QTimeZone.utc()),
            QDateTime.fromMSecsSinceEpoch(hi + pad, QTimeZone.utc()),
        )
        span = hi - lo + 2 * pad
        if span < 20_000:
            x_axis.setFormat("HH:mm:ss.zzz")
        elif span < 86_400_000:
            x_axis.setFormat("HH:mm:ss")
        else:
            x_axis.setFormat("yyyy-MM-dd HH:mm")
        x_axis.setTickCount(6)


def _verification_series(s: QScatterSeries, ok: bool | None) -> None:
    """A verification is drawn in its result's colour, as its result's icon, and named in
    words: the legend says "verification FAILED", and each failed point is labelled."""
    s.setName(f"{VERIFICATION_SERIES[ok]} {mark(ok)}")
    shade = colour(ok)
    s.setColor(shade)
    s.setBorderColor(shade.darker(130))
    s.setMarkerSize(16.0)
    s.setLightMarker(status_image(ok, 32))
    if ok is not True:
        s.setPointLabelsFormat(f"{mark(ok)} FAILED" if ok is False else "? unreadable")
        s.setPointLabelsColor(shade)
        s.setPointLabelsClipping(False)
        s.setPointLabelsVisible(True)


def _events_table() -> QTableWidget:
    table = QTableWidget(0, len(EVENT_COLUMNS))
    table.setObjectName("timeline_events")
    table.setAccessibleName("custody timeline events")
    table.setAccessibleDescription("The custody timeline as text: one row per signed act.")
    table.setHorizontalHeaderLabels(list(EVENT_COLUMNS))
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setTabKeyNavigation(False)
    table.setWordWrap(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    return table


def event_result(point: browse.TimelinePoint, results: Mapping[int, bool]) -> str:
    """What an act's row says of its outcome: a verification's result in words and mark."""
    if point.event == Verified.EVENT:
        ok = results.get(point.seq)
        return f"{mark(ok)} {VERIFICATION_SERIES[ok]}: {point.summary}"
    if point.event == ExportFailed.EVENT:
        return f"{mark(False)} export failed: {point.summary}"
    return point.summary


def show_events(
    table: QTableWidget, points: list[browse.TimelinePoint], results: Mapping[int, bool]
) -> None:
    """Fill ``table`` with the timeline's ``points``: entry, time, event, actor, result."""
    table.setRowCount(0)
    table.setRowCount(len(points))
    for row, p in enumerate(points):
        values = (
            str(p.seq),
            shown(p.at),
            p.event.replace("_", " "),
            p.actor,
            event_result(p, results),
        )
        for col, value in enumerate(values):
            item = QTableWidgetItem(value)
            item.setToolTip(value)
            table.setItem(row, col, item)


def _describe_timeline(points: list[browse.TimelinePoint], results: Mapping[int, bool]) -> str:
    """The chart in words, for screen readers (a chart view is one object to them)."""
    if not points:
        return "No signed acts yet."
    text = f"{len(points)} signed acts from {shown(points[0].at)} to {shown(points[-1].at)}."
    checks = [
        f"{VERIFICATION_SERIES[results.get(p.seq)]} at {shown(p.at)} (entry {p.seq})"
        for p in points
        if p.event == Verified.EVENT
    ]
    if checks:
        text += " Verifications: " + "; ".join(checks) + "."
    return text


class CustodyView(QWidget):
    """Who holds the evidence, the ledger as a timeline and a table, every hand-over, the
    journal, and the transfer, seal and export actions."""

    journal_requested = Signal(str, str, str)  # kind, text, reason
    transfer_requested = Signal()
    seal_requested = Signal()
    export_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.case: CaseHandle | None = None
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        heading = QLabel("Chain of custody")
        heading.setObjectName("heading")
        top.addWidget(heading)
        top.addStretch(1)
        self.transfer_button = QPushButton("&Transfer custody…")
        self.transfer_button.setAccessibleName("transfer custody")
        self.transfer_button.setToolTip("Transfer custody (Ctrl+T)")
        self.transfer_button.clicked.connect(self.transfer_requested)
        self.seal_button = QPushButton("&Seal case…")
        self.seal_button.setAccessibleName("seal the case")
        self.seal_button.setToolTip("Seal the case: no more collection (asks first)")
        self.seal_button.clicked.connect(self.seal_requested)
        self.export_button = QPushButton("E&xport bundle…")
        self.export_button.setAccessibleName("export bundle")
        self.export_button.setToolTip("Export bundle (Ctrl+E)")
        self.export_button.clicked.connect(self.export_requested)
        for button in (self.transfer_button, self.seal_button, self.export_button):
            top.addWidget(button)
        layout.addLayout(top)
        self.custodian = QLabel("No case open.")
        self.custodian.setObjectName("custodian")
        self.custodian.setAccessibleDescription("current custodian")
        self.custodian.setWordWrap(True)
        self.custodian.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.custodian)

        split = QSplitter(Qt.Orientation.Vertical)
        split.setChildrenCollapsible(False)
        self.chart = TimelineChart()
        self.chart.events_requested.connect(self.show_events)
        split.addWidget(self.chart)

        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.setChildrenCollapsible(False)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("custody_tabs")
        self.events = _events_table()
        self.tabs.addTab(self.events, "&Events")
        table_box = QWidget()
        tl = QVBoxLayout(table_box)
        tl.setContentsMargins(0, 0, 0, 0)
        self.model = LedgerTableModel(self)
        self.show_bulk = QCheckBox("Show artifact and error entries")
        self.show_bulk.setAccessibleName("show artifact and error entries")
        self.show_bulk.toggled.connect(self.model.set_include_bulk)
        tl.addWidget(self.show_bulk)
        self.table = table_view("ledger_table")
        self.table.setModel(self.model)
        KeepSelection(self.table, self.model.key_at, self._row_of)
        h = self.table.horizontalHeader()
        for col, width in enumerate((55, 215, 105, 110, 300, 75, 0, 140)):
            h.resizeSection(col, width)
        h.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        h.setStretchLastSection(False)
        self.table.setColumnHidden(6, True)  # verification results live on the Verify page
        tl.addWidget(self.table, 1)
        self.tabs.addTab(table_box, "&Ledger")
        self.transfers = QTableWidget(0, len(TRANSFER_COLUMNS))
        self.transfers.setObjectName("transfers")
        self.transfers.setAccessibleName("transfers of custody")
        self.transfers.setHorizontalHeaderLabels(list(TRANSFER_COLUMNS))
        self.transfers.verticalHeader().setVisible(False)
        self.transfers.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.transfers.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.transfers.setTabKeyNavigation(False)
        self.transfers.setWordWrap(False)
        th = self.transfers.horizontalHeader()
        th.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        th.setStretchLastSection(True)
        self.tabs.addTab(self.transfers, "T&ransfers")
        lower.addWidget(self.tabs)
        lower.addWidget(self._build_journal())
        lower.setStretchFactor(0, 3)
        lower.setStretchFactor(1, 1)
        lower.setSizes([940, 300])
        split.addWidget(lower)
        split.setSizes([300, 420])
        layout.addWidget(split, 1)

    def show_events(self) -> None:
        """The timeline's events as a table, focused (from the chart: Enter)."""
        self.tabs.setCurrentWidget(self.events)
        self.events.setFocus(Qt.FocusReason.OtherFocusReason)
        if self.events.rowCount() and not self.events.currentIndex().isValid():
            self.events.setCurrentCell(0, 0)

    def _row_of(self, key: Hashable) -> int:
        return self.model.row_of_key(key) if isinstance(key, int) else -1

    def _build_journal(self) -> QWidget:
        box = QGroupBox("Incident journal")
        form = QFormLayout(box)
        self.kind = QComboBox()
        self.kind.setObjectName("journal_kind")
        self.kind.setAccessibleName("journal entry kind")
        for k in JOURNAL_KINDS:
            self.kind.addItem(k.replace("_", " "), k)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.text = QPlainTextEdit()
        self.text.setObjectName("journal_text")
        self.text.setAccessibleName("journal entry text")
        self.text.setPlaceholderText("What was noticed, decided or done.")
        self.reason = QLineEdit()
        self.reason.setObjectName("journal_reason")
        self.reason.setAccessibleName("reason for the decision")
        self.reason.setPlaceholderText("Why (needed for a decision)")
        self.add_button = QPushButton("Sign and add")
        self.add_button.setObjectName("journal_add")
        self.add_button.setAccessibleName("add journal entry")
        self.add_button.clicked.connect(self._add)
        form.addRow("Kind", self.kind)
        form.addRow("Text", self.text)
        form.addRow("Reason", self.reason)
        form.addRow("", self.add_button)
        note = QLabel("Each entry is a signed ledger entry with its time.")
        note.setObjectName("muted")
        note.setWordWrap(True)
        form.addRow(note)
        return box

    def _kind_changed(self) -> None:
        decision = self.kind.currentData() == "decision"
        self.reason.setPlaceholderText("Why (required)" if decision else "Why (optional)")

    def _add(self) -> None:
        self.journal_requested.emit(
            str(self.kind.currentData()), self.text.toPlainText(), self.reason.text()
        )

    def add_entry(self, identity: Identity, kind: str, text: str, reason: str) -> int | None:
        """Record a journal entry (signed); refresh the views. Errors are shown."""
        if self.case is None:
            return None
        try:
            seq = add_journal_entry(
                self.case, identity, kind=kind, text=text, reason=reason.strip() or None
            )
        except Exception as exc:  # noqa: BLE001 - e.g. a decision without its reason
            show_error(self, exc)
            return None
        self.text.clear()
        self.reason.clear()
        self.refresh()
        return seq

    def set_case(self, case: CaseHandle | None) -> None:
        self.table.clearSelection()  # another case's row is not kept
        self.case = case
        self.model.set_case(case)
        self.refresh()

    def refresh(self) -> None:
        self.model.case = self.case
        self.model.reload()
        if self.case is None:
            points: list[browse.TimelinePoint] = []
            results: dict[int, bool] = {}
        else:
            points, results = browse.ledger_timeline(self.case), verification_results(self.case)
        self.chart.set_points(points, results)
        show_events(self.events, points, results)
        self._show_custody()
        for w in (self.transfer_button, self.seal_button, self.export_button, self.add_button):
            w.setEnabled(self.case is not None)

    def _show_custody(self) -> None:
        """The current custodian, since when, the seal, and every hand-over."""
        from app.desktop_actions import custody_of

        self.transfers.setRowCount(0)
        if self.case is None:
            self.custodian.setText("No case open.")
            return
        c = custody_of(self.case)
        if c.custodian is None:
            text = "Custodian: not recorded in the ledger."
        else:
            how = (
                f"received in the transfer of {shown(c.since_at)} (entry {c.since_seq})"
                if c.transfers
                else f"since the case was opened, {shown(c.since_at)} (entry {c.since_seq})"
            )
            text = f"Custodian: {c.custodian}, {how}."
        count = len(c.transfers)
        text += f" {count} transfer{'s' if count != 1 else ''} of custody."
        if c.sealed_seq is not None:
            text += (
                f" Sealed {shown(c.sealed_at)} (entry {c.sealed_seq}): {c.seal_reason}. "
                "No more collection."
            )
        self.custodian.setText(text)
        self.seal_button.setToolTip(
            f"Sealed at entry {c.sealed_seq}" if c.sealed_seq else self.seal_button.toolTip()
        )
        for t in c.transfers:
            row = self.transfers.rowCount()
            self.transfers.insertRow(row)
            values = (
                str(t.seq),
                shown(t.at),
                str(t.released_by),
                str(t.received_by),
                t.reason,
                t.location,
            )
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                self.transfers.setItem(row, col, item)
