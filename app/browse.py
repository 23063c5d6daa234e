"""Read-only queries for browsing a case: artifact and error listings, ledger rows, previews.

Listings are split in two steps so that a view can stay smooth at 100,000 rows: ``*_keys``
returns the ordered, filtered keys (one small SQL query over the index tables, ``ORDER BY``
in the database) and ``*_rows`` fetches the rows of one window of keys. Every value a row or
a detail shows comes from the ledger: the window's entries are read by ``seq`` and parsed,
so an edited index can change an order or a filter, never a value shown. Artifacts have
positive keys (their ledger ``seq``), collection errors negative keys (minus their ``seq``),
so one listing holds both.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import func, literal, null, or_, select, union_all
from sqlalchemy.exc import SQLAlchemyError

from app.cases import CaseHandle
from app.journal import record_access
from app.times import file_time_shown, shown
from custody.db.engine import wrap_db_errors
from custody.db.ledger import head, read_entries
from custody.db.models import Artifact, CollectionError, LedgerEntry
from custody.errors import CaseError, MalformedEvent
from custody.record.describe import describe, describe_unreadable
from custody.record.entry import Entry
from custody.record.events import (
    BULK_EVENTS,
    SIGNED_EVENTS,
    ArtifactCollected,
    CollectionProblem,
    Event,
    parse,
    parse_payload,
)
from custody.record.keys import Identity
from custody.store.storage import archive_name

PREVIEW_LIMIT = 64 * 1024

#: Columns of an artifact listing: (key, title). ``sort`` names one of these keys.
ARTIFACT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "Name"),
    ("collector", "Collector"),
    ("kind", "Kind"),
    ("size", "Size"),
    ("sha256", "SHA-256"),
    ("at", "Collected (UTC)"),
    ("status", "Status"),
)


@dataclass(frozen=True)
class ArtifactFilter:
    """What an artifact listing shows: one collector or all, a text, only problems."""

    collector: str | None = None
    text: str = ""
    errors_only: bool = False
    run_id: str | None = None
    seqs: frozenset[int] | None = None  # only the artifacts recorded in these ledger entries


@dataclass(frozen=True)
class ArtifactRow:
    """One row of an artifact listing (an artifact, or a collection error when ``key < 0``)."""

    key: int
    name: str
    collector: str
    kind: str
    size: int | None
    sha256: str
    at: str
    status: str
    ledger_seq: int

    @property
    def is_error(self) -> bool:
        return self.key < 0


def _wrap(case: CaseHandle, exc: SQLAlchemyError) -> Exception:
    return wrap_db_errors(exc, case.sessions.kw["bind"])


def _listing(case: CaseHandle, flt: ArtifactFilter) -> Any:
    """The union of the index's artifacts and errors as one selectable, filtered."""
    a, e = Artifact, CollectionError
    a_status = sql_case((a.changed.is_not(None), "changed while read"), else_="collected")
    arts = select(
        a.seq.label("key"),
        func.coalesce(a.source_path, a.member_name).label("name"),
        a.collector.label("collector"),
        a.kind.label("kind"),
        a.size.label("size"),
        a.sha256.label("sha256"),
        a.collected_at.label("at"),
        a_status.label("status"),
        a.seq.label("ledger_seq"),
    ).where(a.case_id == case.case_id)
    errs = select(
        (-e.seq).label("key"),
        func.coalesce(e.path, "").label("name"),
        e.collector.label("collector"),
        e.kind.label("kind"),
        null().label("size"),
        literal("").label("sha256"),
        e.at.label("at"),
        e.reason.label("status"),
        e.seq.label("ledger_seq"),
    ).where(e.case_id == case.case_id)
    if flt.run_id:
        arts = arts.where(a.run_id == flt.run_id)
        errs = errs.where(e.run_id == flt.run_id)
    if flt.collector:
        arts = arts.where(a.collector == flt.collector)
        errs = errs.where(e.collector == flt.collector)
    if flt.errors_only:
        arts = arts.where(a.changed.is_not(None))
    if flt.seqs is not None:
        arts = arts.where(a.seq.in_(sorted(flt.seqs)))
        errs = errs.where(e.seq.in_([]))
    if flt.text:
        like = f"%{_escape_like(flt.text)}%"
        arts = arts.where(
            or_(
                a.source_path.ilike(like, escape="\\"),
                a.member_name.ilike(like, escape="\\"),
                a.sha256.ilike(like, escape="\\"),
            )
        )
        errs = errs.where(or_(e.path.ilike(like, escape="\\"), e.reason.ilike(like, escape="\\")))
    return union_all(arts, errs).subquery("listing")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def artifact_keys(
    case: CaseHandle, flt: ArtifactFilter, *, sort: str = "at", descending: bool = False
) -> list[int]:
    """Keys of the listing in display order (sorted and filtered by the database)."""
    if sort not in dict(ARTIFACT_COLUMNS):
        raise CaseError(f"cannot sort artifacts by {sort!r}")
    lst = _listing(case, flt)
    col = lst.c[sort]
    order = [col.desc() if descending else col.asc(), lst.c.key.desc() if descending else lst.c.key]
    try:
        with case.sessions() as s:
            return list(s.scalars(select(lst.c.key).order_by(*order)))
    except SQLAlchemyError as exc:
        raise _wrap(case, exc) from exc


