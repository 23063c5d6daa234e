"""Custody: the ledger as a timeline and a table, the journal, transfer, export and verify."""

from __future__ import annotations

import tempfile
import threading
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCharts import (
    QCategoryAxis,
    QChart,
    QChartView,
    QDateTimeAxis,
    QLineSeries,
    QScatterSeries,
)
from PySide6.QtCore import QDateTime, QMargins, Qt, QTimeZone, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QPainter, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
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
from app.identity import Identity, load_identity
from app.integrity import Verification, entries_since, from_check, verification_results
from app.journal import JOURNAL_KINDS, add_journal_entry, record_transfer
from app.paths import identity_file
from app.times import parse_utc, shown
from app.verification import Report, verify_case
from ui.artifact_model import BAD_COLOUR, OK_COLOUR, ArtifactTableModel, LedgerTableModel
from ui.errors import show_error
from ui.integrity import colour, long_text, mark, status_image
from ui.workers import Worker

REPORT = "custody-report.pdf"

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


def _table_view(name: str) -> QTableView:
    view = QTableView()
    view.setObjectName(name)
    view.setAccessibleName(name.replace("_", " "))
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setAlternatingRowColors(True)
    view.setWordWrap(False)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(22)
    view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    view.horizontalHeader().setStretchLastSection(True)
    view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    return view


class TimelineChart(QChartView):
    """The acts of people on the case over time, one lane per kind of act."""

    def __init__(self, parent: QWidget | None = None) -> None:
        chart = QChart()
        chart.setTitle("Custody timeline")
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignRight)
        chart.setMargins(QMargins(4, 4, 4, 4))
        chart.setBackgroundRoundness(0)
        super().__init__(chart, parent)
        self.setObjectName("timeline")
        self.setAccessibleName("custody timeline chart")
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setMinimumHeight(220)
        self.points = 0

    def set_points(
        self, points: list[browse.TimelinePoint], results: Mapping[int, bool] | None = None
    ) -> None:
        """Draw ``points``; ``results`` says which ``verified`` entries passed (by seq)."""
        results = results or {}
        chart = self.chart()
        chart.removeAllSeries()
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
        self.setAccessibleDescription(_describe_timeline(points, results))
        if not points:
            chart.setTitle("Custody timeline (no entries)")
            now = QDateTime.currentDateTimeUtc()
            x_axis.setRange(now.addSecs(-60), now)
            return
        chart.setTitle(f"Custody timeline: {len(points)} signed acts")
        path = QLineSeries()
        path.setName("sequence")
        pen = QPen(QColor("#c8c8c8"))
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
                    shade = QColor(EVENT_COLOURS.get(p.event, "#444444"))
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


