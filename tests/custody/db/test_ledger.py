from __future__ import annotations

import base64
import json
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from app.cases import CaseHandle
from custody.db.ledger import CHECKPOINT_EVERY, LedgerWriter, read_entries
from custody.errors import DatabaseError, StoreError
from custody.record.canonical import canonical_json, sha256_hex
from custody.record.entry import GENESIS_HASH, Entry
from custody.record.events import (
    SIGNED_EVENTS,
    CollectionProblem,
    RunFinished,
    RunStarted,
    parse_payload,
)
from custody.record.keys import Identity
from custody.store.storage import LocalEvidenceStore
from custody.verify.case import verify
from custody.verify.findings import Report


def _bulk(case: CaseHandle, writer: LedgerWriter, n: int) -> None:
    """A run of ``n`` skipped items with an empty archive: ``n`` bulk entries to sign."""
    case.evidence_dir.mkdir(exist_ok=True)
    (case.evidence_dir / "r.tar").write_bytes(bytes(1024))
    writer.append(RunStarted(run_id="r", host="h", profile="none", archive="evidence/r.tar"))
    for i in range(n):
        writer.append(
            CollectionProblem(run_id="r", collector="files", kind="skipped", reason=f"item {i}")
        )
    writer.flush("run end")
    writer.append(
        RunFinished(
            run_id="r",
            status="finished",
            artifacts=0,
            errors=0,
            skipped=n,
            bytes=0,
            archive="evidence/r.tar",
            archive_size=1024,
        )
    )


def test_chain_links_and_checkpoints_cover_every_entry(make_case, alice: Identity) -> None:
    case: CaseHandle = make_case()
    writer = case.writer(alice)
    _bulk(case, writer, 2500)
    entries = list(read_entries(case.sessions, case.case_id))
    prev = GENESIS_HASH
    unsigned_run = 0
    for i, e in enumerate(entries, 1):
        assert e.seq == i
        assert e.prev_hash == prev
        assert e.entry_hash == sha256_hex(canonical_json(e.body()))
        prev = e.entry_hash
        if e.event in SIGNED_EVENTS:
            assert e.signatures and e.signatures[0].by == alice.fingerprint
            unsigned_run = 0
        else:
            assert not e.signatures
            unsigned_run += 1
            assert unsigned_run <= CHECKPOINT_EVERY
    assert entries[-2].event == "checkpoint" and entries[-1].event == "run_finished"
    assert entries[-2].payload["head"] == entries[-3].entry_hash
    assert entries[0].event == "case_opened" and entries[1].event == "identity_added"
    report = verify(
        "case", entries, evidence=LocalEvidenceStore(case.evidence_dir), case_id=case.case_id
    )
    assert report.ok, report.render()
    assert report.signers == {alice.fingerprint: "Alice Examiner"}


def test_database_refuses_update_and_delete(make_case) -> None:
    case: CaseHandle = make_case()
    with case.sessions() as s:
        with pytest.raises(IntegrityError, match="append-only: UPDATE refused"):
            s.execute(text("UPDATE ledger_entries SET event = 'note'"))
        s.rollback()
        with pytest.raises(IntegrityError, match="append-only: DELETE refused"):
            s.execute(text("DELETE FROM ledger_entries"))


