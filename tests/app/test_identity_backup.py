"""The dated copy of the examiner's identity kept before a new one replaces it."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

from app.identity_backup import backup_identity
from app.paths import identity_file
from custody.record.keys import Identity, load_identity
from tests.conftest import PASSPHRASE

WHEN = dt.datetime(2026, 12, 1, 5, 7, 15, tzinfo=dt.timezone(dt.timedelta(hours=1)))


def test_no_identity_no_backup(chainproof_home: Path) -> None:
    assert backup_identity() is None
    assert list(chainproof_home.iterdir()) == []


def test_backup_is_a_dated_private_copy_that_opens(alice: Identity) -> None:
    path = identity_file()
    before = path.read_bytes()
    backup = backup_identity(now=WHEN)
    assert backup == path.with_name("identity-backup-2026-12-01T040715Z.p12")  # in UTC
    assert backup.read_bytes() == before == path.read_bytes()
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert load_identity(backup, PASSPHRASE.encode()).fingerprint == alice.fingerprint


def test_a_backup_never_replaces_an_earlier_one(alice: Identity) -> None:
    path = identity_file()
    first = backup_identity(now=WHEN)
    path.write_bytes(b"another identity")
    second = backup_identity(now=WHEN)
    third = backup_identity(path, now=WHEN)
    assert first is not None and second is not None and third is not None
    assert second.name == "identity-backup-2026-12-01T040715Z-2.p12"
    assert third.name == "identity-backup-2026-12-01T040715Z-3.p12"
    assert load_identity(first, PASSPHRASE.encode()).fingerprint == alice.fingerprint
    assert second.read_bytes() == third.read_bytes() == b"another identity"
