"""Each kind of tampering is caught, and the verifier names the exact problem."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import tarfile
from io import BytesIO
from pathlib import Path

import pytest
from sqlalchemy import text

from app.cases import CaseHandle
from app.cli import main
from app.verification import verify_case
from custody.db.ledger import drop_guards_for_tests, read_entries
from custody.record.entry import make_entry
from custody.record.events import ArtifactCollected, parse
from custody.record.keys import certificate_pem, create_identity
from custody.verify.findings import Report


def _codes(report: Report) -> set[str]:
    return {f.code for f in report.findings}


def _artifact(case: CaseHandle, member_suffix: str) -> dict:
    """The artifact entry whose member name ends with ``member_suffix``: its seq, its stored
    payload, and where its member lies."""
    for e in read_entries(case.sessions, case.case_id, events=["artifact_collected"]):
        a = parse(e)
        assert isinstance(a, ArtifactCollected)
        if a.member.name.endswith(member_suffix):
            m = a.member
            return {
                "seq": e.seq,
                "payload": dict(e.payload),
                "member": m.name,
                "header_offset": m.header_offset,
                "data_offset": m.data_offset,
                "size": m.size,
            }
    raise AssertionError(member_suffix)


def _raw(case: CaseHandle, *statements: str) -> None:
    with case.sessions.begin() as s:
        drop_guards_for_tests(s)
        for stmt in statements:
            s.execute(text(stmt))


def _writable(archive: Path) -> None:
    archive.chmod(0o644)


def test_intact_case_verifies(collected_case) -> None:
    case, _, _ = collected_case()
    report = verify_case(case)
    assert report.ok, report.render()
    assert report.artifacts == 5  # four files and system.json


def test_flipped_byte_in_archive(collected_case) -> None:
    case, run, _ = collected_case()
    art = _artifact(case, "b/c.bin")
    _writable(run.archive)
    with open(run.archive, "r+b") as f:
        f.seek(art["data_offset"] + 1234)
        b = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([b[0] ^ 0x01]))
    report = verify_case(case)
    [finding] = [f for f in report.findings if f.code == "artifact.sha256"]
    assert finding.seq == art["seq"]
    assert "b/c.bin" in finding.where and "altered" in finding.message


def _member_block(archive: Path, art: dict) -> tuple[int, int]:
    end = art["data_offset"] + (art["size"] + 511) // 512 * 512
    return art["header_offset"], end


def test_member_removed_from_archive(collected_case) -> None:
    case, run, _ = collected_case()
    art = _artifact(case, "/a.txt")
    start, end = _member_block(run.archive, art)
    data = run.archive.read_bytes()
    _writable(run.archive)
    run.archive.write_bytes(data[:start] + data[end:])
    report = verify_case(case)
    missing = [f for f in report.findings if f.code == "archive.missing_member"]
    assert any(f.seq == art["seq"] and "removed" in f.message for f in missing)
    assert "archive.size" in _codes(report)


def test_member_added_to_archive(collected_case) -> None:
    case, run, _ = collected_case()
    data = run.archive.read_bytes()
    end = len(data) - 1024  # before the two zero blocks that end the archive
    assert data[end:] == b"\0" * 1024
    buf = BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("files/planted/evidence.txt")
        payload = b"planted\n"
        info.size = len(payload)
        tf.addfile(info, BytesIO(payload))
    planted = buf.getvalue().rstrip(b"\0")
    planted += b"\0" * (-len(planted) % 512)
    _writable(run.archive)
    run.archive.write_bytes(data[:end] + planted + b"\0" * 1024)
    report = verify_case(case)
    added = [f for f in report.findings if f.code == "archive.added_member"]
    assert len(added) == 1 and "files/planted/evidence.txt" in added[0].message
    assert "archive.size" in _codes(report)


def test_ledger_entry_edited(collected_case) -> None:
    case, _, _ = collected_case()
    art = _artifact(case, "/e.txt")
    payload = art["payload"]
    payload["source"] = {**payload["source"], "path": "/somewhere/else.txt"}
    body = json.dumps(payload).replace("'", "''")
    _raw(case, f"UPDATE ledger_entries SET payload = '{body}' WHERE seq = {art['seq']}")
    report = verify_case(case)
    edited = [f for f in report.findings if f.code == "chain.entry_hash"]
    assert [f.seq for f in edited] == [art["seq"]]
    assert f"entry {art['seq']}" == edited[0].where and "edited" in edited[0].message


def test_ledger_entry_deleted(collected_case) -> None:
    case, _, _ = collected_case()
    art = _artifact(case, "/a.txt")
    _raw(case, f"DELETE FROM ledger_entries WHERE seq = {art['seq']}")
    report = verify_case(case)
    prev = [f for f in report.findings if f.code == "chain.prev_hash"]
    assert prev and prev[0].seq == art["seq"] + 1
    assert any(f.code == "chain.seq" for f in report.findings)


def test_ledger_entries_reordered(collected_case) -> None:
    case, _, _ = collected_case()
    a = _artifact(case, "/a.txt")["seq"]
    b = a + 1
    _raw(
        case,
        f"UPDATE ledger_entries SET seq = -1 WHERE seq = {a}",
        f"UPDATE ledger_entries SET seq = {a} WHERE seq = {b}",
        f"UPDATE ledger_entries SET seq = {b} WHERE seq = -1",
    )
    report = verify_case(case)
    # seq is part of each signed body: both moved entries fail their hash, and the links break.
    assert {f.seq for f in report.findings if f.code == "chain.entry_hash"} == {a, b}
    assert {f.seq for f in report.findings if f.code == "chain.prev_hash"} >= {a, b}


def test_ledger_entry_inserted(collected_case, alice) -> None:
    case, _, _ = collected_case()
    target = _artifact(case, "/a.txt")["seq"]
    entries = {e.seq: e for e in read_entries(case.sessions, case.case_id)}
    last = max(entries)
    prev = entries[target - 1]
    forged = make_entry(
        case.case_id,
        target,
        prev.at,
        prev.actor,
        "collection_error",
        {"run_id": "x", "kind": "error", "reason": "nothing to see"},
        prev.entry_hash,
    )
    stmts = [
        f"UPDATE ledger_entries SET seq = seq + 1000 WHERE seq >= {target}",
        f"UPDATE ledger_entries SET seq = seq - 999 WHERE seq >= {target + 1000}",
    ]
    stmts.append(
        "INSERT INTO ledger_entries (case_id, seq, at, actor, event, payload, prev_hash, entry_hash) "
        f"VALUES ('{case.case_id}', {target}, '{forged.at}', '{forged.actor}', 'collection_error', "
        f"'{json.dumps(dict(forged.payload))}', '{forged.prev_hash}', '{forged.entry_hash}')"
    )
    _raw(case, *stmts)
    report = verify_case(case)
    codes = _codes(report)
    # The entries after the insertion changed seq: their hashes and signatures no longer hold.
    assert "chain.entry_hash" in codes and "signature.invalid" in codes
    assert any(f.code == "chain.prev_hash" and f.seq == target + 1 for f in report.findings)
    assert len(list(read_entries(case.sessions, case.case_id))) == last + 1


def test_tail_truncated(collected_case) -> None:
    case, run, _ = collected_case()
    entries = list(read_entries(case.sessions, case.case_id))
    finished = next(e.seq for e in entries if e.event == "run_finished")
    cut_from = finished - 1  # the run-end checkpoint and run_finished
    assert entries[cut_from - 1].event == "checkpoint"
    _raw(case, f"DELETE FROM ledger_entries WHERE seq >= {cut_from}")
    report = verify_case(case)
    codes = _codes(report)
    assert "run.incomplete" in codes and "coverage.tail" in codes
    tail = next(f for f in report.findings if f.code == "coverage.tail")
    assert "truncated" in tail.message
    incomplete = next(f for f in report.findings if f.code == "run.incomplete")
    assert run.run_id in incomplete.where


def test_whole_run_removed_while_archive_remains(collected_case) -> None:
    case, run, _ = collected_case()
    _raw(
        case,
        f"DELETE FROM ledger_entries WHERE payload LIKE '%{run.run_id}%'",
        f"DELETE FROM artifacts WHERE run_id = '{run.run_id}'",
    )
    report = verify_case(case)
    orphan = [f for f in report.findings if f.code == "archive.orphan"]
    assert len(orphan) == 1 and run.archive.name in orphan[0].where
    assert "chain.prev_hash" in _codes(report) or "chain.seq" in _codes(report)


def test_signature_made_with_another_key(collected_case) -> None:
    case, _, _ = collected_case()
    mallory = create_identity("Mallory", "Nowhere", "m@example.org")
    note = next(e for e in read_entries(case.sessions, case.case_id) if e.event == "run_started")
    forged = base64.b64encode(mallory.sign(note.signed_bytes())).decode()
    sigs = json.dumps([{"by": note.signatures[0].by, "sig": forged}])
    _raw(case, f"UPDATE ledger_entries SET signatures = '{sigs}' WHERE seq = {note.seq}")
    report = verify_case(case)
    bad = [f for f in report.findings if f.code == "signature.invalid"]
    assert [f.seq for f in bad] == [note.seq]
    assert "another key" in bad[0].message
    assert "signature.missing" in _codes(report)


def test_swapped_certificate(collected_case, alice) -> None:
    case, _, _ = collected_case()
    mallory = create_identity("Alice Examiner", "Example Forensics", "alice@example.org")
    (case.identities_dir / f"{alice.fingerprint}.pem").write_text(
        certificate_pem(mallory.certificate)
    )
    report = verify_case(case)
    [swapped] = [f for f in report.findings if f.code == "certificate.swapped"]
    assert alice.fingerprint in swapped.where and "swapped" in swapped.message


def test_index_disagrees_with_ledger(collected_case) -> None:
    case, _, _ = collected_case()
    art = _artifact(case, "/a.txt")
    _raw(case, f"UPDATE artifacts SET sha256 = '{'0' * 64}' WHERE seq = {art['seq']}")
    report = verify_case(case)
    [finding] = [f for f in report.findings if f.code == "index.mismatch"]
    assert finding.seq == art["seq"]
    assert finding.where == f"table artifacts, entry {art['seq']}"
    assert finding.message.startswith("column sha256: the index says")


@pytest.mark.parametrize("who", ["trusted", "untrusted"])
def test_trusted_signers(collected_case, alice, who) -> None:
    case, _, _ = collected_case()
    other = create_identity("Someone", "Else", "s@example.org")
    report = verify_case(
        case, trusted=[alice.certificate if who == "trusted" else other.certificate]
    )
    assert report.ok == (who == "trusted")


# --- every byte of the archive, through `chainproof verify` -----------------------------

#: ustar fields as (offset in the header block, width) and a value an adversary writes.
USTAR_EDITS = {
    "mode": (100, 8, b"0004755\0"),
    "uid": (108, 8, b"0001750\0"),
    "gid": (116, 8, b"0001750\0"),
    "mtime": (136, 12, b"14000000000\0"),
    "typeflag": (156, 1, b"1"),
    "linkname": (157, 100, b"/etc/shadow".ljust(100, b"\0")),
    "uname": (265, 32, b"mallory".ljust(32, b"\0")),
    "gname": (297, 32, b"wheel".ljust(32, b"\0")),
    "devmajor": (329, 8, b"0000010\0"),
}


def _patch_ustar(archive: Path, art: dict, at: int, value: bytes) -> None:
    """Rewrite one ustar field of the member's header and recompute the header checksum,
    as an adversary with a hex editor and a tar manual would."""
    base = art["data_offset"] - 512
    data = bytearray(archive.read_bytes())
    data[base + at : base + at + len(value)] = value
    block = data[base : base + 512]
    block[148:156] = b" " * 8
    data[base + 148 : base + 156] = b"%06o\0 " % sum(block)
    _writable(archive)
    archive.write_bytes(bytes(data))


def _cli_verify(case: CaseHandle) -> tuple[int, str, list[dict]]:
    """``chainproof verify CASE`` and ``--json``: exit code, text, findings."""
    text, doc = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(text):
        code = main(["verify", str(case.root)])
    with contextlib.redirect_stdout(doc):
        main(["verify", str(case.root), "--json"])
    return code, text.getvalue(), json.loads(doc.getvalue())["findings"]


@pytest.mark.parametrize("field", sorted(USTAR_EDITS))
def test_each_header_field_edit_is_named(collected_case, field: str) -> None:
    case, run, _ = collected_case()
    art = _artifact(case, "/e.txt")
    at, _width, value = USTAR_EDITS[field]
    _patch_ustar(run.archive, art, at, value)
    code, text, findings = _cli_verify(case)
    assert code == 6
    assert f"header field ustar {field} differs from the record" in text
    named = [f for f in findings if f"ustar {field} " in f["message"]]
    assert named and named[0]["code"] == "archive.header" and named[0]["seq"] == art["seq"]
    assert named[0]["where"] == f"artifact {art['member']} (entry {art['seq']})"


def test_pax_record_edit_is_named(collected_case) -> None:
    case, run, _ = collected_case()
    art = _artifact(case, "/e.txt")
    data = bytearray(run.archive.read_bytes())
    pax = data[art["header_offset"] + 512 : art["data_offset"] - 512]
    at = art["header_offset"] + 512 + pax.index(b" mtime=") + len(b" mtime=")
    data[at] = ord("1") if data[at] != ord("1") else ord("2")  # same length, another time
    _writable(run.archive)
    run.archive.write_bytes(bytes(data))
    code, text, findings = _cli_verify(case)
    assert code == 6 and "header field pax mtime differs from the record" in text
    assert {f["code"] for f in findings} == {"archive.header", "archive.header_digest"}


def test_text_in_padding_and_bytes_between_members_are_named(collected_case) -> None:
    case, run, _ = collected_case()
    art = _artifact(case, "/a.txt")  # 6 bytes of data: 506 bytes of padding after them
    data = bytearray(run.archive.read_bytes())
    pad = art["data_offset"] + art["size"]
    data[pad : pad + 8] = b"#!/bin/s"
    _start, end = _member_block(run.archive, art)
    data[end:end] = b"\0" * 511 + b"x"  # a block between this member and the next
    _writable(run.archive)
    run.archive.write_bytes(bytes(data))
    code, text, findings = _cli_verify(case)
    assert code == 6
    assert f"artifact {art['member']} (entry {art['seq']}): the zero padding" in text
    by_code = {f["code"]: f for f in findings}
    assert by_code["archive.padding"]["seq"] == art["seq"]
    assert f"512 bytes at offset {end}" in by_code["archive.gap"]["message"]


def test_forced_export_past_an_entry_with_no_canonical_form(
    collected_case, alice, tmp_path: Path
) -> None:
    """A lone surrogate escaped into a payload (``\\ud800``: not UTF-8, so no canonical form,
    never written by us) is an edit that verification names. An export forced past it
    completes without a traceback, and verifying its bundle names the same entry."""
    from app.export_service import export_case
    from custody.bundle.verify import verify_bundle_dir

    case, _, _ = collected_case()
    seq = _artifact(case, "/e.txt")["seq"]
    _raw(
        case,
        "UPDATE ledger_entries SET payload = replace(payload, '/e.txt\"', '/e.txt\\ud800\"') "
        f"WHERE seq = {seq}",
    )
    assert "\\ud800" in next(read_entries(case.sessions, case.case_id, seqs=[seq])).stored_payload
    report = verify_case(case)
    assert seq in {f.seq for f in report.findings if f.code == "chain.entry_hash"}
    result = export_case(case, alice, tmp_path / "bundle", force=True)
    assert not result.verified
    line = (tmp_path / "bundle" / "ledger.jsonl").read_bytes().splitlines()[seq - 1]
    assert b"\\ud800" in line and json.loads(line)["seq"] == seq
    bundle = verify_bundle_dir(tmp_path / "bundle")
    assert seq in {f.seq for f in bundle.findings if f.code == "chain.entry_hash"}