def test_concurrent_writers_keep_one_linear_chain(
    make_case, alice: Identity, bob_identity: Identity
) -> None:
    case: CaseHandle = make_case()
    w1 = case.writer(alice)
    w2 = case.writer(bob_identity)
    errors: list[BaseException] = []

    def work(w: LedgerWriter, who: str) -> None:
        try:
            for i in range(60):
                w.append(parse_payload("note", {"kind": "note", "text": f"{who} {i}"}))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(w1, "a")),
        threading.Thread(target=work, args=(w2, "b")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    entries = list(read_entries(case.sessions, case.case_id))
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    report = verify(
        "case", entries, evidence=LocalEvidenceStore(case.evidence_dir), case_id=case.case_id
    )
    assert report.ok, report.render()
    assert len([e for e in entries if e.event == "note"]) == 120


def test_openssl_verifies_an_entry_signature_from_exported_files(
    make_case, alice: Identity, tmp_path: Path
) -> None:
    case: CaseHandle = make_case()
    entry = case.writer(alice).append(
        parse_payload("note", {"kind": "note", "text": "seized laptop, serial X1"})
    )
    assert entry is not None
    line = json.loads(json.dumps(entry.to_json()))  # as in ledger.jsonl
    body = {k: v for k, v in line.items() if k not in ("entry_hash", "signatures")}
    (tmp_path / "entry.json").write_bytes(rfc8785.dumps(body))
    (tmp_path / "entry.sig").write_bytes(base64.b64decode(line["signatures"][0]["sig"]))
    (tmp_path / "cert.pem").write_text(alice.certificate_pem())
    subprocess.run(
        f"openssl x509 -in {tmp_path}/cert.pem -pubkey -noout > {tmp_path}/pub.pem",
        shell=True,
        check=True,
    )
    out = subprocess.run(
        [
            "openssl",
            "dgst",
            "-sha256",
            "-verify",
            f"{tmp_path}/pub.pem",
            "-signature",
            f"{tmp_path}/entry.sig",
            f"{tmp_path}/entry.json",
        ],
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == "Verified OK"
    assert sha256_hex((tmp_path / "entry.json").read_bytes()) == line["entry_hash"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_canonical_json_is_stable_and_round_trips(value: object) -> None:
    data = canonical_json(value)
    assert canonical_json(json.loads(data)) == data
    assert data == rfc8785.dumps(value)


@settings(max_examples=40, deadline=None)
@given(
    texts=st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=12),
    victim=st.integers(min_value=0),
    tamper=st.sampled_from(["edit", "delete", "swap", "insert"]),
)
def test_any_tampering_of_a_signed_chain_is_detected(
    alice_identity: Identity, texts: list[str], victim: int, tamper: str
) -> None:
    from custody.record.entry import make_entry

    entries: list[Entry] = []
    prev = GENESIS_HASH
    cert_payload = {
        "fingerprint": alice_identity.fingerprint,
        "certificate_pem": alice_identity.certificate_pem(),
        "name": alice_identity.name,
        "organisation": None,
        "email": None,
        "role": "examiner",
    }
    for i, (event, payload) in enumerate(
        [("identity_added", cert_payload)]
        + [
            ("collection_error", {"run_id": "r", "collector": "x", "kind": "error", "reason": t})
            for t in texts
        ]
        + [("checkpoint", {})],
        1,
    ):
        if event == "checkpoint":
            payload = {"covers_from": 2, "covers_to": i - 1, "head": prev, "reason": "end"}
        signers = (alice_identity,) if event in SIGNED_EVENTS else ()
        e = make_entry(
            "c",
            i,
            "2026-01-01T00:00:00.000000Z",
            alice_identity.fingerprint,
            event,
            payload,
            prev,
            signers,
        )
        entries.append(e)
        prev = e.entry_hash
    # A bare chain (no run around the bulk entries): only the chain's own findings count here.
    assert not _chain_findings(
        verify("x", entries, evidence=LocalEvidenceStore(Path("/nonexistent")))
    )
    k = 1 + victim % len(texts)  # a bulk entry
    forged = list(entries)
    if tamper == "edit":
        e = forged[k]
        forged[k] = Entry(
            e.case_id,
            e.seq,
            e.at,
            e.actor,
            e.event,
            {**e.payload, "reason": "x" + e.payload["reason"]},
            e.prev_hash,
            e.entry_hash,
        )
    elif tamper == "delete":
        del forged[k]
    elif tamper == "swap":
        if len(texts) < 2:
            return
        j = k + 1 if k + 1 < len(forged) - 1 else k - 1
        forged[k], forged[j] = forged[j], forged[k]
    else:
        e = forged[k]
        forged.insert(
            k,
            make_entry(
                "c",
                e.seq,
                e.at,
                e.actor,
                e.event,
                {"run_id": "r", "collector": "x", "kind": "error", "reason": "forged"},
                e.prev_hash,
            ),
        )
    assert _chain_findings(verify("x", forged, evidence=LocalEvidenceStore(Path("/nonexistent"))))


def _chain_findings(report: Report) -> list[str]:
    return [
        f.code
        for f in report.findings
        if f.code.split(".")[0] in ("chain", "signature", "coverage", "checkpoint")
    ]


@given(
    case_id=st.one_of(st.uuids().map(str), st.text(max_size=12)),
    seq=st.integers(1, 2**40),
    at=st.one_of(st.just("2026-11-23T09:39:17.180465Z"), st.text(max_size=12)),
    actor=st.one_of(st.text("0123456789abcdef", min_size=64, max_size=64), st.text(max_size=8)),
    event=st.sampled_from(sorted(SIGNED_EVENTS)),
    payload=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
    prev=st.text("0123456789abcdef", min_size=64, max_size=64),
)
def test_composed_entry_body_is_the_canonical_body(
    case_id, seq, at, actor, event, payload, prev
) -> None:
    from custody.record.entry import body_bytes as _body_bytes
    from custody.record.entry import entry_body

    composed = _body_bytes(case_id, seq, at, actor, event, canonical_json(payload), prev)
    assert composed == rfc8785.dumps(entry_body(case_id, seq, at, actor, event, payload, prev))


@given(
    case_id=st.one_of(st.uuids().map(str), st.text(max_size=12)),
    seq=st.integers(1, 2**40),
    at=st.one_of(st.just("2026-11-23T09:39:17.180465Z"), st.text(max_size=12)),
    actor=st.one_of(st.text("0123456789abcdef", min_size=64, max_size=64), st.text(max_size=8)),
    payload=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
    signatures=st.lists(
        st.tuples(
            st.one_of(st.text("0123456789abcdef", min_size=64, max_size=64), st.text(max_size=4)),
            st.one_of(
                st.binary(max_size=72).map(lambda b: base64.b64encode(b).decode()),
                st.text(max_size=6),
            ),
        ),
        max_size=2,
    ),
    respaced=st.booleans(),
)
def test_bytes_composed_around_the_stored_payload_are_the_canonical_bytes(
    case_id, seq, at, actor, payload, signatures, respaced
) -> None:
    """An entry read with its payload's text gives the canonical body and ledger line from that
    text when it hashes right; text written another way (spaces, key order) gives them by
    serialising the content, as an entry without stored text does."""
    import dataclasses

    from custody.record.entry import Signature, make_entry

    e = make_entry(case_id, seq, at, actor, "note_added", payload, "0" * 64)
    e = dataclasses.replace(e, signatures=tuple(Signature(by, sig) for by, sig in signatures))
    text = json.dumps(payload, indent=1) if respaced else canonical_json(payload).decode()
    stored = dataclasses.replace(e, stored_payload=text)
    assert stored.signed_bytes() == rfc8785.dumps(e.body()) == e.signed_bytes()
    line = stored.ledger_line()
    assert line == rfc8785.dumps(e.to_json()) + b"\n" == e.ledger_line()
    read_back = Entry.from_json(json.loads(line), line)  # as a bundle's ledger.jsonl is read
    assert read_back == e and read_back.signed_bytes() == rfc8785.dumps(e.body())


def test_an_edited_stored_payload_gives_the_bytes_of_what_it_says_now() -> None:
    """The stored text counts only when it hashes to the entry's hash: edited text yields the
    canonical bytes of its own content, which the chain check then finds not matching."""
    import dataclasses

    from custody.record.entry import make_entry

    e = make_entry(
        "c", 1, "2026-11-23T09:39:17.180465Z", "a" * 64, "note_added", {"text": "x"}, "0" * 64
    )
    edited = dataclasses.replace(e, payload={"text": "y"}, stored_payload='{"text":"y"}')
    assert edited.signed_bytes() == rfc8785.dumps(edited.body())
    assert sha256_hex(edited.signed_bytes()) != e.entry_hash


def test_entries_read_from_the_ledger_carry_their_stored_payload(
    make_case, alice: Identity
) -> None:
    case: CaseHandle = make_case()
    writer = case.writer(alice)
    _bulk(case, writer, 3)
    entries = list(read_entries(case.sessions, case.case_id))
    assert entries and all(e.stored_payload is not None for e in entries)
    for e in entries:
        assert e._stored_body() is not None  # the fast path is the one taken
        assert e.signed_bytes() == rfc8785.dumps(e.body())
        assert e.ledger_line() == rfc8785.dumps(e.to_json()) + b"\n"
        line = e.ledger_line()
        read_back = Entry.from_json(json.loads(line), line)
        assert read_back._stored_body() == e.signed_bytes()  # a bundle's lines take it too


def test_after_commit_hooks_see_each_committed_batch(make_case, alice: Identity) -> None:
    """Where an RFC 3161 timestamp of a checkpoint will attach: after the batch is durable."""
    case: CaseHandle = make_case()
    writer = case.writer(alice)
    seen: list[list[int]] = []

    def hook(entries: Sequence[Entry]) -> None:
        # The batch is committed: a fresh reader sees it already.
        stored = {e.seq for e in read_entries(case.sessions, case.case_id)}
        assert {e.seq for e in entries} <= stored
        seen.append([e.seq for e in entries])

    writer.after_commit.append(hook)
    _bulk(case, writer, 3)
    events = [e.event for e in read_entries(case.sessions, case.case_id)]
    assert [events[s - 1] for batch in seen for s in batch] == events[2:]
    assert events[seen[-2][-1] - 1] == "checkpoint" and events[-1] == "run_finished"


def test_a_batch_commits_only_after_the_wait_before_write_returned(
    make_case, alice: Identity
) -> None:
    """``before_write`` may start the archive's sync and return a wait: the writer builds and
    inserts the batch meanwhile, waits before it commits, and keeps the batch queued (nothing
    committed) when the wait fails; the next flush writes it whole."""
    case: CaseHandle = make_case()
    writer = case.writer(alice)
    writer.append(RunStarted(run_id="r", host="h", profile="none", archive="evidence/r.tar"))
    stored = lambda: [e.event for e in read_entries(case.sessions, case.case_id)]  # noqa: E731
    before = len(stored())
    calls: list[str] = []

    def failing_wait() -> None:
        calls.append("wait")
        assert len(stored()) == before  # another reader: the batch is not committed yet
        raise StoreError("evidence disk full: r.tar (sync failed: No space left on device)")

    def start() -> Callable[[], None]:
        calls.append("start")
        return failing_wait

    writer.before_write = start
    for i in range(3):
        writer.append(
            CollectionProblem(run_id="r", collector="files", kind="skipped", reason=f"item {i}")
        )
    with pytest.raises(StoreError, match="sync failed"):
        writer.flush("run end")
    assert calls == ["start", "wait"]
    assert len(stored()) == before  # rolled back

    waited: list[int] = []
    writer.before_write = lambda: lambda: waited.append(len(stored()))
    written = writer.flush("run end")
    assert waited == [before]  # waited once, before the commit
    assert [e.event for e in written] == ["collection_error"] * 3 + ["checkpoint"]
    assert stored()[before:] == ["collection_error"] * 3 + ["checkpoint"]


def test_a_batch_that_fails_before_its_wait_still_waits(make_case, alice: Identity) -> None:
    """A database error while the batch is built: the sync started for it is still waited
    for (the archive is not touched while it runs), and the database error is the one seen."""
    case: CaseHandle = make_case()
    writer = case.writer(alice)
    waited: list[bool] = []

    def wait() -> None:
        waited.append(True)
        raise StoreError("a second failure, hidden by the first")

    writer.before_write = lambda: wait
    writer.append(CollectionProblem(run_id="r", collector="files", kind="error", reason="x"))
    with case.sessions.begin() as session:
        session.execute(text("DROP TABLE collection_errors"))
    with pytest.raises(DatabaseError, match="collection_errors"):
        writer.flush()
    assert waited == [True]
