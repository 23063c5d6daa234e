"""The index beside the ledger, edited as an adversary would: ``verify`` names table, row and
column; every view keeps showing the ledger's values; ``case reindex`` repairs and records it."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app import browse
from app.cases import CaseHandle, create_case, open_case
from app.cli import main
from app.collection import CollectionRun
from collectors.profiles import load_profile
from custody.db.ledger import read_entries
from custody.db.models import INDEX_TABLES
from custody.db.projection import ROW_KEYS, index_table
from custody.record.events import ArtifactCollected, IndexRebuilt, parse
from custody.record.keys import Identity
from custody.verify.findings import Report
from custody.verify.index import check_index

#: The row of each table that the tests edit is named like this in findings.
ROW_NAMES = {
    "cases": "case {}",
    "examiners": "examiner {}",
    "runs": "run {}",
    "artifacts": "entry {}",
    "collection_errors": "entry {}",
    "index_state": "case {}",
}
KEY_COLUMNS = {("cases", "id")} | {
    (t, c) for t in INDEX_TABLES for c in ("case_id", ROW_KEYS[t]) if t != "cases"
}
ALL_COLUMNS = [(t, c.name) for t in INDEX_TABLES for c in index_table(t).columns]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, alice_identity: Identity) -> Path:
    """A collected case: files, a symlink, a skipped FIFO, the system record."""
    base = tmp_path_factory.mktemp("index-template")
    src = base / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"alpha\n" * 1000)
    (src / "sub" / "b.bin").write_bytes(os.urandom(3000))
    (src / "link").symlink_to("a.txt")
    os.mkfifo(src / "fifo")
    case = create_case(base / "case", alice_identity, title="Index tamper", incident_ref="INC-7")
    profile = load_profile("none").with_paths([f"{src}/**"])
    result = CollectionRun(case, alice_identity, profile).execute()
    assert result.status == "finished" and result.skipped == 1
    return case.root


@pytest.fixture
def case_dir(template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the template case for one test."""
    return Path(shutil.copytree(template, tmp_path / "case"))