class TransferDialog(QDialog):
    """Hand the evidence over: both examiners open their PKCS#12 identities and sign."""

    def __init__(self, case: CaseHandle, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("transfer_dialog")
        self.setWindowTitle("Transfer custody")
        self.case = case
        self.seq: int | None = None
        form = QFormLayout(self)
        intro = QLabel(
            "Both examiners sign the transfer. Each opens their own identity (PKCS#12 file) "
            "with their passphrase; nothing leaves this computer."
        )
        intro.setWordWrap(True)
        form.addRow(intro)
        self.from_file = self._file_row(form, "Releasing examiner", str(identity_file()))
        self.from_pass = QLineEdit()
        self.from_pass.setEchoMode(QLineEdit.EchoMode.Password)
        self.from_pass.setAccessibleName("releasing examiner passphrase")
        form.addRow("  passphrase", self.from_pass)
        self.to_file = self._file_row(form, "Receiving examiner", "")
        self.to_pass = QLineEdit()
        self.to_pass.setEchoMode(QLineEdit.EchoMode.Password)
        self.to_pass.setAccessibleName("receiving examiner passphrase")
        form.addRow("  passphrase", self.to_pass)
        self.reason = QLineEdit()
        self.reason.setAccessibleName("reason for the transfer")
        self.reason.setPlaceholderText("handed to legal for review")
        self.location = QLineEdit()
        self.location.setAccessibleName("location of the transfer")
        self.location.setPlaceholderText("Evidence room 2, HQ")
        form.addRow("Reason", self.reason)
        form.addRow("Location", self.location)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Sign transfer")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.setMinimumWidth(560)

    def _file_row(self, form: QFormLayout, label: str, value: str) -> QLineEdit:
        edit = QLineEdit(value)
        edit.setAccessibleName(f"{label} identity file")
        edit.setPlaceholderText("identity.p12")
        browse_button = QPushButton("Browse…")
        browse_button.setAccessibleName(f"browse for the {label.lower()} identity")

        def pick() -> None:
            chosen, _ = QFileDialog.getOpenFileName(
                self, label, edit.text(), "PKCS#12 (*.p12 *.pfx)"
            )
            if chosen:
                edit.setText(chosen)

        browse_button.clicked.connect(pick)
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        row.addWidget(browse_button)
        form.addRow(label, row)
        return edit

    def accept(self) -> None:
        try:
            releasing = load_identity(
                Path(self.from_file.text()), self.from_pass.text().encode("utf-8")
            )
            receiving = load_identity(
                Path(self.to_file.text()), self.to_pass.text().encode("utf-8")
            )
            self.seq = record_transfer(
                self.case,
                releasing,
                receiving,
                reason=self.reason.text().strip(),
                location=self.location.text().strip(),
            )
        except Exception as exc:  # noqa: BLE001 - shown; the dialog stays open to fix the input
            show_error(self, exc)
            return
        super().accept()


class ExportDialog(QDialog):
    """Export a bundle (directory or zip) off the GUI thread, then open its PDF report."""

    exported = Signal(object)

    def __init__(self, case: CaseHandle, identity: Identity, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("export_dialog")
        self.setWindowTitle("Export case bundle")
        self.case = case
        self.identity = identity
        self.worker: Worker | None = None
        self.result_path: Path | None = None
        self._extracted: Path | None = None
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.out = QLineEdit(str(case.exports_dir / "bundle"))
        self.out.setAccessibleName("bundle location")
        pick = QPushButton("Browse…")
        pick.setAccessibleName("choose bundle location")
        pick.clicked.connect(self._pick)
        row = QHBoxLayout()
        row.addWidget(self.out, 1)
        row.addWidget(pick)
        form.addRow("Bundle", row)
        self.as_zip = QCheckBox("Write a single .zip file")
        self.as_zip.setAccessibleName("export as zip")
        form.addRow("", self.as_zip)
        layout.addLayout(form)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("export progress")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        layout.addWidget(self.progress)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setAccessibleName("export log")
        self.log.setMaximumBlockCount(500)
        layout.addWidget(self.log, 1)
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Export")
        self.start_button.setAccessibleName("start export")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.report_button = QPushButton("Open PDF report")
        self.report_button.setAccessibleName("open the PDF report")
        self.report_button.setEnabled(False)
        self.report_button.clicked.connect(self.open_report)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        buttons.addWidget(self.report_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        buttons.addWidget(self.start_button)
        layout.addLayout(buttons)
        self.setMinimumSize(600, 360)

    def _pick(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Parent folder for the bundle")
        if chosen:
            self.out.setText(str(Path(chosen) / "bundle"))

    def start(self) -> None:
        out = Path(self.out.text().strip()).expanduser()
        as_zip = self.as_zip.isChecked()
        case, identity = self.case, self.identity
        if as_zip and out.suffix.lower() != ".zip":
            out = out.with_suffix(".zip")

        def work(cancel: threading.Event, report: Callable[[Any], None]) -> Any:
            from app.export_service import export_case  # imported when used

            return export_case(case, identity, out, as_zip=as_zip, progress=report)

        self.worker = Worker(work, self)
        self.worker.progress.connect(lambda m: self.log.appendPlainText(str(m)))
        self.worker.finished.connect(self._done)
        self.worker.failed.connect(self._failed)
        self.progress.setRange(0, 0)
        self.start_button.setEnabled(False)
        self.log.appendPlainText(f"Exporting to {out} …")
        self.worker.start()

    def _done(self, result: Any) -> None:
        self.worker = None
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.result_path = Path(result.path)
        self.log.appendPlainText(f"Done: {self.result_path}")
        self.log.appendPlainText(f"bundle {result.bundle_id}")
        self.log.appendPlainText(f"manifest.json SHA-256 {result.bundle.manifest_sha256}")
        if result.zip_sha256:
            self.log.appendPlainText(f"zip SHA-256 {result.zip_sha256}")
        self.log.appendPlainText(f"recorded as ledger entry {result.exported_seq}")
        self.report_button.setEnabled(self._report_path() is not None)
        self.exported.emit(result)

    def _failed(self, exc: BaseException) -> None:
        self.worker = None
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.start_button.setEnabled(True)
        self.log.appendPlainText("Export failed.")
        show_error(self, exc)

    def _report_path(self) -> Path | None:
        """The bundle's PDF report; from a zip it is extracted to a temporary folder."""
        if self.result_path is None:
            return None
        if self.result_path.is_dir():
            pdf = self.result_path / REPORT
            return pdf if pdf.exists() else None
        if self._extracted is None and zipfile.is_zipfile(self.result_path):
            with zipfile.ZipFile(self.result_path) as z:
                if REPORT not in z.namelist():
                    return None
                target = Path(tempfile.mkdtemp(prefix="chainproof-report-")) / REPORT
                target.write_bytes(z.read(REPORT))
                self._extracted = target
        return self._extracted

    def open_report(self) -> None:
        pdf = self._report_path()
        if pdf is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(pdf)))


class CustodyView(QWidget):
    """Ledger timeline and table, journal entry, and the transfer and export actions."""

    journal_requested = Signal(str, str, str)  # kind, text, reason
    transfer_requested = Signal()
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
        self.transfer_button = QPushButton("Transfer custody…")
        self.transfer_button.setAccessibleName("transfer custody")
        self.transfer_button.clicked.connect(self.transfer_requested)
        self.export_button = QPushButton("Export bundle…")
        self.export_button.setAccessibleName("export bundle")
        self.export_button.setToolTip("Export bundle (Ctrl+E)")
        self.export_button.clicked.connect(self.export_requested)
        top.addWidget(self.transfer_button)
        top.addWidget(self.export_button)
        layout.addLayout(top)

        split = QSplitter(Qt.Orientation.Vertical)
        self.chart = TimelineChart()
        split.addWidget(self.chart)

        lower = QSplitter(Qt.Orientation.Horizontal)
        table_box = QWidget()
        tl = QVBoxLayout(table_box)
        tl.setContentsMargins(0, 0, 0, 0)
        self.model = LedgerTableModel(self)
        self.show_bulk = QCheckBox("Show artifact and error entries")
        self.show_bulk.setAccessibleName("show artifact and error entries")
        self.show_bulk.toggled.connect(self.model.set_include_bulk)
        tl.addWidget(self.show_bulk)
        self.table = _table_view("ledger_table")
        self.table.setModel(self.model)
        h = self.table.horizontalHeader()
        for col, width in enumerate((55, 215, 105, 110, 300, 75, 0, 140)):
            h.resizeSection(col, width)
        h.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        h.setStretchLastSection(False)
        self.table.setColumnHidden(6, True)  # verification results live on the Verify page
        tl.addWidget(self.table, 1)
        lower.addWidget(table_box)
        lower.addWidget(self._build_journal())
        lower.setStretchFactor(0, 3)
        lower.setStretchFactor(1, 1)
        lower.setSizes([940, 300])
        split.addWidget(lower)
        split.setSizes([300, 420])
        layout.addWidget(split, 1)

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
        self.case = case
        self.model.set_case(case)
        self.refresh()

    def refresh(self) -> None:
        self.model.case = self.case
        self.model.reload()
        if self.case is None:
            self.chart.set_points([])
        else:
            self.chart.set_points(
                browse.ledger_timeline(self.case), verification_results(self.case)
            )
        for w in (self.transfer_button, self.export_button, self.add_button):
            w.setEnabled(self.case is not None)


class VerifyView(QWidget):
    """Re-hash every artifact and check every entry and signature; green or red, per item.

    What it shows belongs to its case: the ledger's last recorded verification when the case
    is opened, then each check run here. A check that ends after the case changed shows
    nothing (a recorded one is in its own case's ledger).
    """

    verify_requested = Signal(bool)  # record (signed) in the ledger
    verified = Signal(object)  # Report, of a check of the case shown
    checked = Signal(object)  # Verification, of a check of the case shown

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.case: CaseHandle | None = None
        self.worker: Worker | None = None
        self.report: Report | None = None  # the last check run here, of this case
        self.verification: Verification | None = None
        self._checking: CaseHandle | None = None  # the case the running check reads
        self._recording = False  # whether it records its result in that case's ledger
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        heading = QLabel("Verify")
        heading.setObjectName("heading")
        top.addWidget(heading)
        top.addStretch(1)
        self.record = QCheckBox("Record the verification in the ledger (signed)")
        self.record.setAccessibleName("record the verification in the ledger")
        self.record.setChecked(True)
        self.verify_button = QPushButton("Verify now")
        self.verify_button.setObjectName("verify")
        self.verify_button.setAccessibleName("verify the case")
        self.verify_button.setToolTip("Verify the case (Ctrl+Shift+V)")
        self.verify_button.clicked.connect(
            lambda: self.verify_requested.emit(self.record.isChecked())
        )
        top.addWidget(self.record)
        top.addWidget(self.verify_button)
        layout.addLayout(top)

        self.banner = QLabel("Not verified yet.")
        self.banner.setObjectName("verify_banner")
        self.banner.setAccessibleName("verification result")
        self.banner.setWordWrap(True)
        self._style_banner(None)
        layout.addWidget(self.banner)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("verification progress")
        self.progress.setRange(0, 1)
        self.progress.setMaximumHeight(8)
        self.progress.setTextVisible(False)
        self.progress.hide()
        layout.addWidget(self.progress)

        self.findings = QTableWidget(0, 3)
        self.findings.setObjectName("findings")
        self.findings.setAccessibleName("verification findings")
        self.findings.setHorizontalHeaderLabels(["Where", "Check", "What does not hold"])
        self.findings.verticalHeader().setVisible(False)
        self.findings.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.findings.setWordWrap(False)
        fh = self.findings.horizontalHeader()
        fh.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        fh.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        fh.setStretchLastSection(True)
        self.findings.setMaximumHeight(170)

        self.failed_only = QCheckBox("Only what failed")
        self.failed_only.setObjectName("failed_only")
        self.failed_only.setAccessibleName("show only what failed verification")
        self.failed_only.setEnabled(False)
        self.failed_only.toggled.connect(self._apply_failed_only)
        self.tabs = QTabWidget()
        self.tabs.setCornerWidget(self.failed_only)
        self.artifacts = ArtifactTableModel(self)
        self.artifact_table = _table_view("verified_artifacts")
        self.artifact_table.setModel(self.artifacts)
        for col, width in enumerate((360, 90, 70, 80, 150, 140, 110, 100)):
            self.artifact_table.horizontalHeader().resizeSection(col, width)
        self.entries = LedgerTableModel(self)
        self.entries.include_bulk = True
        self.entry_table = _table_view("verified_entries")
        self.entry_table.setModel(self.entries)
        for col, width in enumerate((60, 190, 120, 120, 360, 80, 100)):
            self.entry_table.horizontalHeader().resizeSection(col, width)
        self.tabs.addTab(self.artifact_table, "Artifacts")
        self.tabs.addTab(self.entry_table, "Ledger entries")
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.findings)
        split.addWidget(self.tabs)
        split.setSizes([120, 500])
        layout.addWidget(split, 1)
        self.findings.hide()

    def _apply_failed_only(self, on: bool) -> None:
        v = self.verification
        failed = frozenset(v.failed) if on and v is not None and v.failed is not None else None
        self.artifacts.set_filter(browse.ArtifactFilter(seqs=failed))

    def _style_banner(self, ok: bool | None) -> None:
        if ok is None:
            css = "background:#f3f3f3; color:#333; border:1px solid #ddd;"
        elif ok:
            css = f"background:#e8f5e9; color:{OK_COLOUR.name()}; border:1px solid #a5d6a7;"
        else:
            css = f"background:#fdecea; color:{BAD_COLOUR.name()}; border:1px solid #f5a8a0;"
        self.banner.setStyleSheet(
            f"QLabel {{ {css} border-radius:4px; padding:10px; font-size:13pt; font-weight:600; }}"
        )

    def set_case(self, case: CaseHandle | None, verification: Verification | None = None) -> None:
        """Show ``case`` with ``verification``, its last recorded one (None: never)."""
        self.case = case
        self.report = None
        self.verification = verification
        self.artifacts.filter = browse.ArtifactFilter()
        self.artifacts.set_case(case)
        self.entries.set_case(case)
        self.findings.setRowCount(0)
        self.findings.hide()
        self.failed_only.blockSignals(True)
        self.failed_only.setChecked(False)
        self.failed_only.setEnabled(False)
        self.failed_only.blockSignals(False)
        self.verify_button.setEnabled(case is not None and not self.running)
        self._show_verification()

    def prepare(self, case: CaseHandle | None, verification: Verification | None) -> None:
        """The case changed while the page is hidden: the banner and the Verify action see
        the new case at once; its rows are read when the page is shown (:meth:`set_case`)."""
        self.case, self.verification, self.report = case, verification, None
        self.findings.setRowCount(0)
        self.findings.hide()
        self.failed_only.setEnabled(False)
        self.verify_button.setEnabled(case is not None and not self.running)
        self._show_verification()

    def refresh(self, verification: Verification | None) -> None:
        """The case gained entries: list them; ``verification`` is the case's newest (the
        marks of a check stay on the entries it checked)."""
        if verification is not self.verification:  # e.g. recorded meanwhile by the CLI
            self.verification, self.report = verification, None
            self.findings.setRowCount(0)
            self.findings.hide()
            self.failed_only.setChecked(False)
            self.failed_only.setEnabled(False)
        self.artifacts.reload()
        self.entries.reload()
        self._show_verification()

    def _show_verification(self) -> None:
        v = self.verification
        if self.case is None:
            self.banner.setText("No case open.")
            self._style_banner(None)
            return
        if self._checking is not None and self._checking is self.case:
            return  # "Verifying…" until the check of this case ends
        self.progress.hide()
        since = entries_since(self.case, v) if v is not None else 0
        text = long_text(v, since)
        if v is not None and self.report is not None:
            r = self.report
            text += (
                f" {r.entries:,} ledger entries, {r.signatures:,} signatures, "
                f"{r.artifacts:,} artifacts re-hashed ({r.bytes_hashed:,} bytes)."
            )
        elif v is not None and not v.per_entry and not v.ok:
            text += " The ledger does not say which entries failed: verify again to see them."
        elif v is not None and not v.per_entry:
            text += " Verify again to check the case as it is now."
        self.banner.setText(text)
        self._style_banner(v.ok if v is not None else None)
        if self.artifacts.case is self.case:  # else the rows are another case's until shown
            self.artifacts.set_verification(v)
        if self.entries.case is self.case:
            self.entries.set_verification(v)

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self, sign_with: Identity | None) -> None:
        """Verify the open case off the GUI thread."""
        if self.case is None or self.running:
            return
        case = self.case

        def work(_cancel: threading.Event, _report: Callable[[Any], None]) -> Report:
            return verify_case(case, sign_with=sign_with)

        self._checking, self._recording = case, sign_with is not None
        self.worker = Worker(work, self)
        self.worker.finished.connect(self._done)
        self.worker.failed.connect(self._failed)
        self.verify_button.setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.banner.setText("Verifying: re-hashing every artifact, checking every signature…")
        self._style_banner(None)
        self.worker.start()

    def _ended(self) -> CaseHandle | None:
        """The check ended: the case it read."""
        case, self._checking = self._checking, None
        self.worker = None
        self.progress.hide()
        self.verify_button.setEnabled(self.case is not None)
        return case

    def _failed(self, exc: BaseException) -> None:
        case = self._ended()
        if case is not self.case:
            self._show_verification()
            return  # the examiner moved on: that case's error is not this one's
        self.banner.setText("Verification could not run.")
        self._style_banner(None)
        show_error(self, exc)

    def _done(self, report: Report) -> None:
        case = self._ended()
        if case is None or case is not self.case:
            self._show_verification()
            return  # a check of a case no longer shown marks nothing here
        self.report = report
        self.verification = verification = from_check(case, report, recorded=self._recording)
        self.findings.setRowCount(0)
        for f in report.findings:
            row = self.findings.rowCount()
            self.findings.insertRow(row)
            for col, text in enumerate((f.where, f.code, f.message)):
                item = QTableWidgetItem(text)
                item.setForeground(BAD_COLOUR)
                item.setToolTip(text)
                self.findings.setItem(row, col, item)
        self.findings.setVisible(bool(report.findings))
        self.failed_only.setEnabled(bool(verification.failed))
        self.entries.reload()
        self.artifacts.reload()
        self._show_verification()
        self.verified.emit(report)
        self.checked.emit(verification)
