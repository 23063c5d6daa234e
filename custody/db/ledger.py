"""The custody ledger in the case database: append-only, hash-chained, covered by signatures.

:class:`LedgerWriter` appends typed events (:mod:`custody.record.events`). Acts of a person
are signed one by one. Bulk entries (artifacts, collection problems) are queued and written
in batches; each batch that ends unsigned is closed by a signed ``checkpoint``: because
entries are chained, a signed entry commits to every entry before it. The index tables
beside the ledger are written by :mod:`custody.db.projection` in the same transaction.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import CursorResult, Table, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from custody.db.engine import insert_many, read_rows, wrap_db_errors
from custody.db.models import Case, LedgerEntry
from custody.db.projection import project
from custody.errors import ChainproofError, DatabaseError
from custody.record.canonical import canonical_json
from custody.record.entry import GENESIS_HASH, Entry, Signature, make_entry_from_json
from custody.record.events import Checkpoint, Event
from custody.record.keys import Identity
from custody.record.times import utc_now_text

_LEDGER_TABLE = cast(Table, LedgerEntry.__table__)

#: Checkpoint policy: at most this many entries, and this many seconds, between signatures.
CHECKPOINT_EVERY = 1000
CHECKPOINT_SECONDS = 1.0

#: Called after each committed write with the entries it wrote (e.g. to timestamp a head).
AfterCommit = Callable[[Sequence[Entry]], None]

#: Hooks every writer of this process calls after its own (e.g. a command's RFC 3161
#: stamper, :mod:`custody.timestamp.stamper`); a hook filters the entries of its own case.
PROCESS_AFTER_COMMIT: list[AfterCommit] = []

#: Test hook: ``CHAINPROOF_STOP_AT=ledger_tx`` makes the process stop itself (SIGSTOP) inside
#: each ledger transaction, after its rows are written and before it commits, while it holds
#: the case's lock; a test then kills it there, or lets it go on (``tests/faults``). The same
#: variable as :func:`app.collection.stop_point`.
STOP_AT = "CHAINPROOF_STOP_AT"


@dataclass
class _Pending:
    event: Event
    at: str
    signers: tuple[Identity, ...]


@dataclass
class LedgerWriter:
    """Appends entries for one case, in batches, each batch closed by a signed entry.

    ``append`` buffers; ``flush`` writes the batch in one transaction that first locks the
    case row, so the chain stays linear when several examiners append at once (team mode).
    Entries get their ``seq`` and hashes at flush time, on the head as it then is, and the
    index rows they imply are written in the same transaction.
    """

    sessions: sessionmaker[Session]
    case_id: str
    identity: Identity
    #: Called before each batch is written: the run flushes its archive here, so the ledger
    #: never claims a member that is not yet on disk. It may instead start that flush and
    #: return a function that waits for it: the writer calls it after building and
    #: inserting the batch, before it commits (and puts the batch back in the queue when it
    #: raises).
    before_write: Callable[[], Callable[[], None] | None] | None = None
    #: Called after each batch is committed, with its entries.
    after_commit: list[AfterCommit] = field(default_factory=list)
    _pending: list[_Pending] = field(default_factory=list)
    _bulk_since_signed: int = 0
    _last_signed_at: float = field(default_factory=time.monotonic)

    def append(self, event: Event, *, cosigners: Sequence[Identity] = ()) -> Entry | None:
        """Queue an event; a signed event also flushes, so a person's act is on disk at once.

        Returns the written entry for a signed event, ``None`` for a queued bulk entry.
        """
        if event.SIGNED:
            signers = (self.identity, *cosigners)
            self._pending.append(_Pending(event, utc_now_text(), signers))
            return self.flush()[-1]
        if cosigners:
            raise ValueError(f"{event.EVENT} entries are not signed one by one")
        self._pending.append(_Pending(event, utc_now_text(), ()))
        self._bulk_since_signed += 1
        if (
            self._bulk_since_signed >= CHECKPOINT_EVERY
            or time.monotonic() - self._last_signed_at >= CHECKPOINT_SECONDS
        ):
            self.flush()
        return None

    def flush(self, reason: str = "periodic") -> list[Entry]:
        """Write every queued entry, closing with a signed checkpoint if the batch ends unsigned."""
        if not self._pending:
            return []
        wait = self.before_write() if self.before_write is not None else None
        batch, self._pending = self._pending, []
        engine = self.sessions.kw["bind"]
        try:
            with self.sessions.begin() as session:
                written = self._write(session, batch, reason)
                if wait is not None:
                    waiting, wait = wait, None
                    try:
                        waiting()  # what the batch describes is on disk before it commits
                    except BaseException:
                        self._pending = batch + self._pending
                        raise
                if os.environ.get(STOP_AT) == "ledger_tx" and hasattr(signal, "SIGSTOP"):
                    os.kill(os.getpid(), signal.SIGSTOP)
        except SQLAlchemyError as exc:
            self._pending = batch + self._pending
            raise wrap_db_errors(exc, engine) from exc
        finally:
            if wait is not None:  # the batch failed before it waited: still wait, quietly
                with contextlib.suppress(ChainproofError):
                    wait()
        self._bulk_since_signed = 0
        self._last_signed_at = time.monotonic()
        entries = [e for e, _ev in written]
        for hook in (*self.after_commit, *PROCESS_AFTER_COMMIT):
            hook(entries)
        return entries

    def _write(
        self, session: Session, batch: list[_Pending], reason: str
    ) -> list[tuple[Entry, Event]]:
        seq, prev = lock_head(session, self.case_id)
        actor = self.identity.fingerprint
        first_unsigned: int | None = None
        written: list[tuple[Entry, Event]] = []
        ledger_rows: list[dict[str, Any]] = []

        def add(event: Event, at: str, signers: Sequence[Identity]) -> None:
            nonlocal prev
            payload = event.payload()
            payload_json = canonical_json(payload)
            entry = make_entry_from_json(
                self.case_id, seq, at, actor, event.EVENT, payload, payload_json, prev, signers
            )
            written.append((entry, event))
            ledger_rows.append(_row(entry, payload_json))
            prev = entry.entry_hash

        for item in batch:
            seq += 1
            if item.signers:
                first_unsigned = None
            elif first_unsigned is None:
                first_unsigned = seq
            add(item.event, item.at, item.signers)
        if first_unsigned is not None:
            seq += 1
            checkpoint = Checkpoint(
                covers_from=first_unsigned, covers_to=seq - 1, head=prev, reason=reason
            )
            add(checkpoint, utc_now_text(), (self.identity,))
        # The driver's executemany, not ORM or Core inserts: a fraction of the cost per entry.
        insert_many(session, _LEDGER_TABLE, ledger_rows)
        project(session, written)
        return written

    def checkpoint(self, reason: str) -> list[Entry]:
        """Flush now, closing the batch with a checkpoint labelled ``reason``."""
        return self.flush(reason)


def _row(e: Entry, payload_json: bytes) -> dict[str, Any]:
    return {
        "case_id": e.case_id,
        "seq": e.seq,
        "at": e.at,
        "actor": e.actor,
        "event": e.event,
        "payload": payload_json.decode("utf-8"),
        "prev_hash": e.prev_hash,
        "entry_hash": e.entry_hash,
        "signatures": json.dumps([{"by": s.by, "sig": s.sig} for s in e.signatures])
        if e.signatures
        else None,
    }


def lock_head(session: Session, case_id: str) -> tuple[int, str]:
    """Lock the case for appending and return its head (last seq, last entry hash).

    The no-op UPDATE takes SQLite's write lock and PostgreSQL's row lock before the head is
    read, so two writers can never chain onto the same head.
    """
    locked = cast(
        "CursorResult[Any]",
        session.execute(update(Case).where(Case.id == case_id).values(id=Case.id)),
    )
    if locked.rowcount != 1:
        raise DatabaseError(f"case {case_id} is not in this database")
    row = session.execute(
        select(LedgerEntry.seq, LedgerEntry.entry_hash)
        .where(LedgerEntry.case_id == case_id)
        .order_by(LedgerEntry.seq.desc())
        .limit(1)
    ).first()
    return (0, GENESIS_HASH) if row is None else (row[0], row[1])


def head(sessions: sessionmaker[Session], case_id: str) -> tuple[int, str]:
    """The case's head as stored: (last seq, its entry hash), or (0, genesis) when empty."""
    t = _LEDGER_TABLE.c
    with sessions() as session:
        row = session.execute(
            select(t.seq, t.entry_hash).where(t.case_id == case_id).order_by(t.seq.desc()).limit(1)
        ).first()
    return (0, GENESIS_HASH) if row is None else (row[0], row[1])