def _sql(case_dir: Path, *statements: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """Edit case.db directly, as someone with the file and sqlite3 can."""
    db = sqlite3.connect(case_dir / "case.db")
    try:
        rows: list[Any] = []
        for stmt in statements:
            rows = db.execute(stmt, params).fetchall()
        db.commit()
        return rows
    finally:
        db.close()


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _verify(capsys: pytest.CaptureFixture[str], case_dir: Path) -> tuple[int, list[dict[str, Any]]]:
    code, out, _ = _cli(capsys, "verify", str(case_dir), "--json")
    return code, json.loads(out)["findings"]


def _first_row(case_dir: Path, table: str) -> dict[str, Any]:
    key = ROW_KEYS[table]
    where = " WHERE source_path IS NOT NULL" if table == "artifacts" else ""
    db = sqlite3.connect(case_dir / "case.db")
    db.row_factory = sqlite3.Row
    try:
        row = db.execute(f"SELECT * FROM {table}{where} ORDER BY {key} LIMIT 1").fetchone()
    finally:
        db.close()
    assert row is not None, table
    return dict(row)


def _other(value: Any, column: str) -> Any:
    """A different value of the same kind, as a forger would type it."""
    if column == "seq":
        return value + 100_000  # no other entry has it
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    return 7 if column in _INT_COLUMNS else "forged"


_INT_COLUMNS = {
    c.name for t in INDEX_TABLES for c in index_table(t).columns if "INT" in str(c.type).upper()
}


@pytest.mark.parametrize(("table", "column"), ALL_COLUMNS, ids=[f"{t}.{c}" for t, c in ALL_COLUMNS])
def test_each_index_column_edited_is_named(
    capsys: pytest.CaptureFixture[str], case_dir: Path, table: str, column: str
) -> None:
    row = _first_row(case_dir, table)
    key = row[ROW_KEYS[table]]
    _sql(
        case_dir,
        f"UPDATE {table} SET {column} = ? WHERE {ROW_KEYS[table]} = ?",
        params=(_other(row[column], column), key),
    )
    code, findings = _verify(capsys, case_dir)
    assert code == 6
    assert {f["code"][: len("index.")] for f in findings} == {"index."}, findings
    where = f"table {table}, {ROW_NAMES[table].format(key)}"
    if (table, column) in KEY_COLUMNS:
        # The row is no longer the ledger's row: it is missing (and, in this case, extra).
        assert any(f["code"] == "index.missing" and f["where"] == where for f in findings)
        return
    [finding] = findings
    assert finding["code"] == "index.mismatch" and finding["where"] == where
    assert finding["message"].startswith(f"column {column}: the index says ")
    if table in ("artifacts", "collection_errors"):
        assert finding["seq"] == key


def test_deleted_and_added_rows_are_named(
    capsys: pytest.CaptureFixture[str], case_dir: Path
) -> None:
    art = _first_row(case_dir, "artifacts")
    err = _first_row(case_dir, "collection_errors")
    _sql(case_dir, f"DELETE FROM artifacts WHERE seq = {art['seq']}")
    planted = {**err, "seq": 9999, "reason": "planted"}
    _sql(
        case_dir,
        f"INSERT INTO collection_errors ({', '.join(planted)}) "
        f"VALUES ({', '.join('?' for _ in planted)})",
        params=tuple(planted.values()),
    )
    code, findings = _verify(capsys, case_dir)
    assert code == 6
    assert sorted((f["code"], f["where"]) for f in findings) == [
        ("index.extra", "table collection_errors, row seq=9999"),
        ("index.missing", f"table artifacts, entry {art['seq']}"),
    ]
    code, out, _ = _cli(capsys, "verify", str(case_dir))
    assert code == 6 and f"table artifacts, entry {art['seq']}: the index has no row" in out


def _ledger_artifact(case: CaseHandle, seq: int) -> ArtifactCollected:
    [entry] = read_entries(case.sessions, case.case_id, seqs=[seq])
    event = parse(entry)
    assert isinstance(event, ArtifactCollected)
    return event


@pytest.fixture
def forged(case_dir: Path) -> Iterator[dict[str, Any]]:
    """Index values edited everywhere a view could pick them up."""
    art = _first_row(case_dir, "artifacts")
    run = _first_row(case_dir, "runs")
    _sql(
        case_dir,
        "UPDATE cases SET title = 'Forged title', incident_ref = 'INC-0'",
        "UPDATE examiners SET name = 'Mallory', email = 'm@evil.example'",
        "UPDATE runs SET host = 'forged-host', command_line = '[\"rm\", \"-rf\"]', "
        "artifacts = 99, examiner = 'nobody'",
        "UPDATE collection_errors SET reason = 'forged reason', path = '/forged'",
        f"UPDATE artifacts SET sha256 = '{'0' * 64}', sha1 = '{'1' * 40}', md5 = '{'2' * 32}', "
        "source_path = '/etc/shadow', member_name = 'files/etc/shadow', "
        "mtime = '1.000000000', mode = 2541, uid = 1000, header_offset = 0, data_offset = 0, "
        f"size = 5 WHERE seq = {art['seq']}",
    )
    yield {"artifact": art, "run": run}


def test_views_show_the_ledger_and_export_waits_for_reindex(
    capsys: pytest.CaptureFixture[str], case_dir: Path, forged: dict[str, Any], alice: Identity
) -> None:
    art, run = forged["artifact"], forged["run"]
    seq = art["seq"]
    case = open_case(case_dir)
    ledger = _ledger_artifact(case, seq)
    assert ledger.digests.sha256 == art["sha256"]  # the row was right before the edit

    # case show: the fold of the ledger
    code, out, _ = _cli(capsys, "case", "show", str(case_dir), "--json")
    shown = json.loads(out)
    assert code == 0 and shown["title"] == "Index tamper" and shown["incident_ref"] == "INC-7"
    assert [x["name"] for x in shown["examiners"]] == ["Alice Examiner"]
    assert shown["runs"][0]["host"] == run["host"] and shown["runs"][0]["artifacts"] == 4

    # the GUI's queries: rows, details and the preview come from the ledger
    keys = browse.artifact_keys(case, browse.ArtifactFilter())
    rows = browse.artifact_rows(case, keys)
    row = rows[seq]
    assert (row.name, row.sha256, row.size) == (art["source_path"], art["sha256"], art["size"])
    errors = [r for r in rows.values() if r.is_error]
    assert [e.status for e in errors] == ["FIFO not read: reading could block or consume data"]
    assert "forged" not in errors[0].name
    details = browse.artifact_details(case, seq)
    assert (details["md5"], details["sha1"], details["member"]) == (
        art["md5"],
        art["sha1"],
        art["member_name"],
    )
    assert (details["mode"], details["uid"]) == (f"{art['mode']:o}", art["uid"])
    assert details["data_offset"] == art["data_offset"] and details["host"] == run["host"]
    assert browse.read_artifact_bytes(case, seq) == b"alpha\n" * 1000
    assert browse.examiner_names(case) == {case.state().custodian: "Alice Examiner"}
    assert browse.collectors_used(case) == ["files", "system"]

    # export refuses while verify fails
    bundle = case_dir.parent / "bundle"
    code, _, err = _cli(capsys, "export", str(case_dir), "--out", str(bundle))
    assert code == 7 and "fails verification" in err and "index.mismatch" not in err
    assert "table artifacts, entry" in err and not bundle.exists()

    # reindex repairs the index from the verified ledger and records it
    code, out, _ = _cli(capsys, "case", "reindex", str(case_dir), "--reason", "test repair")
    assert code == 0, out
    assert "Rebuilt the index" in out and "artifacts 4" in out and "collection_errors 1" in out
    case = open_case(case_dir)
    [entry] = [e for e in read_entries(case.sessions, case.case_id) if e.event == "index_rebuilt"]
    rebuilt = parse(entry)
    assert isinstance(rebuilt, IndexRebuilt)
    assert [s.by for s in entry.signatures] == [alice.fingerprint]
    assert rebuilt.reason == "test repair" and rebuilt.ledger_entries == entry.seq - 1
    assert rebuilt.mismatches >= 20  # every column edited above
    assert rebuilt.rows == {
        "cases": 1,
        "examiners": 1,
        "runs": 1,
        "artifacts": 4,
        "collection_errors": 1,
        "index_state": 1,
    }
    assert case.state().reindexes[-1].seq == entry.seq

    code, findings = _verify(capsys, case_dir)
    assert code == 0 and findings == []
    code, out, err = _cli(capsys, "export", str(case_dir), "--out", str(bundle), "--json")
    assert code == 0, err
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["case"]["title"] == "Index tamper"
    listed = {a["sha256"] for a in manifest["artifacts"]}
    assert art["sha256"] in listed and "0" * 64 not in listed


def test_reindex_refuses_a_ledger_that_fails(
    capsys: pytest.CaptureFixture[str], case_dir: Path, alice: Identity
) -> None:
    art = _first_row(case_dir, "artifacts")
    _sql(
        case_dir,
        "DROP TRIGGER ledger_entries_no_update",
        "UPDATE ledger_entries SET payload = replace(payload, 'sha256', 'sha256 ') "
        f"WHERE seq = {art['seq']}",
        f"UPDATE artifacts SET size = 1 WHERE seq = {art['seq']}",
    )
    code, _, err = _cli(capsys, "case", "reindex", str(case_dir))
    assert code == 6 and "the index was not rebuilt" in err and "chain.entry_hash" not in err
    assert f"entry {art['seq']}" in err
    assert _sql(case_dir, f"SELECT size FROM artifacts WHERE seq = {art['seq']}") == [(1,)]
    case = open_case(case_dir)
    assert not case.state().reindexes


def test_format1_case_migrates_to_an_index_equal_to_the_fold(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fixture = Path(__file__).parents[1] / "fixtures" / "legacy-v1" / "case"
    case_dir = Path(shutil.copytree(fixture, tmp_path / "legacy"))
    assert _sql(case_dir, "SELECT version_num FROM alembic_version") == [("0001",)]
    case = open_case(case_dir)  # migrates (0002) and builds the index from the ledger
    assert _sql(case_dir, "SELECT version_num FROM alembic_version") == [("0002",)]
    report = Report("legacy")
    check = check_index(case.sessions, case.case_id, report)
    assert report.findings == [] and check.rows_checked == 1 + 2 + 2 + 11 + 1 + 1
    state = case.state()
    runs = _sql(
        case_dir, "SELECT run_id, artifacts, skipped, status FROM runs ORDER BY started_seq"
    )
    assert runs == [(r.run_id, r.artifacts, r.skipped, r.status) for r in state.runs.values()]
    assert _sql(case_dir, "SELECT title FROM cases") == [(state.title,)]
    code, findings = _verify(capsys, case_dir)
    assert (code, findings) == (0, [])


def test_an_index_row_that_names_another_entry_shows_nothing_forged(case_dir: Path) -> None:
    """An artifact row moved onto a checkpoint's seq: the listing says the ledger has no such
    artifact, instead of showing the row's values."""
    art = _first_row(case_dir, "artifacts")
    case = open_case(case_dir)
    checkpoint = next(
        e.seq for e in read_entries(case.sessions, case.case_id, events=["checkpoint"])
    )
    _sql(case_dir, f"UPDATE artifacts SET seq = {checkpoint} WHERE seq = {art['seq']}")
    rows = browse.artifact_rows(case, [checkpoint])
    assert rows[checkpoint].name == "(not in the ledger)" and rows[checkpoint].sha256 == ""
    with pytest.raises(Exception, match="not in this case's ledger"):
        browse.artifact_details(case, checkpoint)
    with pytest.raises(Exception, match="not in this case's ledger"):
        browse.read_artifact_bytes(case, checkpoint)


def test_ledger_rows_describe_typed_events(case_dir: Path) -> None:
    case = open_case(case_dir)
    art = _first_row(case_dir, "artifacts")
    rows = browse.ledger_rows(case, range(1, case.state().head_seq + 1))
    assert rows[art["seq"]].summary == f"files: {art['source_path']} ({art['size']} bytes)"
    assert rows[1].summary == "Case opened: Index tamper"
    assert any(r.summary.startswith("Checkpoint (run end) over entries ") for r in rows.values())
    alice = next(iter(case.state().examiners.values()))
    assert [p.summary for p in browse.ledger_timeline(case)][:2] == [
        "Case opened: Index tamper",
        f"Alice Examiner, Example Forensics recorded as case opener "
        f"(certificate {alice.fingerprint[:16]}...)",
    ]
