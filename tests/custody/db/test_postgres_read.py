"""Reading the ledger and the index through psycopg's server-side cursor (``read_rows``) on a
real PostgreSQL server: what a Core select gave, in batches, with SQLAlchemy's errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError

from app.cases import CaseHandle, create_case
from app.verification import verify_case
from custody.db.engine import read_rows
from custody.record.keys import Identity
from tests.custody.db.test_read_rows import fill, same_reads

pytestmark = pytest.mark.postgres


def test_read_entries_on_postgres(pg_url: str, tmp_path: Path, alice: Identity) -> None:
    case: CaseHandle = create_case(tmp_path / "pg", alice, title="PG read", db_url=pg_url)
    fill(case, alice)
    same_reads(case)
    with case.sessions() as session:
        sql = "SELECT seq, event FROM ledger_entries WHERE case_id = ? ORDER BY seq"
        small = list(read_rows(session, sql, [case.case_id], batch=4))
        # Two server-side cursors open at once on one connection, as verify has them.
        a = read_rows(session, sql, [case.case_id], batch=3)
        b = read_rows(session, sql, [case.case_id], batch=5)
        zipped = list(zip(a, b, strict=True))
        with pytest.raises(DBAPIError):
            list(read_rows(session, "SELECT no_such_column FROM ledger_entries", []))
    assert [r[0] for r in small] == list(range(1, len(small) + 1)) and len(small) > 30
    assert [x for x, _ in zipped] == small == [y for _, y in zipped]
    # The index comparison reads its bulk tables the same way.
    (case.evidence_dir).mkdir(exist_ok=True)
    report = verify_case(case)
    assert not [f for f in report.findings if f.code.startswith(("index.", "database."))]
