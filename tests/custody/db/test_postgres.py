"""Team mode on a real PostgreSQL server: schema, append-only guards, linear chain under concurrency."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from app.cases import create_case, open_case
from custody.db.ledger import read_entries
from custody.record.events import CollectionProblem, Note, RunFinished, RunStarted
from custody.record.keys import Identity, create_identity
from custody.store.storage import LocalEvidenceStore
from custody.verify.case import verify

pytestmark = pytest.mark.postgres


def _append_notes(case_dir: str, who: str, n: int) -> None:
    """One examiner's run on a shared case: notes (signed) between skipped items (bulk)."""
    ident = create_identity(who, "Team", f"{who}@example.org")
    case = open_case(Path(case_dir))
    archive = f"evidence/{who}.tar"
    (case.root / archive).write_bytes(bytes(1024))  # an empty tar: its end blocks
    writer = case.writer(ident)
    writer.append(RunStarted(run_id=who, host=who, profile="none", archive=archive))
    for i in range(n):
        writer.append(Note(journal_kind="note", text=f"{who} note {i}"))
        writer.append(CollectionProblem(run_id=who, collector="x", kind="skipped", reason=str(i)))
    writer.flush()
    writer.append(
        RunFinished(run_id=who, status="finished", skipped=n, archive=archive, archive_size=1024)
    )


def test_team_case_on_postgres(pg_url: str, tmp_path: Path, alice: Identity) -> None:
    case = create_case(
        tmp_path / "team", alice, title="Team incident", db_url=pg_url, incident_ref="INC-7"
    )
    assert not (tmp_path / "team" / "case.db").exists()
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        for stmt, op in (
            ("UPDATE ledger_entries SET event = 'x'", "UPDATE"),
            ("DELETE FROM ledger_entries", "DELETE"),
            ("TRUNCATE ledger_entries", "TRUNCATE"),
        ):
            with pytest.raises(DBAPIError, match=f"append-only: {op} refused"):
                conn.execute(text(stmt))
            conn.rollback()

    # Three handlers append at once from separate processes: the chain must stay linear.
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_append_notes, args=(str(case.root), f"h{i}", 25)) for i in range(3)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    entries = list(read_entries(case.sessions, case.case_id))
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert len([e for e in entries if e.event == "note"]) == 75
    report = verify(
        str(case.root),
        entries,
        evidence=LocalEvidenceStore(case.evidence_dir),
        case_id=case.case_id,
    )
    assert report.ok, report.render()
    assert len(report.signers) == 4