def _events(case: CaseHandle, seqs: Iterable[int]) -> dict[int, tuple[Entry, Event | None]]:
    """The ledger entries ``seqs`` with their typed events (None when unreadable), by seq."""
    wanted = sorted(set(seqs))
    if not wanted:
        return {}
    out: dict[int, tuple[Entry, Event | None]] = {}
    try:
        for entry in read_entries(case.sessions, case.case_id, seqs=wanted):
            try:
                out[entry.seq] = (entry, parse(entry))
            except MalformedEvent:
                out[entry.seq] = (entry, None)
    except SQLAlchemyError as exc:
        raise _wrap(case, exc) from exc
    return out


def _not_in_ledger(key: int) -> ArtifactRow:
    """What a row shows when the index names an entry the ledger does not hold as such."""
    return ArtifactRow(
        key, "(not in the ledger)", "", "", None, "", "", "not in the ledger", abs(key)
    )


def artifact_rows(case: CaseHandle, keys: Sequence[int]) -> dict[int, ArtifactRow]:
    """The rows for ``keys`` (one window of a listing), by key, read from the ledger."""
    found = _events(case, (abs(k) for k in keys))
    out: dict[int, ArtifactRow] = {}
    for key in keys:
        entry, ev = found.get(abs(key), (None, None))
        if entry is not None and key > 0 and isinstance(ev, ArtifactCollected):
            out[key] = ArtifactRow(
                key,
                ev.shown_name,
                ev.collector,
                ev.kind,
                ev.member.size,
                ev.digests.sha256,
                shown(entry.at),
                "changed while read" if ev.changed else "collected",
                entry.seq,
            )
        elif entry is not None and key < 0 and isinstance(ev, CollectionProblem):
            out[key] = ArtifactRow(
                key,
                ev.path or "",
                ev.collector,
                ev.kind,
                None,
                "",
                shown(entry.at),
                ev.reason,
                entry.seq,
            )
        else:
            out[key] = _not_in_ledger(key)
    return out


def collectors_used(case: CaseHandle) -> list[str]:
    """Names of the collectors that produced an artifact or an error in this case."""
    return sorted({c for run in case.state().runs.values() for c in run.collectors})


def _recorded(case: CaseHandle, key: int) -> tuple[Entry, Event]:
    """The ledger entry of listing key ``key``, if it records that kind of thing."""
    entry, ev = _events(case, [abs(key)]).get(abs(key), (None, None))
    kind = CollectionProblem if key < 0 else ArtifactCollected
    if entry is None or not isinstance(ev, kind):
        what = "collection error" if key < 0 else "artifact"
        raise CaseError(f"{what} {abs(key)} is not in this case's ledger")
    return entry, ev


