"""The index as a projection of the ledger: the one place that says which rows each entry implies.

Every index value is taken from ledger entries and their typed events, nothing else. Three
users share the row functions below:

- the ledger writer: :func:`project` writes the rows of the entries it just appended, in
  the same transaction, and keeps the runs' counts current batch by batch;
- :func:`rebuild` replaces a case's index with the rows of its whole ledger
  (``chainproof case reindex``, and opening a case whose index was never built: see
  :mod:`custody.db.index`);
- verification: :class:`ExpectedIndex` gives the rows the ledger implies, which
  :mod:`custody.verify.index` compares with the stored ones column by column.

Bulk rows (artifacts, collection errors) follow from one entry each. The small tables
(case, examiners, runs, index state) are views of the fold (:mod:`custody.record.fold`):
:class:`ExpectedIndex` and :func:`rebuild` take them from a :class:`CaseState`, and the
writer applies the same rules incrementally; verification compares the two.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Table, delete, insert, select, update
from sqlalchemy.orm import Session

from custody.db.engine import insert_many
from custody.db.models import (
    INDEX_TABLES,
    Artifact,
    Case,
    CollectionError,
    Examiner,
    IndexState,
    Run,
)
from custody.record.entry import GENESIS_HASH, Entry
from custody.record.events import (
    CASE_FIELDS,
    ArtifactCollected,
    CaseFields,
    CaseOpened,
    CaseUpdated,
    CollectionProblem,
    Event,
    IdentityAdded,
    RunFinished,
    RunStarted,
)
from custody.record.fold import CaseState, Folder, Recorded, RunState
from custody.record.fold import Examiner as FoldExaminer

Row = dict[str, Any]
E = TypeVar("E", bound=Event)

_TABLES: dict[str, Table] = {
    "cases": cast(Table, Case.__table__),
    "examiners": cast(Table, Examiner.__table__),
    "runs": cast(Table, Run.__table__),
    "artifacts": cast(Table, Artifact.__table__),
    "collection_errors": cast(Table, CollectionError.__table__),
    "index_state": cast(Table, IndexState.__table__),
}
#: The columns that name a row within a case, per index table.
ROW_KEYS: dict[str, str] = {
    "cases": "id",
    "examiners": "fingerprint",
    "runs": "run_id",
    "artifacts": "seq",
    "collection_errors": "seq",
    "index_state": "case_id",
}
_COUNTS = ("artifacts", "bytes", "regular_files", "errors", "skipped", "changed")
_CHUNK = 1000
#: Which count of a run a collection problem raises (by its kind); anything else is an error.
_PROBLEM_COUNT = {"skipped": 4, "changed": 5}


def index_table(name: str) -> Table:
    """The SQLAlchemy table of the index table ``name`` (one of :data:`INDEX_TABLES`)."""
    return _TABLES[name]


def case_column(name: str) -> Any:
    """The column of index table ``name`` that holds the case id."""
    t = _TABLES[name]
    return t.c.id if name == "cases" else t.c.case_id


# --------------------------------------------------------------------------- rows


def artifact_row(case_id: str, seq: int, at: str, a: ArtifactCollected) -> Row:
    """The ``artifacts`` row of one ``artifact_collected`` entry.

    ``mode``, ``uid``, ``gid`` and ``mtime`` are the source file's, or the member's own for
    a member without a source file (volatile records, command output).
    """
    m, d, src = a.member, a.digests, a.source
    return {
        "case_id": case_id,
        "seq": seq,
        "run_id": a.run_id,
        "collector": a.collector,
        "kind": a.kind,
        "member_name": m.name,
        "member_b64": m.name_b64,
        "header_offset": m.header_offset,
        "data_offset": m.data_offset,
        "size": m.size,
        "header_sha256": m.header_sha256,
        "sha256": d.sha256,
        "sha1": d.sha1,
        "md5": d.md5,
        "source_path": src.path if src else None,
        "source_path_b64": src.path_b64 if src else None,
        "mode": src.mode if src else m.mode,
        "uid": src.uid if src else m.uid,
        "gid": src.gid if src else m.gid,
        "uname": src.uname if src else None,
        "gname": src.gname if src else None,
        "mtime": src.mtime if src else m.mtime,
        "atime": src.atime if src else None,
        "ctime": src.ctime if src else None,
        "birthtime": src.birthtime if src else None,
        "symlink_target": src.symlink_target if src else None,
        "symlink_target_b64": src.symlink_target_b64 if src else None,
        "changed": a.changed,
        "note": a.note,
        "description": a.description,
        "collected_at": at,
    }


def error_row(case_id: str, seq: int, at: str, p: CollectionProblem) -> Row:
    """The ``collection_errors`` row of one ``collection_error`` entry."""
    return {
        "case_id": case_id,
        "seq": seq,
        "run_id": p.run_id,
        "collector": p.collector,
        "kind": p.kind,
        "reason": p.reason,
        "path": p.path,
        "path_b64": p.path_b64,
        "at": at,
    }


def _case_values(fields: CaseFields | None, created_at: str | None, opened_seq: int | None) -> Row:
    values: Row = {k: getattr(fields, k) if fields else None for k in CASE_FIELDS}
    values["created_at"] = created_at
    values["opened_seq"] = opened_seq
    return values


def case_row(case_id: str, state: CaseState) -> Row:
    """The ``cases`` row: the case's fields as the fold has them (an id only until opened)."""
    opened = state.opened
    return {
        "id": case_id,
        **_case_values(state.fields, state.created_at, opened.seq if opened else None),
    }