def read_entries(
    sessions: sessionmaker[Session],
    case_id: str,
    *,
    events: Sequence[str] | None = None,
    seqs: Sequence[int] | None = None,
    after: int = 0,
) -> Iterator[Entry]:
    """Entries of a case, in ``seq`` order, as stored (even if tampered with).

    ``events`` keeps only entries of those kinds, ``seqs`` only those numbers, ``after``
    only entries after that number. A payload or signature list that is not JSON any more
    (a damaged database) is read as empty, so the chain check reports the entry as edited.
    """
    sql = _READ_SQL
    params: list[Any] = [case_id]
    if events is not None:
        if not events:
            return
        sql += f" AND event IN ({', '.join('?' * len(events))})"
        params += events
    if seqs is not None:
        if not seqs:
            return
        sql += f" AND seq IN ({', '.join('?' * len(seqs))})"
        params += seqs
    if after:
        sql += " AND seq > ?"
        params.append(after)
    # The driver's rows, not a Core select's: the same values, without SQLAlchemy's work
    # per row (read_rows); the same streaming in batches.
    with sessions() as session:
        for row in read_rows(session, sql + " ORDER BY seq, id", params):
            yield Entry(
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                _json_object(row[5]),
                row[6],
                row[7],
                _signatures(row[8]),
                row[5] if isinstance(row[5], str) else None,
            )


_READ_SQL = (
    "SELECT case_id, seq, at, actor, event, payload, prev_hash, entry_hash, signatures"
    " FROM ledger_entries WHERE case_id = ?"
)


def _json_object(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _signatures(text: str | None) -> tuple[Signature, ...]:
    if not text:
        return ()
    try:
        items = json.loads(text)
        return tuple(Signature(str(s["by"]), str(s["sig"])) for s in items)
    except (ValueError, TypeError, KeyError):
        return ()


def drop_guards_for_tests(session: Session) -> None:
    """What an attacker with database access does first. Used by tamper tests only."""
    session.execute(text("DROP TRIGGER IF EXISTS ledger_entries_no_update"))
    session.execute(text("DROP TRIGGER IF EXISTS ledger_entries_no_delete"))
