"""The examiner's identity as the CLI and the UI use it: create, save, load, unlock.

The key and its certificate live in one PKCS#12 file (``app.paths.identity_file``); the
format and the cryptography are :mod:`custody.record.keys`, re-exported here. Beside it,
``identity.pem`` holds the certificate alone (public), so that the identity can be shown
without its passphrase: the PKCS#12 file encrypts the certificate with the key.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from cryptography import x509

from app.passphrase import read_passphrase
from app.paths import identity_file
from custody.durable import sync_directory
from custody.errors import CorruptKeyFile, NoIdentity, UsageError, WrongPassphrase
from custody.record.keys import (
    Identity,
    certificate_pem,
    create_identity,
    import_identity,
    load_certificate_pem,
    load_identity,
    save_identity,
)
from custody.record.regular import read_regular

__all__ = [
    "Identity",
    "certificate_file",
    "create_identity",
    "field_problem",
    "import_identity",
    "load_certificate_pem",
    "load_identity",
    "public_certificate",
    "read_certificate",
    "save_examiner_identity",
    "save_identity",
    "unlock_identity",
    "write_certificate_file",
]

#: How identity.pem names the SHA-256 of the identity file it was written for.
_DIGEST_LABEL = "SHA-256 of the identity file:"


def unlock_identity(passphrase_fd: int | None = None, path: Path | None = None) -> Identity:
    """The examiner's identity (default: :func:`identity_file`), unlocked with the passphrase
    from ``passphrase_fd``, ``$CHAINPROOF_PASSPHRASE`` or a prompt; asks for nothing when
    there is no identity."""
    path = path or identity_file()
    if not path.exists():
        raise NoIdentity(
            f"no examiner identity at {path}: create one with 'chainproof keys init' "
            "(it asks for your name, organisation and e-mail, or takes --name, --org and --email)"
        )
    try:
        return load_identity(path, read_passphrase(fd=passphrase_fd))
    except WrongPassphrase as exc:
        raise WrongPassphrase(
            f"{exc}; the identity is unchanged: give its passphrase with "
            "CHAINPROOF_PASSPHRASE, --passphrase-fd or at the prompt"
        ) from exc


def certificate_file(path: Path | None = None) -> Path:
    """Where the public certificate of the identity at ``path`` is kept: ``identity.pem``
    beside ``identity.p12``."""
    return (path or identity_file()).with_suffix(".pem")


def save_examiner_identity(identity: Identity, passphrase: bytes, path: Path | None = None) -> Path:
    """Save ``identity`` as the examiner's (:func:`save_identity`), and its certificate
    beside it (:func:`write_certificate_file`). Returns the identity file's path."""
    path = path or identity_file()
    save_identity(identity, path, passphrase)
    write_certificate_file(path, identity.certificate)
    return path


def write_certificate_file(path: Path, certificate: x509.Certificate) -> Path:
    """Write :func:`certificate_file` for the identity at ``path``: the certificate as PEM,
    after a line with the SHA-256 of the identity file it belongs to. A file replaced by
    other means (a copied backup, an older version) is recognised by that line and not
    trusted. ``openssl x509 -in identity.pem`` reads it (text before the PEM is allowed)."""
    digest = hashlib.sha256(read_regular(path)).hexdigest()
    text = (
        f"Certificate of the examiner identity {path.name} (public: the key stays in it)\n"
        f"{_DIGEST_LABEL} {digest}\n" + certificate_pem(certificate)
    )
    target = certificate_file(path)
    tmp = target.with_name(target.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, text.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(target)
    sync_directory(target.parent)
    return target


def public_certificate(path: Path | None = None) -> x509.Certificate | None:
    """The certificate of the identity at ``path`` (default: the examiner's) read without its
    passphrase from :func:`certificate_file`; None when that file is missing, unreadable or
    was written for another identity file (then only the passphrase can tell)."""
    path = path or identity_file()
    if not path.name:  # "/" or "." (a path being typed): no identity file is named yet
        return None
    try:
        text = read_regular(certificate_file(path))
        digest = hashlib.sha256(read_regular(path)).hexdigest()
    except OSError:
        return None
    found = re.search(rb"^" + re.escape(_DIGEST_LABEL.encode()) + rb" ([0-9a-f]{64})$", text, re.M)
    if found is None or found.group(1).decode() != digest:
        return None
    try:
        return load_certificate_pem(text)
    except CorruptKeyFile:
        return None


#: Values that stand for a missing name rather than name someone.
PLACEHOLDERS = frozenset(
    {
        "-",
        "?",
        "changeme",
        "email",
        "e-mail",
        "n/a",
        "na",
        "name",
        "none",
        "null",
        "org",
        "organisation",
        "organization",
        "tbd",
        "todo",
        "unknown",
        "unspecified",
    }
)
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


def field_problem(field: str, value: str) -> str | None:
    """Why ``value`` cannot be the examiner's ``field`` ("name", "organisation" or "email")
    in a certificate, or None. Certificates name a person and an organisation for as long
    as the records they sign are kept: placeholders are refused."""
    value = value.strip()
    if not value:
        return "it is empty"
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value):
        return "it contains control characters"
    if value.lower().strip(" .") in PLACEHOLDERS:
        noun = "e-mail address" if field == "email" else field
        return f"'{value}' is a placeholder, not a real {noun}"
    if field == "email":
        if not _EMAIL.fullmatch(value):
            return f"'{value}' is not an e-mail address like name@example.org (ASCII)"
        if len(value) > 254:
            return "it is longer than 254 characters"
    else:
        if not any(c.isalnum() for c in value):
            return f"'{value}' has no letter or digit"
        if len(value) > 64:
            return "it is longer than 64 characters (the certificate's limit)"
    return None


def read_certificate(path: Path) -> x509.Certificate:
    """A certificate from a PEM file a person names (``transfer --to``, ``verify --trust``);
    an error names the file."""
    try:
        return load_certificate_pem(read_regular(path))
    except OSError as exc:
        raise UsageError(f"cannot read the certificate {path}: {exc.strerror}") from exc
    except CorruptKeyFile as exc:
        raise CorruptKeyFile(f"{path}: {exc}") from exc
