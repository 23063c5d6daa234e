"""Encrypted bundles as the CLI and the export use them: recipient certificates read from
files, a bundle zip encrypted to them, an encrypted bundle opened with a PKCS#12 identity.

The format and the cryptography are :mod:`custody.envelope` (CMS EnvelopedData that
``openssl cms -decrypt`` opens); this module only reads files a person names and says
which one is at fault.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from cryptography import x509

from custody.envelope import Envelope, Opened, decrypt_file, encrypt_file, recipient
from custody.envelope.recipients import Recipient
from custody.errors import UnsupportedRecipient, UsageError
from custody.record.keys import Identity, load_identity
from custody.record.regular import read_regular

__all__ = [
    "Envelope",
    "Opened",
    "Recipient",
    "check_recipients",
    "decrypt_bundle",
    "encrypt_bundle",
    "open_identity",
    "read_recipient",
    "recipient_file",
    "subject_text",
]


def read_recipient(path: Path) -> x509.Certificate:
    """The certificate in ``path`` (PEM, the first of several, or DER) of a person an
    export is encrypted to; :class:`UsageError` naming the file when it holds none."""
    try:
        data = read_regular(path)
    except OSError as exc:
        raise UsageError(f"cannot read the recipient certificate {path}: {exc.strerror}") from exc
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)[0]
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise UsageError(
            f"{path} holds no X.509 certificate (PEM or DER): give the recipient's certificate, "
            "never a private key"
        ) from None


def recipient_file(path: Path) -> Recipient:
    """The certificate in ``path`` checked as ``--encrypt-to`` checks it, for a person to
    see who it names before exporting: :class:`UsageError` when the file holds no
    certificate, :class:`UnsupportedRecipient` (naming the file) when its key type, size or
    validity period excludes it."""
    cert = read_recipient(path)
    try:
        return recipient(cert)
    except UnsupportedRecipient as exc:
        raise UnsupportedRecipient(f"{path}: {exc.diagnostics()}") from None


def subject_text(r: Recipient) -> str:
    """The recipient certificate's subject as RFC 4514 writes it (``CN=...,O=...``)."""
    return r.certificate.subject.rfc4514_string()


def check_recipients(recipient_certs: Sequence[x509.Certificate]) -> tuple[Recipient, ...]:
    """Every certificate as a recipient (RSA of 2,048 bits or more, or P-256; within its
    validity period), or :class:`UnsupportedRecipient` naming the first that is not: for an
    export to refuse before it starts."""
    return tuple(recipient(cert) for cert in recipient_certs)


def encrypt_bundle(
    zip_path: Path,
    recipient_certs: Sequence[x509.Certificate],
    out_path: Path,
    *,
    on_chunk: Callable[[int], None] | None = None,
) -> Envelope:
    """Encrypt the bundle ``zip_path`` to every certificate of ``recipient_certs`` as the
    CMS EnvelopedData ``out_path`` (new; it appears only when complete). Every certificate
    is checked (RSA of 2,048 bits or more, or P-256; within its validity period) before a
    byte is written. The result names the recipients (``fingerprint``: SHA-256 of each
    certificate) and the envelope's SHA-256, for the ledger."""
    return encrypt_file(zip_path, check_recipients(recipient_certs), out_path, on_chunk=on_chunk)


def open_identity(path: Path, passphrase: bytes) -> Identity:
    """A recipient's PKCS#12 identity, unlocked. Its certificate's dates are not checked:
    a bundle encrypted while it was valid still opens after it expired."""
    return load_identity(path, passphrase, check_dates=False)


def decrypt_bundle(
    p7m_path: Path,
    identity: Identity,
    out_path: Path,
    *,
    on_chunk: Callable[[int], None] | None = None,
) -> Opened:
    """Decrypt the encrypted bundle ``p7m_path`` with a recipient's ``identity`` into
    ``out_path`` (new; it appears only when the whole envelope has checked out)."""
    return decrypt_file(p7m_path, identity.key, identity.certificate, out_path, on_chunk=on_chunk)