def artifact_details(case: CaseHandle, key: int) -> dict[str, Any]:
    """Every recorded field of an artifact (``key > 0``) or collection error (``key < 0``),
    from its ledger entry (and its run's entries)."""
    entry, ev = _recorded(case, key)
    if isinstance(ev, CollectionProblem):
        return {
            "type": "error",
            "collector": ev.collector,
            "kind": ev.kind,
            "path": ev.path,
            "reason": ev.reason,
            "at": shown(entry.at),
            "run_id": ev.run_id,
            "ledger_seq": entry.seq,
        }
    assert isinstance(ev, ArtifactCollected)
    run = case.state().runs.get(ev.run_id)
    m, d, src = ev.member, ev.digests, ev.source
    mode = src.mode if src else m.mode
    try:
        with case.sessions() as s:
            signed = s.execute(
                select(LedgerEntry.seq, LedgerEntry.at, LedgerEntry.event)
                .where(
                    LedgerEntry.case_id == case.case_id,
                    LedgerEntry.seq >= entry.seq,
                    LedgerEntry.event.in_(SIGNED_EVENTS),
                )
                .order_by(LedgerEntry.seq)
                .limit(1)
            ).first()
    except SQLAlchemyError as exc:
        raise _wrap(case, exc) from exc
    return {
        "type": "artifact",
        "id": entry.seq,
        "collector": ev.collector,
        "kind": ev.kind,
        "member": m.name,
        "source_path": src.path if src else None,
        "size": m.size,
        "sha256": d.sha256,
        "sha1": d.sha1,
        "md5": d.md5,
        "mode": f"{mode:o}" if mode is not None else None,
        "uid": src.uid if src else m.uid,
        "gid": src.gid if src else m.gid,
        "mtime": file_time_shown(src.mtime if src else m.mtime),
        "atime": file_time_shown(src.atime) if src else None,
        "ctime": file_time_shown(src.ctime) if src else None,
        "birthtime": file_time_shown(src.birthtime) if src else None,
        "symlink_target": src.symlink_target if src else None,
        "changed_while_read": bool(ev.changed),
        "collected_at": shown(entry.at),
        "run_id": ev.run_id,
        "archive": run.archive if run else None,
        "host": run.started.event.host if run else None,
        "data_offset": m.data_offset,
        "ledger_seq": entry.seq,
        "signed_by_seq": signed.seq if signed else None,
        "signed_by_event": signed.event if signed else None,
        "signed_at": signed.at if signed else None,
    }


#: The purpose of the ``accessed`` entry recorded when the desktop app shows evidence contents.
VIEW_PURPOSE = "viewed the contents in the desktop app (text and hex preview)"


@dataclass(frozen=True)
class _Location:
    member_name: str
    data_offset: int
    size: int
    archive_name: str


def view_artifact_bytes(case: CaseHandle, identity: Identity, key: int) -> bytes:
    """An artifact's first bytes for an examiner to look at, the access recorded first.

    The signed ``accessed`` entry naming the member is written before any byte is read, so
    the contents are never shown unrecorded.
    """
    where = _artifact_location(case, key)
    record_access(case, identity, purpose=VIEW_PURPOSE, artifacts=[where.member_name])
    return _read_at(case, where)


def read_artifact_bytes(case: CaseHandle, key: int, limit: int = PREVIEW_LIMIT) -> bytes:
    """The first ``limit`` bytes of an artifact, read from its run archive at ``data_offset``."""
    return _read_at(case, _artifact_location(case, key), limit)


def _artifact_location(case: CaseHandle, key: int) -> _Location:
    """Where the ledger says the artifact lies: member name, data offset, size, archive."""
    if key <= 0:
        raise CaseError(f"entry {abs(key)} records no artifact")
    _entry, ev = _recorded(case, key)
    assert isinstance(ev, ArtifactCollected)
    run = case.state().runs.get(ev.run_id)
    if run is None:
        raise CaseError(
            f"artifact {key} belongs to run {ev.run_id}, which the ledger never started"
        )
    m = ev.member
    # Only the archive's name: a ledger cannot point the preview outside evidence/.
    name = archive_name(run.archive)
    if name is None:
        raise CaseError(f"run {run.run_id} names no archive of this case: {run.archive!r}")
    return _Location(m.name, m.data_offset, m.size, name)


def _read_at(case: CaseHandle, where: _Location, limit: int = PREVIEW_LIMIT) -> bytes:
    evidence = case.evidence
    try:
        with evidence.open(where.archive_name) as f:
            f.seek(where.data_offset)
            return f.read(min(where.size, limit))
    except (OSError, ValueError) as exc:
        raise CaseError(
            f"cannot read the evidence archive {where.archive_name} in {evidence.location}: "
            f"{getattr(exc, 'strerror', None) or exc}"
        ) from exc


# --------------------------------------------------------------------------- ledger


@dataclass(frozen=True)
class LedgerRow:
    """One ledger entry as a table shows it."""

    seq: int
    at: str
    event: str
    actor: str
    summary: str
    signatures: int
    entry_hash: str


def examiner_names(case: CaseHandle) -> dict[str, str]:
    """Certificate fingerprint -> examiner name, as the ledger introduced them."""
    return {fp: x.name for fp, x in case.state().examiners.items()}


