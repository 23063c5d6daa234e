"""A signed report is checked as a whole file: one signature, intact, over every byte.

Each kind of change a reader of the PDF alone could be fooled by is made for real (an
incremental update written by pyHanko, appended bytes, a changed byte, a second signature,
a signature by someone else) and must be a finding, from the library and from
``chainproof verify FILE.pdf``; poppler's ``pdfsig`` is run beside it to show what the
VERIFY.md step relies on.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from reportlab.pdfgen.canvas import Canvas

from custody.record.keys import Identity
from custody.report.sign import sign_pdf, signer_for
from custody.report.signed_pdf import check_signed_pdf
from custody.verify.findings import Report

CLI = [sys.executable, "-m", "app"]


def plain_pdf() -> bytes:
    out = io.BytesIO()
    c = Canvas(out)
    c.drawString(72, 720, "Chain of custody report")
    c.showPage()
    c.save()
    return out.getvalue()


@pytest.fixture(scope="module")
def signed(alice_identity: Identity) -> bytes:
    return sign_pdf(plain_pdf(), alice_identity)


def incremental_update(pdf: bytes) -> bytes:
    """A genuine incremental update: the document catalogue changed after signing."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    writer.root["/PageMode"] = generic.NameObject("/UseOutlines")
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def check(pdf: bytes, signers: dict[str, str] | None = None) -> tuple[Report, object]:
    report = Report("test")
    return report, check_signed_pdf(io.BytesIO(pdf), "report.pdf", report, signers=signers)


def codes(report: Report) -> list[str]:
    return [f.code for f in report.findings]


def pdfsig(tmp_path: Path, pdf: bytes) -> str:
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdfsig", str(path)], capture_output=True, text=True).stdout


def test_an_untouched_report_passes(signed: bytes, alice_identity: Identity) -> None:
    report, sig = check(signed, {alice_identity.fingerprint: alice_identity.name})
    assert report.ok, report.findings
    assert sig is not None
    assert sig.fingerprint == alice_identity.fingerprint
    assert sig.signer == "Alice Examiner"
    assert sig.covered == sig.size == len(signed)


def test_an_incremental_update_is_found_though_pdfsig_says_valid(
    signed: bytes, tmp_path: Path
) -> None:
    updated = incremental_update(signed)
    assert updated.startswith(signed) and len(updated) > len(signed)
    report, _ = check(updated)
    assert codes(report) == ["report.appended"]
    assert f"{len(updated) - len(signed):,} bytes after its signed range" in str(report.findings[0])
    said = pdfsig(tmp_path, updated)
    # Why VERIFY.md asks for "Total document signed": the validity line alone still passes.
    assert "Signature is Valid." in said and "Not total document signed" in said
    assert "Total document signed" in pdfsig(tmp_path, signed).replace("Not total", "")


def test_appended_bytes_are_found(signed: bytes) -> None:
    report, _ = check(signed + b"\n% not signed\n")
    assert codes(report) == ["report.appended"]


def test_a_changed_byte_is_found(signed: bytes) -> None:
    at = signed.index(b"stream") + 20  # inside the first page's (compressed) content
    damaged = bytearray(signed)
    damaged[at] ^= 0x01
    report, _ = check(bytes(damaged))
    assert codes(report) == ["report.signature_invalid"]
    assert "changed after it was signed" in str(report.findings[0])


def test_a_second_signature_is_found(signed: bytes, bob_identity: Identity) -> None:
    meta = signers.PdfSignatureMetadata(field_name="Countersignature", md_algorithm="sha256")
    out = io.BytesIO()
    signers.PdfSigner(meta, signer_for(bob_identity)).sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(signed)), output=out
    )
    twice = out.getvalue()
    report, _ = check(twice)
    assert set(codes(report)) == {"report.signatures", "report.appended"}


def test_a_report_signed_by_someone_else_is_found(
    bob_identity: Identity, alice_identity: Identity
) -> None:
    report, sig = check(
        sign_pdf(plain_pdf(), bob_identity), {alice_identity.fingerprint: alice_identity.name}
    )
    assert codes(report) == ["report.signer_unknown"]
    assert sig is not None and sig.fingerprint == bob_identity.fingerprint


def test_unsigned_and_non_pdf_files_are_findings() -> None:
    report, sig = check(plain_pdf())
    assert codes(report) == ["report.unsigned"] and sig is None
    report, sig = check(b"PK\x03\x04 not a pdf")
    assert codes(report) == ["report.not_pdf"] and sig is None
    report, sig = check(b"%PDF-1.7\n" + bytes(range(256)) * 8)
    assert codes(report) == ["report.unreadable"] and sig is None


def test_chainproof_verify_takes_a_report_pdf_alone(
    signed: bytes, tmp_path: Path, alice_identity: Identity, bob_identity: Identity
) -> None:
    good = tmp_path / "custody-report.pdf"
    good.write_bytes(signed)
    r = subprocess.run([*CLI, "verify", str(good)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert alice_identity.fingerprint in r.stdout and "RESULT: VERIFIED" in r.stdout
    assert "--trust" in r.stdout  # says the signer's identity is the reader's to check

    bob_pem = tmp_path / "bob.pem"
    bob_pem.write_text(bob_identity.certificate_pem())
    r = subprocess.run(
        [*CLI, "verify", str(good), "--trust", str(bob_pem)], capture_output=True, text=True
    )
    assert r.returncode == 6 and "not an examiner of this record" in r.stdout, r.stdout

    updated = tmp_path / "updated.pdf"
    updated.write_bytes(incremental_update(signed))
    r = subprocess.run([*CLI, "verify", str(updated), "--json"], capture_output=True, text=True)
    assert r.returncode == 6, r.stdout + r.stderr
    assert '"code": "report.appended"' in r.stdout
