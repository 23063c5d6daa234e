"""Read-only queries for browsing a case: artifact and error listings, ledger rows, previews.

Listings are split in two steps so that a view can stay smooth at 100,000 rows: ``*_keys``
returns the ordered, filtered keys (one small SQL query, ``ORDER BY`` in the database) and
``*_rows`` fetches the columns of one window of keys. Artifacts have positive keys (their id),
collection errors negative keys (minus their id), so one listing holds both.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, literal, null, or_, select, union_all
from sqlalchemy import case as sql_case
from sqlalchemy.exc import SQLAlchemyError

from app.cases import CaseHandle
from app.journal import record_access
from custody.db.engine import wrap_db_errors
from custody.db.ledger import head
from custody.db.models import Artifact, CollectionError, Examiner, LedgerEntry, Run
from custody.errors import CaseError
from custody.record.events import BULK_EVENTS, SIGNED_EVENTS
from custody.record.keys import Identity

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
    """The union of artifacts and errors as one selectable, filtered."""
    runs = select(Run.id).where(Run.case_id == case.case_id)
    if flt.run_id:
        runs = runs.where(Run.id == flt.run_id)
    a_status = sql_case(
        (Artifact.changed_while_read.is_(True), "changed while read"), else_="collected"
    )
    arts = select(
        Artifact.id.label("key"),
        func.coalesce(Artifact.source_path, Artifact.member_name).label("name"),
        Artifact.collector.label("collector"),
        Artifact.kind.label("kind"),
        Artifact.size.label("size"),
        Artifact.sha256.label("sha256"),
        Artifact.collected_at.label("at"),
        a_status.label("status"),
        Artifact.ledger_seq.label("ledger_seq"),
    ).where(Artifact.run_id.in_(runs))
    errs = select(
        (-CollectionError.id).label("key"),
        func.coalesce(CollectionError.path, "").label("name"),
        CollectionError.collector.label("collector"),
        CollectionError.kind.label("kind"),
        null().label("size"),
        literal("").label("sha256"),
        CollectionError.at.label("at"),
        CollectionError.reason.label("status"),
        CollectionError.ledger_seq.label("ledger_seq"),
    ).where(CollectionError.run_id.in_(runs))
    if flt.collector:
        arts = arts.where(Artifact.collector == flt.collector)
        errs = errs.where(CollectionError.collector == flt.collector)
    if flt.errors_only:
        arts = arts.where(Artifact.changed_while_read.is_(True))
    if flt.seqs is not None:
        arts = arts.where(Artifact.ledger_seq.in_(sorted(flt.seqs)))
        errs = errs.where(CollectionError.ledger_seq.in_([]))
    if flt.text:
        like = f"%{_escape_like(flt.text)}%"
        arts = arts.where(
            or_(
                Artifact.source_path.ilike(like, escape="\\"),
                Artifact.member_name.ilike(like, escape="\\"),
                Artifact.sha256.ilike(like, escape="\\"),
            )
        )
        errs = errs.where(
            or_(
                CollectionError.path.ilike(like, escape="\\"),
                CollectionError.reason.ilike(like, escape="\\"),
            )
        )
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


def artifact_rows(case: CaseHandle, keys: Sequence[int]) -> dict[int, ArtifactRow]:
    """The rows for ``keys`` (one window of a listing), by key."""
    arts = [k for k in keys if k > 0]
    errs = [-k for k in keys if k < 0]
    out: dict[int, ArtifactRow] = {}
    try:
        with case.sessions() as s:
            if arts:
                for a in s.execute(
                    select(
                        Artifact.id,
                        Artifact.source_path,
                        Artifact.member_name,
                        Artifact.collector,
                        Artifact.kind,
                        Artifact.size,
                        Artifact.sha256,
                        Artifact.collected_at,
                        Artifact.changed_while_read,
                        Artifact.ledger_seq,
                    ).where(Artifact.id.in_(arts))
                ):
                    out[a.id] = ArtifactRow(
                        a.id,
                        a.source_path or a.member_name,
                        a.collector,
                        a.kind,
                        a.size,
                        a.sha256,
                        _iso(a.collected_at),
                        "changed while read" if a.changed_while_read else "collected",
                        a.ledger_seq,
                    )
            if errs:
                for e in s.execute(select(CollectionError).where(CollectionError.id.in_(errs))):
                    err = e[0]
                    out[-err.id] = ArtifactRow(
                        -err.id,
                        err.path or "",
                        err.collector,
                        err.kind,
                        None,
                        "",
                        _iso(err.at),
                        err.reason,
                        err.ledger_seq,
                    )
    except SQLAlchemyError as exc:
        raise _wrap(case, exc) from exc
    return out


def collectors_used(case: CaseHandle) -> list[str]:
    """Names of the collectors that produced an artifact or an error in this case."""
    runs = select(Run.id).where(Run.case_id == case.case_id)
    q = union_all(
        select(Artifact.collector.label("c")).where(Artifact.run_id.in_(runs)).distinct(),
        select(CollectionError.collector.label("c"))
        .where(CollectionError.run_id.in_(runs))
        .distinct(),
    ).subquery()
    with case.sessions() as s:
        return sorted(set(s.scalars(select(q.c.c))))


def artifact_details(case: CaseHandle, key: int) -> dict[str, Any]:
    """Every recorded field of an artifact (``key > 0``) or collection error (``key < 0``)."""
    with case.sessions() as s:
        if key < 0:
            err = s.get(CollectionError, -key)
            if err is None:
                raise CaseError(f"collection error {-key} is not in this case")
            return {
                "type": "error",
                "collector": err.collector,
                "kind": err.kind,
                "path": err.path,
                "reason": err.reason,
                "at": _iso(err.at),
                "run_id": err.run_id,
                "ledger_seq": err.ledger_seq,
            }
        art = s.get(Artifact, key)
        if art is None:
            raise CaseError(f"artifact {key} is not in this case")
        run = s.get(Run, art.run_id)
        signed = s.execute(
            select(LedgerEntry.seq, LedgerEntry.at, LedgerEntry.event)
            .where(
                LedgerEntry.case_id == case.case_id,
                LedgerEntry.seq >= art.ledger_seq,
                LedgerEntry.event.in_(SIGNED_EVENTS),
            )
            .order_by(LedgerEntry.seq)
            .limit(1)
        ).first()
    return {
        "type": "artifact",
        "id": art.id,
        "collector": art.collector,
        "kind": art.kind,
        "member": art.member_name,
        "source_path": art.source_path,
        "size": art.size,
        "sha256": art.sha256,
        "sha1": art.sha1,
        "md5": art.md5,
        "mode": f"{art.mode:o}" if art.mode is not None else None,
        "uid": art.uid,
        "gid": art.gid,
        "mtime": file_time(art.mtime),
        "atime": file_time(art.atime),
        "ctime": file_time(art.ctime),
        "birthtime": file_time(art.birthtime),
        "symlink_target": art.symlink_target,
        "changed_while_read": art.changed_while_read,
        "collected_at": _iso(art.collected_at),
        "run_id": art.run_id,
        "archive": f"evidence/{run.archive_name}" if run else None,
        "host": run.hostname if run else None,
        "data_offset": art.data_offset,
        "ledger_seq": art.ledger_seq,
        "signed_by_seq": signed.seq if signed else None,
        "signed_by_event": signed.event if signed else None,
        "signed_at": signed.at if signed else None,
    }


#: The purpose of the ``accessed`` entry recorded when the desktop app shows evidence contents.
VIEW_PURPOSE = "viewed the contents in the desktop app (text and hex preview)"


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


def _artifact_location(case: CaseHandle, key: int) -> Any:
    """The artifact's member name, data offset, size and run archive name."""
    with case.sessions() as s:
        row = s.execute(
            select(Artifact.member_name, Artifact.data_offset, Artifact.size, Run.archive_name)
            .join(Run, Run.id == Artifact.run_id)
            .where(Artifact.id == key, Run.case_id == case.case_id)
        ).first()
    if row is None:
        raise CaseError(f"artifact {key} is not in this case")
    return row


