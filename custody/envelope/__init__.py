"""Encrypted bundles: a file encrypted to recipient certificates as a CMS EnvelopedData
(RFC 5652, DER) that ``openssl cms -decrypt`` opens, written and read as a stream.

:func:`encrypt_file` writes one; :func:`decrypt_file` opens one with a recipient's key.
RSA recipients get RSAES-OAEP (SHA-256), P-256 recipients RFC 5753 ECDH with AES key wrap;
the content is AES-256-CBC. Structures: :mod:`custody.envelope.cms`.
"""

from __future__ import annotations

from custody.envelope.decrypt import Opened, decrypt_file, recipients_of
from custody.envelope.encrypt import Envelope, encrypt_file
from custody.envelope.recipients import PrivateKey, Recipient, recipient

__all__ = [
    "Envelope",
    "Opened",
    "PrivateKey",
    "Recipient",
    "decrypt_file",
    "encrypt_file",
    "recipient",
    "recipients_of",
]
