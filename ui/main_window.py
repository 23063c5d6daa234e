"""The main window: left navigation (Cases, Collect, Artifacts, Custody, Verify), menus,
shortcuts and a status bar with the case, the examiner and the ledger head."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QByteArray, QSize, Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QStackedWidget,
    QWidget,
)

from app import browse
from app.cases import CaseHandle, open_case
from app.collection import RunSummary
from app.identity import Identity
from app.integrity import Verification, entries_since, last_recorded, newer_record
from app.paths import identity_file
from ui.artifact_view import ArtifactView
from ui.case_list import CaseListView
from ui.collection_view import CollectionView
from ui.confirm import confirm, inform
from ui.custody_view import CustodyView, ExportDialog, TransferDialog, VerifyView
from ui.errors import show_error
from ui.integrity import colour, long_text, short_text
from ui.settings import settings
from ui.wizards import IdentityWizard, NewCaseWizard, PassphraseDialog
from ui.workers import wait_for_workers

PAGES = ("Cases", "Collect", "Artifacts", "Custody", "Verify")
MAX_RECENT = 10

STYLE = """
QListWidget#navigation { background: #1f2a36; color: #d8dee6; border: none; padding-top: 8px;
    font-size: 11pt; outline: 0; }
QListWidget#navigation::item { padding: 10px 18px; border-left: 3px solid transparent; }
QListWidget#navigation::item:selected { background: #2d3d4f; color: white;
    border-left: 3px solid #5aa9e6; }
QListWidget#navigation::item:disabled { color: #6b7785; }
QLabel#heading { font-size: 15pt; font-weight: 600; color: #1f2a36; padding: 2px 0 6px 0; }
QLabel#subheading { font-size: 11pt; font-weight: 600; color: #1f2a36; }
QLabel#muted { color: #666; }
QGroupBox { font-weight: 600; border: 1px solid #d5d9de; border-radius: 5px; margin-top: 10px;
    padding-top: 6px; }
