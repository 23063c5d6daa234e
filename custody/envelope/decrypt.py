"""Opening an encrypted bundle (CMS EnvelopedData, DER or BER) with a recipient's key,
streamed: the header is read one element at a time, the ciphertext decrypted chunk by chunk
into a hidden file that takes its name only when the whole envelope has been read and its
padding checked.

AES-CBC has no integrity check of its own: a changed ciphertext byte garbles a block of
the bundle, which the bundle's own signed checks (``chainproof verify``) then catch. What
this module catches is everything structural: a truncated file, lengths that disagree,
bytes after the end, bad padding, a key that is not a recipient's.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import cms as asn1_cms
from cryptography import x509
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from custody.envelope import cms, der
from custody.envelope.output import AtomicOutput
from custody.envelope.recipients import PrivateKey, content_key
from custody.errors import DamagedEnvelope, EnvelopeError
from custody.store.sources import open_source

CHUNK = 1 << 20


@dataclass(frozen=True)
class Opened:
    """A decrypted envelope: where the content went, its SHA-256 and size."""

    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class _Head:
    """What precedes the ciphertext, with the headers still open around it."""

    infos: list[asn1_cms.RecipientInfo]
    algorithm: cms.ContentAlgorithm
    content_info: der.Header
    explicit: der.Header  # ContentInfo's [0]
    enveloped_data: der.Header
    encrypted_content_info: der.Header


def recipients_of(src: Path) -> list[asn1_cms.RecipientInfo]:
    """The recipient list of the envelope ``src`` (read from its first bytes only)."""
    with _open(src) as r:
        return _read_head(r).infos


def decrypt_file(
    src: Path,
    key: PrivateKey,
    certificate: x509.Certificate,
    out: Path,
    *,
    on_chunk: Callable[[int], None] | None = None,
) -> Opened:
    """Decrypt the envelope ``src`` with a recipient's ``key`` and ``certificate`` into
    ``out`` (which must not exist; it appears only when the whole envelope checked out).
    :class:`WrongRecipient` when the key is not a recipient's, :class:`DamagedEnvelope`
    when the envelope is truncated, altered in its structure or its padding."""
    with _open(src) as r:
        head = _read_head(r)
        cek = content_key(head.infos, key, certificate, r.name)
        if len(cek) != head.algorithm.key_size:
            raise DamagedEnvelope(
                f"{r.name} is damaged or not for this key: its content key has "
                f"{len(cek)} bytes, AES-CBC here needs {head.algorithm.key_size}"
            )
        decryptor = Cipher(algorithms.AES(cek), modes.CBC(head.algorithm.iv)).decryptor()
        unpadder = sym_padding.PKCS7(128).unpadder()
        with AtomicOutput(out, mode=0o600) as o:  # plain text: for its owner only
            for block in _ciphertext(r):
                plain = unpadder.update(decryptor.update(block))
                o.write(plain)
                if on_chunk is not None:
                    on_chunk(len(block))
            try:
                o.write(unpadder.update(decryptor.finalize()) + unpadder.finalize())
            except ValueError:
                raise DamagedEnvelope(
                    f"{r.name} is damaged: the decrypted content does not end with valid "
                    "padding (its last bytes were altered, or it was cut at a block boundary)"
                ) from None
            _close(r, head)
            if not r.at_end():
                raise DamagedEnvelope(
                    f"{r.name} is damaged: bytes follow the end of the envelope at byte {r.pos}"
                )
            o.commit()
    return Opened(out, o.sha256, o.size)


class _open:
    """The envelope file opened read-only (``O_NOATIME``), as a :class:`der.Reader`."""

    def __init__(self, src: Path) -> None:
        try:
            fd = open_source(os.fspath(src), follow=True)
        except OSError as exc:
            raise EnvelopeError(f"cannot read {src}: {exc.strerror}") from exc
        self._f = os.fdopen(fd, "rb", buffering=CHUNK)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            self._f.close()
            raise EnvelopeError(f"{src} is not a regular file")
        self._reader = der.Reader(self._f, str(src), st.st_size)

    def __enter__(self) -> der.Reader:
        return self._reader

    def __exit__(self, *exc: object) -> None:
        self._f.close()


def _read_head(r: der.Reader) -> _Head:
    if r.size == 0:
        raise DamagedEnvelope(f"{r.name} is empty")
    ci = r.header("ContentInfo")
    if ci.tag != der.SEQUENCE:
        raise DamagedEnvelope(
            f"{r.name} is not a CMS envelope in DER (a PEM or S/MIME file? convert it with "
            "'openssl cms -cmsout -inform PEM -outform DER')"
        )
    if ci.end is not None and ci.end != r.size:
        if ci.end > r.size:
            raise DamagedEnvelope(
                f"{r.name} is truncated: it has {r.size} bytes, its envelope says {ci.end}"
            )
        raise DamagedEnvelope(
            f"{r.name} is damaged: {r.size - ci.end} bytes follow the end of the envelope "
            f"at byte {ci.end}"
        )
    content_type = _oid(r, "the content type")
    if content_type == cms.AUTH_ENVELOPED_DATA:
        raise EnvelopeError(
            f"{r.name} is a CMS AuthEnvelopedData (AES-GCM): Chainproof writes and reads "
            "EnvelopedData; open it with 'openssl cms -decrypt' (OpenSSL 3)"
        )
    if content_type != cms.ENVELOPED_DATA:
        raise DamagedEnvelope(f"{r.name} is not a CMS EnvelopedData (content type {content_type})")
    explicit = r.expect(der.CONTEXT_0, "the envelope's content")
    ed = r.expect(der.SEQUENCE, "EnvelopedData")
    r.element(der.INTEGER, "the EnvelopedData version", 8)
    if r.peek_tag("the recipient list") == der.CONTEXT_0:
        _skip(r, der.CONTEXT_0, "the originator information")
    element = r.element(der.SET, "the recipient list", cms.MAX_RECIPIENT_INFOS)
    try:
        infos = cms.parse_recipient_infos(element)
    except cms.PARSE_ERRORS as exc:
        raise DamagedEnvelope(
            f"{r.name} is damaged: its recipient list does not parse ({_why(exc)})"
        ) from None
    eci = r.expect(der.SEQUENCE, "the encrypted content information")
    inner = _oid(r, "the encrypted content type")
    if inner != cms.DATA:
        raise DamagedEnvelope(f"{r.name}: the encrypted content is of type {inner}, not data")
    alg_element = r.element(der.SEQUENCE, "the content encryption algorithm", 4096)
    try:
        algorithm = cms.parse_content_algorithm(alg_element)
    except cms.PARSE_ERRORS as exc:
        raise DamagedEnvelope(
            f"{r.name} is damaged: its content encryption algorithm does not parse ({_why(exc)})"
        ) from None
    if isinstance(algorithm, str):
        raise EnvelopeError(f"{r.name} cannot be opened here: {algorithm}")
    return _Head(infos, algorithm, ci, explicit, ed, eci)


def _close(r: der.Reader, head: _Head) -> None:
    """Every element around the ciphertext ends where it says, innermost first; the
    optional unprotected attributes after the encrypted content are skipped."""
    r.close(head.encrypted_content_info, "the encrypted content information")
    ed = head.enveloped_data
    if ed.end != r.pos and r.peek_tag("the end of EnvelopedData") == der.CONTEXT_1:
        _skip(r, der.CONTEXT_1, "the unprotected attributes")
    r.close(ed, "EnvelopedData")
    r.close(head.explicit, "the envelope's content")
    r.close(head.content_info, "the envelope")


def _why(exc: Exception) -> str:
    """asn1crypto's reason, on one line (it adds a line saying what it was parsing)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _oid(r: der.Reader, what: str) -> str:
    element = r.element(der.OID, what, 64)
    try:
        return cms.parse_oid(element)
    except ValueError:
        raise r.damaged(f"{what} is not an object identifier") from None


