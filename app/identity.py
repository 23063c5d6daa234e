"""The examiner's identity as the CLI and the UI use it: create, save, load, unlock.

The key and its certificate live in one PKCS#12 file (``app.paths.identity_file``); the
format and the cryptography are :mod:`custody.record.keys`, re-exported here.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from app.passphrase import read_passphrase
from app.paths import identity_file
from custody.errors import CorruptKeyFile, NoIdentity, UsageError
from custody.record.keys import (
    Identity,
    create_identity,
    import_identity,
    load_certificate_pem,
    load_identity,
    save_identity,
)
from custody.record.regular import read_regular

__all__ = [
    "Identity",
    "create_identity",
    "import_identity",
    "load_certificate_pem",
    "load_identity",
    "read_certificate",
    "save_identity",
    "unlock_identity",
]


def unlock_identity(passphrase_fd: int | None = None, path: Path | None = None) -> Identity:
    """The examiner's identity (default: :func:`identity_file`), unlocked with the passphrase
    from ``passphrase_fd``, ``$CHAINPROOF_PASSPHRASE`` or a prompt; asks for nothing when
    there is no identity."""
    path = path or identity_file()
    if not path.exists():
        raise NoIdentity(
            f"no examiner identity at {path}: create one with "
            "'chainproof keys init --name NAME --org ORG --email EMAIL'"
        )
    return load_identity(path, read_passphrase(fd=passphrase_fd))


def read_certificate(path: Path) -> x509.Certificate:
    """A certificate from a PEM file a person names (``transfer --to``, ``verify --trust``);
    an error names the file."""
    try:
        return load_certificate_pem(read_regular(path))
    except OSError as exc:
        raise UsageError(f"cannot read the certificate {path}: {exc.strerror}") from exc
    except CorruptKeyFile as exc:
        raise CorruptKeyFile(f"{path}: {exc}") from exc
