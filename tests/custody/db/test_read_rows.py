"""Reading the ledger and the index through the driver's cursor (``engine.read_rows``).

``read_entries`` must give exactly what a Core ``select()`` gave: the same entries, values
and types, in the same order, on a sound database and on a damaged one (text that is not
UTF-8, a payload or signature list that is not JSON, a value of another type), batch after
batch, and leave the connection as it found it. PostgreSQL: test_postgres_read.py.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from app.cases import CaseHandle
from custody.db.engine import make_engine, read_rows, sqlite_url
from custody.db.ledger import _json_object, _signatures, read_entries
from custody.db.models import LedgerEntry
from custody.record.entry import Entry
from custody.record.events import CollectionProblem, Note, RunStarted
from custody.record.keys import Identity


def core_entries(
    sessions: sessionmaker[Session],
    case_id: str,
    *,
    events: Sequence[str] | None = None,
    seqs: Sequence[int] | None = None,
    after: int = 0,
) -> list[Entry]:
    """The reference: ``read_entries`` as it was, a Core select with SQLAlchemy's rows (and
    the payload's stored text, which entries carry since)."""
    t = LedgerEntry.__table__.c
    query = select(
        t.case_id, t.seq, t.at, t.actor, t.event, t.payload, t.prev_hash, t.entry_hash,
        t.signatures,
    ).where(t.case_id == case_id)  # fmt: skip
    if events is not None:
        query = query.where(t.event.in_(list(events)))
    if seqs is not None:
        query = query.where(t.seq.in_(list(seqs)))
    if after:
        query = query.where(t.seq > after)
    with sessions() as session:
        return [
            Entry(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                _json_object(r[5]),
                r[6],
                r[7],
                _signatures(r[8]),
                r[5] if isinstance(r[5], str) else None,
            )
            for r in session.execute(query.order_by(t.seq, t.id))
        ]


def typed(entries: Sequence[Entry]) -> list[list[tuple[type, Any]]]:
    """Every field of every entry with its type: equal values of another type differ."""
    return [[(type(v), v) for v in vars(e).values()] for e in entries]


def same_reads(case: CaseHandle) -> None:
    for kw in (
        {},
        {"events": ["note", "checkpoint"]},
        {"seqs": [1, 4, 9, 10_000]},
        {"after": 5},
        {"events": ["collection_error"], "after": 7},
        {"events": []},
        {"seqs": []},
    ):
        got = list(read_entries(case.sessions, case.case_id, **kw))  # type: ignore[arg-type]
        assert typed(got) == typed(core_entries(case.sessions, case.case_id, **kw)), kw  # type: ignore[arg-type]


def fill(case: CaseHandle, who: Identity) -> CaseHandle:
    """A run with 30 problems and 3 notes (non-ASCII text): rows over several batches."""
    writer = case.writer(who)
    writer.append(RunStarted(run_id="r", host="h", profile="none", archive="evidence/r.tar"))
    for i in range(30):
        writer.append(CollectionProblem(run_id="r", collector="c", kind="skipped", reason=f"{i}"))
        if i % 10 == 0:
            writer.append(Note(journal_kind="note", text=f"note {i} \u00e9\u4e2d"))
    writer.flush()
    return case


@pytest.fixture
def case(make_case, alice: Identity) -> CaseHandle:
    return fill(make_case(), alice)


def _damage(case: CaseHandle, *statements: tuple[str, tuple[Any, ...]]) -> None:
    db = sqlite3.connect(case.root / "case.db")
    with db:
        db.execute("DROP TRIGGER IF EXISTS ledger_entries_no_update")
        for sql, params in statements:
            db.execute(sql, params)
    db.close()


def test_read_entries_gives_what_a_core_select_gave(case: CaseHandle) -> None:
    assert len(list(read_entries(case.sessions, case.case_id))) > 35
    same_reads(case)


