"""Checking a signed custody report: one examiner signature, intact, covering every byte.

A PDF can be changed after signing by an *incremental update*: new objects appended after
the signed bytes, which a reader shows in place of the signed ones. The signature then
still validates over its own byte range, and poppler's ``pdfsig`` still prints "Signature
is Valid." (with "Not total document signed" below it). So a report passes here only when
its signature covers the file from its first byte to its last; anything after the signed
range is a finding that says how many bytes it is.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from custody.report.pdf.text import visible
from custody.verify.findings import Report

__all__ = ["ReportSignature", "check_signed_pdf"]

#: pyHanko logs each self-signed certificate's failed path search with a traceback; the
#: trust question is answered here, by fingerprint, so those logs say nothing we use.
_QUIET = ("pyhanko", "pyhanko_certvalidator")


@dataclass(frozen=True)
class ReportSignature:
    """What the report's one signature says, once its bytes check out."""

    signer: str
    fingerprint: str  # SHA-256 of the signing certificate, lower-case hex
    signed_at: str | None  # the signing time the signature states (ISO 8601), if any
    size: int  # bytes in the file
    covered: int  # bytes the signature covers (all of them when nothing was appended)


def check_signed_pdf(
    stream: BinaryIO,
    where: str,
    report: Report,
    *,
    signers: Mapping[str, str] | None = None,
) -> ReportSignature | None:
    """Check the signed PDF in ``stream`` (seekable), adding findings at ``where``.

    ``signers`` maps the certificate fingerprints allowed to have signed it to names (the
    examiners of the case, or the certificates the reader trusts); ``None`` accepts any
    signer, whose fingerprint the caller shows. Returns the signature's facts, or ``None``
    when there is no single readable signature.
    """
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    if stream.read(5) != b"%PDF-":
        report.add("report.not_pdf", where, "is not a PDF file")
        return None
    previous = {name: logging.getLogger(name).level for name in _QUIET}
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        return _check(stream, size, where, report, signers)
    finally:
        for name, level in previous.items():
            logging.getLogger(name).setLevel(level)


def _check(
    stream: BinaryIO,
    size: int,
    where: str,
    report: Report,
    signers: Mapping[str, str] | None,
) -> ReportSignature | None:
    try:
        reader = PdfFileReader(stream, strict=False)
        found = reader.embedded_signatures
    except Exception as exc:  # noqa: BLE001 (a damaged file fails in pyHanko in many ways)
        report.add("report.unreadable", where, f"cannot be read as a PDF: {exc}")
        return None
    if not found:
        report.add("report.unsigned", where, "carries no signature")
        return None
    if len(found) > 1:
        report.add(
            "report.signatures",
            where,
            f"carries {len(found)} signatures; Chainproof signs a report once: "
            "a later signature was added after the examiner's",
        )
    sig = found[0]
    try:
        cert: asn1_x509.Certificate = sig.signer_cert
        fp = hashlib.sha256(cert.dump()).hexdigest()
        named = cert.subject.native.get("common_name") or cert.subject.human_friendly
        status = validate_pdf_signature(
            sig, signer_validation_context=ValidationContext(trust_roots=[cert])
        )
        start, _first, second_start, second_len = (int(v) for v in sig.sig_object["/ByteRange"])
    except Exception as exc:  # noqa: BLE001 (pyHanko and asn1crypto raise many types)
        report.add(
            "report.signature_invalid",
            where,
            f"its signature cannot be checked: {type(exc).__name__}: {exc}",
        )
        return None
    signer = visible(named, font=None, limit=200)[0]  # the document's words, made printable
    if not status.intact:
        report.add(
            "report.signature_invalid",
            where,
            "was changed after it was signed: the signed bytes no longer match the signature",
        )
    elif not status.valid:
        report.add(
            "report.signature_invalid",
            where,
            f"its signature does not verify with the certificate of {signer}",
        )
    covered = second_start + second_len
    if start != 0 or covered != size:
        report.add(
            "report.appended",
            where,
            f"has {size - covered:,} bytes after its signed range (the signature covers the "
            f"first {covered:,} of {size:,} bytes): an incremental update or appended data, which a PDF "
            "reader may show in place of the signed pages, and which no examiner signed",
        )
    if signers is not None and fp not in signers:
        report.add(
            "report.signer_unknown",
            where,
            f"is signed by {signer} (certificate SHA-256 {fp}), who is not an examiner of "
            "this record",
        )
    signed_at = status.signer_reported_dt.isoformat() if status.signer_reported_dt else None
    return ReportSignature(
        signer=signer, fingerprint=fp, signed_at=signed_at, size=size, covered=covered
    )