def _read_at(case: CaseHandle, where: Any, limit: int = PREVIEW_LIMIT) -> bytes:
    path = case.evidence_dir / where.archive_name
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise CaseError(f"cannot read the evidence archive {path}: {exc.strerror}") from exc
    try:
        return os.pread(fd, min(where.size, limit), where.data_offset)
    finally:
        os.close(fd)


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
    """Certificate fingerprint -> examiner name."""
    with case.sessions() as s:
        return dict(
            s.execute(
                select(Examiner.fingerprint, Examiner.name).where(Examiner.case_id == case.case_id)
            ).all()
        )


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
    seqs = list(seqs)
    if not seqs:
        return {}
    with case.sessions() as s:
        rows = s.scalars(
            select(LedgerEntry).where(
                and_(LedgerEntry.case_id == case.case_id, LedgerEntry.seq.in_(seqs))
            )
        ).all()
    out: dict[int, LedgerRow] = {}
    for r in rows:
        payload = json.loads(r.payload)
        sigs = json.loads(r.signatures) if r.signatures else []
        out[r.seq] = LedgerRow(
            r.seq,
            r.at,
            r.event,
            names.get(r.actor, r.actor[:12]),
            describe_entry(r.event, payload, names),
            len(sigs),
            r.entry_hash,
        )
    return out


