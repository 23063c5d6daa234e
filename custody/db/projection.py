"""The index tables as a projection of the ledger: one function says what each event writes.

The ledger writer calls :func:`project` in the transaction that stores the entries, so the
index never runs ahead of or behind the record. Every value written here is taken from the
entry and its typed event, nothing else, so the verifier can recompute each row and compare.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from custody.db.models import Artifact, Case, CollectionError, Examiner, Run
from custody.record.entry import Entry
from custody.record.events import (
    CASE_FIELDS,
    ArtifactCollected,
    CaseOpened,
    CaseUpdated,
    CollectionProblem,
    Event,
    IdentityAdded,
    RunFinished,
    RunStarted,
)
from custody.record.names import from_text
from custody.record.times import parse_utc

_ARTIFACTS = cast(Table, Artifact.__table__)
_ERRORS = cast(Table, CollectionError.__table__)


def artifact_row(entry: Entry, a: ArtifactCollected) -> dict[str, Any]:
    """The ``artifacts`` row of one artifact entry."""
    src = a.source
    return {
        "run_id": a.run_id,
        "ledger_seq": entry.seq,
        "collector": a.collector,
        "kind": a.kind,
        "member_name": a.member.name,
        "header_offset": a.member.header_offset,
        "data_offset": a.member.data_offset,
        "size": a.member.size,
        "sha256": a.digests.sha256,
        "sha1": a.digests.sha1,
        "md5": a.digests.md5,
        "source_path": src.path if src else None,
        "source_path_bytes": os.fsencode(from_text(src.path, src.path_b64)) if src else None,
        "mode": src.mode if src else None,
        "uid": src.uid if src else None,
        "gid": src.gid if src else None,
        "mtime": src.mtime if src else None,
        "atime": src.atime if src else None,
        "ctime": src.ctime if src else None,
        "birthtime": src.birthtime if src else None,
        "symlink_target": src.symlink_target if src else None,
        "changed_while_read": bool(a.changed),
        "collected_at": parse_utc(entry.at),
    }


def error_row(entry: Entry, p: CollectionProblem) -> dict[str, Any]:
    """The ``collection_errors`` row of one collection problem entry."""
    return {
        "run_id": p.run_id,
        "ledger_seq": entry.seq,
        "collector": p.collector,
        "kind": p.kind,
        "path": p.path,
        "reason": p.reason,
        "at": parse_utc(entry.at),
    }


def project(session: Session, written: Sequence[tuple[Entry, Event]]) -> None:
    """Write the index rows implied by ``written`` (entries just appended, in order)."""
    artifacts: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for entry, event in written:
        if isinstance(event, ArtifactCollected):
            artifacts.append(artifact_row(entry, event))
        elif isinstance(event, CollectionProblem):
            errors.append(error_row(entry, event))
        elif not event.SIGNED:
            continue
        else:
            _flush(session, artifacts, errors)
            _signed(session, entry, event)
    _flush(session, artifacts, errors)


def _flush(session: Session, artifacts: list[dict[str, Any]], errors: list[dict[str, Any]]) -> None:
    if artifacts:
        session.execute(insert(_ARTIFACTS), artifacts)
        artifacts.clear()
    if errors:
        session.execute(insert(_ERRORS), errors)
        errors.clear()


def _signed(session: Session, entry: Entry, event: Event) -> None:
    if isinstance(event, CaseOpened):
        values = {k: getattr(event.fields, k) for k in CASE_FIELDS}
        values["created_at"] = parse_utc(event.created_at)
        session.execute(update(Case).where(Case.id == entry.case_id).values(**values))
    elif isinstance(event, CaseUpdated):
        changes = {k: v for k, v in event.changes.items() if k in CASE_FIELDS}
        if changes.get("title") is None:
            changes.pop("title", None)
        if changes:
            session.execute(update(Case).where(Case.id == entry.case_id).values(**changes))
    elif isinstance(event, IdentityAdded):
        exists = session.execute(
            select(Examiner.fingerprint).where(Examiner.fingerprint == event.fingerprint)
        ).first()
        if exists is None:
            session.add(
                Examiner(
                    fingerprint=event.fingerprint,
                    case_id=entry.case_id,
                    name=event.name,
                    organisation=event.organisation,
                    email=event.email,
                    certificate_pem=event.certificate_pem,
                    added_at=parse_utc(entry.at),
                )
            )
            session.flush()
    elif isinstance(event, RunStarted):
        session.add(
            Run(
                id=event.run_id,
                case_id=entry.case_id,
                profile=event.profile,
                status="running",
                started_at=parse_utc(entry.at),
                examiner=event.examiner or entry.actor,
                hostname=event.host,
                command_line=" ".join(event.command_line),
                tool_version=event.tool_version or "",
                tool_sha256=event.tool_sha256 or "",
                archive_name=PurePosixPath(event.archive).name,
                pid=event.pid,
            )
        )
        session.flush()
    elif isinstance(event, RunFinished):
        session.execute(
            update(Run)
            .where(Run.id == event.run_id)
            .values(
                status=event.status,
                finished_at=parse_utc(entry.at),
                archive_size=event.archive_size,
                archive_sha256=event.archive_sha256,
                artifact_count=event.artifacts,
                error_count=event.errors or 0,
                skipped_count=event.skipped or 0,
                bytes_collected=event.bytes or 0,
            )
        )


def rows_for(entries: Iterable[tuple[Entry, Event]]) -> Iterable[tuple[str, dict[str, Any]]]:
    """(table name, row) of every bulk index row the entries imply, in ledger order."""
    for entry, event in entries:
        if isinstance(event, ArtifactCollected):
            yield "artifacts", artifact_row(entry, event)
        elif isinstance(event, CollectionProblem):
            yield "collection_errors", error_row(entry, event)
