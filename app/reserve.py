"""Room kept free on the case's disk so that a run can always seal itself.

A run that fills its disk must still write its end: the archive's two end blocks and, in the
case database, a signed checkpoint and ``run_finished`` (SQLite needs room for its WAL even
to commit a few rows). While a run collects it holds a :class:`SpaceReserve`: a file of
:data:`SEAL_RESERVE` bytes, allocated on the case's disk and already unlinked, so nothing
stays behind whatever happens to the process (on Windows it is deleted when closed). The
run gives it back just before it seals, so the seal finds that room even when the evidence
or the database filled the disk.

Copy-on-write file systems (btrfs, ZFS) and quotas may not hand the room back at once;
there the seal can still fail, and the run is then sealed by the next collection from what
is recorded (see :mod:`app.collection`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import IO

from custody.errors import StoreError

#: Bytes kept free for the seal of a run (about what a full ledger batch of 1,000 entries
#: and its index rows take in the WAL). ``CHAINPROOF_SEAL_RESERVE=<bytes>`` changes it.
SEAL_RESERVE = 4 << 20
RESERVE_ENV = "CHAINPROOF_SEAL_RESERVE"

_ZEROS = bytes(1 << 20)


def reserve_size() -> int:
    """The reserve a run takes: :data:`SEAL_RESERVE`, or ``$CHAINPROOF_SEAL_RESERVE``."""
    value = os.environ.get(RESERVE_ENV, "")
    try:
        return max(0, int(value)) if value else SEAL_RESERVE
    except ValueError:
        return SEAL_RESERVE


class SpaceReserve:
    """Room held on a disk until :meth:`release` (or the process's end) gives it back."""

    def __init__(self, file: IO[bytes] | None, size: int) -> None:
        self._file = file
        self.size = size

    @classmethod
    def take(cls, folder: Path, size: int | None = None) -> SpaceReserve:
        """Allocate ``size`` bytes (default :func:`reserve_size`) in ``folder``; raises
        :class:`~custody.errors.StoreError` when the disk does not have that much room."""
        size = reserve_size() if size is None else size
        if size <= 0:
            return cls(None, 0)
        try:
            file = tempfile.TemporaryFile(dir=folder, prefix=".chainproof-reserve-")  # noqa: SIM115 (held until release)
        except OSError as exc:
            raise StoreError(
                f"cannot keep room for the run's seal in {folder}: {exc.strerror or exc}"
            ) from exc
        try:
            _allocate(file.fileno(), size)
        except OSError as exc:
            file.close()
            if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
                raise StoreError(
                    f"the case disk of {folder} is full: a run keeps {size / (1 << 20):.1f} MiB "
                    "free there until it ends, so that it can always seal itself; free space on "
                    "that disk or move the case to a larger one"
                ) from exc
            raise StoreError(
                f"cannot keep room for the run's seal in {folder}: {exc.strerror or exc}"
            ) from exc
        return cls(file, size)

    @property
    def held(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        """Give the room back (idempotent)."""
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()


def _allocate(fd: int, size: int) -> None:
    """Make the file ``size`` bytes long with every block allocated."""
    if hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(fd, 0, size)
            return
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
    done = 0
    while done < size:  # no fallocate: write the blocks
        done += os.write(fd, _ZEROS[: min(len(_ZEROS), size - done)])
    os.fsync(fd)
