"""Verification of a case's index: every column of every index row against its ledger.

The index tables beside the ledger (:mod:`custody.db.models`) are derived data. This check
recomputes the rows the ledger implies (as :class:`custody.db.projection.ExpectedIndex`
does, from the events the verifier's ledger pass parsed: :class:`IndexComparison`) and
compares them with the stored rows of the case, column by column:

- ``index.mismatch``: a row whose column differs (``table artifacts, entry 41``: ``column
  sha256: the index says X, the ledger Y``);
- ``index.missing``: a row the ledger implies is absent;
- ``index.extra``: a row of the case that no ledger entry implies.

The ledger is streamed once; the bulk tables (artifacts, collection errors) are read in
``seq`` order beside it and merged, so memory stays flat at any case size. Everything is
read in one snapshot, so a writer appending meanwhile cannot cause a false finding. Rows of
other cases in a shared database are not looked at.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from custody.db.engine import read_rows, snapshot
from custody.db.ledger import read_entries
from custody.db.models import INDEX_TABLES
from custody.db.projection import (
    ROW_KEYS,
    Row,
    artifact_row,
    case_column,
    case_row,
    error_row,
    examiner_row,
    index_table,
    run_row,
    state_row,
)
from custody.record.entry import Entry
from custody.record.events import ArtifactCollected, CollectionProblem, Event
from custody.record.fold import CaseState, Folder
from custody.verify.findings import Report

#: Findings listed per table and code; the rest are counted in one closing finding.
MAX_LISTED = 100
_SHOWN = 80


@dataclass
class IndexCheck:
    """What the comparison found: differences per table (all counted, even unlisted)."""

    differences: dict[str, int] = field(default_factory=lambda: dict.fromkeys(INDEX_TABLES, 0))
    rows_checked: int = 0

    @property
    def total(self) -> int:
        return sum(self.differences.values())


class _Findings:
    """Adds index findings to a report, at most :data:`MAX_LISTED` per table and code."""

    def __init__(self, report: Report, check: IndexCheck) -> None:
        self.report = report
        self.check = check
        self.listed: dict[tuple[str, str], int] = {}

    def add(self, code: str, table: str, row: str, message: str, seq: int | None) -> None:
        self.check.differences[table] += 1
        n = self.listed.get((table, code), 0)
        self.listed[(table, code)] = n + 1
        if n < MAX_LISTED:
            self.report.add(code, f"table {table}, {row}", message, seq)

    def close(self) -> None:
        for (table, code), n in sorted(self.listed.items()):
            if n > MAX_LISTED:
                self.report.add(
                    code,
                    f"table {table}",
                    f"{n - MAX_LISTED} more rows like the {MAX_LISTED} listed above",
                )


def _show(value: Any) -> str:
    """A stored or expected value for people: quoted text, numbers, NULL; long ones cut."""
    if value is None:
        return "NULL"
    if isinstance(value, str):
        # Quoted, with escapes for control characters and text that is not Unicode.
        text = json.dumps(value, ensure_ascii=False).encode("utf-8", "backslashreplace").decode()
    elif isinstance(value, bytes | bytearray | memoryview):
        text = f"bytes {bytes(value)[:32].hex()}"
    else:
        text = repr(value)
    return text if len(text) <= _SHOWN else f"{text[: _SHOWN - 3]}..."


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _row_name(table: str, key: Any) -> str:
    if table in ("artifacts", "collection_errors"):
        return f"entry {key}"
    if table == "examiners":
        return f"examiner {key}"
    if table == "runs":
        return f"run {key}"
    return f"case {key}"


def _seq_of(table: str, key: Any) -> int | None:
    return key if table in ("artifacts", "collection_errors") and type(key) is int else None


def _compare(
    out: _Findings, table: str, key: Any, stored: Sequence[Any], expected: Row, cols: list[str]
) -> None:
    want = [expected[c] for c in cols]
    got = list(stored)
    if got == want and list(map(type, got)) == list(map(type, want)):
        return
    for col, got, exp in zip(cols, stored, want, strict=True):
        if not _same(got, exp):
            out.add(
                "index.mismatch",
                table,
                _row_name(table, key),
                f"column {col}: the index says {_show(got)}, the ledger {_show(exp)}",
                _seq_of(table, key),
            )


def _missing(out: _Findings, table: str, key: Any) -> None:
    out.add(
        "index.missing",
        table,
        _row_name(table, key),
        "the index has no row for what the ledger records",
        _seq_of(table, key),
    )


def _extra(out: _Findings, table: str, key: Any) -> None:
    out.add(
        "index.extra",
        table,
        f"row {ROW_KEYS[table]}={_show(key)}",
        "the index has a row that no ledger entry implies",
        None,
    )


class _Merge:
    """One bulk table read in ``seq`` order, merged with the rows the ledger implies."""

    def __init__(self, session: Session, table: str, case_id: str, out: _Findings) -> None:
        t = index_table(table)
        self.table, self.out = table, out
        self.cols = [c.name for c in t.columns]
        self.key_at = self.cols.index("seq")
        # The driver's rows (read_rows): the values a Core select gives, for less per row.
        where = case_column(table).name
        query = f"SELECT {', '.join(self.cols)} FROM {t.name} WHERE {where} = ? ORDER BY seq"
        self.rows: Iterator[Sequence[Any]] = read_rows(session, query, [case_id])
        self.row: Sequence[Any] | None = None
        self._next()

    def _next(self) -> None:
        self.row = next(self.rows, None)
        # A seq that is not an integer (typed into the database by hand) matches no entry.
        while self.row is not None and type(self.row[self.key_at]) is not int:
            _extra(self.out, self.table, self.row[self.key_at])
            self.row = next(self.rows, None)

    def expect(self, row: Row) -> None:
        seq = row["seq"]
        while self.row is not None and self.row[self.key_at] < seq:
            _extra(self.out, self.table, self.row[self.key_at])
            self._next()
        if self.row is not None and self.row[self.key_at] == seq:
            _compare(self.out, self.table, seq, self.row, row, self.cols)
            self.out.check.rows_checked += 1
            self._next()
        else:
            _missing(self.out, self.table, seq)

    def finish(self) -> None:
        while self.row is not None:
            _extra(self.out, self.table, self.row[self.key_at])
            self._next()


def _compare_small(
    session: Session, table: str, case_id: str, expected: list[Row], out: _Findings
) -> None:
    t = index_table(table)
    cols = [c.name for c in t.columns]
    key = ROW_KEYS[table]
    stored = {
        row[cols.index(key)]: row
        for row in session.execute(select(*t.columns).where(case_column(table) == case_id))
    }
    for want in expected:
        got = stored.pop(want[key], None)
        if got is None:
            _missing(out, table, want[key])
        else:
            _compare(out, table, want[key], got, want, cols)
            out.check.rows_checked += 1
    for k in stored:
        _extra(out, table, k)


class IndexComparison:
    """The index compared with the ledger as the ledger is read, in one snapshot.

    A :class:`~custody.verify.case.LedgerTap`: :meth:`feed` takes each entry with the typed
    event the ledger pass parsed (an artifact or collection error is merged with its stored
    row at once), :meth:`finish` the folded case (the small tables). Findings wait in a report
    of their own until :meth:`close` moves them to the caller's, after the ledger's and the
    archives'. A database error stops the comparison; :meth:`close` raises it.
    """

    def __init__(self, session: Session, case_id: str) -> None:
        self.session = session
        self.case_id = case_id
        self.check = IndexCheck()
        self.found = Report("index")
        self.out = _Findings(self.found, self.check)
        self.error: SQLAlchemyError | None = None
        self.merges: dict[str, _Merge] = {}
        try:
            for table in ("artifacts", "collection_errors"):
                self.merges[table] = _Merge(session, table, case_id, self.out)
        except SQLAlchemyError as exc:
            self.error = exc

    def feed(self, entry: Entry, event: Event | None) -> None:
        """Merge the bulk row ``entry`` implies (if any) with the stored one."""
        if self.error is not None:
            return
        if isinstance(event, ArtifactCollected):
            table, row = "artifacts", artifact_row(self.case_id, entry.seq, entry.at, event)
        elif isinstance(event, CollectionProblem):
            table, row = "collection_errors", error_row(self.case_id, entry.seq, entry.at, event)
        else:
            return
        try:
            self.merges[table].expect(row)
        except SQLAlchemyError as exc:
            self.error = exc

    def finish(self, state: CaseState) -> None:
        """The stored rows no entry implied, and the small tables as of the last entry."""
        if self.error is not None:
            return
        cid = self.case_id
        small = {
            "cases": [case_row(cid, state)],
            "examiners": [examiner_row(cid, x) for x in state.examiners.values()],
            "runs": [run_row(cid, r) for r in state.runs.values()],
            "index_state": [state_row(cid, state.head_seq, state.head)],
        }
        try:
            for merge in self.merges.values():
                merge.finish()
            for table, rows in small.items():
                _compare_small(self.session, table, cid, rows, self.out)
        except SQLAlchemyError as exc:
            self.error = exc

    def close(self, report: Report) -> IndexCheck:
        """Add the findings to ``report``; raises the database error that stopped the
        comparison, after the findings made before it."""
        if self.error is None:
            self.out.close()
        report.findings.extend(self.found.findings)
        if self.error is not None:
            raise self.error
        return self.check


def check_index(sessions: sessionmaker[Session], case_id: str, report: Report) -> IndexCheck:
    """Compare every index row of the case with its ledger; add findings to ``report``."""
    with snapshot(sessions) as snap, snap() as session:
        comparison = IndexComparison(session, case_id)
        folder = Folder()
        for entry in read_entries(snap, case_id):
            comparison.feed(entry, folder.apply(entry))
        comparison.finish(folder.state)
    return comparison.close(report)
