"""A dated copy of the examiner's identity, kept before a new identity replaces it.

The identity is one PKCS#12 file (:func:`app.paths.identity_file`). Replacing it without a
copy would lose the key that signed earlier acts: their certificates stay in each case's
ledger, so they still verify, but the examiner could not sign as that identity again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

from app.paths import identity_file
from custody.durable import sync_directory
from custody.errors import KeyError_

__all__ = ["backup_identity", "backup_name"]


def backup_name(path: Path, when: dt.datetime) -> Path:
    """Where the copy of ``path`` made at ``when`` goes: ``identity-backup-2026-12-01T104229Z.p12``
    next to it."""
    stamp = when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H%M%SZ")
    return path.with_name(f"{path.stem}-backup-{stamp}{path.suffix}")


def backup_identity(path: Path | None = None, *, now: dt.datetime | None = None) -> Path | None:
    """Copy the identity at ``path`` (default: the examiner's) to a dated file beside it.

    The copy has mode 0600 from its first byte, never replaces an earlier backup (a second
    one in the same second gets ``-2``, ...), is flushed to disk and read back before this
    returns. Returns the copy's path, or None when there is no identity to keep. Raises
    :class:`~custody.errors.KeyError_` when the copy cannot be made: then nothing may
    replace the identity.
    """
    path = path or identity_file()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KeyError_(
            f"cannot read the identity {path} to back it up: {exc.strerror}; it was not replaced"
        ) from exc
    first = backup_name(path, now or dt.datetime.now(dt.UTC))
    target = first
    for n in range(2, 1000):
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            target = first.with_name(f"{first.stem}-{n}{first.suffix}")
            continue
        except OSError as exc:
            raise _failed(path, target, exc) from exc
        break
    else:
        raise KeyError_(f"too many backups of {path} named {first.name}; it was not replaced")
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        sync_directory(target.parent)
        if hashlib.sha256(target.read_bytes()).digest() != hashlib.sha256(data).digest():
            raise KeyError_(f"the backup {target} differs from {path}; it was not replaced")
    except OSError as exc:
        raise _failed(path, target, exc) from exc
    return target


def _failed(path: Path, target: Path, exc: OSError) -> KeyError_:
    return KeyError_(
        f"cannot back up the identity {path} to {target}: {exc.strerror or exc}; "
        "it was not replaced"
    )