def _case_changes(event: CaseUpdated) -> Row:
    """The columns a ``case_updated`` entry changes, by :meth:`CaseFields.updated`'s rule:
    unknown names are ignored and the title is never emptied."""
    changes = {k: v for k, v in event.changes.items() if k in CASE_FIELDS}
    if not changes.get("title"):
        changes.pop("title", None)
    return changes


def _examiner_values(case_id: str, added: Recorded[IdentityAdded]) -> Row:
    ev = added.event
    return {
        "case_id": case_id,
        "fingerprint": ev.fingerprint,
        "name": ev.name,
        "organisation": ev.organisation,
        "email": ev.email,
        "role": ev.role,
        "certificate_pem": ev.certificate_pem,
        "added_seq": added.seq,
        "added_at": added.at,
    }


def examiner_row(case_id: str, x: FoldExaminer) -> Row:
    """The ``examiners`` row of one examiner: their first ``identity_added`` entry."""
    return _examiner_values(case_id, x.added)


def _run_start(case_id: str, started: Recorded[RunStarted]) -> Row:
    ev = started.event
    return {
        "case_id": case_id,
        "run_id": ev.run_id,
        "started_seq": started.seq,
        "started_at": started.at,
        "examiner": ev.examiner or started.actor,
        "host": ev.host,
        "profile": ev.profile,
        "command_line": json.dumps(list(ev.command_line), ensure_ascii=False),
        "tool_version": ev.tool_version,
        "tool_sha256": ev.tool_sha256,
        "archive": ev.archive,
        "pid": ev.pid,
    }


def _run_end(finished: Recorded[RunFinished] | None) -> Row:
    if finished is None:
        return {
            "status": "running",
            "finished_seq": None,
            "finished_at": None,
            "reason": None,
            "archive_size": None,
            "archive_sha256": None,
        }
    ev = finished.event
    return {
        "status": ev.status,
        "finished_seq": finished.seq,
        "finished_at": finished.at,
        "reason": ev.reason,
        "archive_size": ev.archive_size,
        "archive_sha256": ev.archive_sha256,
    }


def run_row(case_id: str, r: RunState) -> Row:
    """The ``runs`` row of one run: its start, its end (if any) and the fold's counts."""
    return {
        **_run_start(case_id, r.started),
        **_run_end(r.finished),
        **{k: getattr(r, k) for k in _COUNTS},
    }


def state_row(case_id: str, seq: int, head: str) -> Row:
    """The ``index_state`` row of an index projected through entry ``seq`` (hash ``head``)."""
    return {"case_id": case_id, "ledger_seq": seq, "ledger_head": head}


