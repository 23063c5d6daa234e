"""The main window: left navigation (Cases, Collect, Artifacts, Custody, Verify), menus with
every action and its shortcut, and a status bar with the case, the examiner and the ledger head.

Only the case list is built at start; each other screen is built (and its modules imported)
the first time it is needed, so the window is usable at once.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import QByteArray, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QSizePolicy,
    QStackedWidget,
    QWidget,
)

from app.paths import identity_file
from ui import dialogs, theme
from ui.accessibility import announce, make_accessible, selecting_makes_current
from ui.case_list import CaseListView
from ui.confirm import confirm, inform
from ui.errors import show_error
from ui.extract_dialog import ExtractDialog
from ui.integrity import colour, long_text, short_text
from ui.settings import settings
from ui.widgets import ElidedLabel
from ui.workers import Worker, wait_for_workers

if TYPE_CHECKING:
    from app.cases import CaseHandle
    from app.collection import RunSummary
    from app.desktop_timestamps import CaseStamping
    from app.identity import Identity
    from app.integrity import Verification
    from ui.artifact_view import ArtifactView
    from ui.collection_view import CollectionView
    from ui.custody_view import CustodyView
    from ui.verify_view import VerifyView

PAGES = ("Cases", "Collect", "Artifacts", "Custody", "Verify")
MAX_RECENT = 10
#: The smallest window whose screens all fit (a 1024x768 screen less its panels).
MINIMUM_SIZE = QSize(1000, 640)


class MainWindow(QMainWindow):
    """Chainproof's desktop window."""

    def __init__(self, case_dir: Path | None = None) -> None:
        super().__init__()
        self._head_checked = 0.0  # when the status bar last read the ledger head
        self.setObjectName("main_window")
        self.setWindowTitle("Chainproof")
        self.setMinimumSize(MINIMUM_SIZE)
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
        self.nav.setFixedWidth(150)
        self.nav.setIconSize(QSize(0, 0))
        for name in PAGES:
            QListWidgetItem(name, self.nav)
        self.stack = QStackedWidget()
        self.stack.setMinimumWidth(0)
        self.cases_view = CaseListView()
        self.stack.addWidget(self.cases_view)
        #: The screens built so far, by page; the others are placeholders until shown.
        self._pages: dict[int, QWidget] = {0: self.cases_view}
        for _ in PAGES[1:]:
            self.stack.addWidget(QWidget())
        # Pages whose case ("case") or data ("data") changed while hidden: refreshed when shown.
        self._stale: dict[int, str] = {}
        self.nav.currentRowChanged.connect(self._page_changed)
        selecting_makes_current(self.nav)  # a screen reader's "select" switches the page
        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.nav)
        row.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        font = self.font()
        font.setPointSizeF(10)
        self.setFont(font)  # explicit fonts (monospace hashes, previews) keep their own

        self.case_label = ElidedLabel("No case open")
        self.case_label.setAccessibleDescription("open case")
        self.examiner_label = ElidedLabel("Examiner: locked")
        self.examiner_label.setAccessibleDescription("examiner")
        self.head_label = ElidedLabel("")
        self.head_label.setAccessibleDescription("ledger head")
        self.integrity_label = ElidedLabel("", minimum=120)
        self.integrity_label.setObjectName("integrity")
        self.integrity_label.setAccessibleDescription("integrity: the last verification")
        # A passing message ("Run finished: ...") takes the open case's place for a while,
        # shortened to the room it has like the labels (QStatusBar.showMessage clips it).
        self.message_label = ElidedLabel("")
        self.message_label.setObjectName("status message")
        self.message_label.setAccessibleDescription("status message")
        self.message_label.hide()
        self._message_timer = QTimer(self)
        self._message_timer.setSingleShot(True)
        self._message_timer.timeout.connect(self._message_ended)
        status = self.statusBar()
        status.addWidget(self.case_label, 1)
        status.addWidget(self.message_label, 1)
        # Their whole text when there is room; shortened ("…", whole in the tooltip) when not.
        for label in (self.integrity_label, self.examiner_label, self.head_label):
            label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
            status.addPermanentWidget(label)

        self._build_actions()
        self._connect()
        theme.watcher().changed.connect(self._restyle)
        self.set_scheme(str(settings().value("window/scheme") or theme.SYSTEM), save=False)
        make_accessible(self)
        self._restore()
        #: The open case's RFC 3161 stamping (when settings.json names an authority), and
        #: the threads that wait for the tokens of the cases closed before it.
        self.stamps: CaseStamping | None = None
        self._stamps_closing: list[threading.Thread] = []
        self.set_case(None)
        self._opening: Worker | None = None
        if case_dir is not None:
            self._open_at_start(Path(case_dir))

    # ------------------------------------------------------------------ status bar
    def say(self, text: str, timeout_ms: int = 10_000) -> None:
        """Show a passing message in the status bar for ``timeout_ms``, shortened with "…"
        to the room it has (the whole text in its tooltip and accessible text)."""
        self.message_label.setText(text)
        self.message_label.setToolTip(text)
        self.case_label.hide()
        self.message_label.show()
        self._message_timer.start(timeout_ms)

    def _message_ended(self) -> None:
        self.message_label.hide()
        self.message_label.clear()
        self.case_label.show()

    # ------------------------------------------------------------------ pages
    def _built(self, index: int) -> bool:
        return index in self._pages

    def _page(self, index: int) -> QWidget:
        """The screen of ``index``, built (its modules imported) the first time it is asked for."""
        page = self._pages.get(index)
        if page is None:
            page = self._pages[index] = self._build_page(index)
            placeholder = self.stack.widget(index)
            self.stack.insertWidget(index, page)
            if placeholder is not None:
                self.stack.removeWidget(placeholder)
                placeholder.deleteLater()
            make_accessible(page)
        return page

    def _build_page(self, index: int) -> QWidget:
        if index == 1:
            from ui.collection_view import CollectionView  # lazy: SQLAlchemy, collectors

            collect = CollectionView()
            collect.start_requested.connect(self.start_collection)
            collect.run_finished.connect(self._run_finished)
            collect.run_failed.connect(lambda _e: self._refresh_case_views())
            collect.snapshot_shown.connect(lambda _snap: self._refresh_head(throttle=1.0))
            collect.set_case(self.case)
            return collect
        if index == 2:
            from ui.artifact_view import ArtifactView  # lazy: SQLAlchemy

            artifacts = ArtifactView()
            artifacts.details.contents_requested.connect(self._view_contents)
            artifacts.details.extract_requested.connect(self._extract)
            self._stale[2] = "case"
            return artifacts
        if index == 3:
            from ui.custody_view import CustodyView  # lazy: SQLAlchemy

            custody = CustodyView()
            custody.journal_requested.connect(self._journal)
            custody.transfer_requested.connect(self.transfer)
            custody.seal_requested.connect(self.seal)
            custody.export_requested.connect(self.export)
            custody.case = self.case
            self._stale[3] = "case"
            return custody
        from ui.verify_view import VerifyView  # lazy: SQLAlchemy

        verify = VerifyView()
        verify.verify_requested.connect(self._verify)
        verify.checked.connect(self._checked)
        verify.prepare(self.case, self.verification)
        self._stale[4] = "case"
        return verify

    @property
    def collect_view(self) -> CollectionView:
        return cast("CollectionView", self._page(1))

    @property
    def artifact_view(self) -> ArtifactView:
        return cast("ArtifactView", self._page(2))

    @property
    def custody_view(self) -> CustodyView:
        return cast("CustodyView", self._page(3))

    @property
    def verify_view(self) -> VerifyView:
        return cast("VerifyView", self._page(4))

    @property
    def collecting(self) -> bool:
        return self._built(1) and self.collect_view.running

    # ------------------------------------------------------------------ actions
    def _action(
        self,
        text: str,
        shortcut: QKeySequence | QKeySequence.StandardKey | str | None,
        slot: Callable[[], object],
        tip: str = "",
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        a, key = self._action, QKeySequence.StandardKey
        self.new_action = a("&New case…", key.New, self.new_case)
        self.open_action = a("&Open case…", key.Open, self.cases_view.choose_and_open)
        self.bundle_action = a(
            "&Verify a bundle…",
            "Ctrl+Shift+O",
            self.verify_bundle,
            "Check an exported bundle (folder or zip) on its own",
        )
        self.identity_action = a("Create &identity…", None, self.create_identity)
        self.unlock_action = a(
            "&Unlock identity…", "Ctrl+L", lambda: self.with_identity(lambda _i: None)
        )
        self.certificate_action = a(
            "Export my &certificate…",
            None,
            self.export_certificate,
            "Save your examiner certificate (PEM) for a receiving examiner or a legal team",
        )
        self.quit_action = a("&Quit", key.Quit, self.close)
        self.collect_action = a("&Collect", "F5", self.start_collection)
        self.cancel_action = a("Ca&ncel collection…", "Esc", self.cancel_collection)
        self.note_action = a("Add &journal entry", "Ctrl+J", self.focus_journal)
        self.transfer_action = a("&Transfer custody…", "Ctrl+T", self.transfer)
        self.seal_action = a(
            "&Seal case…", None, self.seal, "Close the case to collection (signed; asks first)"
        )
        self.extract_action = a("E&xtract artifact…", "Ctrl+Shift+X", self.extract_selected)
        self.export_action = a("&Export bundle…", "Ctrl+E", self.export)
        self.verify_action = a("&Verify case", "Ctrl+Shift+V", self.verify)
        self.filter_action = a("&Filter artifacts", key.Find, self.focus_filter)
        self.page_actions = [
            a(f"Go to {name}", f"Ctrl+{i}", functools.partial(self.show_page, i - 1))
            for i, name in enumerate(PAGES, start=1)
        ]
        self.help_action = a("&Documentation", key.HelpContents, self.open_documentation)
        self.keys_action = a(
            "&Keyboard", "Ctrl+F1", self.keyboard_help, "Every action's keys, in one table"
        )
        self.about_action = a("&About Chainproof", None, self.about)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)

        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        for act in (self.new_action, self.open_action, self.bundle_action):
            file_menu.addAction(act)
        file_menu.addSeparator()
        for act in (self.identity_action, self.unlock_action, self.certificate_action):
            file_menu.addAction(act)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        case_menu = menu.addMenu("&Case")
        for act in (self.collect_action, self.cancel_action):
            case_menu.addAction(act)
        case_menu.addSeparator()
        for act in (self.note_action, self.transfer_action, self.seal_action):
            case_menu.addAction(act)
        case_menu.addSeparator()
        for act in (self.extract_action, self.export_action, self.verify_action):
            case_menu.addAction(act)
        view_menu = menu.addMenu("&View")
        view_menu.addAction(self.filter_action)
        view_menu.addSeparator()
        for act in self.page_actions:
            view_menu.addAction(act)
        view_menu.addSeparator()
        schemes = view_menu.addMenu("Colour &scheme")
        group = QActionGroup(self)
        group.setExclusive(True)
        self.scheme_actions: dict[str, QAction] = {}
        for name in theme.SCHEMES:
            act = QAction(theme.SCHEME_NAMES[name], self)
            act.setCheckable(True)
            act.triggered.connect(functools.partial(self.set_scheme, name))
            group.addAction(act)
            schemes.addAction(act)
            self.scheme_actions[name] = act
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self.help_action)
        help_menu.addAction(self.keys_action)
        help_menu.addAction(self.about_action)

    def _connect(self) -> None:
        self.cases_view.open_requested.connect(self.open_case_dir)
        self.cases_view.new_requested.connect(self.new_case)

    # ------------------------------------------------------------------ state
    def _restore(self) -> None:
        s = settings()
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self._fit_screen(QSize(1400, 880))
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

    def _fit_screen(self, wanted: QSize) -> None:
        """Open at ``wanted``, or at the screen's free area when that is smaller."""
        screen = self.screen()
        if screen is not None:
            room = screen.availableGeometry().size()
            wanted = wanted.boundedTo(room).expandedTo(self.minimumSize().boundedTo(room))
        self.resize(wanted)

    def save_settings(self) -> None:
        s = settings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/page", self.nav.currentRow())
        s.setValue("cases/recent", [str(p) for p in self.cases_view.recent[:MAX_RECENT]])
        s.setValue("cases/root", self.cases_view.root.text())
        s.sync()

    def set_scheme(self, name: str, save: bool = True) -> None:
        """View > Colour scheme: follow the system, or light, or dark (remembered)."""
        if name not in theme.SCHEMES:
            name = theme.SYSTEM
        self.scheme_actions[name].setChecked(True)
        theme.apply(name)  # every window restyles when the colours change (_restyle)
        if save:
            s = settings()
            s.setValue("window/scheme", name)
            s.sync()

    def _restyle(self, colours: theme.Colours) -> None:
        self.setStyleSheet(theme.style_sheet(colours))
        self._show_integrity()

    def closeEvent(self, event: QCloseEvent) -> None:
        view = self.collect_view if self._built(1) else None
        running = (
            view is not None
            and view.worker is not None
            and view.worker.running
            and not view.cancelling
        )
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
        if view is not None and view.worker is not None:
            view.cancel()
        if self._built(4) and self.verify_view.worker is not None:
            self.verify_view.cancel()  # stops within a MiB: quitting does not wait for it
        wait_for_workers(15_000)
        self._stop_stamping()
        self.wait_for_stamps()
        self.save_settings()
        super().closeEvent(event)

    def _start_stamping(self, case: CaseHandle) -> None:
        """Stamp every signed entry written to ``case`` from now on (and its recent ones
        without a token), when settings.json names a timestamp authority."""
        from app.desktop_timestamps import open_stamping  # lazy: asn1crypto
        from app.errors import ChainproofError

        try:
            self.stamps = open_stamping(case)
        except ChainproofError as exc:  # a bad settings file or URL: shown, the case opens
            show_error(self, exc)

    def _stop_stamping(self) -> None:
        """Stop stamping the case shown; its outstanding tokens are waited for on a thread
        of their own, so the window never waits on the authority."""
        stamps, self.stamps = self.stamps, None
        if stamps is None:
            return
        stamps.detach()
        closing = threading.Thread(target=stamps.close, name="chainproof-tsa-close", daemon=True)
        closing.start()
        self._stamps_closing = [t for t in self._stamps_closing if t.is_alive()] + [closing]

    def wait_for_stamps(self, timeout: float = 30.0) -> bool:
        """Wait (at most ``timeout`` s in all) for the tokens of the cases no longer shown;
        whether they all arrived or were given up on."""
        end = time.monotonic() + timeout
        for t in self._stamps_closing:
            t.join(max(0.0, end - time.monotonic()))
        self._stamps_closing = [t for t in self._stamps_closing if t.is_alive()]
        return not self._stamps_closing

    def show_page(self, index: int) -> None:
        index = max(0, min(index, len(PAGES) - 1))
        if index > 0 and self.case is None:
            index = 0
        self.nav.setCurrentRow(index)

    def may_change_case(self) -> bool:
        """Whether another case may be shown now: not while a collection runs (its progress,
        cancel button and result belong to its case). Says why when not."""
        if not self.collecting or self.case is None:
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
        self._stop_stamping()
        self.case = case
        self.verification = None
        if case is not None:
            self._start_stamping(case)
            from app.integrity import last_recorded  # lazy: SQLAlchemy

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
            self.seal_action,
            self.extract_action,
        ):
            act.setEnabled(case is not None)
        # The screens built so far see the new case; the others get it when built, and
        # their rows are read when shown.
        if self._built(1):
            self.collect_view.set_case(case)
        if self._built(3):
            self.custody_view.case = case
        if self._built(4):
            self.verify_view.prepare(case, self.verification)
        self._stale = {i: "case" for i in (2, 3, 4) if self._built(i)}
        self._refresh_page(self.nav.currentRow())
        self._update_status()

    def _refresh_head(self, throttle: float = 0.0) -> None:
        """Show the ledger head; during a run at most once per ``throttle`` seconds."""
        from app import browse  # lazy: SQLAlchemy, loaded after the window shows

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
            self.case_label.setToolTip("")
            self.head_label.setText("")
            self.setWindowTitle("Chainproof")
        else:
            state = self.case.state()
            incident = state.fields.incident_ref if state.fields else None
            ref = f"{incident} · " if incident else ""
            sealed = " · sealed" if state.sealed else ""
            self.case_label.setText(f"{ref}{state.title} · case {self.case.case_id}{sealed}")
            self.case_label.setToolTip(f"{self.case_label.text()}\n{self.case.root}")
            self.seal_action.setEnabled(not state.sealed)
            self.collect_action.setEnabled(not state.sealed)
            self._refresh_head()
            self.setWindowTitle(f"Chainproof — {state.title}")
        self._show_integrity()
        if self.identity is None:
            self.examiner_label.setText("Examiner: locked")
            self.examiner_label.setToolTip("Unlock your identity: Ctrl+L")
        else:
            self.examiner_label.setText(f"Examiner: {self.identity.name}")
            self.examiner_label.setToolTip(
                f"{self.identity.name}, certificate SHA-256 {self.identity.fingerprint}"
            )

    def _show_integrity(self) -> None:
        """The open case's last verification, in words, a mark and its colour."""
        if self.case is None:
            self.integrity_label.setText("")
            self.integrity_label.setToolTip("")
            return
        from app.integrity import entries_since  # lazy: SQLAlchemy

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
            if self._built(page):
                self._stale.setdefault(page, "data")
        if self._built(1):
            self.collect_view.refresh_sealed()
        self._refresh_page(self.nav.currentRow())
        self._update_status()

    def _page_changed(self, index: int) -> None:
        if index < 0:
            return
        page = self._page(index)
        self.stack.setCurrentWidget(page)
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
        if self._built(2) and (
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
        from ui.wizards import PassphraseDialog  # lazy: SQLAlchemy, cryptography

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
        from ui.wizards import IdentityWizard  # lazy: SQLAlchemy, cryptography

        wizard = IdentityWizard(self)
        wizard.created.connect(self.set_identity)
        wizard.rejected.connect(self._pending.clear)
        self._open(wizard)

    def export_certificate(self) -> None:
        """File > Export my certificate: the public certificate as PEM (no passphrase needed
        when its copy beside the identity file is there; else unlock first)."""
        from app.desktop_actions import examiner_certificate  # lazy: cryptography

        if self.identity is None and examiner_certificate(None) is None:
            self.with_identity(lambda identity: self._save_certificate(identity))
            return
        path = dialogs.save_certificate(self, self.identity)
        if path is not None:
            self.say(f"Certificate saved to {path}")

    def _save_certificate(self, identity: Identity) -> None:
        path = dialogs.save_certificate(self, identity)
        if path is not None:
            self.say(f"Certificate saved to {path}")

    def _open(self, dialog: QWidget) -> None:
        self.dialog = dialog
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        make_accessible(dialog)
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()

    # ------------------------------------------------------------------ cases
    def new_case(self) -> None:
        if self.may_change_case():
            self.with_identity(self._new_case)

    def _new_case(self, identity: Identity) -> None:
        from ui.wizards import NewCaseWizard  # lazy: SQLAlchemy, cryptography

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
        from app.cases import open_case  # lazy: SQLAlchemy, loaded after the window shows

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

    def _open_at_start(self, path: Path) -> None:
        """``chainproof gui CASE_DIR``: the window is shown at once and the case opens off
        the GUI thread (its database engine is imported then); it is shown when open,
        unless the examiner opened another case meanwhile."""

        def work(_cancel: threading.Event, _report: Callable[[Any], None]) -> Any:
            from app.cases import open_case  # lazy: SQLAlchemy

            return open_case(path)

        self.case_label.setText(f"Opening {path} …")
        self._opening = Worker(work)  # no parent: it may end after the window is gone
        self._opening.finished.connect(self._opened_at_start)
        self._opening.failed.connect(self._open_failed)
        self._opening.start()

    def _opened_at_start(self, handle: CaseHandle) -> None:
        self._opening = None
        if self.case is not None:
            return  # another case was opened meanwhile
        self._remember(handle.root)
        self.set_case(handle)
        self.show_page(2)

    def _open_failed(self, exc: BaseException) -> None:
        self._opening = None
        self._update_status()
        show_error(self, exc)

    def _remember(self, root: Path) -> None:
        root = root.resolve()
        self.cases_view.recent = [root] + [p for p in self.cases_view.recent if p != root]
        del self.cases_view.recent[MAX_RECENT:]
        self.save_settings()

    def verify_bundle(self) -> None:
        """File > Verify a bundle: a bundle folder or zip checked on its own."""
        from ui.bundle_dialog import BundleVerifyDialog  # lazy: SQLAlchemy

        start = self.case.exports_dir if self.case is not None else None
        self._open(BundleVerifyDialog(self, start_in=start))

    # ------------------------------------------------------------------ collect
    def start_collection(self) -> None:
        if self.case is None or self.collecting:
            return
        self.show_page(1)
        if self.collect_view.sealed:
            return  # the screen says why
        self.with_identity(self.collect_view.start)

    def cancel_collection(self) -> None:
        if self._built(1):
            self.collect_view.request_cancel()

    def _run_finished(self, summary: RunSummary) -> None:
        self._refresh_case_views()
        self.say(f"Run {summary.status}: {summary.artifacts:,} artifacts, {summary.errors} errors")

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
        from app import browse  # lazy: SQLAlchemy, loaded after the window shows

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

    def extract_selected(self) -> None:
        """Case > Extract artifact: the artifact selected on the Artifacts screen."""
        if self.case is None:
            return
        self.show_page(2)
        details = self.artifact_view.details
        if details.key is None or details.details.get("type") != "artifact":
            inform(
                self,
                "Extract artifact",
                "Select an artifact first.",
                "Choose it in the Artifacts table (Ctrl+F filters it), then Extract again.",
            )
            return
        self._extract(details.key)

    def _extract(self, key: int) -> None:
        case = self.case
        if case is None:
            return
        details = dict(self.artifact_view.details.details)

        def open_dialog(identity: Identity) -> None:
            dialog = ExtractDialog(case, identity, details, self)
            dialog.extracted.connect(lambda _r: self._refresh_case_views())
            self._open(dialog)

        self.with_identity(open_dialog)

    def transfer(self) -> None:
        from ui.custody_dialogs import TransferDialog  # lazy: ~10 ms of Qt classes

        if self.case is None:
            return
        dialog = TransferDialog(self.case, self)
        dialog.accepted.connect(lambda: self._transferred(dialog))
        dialog.rejected.connect(lambda: announce(self, "Transfer cancelled: nothing was recorded."))
        self._open(dialog)

    def _transferred(self, dialog: Any) -> None:
        self._refresh_case_views()
        text = f"Custody transferred to {dialog.received_by} (ledger entry {dialog.seq})."
        self.say(text)
        announce(self, text)

    def seal(self) -> None:
        """Case > Seal case: a reason, a confirmation, a signed ``sealed`` entry."""
        case = self.case
        if case is None:
            return
        if case.state().sealed:
            inform(self, "Seal case", "The case is already sealed.")
            return

        def open_dialog(identity: Identity) -> None:
            dialog = dialogs.SealDialog(case, identity, self)
            dialog.accepted.connect(self._sealed)
            self._open(dialog)

        self.with_identity(open_dialog)

    def _sealed(self) -> None:
        self._refresh_case_views()
        self.say("The case is sealed: no more collection.")

    def export(self) -> None:
        if self.case is None:
            return
        case = self.case

        def open_dialog(identity: Identity) -> None:
            from ui.custody_dialogs import ExportDialog  # lazy: ~10 ms of Qt classes

            dialog = ExportDialog(case, identity, self)
            dialog.exported.connect(self._exported)
            self._open(dialog)

        self.with_identity(open_dialog)

    def _exported(self, result: Any) -> None:
        self._refresh_case_views()
        failed = "" if result.verified else ", stating that the case failed verification"
        text = f"Bundle exported to {result.path}{failed}."
        self.say(text)
        announce(self, text)

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
        from app.integrity import newer_record  # lazy: SQLAlchemy

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
        if self._built(2) and self._stale.get(2) != "case":  # else it gets it with the case
            self.artifact_view.set_verification(verification)
        if self._built(3):
            self._stale.setdefault(3, "data")  # a recorded check is a new point on the timeline
        if self._built(4) and self.verify_view.verification is not verification:
            self._stale.setdefault(4, "data")  # recorded elsewhere
            self._refresh_page(self.nav.currentRow())
        self._update_status()

    # ------------------------------------------------------------------ help
    def open_documentation(self) -> None:
        dialogs.open_documentation(self)

    def keyboard_help(self) -> None:
        """Help ▸ Keyboard: every action's shortcut and menu route (non-blocking)."""
        self._open(dialogs.KeyboardHelp(self.menuBar(), self))

    def about(self) -> None:
        dialogs.show_about(self)


def app_instance() -> QApplication:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    return app
