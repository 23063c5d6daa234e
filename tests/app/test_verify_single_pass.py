"""The verifier parses each ledger entry once: the archive checks take the members the ledger
pass held, and the index is compared in that same pass. Findings are the same, in the same
order, whether the members are held, partly held, or all read again."""

from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import text

from app.cases import CaseHandle
from app.verification import verify_case
from custody.db.ledger import drop_guards_for_tests, read_entries
from custody.record.events import ArtifactCollected, parse
from custody.verify import runs
from custody.verify.case import verify
from custody.verify.findings import Report
from custody.verify.index import check_index

SPEC = {f"d/f{i}.bin": os.urandom(300 + i) for i in range(12)}


def _raw(case: CaseHandle, *statements: str) -> None:
    with case.sessions.begin() as s:
        drop_guards_for_tests(s)
        for stmt in statements:
            s.execute(text(stmt))


def _artifacts(case: CaseHandle) -> list[tuple[int, dict]]:
    out = []
    for e in read_entries(case.sessions, case.case_id, events=["artifact_collected"]):
        assert isinstance(parse(e), ArtifactCollected)
        out.append((e.seq, dict(e.payload)))
    return out


def _tamper(case: CaseHandle) -> None:
    """An edited artifact entry, a changed digest, a changed index row, a flipped byte."""
    arts = _artifacts(case)
    seq, payload = arts[3]
    payload["source"] = {**payload["source"], "path": "/elsewhere"}
    body = json.dumps(payload).replace("'", "''")
    seq2 = arts[7][0]
    _raw(
        case,
        f"UPDATE ledger_entries SET payload = '{body}' WHERE seq = {seq}",
        f"UPDATE artifacts SET sha256 = '{'0' * 64}' WHERE seq = {seq2}",
    )
    archive = next((case.root / "evidence").glob("*.tar"))
    archive.chmod(0o644)
    data = bytearray(archive.read_bytes())
    data[-20000] ^= 0xFF
    archive.write_bytes(bytes(data))


def _findings(report: Report) -> list[tuple[str, str, str, int | None]]:
    return [(f.code, f.where, f.message, f.seq) for f in report.findings]


@pytest.mark.parametrize("tampered", [False, True])
def test_findings_do_not_depend_on_how_many_members_are_held(
    collected_case, monkeypatch, tampered: bool
) -> None:
    case, _, _ = collected_case(SPEC)
    if tampered:
        _tamper(case)
    results = []
    for limit in (runs.HELD_MEMBERS, 5, 0):
        monkeypatch.setattr(runs, "HELD_MEMBERS", limit)
        results.append(_findings(verify_case(case)))
    assert results[0] == results[1] == results[2]
    assert bool(results[0]) is tampered
    if tampered:
        codes = {f[0] for f in results[0]}
        assert {"chain.entry_hash", "index.mismatch"} <= codes
        assert codes & {"artifact.sha256", "archive.header", "archive.padding", "archive.gap"}
        # The index's findings follow the ledger's and the archives', as before.
        first_index = next(i for i, f in enumerate(results[0]) if f[0].startswith("index."))
        assert all(f[0].startswith("index.") for f in results[0][first_index:])


def test_a_small_case_is_read_once(collected_case) -> None:
    case, _, _ = collected_case(SPEC)
    reads = 0

    def entries():
        nonlocal reads
        reads += 1
        return read_entries(case.sessions, case.case_id)

    report = verify(str(case.root), entries, evidence=case.evidence, case_id=case.case_id)
    assert report.ok and report.artifacts == len(_artifacts(case))
    assert reads == 1


def test_beyond_the_limit_the_rest_is_read_again(collected_case, monkeypatch) -> None:
    case, _, _ = collected_case(SPEC)
    monkeypatch.setattr(runs, "HELD_MEMBERS", 4)
    reads = 0

    def entries():
        nonlocal reads
        reads += 1
        return read_entries(case.sessions, case.case_id)

    report = verify(str(case.root), entries, evidence=case.evidence, case_id=case.case_id)
    assert report.ok and report.artifacts == len(_artifacts(case))
    assert reads == 2


def test_index_compared_in_the_ledger_pass_finds_what_check_index_finds(
    collected_case,
) -> None:
    case, _, _ = collected_case(SPEC)
    seq = _artifacts(case)[2][0]
    _raw(
        case,
        f"UPDATE artifacts SET size = 1 WHERE seq = {seq}",
        f"DELETE FROM artifacts WHERE seq = {seq + 1}",
    )
    alone = Report("index")
    check_index(case.sessions, case.case_id, alone)
    assert {f.code for f in alone.findings} == {"index.mismatch", "index.missing"}
    assert _findings(verify_case(case)) == _findings(alone)
