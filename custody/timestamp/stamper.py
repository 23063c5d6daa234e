"""Timestamping signed entries as they are committed, without stalling the work.

A :class:`Stamper` is a ledger writer's ``after_commit`` hook: it queues each signed entry
(signed acts and checkpoints) of its case and a thread of its own requests the tokens and
keeps them (:class:`~custody.timestamp.store.TokenStore`). :meth:`Stamper.close` waits for
what is queued, a bounded time. When the authority cannot be reached, the entries are left
untimestamped (the missing token is the mark) and the rest of the queue is not tried again,
so a dead authority costs one timeout, not one per entry; ``chainproof timestamp`` stamps
them later and records that they were stamped late.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from custody.errors import TimestampError
from custody.record.entry import Entry
from custody.record.times import parse_utc
from custody.timestamp.policy import STAMP_UNTIL
from custody.timestamp.request import TsaClient
from custody.timestamp.store import TokenStore


@dataclass
class StampOutcome:
    """What a stamper did: entries stamped, and those left untimestamped with the reason."""

    stamped: list[int] = field(default_factory=list)
    missed: dict[int, str] = field(default_factory=dict)


class Stamper:
    """Requests a token for every signed entry of ``case_id`` that its hook is given
    (``None``: of the case of the first entries it is given, for a case being created)."""

    def __init__(self, client: TsaClient, store: TokenStore, case_id: str | None) -> None:
        self.client = client
        self.store = store
        self.case_id = case_id
        self.outcome = StampOutcome()
        self._queue: queue.Queue[tuple[int, bytes, str] | None] = queue.Queue()
        self._down: str | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="chainproof-tsa", daemon=True)
        self._thread.start()

    def __call__(self, entries: Sequence[Entry]) -> None:
        """The ``after_commit`` hook: queue the signed entries of this case (never raises)."""
        if self.case_id is None and entries:
            self.case_id = entries[0].case_id
        for e in entries:
            if e.case_id == self.case_id and e.signatures:
                self._queue.put((e.seq, e.signed_bytes(), e.at))

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            seq, data, at = item
            why = self._down or self._too_old(at)
            if why is None and self._stop.is_set():
                why = "the wait for the timestamp authority ran out"
            if why is None:
                why = self._stamp(seq, data)
            with self._lock:
                if why is None:
                    self.outcome.stamped.append(seq)
                else:
                    self.outcome.missed[seq] = why

    def _stamp(self, seq: int, data: bytes) -> str | None:
        try:
            stamp = self.client.stamp(data)
            self.store.write(seq, stamp.response)
        except TimestampError as exc:
            self._down = exc.diagnostics()
            return self._down
        except OSError as exc:
            return f"the token could not be written to {self.store.path(seq)}: {exc.strerror}"
        return None

    @staticmethod
    def _too_old(at: str) -> str | None:
        try:
            age = dt.datetime.now(dt.UTC) - parse_utc(at)
        except ValueError:
            return "the entry's time cannot be read"
        if age > STAMP_UNTIL:
            return "the entry was written too long ago to be stamped as it happened"
        return None

    def close(self, timeout: float) -> StampOutcome:
        """Wait up to ``timeout`` seconds for the queued entries; those not stamped by then
        stay untimestamped. Returns what was done."""
        self._queue.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join(self.client.timeout + 1)
        with self._lock:
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    self.outcome.missed[item[0]] = "the wait for the timestamp authority ran out"
            return self.outcome
