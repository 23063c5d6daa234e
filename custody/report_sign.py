"""Signing the custody report: PAdES B-B with the examiner's key, through pyHanko.

The key goes from ``cryptography`` to pyHanko as DER in memory (never to disk). P-256 keys
sign ECDSA with SHA-256, RSA keys PKCS#1 v1.5 with SHA-256; poppler's ``pdfsig`` validates
both ("Signature is Valid.") and reports "Digest Mismatch." after any changed byte.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign import fields, signers
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator.registry import SimpleCertificateStore

from custody.errors import SignatureError
from custody.keys import Identity

FIELD_NAME = "ExaminerSignature"
#: The visible signature: plain text on white (pyHanko's default draws its own logo behind).
STAMP_STYLE = TextStampStyle(
    stamp_text="Digitally signed by %(signer)s\nSigning time: %(ts)s",
    background=None,
    border_width=0,
    text_box_style=TextBoxStyle(font_size=8),
)


@dataclass(frozen=True)
class SignatureBox:
    """Where the visible signature goes: 0-based page index and a box in PDF points."""

    page: int
    x1: float
    y1: float
    x2: float
    y2: float


def signer_for(identity: Identity) -> signers.SimpleSigner:
    """A pyHanko signer holding ``identity``'s key and certificate (converted in memory)."""
    cert_der = identity.certificate.public_bytes(serialization.Encoding.DER)
    key_der = identity.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cert = asn1_x509.Certificate.load(cert_der)
    key = asn1_keys.PrivateKeyInfo.load(key_der)
    return signers.SimpleSigner(
        signing_cert=cert,
        signing_key=key,
        cert_registry=SimpleCertificateStore.from_certs([cert]),  # type: ignore[no-untyped-call]
    )


def sign_pdf(
    pdf: bytes,
    identity: Identity,
    *,
    box: SignatureBox | None = None,
    reason: str = "Examiner's attestation of this chain of custody report",
    location: str | None = None,
) -> bytes:
    """Sign ``pdf`` (PAdES B-B, SHA-256) as ``identity``; visible in ``box`` when given."""
    signer = signer_for(identity)
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        reason=reason,
        location=location,
        name=identity.name,
        contact_info=identity.email,
    )
    spec = None
    if box is not None:
        spec = fields.SigFieldSpec(
            sig_field_name=FIELD_NAME,
            on_page=box.page,
            box=(round(box.x1), round(box.y1), round(box.x2), round(box.y2)),
        )
    out = io.BytesIO()
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        pdf_signer = signers.PdfSigner(meta, signer, stamp_style=STAMP_STYLE, new_field_spec=spec)
        pdf_signer.sign_pdf(writer, output=out)
    except Exception as exc:  # pyHanko raises many types; each means "not signed"
        raise SignatureError(
            f"signing the custody report as {identity.name} failed: {type(exc).__name__}: {exc}"
        ) from exc
    return out.getvalue()
