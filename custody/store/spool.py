"""Output produced beside the run (a packet capture), hashed as it is written, then archived.

A :class:`HashedSpool` is a file on the evidence's own storage (the store's ``spool()``
directory, never the examined system's temporary directory) that one producer thread
writes while the run goes on with other work: every byte is hashed (SHA-256, SHA-1, MD5)
as it is written. When the producer is done, :meth:`HashedSpool.seal` gives its size and
digests, and the run, on its own thread (a :class:`RunArchive` has one writer), archives it
with :func:`archive_spool`. The archive hashes the bytes again while it copies them, and a
member whose digests differ from those computed while the output was written is cut off
and refused: the bytes stored are the bytes hashed.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from custody.errors import StoreError
from custody.record.digests import Digests
from custody.store.archive import Member, RunArchive
from custody.store.sources import open_source
from custody.store.tarheader import MemberMeta

__all__ = ["HashedSpool", "SpoolSealed", "archive_spool"]


#: A run's spool folder in the evidence folder: ``.spool-<run id>``.
RUN_SPOOL_PREFIX = ".spool-"


def run_spool_dir(spool_root: Path, run_id: str) -> Path:
    """The spool folder of run ``run_id`` under the evidence store's spool root. What a
    run's process leaves there when it dies (a capture, a command's output being written)
    is set aside by the run's recovery."""
    return Path(spool_root) / f"{RUN_SPOOL_PREFIX}{run_id}"


@dataclass(frozen=True)
class SpoolSealed:
    """A spool that was written completely: where it is, its size and its digests."""

    path: Path
    size: int
    digests: Digests


class HashedSpool:
    """An exclusive new file in ``directory`` (mode 0600) hashed as it is written.

    One thread writes; :meth:`seal` ends the writing (after an fsync) and may be called from
    that thread or after it finished. :meth:`discard` removes the file.
    """

    def __init__(self, directory: Path, *, suffix: str = "") -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        try:
            fd, name = tempfile.mkstemp(prefix=".spool-", suffix=suffix, dir=directory)
        except OSError as exc:
            raise StoreError(f"cannot create a spool file in {directory}: {exc.strerror}") from exc
        self._fd = fd
        self.path = Path(name)
        self.size = 0
        self._hashes = (hashlib.sha256(), hashlib.sha1(), hashlib.md5())
        self._sealed: SpoolSealed | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data`` and hash it; :class:`StoreError` when the disk refuses it."""
        if self._fd < 0:
            raise StoreError(f"spool {self.path} is already sealed")
        with memoryview(data) as view:
            done = 0
            try:
                while done < len(view):
                    done += os.write(self._fd, view[done:])
            except OSError as exc:
                raise StoreError(
                    f"cannot write the spool {self.path} ({exc.strerror}) after {self.size} bytes"
                ) from exc
            finally:
                if done:
                    for h in self._hashes:
                        h.update(view[:done])
                    self.size += done

    def seal(self) -> SpoolSealed:
        """End the writing: sync, close, and the size and digests of what was written."""
        if self._sealed is None:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                raise StoreError(f"cannot sync the spool {self.path}: {exc.strerror}") from exc
            finally:
                os.close(self._fd)
                self._fd = -1
            sha256, sha1, md5 = (h.hexdigest() for h in self._hashes)
            self._sealed = SpoolSealed(self.path, self.size, Digests(sha256, sha1, md5))
        return self._sealed

    def discard(self) -> None:
        """Close (if open) and remove the file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self.path.unlink(missing_ok=True)


def archive_spool(archive: RunArchive, sealed: SpoolSealed, name: str, meta: MemberMeta) -> Member:
    """Append the sealed spool to ``archive`` as member ``name`` and remove the spool.

    Raises :class:`StoreError` (the member cut off, the spool kept where it is) when the
    file is not the size it was sealed at, or its bytes do not hash to the digests computed
    while it was written.
    """
    try:
        fd = open_source(os.fsencode(sealed.path))
    except OSError as exc:
        raise StoreError(f"cannot open the spool {sealed.path}: {exc.strerror}") from exc
    try:
        size = os.fstat(fd).st_size
        if size != sealed.size:
            raise StoreError(
                f"the spool {sealed.path} holds {size} bytes, but {sealed.size} were written "
                "and hashed: it was changed before it could be archived (kept for examination)"
            )
        with open(fd, "rb", buffering=0, closefd=False) as source:
            member = archive.add_stream(name, size, source.readinto, meta)
    finally:
        os.close(fd)
    if member.digests != sealed.digests:
        archive.truncate(member.header_offset)
        raise StoreError(
            f"the spool {sealed.path} changed between its writing and its archiving "
            f"(SHA-256 {sealed.digests.sha256} while written, {member.digests.sha256} archived); "
            "the member was cut off and the spool kept for examination"
        )
    sealed.path.unlink(missing_ok=True)
    return member