QGroupBox::title { subcontrol-origin: margin; left: 8px; padding: 0 4px; }
QProgressBar { border: 1px solid #c5cbd3; border-radius: 3px; text-align: center;
    background: #f4f6f8; min-height: 16px; }
QProgressBar::chunk { background: #3b82c4; }
QStatusBar QLabel { padding: 0 8px; color: #333; }
"""


class MainWindow(QMainWindow):
    """Chainproof's desktop window."""

    def __init__(self, case_dir: Path | None = None) -> None:
        super().__init__()
        self._head_checked = 0.0  # when the status bar last read the ledger head
        self.setObjectName("main_window")
        self.setWindowTitle("Chainproof")
        self.case: CaseHandle | None = None
        #: The open case's verification: its ledger's last recorded one, then each check
        #: run in this window. Never another case's (set_case replaces it).
        self.verification: Verification | None = None
        self.identity: Identity | None = None
        self._pending: list[Callable[[Identity], None]] = []
        self.dialog: QWidget | None = None  # the non-blocking dialog open now (tests find it)

        self.nav = QListWidget()
        self.nav.setObjectName("navigation")
        self.nav.setAccessibleName("navigation")
        self.nav.setFixedWidth(170)
        self.nav.setIconSize(QSize(0, 0))
        for name in PAGES:
            QListWidgetItem(name, self.nav)
        self.stack = QStackedWidget()
        self.cases_view = CaseListView()
        self.collect_view = CollectionView()
        self.artifact_view = ArtifactView()
        self.custody_view = CustodyView()
        self.verify_view = VerifyView()
        for w in (
            self.cases_view,
            self.collect_view,
            self.artifact_view,
            self.custody_view,
            self.verify_view,
        ):
            self.stack.addWidget(w)
        # Pages whose case ("case") or data ("data") changed while hidden: refreshed when shown.
        self._stale: dict[int, str] = {}
        self.nav.currentRowChanged.connect(self._page_changed)
        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.nav)
        row.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.setStyleSheet(STYLE)
        font = self.font()
        font.setPointSizeF(10)
        self.setFont(font)  # explicit fonts (monospace hashes, previews) keep their own

        self.case_label = QLabel("No case open")
        self.case_label.setAccessibleName("open case")
        self.examiner_label = QLabel("Examiner: locked")
        self.examiner_label.setAccessibleName("examiner")
        self.head_label = QLabel("")
        self.head_label.setAccessibleName("ledger head")
        self.integrity_label = QLabel("")
        self.integrity_label.setObjectName("integrity")
        self.integrity_label.setAccessibleName("integrity: the last verification")
        status = self.statusBar()
        status.addWidget(self.case_label, 1)
        status.addPermanentWidget(self.integrity_label)
        status.addPermanentWidget(self.examiner_label)
        status.addPermanentWidget(self.head_label)

        self._build_actions()
        self._connect()
        self._restore()
        self.set_case(None)
        if case_dir is not None:
            self.open_case_dir(case_dir)

    # ------------------------------------------------------------------ actions
    def _action(
        self,
        text: str,
        shortcut: QKeySequence | QKeySequence.StandardKey | str | None,
        slot: Callable[[], object],
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        a = self._action
        self.new_action = a("&New case…", QKeySequence.StandardKey.New, self.new_case)
        self.open_action = a(
            "&Open case…", QKeySequence.StandardKey.Open, self.cases_view.choose_and_open
        )
        self.identity_action = a("Create &identity…", None, self.create_identity)
        self.unlock_action = a(
            "&Unlock identity…", "Ctrl+L", lambda: self.with_identity(lambda _i: None)
        )
        self.quit_action = a("&Quit", QKeySequence.StandardKey.Quit, self.close)
        self.collect_action = a("&Collect", "F5", self.start_collection)
        self.cancel_action = a("Ca&ncel collection…", "Esc", self.collect_view.request_cancel)
        self.export_action = a("&Export bundle…", "Ctrl+E", self.export)
        self.verify_action = a("&Verify case", "Ctrl+Shift+V", self.verify)
        self.transfer_action = a("&Transfer custody…", "Ctrl+T", self.transfer)
        self.filter_action = a(
            "&Filter artifacts", QKeySequence.StandardKey.Find, self.focus_filter
        )
        self.note_action = a("Add &journal entry", "Ctrl+J", self.focus_journal)
        self.page_actions = [
            a(f"Go to {name}", f"Ctrl+{i}", functools.partial(self.show_page, i - 1))
            for i, name in enumerate(PAGES, start=1)
        ]
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        for act in (self.new_action, self.open_action):
            file_menu.addAction(act)
        file_menu.addSeparator()
        file_menu.addAction(self.identity_action)
        file_menu.addAction(self.unlock_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        case_menu = menu.addMenu("&Case")
        for act in (
            self.collect_action,
            self.cancel_action,
            self.note_action,
            self.transfer_action,
            self.export_action,
            self.verify_action,
        ):
            case_menu.addAction(act)
        view_menu = menu.addMenu("&View")
        view_menu.addAction(self.filter_action)
        view_menu.addSeparator()
        for act in self.page_actions:
            view_menu.addAction(act)

    def _connect(self) -> None:
        self.cases_view.open_requested.connect(self.open_case_dir)
        self.cases_view.new_requested.connect(self.new_case)
        self.collect_view.start_requested.connect(self.start_collection)
        self.collect_view.run_finished.connect(self._run_finished)
        self.collect_view.run_failed.connect(lambda _e: self._refresh_case_views())
        self.collect_view.snapshot_shown.connect(lambda _snap: self._refresh_head(throttle=1.0))
        self.custody_view.journal_requested.connect(self._journal)
        self.artifact_view.details.contents_requested.connect(self._view_contents)
        self.custody_view.transfer_requested.connect(self.transfer)
        self.custody_view.export_requested.connect(self.export)
        self.verify_view.verify_requested.connect(self._verify)
        self.verify_view.checked.connect(self._checked)

    # ------------------------------------------------------------------ state
    def _restore(self) -> None:
        s = settings()
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 880)
        state = s.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)
        recent = s.value("cases/recent") or []
        if isinstance(recent, str):
            recent = [recent]
        self.cases_view.recent = [Path(p) for p in recent if p]
        root = s.value("cases/root")
        self.cases_view.set_root(Path(str(root)) if root else Path.home())
        page = s.value("window/page")
        self.show_page(int(page) if page is not None and str(page).isdigit() else 0)

    def save_settings(self) -> None:
        s = settings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/page", self.nav.currentRow())
        s.setValue("cases/recent", [str(p) for p in self.cases_view.recent[:MAX_RECENT]])
        s.setValue("cases/root", self.cases_view.root.text())
        s.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        view = self.collect_view
        running = view.worker is not None and view.worker.running and not view.cancelling
        if running and not confirm(
            self,
            "Quit Chainproof",
            "Stop the collection and quit?",
            "A collection is running. What it collected so far is sealed and kept, and the "
            "run is recorded as cancelled.",
            act="Stop and quit",
            keep="Keep collecting",
        ):
            event.ignore()
            return
        if view.worker is not None:
            view.cancel()
        wait_for_workers(15_000)
        self.save_settings()
        super().closeEvent(event)

    def show_page(self, index: int) -> None:
        index = max(0, min(index, len(PAGES) - 1))
        if index > 0 and self.case is None:
            index = 0
        self.nav.setCurrentRow(index)

    def may_change_case(self) -> bool:
        """Whether another case may be shown now: not while a collection runs (its progress,
        cancel button and result belong to its case). Says why when not."""
        if not self.collect_view.running or self.case is None:
            return True
        inform(
            self,
            "Collection running",
            f"A collection is running in case “{self.case.state().title}”.",
            "Let it finish, or cancel it (Esc), before opening another case.",
        )
        return False

    def set_case(self, case: CaseHandle | None) -> None:
        """Show ``case`` in every screen (None: only the case list is available)."""
        self.case = case
        self.verification = None
        if case is not None:
            try:
                self.verification = last_recorded(case)
            except Exception as exc:  # noqa: BLE001 - an unreadable ledger: shown, case stays open
                show_error(self, exc)
        for i in range(1, len(PAGES)):
            item = self.nav.item(i)
            flags = item.flags()
            if case is None:
                item.setFlags(flags & ~Qt.ItemFlag.ItemIsEnabled)
            else:
                item.setFlags(flags | Qt.ItemFlag.ItemIsEnabled)
        for act in (
            self.collect_action,
            self.export_action,
            self.verify_action,
            self.transfer_action,
            self.note_action,
        ):
            act.setEnabled(case is not None)
        self.collect_view.set_case(case)
        # The other pages load their rows when shown; their actions already see the case.
        self.custody_view.case = case
        self.verify_view.prepare(case, self.verification)
        self._stale = {2: "case", 3: "case", 4: "case"}
        self._refresh_page(self.nav.currentRow())
        self._update_status()

    def _refresh_head(self, throttle: float = 0.0) -> None:
        """Show the ledger head; during a run at most once per ``throttle`` seconds."""
        now = time.monotonic()
        if self.case is None or now - self._head_checked < throttle:
            return
        self._head_checked = now
        seq, head = browse.ledger_head(self.case)
        self.head_label.setText(f"Ledger head #{seq} {head[:12]}…" if head else "Ledger empty")
        self.head_label.setToolTip(head)

    def _update_status(self) -> None:
        self._adopt_newer_record()
        if self.case is None:
            self.case_label.setText("No case open")
            self.head_label.setText("")
            self.setWindowTitle("Chainproof")
        else:
            state = self.case.state()
            incident = state.fields.incident_ref if state.fields else None
            ref = f"{incident} · " if incident else ""
            self.case_label.setText(f"{ref}{state.title} · case {self.case.case_id}")
            self._refresh_head()
            self.setWindowTitle(f"Chainproof — {state.title}")
        self._show_integrity()
        if self.identity is None:
            self.examiner_label.setText("Examiner: locked")
        else:
            self.examiner_label.setText(f"Examiner: {self.identity.name}")
            self.examiner_label.setToolTip(f"certificate SHA-256 {self.identity.fingerprint}")

    def _show_integrity(self) -> None:
        """The open case's last verification, in words, a mark and its colour."""
        if self.case is None:
            self.integrity_label.setText("")
            self.integrity_label.setToolTip("")
            return
        v = self.verification
        since = entries_since(self.case, v) if v is not None else 0
        self.integrity_label.setText(f"Integrity: {short_text(v, since)}")
        self.integrity_label.setToolTip(long_text(v, since))
        self.integrity_label.setStyleSheet(
            f"QLabel {{ color: {colour(v.ok if v else None).name()}; font-weight: 600; }}"
        )

    def _refresh_case_views(self) -> None:
        """The case changed (a run, a transfer, an export): refresh the page shown now, and
        the others when they are shown (re-reading 100,000 rows for hidden pages would stall
        the UI for nothing)."""
        self._adopt_newer_record()
        for page in (2, 3, 4):
            self._stale.setdefault(page, "data")
        self._refresh_page(self.nav.currentRow())
        self._update_status()

    def _page_changed(self, index: int) -> None:
        self.stack.setCurrentIndex(index)
        self._refresh_page(index)

    def _refresh_page(self, index: int) -> None:
        what = self._stale.pop(index, None)
        if what is None:
            return
        if index == 2:
            if what == "case":
                self.artifact_view.set_case(self.case, self.verification)
            else:
                self.artifact_view.refresh()
        elif index == 3:
            if what == "case":
                self.custody_view.set_case(self.case)
            else:
                self.custody_view.refresh()
        elif index == 4:
            if what == "case":
                self.verify_view.set_case(self.case, self.verification)
            else:
                self.verify_view.refresh(self.verification)

    # ------------------------------------------------------------------ identity
    def set_identity(self, identity: Identity | None) -> None:
        if (
            identity is None
            or self.identity is None
            or (identity.fingerprint != self.identity.fingerprint)
        ):
            self.artifact_view.details.viewed.clear()  # another examiner's views are not theirs
        self.identity = identity
        self._update_status()
        if identity is not None:
            pending, self._pending = self._pending, []
            for fn in pending:
                fn(identity)

    def with_identity(self, then: Callable[[Identity], None]) -> None:
        """Call ``then(identity)`` now if unlocked, else after the examiner unlocks it (or
        creates one on first run). Non-blocking: the dialog is ``self.dialog``."""
        if self.identity is not None:
            then(self.identity)
            return
        self._pending.append(then)
        if self.dialog is not None and self.dialog.isVisible():
            return
        if not identity_file().exists():
            self._identity_wizard()
            return
        dialog = PassphraseDialog(self, purpose="Your identity signs what you record.")
        dialog.unlocked.connect(self.set_identity)
        dialog.rejected.connect(self._pending.clear)
        self._open(dialog)

    def create_identity(self) -> None:
        """File > Create identity: replacing an existing identity is confirmed first, and the
        wizard keeps a dated backup of the old file before it writes the new one."""
        path = identity_file()
        if path.exists():
            who = (
                f" ({self.identity.name}, certificate SHA-256 {self.identity.fingerprint[:16]}…)"
                if self.identity is not None
                else ""
            )
            if not confirm(
                self,
                "Replace examiner identity",
                "Replace your examiner identity?",
                f"An identity{who} already exists in {path}. A new one replaces it: from "
                "then on you sign as the new identity. The old file is kept as a dated "
                "backup next to it; what it signed stays verifiable (each case's ledger holds "
                "its certificate).",
                act="Replace identity",
                keep="Keep current identity",
            ):
                return
        self._identity_wizard()

    def _identity_wizard(self) -> None:
        wizard = IdentityWizard(self)
        wizard.created.connect(self.set_identity)
        wizard.rejected.connect(self._pending.clear)
        self._open(wizard)

    def _open(self, dialog: QWidget) -> None:
        self.dialog = dialog
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()

    # ------------------------------------------------------------------ cases
    def new_case(self) -> None:
        if self.may_change_case():
            self.with_identity(self._new_case)

    def _new_case(self, identity: Identity) -> None:
        root = Path(self.cases_view.root.text()).expanduser()
        wizard = NewCaseWizard(identity, root, self)
        wizard.created.connect(self._case_created)
        self._open(wizard)

    def _case_created(self, handle: CaseHandle) -> None:
        self._remember(handle.root)
        self.set_case(handle)
        self.cases_view.refresh()
        self.show_page(1)

    def open_case_dir(self, path: Path) -> None:
        if not self.may_change_case():
            return
        try:
            handle = open_case(Path(path))
        except Exception as exc:  # noqa: BLE001 - not a case, database missing, ...: shown
            show_error(self, exc)
            return
        self._remember(handle.root)
        self.set_case(handle)
        self.show_page(2)

    def _remember(self, root: Path) -> None:
        root = root.resolve()
        self.cases_view.recent = [root] + [p for p in self.cases_view.recent if p != root]
        del self.cases_view.recent[MAX_RECENT:]
        self.save_settings()

    # ------------------------------------------------------------------ collect
    def start_collection(self) -> None:
        if self.case is None or self.collect_view.running:
            return
        self.show_page(1)
        self.with_identity(self.collect_view.start)

    def _run_finished(self, summary: RunSummary) -> None:
        self._refresh_case_views()
        self.statusBar().showMessage(
            f"Run {summary.status}: {summary.artifacts:,} artifacts, {summary.errors} errors",
            10_000,
        )

    # ------------------------------------------------------------------ custody
    def focus_filter(self) -> None:
        if self.case is None:
            return
        self.show_page(2)
        self.artifact_view.focus_search()

    def focus_journal(self) -> None:
        if self.case is None:
            return
        self.show_page(3)
        self.custody_view.text.setFocus()

    def _journal(self, kind: str, text: str, reason: str) -> None:
        def record(identity: Identity) -> None:
            if self.custody_view.add_entry(identity, kind, text, reason) is not None:
                self._update_status()

        self.with_identity(record)

    def _view_contents(self, key: int) -> None:
        """Record the examiner's access to an artifact's contents (signed), then show them."""
        case = self.case
        if case is None:
            return

        def view(identity: Identity) -> None:
            try:
                data = browse.view_artifact_bytes(case, identity, key)
            except Exception as exc:  # noqa: BLE001 - nothing recorded, nothing shown: say why
                show_error(self, exc)
                return
            self.artifact_view.details.show_contents(key, data)
            self._stale.setdefault(3, "data")
            self._update_status()

        self.with_identity(view)

    def transfer(self) -> None:
        if self.case is None:
            return
        dialog = TransferDialog(self.case, self)
        dialog.accepted.connect(self._refresh_case_views)
        self._open(dialog)

    def export(self) -> None:
        if self.case is None:
            return
        case = self.case

        def open_dialog(identity: Identity) -> None:
            dialog = ExportDialog(case, identity, self)
            dialog.exported.connect(lambda _r: self._refresh_case_views())
            self._open(dialog)

        self.with_identity(open_dialog)

    # ------------------------------------------------------------------ verify
    def verify(self) -> None:
        if self.case is None:
            return
        self._verify(self.verify_view.record.isChecked())

    def _verify(self, record: bool) -> None:
        self.show_page(4)
        if record:
            self.with_identity(self.verify_view.start)
        else:
            self.verify_view.start(None)

    def _adopt_newer_record(self) -> None:
        """A verification recorded after the one shown (by another examiner, or the CLI)
        is the case's newest state."""
        if self.case is None:
            return
        try:
            newer = newer_record(self.case, self.verification)
        except Exception as exc:  # noqa: BLE001 - an unreadable ledger is shown, not fatal
            show_error(self, exc)
            return
        if newer is not None:
            self._checked(newer)

    def _checked(self, verification: Verification) -> None:
        """A check of the open case ended (the Verify page drops one of another case), or
        a newer one was recorded."""
        if self.case is None or verification.case_id != self.case.case_id:
            return
        self.verification = verification
        if self._stale.get(2) != "case":  # else the page gets it when it loads the case
            self.artifact_view.set_verification(verification)
        self._stale.setdefault(3, "data")  # a recorded check is a new point on the timeline
        if self.verify_view.verification is not verification:  # recorded elsewhere
            self._stale.setdefault(4, "data")
            self._refresh_page(self.nav.currentRow())
        self._update_status()


def app_instance() -> QApplication:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    return app