def _skip(r: der.Reader, tag: int, what: str) -> None:
    r.element(tag, what, cms.MAX_RECIPIENT_INFOS)


def _ciphertext(r: der.Reader) -> Iterator[bytes]:
    """The ciphertext octets, in chunks: one primitive ``[0]`` (as Chainproof and openssl
    without ``-stream`` write it), or a constructed ``[0]`` of OCTET STRING pieces (BER, as
    ``openssl cms -stream`` writes it). Refuses a length that is no multiple of 16."""
    what = "the encrypted content"
    h = r.header(what)
    if h.tag == der.CONTEXT_0_PRIMITIVE:
        assert h.length is not None
        yield from _stream(r, h.length, what)
        total = h.length
    elif h.tag == der.CONTEXT_0:
        total = 0
        while True:
            if h.length is not None and r.pos >= (h.end or 0):
                r.close(h, what)
                break
            piece = r.header(what)
            if piece.tag == 0 and piece.length == 0 and h.length is None:
                break
            if piece.tag != der.OCTET_STRING or piece.length is None:
                raise r.damaged(f"a piece of {what} is not an OCTET STRING", piece.offset)
            yield from _stream(r, piece.length, what)
            total += piece.length
    else:
        raise r.damaged(
            f"{what} is missing (tag 0x{h.tag:02x}; a detached content is not supported)",
            h.offset,
        )
    if total == 0 or total % 16:
        raise DamagedEnvelope(
            f"{r.name} is damaged: its ciphertext has {total} bytes, not a whole number of "
            "AES blocks"
        )


def _stream(r: der.Reader, length: int, what: str) -> Iterator[bytes]:
    left = length
    while left:
        data = r.read_some(min(left, CHUNK), what)
        left -= len(data)
        yield data
