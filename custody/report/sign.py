"""Signing the custody report: PAdES B-B with the examiner's key, through pyHanko; B-T (a
signature timestamp from an RFC 3161 authority, pyHanko's ``HTTPTimeStamper``) inside
:func:`pdf_timestamps`.

The key goes from ``cryptography`` to pyHanko as DER in memory (never to disk). P-256 keys
sign ECDSA with SHA-256, RSA keys PKCS#1 v1.5 with SHA-256; poppler's ``pdfsig`` validates
both ("Signature is Valid.") and reports "Digest Mismatch." after any changed byte.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import hashlib
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.metadata.model import DocumentMetadata
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps import TimestampRequestError
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator.registry import SimpleCertificateStore

from custody.errors import SignatureError
from custody.record.keys import Identity
from custody.report.attach import attached
from custody.report.inventory import AnnexFile

FIELD_NAME = "ExaminerSignature"
#: The visible signature: plain text on white (pyHanko's default draws its own logo behind).
STAMP_STYLE = TextStampStyle(
    stamp_text="Digitally signed by %(signer)s\nSigning time: %(ts)s",
    background=None,
    border_width=0,
    text_box_style=TextBoxStyle(font_size=8),
)


#: The timestamp authority PDF signatures are stamped by (None: PAdES B-B).
_TSA_URL: contextvars.ContextVar[str | None] = contextvars.ContextVar("tsa_url", default=None)


@contextlib.contextmanager
def pdf_timestamps(url: str | None) -> Iterator[None]:
    """Within the block, report signatures carry a signature timestamp from ``url`` (PAdES
    B-T): ``pdfsig`` then shows the timestamp. The token is the authority's, so two exports
    of one bundle no longer give the same bytes."""
    token = _TSA_URL.set(url)
    try:
        yield
    finally:
        _TSA_URL.reset(token)


@dataclass(frozen=True)
class SignatureBox:
    """Where the visible signature goes: 0-based page index and a box in PDF points."""

    page: int
    x1: float
    y1: float
    x2: float
    y2: float


class _IdentitySigner(signers.Signer):
    """Signs through :meth:`Identity.sign`: one signing path, deterministic ECDSA (RFC 6979).

    The private key never leaves the :class:`Identity` object: pyHanko sees only the
    certificate and the signatures.
    """

    def __init__(self, identity: Identity, cert: asn1_x509.Certificate) -> None:
        # The signing certificate is embedded anyway; a registry holding it too would make
        # asn1crypto stringprep its subject, which refuses names pdfsig accepts (mixed
        # left-to-right and right-to-left text, emoji): such an examiner could not sign.
        store = SimpleCertificateStore()  # type: ignore[no-untyped-call]
        super().__init__(signing_cert=cert, cert_registry=store)
        self.identity = identity

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        if digest_algorithm.lower() != "sha256":
            raise SignatureError(f"the report is signed with SHA-256, not {digest_algorithm}")
        return self.identity.sign(data)


@dataclass
class _PinnedTimeMeta(DocumentMetadata):
    """Document metadata whose modification time stays the signing time.

    pyHanko sets ``last_modified = "now"`` as it writes, into both the Info dictionary and
    the XMP packet; two exports of one bundle would then differ when they straddle a second.
    """

    pinned: dt.datetime | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "last_modified" and value == "now" and self.pinned is not None:
            value = self.pinned
        super().__setattr__(name, value)


class _TimedPdfSigner(signers.PdfSigner):
    """A PdfSigner whose signing time is given (the bundle's time), so a re-export is identical."""

    signing_time: dt.datetime | None = None

    def init_signing_session(self, pdf_out: Any, existing_fields_only: bool = False) -> Any:
        session = super().init_signing_session(pdf_out, existing_fields_only)
        if self.signing_time is not None:
            session.system_time = self.signing_time
        return session


def signer_for(identity: Identity) -> signers.Signer:
    """A pyHanko signer for ``identity``."""
    cert_der = identity.certificate.public_bytes(serialization.Encoding.DER)
    return _IdentitySigner(identity, asn1_x509.Certificate.load(cert_der))


def sign_pdf(
    pdf: bytes,
    identity: Identity,
    *,
    box: SignatureBox | None = None,
    reason: str = "Examiner's attestation of this chain of custody report",
    location: str | None = None,
    signing_time: dt.datetime | None = None,
    attachments: Sequence[AnnexFile] = (),
) -> bytes:
    """Sign ``pdf`` (PAdES B-B, SHA-256) as ``identity``; visible in ``box`` when given.

    ``signing_time`` (default: now) is the time the signature states; the export passes the
    bundle's time, so exporting the same case at the same time gives the same bytes.
    ``attachments`` are embedded (:mod:`custody.report.attach`) in the signed update.
    """
    out = io.BytesIO()
    sign_pdf_to(
        pdf,
        out,
        identity,
        box=box,
        reason=reason,
        location=location,
        signing_time=signing_time,
        attachments=attachments,
    )
    return out.getvalue()


def sign_pdf_to(
    pdf: bytes,
    output: BinaryIO,
    identity: Identity,
    *,
    box: SignatureBox | None = None,
    reason: str = "Examiner's attestation of this chain of custody report",
    location: str | None = None,
    signing_time: dt.datetime | None = None,
    attachments: Sequence[AnnexFile] = (),
    scratch: Path | None = None,
) -> None:
    """:func:`sign_pdf` into ``output`` (readable, writable and seekable: pyHanko reads the
    signed ranges back to hash them), so large attachments never sit in memory.
    ``scratch``: where the attachments are compressed on their way (anonymous files).
    Inside :func:`pdf_timestamps` the signature is timestamped (B-T); when the authority
    cannot be reached the report is signed without it (B-B): the export goes on, and its
    ledger entries say which tokens are missing."""
    url = _TSA_URL.get()
    args = (pdf, output, identity, box, reason, location, signing_time, attachments, scratch)
    if url:
        try:
            _sign_pdf_to(*args, RequestsHTTPTimeStamper(url, timeout=10))  # type: ignore[no-untyped-call]
            return
        except TimestampRequestError:
            output.seek(0)
            output.truncate()
    _sign_pdf_to(*args, None)


def _sign_pdf_to(
    pdf: bytes,
    output: BinaryIO,
    identity: Identity,
    box: SignatureBox | None,
    reason: str,
    location: str | None,
    signing_time: dt.datetime | None,
    attachments: Sequence[AnnexFile],
    scratch: Path | None,
    stamper: RequestsHTTPTimeStamper | None,
) -> None:
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
    try:
        signer = signer_for(identity)
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        if signing_time is not None:
            writer._meta = _PinnedTimeMeta(pinned=signing_time)
            # pyHanko draws the update's document ID at random; derive it from the content.
            first_id = writer._document_id[0]
            content = pdf + signing_time.isoformat().encode("ascii")
            content += "".join(f.sha256 for f in attachments).encode("ascii")
            seed = hashlib.sha256(content).digest()[:16]
            writer._document_id = generic.ArrayObject([first_id, generic.ByteStringObject(seed)])
        pdf_signer = _TimedPdfSigner(
            meta, signer, stamp_style=STAMP_STYLE, new_field_spec=spec, timestamper=stamper
        )
        pdf_signer.signing_time = signing_time
        with attached(writer, attachments, when=signing_time, scratch=scratch):
            pdf_signer.sign_pdf(writer, output=output)
    except TimestampRequestError:
        raise  # an OSError too: the caller signs again without the timestamp
    except OSError:
        raise  # writing the output or reading an attachment: the caller says where
    except Exception as exc:  # pyHanko raises many types; each means "not signed"
        raise SignatureError(
            f"signing the custody report as {identity.name} failed: {type(exc).__name__}: {exc}"
        ) from exc


def attach_files(
    pdf: bytes, attachments: Sequence[AnnexFile], *, when: dt.datetime | None = None
) -> bytes:
    """``pdf`` with ``attachments`` embedded in an incremental update, unsigned."""
    if not attachments:
        return pdf
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    if when is not None:
        writer._meta = _PinnedTimeMeta(pinned=when)
        seed = hashlib.sha256(pdf + "".join(f.sha256 for f in attachments).encode()).digest()
        writer._document_id = generic.ArrayObject(
            [writer._document_id[0], generic.ByteStringObject(seed[:16])]
        )
    out = io.BytesIO()
    with attached(writer, attachments, when=when):
        writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()
