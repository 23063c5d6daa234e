"""The custody ledger: append-only, hash-chained, covered by the examiners' signatures.

Each entry's *body* is ``{"v", "case_id", "seq", "at", "actor", "event", "payload",
"prev_hash"}``. Its canonical JSON (RFC 8785) is both what ``entry_hash`` hashes (SHA-256)
and what a signature signs (ECDSA P-256 over SHA-256), so ``openssl dgst -sha256 -verify``
checks a signature on the exported body bytes alone.

Acts of a person are signed one by one. Bulk entries (artifacts, errors) are covered by a
signed ``checkpoint`` that closes each written batch: because entries are chained, a signed
entry commits to every entry before it.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import CursorResult, Table, insert, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from custody.db.engine import wrap_db_errors
from custody.db.models import Case, LedgerEntry
from custody.errors import DatabaseError, SignatureError
from custody.record.canonical import canonical_json, sha256_hex
from custody.record.keys import Identity

FORMAT_VERSION = 1
GENESIS_HASH = "0" * 64

#: Events a person answers for: each is signed on its own.
SIGNED_EVENTS = frozenset(
    {
        "case_opened",
        "case_updated",
        "identity_added",
        "run_started",
        "run_finished",
        "checkpoint",
        "note",
        "decision",
        "transferred",
        "accessed",
        "exported",
        "sealed",
        "verified",
    }
)
#: Events that come by the thousand: covered by the next signed entry (a checkpoint).
BULK_EVENTS = frozenset({"artifact_collected", "collection_error"})
EVENTS = SIGNED_EVENTS | BULK_EVENTS

_LEDGER_TABLE = cast(Table, LedgerEntry.__table__)
# Field values that need no JSON escaping: ids, hex hashes, event names and our timestamps.
_ASCII_FIELD = re.compile(r"[A-Za-z0-9_.:-]*")
_TIME = re.compile(r"[0-9T:.Z-]*")

#: Checkpoint policy: at most this many entries, and this many seconds, between signatures.
CHECKPOINT_EVERY = 1000
CHECKPOINT_SECONDS = 1.0


def utc_now_text() -> str:
    """Now, as the ledger writes times: ISO 8601 UTC with microseconds and ``Z``."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(at: str) -> dt.datetime:
    return dt.datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Signature:
    """One signature on an entry: who (certificate fingerprint) and the DER bytes, base64."""

    by: str
    sig: str

    @property
    def der(self) -> bytes:
        return base64.b64decode(self.sig)