def test_damaged_ledger_reads_as_before(case: CaseHandle) -> None:
    _damage(
        case,
        # Text that is not UTF-8, in the payload and in a short column.
        (
            "UPDATE ledger_entries SET payload = CAST(? AS TEXT) WHERE seq = 6",
            (b'{"a":"\xff\xfe"}',),
        ),
        ("UPDATE ledger_entries SET actor = CAST(? AS TEXT) WHERE seq = 20", (b"bad\x80",)),
        ("UPDATE ledger_entries SET payload = 'not json' WHERE seq = 8", ()),
        ("UPDATE ledger_entries SET payload = '[1, 2]' WHERE seq = 9", ()),
        ("UPDATE ledger_entries SET signatures = '{oops' WHERE seq = 10", ()),
        ("UPDATE ledger_entries SET signatures = '[{\"by\": 1}]' WHERE seq = 11", ()),
        # Values of other types than the schema's.
        ("UPDATE ledger_entries SET entry_hash = ? WHERE seq = 12", (b"\x00\x01",)),
        ("UPDATE ledger_entries SET at = 12.5 WHERE seq = 13", ()),
        ("UPDATE ledger_entries SET prev_hash = 7 WHERE seq = 14", ()),
    )
    same_reads(case)
    by_seq = {e.seq: e for e in read_entries(case.sessions, case.case_id)}
    assert by_seq[6].payload == {"a": "\udcff\udcfe"}  # kept as surrogates, never an error
    assert by_seq[20].actor == "bad\udc80"
    assert by_seq[8].payload == {} and by_seq[9].payload == {}
    assert by_seq[10].signatures == () and by_seq[11].signatures == ()
    assert by_seq[12].entry_hash == b"\x00\x01" and by_seq[13].at == "12.5"


def _rows(case: CaseHandle, batch: int) -> list[tuple[Any, ...]]:
    with case.sessions() as session:
        sql = "SELECT seq, actor FROM ledger_entries WHERE case_id = ? ORDER BY seq"
        return list(read_rows(session, sql, [case.case_id], batch=batch))


@pytest.mark.parametrize("bad_seq", [1, 3, 4, 5, 17])
def test_text_that_is_not_utf8_in_any_batch_loses_no_row(case: CaseHandle, bad_seq: int) -> None:
    good = _rows(case, 4)
    assert [r[0] for r in good] == list(range(1, len(good) + 1))
    _damage(
        case,
        ("UPDATE ledger_entries SET actor = CAST(? AS TEXT) WHERE seq = ?", (b"\xc3", bad_seq)),
    )
    for batch in (1, 4, 1000):
        got = _rows(case, batch)
        assert [r[0] for r in got] == [r[0] for r in good]
        assert got[bad_seq - 1][1] == "\udcc3"
        assert [r for r in got if r[0] != bad_seq] == [r for r in good if r[0] != bad_seq]


def test_the_connection_keeps_its_text_factory(case: CaseHandle) -> None:
    _damage(case, ("UPDATE ledger_entries SET actor = CAST(? AS TEXT) WHERE seq = 2", (b"\xff",)))
    with case.sessions() as session:
        dbapi = session.connection().connection.dbapi_connection
        assert isinstance(dbapi, sqlite3.Connection)
        factory = dbapi.text_factory
        sql = "SELECT seq, actor FROM ledger_entries WHERE case_id = ? ORDER BY seq"
        rows: Iterator[tuple[Any, ...]] = read_rows(session, sql, [case.case_id], batch=3)
        next(rows)
        assert dbapi.text_factory is factory  # between batches, for other queries
        for _ in rows:
            assert dbapi.text_factory is factory
        assert dbapi.text_factory is factory


def test_a_reader_given_up_leaves_the_database_usable(case: CaseHandle) -> None:
    reader = read_entries(case.sessions, case.case_id)
    first = next(reader)
    reader.close()
    assert first.seq == 1
    assert json.loads(json.dumps(dict(first.payload)))  # a real, complete payload
    same_reads(case)


def test_driver_errors_are_sqlalchemy_errors(case: CaseHandle) -> None:
    with case.sessions() as session, pytest.raises(DBAPIError) as caught:
        list(read_rows(session, "SELECT no_such_column FROM ledger_entries", []))
    assert isinstance(caught.value.orig, sqlite3.OperationalError)
    garbage = case.root / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 1000)
    with pytest.raises(DBAPIError, match="not a database"):
        list(read_entries(sessionmaker(make_engine(sqlite_url(garbage))), case.case_id))