def insert_rows(session: Session, table: str, rows: Sequence[Row]) -> None:
    """Insert rows made by one row function above (so with the same keys in the same order)."""
    insert_many(session, _TABLES[table], rows)


# --------------------------------------------------------------------------- expected rows


class ExpectedIndex:
    """The index rows a ledger implies, entry by entry.

    :meth:`feed` folds one entry and returns the bulk row it implies (artifact or collection
    error), so a caller can stream a ledger of any length; :meth:`small_rows` gives the rows
    of the small tables as of the last entry fed.
    """

    def __init__(self, case_id: str) -> None:
        self.case_id = case_id
        self.folder = Folder()

    @property
    def state(self) -> CaseState:
        return self.folder.state

    def feed(self, entry: Entry) -> tuple[str, Row] | None:
        """Fold ``entry``; return (table, row) when it implies a row of a bulk table."""
        event = self.folder.apply(entry)
        if isinstance(event, ArtifactCollected):
            return "artifacts", artifact_row(self.case_id, entry.seq, entry.at, event)
        if isinstance(event, CollectionProblem):
            return "collection_errors", error_row(self.case_id, entry.seq, entry.at, event)
        return None

    def small_rows(self) -> dict[str, list[Row]]:
        """Rows of ``cases``, ``examiners``, ``runs`` and ``index_state``."""
        s, cid = self.folder.state, self.case_id
        return {
            "cases": [case_row(cid, s)],
            "examiners": [examiner_row(cid, x) for x in s.examiners.values()],
            "runs": [run_row(cid, r) for r in s.runs.values()],
            "index_state": [state_row(cid, s.head_seq, s.head)],
        }


# --------------------------------------------------------------------------- the writer


def project(session: Session, written: Sequence[tuple[Entry, Event]]) -> None:
    """Write the index rows implied by ``written`` (entries just appended, in order).

    Bulk rows are inserted in bulk; each run's counts are raised once per batch. An entry
    that changes a small table (case, examiner, run start or end) first writes what came
    before it, so the rows follow the fold's order exactly.
    """
    if not written:
        return
    case_id = written[0][0].case_id
    artifacts: list[Row] = []
    errors: list[Row] = []
    counts: dict[str, list[int]] = {}
    for entry, event in written:
        if isinstance(event, ArtifactCollected):
            artifacts.append(artifact_row(case_id, entry.seq, entry.at, event))
            c = counts.get(event.run_id)
            if c is None:
                c = counts[event.run_id] = [0, 0, 0, 0, 0, 0]
            c[0] += 1
            c[1] += event.member.size
            c[2] += event.is_regular
        elif isinstance(event, CollectionProblem):
            errors.append(error_row(case_id, entry.seq, entry.at, event))
            c = counts.get(event.run_id)
            if c is None:
                c = counts[event.run_id] = [0, 0, 0, 0, 0, 0]
            c[_PROBLEM_COUNT.get(event.kind, 3)] += 1
        elif isinstance(event, CaseOpened | CaseUpdated | IdentityAdded | RunStarted | RunFinished):
            _write_bulk(session, case_id, artifacts, errors, counts)
            _write_act(session, entry, event)
    _write_bulk(session, case_id, artifacts, errors, counts)
    last = written[-1][0]
    session.execute(
        update(IndexState)
        .where(IndexState.case_id == case_id)
        .values(ledger_seq=last.seq, ledger_head=last.entry_hash)
    )


def _write_bulk(
    session: Session,
    case_id: str,
    artifacts: list[Row],
    errors: list[Row],
    counts: dict[str, list[int]],
) -> None:
    if artifacts:
        insert_rows(session, "artifacts", artifacts)
        artifacts.clear()
    if errors:
        insert_rows(session, "collection_errors", errors)
        errors.clear()
    runs = _TABLES["runs"]
    for run_id, c in counts.items():
        # As the fold counts: only entries of a run that has started (else no row matches).
        session.execute(
            update(runs)
            .where(runs.c.case_id == case_id, runs.c.run_id == run_id)
            .values({k: runs.c[k] + n for k, n in zip(_COUNTS, c, strict=True) if n})
        )
    counts.clear()


