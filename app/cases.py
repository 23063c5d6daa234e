"""Creating, opening and listing cases.

A case directory holds ``case.json`` (which database, which case id), ``case.db`` (SQLite,
the default), ``evidence/`` (one tar per run), ``identities/`` (examiner certificates) and
``exports/``. In team mode the database is a PostgreSQL URL and ``case.db`` is absent.
What a case *says* (title, examiners, runs, custody) is folded from its ledger
(:meth:`CaseHandle.state`); the database's other tables are an index over it.
"""

from __future__ import annotations

import datetime as dt
import json
import stat
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.lease import require_reliable_locks
from custody.db.engine import open_database, sqlite_url, wrap_db_errors
from custody.db.index import catch_up
from custody.db.ledger import LedgerWriter, read_entries
from custody.db.projection import add_case
from custody.errors import CaseError, DatabaseError
from custody.record.events import (
    CASE_FIELDS,
    INCIDENT_STATUSES,
    SEVERITIES,
    CaseFields,
    CaseOpened,
    IdentityAdded,
)
from custody.record.fold import CaseState, Folder
from custody.record.keys import Identity
from custody.record.regular import kind_of, read_regular
from custody.record.times import utc_text
from custody.store.storage import EVIDENCE, EvidenceStore, LocalEvidenceStore

__all__ = ["CASE_FIELDS", "INCIDENT_STATUSES", "SEVERITIES"]

CASE_FILE = "case.json"
CASE_FORMAT = "chainproof-case/1"


@dataclass
class CaseHandle:
    """An open case: its directory, id and database."""

    root: Path
    case_id: str
    url: str
    sessions: sessionmaker[Session]
    _folder: Folder = field(default_factory=Folder, repr=False, compare=False)

    @property
    def evidence_dir(self) -> Path:
        """The local folder of the case's run archives (what people are shown)."""
        return self.root / EVIDENCE

    @property
    def evidence(self) -> EvidenceStore:
        """The case's run archives: everything reads and writes them through this."""
        return LocalEvidenceStore(self.evidence_dir)

    @property
    def identities_dir(self) -> Path:
        return self.root / "identities"

    @property
    def exports_dir(self) -> Path:
        return self.root / "exports"

    def state(self) -> CaseState:
        """The case as its ledger tells it, up to the newest entry (folded incrementally)."""
        done = self._folder.state.head_seq
        try:
            for entry in read_entries(self.sessions, self.case_id, after=done):
                self._folder.apply(entry)
        except SQLAlchemyError as exc:
            raise wrap_db_errors(exc, self.sessions.kw["bind"]) from exc
        return self._folder.state

    def folded(self, events: Sequence[str]) -> CaseState:
        """The state folded from the entries of these kinds alone: right for the parts those
        kinds make on their own (who opened the case from ``case_opened``, the examiners from
        ``identity_added``, the exports from theirs), and empty elsewhere. A command that
        needs only such a part does not read and fold the whole ledger for it."""
        if self._folder.state.head_seq:
            return self.state()  # folded already: catching up is cheap
        folder = Folder()
        try:
            for entry in read_entries(self.sessions, self.case_id, events=events):
                folder.apply(entry)
        except SQLAlchemyError as exc:
            raise wrap_db_errors(exc, self.sessions.kw["bind"]) from exc
        return folder.state

    def writer(self, identity: Identity) -> LedgerWriter:
        """A ledger writer for ``identity``; records the identity in the case first if new."""
        writer = LedgerWriter(self.sessions, self.case_id, identity)
        ensure_examiner(self, writer, identity)
        return writer


