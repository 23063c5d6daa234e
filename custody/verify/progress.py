"""How far a verification is, and whether to stop it: a cheap hook for long checks.

Verification of a large case reads the ledger (entries) and then every run archive (bytes).
:class:`Monitor` takes an optional callback ``progress(phase, done, total)`` and a cancel
token (a :class:`threading.Event` or a callable returning True to stop). It calls the
callback at most every ``interval`` seconds (and once at the start and the end of each
phase), and checks the token at each update: every :data:`ENTRY_STEP` ledger entries and
every 1 MiB block of an archive. A set token raises :class:`~custody.errors.Cancelled`
before anything is written.

Phases: ``ledger`` (done/total in entries; total 0 when not known up front),
``archives`` (bytes: total is the sum of the archives' sizes on disk), and for a bundle
``bundle`` (its own files, no count).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from custody.errors import Cancelled

#: ``progress(phase, done, total)``.
ProgressCallback = Callable[[str, int, int], None]
#: A cancel token: set (or returning True) to stop.
CancelToken = threading.Event | Callable[[], bool]

LEDGER = "ledger"
ARCHIVES = "archives"
BUNDLE = "bundle"

#: Ledger entries between two updates (cancel checks).
ENTRY_STEP = 1000
#: Seconds between two calls of the callback within a phase.
INTERVAL = 0.1


class Monitor:
    """Progress reporting and cancellation for one verification. Without a callback or a
    token it does nothing (the default)."""

    def __init__(
        self,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        *,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._progress = progress
        if isinstance(cancel, threading.Event):
            self._cancelled: Callable[[], bool] | None = cancel.is_set
        else:
            self._cancelled = cancel
        self._interval = interval
        self._clock = clock
        self._last = 0.0
        self.phase = ""
        self.done = 0
        self.total = 0

    def check(self) -> None:
        """Raise :class:`Cancelled` if the token is set."""
        if self._cancelled is not None and self._cancelled():
            raise Cancelled("verification cancelled")

    def start(self, phase: str, total: int) -> None:
        """A new phase of ``total`` units (0: not known)."""
        self.check()
        self.phase, self.done, self.total = phase, 0, max(0, total)
        self._emit()

    def update(self, done: int) -> None:
        """``done`` units of the phase so far: never goes back, never past a known total."""
        self.check()
        if done > self.done:
            self.done = min(done, self.total) if self.total else done
        if self._progress is not None and self._clock() - self._last >= self._interval:
            self._emit()

    def finish(self) -> None:
        """The phase is complete: ``done`` is its total (the count, when none was known)."""
        if self.total:
            self.done = self.total
        else:
            self.total = self.done
        self._emit()

    def _emit(self) -> None:
        if self._progress is not None:
            self._last = self._clock()
            self._progress(self.phase, self.done, self.total)