def _recorded(entry: Entry, event: E) -> Recorded[E]:
    return Recorded(entry.seq, entry.at, entry.actor, event)


def _write_act(session: Session, entry: Entry, event: Event) -> None:
    """The small-table change of one signed entry, by the fold's rules (first one wins)."""
    case_id = entry.case_id
    if isinstance(event, CaseOpened):
        session.execute(
            update(Case)
            .where(Case.id == case_id, Case.opened_seq.is_(None))
            .values(**_case_values(event.fields, event.created_at, entry.seq))
        )
    elif isinstance(event, CaseUpdated):
        changes = _case_changes(event)
        if changes:
            session.execute(
                update(Case)
                .where(Case.id == case_id, Case.opened_seq.is_not(None))
                .values(**changes)
            )
    elif isinstance(event, IdentityAdded):
        known = session.execute(
            select(Examiner.fingerprint).where(
                Examiner.case_id == case_id, Examiner.fingerprint == event.fingerprint
            )
        ).first()
        if known is None:
            session.execute(
                insert(_TABLES["examiners"]),
                [_examiner_values(case_id, _recorded(entry, event))],
            )
    elif isinstance(event, RunStarted):
        known = session.execute(
            select(Run.run_id).where(Run.case_id == case_id, Run.run_id == event.run_id)
        ).first()
        if known is None:
            row = {
                **_run_start(case_id, _recorded(entry, event)),
                **_run_end(None),
                **dict.fromkeys(_COUNTS, 0),
            }
            session.execute(insert(_TABLES["runs"]), [row])
    elif isinstance(event, RunFinished):
        session.execute(
            update(Run)
            .where(Run.case_id == case_id, Run.run_id == event.run_id, Run.finished_seq.is_(None))
            .values(**_run_end(_recorded(entry, event)))
        )


# --------------------------------------------------------------------------- rebuilding


def add_case(session: Session, case_id: str) -> None:
    """The index rows of a new, empty case: its (lock) row and an index projected through 0."""
    session.execute(insert(_TABLES["cases"]), [{"id": case_id}])
    session.execute(insert(_TABLES["index_state"]), [state_row(case_id, 0, GENESIS_HASH)])


def lock_case_row(session: Session, case_id: str) -> None:
    """Lock the case's row as the ledger writer does, creating it first if it is missing."""
    locked = cast(
        "CursorResult[Any]",
        session.execute(update(Case).where(Case.id == case_id).values(id=Case.id)),
    )
    if locked.rowcount != 1:
        session.execute(insert(_TABLES["cases"]), [{"id": case_id}])


def rebuild(session: Session, case_id: str, entries: Iterable[Entry]) -> dict[str, int]:
    """Replace the case's index with the rows of ``entries`` (its whole ledger, in order).

    Runs inside the caller's transaction, which should hold the case row's lock
    (:func:`lock_case_row`). Other cases' rows are left alone. Returns the rows written
    per table.
    """
    for name in INDEX_TABLES:
        if name != "cases":
            session.execute(delete(_TABLES[name]).where(case_column(name) == case_id))
    expected = ExpectedIndex(case_id)
    written = dict.fromkeys(INDEX_TABLES, 0)
    pending: dict[str, list[Row]] = {"artifacts": [], "collection_errors": []}
    for entry in entries:
        item = expected.feed(entry)
        if item is None:
            continue
        table, row = item
        rows = pending[table]
        rows.append(row)
        if len(rows) >= _CHUNK:
            insert_rows(session, table, rows)
            written[table] += len(rows)
            rows.clear()
    for table, rows in pending.items():
        insert_rows(session, table, rows)
        written[table] += len(rows)
    small = expected.small_rows()
    [case] = small.pop("cases")
    session.execute(update(Case).where(Case.id == case_id).values(**case))
    written["cases"] = 1
    for table, rows in small.items():
        if rows:
            session.execute(insert(_TABLES[table]), rows)
        written[table] = len(rows)
    return written