@dataclass(frozen=True)
class Entry:
    """One ledger entry as stored and exported."""

    case_id: str
    seq: int
    at: str
    actor: str
    event: str
    payload: Mapping[str, Any]
    prev_hash: str
    entry_hash: str
    signatures: tuple[Signature, ...] = ()

    def body(self) -> dict[str, Any]:
        return entry_body(
            self.case_id, self.seq, self.at, self.actor, self.event, self.payload, self.prev_hash
        )

    def signed_bytes(self) -> bytes:
        """The exact bytes that ``entry_hash`` hashes and each signature signs."""
        return canonical_json(self.body())

    def to_json(self) -> dict[str, Any]:
        """The entry as one line of ``ledger.jsonl``."""
        return {
            **self.body(),
            "entry_hash": self.entry_hash,
            "signatures": [{"by": s.by, "sig": s.sig} for s in self.signatures],
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Entry:
        """Parse one ``ledger.jsonl`` object; raises ``KeyError``/``TypeError`` when malformed."""
        return cls(
            case_id=str(obj["case_id"]),
            seq=int(obj["seq"]),
            at=str(obj["at"]),
            actor=str(obj["actor"]),
            event=str(obj["event"]),
            payload=dict(obj["payload"]),
            prev_hash=str(obj["prev_hash"]),
            entry_hash=str(obj["entry_hash"]),
            signatures=tuple(Signature(str(s["by"]), str(s["sig"])) for s in obj["signatures"]),
        )

    @classmethod
    def from_row(cls, row: LedgerEntry) -> Entry:
        sigs = json.loads(row.signatures) if row.signatures else []
        return cls(
            case_id=row.case_id,
            seq=row.seq,
            at=row.at,
            actor=row.actor,
            event=row.event,
            payload=json.loads(row.payload),
            prev_hash=row.prev_hash,
            entry_hash=row.entry_hash,
            signatures=tuple(Signature(s["by"], s["sig"]) for s in sigs),
        )


def entry_body(
    case_id: str,
    seq: int,
    at: str,
    actor: str,
    event: str,
    payload: Mapping[str, Any],
    prev_hash: str,
) -> dict[str, Any]:
    return {
        "v": FORMAT_VERSION,
        "case_id": case_id,
        "seq": seq,
        "at": at,
        "actor": actor,
        "event": event,
        "payload": payload,
        "prev_hash": prev_hash,
    }


RowBuilder = Callable[[int], Iterable[tuple[Any, dict[str, Any]]]]


@dataclass
class _Pending:
    event: str
    payload: Mapping[str, Any]
    at: str
    signers: tuple[Identity, ...]
    rows: RowBuilder | None


@dataclass
class LedgerWriter:
    """Appends entries for one case, in batches, each batch closed by a signed entry.

    ``append`` buffers; ``flush`` writes the batch in one transaction that first locks the
    case row, so the chain stays linear when several examiners append at once (team mode).
    Entries get their ``seq`` and hashes at flush time, on the head as it then is.
    ``rows`` lets a caller store index rows (artifacts, errors) in the same transaction,
    built once the entry's ``seq`` is known.
    """

    sessions: sessionmaker[Session]
    case_id: str
    identity: Identity
    #: Called before each batch is written: the run flushes its archive here, so the ledger
    #: never claims a member that is not yet on disk.
    before_write: Callable[[], None] | None = None
    _pending: list[_Pending] = field(default_factory=list)
    _bulk_since_signed: int = 0
    _last_signed_at: float = field(default_factory=time.monotonic)

    def append(
        self,
        event: str,
        payload: Mapping[str, Any],
        *,
        cosigners: Sequence[Identity] = (),
        rows: RowBuilder | None = None,
    ) -> Entry | None:
        """Queue an entry; a signed event also flushes, so a person's act is on disk at once.

        Returns the written entry for a signed event, ``None`` for a queued bulk entry.
        """
        if event not in EVENTS:
            raise ValueError(f"unknown ledger event {event!r}")
        signed = event in SIGNED_EVENTS
        signers = (self.identity, *cosigners) if signed else ()
        self._pending.append(_Pending(event, payload, utc_now_text(), signers, rows))
        if signed:
            return self.flush()[-1]
        else:
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
        if self.before_write is not None:
            self.before_write()
        batch, self._pending = self._pending, []
        engine = self.sessions.kw["bind"]
        try:
            with self.sessions.begin() as session:
                written = self._write(session, batch, reason)
        except SQLAlchemyError as exc:
            self._pending = batch + self._pending
            raise wrap_db_errors(exc, engine) from exc
        self._bulk_since_signed = 0
        self._last_signed_at = time.monotonic()
        return written

    def _write(self, session: Session, batch: list[_Pending], reason: str) -> list[Entry]:
        seq, prev = lock_head(session, self.case_id)
        actor = self.identity.fingerprint
        first_unsigned: int | None = None
        written: list[Entry] = []
        ledger_rows: list[dict[str, Any]] = []
        rows: list[tuple[Any, dict[str, Any]]] = []
        for item in batch:
            seq += 1
            entry, payload_json = _make_entry(
                self.case_id,
                seq,
                item.at,
                actor,
                item.event,
                item.payload,
                canonical_json(item.payload),
                prev,
                item.signers,
            )
            if item.signers:
                first_unsigned = None
            elif first_unsigned is None:
                first_unsigned = seq
            if item.rows is not None:
                rows.extend(item.rows(seq))
            written.append(entry)
            ledger_rows.append(_row(entry, payload_json))
            prev = entry.entry_hash
        if first_unsigned is not None:
            seq += 1
            payload = {
                "covers_from": first_unsigned,
                "covers_to": seq - 1,
                "head": prev,
                "reason": reason,
            }
            entry, payload_json = _make_entry(
                self.case_id,
                seq,
                utc_now_text(),
                actor,
                "checkpoint",
                payload,
                canonical_json(payload),
                prev,
                (self.identity,),
            )
            written.append(entry)
            ledger_rows.append(_row(entry, payload_json))
        # Core inserts (executemany), not ORM bulk inserts: a third of the cost per entry.
        session.execute(insert(_LEDGER_TABLE), ledger_rows)
        by_table: dict[Any, list[dict[str, Any]]] = {}
        for table, values in rows:
            by_table.setdefault(table, []).append(values)
        for table, values_list in by_table.items():
            session.execute(insert(cast(Table, table.__table__)), values_list)
        return written

    def checkpoint(self, reason: str) -> list[Entry]:
        """Flush now, closing the batch with a checkpoint labelled ``reason``."""
        return self.flush(reason)


def make_entry(
    case_id: str,
    seq: int,
    at: str,
    actor: str,
    event: str,
    payload: Mapping[str, Any],
    prev_hash: str,
    signers: Sequence[Identity] = (),
) -> Entry:
    """Build (hash and sign) one entry."""
    return _make_entry(
        case_id, seq, at, actor, event, payload, canonical_json(payload), prev_hash, signers
    )[0]


def _make_entry(
    case_id: str,
    seq: int,
    at: str,
    actor: str,
    event: str,
    payload: Mapping[str, Any],
    payload_json: bytes,
    prev_hash: str,
    signers: Sequence[Identity] = (),
) -> tuple[Entry, bytes]:
    """Build one entry around its payload's canonical JSON; return it with those bytes."""
    body = _body_bytes(case_id, seq, at, actor, event, payload_json, prev_hash)
    try:
        signatures = tuple(
            Signature(s.fingerprint, base64.b64encode(s.sign(body)).decode("ascii"))
            for s in signers
        )
    except ValueError as exc:
        raise SignatureError(f"signing ledger entry {seq} failed: {exc}") from exc
    entry = Entry(case_id, seq, at, actor, event, payload, prev_hash, sha256_hex(body), signatures)
    return entry, payload_json


def _body_bytes(
    case_id: str, seq: int, at: str, actor: str, event: str, payload_json: bytes, prev_hash: str
) -> bytes:
    """``canonical_json(entry_body(...))``, composed around the already canonical payload.

    The body's keys are fixed ASCII names, so RFC 8785 orders them as written here; each
    value is canonicalised on its own. Serialising the payload once saves half the cost of
    appending an entry. ``Entry.signed_bytes`` recomputes the body the plain way, and the
    verifier compares the two on every entry.
    """
    if not (
        _ASCII_FIELD.fullmatch(actor)
        and _TIME.fullmatch(at)
        and _ASCII_FIELD.fullmatch(case_id)
        and _ASCII_FIELD.fullmatch(event)
        and _ASCII_FIELD.fullmatch(prev_hash)
    ):
        # Anything unusual takes the general path; the fast one is for our own formats.
        body = entry_body(case_id, seq, at, actor, event, {}, prev_hash)
        return canonical_json({**body, "payload": json.loads(payload_json)})
    return b"".join(
        (
            b'{"actor":"',
            actor.encode(),
            b'","at":"',
            at.encode(),
            b'","case_id":"',
            case_id.encode(),
            b'","event":"',
            event.encode(),
            b'","payload":',
            payload_json,
            b',"prev_hash":"',
            prev_hash.encode(),
            b'","seq":',
            b"%d" % seq,
            b',"v":',
            b"%d" % FORMAT_VERSION,
            b"}",
        )
    )


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


def read_entries(sessions: sessionmaker[Session], case_id: str) -> Iterator[Entry]:
    """Every entry of a case, in ``seq`` order, as stored (even if tampered with)."""
    t = LedgerEntry.__table__.c
    query = (
        select(
            t.case_id,
            t.seq,
            t.at,
            t.actor,
            t.event,
            t.payload,
            t.prev_hash,
            t.entry_hash,
            t.signatures,
        )
        .where(t.case_id == case_id)
        .order_by(t.seq, t.id)
        .execution_options(yield_per=5000)
    )
    loads = json.loads
    with sessions() as session:
        for row in session.execute(query):
            sigs = loads(row[8]) if row[8] else ()
            yield Entry(
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                loads(row[5]),
                row[6],
                row[7],
                tuple(Signature(s["by"], s["sig"]) for s in sigs),
            )


def drop_guards_for_tests(session: Session) -> None:
    """What an attacker with database access does first. Used by tamper tests only."""
    session.execute(text("DROP TRIGGER IF EXISTS ledger_entries_no_update"))
    session.execute(text("DROP TRIGGER IF EXISTS ledger_entries_no_delete"))
