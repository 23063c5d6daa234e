"""The index on a real PostgreSQL server: two cases in one database, a format 1 case migrated,
the schema as the models describe it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, create_engine, insert, select, text
from sqlalchemy.engine import make_url

from app.cases import CASE_FILE, CaseHandle, create_case, open_case
from app.collection import CollectionRun
from app.reindex import reindex_case
from app.verification import verify_case
from collectors.profiles import load_profile
from custody.db.models import Base
from custody.record.keys import Identity
from custody.verify.findings import Report
from custody.verify.index import check_index
from tests.custody.db.test_schema import FIXTURE_DB, upgrade

pytestmark = pytest.mark.postgres


def _database(pg_url: str, name: str) -> str:
    """A new, empty database on the server; its URL."""
    with create_engine(pg_url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    return make_url(pg_url).set(database=name).render_as_string(hide_password=False)


def _collected(root: Path, identity: Identity, url: str, title: str) -> CaseHandle:
    src = root.with_name(f"{root.name}-src")
    (src / "d").mkdir(parents=True)
    (src / "a.txt").write_bytes(title.encode() * 100)
    (src / "d" / "b.txt").write_bytes(b"b" * 5000)
    os.mkfifo(src / "fifo")
    case = create_case(root, identity, title=title, db_url=url)
    profile = load_profile("none").with_paths([f"{src}/**"])
    assert CollectionRun(case, identity, profile).execute().status == "finished"
    return case


def test_schema_on_postgres_is_what_the_models_describe(pg_url: str) -> None:
    url = _database(pg_url, "schema_check")
    engine = create_engine(url)
    upgrade(engine, "head")
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_two_cases_in_one_database(pg_url: str, tmp_path: Path, alice: Identity) -> None:
    url = _database(pg_url, "two_cases")
    first = _collected(tmp_path / "first", alice, url, "First")
    second = _collected(tmp_path / "second", alice, url, "Second")
    for case in (first, second):
        report = verify_case(case)
        assert report.ok, report.render()

    # An edit of the first case's index is the first case's finding only.
    with create_engine(url).begin() as conn:
        seq = conn.execute(
            text("SELECT min(seq) FROM artifacts WHERE case_id = :c AND source_path IS NOT NULL"),
            {"c": first.case_id},
        ).scalar_one()
        conn.execute(
            text("UPDATE artifacts SET md5 = 'x' WHERE case_id = :c AND seq = :s"),
            {"c": first.case_id, "s": seq},
        )
        conn.execute(text("UPDATE cases SET title = 'Forged' WHERE id = :c"), {"c": second.case_id})
    bad = verify_case(first)
    assert [(f.code, f.where) for f in bad.findings] == [
        ("index.mismatch", f"table artifacts, entry {seq}")
    ]
    assert bad.findings[0].message.startswith('column md5: the index says "x", the ledger ')
    assert [f.where for f in verify_case(second).findings] == [
        f"table cases, case {second.case_id}"
    ]

    result = reindex_case(first, alice, reason="postgres test")
    assert result.mismatches == 1 and result.rows["artifacts"] == 3
    assert verify_case(first).ok
    assert not verify_case(second).ok  # a rebuild of one case leaves the other alone
    reindex_case(second, alice)
    assert verify_case(second).ok and verify_case(first).ok


def test_format1_case_migrates_on_postgres(pg_url: str, tmp_path: Path) -> None:
    """The format 1 fixture's database, moved to PostgreSQL at revision 0001, then opened."""
    url = _database(pg_url, "legacy")
    target = create_engine(url)
    upgrade(target, "0001")
    copy = shutil.copyfile(FIXTURE_DB, tmp_path / "v1.db")  # never open the fixture itself
    source = create_engine(f"sqlite:///{copy}")
    old, new = MetaData(), MetaData()
    old.reflect(source)
    new.reflect(target)
    with source.connect() as src, target.begin() as dst:
        for table in old.sorted_tables:
            if table.name == "alembic_version":
                continue
            rows = [dict(r._mapping) for r in src.execute(select(table))]
            if rows:
                dst.execute(insert(new.tables[table.name]), rows)
        dst.execute(text("SELECT setval('ledger_entries_id_seq', max(id)) FROM ledger_entries"))
    case_dir = tmp_path / "legacy"
    shutil.copytree(FIXTURE_DB.parent, case_dir, ignore=shutil.ignore_patterns("case.db*"))
    pointer = json.loads((case_dir / CASE_FILE).read_text())
    pointer["database"] = url
    (case_dir / CASE_FILE).write_text(json.dumps(pointer))

    case = open_case(case_dir)  # migrates to the head and builds the index from the ledger
    with target.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0002"
        assert conn.execute(text("SELECT count(*) FROM artifacts")).scalar() == 11
    report = Report("legacy")
    check_index(case.sessions, case.case_id, report)
    assert report.findings == []
    verified = verify_case(case)
    assert verified.ok, verified.render()
