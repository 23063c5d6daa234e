"""The index is the ledger's projection: the writer's rows equal the fold's, rebuilt or not."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, text

from app.cases import CaseHandle, open_case
from custody.db.index import catch_up, rebuild_index
from custody.db.models import INDEX_TABLES, Artifact, IndexState, Run
from custody.db.projection import add_case, case_column, index_table
from custody.record.digests import Digests
from custody.record.events import (
    ArtifactCollected,
    CaseOpened,
    CaseUpdated,
    CollectionProblem,
    CommandFacts,
    IdentityAdded,
    MemberRef,
    RunFinished,
    RunStarted,
    SourceFacts,
)
from custody.record.keys import Identity, certificate_pem
from custody.verify.findings import Report
from custody.verify.index import check_index


def _artifact(run: str, i: int, **kw: Any) -> ArtifactCollected:
    h = f"{i:064x}"
    return ArtifactCollected(
        run_id=run,
        collector=kw.pop("collector", "files"),
        kind=kw.pop("kind", "file"),
        member=MemberRef(
            name=f"files/f{i}",
            header_offset=i * 1024,
            data_offset=i * 1024 + 512,
            size=100 + i,
            header_sha256=h,
        ),
        digests=Digests(h, h[:40], h[:32]),
        **kw,
    )


def _index(case: CaseHandle) -> dict[str, list[tuple[Any, ...]]]:
    """Every index row of the case, per table, in a stable order."""
    out = {}
    with case.sessions() as s:
        for name in INDEX_TABLES:
            t = index_table(name)
            rows = s.execute(select(t).where(case_column(name) == case.case_id)).all()
            out[name] = sorted((tuple(r) for r in rows), key=repr)
    return out


def _differences(case: CaseHandle) -> list[str]:
    report = Report("index")
    check_index(case.sessions, case.case_id, report)
    return [f"{f.code} {f}" for f in report.findings]


def test_writer_rows_equal_the_fold_in_every_case_the_fold_knows(
    make_case, alice: Identity, bob_identity: Identity
) -> None:
    """Odd ledgers included: a second case_opened, a run restarted, ended twice, entries
    after its end or for an unknown run, problems of every kind, a title emptied."""
    case: CaseHandle = make_case(title="Original", scope="first scope")
    w = case.writer(alice)
    w.append(CaseUpdated(changes={"title": "", "scope": "second scope", "nope": "x"}))
    w.append(CaseUpdated(changes={"title": "Renamed", "severity": "high"}))
    w.append(
        CaseOpened(case_id="another", fields=case.state().fields, created_at="2020-01-01T00:00Z")
    )
    pem = certificate_pem(bob_identity.certificate)
    for name in ("Bob", "Bob again"):  # the first identity_added of a fingerprint wins
        w.append(
            IdentityAdded(
                fingerprint=bob_identity.fingerprint,
                name=name,
                role="reviewer",
                certificate_pem=pem,
            )
        )
    w.append(
        RunStarted(
            run_id="r1",
            host="host-1",
            profile="none",
            archive="evidence/r1.tar",
            command_line=("chainproof", "collect", "a b", "ü"),
            tool_version="1",
            pid=4321,
        )
    )
    w.append(_artifact("r1", 1, source=SourceFacts(path="/a", mode=0o644, uid=4294967294)))
    w.append(_artifact("r1", 2, kind="symlink", changed="grew while read", note="n"))
    w.append(
        _artifact(
            "r1",
            3,
            kind="command",
            collector="logs",
            command=CommandFacts(argv=("journalctl",)),
            description="journal",
        )
    )
    for kind in ("skipped", "error", "changed", "odd"):
        w.append(CollectionProblem(run_id="r1", collector="files", kind=kind, reason=kind))
    w.append(_artifact("ghost", 4))  # a run that never started: no counts anywhere
    w.append(RunStarted(run_id="r1", host="restarted", profile="x", archive="evidence/x.tar"))
    w.append(RunFinished(run_id="r1", status="finished", archive="evidence/r1.tar"))
    w.append(RunFinished(run_id="r1", status="failed", archive="evidence/r1.tar"))
    w.append(_artifact("r1", 5))  # after its end: counted, as the fold counts it
    w.append(RunStarted(run_id="r2", host="h2", profile="none", archive="evidence/r2.tar"))
    w.flush()

    assert _differences(case) == []
    state = case.state()
    with case.sessions() as s:
        r1 = s.scalars(select(Run).where(Run.run_id == "r1")).one()
        r2 = s.scalars(select(Run).where(Run.run_id == "r2")).one()
    assert (r1.host, r1.status, r1.artifacts, r1.regular_files) == ("host-1", "finished", 4, 3)
    assert (r1.errors, r1.skipped, r1.changed) == (2, 1, 1)
    assert r1.bytes == state.runs["r1"].bytes == 101 + 102 + 103 + 105
    assert json.loads(r1.command_line) == ["chainproof", "collect", "a b", "ü"]
    assert (r2.status, r2.finished_seq, r2.artifacts) == ("running", None, 0)

    # A rebuild gives the very rows the writer wrote, and records nothing by itself.
    written = _index(case)
    entries = state.entries
    rows = rebuild_index(case.sessions, case.case_id)
    assert _index(case) == written
    assert rows == {k: len(v) for k, v in written.items()}
    assert case.state().entries == entries


def test_running_run_shows_live_counts(make_case, alice: Identity) -> None:
    case: CaseHandle = make_case()
    w = case.writer(alice)
    w.append(RunStarted(run_id="r", host="h", profile="none", archive="evidence/r.tar"))
    for i in range(3):
        w.append(_artifact("r", i))
    w.flush()
    with case.sessions() as s:
        run = s.scalars(select(Run)).one()
        assert (run.status, run.artifacts, run.bytes) == ("running", 3, 303)
        state = s.get(IndexState, case.case_id)
    assert state is not None and state.ledger_seq == case.state().head_seq
    assert state.ledger_head == case.state().head
    assert _differences(case) == []


def test_index_of_two_cases_in_one_database_stays_apart(
    make_case, alice: Identity, tmp_path
) -> None:
    first: CaseHandle = make_case(title="First")
    (tmp_path / "second").mkdir()
    second = CaseHandle(tmp_path / "second", "case-two", first.url, first.sessions)
    with first.sessions.begin() as s:
        add_case(s, second.case_id)
    for case in (first, second):
        w = case.writer(alice)
        w.append(RunStarted(run_id="same-run", host=case.case_id, profile="p", archive="e/r"))
        w.append(_artifact("same-run", 1))
        w.flush()
    assert _differences(first) == [] and _differences(second) == []
    with first.sessions() as s:
        hosts = sorted(s.scalars(select(Run.host)))
    assert hosts == sorted([first.case_id, "case-two"])
    rebuild_index(first.sessions, first.case_id)
    assert _differences(second) == []


def test_catch_up_builds_a_missing_index_once(make_case, alice: Identity) -> None:
    case: CaseHandle = make_case()
    w = case.writer(alice)
    w.append(RunStarted(run_id="r", host="h", profile="none", archive="evidence/r.tar"))
    w.append(_artifact("r", 1))
    w.flush()
    built = _index(case)
    with case.sessions.begin() as s:  # as migration 0002 leaves a case
        for name in INDEX_TABLES:
            if name not in ("cases", "index_state"):
                s.execute(index_table(name).delete())
        s.execute(text("UPDATE cases SET title = NULL"))
        s.execute(text("UPDATE index_state SET ledger_seq = -1, ledger_head = ''"))
    found = " ".join(_differences(case))
    assert "table index_state, case " in found and "column title" in found
    reopened = open_case(case.root)  # marked unbuilt: the index is built from the ledger
    assert _index(reopened) == built
    assert catch_up(reopened.sessions, reopened.case_id) is False  # built: one query, no work


def test_catch_up_leaves_an_unstorable_ledger_to_verify(make_case, alice: Identity) -> None:
    """A forged entry whose text the database cannot hold does not stop the case opening."""
    case: CaseHandle = make_case()
    w = case.writer(alice)
    w.append(RunStarted(run_id="r", host="h", profile="none", archive="evidence/r.tar"))
    w.flush()
    forged = json.dumps({**_artifact("r", 1).payload(), "collector": "\ud800"})  # lone surrogate
    with case.sessions.begin() as s:
        s.execute(text("DROP TRIGGER ledger_entries_no_update"))
        s.execute(
            text(
                "INSERT INTO ledger_entries (case_id, seq, at, actor, event, payload, prev_hash,"
                " entry_hash) VALUES (:c, 99, '2026-01-01T00:00:00.000000Z', 'x',"
                " 'artifact_collected', :p, 'x', 'x')"
            ),
            {"c": case.case_id, "p": forged},
        )
        s.execute(text("UPDATE index_state SET ledger_seq = -1"))
    reopened = open_case(case.root)
    with reopened.sessions() as s:
        state = s.get(IndexState, case.case_id)
        assert state is not None and state.ledger_seq == -1  # still to be built
        assert s.scalars(select(Artifact)).all() == []
    assert any("index.missing" in d for d in _differences(reopened))
