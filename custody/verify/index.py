"""Verification of a case's index: every column of every index row against its ledger.

The index tables beside the ledger (:mod:`custody.db.models`) are derived data. This check
recomputes the rows the ledger implies (:class:`custody.db.projection.ExpectedIndex`) and
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
from sqlalchemy.orm import Session, sessionmaker

from custody.db.engine import snapshot
from custody.db.ledger import read_entries
from custody.db.models import INDEX_TABLES
from custody.db.projection import ROW_KEYS, ExpectedIndex, Row, case_column, index_table
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
        query = (
            select(*t.columns)
            .where(case_column(table) == case_id)
            .order_by(t.c.seq)
            .execution_options(yield_per=2000)
        )
        self.rows: Iterator[Sequence[Any]] = iter(session.execute(query))
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


def check_index(sessions: sessionmaker[Session], case_id: str, report: Report) -> IndexCheck:
    """Compare every index row of the case with its ledger; add findings to ``report``."""
    check = IndexCheck()
    out = _Findings(report, check)
    with snapshot(sessions) as snap, snap() as session:
        expected = ExpectedIndex(case_id)
        merges = {t: _Merge(session, t, case_id, out) for t in ("artifacts", "collection_errors")}
        for entry in read_entries(snap, case_id):
            item = expected.feed(entry)
            if item is not None:
                merges[item[0]].expect(item[1])
        for merge in merges.values():
            merge.finish()
        for table, rows in expected.small_rows().items():
            _compare_small(session, table, case_id, rows, out)
    out.close()
    return check
