"""11. How the record is produced, and 12. Independent verification: the method in words a
902(13)-style certification can cite, and the commands that check it without Chainproof."""

from __future__ import annotations

from reportlab.platypus import Flowable, KeepTogether, Paragraph

from custody.db.ledger import CHECKPOINT_EVERY, CHECKPOINT_SECONDS
from custody.record.events import IdentityAdded
from custody.report.inventory import INVENTORY_CSV, INVENTORY_JSONL
from custody.report.model import ReportModel
from custody.report.pdf.page import INDEPENDENT, INVENTORY, METHOD, PERSONNEL, body, heading
from custody.report.pdf.styles import Styles
from custody.report.pdf.text import HOW_SHOWN, para_text

HOW = (
    "Each ledger entry holds: format version, case ID, sequence number, UTC time, actor "
    "(the SHA-256 fingerprint of the examiner's certificate), event, payload and the "
    "hash of the previous entry (the first entry's previous hash is 64 zeros).",
    "An entry's hash is the SHA-256 of the canonical JSON (RFC 8785, JSON Canonicalization "
    "Scheme) of those fields. Because every entry contains the hash of the one before, "
    "changing, deleting, inserting or reordering any entry changes every later hash.",
    "The ledger is append-only: the database refuses UPDATE and DELETE on the ledger table "
    "by triggers (SQLite and PostgreSQL). Appends lock the case record so that concurrent "
    "writers cannot fork the chain.",
    "Every act of a person (case opened, identity added, run started and finished, note, "
    "decision, transfer, access, export, seal, verification) is signed on its own with "
    "ECDSA P-256 over SHA-256 (or RSA PKCS#1 v1.5 with SHA-256 for an imported RSA "
    "identity). The signature covers the same canonical bytes that the entry hash covers.",
    "Artifact and error entries are covered by signed checkpoints, written at most "
    f"{CHECKPOINT_EVERY:,} entries and {CHECKPOINT_SECONDS:g} second apart and at the end "
    "of each run. A checkpoint names the head hash it follows; since the entries are "
    "chained, its signature commits to every entry before it.",
    "Each file is read once: the bytes are written into the run archive and hashed with "
    "SHA-256, SHA-1 and MD5 in the same pass. The ledger records each artifact's archive "
    "offset, size and hashes, and its source metadata.",
    "The examiner's private key and self-signed X.509 certificate are kept in a "
    "passphrase-protected PKCS#12 file (PBES2, AES-256, 600,000 PBKDF2-SHA256 rounds); "
    "no private key is part of a case or a bundle. The certificates are in the ledger "
    f"({IdentityAdded.EVENT} entries) and in the bundle (certs/).",
    "Verification recomputes every entry hash and chain link, checks every signature "
    "against the certificate recorded in the ledger, checks that every entry is covered "
    "by a later valid signature, and re-hashes every artifact from the archives.",
    "This report is generated from the ledger entries and the verification result and "
    "signed by the examiner with the same key (PAdES B-B).",
)


def how(m: ReportModel, s: Styles) -> list[Flowable]:
    """The method, point by point."""
    story = heading(s, METHOD, "How the record is produced")
    for point in (*HOW, HOW_SHOWN):
        story.append(Paragraph(para_text(point), s.bullet, bulletText="•"))
    return story


def independent(m: ReportModel, s: Styles) -> list[Flowable]:
    """Each check: what it shows, the command, and its expected output."""
    story = heading(s, INDEPENDENT, "Independent verification")
    story.append(
        body(
            s,
            "These checks need only coreutils, OpenSSL and poppler-utils (or any PDF reader "
            "that validates signatures), run in the unpacked bundle directory. Expected "
            "output follows each command.",
        )
    )
    for title, command, expected in _steps(m):
        story.append(
            KeepTogether(
                [
                    Paragraph(para_text(title), s.h3),
                    Paragraph(para_text(command, lines=True), s.code),
                    Paragraph("Expected: " + para_text(expected, lines=True), s.small),
                ]
            )
        )
    story.append(
        body(
            s,
            "VERIFY.md in the bundle gives these steps for every examiner and every signed "
            "entry. Where Chainproof is at hand, 'chainproof verify BUNDLE' performs every "
            "check at once and reports each failure by entry and artifact.",
        )
    )
    return story


def _steps(m: ReportModel) -> list[tuple[str, str, str]]:
    fp = m.examiner.fingerprint
    return [
        (
            "The bundle is the one this report names",
            "sha256sum manifest.json",
            f"{m.manifest_sha256}  manifest.json",
        ),
        (
            "No file of the bundle was changed, added or lost",
            "sha256sum --strict -c SHA256SUMS",
            "one line per file ending in ': OK'; exit status 0",
        ),
        (
            f"The examiner's certificate is the one in section {PERSONNEL}",
            f"openssl x509 -in certs/{fp}.pem -noout -fingerprint -sha256",
            "sha256 Fingerprint=" + ":".join(fp[i : i + 2].upper() for i in range(0, 64, 2)),
        ),
        (
            "Extract the examiner's public key",
            f"openssl x509 -in certs/{fp}.pem -noout -pubkey > examiner.pub.pem",
            "(no output; examiner.pub.pem holds the public key)",
        ),
        (
            "The manifest and the checksum list were signed by that examiner "
            "(signature files are DER)",
            "openssl dgst -sha256 -verify examiner.pub.pem -signature manifest.json.sig "
            "manifest.json\n"
            "openssl dgst -sha256 -verify examiner.pub.pem -signature SHA256SUMS.sig SHA256SUMS",
            "Verified OK (once for each command)",
        ),
        (
            "A ledger entry was signed by its examiner (SEQ: the entry's sequence number; "
            "signatures/SEQ.json holds the exact signed bytes)",
            "openssl dgst -sha256 -verify examiner.pub.pem -signature signatures/SEQ-1.sig "
            "signatures/SEQ.json\n"
            "sha256sum signatures/SEQ.json",
            "Verified OK; the SHA-256 equals the entry hash of SEQ in Annex B",
        ),
        (
            "The evidence archives hold the recorded members",
            "mkdir x && tar xf evidence/RUN.tar -C x\n"
            "(cd x && sha256sum --strict -c ../evidence/RUN.sha256)",
            "one line per member ending in ': OK'",
        ),
        (
            "The inventory files are the ones this report names and carries",
            f"sha256sum {INVENTORY_CSV} {INVENTORY_JSONL}\n"
            "pdfdetach -list custody-report.pdf\n"
            "mkdir att && pdfdetach -saveall -o att custody-report.pdf && "
            f"cmp att/{INVENTORY_CSV} {INVENTORY_CSV} && cmp att/{INVENTORY_JSONL} {INVENTORY_JSONL}",
            f"the SHA-256 values of section {INVENTORY}.1; 2 embedded files, {INVENTORY_CSV} and "
            f"{INVENTORY_JSONL}; cmp prints nothing (the attached copies are the bundle's files)",
        ),
        (
            "This PDF is signed and unchanged since signing",
            "pdfsig custody-report.pdf",
            "Total document signed\n"
            "Signature Validation: Signature is Valid.\n"
            "Certificate Validation: Certificate issuer is unknown.  (self-signed certificate)\n"
            "After any change to the file: Signature Validation: Digest Mismatch.\n"
            "After bytes were added (an incremental update a reader shows instead of the "
            "signed pages): Not total document signed",
        ),
    ]
