"""RFC 3161 timestamps from the desktop app: one :class:`CaseStamping` per case it has open.

The command line wraps each command in :func:`app.timestamps.stamping`; the desktop app has
no commands but a case that stays open while acts are written on the GUI thread and tasks
run on workers. :func:`open_stamping` registers one process hook for the open case (the
authority is ``tsa_url`` in settings.json: the app has no preferences dialog), every worker
task ends in :func:`task_stamping`, which waits (bounded, on the worker's thread) for the
tokens of what was written, and the window closes the stamping when the case changes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator, Sequence

from sqlalchemy.exc import SQLAlchemyError

from app.cases import CaseHandle
from app.settings import load_settings
from app.timestamps import WAIT
from custody.db.ledger import PROCESS_AFTER_COMMIT, read_entries
from custody.errors import ChainproofError
from custody.record.entry import Entry
from custody.record.events import SIGNED_EVENTS
from custody.record.times import parse_utc
from custody.timestamp.policy import STAMP_UNTIL
from custody.timestamp.request import TsaClient
from custody.timestamp.stamper import Stamper, StampOutcome
from custody.timestamp.store import TokenStore

#: The cases the desktop app stamps now, by case id (:class:`CaseStamping`).
_OPEN: dict[str, CaseStamping] = {}
_OPEN_LOCK = threading.Lock()


class CaseStamping:
    """Stamps every signed entry written to one case while the desktop app has it open.

    One process hook for the case (as :func:`app.timestamps.stamping` registers for a
    command) covers every writer on every thread; it only queues, so an act written on the
    GUI thread never waits on the network. :meth:`settle` ends a task: it waits, at most ``timeout`` seconds, for
    the tokens of what was written so far, and a fresh stamper takes what is written from
    then on (an authority that was down is asked again). :meth:`start` also queues the
    case's signed entries that have no token and are recent enough to be stamped as they
    happened (a case just created in the app, or written a minute ago without a TSA).
    """

    def __init__(self, case: CaseHandle, url: str) -> None:
        self.case = case
        self.url = url
        self.client = TsaClient(url)
        #: Entries of this session left untimestamped, with the reason (latest outcome).
        self.missed: dict[int, str] = {}
        self._lock = threading.Lock()
        self._stamper: Stamper | None = self._new()
        self._catching_up: threading.Thread | None = None

    def _new(self) -> Stamper:
        return Stamper(self.client, TokenStore(self.case.root), self.case.case_id)

    def __call__(self, entries: Sequence[Entry]) -> None:
        """The process hook: hand the entries to the current stamper (never raises)."""
        with self._lock:
            if self._stamper is not None:
                self._stamper(entries)

    def start(self) -> None:
        """Stamp from now on, and queue the recent entries without a token (on a thread)."""
        PROCESS_AFTER_COMMIT.append(self)
        with _OPEN_LOCK:
            _OPEN[self.case.case_id] = self
        self._catching_up = threading.Thread(
            target=self._catch_up, name="chainproof-tsa-catch-up", daemon=True
        )
        self._catching_up.start()

    def _catch_up(self) -> None:
        now = dt.datetime.now(dt.UTC)
        try:
            have = TokenStore(self.case.root).seqs()
            recent = [e for e in _recent_signed(self.case, now) if e.seq not in have]
        except (ChainproofError, SQLAlchemyError, OSError):
            return  # a ledger or folder that cannot be read: the views and verify say so
        self(recent)

    def settle(self, timeout: float = WAIT) -> StampOutcome:
        """Wait for the tokens of the entries written so far (at most ``timeout`` s)."""
        if self._catching_up is not None:
            self._catching_up.join(timeout)
        with self._lock:
            old = self._stamper
            if old is None:
                return StampOutcome()
            self._stamper = self._new()
        return self._finish(old, timeout)

    def detach(self) -> None:
        """Queue nothing more (cheap: the GUI thread calls it; :meth:`close` then waits)."""
        with contextlib.suppress(ValueError):
            PROCESS_AFTER_COMMIT.remove(self)
        with _OPEN_LOCK:
            if _OPEN.get(self.case.case_id) is self:
                del _OPEN[self.case.case_id]

    def close(self, timeout: float = WAIT) -> StampOutcome:
        """Stop stamping the case, then wait (at most ``timeout`` s) for what is queued."""
        self.detach()
        with self._lock:
            old, self._stamper = self._stamper, None
        return self._finish(old, timeout) if old is not None else StampOutcome()

    def _finish(self, stamper: Stamper, timeout: float) -> StampOutcome:
        outcome = stamper.close(timeout)
        with self._lock:
            for seq in outcome.stamped:
                self.missed.pop(seq, None)
            self.missed.update(outcome.missed)
        return outcome

    def note(self) -> str | None:
        """What the examiner is told when entries of this session went untimestamped."""
        with self._lock:
            if not self.missed:
                return None
            n, why = len(self.missed), next(reversed(self.missed.values()))
        return (
            f"{n} signed entr{'y' if n == 1 else 'ies'} not timestamped ({why}); "
            f"'chainproof timestamp {self.case.root}' adds the tokens later, recorded as late"
        )


def _recent_signed(case: CaseHandle, now: dt.datetime) -> Iterator[Entry]:
    """The signed entries of ``case`` young enough to be stamped as they happened."""
    for e in read_entries(case.sessions, case.case_id, events=sorted(SIGNED_EVENTS)):
        try:
            recent = now - parse_utc(e.at) <= STAMP_UNTIL
        except ValueError:
            continue
        if e.signatures and recent:
            yield e


def open_stamping(case: CaseHandle) -> CaseStamping | None:
    """Stamp the case the desktop app opens, when settings.json names a timestamp authority
    (``tsa_url``); None when it names none. A UsageError (the settings file) or a
    TimestampError (not an http(s) URL) when it cannot be used."""
    url = load_settings().tsa_url
    if url is None:
        return None
    stamps = CaseStamping(case, url)
    stamps.start()
    return stamps


def case_stamping(case: CaseHandle) -> CaseStamping | None:
    """The desktop app's stamping of ``case``, if it stamps it now."""
    with _OPEN_LOCK:
        return _OPEN.get(case.case_id)


@contextlib.contextmanager
def task_stamping(case: CaseHandle, *, pdf: bool = False) -> Iterator[CaseStamping | None]:
    """A desktop task's work on ``case`` (on its worker thread): with ``pdf``, a report PDF
    signed in the block carries a signature timestamp (PAdES B-T); at the end, however the
    work ends, wait (bounded) for the tokens of the entries written. Nothing when the case
    is not stamped."""
    stamps = case_stamping(case)
    if stamps is None:
        yield None
        return
    try:
        if pdf:
            from custody.report.sign import pdf_timestamps  # loads pyHanko: only for exports

            with pdf_timestamps(stamps.url):
                yield stamps
        else:
            yield stamps
    finally:
        stamps.settle()