def absolute_sqlite_url(url: str) -> str:
    """``url`` with a relative SQLite file path made absolute from the current directory, so
    that the case finds its database from wherever it is opened later."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise CaseError(f"not a database URL: {url!r}: {exc}") from exc
    path = parsed.database
    if not parsed.drivername.startswith("sqlite") or not path or path == ":memory:":
        return url
    if path.startswith("file:") or Path(path).is_absolute():
        return url
    return parsed.set(database=str(Path(path).absolute())).render_as_string(hide_password=False)


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
    if db_url is None:
        require_reliable_locks(root)  # its runs' leases are file locks
    else:
        db_url = absolute_sqlite_url(db_url)
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
    case_fields = CaseFields(title=title, **values)
    try:
        with sessions.begin() as s:
            # The row the ledger locks on; its values are written from case_opened below.
            add_case(s, case_id)
    except SQLAlchemyError as exc:
        raise wrap_db_errors(exc, sessions.kw["bind"]) from exc
    pointer = {"format": CASE_FORMAT, "case_id": case_id, "database": db_url or "case.db"}
    (root / CASE_FILE).write_text(json.dumps(pointer, indent=2) + "\n", encoding="utf-8")
    handle = CaseHandle(root, case_id, url, sessions)
    writer = LedgerWriter(sessions, case_id, identity)
    writer.append(CaseOpened(case_id=case_id, fields=case_fields, created_at=utc_text(now)))
    ensure_examiner(handle, writer, identity, role="case opener")
    return handle


def _check_choice(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise CaseError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def ensure_examiner(
    handle: CaseHandle, writer: LedgerWriter, identity: Identity, role: str = "examiner"
) -> None:
    """Record ``identity`` in the case (table, ledger, identities/) the first time it acts."""
    fp = identity.fingerprint
    if fp in handle.folded((IdentityAdded.EVENT,)).examiners:
        return
    pem = identity.certificate_pem()
    handle.identities_dir.mkdir(exist_ok=True)
    (handle.identities_dir / f"{fp}.pem").write_text(pem, encoding="ascii")
    writer.append(
        IdentityAdded(
            fingerprint=fp,
            name=identity.name,
            organisation=identity.organisation,
            email=identity.email,
            role=role,
            certificate_pem=pem,
        )
    )


def open_case(root: Path, *, require_opened: bool = True) -> CaseHandle:
    """Open an existing case directory. ``require_opened=False`` opens a case whose ledger
    cannot be read as a case (to verify it: the verifier says what is wrong)."""
    pointer_path = root / CASE_FILE
    try:
        pointer = json.loads(read_regular(pointer_path).decode("utf-8"))
    except FileNotFoundError:
        raise CaseError(
            f"{root} is not a Chainproof case (no {CASE_FILE}); create one with "
            "'chainproof case new DIR --title TITLE'"
        ) from None
    except OSError as exc:
        raise CaseError(f"cannot read {pointer_path}: {exc.strerror or exc}") from exc
    except ValueError as exc:  # not UTF-8, not JSON
        raise CaseError(f"{pointer_path} is damaged: it is not JSON ({exc})") from exc
    if not isinstance(pointer, dict) or pointer.get("format") != CASE_FORMAT:
        raise CaseError(f"{pointer_path} is not a {CASE_FORMAT} case file")
    case_id, db = pointer.get("case_id"), pointer.get("database")
    if not isinstance(case_id, str) or not isinstance(db, str) or not db or "\0" in db:
        raise CaseError(f"{pointer_path} is damaged: it needs a case_id and a database, both text")
    url = sqlite_url(root / db) if "://" not in db else db
    if "://" not in db:
        _check_database_file(root / db, pointer_path)
    sessions = open_database(url)
    try:
        catch_up(sessions, case_id)  # builds the index after a migration
    except SQLAlchemyError as exc:
        raise wrap_db_errors(exc, sessions.kw["bind"]) from exc
    handle = CaseHandle(root, case_id, url, sessions)
    if require_opened and handle.folded((CaseOpened.EVENT,)).opened is None:
        raise CaseError(
            f"case {case_id}, named by {pointer_path}, has no case_opened entry in its "
            f"database {url}"
        )
    return handle


def _check_database_file(path: Path, pointer_path: Path) -> None:
    """Refuse a case database that is no SQLite file before SQLite opens it: SQLite would
    block on a FIFO, and would make an empty file a new database, writing into it.

    Only ``stat``: the file is never opened outside SQLite. Closing any descriptor of it
    drops every POSIX lock this process holds on it, SQLite's too (another open handle of
    the same case), and another process may then delete the WAL under it
    (sqlite.org/howtocorrupt.html, 2.2). Other bytes are SQLite's to refuse ("file is not
    a database")."""
    try:
        st = path.stat()
        mode = st.st_mode
    except FileNotFoundError:
        raise DatabaseError(
            f"the case database {path} is missing (named by {pointer_path})"
        ) from None
    except OSError as exc:
        raise DatabaseError(f"cannot read the case database {path}: {exc.strerror}") from exc
    if not stat.S_ISREG(mode):
        raise DatabaseError(
            f"the case database {path} (named by {pointer_path}) is {kind_of(mode)}, not a "
            "SQLite file"
        )
    if st.st_size == 0:
        raise DatabaseError(f"the case database {path} is empty (0 bytes): it was cut off")


def find_cases(root: Path) -> Iterator[Path]:
    """Case directories at ``root`` or one or two levels below it."""
    for pattern in (CASE_FILE, f"*/{CASE_FILE}", f"*/*/{CASE_FILE}"):
        for pointer in sorted(root.glob(pattern)):
            yield pointer.parent


def summary(handle: CaseHandle) -> dict[str, Any]:
    """What ``case show`` prints: the case, its examiners, runs and counts, from the ledger."""
    s = handle.state()
    fields = s.fields.to_json() if s.fields else {}
    return {
        "case_id": handle.case_id,
        "sealed": s.sealed,
        "path": str(handle.root),
        "database": handle.url
        if "://" in handle.url and not handle.url.startswith("sqlite")
        else "case.db",
        "title": s.title,
        **{f: fields.get(f) for f in CASE_FIELDS if f != "title"},
        "created_at": s.created_at,
        "custodian": s.custodian,
        "examiners": [
            {
                "fingerprint": x.fingerprint,
                "name": x.name,
                "organisation": x.organisation,
                "email": x.email,
                "role": x.role,
            }
            for x in s.examiners.values()
        ],
        "runs": [
            {
                "id": r.run_id,
                "profile": r.started.event.profile,
                "status": r.status,
                "host": r.started.event.host,
                "started_at": r.started.at,
                "finished_at": r.finished.at if r.finished else None,
                "artifacts": r.artifacts,
                "errors": r.errors,
                "skipped": r.skipped,
                "bytes": r.bytes,
                "archive": r.archive,
                "archive_size": r.finished.event.archive_size if r.finished else None,
                "archive_sha256": r.finished.event.archive_sha256 if r.finished else None,
            }
            for r in s.runs.values()
        ],
        "ledger_entries": s.entries,
        "ledger_head": s.head,
        "artifacts": s.artifacts,
        "collection_errors": s.collection_problems,
        "last_verification": {
            "at": s.last_verification.at,
            "result": s.last_verification.event.result,
            "findings": s.last_verification.event.findings,
            "ledger_head": s.last_verification.event.ledger_head,
        }
        if s.last_verification
        else None,
    }
