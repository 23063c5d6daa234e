"""The signed PDF custody report, checked on real PDFs with poppler (pdfsig, pdftotext)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from app.cases import CaseHandle
from app.journal import add_journal_entry, record_transfer
from custody.db.ledger import read_entries
from custody.record.canonical import canonical_json, sha256_hex
from custody.record.entry import Entry
from custody.record.events import parse_payload
from custody.record.keys import Identity
from custody.report.build import build_signed_report, render_report, sign_pdf
from custody.store.archive import RunArchive
from custody.store.storage import LocalEvidenceStore
from custody.verify.case import verify
from custody.verify.findings import Report

pytestmark = pytest.mark.skipif(
    shutil.which("pdfsig") is None or shutil.which("pdftotext") is None,
    reason="poppler-utils (pdfsig, pdftotext) is part of the dev setup: apt-get install poppler-utils",
)

MANIFEST = hashlib.sha256(b"manifest.json of the test bundle").hexdigest()
GENERATED = dt.datetime(2025, 3, 14, 15, 9, 26, tzinfo=dt.UTC)
#: The sections in the order the report gives them (after the cover and the contents).
SECTIONS = (
    "1. Examiner attestation",
    "2. Custody log",
    "3. Collection runs",
    "4. Errors and skips",
    "5. Evidence inventory",
    "6. Integrity",
    "7. Authority and scope",
    "8. Personnel",
    "9. Storage and preservation",
    "10. Time integrity",
    "11. How the record is produced",
    "12. Independent verification",
    "13. Annexes",
)
HEADINGS = (
    "Chain of Custody Report",
    "Contents",
    *SECTIONS,
    "Annex A. Inventory of the artifacts",
    "Annex B. The signed ledger entries",
    "Annex C. Certificates",
)


@dataclass
class Fixture:
    case: CaseHandle
    entries: list[Entry]
    report: Report
    artifacts: list[dict[str, object]]


def system_facts() -> bytes:
    now = time.time_ns()
    facts = {
        "clock": {
            "utc": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
            "utc_ns": f"{now // 10**9}.{now % 10**9:09d}",
            "monotonic_ns": str(time.monotonic_ns()),
        },
        "host": {
            "hostname": "ws-fin-042",
            "fqdn": "ws-fin-042.corp.example",
            "os": "Linux",
            "platform": "Linux-6.1.0-18-amd64-x86_64-with-glibc2.36",
            "kernel": "Linux 6.1.0-18-amd64 #1 SMP Debian 6.1.76-1",
        },
        "time_zone": {"name": "CET", "utc_offset_seconds": 3600},
        "boot": {"boot_time": "2025-03-14T07:58:01.000000Z", "uptime_seconds": 25600.5},
        "users": [{"name": "jdoe", "terminal": "pts/0", "host": "10.0.0.7", "started": "x"}],
        "tool": {"name": "chainproof", "version": "0.1.0", "sha256": "ab" * 32, "pid": os.getpid()},
    }
    return json.dumps(facts, indent=2, sort_keys=True).encode() + b"\n"


def add_run(
    case: CaseHandle,
    identity: Identity,
    files: list[tuple[str, bytes]],
    *,
    problems: int = 2,
    host: str = "ws-fin-042",
) -> list[dict[str, object]]:
    """A collection run as app.collection records it: archive, started, artifacts, errors, finished."""
    run_id = str(uuid.uuid4())
    case.evidence_dir.mkdir(exist_ok=True)
    path = case.evidence_dir / f"{run_id}.tar"
    archive = RunArchive(path)
    writer = case.writer(identity)
    writer.before_write = archive.flush
    profile = {"system": {}, "files": {"targets": ["/etc/**"]}}
    writer.append(
        parse_payload(
            "run_started",
            {
                "run_id": run_id,
                "host": host,
                "profile": "triage",
                "profile_sha256": sha256_hex(canonical_json(profile)),
                "profile_collectors": profile,
                "collectors": ["system", "processes", "files"],
                "archive": f"evidence/{path.name}",
                "command_line": ["chainproof", "collect", str(case.root), "--profile", "triage"],
                "tool": "chainproof",
                "tool_version": "0.1.0",
                "tool_path": "/opt/chainproof",
                "tool_sha256": "ab" * 32,
                "pid": 4242,
                "examiner": identity.fingerprint,
            },
        )
    )
    recorded: list[dict[str, object]] = []
    members = [("volatile/system.json", system_facts(), "system", None)]
    members += [(f"files{p}", data, "files", p) for p, data in files]
    for name, data, collector, source in members:
        m = archive.add_bytes(name, data, mtime_ns=time.time_ns())
        payload: dict[str, object] = {
            "run_id": run_id,
            "collector": collector,
            "kind": "volatile" if source is None else "file",
            "member": m.name,
            "header_offset": m.header_offset,
            "data_offset": m.data_offset,
            "size": m.size,
            "sha256": m.digests.sha256,
            "sha1": m.digests.sha1,
            "md5": m.digests.md5,
        }
        if source is not None:
            payload["path"] = source
        writer.append(parse_payload("artifact_collected", payload))
        recorded.append(payload)
    for i in range(problems):
        kind = "error" if i % 2 == 0 else "skipped"
        writer.append(
            parse_payload(
                "collection_error",
                {
                    "run_id": run_id,
                    "collector": "files",
                    "kind": kind,
                    "reason": "permission denied"
                    if kind == "error"
                    else "FIFO: not a regular file",
                    "path": f"/var/lib/private/item{i}",
                },
            )
        )
    writer.flush("run end")
    writer.before_write = None
    size = archive.close()
    writer.append(
        parse_payload(
            "run_finished",
            {
                "run_id": run_id,
                "status": "finished",
                "reason": "",
                "artifacts": len(members),
                "errors": (problems + 1) // 2,
                "skipped": problems // 2,
                "bytes": sum(len(d) for _, d, _, _ in members),
                "archive": f"evidence/{path.name}",
                "archive_size": size,
                "finished_at": "2025-03-14T15:00:00.000000Z",
            },
        )
    )
    return recorded


def build_case(case: CaseHandle, alice: Identity, bob: Identity, n_files: int = 12) -> Fixture:
    files = [
        (f"/etc/app/conf{i}.yaml", f"setting: {i}\n".encode() * (i + 1)) for i in range(n_files)
    ]
    files.append(("/home/jdoe/" + "very-long-directory-name/" * 6 + "report & <notes>.txt", b"x"))
    artifacts = add_run(case, alice, files)
    add_journal_entry(case, alice, kind="event_reported", text="Suspicious login on ws-fin-042")
    add_journal_entry(
        case, alice, kind="decision", text="Isolate the host", reason="Lateral movement seen"
    )
    record_transfer(
        case, alice, bob, reason="Handover to legal for review", location="Evidence room B"
    )
    entries = list(read_entries(case.sessions, case.case_id))
    report = verify(
        str(case.root),
        entries,
        evidence=LocalEvidenceStore(case.evidence_dir),
        certificate_files=sorted(case.identities_dir.glob("*.pem")),
        case_id=case.case_id,
    )
    return Fixture(case, entries, report, artifacts)


@pytest.fixture
def fixture(make_case, alice: Identity, bob_identity: Identity) -> Fixture:
    case = make_case(
        "Payroll server intrusion",
        incident_ref="INC-2025-0042",
        severity="high",
        organisation="Example Corp",
        legal_basis="Engagement letter 2025-17 (consent of the system owner)",
        requesting_party="Example Corp legal department",
        responsible="C. Counsel",
    )
    return build_case(case, alice, bob_identity)


def report_args(fx: Fixture, identity: Identity) -> dict[str, object]:
    return {
        "entries": fx.entries,
        "verification": fx.report,
        "manifest_sha256": MANIFEST,
        "bundle_id": "bundle-2025-03-14-001",
        "generated_at": GENERATED,
        "evidence": LocalEvidenceStore(fx.case.evidence_dir),
        "identity": identity,
    }


def pdfsig(path: Path) -> str:
    return subprocess.run(["pdfsig", str(path)], capture_output=True, text=True).stdout


def pdftext(path: Path) -> list[str]:
    """The text of each page."""
    out = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    return out.split("\f")[:-1]


def attachments(pdf: Path, into: Path) -> dict[str, bytes]:
    """The files attached to ``pdf`` (``pdfdetach``), by name."""
    listed = subprocess.run(
        ["pdfdetach", "-list", str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    names = [line.split(": ", 1)[1] for line in listed.splitlines()[1:]]
    into.mkdir()
    subprocess.run(["pdfdetach", "-saveall", "-o", str(into), str(pdf)], check=True)
    assert sorted(p.name for p in into.iterdir()) == sorted(names)
    return {name: (into / name).read_bytes() for name in names}


def flip_middle_byte(data: bytes) -> bytes:
    changed = bytearray(data)
    middle = len(changed) // 2
    # Change a byte inside the signed ranges, not the signature's own hex placeholder.
    contents = re.search(rb"/Contents\s*<[0-9a-fA-F]+>", data)
    if contents is not None and contents.start() <= middle < contents.end():
        middle = contents.start() - 100
    changed[middle] ^= 0x01
    return bytes(changed)


def test_signed_report_is_valid_and_tamper_evident(
    fixture: Fixture, alice: Identity, tmp_path: Path
) -> None:
    assert fixture.report.ok, fixture.report.render()
    out = tmp_path / "custody-report.pdf"
    build_signed_report(**report_args(fixture, alice), out=out)
    text = pdfsig(out)
    assert "Signature Validation: Signature is Valid." in text, text
    assert "Total document signed" in text
    assert "Alice Examiner" in text
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(flip_middle_byte(out.read_bytes()))
    assert "Digest Mismatch." in pdfsig(tampered)


def test_report_text_has_every_section_page_numbers_and_hashes(
    fixture: Fixture, alice: Identity, tmp_path: Path
) -> None:
    out = tmp_path / "custody-report.pdf"
    build_signed_report(**report_args(fixture, alice), out=out)
    pages = pdftext(out)
    whole = "\n".join(pages)
    flat = re.sub(r"\s+", " ", whole)
    for heading in HEADINGS:
        assert heading in flat, heading
    n = len(pages)
    for i, page in enumerate(pages, start=1):
        assert f"page {i} of {n}" in page, f"page {i}"
        assert MANIFEST in page, f"manifest hash missing on page {i}"
        assert fixture.case.case_id in page, f"case id missing on page {i}"
    # The sections come in order, each once as a heading after the contents page.
    body = re.sub(r"\s+", " ", "\n".join(pages[2:]))
    places = [body.find(f"{title} ") for title in SECTIONS]
    assert -1 not in places and places == sorted(places), places
    # Every artifact's three hashes are in the inventory attached to the PDF, not its pages.
    attached = attachments(out, tmp_path / "attached")
    rows = {r["member"]: r for r in map(json.loads, attached["inventory.jsonl"].splitlines())}
    for art in fixture.artifacts:
        for algo in ("sha256", "sha1", "md5"):
            assert rows[art["member"]][algo] == art[algo], (algo, art["member"])
            if art["collector"] == "files":  # the system facts' SHA-256 is in section 3
                assert str(art[algo]) not in whole
    assert "VERIFIED" in whole
    # Authority, personnel, incident, journal, transfer, errors, system facts
    for fact in (
        "Engagement letter 2025-17",
        "Example Corp legal department",
        "not recorded",  # scope was not given
        "INC-2025-0042",
        "Bob Receiver",
        alice.fingerprint,
        "Suspicious login on ws-fin-042",
        "event_reported",
        "Lateral movement seen",
        "Evidence room B",
        "permission denied",
        "FIFO: not a regular file",
        "ws-fin-042.corp.example",
        "monotonic",
        "BEGIN CERTIFICATE",
        "sha256sum --strict -c SHA256SUMS",
        "pdfsig custody-report.pdf",
        "Declaration of counsel",
    ):
        assert fact in flat, fact
    # Every signed entry's full hash is in Annex B.
    for e in fixture.entries:
        if e.signatures:
            assert e.entry_hash in whole, e.seq


def test_rsa_identity_signs_valid(fixture: Fixture, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Rita Rsa"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Legal"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    rita = Identity(key=key, certificate=cert)
    out = tmp_path / "rsa.pdf"
    build_signed_report(**report_args(fixture, rita), out=out)
    text = pdfsig(out)
    assert "Signature is Valid." in text and "Rita Rsa" in text, text
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(flip_middle_byte(out.read_bytes()))
    assert "Digest Mismatch." in pdfsig(tampered)


def test_failed_verification_shows_failed_and_findings(
    fixture: Fixture, alice: Identity, tmp_path: Path
) -> None:
    archive = next(fixture.case.evidence_dir.glob("*.tar"))
    data = bytearray(archive.read_bytes())
    target = next(a for a in fixture.artifacts if str(a["member"]).endswith("conf3.yaml"))
    data[int(str(target["data_offset"]))] ^= 0x20
    archive.chmod(0o644)
    archive.write_bytes(bytes(data))
    report = verify(
        "tampered", fixture.entries, evidence=LocalEvidenceStore(fixture.case.evidence_dir)
    )
    assert not report.ok
    fixture.report = report
    out = tmp_path / "failed.pdf"
    build_signed_report(**report_args(fixture, alice), out=out)
    flat = re.sub(r"\s+", " ", "\n".join(pdftext(out)))
    assert f"FAILED - {len(report.findings)} problem(s)" in flat
    assert "VERIFIED" not in flat
    for finding in report.findings:
        assert finding.code in flat
        assert re.sub(r"\s+", " ", finding.message)[:60] in flat
    assert "Signature is Valid." in pdfsig(out)


def test_unsigned_render_and_sign_pdf(fixture: Fixture, alice: Identity, tmp_path: Path) -> None:
    pdf = render_report(**report_args(fixture, alice))
    assert pdf.startswith(b"%PDF-")
    unsigned = tmp_path / "unsigned.pdf"
    unsigned.write_bytes(pdf)
    assert "Signature is Valid." not in pdfsig(unsigned)
    signed = tmp_path / "signed.pdf"
    signed.write_bytes(sign_pdf(pdf, alice))
    assert "Signature is Valid." in pdfsig(signed)


def test_missing_archive_and_naive_time_are_handled(
    fixture: Fixture, alice: Identity, tmp_path: Path
) -> None:
    for tar in fixture.case.evidence_dir.glob("*.tar"):
        tar.chmod(0o644)
        tar.unlink()
    args = report_args(fixture, alice)
    pdf = render_report(**args)
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)
    flat = re.sub(r"\s+", " ", "\n".join(pdftext(path)))
    assert "not available to read the system facts" in flat
    assert "missing" in flat
    with pytest.raises(ValueError, match="timezone-aware"):
        render_report(**{**args, "generated_at": dt.datetime(2025, 1, 1)})


def test_case_without_runs_renders(make_case, alice: Identity, tmp_path: Path) -> None:
    case: CaseHandle = make_case("Empty case")
    entries = list(read_entries(case.sessions, case.case_id))
    report = verify(
        "empty", entries, evidence=LocalEvidenceStore(case.evidence_dir), case_id=case.case_id
    )
    out = tmp_path / "empty.pdf"
    build_signed_report(
        entries=entries,
        verification=report,
        manifest_sha256=MANIFEST,
        bundle_id="b",
        generated_at=GENERATED,
        evidence=LocalEvidenceStore(case.evidence_dir),
        identity=alice,
        out=out,
    )
    assert "Signature is Valid." in pdfsig(out)
    flat = re.sub(r"\s+", " ", "\n".join(pdftext(out)))
    assert "No collection run is recorded" in flat
    assert "No artifact is recorded" in flat
    assert "Legal basis not recorded" in flat
