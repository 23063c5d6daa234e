"""The run archive: one append-only POSIX pax tar per run, hashed while it is written.

Every member is a pax extended header (exact name bytes, nanosecond ``mtime``/``atime``/
``ctime``, owner, ``SCHILY.xattr.*``) followed by a ustar header and the data, padded to
512 bytes (headers: :mod:`custody.store.tarheader`). Members are only ever appended; the
end-of-archive marker (two zero blocks) is written by :meth:`RunArchive.close`. An archive
that was never closed (a crash) is still read by any ``tar``: every complete member is
there, and a torn last member is cut off when the run resumes
(``RunArchive(path, resume_at=end_of_last_recorded_member)``).

Bytes pass once: they are read into large reused buffers, written to the archive, and
hashed with SHA-256, SHA-1 and MD5 on worker threads (:mod:`custody.store.hashing`), so
reading, writing and the digests overlap. Each :class:`Member` also carries the SHA-256 of
its header bytes, and the archive keeps the SHA-256 of exactly the bytes its file holds
(:attr:`RunArchive.sha256` once closed), also when members are cut back or a run resumes.

Writing errors (disk full, I/O error, read-only file system) raise
:class:`~custody.errors.StoreError` after the archive has been cut back to the end of its
last complete member, so it stays a valid tar. :attr:`RunArchive.offset` then says where
it ends: members whose ``end`` is beyond it were lost and must not be recorded.

Small members are gathered in a buffer and written in large writes; :meth:`RunArchive.flush`
writes that buffer and makes the archive durable (``fdatasync``). Call it before the
ledger commits the members: a member that was returned but not flushed is not yet on disk.
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from custody.errors import ArchiveDamaged, StoreError
from custody.record.digests import EMPTY_DIGESTS, Digests
from custody.store.hashing import (
    CHUNK,
    STREAM_BUFFERS,
    ArchiveDigest,
    DigestPiece,
    HashPipeline,
    ReadInto,
    RingHasher,
    SourceShrank,
)
from custody.store.tarheader import (
    BLOCK,
    END_OF_ARCHIVE,
    REGTYPE,
    SYMTYPE,
    XHDTYPE,
    MemberMeta,
    build_header,
    encode_header,
    padded,
)

if TYPE_CHECKING:
    import tarfile  # the verifier only: kept out of start-up

__all__ = [
    "BLOCK",
    "CHUNK",
    "EMPTY_DIGESTS",
    "END_OF_ARCHIVE",
    "INLINE_LIMIT",
    "REGTYPE",
    "RING_HALF",
    "STREAM_BUFFERS",
    "SYMTYPE",
    "WRITEBACK_STEP",
    "WRITE_BUFFER",
    "XHDTYPE",
    "Digests",
    "HashPipeline",
    "Member",
    "MemberMeta",
    "ReadInto",
    "RegionTicket",
    "RingHasher",
    "RunArchive",
    "Sealed",
    "SourceShrank",
    "build_header",
    "encode_header",
    "read_members",
]

INLINE_LIMIT = 256 << 10  # sources up to this size are read whole and hashed inline
WRITE_BUFFER = 1 << 20  # small members are gathered up to this size before a write
RING_HALF = 8 << 20  # each half of the shared ring that small members are laid out in
WRITEBACK_STEP = 32 << 20  # start writing back to disk every this many bytes (Linux)


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Member:
    """Where one member lies in the archive and what its header and data hash to.

    ``header_offset`` is the start of its pax extended header, ``data_offset`` the start of
    its data, ``size`` the data length; :attr:`end` is where the next member starts.
    ``header_sha256`` is the SHA-256 (hex) of the header bytes
    ``[header_offset, data_offset)``.
    """

    name: str
    header_offset: int
    data_offset: int
    size: int
    digests: Digests
    header_sha256: str

    @property
    def end(self) -> int:
        return self.data_offset + padded(self.size)


@dataclass(frozen=True)
class Sealed:
    """A closed archive: its size and the SHA-256 (hex) of all its bytes (None when it
    could not be known: the archive could not be read back after a failed cut)."""

    size: int
    sha256: str | None


@dataclass(frozen=True)
class RegionTicket:
    """A region whose archive digest is being computed ahead of its write
    (:meth:`RunArchive.stage_region`)."""

    piece: DigestPiece
    length: int


def _header_digest(header: bytes) -> str:
    return hashlib.sha256(header).hexdigest()


# --------------------------------------------------------------------------- archive

_O_BINARY = getattr(os, "O_BINARY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_FADV_DONTNEED: int | None = getattr(os, "POSIX_FADV_DONTNEED", None)


def _sync(fd: int) -> None:
    if hasattr(os, "fdatasync"):
        os.fdatasync(fd)
    else:  # macOS, Windows
        os.fsync(fd)


def _what(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return "evidence disk full"
    if exc.errno == errno.EROFS:
        return "evidence disk became read-only"
    if exc.errno == errno.EIO:
        return "I/O error on the evidence disk"
    return f"cannot write evidence ({exc.strerror or exc})"


def _read_at(fd: int, offset: int, n: int) -> bytes:
    """``n`` bytes at ``offset`` of ``fd`` (fewer only at end of file)."""
    parts: list[bytes] = []
    got = 0
    if hasattr(os, "pread"):
        while got < n:
            chunk = os.pread(fd, n - got, offset + got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)
    here = os.lseek(fd, 0, os.SEEK_CUR)  # Windows: no pread
    try:
        os.lseek(fd, offset, os.SEEK_SET)
        while got < n:
            chunk = os.read(fd, n - got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
    finally:
        os.lseek(fd, here, os.SEEK_SET)
    return b"".join(parts)


class RunArchive:
    """The append-only pax tar of one run (see the module docstring).

    ``RunArchive(path)`` creates a new archive and fails with :class:`StoreError` if the file
    exists. ``RunArchive(path, resume_at=n)`` reopens an unfinished archive and cuts it at
    ``n``, the end of the last member the ledger recorded, dropping a torn last member (the
    archive digest then starts from the ``n`` bytes read back). Not thread-safe: one thread
    adds members.
    """

    def __init__(self, path: Path, *, resume_at: int | None = None) -> None:
        self.path = Path(path)
        self._fd = -1
        self._buf = bytearray()
        self._pipeline: HashPipeline | None = None
        self._ring: RingHasher | None = None
        self._closed = False
        self._digest = ArchiveDigest()
        self._digest_ok = True  # False once the digest could not follow a cut
        self._staged: deque[RegionTicket] = deque()  # regions hashed ahead of their write
        self._sealed: Sealed | None = None
        self._final_sha256: str | None = None
        if resume_at is None:
            flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | _O_CLOEXEC | _O_BINARY
            try:
                self._fd = os.open(self.path, flags, 0o644)
            except FileExistsError:
                raise StoreError(
                    f"evidence archive already exists: {self.path} (a run never reuses an archive)"
                ) from None
            except OSError as exc:
                raise StoreError(
                    f"cannot create evidence archive {self.path}: {exc.strerror}"
                ) from exc
            self._pos = 0
        else:
            if resume_at < 0 or resume_at % BLOCK:
                raise StoreError(f"cannot resume {self.path} at {resume_at}: not a member boundary")
            try:
                self._fd = os.open(self.path, os.O_RDWR | _O_CLOEXEC | _O_BINARY)
                size = os.fstat(self._fd).st_size
                if resume_at > size:
                    raise StoreError(
                        f"cannot resume {self.path} at {resume_at}: the archive has only {size} bytes"
                        " (it was truncated after the run recorded its members)"
                    )
                os.ftruncate(self._fd, resume_at)
                os.lseek(self._fd, resume_at, os.SEEK_SET)
                self._digest.rewind(resume_at, self._read_at)
            except StoreError:
                self._close_fd()
                raise
            except OSError as exc:
                self._close_fd()
                raise StoreError(
                    f"cannot resume evidence archive {self.path}: {exc.strerror or exc}"
                ) from exc
            self._pos = resume_at
        self._kept = self._pos  # end of the last member known complete in the file
        self._advised = self._pos  # end of the range last handed to posix_fadvise
        self._ends: list[int] = []  # ends of the complete members still in _buf

    # ---- state

    @property
    def offset(self) -> int:
        """The current end of the archive: where the next member will start."""
        return self._pos + len(self._buf)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def sealed(self) -> Sealed | None:
        """Size and SHA-256 of the archive once :meth:`close` wrote its end (else None)."""
        return self._sealed

    @property
    def sha256(self) -> str | None:
        """SHA-256 (hex) of exactly the bytes the file holds, once closed or abandoned;
        None while it is open, or if it could not be known."""
        return self._final_sha256

    def __enter__(self) -> RunArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._closed:
            if exc[0] is None:
                self.close()
            else:
                self.abandon()

    # ---- writing

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"evidence archive {self.path} is already closed")

    def _read_at(self, offset: int, n: int) -> bytes:
        return _read_at(self._fd, offset, n)

    def _rewind_digest(self, pos: int) -> None:
        """Make the archive digest cover exactly the first ``pos`` bytes of the file."""
        self._staged.clear()
        if not self._digest_ok:
            return
        try:
            self._digest.rewind(pos, self._read_at)
        except OSError:
            self._digest_ok = False

    def _fail(self, exc: OSError, written: int) -> StoreError:
        """Cut the file back to the end of its last complete member; the error to raise."""
        keep = self._kept
        for end in self._ends:
            if end <= written:
                keep = end
        self._buf.clear()
        self._ends.clear()
        try:
            os.ftruncate(self._fd, keep)
            os.lseek(self._fd, keep, os.SEEK_SET)
            cut = f"the archive was cut back to {keep} bytes, the end of its last complete member"
        except OSError as exc2:
            self._digest_ok = False
            cut = (
                f"cutting it back to {keep} bytes failed too ({exc2.strerror}); "
                "resuming the run will cut it"
            )
        self._pos = keep
        self._kept = keep
        self._advised = min(self._advised, keep)
        self._rewind_digest(keep)
        return StoreError(f"{_what(exc)}: {self.path} (wrote {written} bytes; {cut})")

    def _write(
        self, data: bytes | bytearray | memoryview, *, feed: bool = True, stable: bool = True
    ) -> None:
        """Write ``data`` at the current file position (after the buffer was drained) and
        feed it to the archive digest (``stable``: it stays unchanged until hashed)."""
        if feed and self._staged:
            self.unstage()
        total = len(data)
        done = 0
        error: OSError | None = None
        with memoryview(data) as view:
            try:
                while done < total:
                    done += os.write(self._fd, view[done:])
            except OSError as exc:
                error = exc
        if error is not None:
            raise self._fail(error, self._pos + done) from error
        if feed and self._digest_ok:
            self._digest.feed(data, stable=stable)
        self._pos += total
        if self._pos - self._advised >= WRITEBACK_STEP and _FADV_DONTNEED is not None:
            # Start writing these pages to disk now, in the background, and let the page cache
            # drop them once clean: the final sync has little left to wait for, and evidence
            # copies do not push the examined system's files out of its cache.
            try:
                os.posix_fadvise(self._fd, self._advised, self._pos - self._advised, _FADV_DONTNEED)
            except OSError:
                pass
            self._advised = self._pos

    def _write_hashed(self, data: memoryview) -> None:
        """A chunk the pipeline feeds to the borrowed archive digest itself."""
        self._write(data, feed=False)

    def _settled(self) -> None:
        """Everything written so far is complete members."""
        self._kept = self._pos
        if self._digest_ok:
            self._digest.forget_before(self._kept)

    def _drain(self) -> None:
        if self._buf:
            buf, self._buf = self._buf, bytearray()  # the digest may hash it later
            self._write(buf)
        if self._ends:
            self._kept = self._ends[-1]
            self._ends.clear()
            if self._digest_ok:
                self._digest.forget_before(self._kept)

    def _cut(self, start: int) -> None:
        """Drop everything from ``start`` on (a member that could not be completed)."""
        if start >= self._pos:
            del self._buf[start - self._pos :]
            self._ends = [e for e in self._ends if e <= start]
            return
        self._buf.clear()
        self._ends.clear()
        try:
            os.ftruncate(self._fd, start)
            os.lseek(self._fd, start, os.SEEK_SET)
        except OSError as exc:
            raise self._fail(exc, start) from exc
        self._pos = start
        self._kept = min(self._kept, start)
        self._advised = min(self._advised, start)
        self._rewind_digest(start)

    def _append_member(self, header: bytes, data: bytes | bytearray | memoryview, size: int) -> int:
        """Buffer a whole member; returns its data offset."""
        if self._staged:
            self.unstage()
        start = self.offset
        pad = (-size) % BLOCK
        if size >= WRITE_BUFFER:
            self._drain()
            self._write(header)
            self._write(data, stable=isinstance(data, bytes))
            self._write(b"\0" * pad)
            self._settled()
        else:
            buf = self._buf
            buf += header
            buf += data
            if pad:
                buf += b"\0" * pad
            self._ends.append(start + len(header) + size + pad)
            if len(buf) >= WRITE_BUFFER:
                self._drain()
        return start + len(header)

    def add_member(
        self,
        name: str,
        data: bytes | bytearray | memoryview,
        meta: MemberMeta,
        *,
        typeflag: bytes = REGTYPE,
        linkname: str = "",
        digests: Digests | None = None,
    ) -> Member:
        """Append a member whose data is in memory. ``digests`` may be given when already
        computed over exactly ``data`` (the capture hashes on its reader threads)."""
        self._check_open()
        size = len(data)
        header = build_header(name, size, meta, typeflag=typeflag, linkname=linkname)
        if digests is None:
            digests = Digests.of(data)
        start = self.offset
        data_offset = self._append_member(header, data, size)
        return Member(name, start, data_offset, size, digests, _header_digest(header))

    def ring(self) -> RingHasher:
        """The shared ring small members are laid out in (made on first use, two halves of
        :data:`RING_HALF` bytes), with its hasher; see :meth:`append_region`."""
        self._check_open()
        if self._ring is None:
            self._ring = RingHasher(2 * RING_HALF)
        return self._ring

    def stage_region(self, data: memoryview) -> RegionTicket:
        """Start hashing, into the archive digest, a region that :meth:`append_region` will
        append next (regions are appended in the order they are staged). ``data`` must stay
        unchanged until :meth:`wait_region` returns for its ticket. Anything else written
        first drops the head start (:meth:`unstage`); the result is the same."""
        self._check_open()
        self._drain()
        if not self._digest_ok:
            piece = DigestPiece(None, self._pos)
            piece.done.set()
            return RegionTicket(piece, -1)
        ticket = RegionTicket(self._digest.feed(data), len(data))
        self._staged.append(ticket)
        return ticket

    def wait_region(self, ticket: RegionTicket) -> None:
        """Return once the region of ``ticket`` is hashed (its memory may then be reused)."""
        self._digest.wait(ticket.piece)

    def unstage(self) -> None:
        """Forget the head start of staged regions not yet appended (the digest goes back
        to the end of the file; they are hashed again if appended after all)."""
        if self._staged:
            self._rewind_digest(self._pos)

    def append_region(
        self, data: memoryview, ends: list[int], *, ticket: RegionTicket | None = None
    ) -> int:
        """Append complete members laid out back to back in ``data`` (headers, data and
        padding, as :func:`build_header` and :class:`Member` describe them); ``ends`` holds
        the end of each member relative to ``data``. Returns the archive offset of ``data``.
        ``ticket``: the region was staged (:meth:`stage_region`). On a write error the
        complete members that reached the disk are kept."""
        self._check_open()
        base = self.offset
        if not data:
            return base
        if len(data) % BLOCK or not ends or ends[-1] != len(data):
            raise ValueError("a region must hold whole members")
        staged = bool(self._staged) and self._staged[0] is ticket and ticket.length == len(data)
        if staged:
            self._staged.popleft()
        elif self._staged:
            self.unstage()
        self._drain()
        self._ends = [base + e for e in ends]
        self._write(data, feed=not staged, stable=False)
        self._ends.clear()
        self._settled()
        return base

    def add_bytes(
        self,
        name: str,
        data: bytes,
        *,
        mtime_ns: int,
        mode: int = 0o444,
        uid: int = 0,
        gid: int = 0,
        uname: str = "",
        gname: str = "",
    ) -> Member:
        """Append a volatile record (e.g. ``volatile/processes.jsonl``)."""
        meta = MemberMeta(mtime_ns=mtime_ns, mode=mode, uid=uid, gid=gid, uname=uname, gname=gname)
        return self.add_member(name, data, meta)

    def add_symlink(self, name: str, target: str, meta: MemberMeta) -> Member:
        """Append a symbolic link (type ``2``, no data; digests of empty bytes)."""
        if not target:
            raise ValueError("a symlink member needs a target")
        return self.add_member(
            name, b"", meta, typeflag=SYMTYPE, linkname=target, digests=EMPTY_DIGESTS
        )

    def add_stream(
        self,
        name: str,
        size: int,
        readinto: ReadInto,
        meta: MemberMeta,
        *,
        cancel: threading.Event | None = None,
    ) -> Member:
        """Append ``size`` bytes read from ``readinto``, hashed in the same pass.

        If the source ends early the member is cut off and :class:`SourceShrank` raised; if
        ``cancel`` is set between chunks it is cut off and :class:`Cancelled` raised;
        an ``OSError`` from the source is re-raised after the cut. Write errors raise
        :class:`StoreError` (see the module docstring).
        """
        self._check_open()
        header = build_header(name, size, meta)
        header_sha256 = _header_digest(header)
        start = self.offset
        if size <= INLINE_LIMIT:
            buf = bytearray(size)
            view = memoryview(buf)
            got = 0
            while got < size:
                n = readinto(view[got:])
                if not n:
                    raise SourceShrank(got, size)
                got += n
            view.release()
            data_offset = self._append_member(header, buf, size)
            return Member(name, start, data_offset, size, Digests.of(buf), header_sha256)
        if self._staged:
            self.unstage()
        self._drain()
        self._write(header)
        try:
            if self._pipeline is None:
                self._pipeline = HashPipeline()
            also = self._digest.borrow() if self._digest_ok else None
            digests = self._pipeline.run(
                readinto, size, self._write_hashed, cancel=cancel, also=also
            )
            if also is not None and self._digest_ok:
                self._digest.advance(size)
            self._write(b"\0" * ((-size) % BLOCK))
        except StoreError:
            raise
        except BaseException:
            self._cut(start)
            raise
        self._settled()
        return Member(name, start, start + len(header), size, digests, header_sha256)

    def truncate(self, offset: int) -> None:
        """Cut the archive back to ``offset``, the end of a member (drops later members)."""
        self._check_open()
        if offset % BLOCK or offset > self.offset:
            raise ValueError(f"cannot cut the archive at {offset}")
        if self._staged:
            self.unstage()
        self._cut(offset)

    def flush(self, *, sync: bool = True) -> None:
        """Write buffered members; with ``sync`` also ``fdatasync`` so they survive a crash."""
        self._check_open()
        self._drain()
        if sync:
            try:
                _sync(self._fd)
            except OSError as exc:
                raise StoreError(
                    f"{_what(exc)}: {self.path} (sync failed: {exc.strerror})"
                ) from exc

    def sync_in_background(self) -> Callable[[], None]:
        """Write buffered members, and start their ``fdatasync`` on a thread of its own; the
        function returned waits for it, raising :class:`StoreError` as :meth:`flush` would.

        The ledger writer builds and inserts a batch while the disk syncs, and calls the
        function before it commits (``LedgerWriter.before_write``): the ledger still never
        claims bytes that are not on disk. Nothing else may use the archive until the
        function has been called.
        """
        self._check_open()
        self._drain()
        fd, path = self._fd, self.path
        failed: list[OSError] = []

        def sync() -> None:
            try:
                _sync(fd)
            except OSError as exc:
                failed.append(exc)

        thread = threading.Thread(target=sync, name="chainproof-archive-sync", daemon=True)
        thread.start()

        def wait() -> None:
            thread.join()
            if failed:
                exc = failed[0]
                raise StoreError(f"{_what(exc)}: {path} (sync failed: {exc.strerror})") from exc

        return wait

    def _final_digest(self) -> str | None:
        if not self._digest_ok:
            return None
        self.unstage()
        if self._digest.pos != self._pos:
            self._rewind_digest(self._pos)
        return self._digest.hexdigest() if self._digest_ok else None

    def close(self) -> int:
        """Write the end-of-archive marker, sync, make the file read-only; the final size.
        :attr:`sealed` and :attr:`sha256` then give the size and digest of the whole file."""
        if self._closed:
            return self._pos
        self._drain()
        self._write(END_OF_ARCHIVE)
        try:
            _sync(self._fd)
            if hasattr(os, "fchmod"):
                os.fchmod(self._fd, 0o444)
        except OSError as exc:
            raise StoreError(f"{_what(exc)}: {self.path} (closing failed: {exc.strerror})") from exc
        self._final_sha256 = self._final_digest()
        self._close_fd()
        if not hasattr(os, "fchmod"):
            self.path.chmod(0o444)
        self._closed = True
        self._sealed = Sealed(self._pos, self._final_sha256)
        return self._pos

    def abandon(self) -> None:
        """Stop without an end marker (after a crash-like failure); complete members stay.
        :attr:`sha256` then gives the digest of what the file holds."""
        if self._closed:
            return
        try:
            self._drain()
            self._final_sha256 = self._final_digest()
        finally:
            self._close_fd()
            self._closed = True

    def drop(self) -> None:
        """Stop at once without writing what is still buffered: the archive is no longer
        this writer's to change (its run was ended by another process)."""
        if self._closed:
            return
        self._buf.clear()
        self._ends.clear()
        self._close_fd()
        self._closed = True

    def _close_fd(self) -> None:
        self._staged.clear()
        try:
            self._digest.close()
        finally:
            if self._ring is not None:
                self._ring.close()
                self._ring = None
            if self._pipeline is not None:
                self._pipeline.close()
                self._pipeline = None
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


