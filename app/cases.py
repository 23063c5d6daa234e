"""Creating, opening and listing cases.

A case directory holds ``case.json`` (which database, which case id), ``case.db`` (SQLite,
the default), ``evidence/`` (one tar per run), ``identities/`` (examiner certificates) and
``exports/``. In team mode the database is a PostgreSQL URL and ``case.db`` is absent.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from custody.db.engine import open_database, sqlite_url, wrap_db_errors
from custody.db.ledger import LedgerWriter
from custody.db.models import Artifact, Case, CollectionError, Examiner, LedgerEntry, Run
from custody.errors import CaseError, DatabaseError
from custody.record.keys import Identity

CASE_FILE = "case.json"
CASE_FORMAT = "chainproof-case/1"
INCIDENT_STATUSES = ("reported", "assessed", "contained", "eradicated", "recovered", "closed")
SEVERITIES = ("low", "medium", "high", "critical")
CASE_FIELDS = (
    "title",
    "incident_ref",
    "severity",
    "status",
    "organisation",
    "legal_basis",
    "requesting_party",
    "scope",
    "responsible",
    "description",
)


@dataclass
class CaseHandle:
    """An open case: its directory, id and database."""

    root: Path
    case_id: str
    url: str
    sessions: sessionmaker[Session]

    @property
    def evidence_dir(self) -> Path:
        return self.root / "evidence"

    @property
    def identities_dir(self) -> Path:
        return self.root / "identities"

    @property
    def exports_dir(self) -> Path:
        return self.root / "exports"

    def case(self) -> Case:
        with self.sessions() as s:
            case = s.get(Case, self.case_id)
        if case is None:
            raise CaseError(f"case {self.case_id} is missing from its database {self.url}")
        return case

    def writer(self, identity: Identity) -> LedgerWriter:
        """A ledger writer for ``identity``; records the identity in the case first if new."""
        writer = LedgerWriter(self.sessions, self.case_id, identity)
        ensure_examiner(self, writer, identity)
        return writer


def create_case(
    root: Path,
    identity: Identity,
    *,
    title: str,
    db_url: str | None = None,
    **fields: str | None,
) -> CaseHandle:
    """Create a case directory and its database, opened and signed by ``identity``."""
    unknown = set(fields) - set(CASE_FIELDS)
    if unknown:
        raise CaseError(f"unknown case fields: {', '.join(sorted(unknown))}")
    _check_choice("severity", fields.get("severity"), SEVERITIES)
    _check_choice("status", fields.get("status"), INCIDENT_STATUSES)
    if (root / CASE_FILE).exists():
        raise CaseError(f"{root} is already a case")
    if root.exists() and any(root.iterdir()):
        raise CaseError(f"{root} exists and is not empty: choose a new directory for the case")
    try:
        for sub in ("evidence", "identities", "exports"):
            (root / sub).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CaseError(f"cannot create case directory {root}: {exc.strerror}") from exc
    url = db_url or sqlite_url(root / "case.db")
    sessions = open_database(url)
    case_id = str(uuid.uuid4())
    now = dt.datetime.now(dt.UTC)
    values = {k: v for k, v in fields.items() if v is not None}
    values.setdefault("status", "reported")
    try:
        with sessions.begin() as s:
            s.add(Case(id=case_id, title=title, created_at=now, **values))
    except SQLAlchemyError as exc:
        raise wrap_db_errors(exc, sessions.kw["bind"]) from exc
    pointer = {"format": CASE_FORMAT, "case_id": case_id, "database": db_url or "case.db"}
    (root / CASE_FILE).write_text(json.dumps(pointer, indent=2) + "\n", encoding="utf-8")
    handle = CaseHandle(root, case_id, url, sessions)
    writer = LedgerWriter(sessions, case_id, identity)
    writer.append(
        "case_opened",
        {"case": {"id": case_id, "title": title, **values}, "created_at": _iso(now)},
    )
    ensure_examiner(handle, writer, identity, role="case opener")
    return handle


def _check_choice(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise CaseError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ensure_examiner(
    handle: CaseHandle, writer: LedgerWriter, identity: Identity, role: str = "examiner"
) -> None:
    """Record ``identity`` in the case (table, ledger, identities/) the first time it acts."""
    fp = identity.fingerprint
    with handle.sessions() as s:
        if s.get(Examiner, fp) is not None:
            return
    pem = identity.certificate_pem()
    with handle.sessions.begin() as s:
        s.add(
            Examiner(
                fingerprint=fp,
                case_id=handle.case_id,
                name=identity.name,
                organisation=identity.organisation,
                email=identity.email,
                certificate_pem=pem,
                added_at=dt.datetime.now(dt.UTC),
            )
        )
    handle.identities_dir.mkdir(exist_ok=True)
    (handle.identities_dir / f"{fp}.pem").write_text(pem, encoding="ascii")
    writer.append(
        "identity_added",
        {
            "fingerprint": fp,
            "name": identity.name,
            "organisation": identity.organisation,
            "email": identity.email,
            "role": role,
            "certificate_pem": pem,
        },
    )


def open_case(root: Path) -> CaseHandle:
    """Open an existing case directory."""
    pointer_path = root / CASE_FILE
    try:
        pointer = json.loads(pointer_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CaseError(
            f"{root} is not a Chainproof case (no {CASE_FILE}); create one with "
            "'chainproof case new DIR --title TITLE'"
        ) from None
    except (OSError, ValueError) as exc:
        raise CaseError(f"cannot read {pointer_path}: {exc}") from exc
    if not isinstance(pointer, dict) or pointer.get("format") != CASE_FORMAT:
        raise CaseError(f"{pointer_path} is not a {CASE_FORMAT} case file")
    db = str(pointer.get("database", "case.db"))
    url = sqlite_url(root / db) if "://" not in db else db
    if "://" not in db and not (root / db).is_file():
        raise DatabaseError(f"the case database {root / db} is missing")
    sessions = open_database(url)
    handle = CaseHandle(root, str(pointer["case_id"]), url, sessions)
    handle.case()
    return handle


def find_cases(root: Path) -> Iterator[Path]:
    """Case directories at ``root`` or one or two levels below it."""
    for pattern in (CASE_FILE, f"*/{CASE_FILE}", f"*/*/{CASE_FILE}"):
        for pointer in sorted(root.glob(pattern)):
            yield pointer.parent


def summary(handle: CaseHandle) -> dict[str, Any]:
    """What ``case show`` prints: the case, its examiners, runs and counts."""
    try:
        with handle.sessions() as s:
            case = s.get(Case, handle.case_id)
            assert case is not None
            runs = s.scalars(
                select(Run).where(Run.case_id == handle.case_id).order_by(Run.started_at)
            ).all()
            examiners = s.scalars(select(Examiner).where(Examiner.case_id == handle.case_id)).all()
            entries = s.scalar(
                select(func.count())
                .select_from(LedgerEntry)
                .where(LedgerEntry.case_id == handle.case_id)
            )
            run_ids = [r.id for r in runs]
            artifacts = (
                s.scalar(
                    select(func.count()).select_from(Artifact).where(Artifact.run_id.in_(run_ids))
                )
                if run_ids
                else 0
            )
            errors = (
                s.scalar(
                    select(func.count())
                    .select_from(CollectionError)
                    .where(CollectionError.run_id.in_(run_ids))
                )
                if run_ids
                else 0
            )
    except SQLAlchemyError as exc:
        raise wrap_db_errors(exc, handle.sessions.kw["bind"]) from exc
    from app.journal import is_sealed

    return {
        "case_id": case.id,
        "sealed": is_sealed(handle),
        "path": str(handle.root),
        "database": handle.url
        if "://" in handle.url and not handle.url.startswith("sqlite")
        else "case.db",
        "title": case.title,
        **{f: getattr(case, f) for f in CASE_FIELDS if f != "title"},
        "created_at": _iso(case.created_at),
        "examiners": [
            {
                "fingerprint": e.fingerprint,
                "name": e.name,
                "organisation": e.organisation,
                "email": e.email,
            }
            for e in examiners
        ],
        "runs": [
            {
                "id": r.id,
                "profile": r.profile,
                "status": r.status,
                "host": r.hostname,
                "started_at": _iso(r.started_at),
                "finished_at": _iso(r.finished_at) if r.finished_at else None,
                "artifacts": r.artifact_count,
                "errors": r.error_count,
                "skipped": r.skipped_count,
                "bytes": r.bytes_collected,
                "archive": f"evidence/{r.archive_name}",
                "archive_size": r.archive_size,
            }
            for r in runs
        ],
        "ledger_entries": entries,
        "artifacts": artifacts,
        "collection_errors": errors,
    }