def ledger_keys(
    case: CaseHandle, *, include_bulk: bool = False, descending: bool = False
) -> list[int]:
    """Sequence numbers of the ledger entries to show, in order."""
    q = select(LedgerEntry.seq).where(LedgerEntry.case_id == case.case_id)
    if not include_bulk:
        q = q.where(LedgerEntry.event.not_in(BULK_EVENTS))
    q = q.order_by(LedgerEntry.seq.desc() if descending else LedgerEntry.seq)
    with case.sessions() as s:
        return list(s.scalars(q))


def ledger_rows(
    case: CaseHandle, seqs: Iterable[int], names: dict[str, str] | None = None
) -> dict[int, LedgerRow]:
    """The rows of the ledger entries ``seqs``, by seq."""
    names = names if names is not None else examiner_names(case)
    seqs = sorted(set(seqs))
    if not seqs:
        return {}
    return {
        e.seq: ledger_row(e, names) for e in read_entries(case.sessions, case.case_id, seqs=seqs)
    }


def ledger_row(e: Entry, names: Mapping[str, str]) -> LedgerRow:
    """One ledger entry as a table shows it (``names``: fingerprint -> examiner name)."""
    return LedgerRow(
        e.seq,
        e.at,
        e.event,
        names.get(e.actor, e.actor[:12]),
        describe_entry(e.event, e.payload, names),
        len(e.signatures),
        e.entry_hash,
    )


def describe_entry(
    event: str, payload: Mapping[str, Any], names: Mapping[str, str] | None = None
) -> str:
    """A one-line summary of a ledger entry, for people, from its typed event."""
    try:
        ev = parse_payload(event, payload)
    except MalformedEvent as exc:
        return describe_unreadable(event, str(exc))
    return describe(ev, names)


@dataclass(frozen=True)
class TimelinePoint:
    seq: int
    at: str
    event: str
    actor: str
    summary: str


def ledger_timeline(case: CaseHandle) -> list[TimelinePoint]:
    """The entries a timeline shows: every act of a person (no per-artifact entries)."""
    names = examiner_names(case)
    with case.sessions() as s:
        rows = s.execute(
            select(
                LedgerEntry.seq,
                LedgerEntry.at,
                LedgerEntry.event,
                LedgerEntry.actor,
                LedgerEntry.payload,
            )
            .where(LedgerEntry.case_id == case.case_id, LedgerEntry.event.not_in(BULK_EVENTS))
            .order_by(LedgerEntry.seq)
        ).all()
    return [
        TimelinePoint(
            r.seq,
            r.at,
            r.event,
            names.get(r.actor, r.actor[:12]),
            describe_entry(r.event, _object(r.payload), names),
        )
        for r in rows
    ]


def _object(text: str | None) -> dict[str, Any]:
    """A stored payload as an object; empty when it is not one any more (a damaged row)."""
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def artifact_seqs(case: CaseHandle, run_id: str) -> list[int]:
    """The ledger entry numbers of every artifact of one run (as the index lists them)."""
    with case.sessions() as s:
        return list(
            s.scalars(
                select(Artifact.seq)
                .where(Artifact.case_id == case.case_id, Artifact.run_id == run_id)
                .order_by(Artifact.seq)
            )
        )


def ledger_head(case: CaseHandle) -> tuple[int, str]:
    """(seq, entry_hash) of the newest entry; (0, "") for an empty ledger."""
    seq, entry_hash = head(case.sessions, case.case_id)
    return (seq, entry_hash) if seq else (0, "")


# --------------------------------------------------------------------------- output location


def glob_root(pattern: str) -> Path:
    """The longest literal directory prefix of a path pattern (where a walk would start)."""
    parts = Path(pattern).expanduser().absolute().parts
    literal: list[str] = []
    for part in parts:
        if any(c in part for c in "*?["):
            break
        literal.append(part)
    return Path(*literal) if literal else Path(os.sep)


def same_filesystem(output: Path, patterns: Iterable[str]) -> list[str]:
    """The patterns whose source lies on the same file system as ``output`` (``st_dev``).

    Writing evidence to the file system it is taken from overwrites free space that may hold
    deleted evidence; the collection screen warns about it.
    """
    probe = output
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        out_dev = probe.stat().st_dev
    except OSError:
        return []
    same: list[str] = []
    for pattern in patterns:
        root = glob_root(pattern)
        while not root.exists() and root != root.parent:
            root = root.parent
        try:
            if root.stat().st_dev == out_dev:
                same.append(pattern)
        except OSError:
            continue
    return same