# --------------------------------------------------------------------------- reading


def read_members(path: Path) -> Iterator[tuple[tarfile.TarInfo, int, int]]:
    """Each member of an archive with its header offset and data offset, in order.

    Accepts archives without the end-of-archive marker (a run that never closed). Raises
    :class:`~custody.errors.ArchiveDamaged` naming the offset when the last member is
    torn (its header or data ends early) or bytes that are not a tar follow the members.
    """
    import tarfile  # the verifier only: kept out of start-up

    path = Path(path)
    size = path.stat().st_size
    end = 0
    try:
        tf = tarfile.open(path, "r:", encoding="utf-8", errors="surrogateescape")  # noqa: SIM115 (closed below)
    except tarfile.ReadError as exc:
        if size == 0:
            return
        raise ArchiveDamaged(f"{path}: not a tar archive ({exc})") from exc
    with tf:
        while True:
            try:
                info = tf.next()
            except tarfile.TarError as exc:
                raise ArchiveDamaged(f"{path}: damaged header after offset {end} ({exc})") from exc
            if info is None:
                break
            if info.offset_data + info.size > size:
                raise ArchiveDamaged(
                    f"{path}: member {info.name!r} at offset {info.offset} is torn: "
                    f"{info.size} bytes of data expected, {max(0, size - info.offset_data)} present"
                )
            end = info.offset_data + padded(info.size)
            # TarFile keeps every header it reads (not in its typed API): drop them as we go.
            tf.members.clear()  # type: ignore[attr-defined]
            yield info, info.offset, info.offset_data
    if end < size:
        with path.open("rb") as f:
            f.seek(end)
            rest = f.read()
        if rest.strip(b"\0"):
            raise ArchiveDamaged(
                f"{path}: torn member at offset {end}: {size - end} bytes that are not a complete "
                "tar header follow the last complete member"
            )