def describe_entry(event: str, p: dict[str, Any], names: dict[str, str] | None = None) -> str:
    """A one-line summary of a ledger entry's payload, for people."""
    names = names or {}
    if event in ("note", "decision"):
        kind = str(p.get("kind", event)).replace("_", " ")
        text = f"{kind}: {p.get('text', '')}"
        return f"{text} (reason: {p['reason']})" if p.get("reason") else text
    if event == "artifact_collected":
        return f"{p.get('collector')}: {p.get('path') or p.get('member')} ({p.get('size')} bytes)"
    if event == "collection_error":
        return f"{p.get('collector')} {p.get('kind')}: {p.get('path') or ''} {p.get('reason')}"
    if event == "run_started":
        return f"run {str(p.get('run_id'))[:8]} on {p.get('host')}, profile {p.get('profile')}"
    if event == "run_finished":
        return (
            f"run {str(p.get('run_id'))[:8]} {p.get('status')}: {p.get('artifacts')} artifacts, "
            f"{p.get('errors', 0)} errors"
        )
    if event == "checkpoint":
        return f"checkpoint ({p.get('reason', '')}) covering {p.get('count', '')} entries".replace(
            "covering  entries", ""
        ).strip()
    if event == "case_opened":
        return f"case opened: {p.get('case', {}).get('title', '')}"
    if event == "identity_added":
        return f"examiner {p.get('name')} ({p.get('role', 'examiner')})"
    if event == "transferred":
        return (
            f"{p.get('from_name')} → {p.get('to_name')} at {p.get('location')}: {p.get('reason')}"
        )
    if event == "verified":
        return f"verification {p.get('result')}: {p.get('findings')} findings"
    if event == "exported":
        return f"exported {p.get('bundle') or p.get('path') or ''}".strip()
    if event == "accessed":
        members = p.get("artifacts") or []
        if not members:
            what = "the whole case"
        elif len(members) == 1:
            what = str(members[0]).rstrip("/").rsplit("/", 1)[-1]
        else:
            what = f"{len(members)} artifacts"
        return f"accessed {what}: {p.get('purpose', '')}"
    if event == "sealed":
        return f"sealed after entry {p.get('ledger_entries')}: {p.get('reason', '')}"
    keys = ", ".join(f"{k}={v}" for k, v in list(p.items())[:3])
    return keys


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
            describe_entry(r.event, json.loads(r.payload), names),
        )
        for r in rows
    ]


def artifact_seqs(case: CaseHandle, run_id: str) -> list[int]:
    """The ledger entry numbers of every artifact of one run."""
    with case.sessions() as s:
        return list(
            s.scalars(
                select(Artifact.ledger_seq)
                .where(Artifact.run_id == run_id)
                .order_by(Artifact.ledger_seq)
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


def file_time(ns_text: str | None) -> str | None:
    """A recorded file time (decimal seconds, nanoseconds kept) as UTC text for people."""
    if not ns_text:
        return None
    whole, _, frac = ns_text.partition(".")
    try:
        t = dt.datetime.fromtimestamp(int(whole), dt.UTC)
    except (ValueError, OverflowError, OSError):
        return ns_text
    return f"{t:%Y-%m-%d %H:%M:%S}.{(frac or '0').ljust(9, '0')[:9]} UTC"


def _iso(t: Any) -> str:
    if t is None:
        return ""
    return str(t.strftime("%Y-%m-%d %H:%M:%S"))
