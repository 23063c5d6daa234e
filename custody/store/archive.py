"""The run archive: one append-only POSIX pax tar per run, hashed while it is written.

Every member is a pax extended header (exact name bytes, nanosecond ``mtime``/``atime``/
``ctime``, owner, ``SCHILY.xattr.*``) followed by a ustar header and the data, padded to
512 bytes. Members are only ever appended; the end-of-archive marker (two zero blocks) is
written by :meth:`RunArchive.close`. An archive that was never closed (a crash) is still
read by any ``tar``: every complete member is there, and a torn last member is cut off
when the run resumes (``RunArchive(path, resume_at=end_of_last_recorded_member)``).

Bytes pass once: they are read into large reused buffers, written to the archive, and
hashed with SHA-256, SHA-1 and MD5 on worker threads (hashlib releases the GIL), so
reading, writing and the three digests overlap.

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
import mmap
import os
import queue
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from custody.errors import ArchiveDamaged, Cancelled, StoreError
from custody.store.sources import ns_text

if TYPE_CHECKING:
    import tarfile  # the verifier only: kept out of start-up

BLOCK = 512
END_OF_ARCHIVE = b"\0" * (2 * BLOCK)
CHUNK = 1 << 20  # bytes per read when streaming a large source
STREAM_BUFFERS = 8  # chunks in flight between the reader, the writer and the hashers
INLINE_LIMIT = 256 << 10  # sources up to this size are read whole and hashed inline
WRITE_BUFFER = 1 << 20  # small members are gathered up to this size before a write
RING_HALF = 8 << 20  # each half of the shared ring that small members are laid out in
WRITEBACK_STEP = 32 << 20  # start writing back to disk every this many bytes (Linux)

REGTYPE = b"0"
SYMTYPE = b"2"
XHDTYPE = b"x"
_PAX_HEADER_NAME = b"././@PaxHeader"
_MAX_OCTAL_7 = 8**7
_MAX_OCTAL_11 = 8**11

ReadInto = Callable[[memoryview], int]
"""A source: fills the start of the buffer, returns the number of bytes (0 at end)."""


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Digests:
    """The three digests of one byte stream, lower-case hex; prints as ``sha256:<hex>``."""

    sha256: str
    sha1: str
    md5: str

    def __str__(self) -> str:
        return f"sha256:{self.sha256}"

    @classmethod
    def of(cls, data: bytes | bytearray | memoryview) -> Digests:
        """Digests of bytes in memory."""
        return cls(
            hashlib.sha256(data).hexdigest(),
            hashlib.sha1(data).hexdigest(),
            hashlib.md5(data).hexdigest(),
        )


EMPTY_DIGESTS = Digests.of(b"")


@dataclass(frozen=True)
class Member:
    """Where one member lies in the archive and what its data hashes to.

    ``header_offset`` is the start of its pax extended header, ``data_offset`` the start of
    its data, ``size`` the data length; :attr:`end` is where the next member starts.
    """

    name: str
    header_offset: int
    data_offset: int
    size: int
    digests: Digests

    @property
    def end(self) -> int:
        return self.data_offset + _padded(self.size)


@dataclass(frozen=True)
class MemberMeta:
    """The metadata written in a member's headers.

    Times are nanoseconds since the epoch (``atime``/``ctime`` are left out when None);
    ``mode`` holds the permission bits; ``xattrs`` maps attribute names (surrogate-escaped
    str) to their raw values, written as ``SCHILY.xattr.<name>`` records.
    """

    mtime_ns: int
    mode: int = 0o444
    uid: int = 0
    gid: int = 0
    uname: str = ""
    gname: str = ""
    atime_ns: int | None = None
    ctime_ns: int | None = None
    xattrs: Mapping[str, bytes] = field(default_factory=dict)


class SourceShrank(Exception):
    """The source ended before the size given in the header; the member was cut off."""

    def __init__(self, got: int, expected: int) -> None:
        super().__init__(f"source ended after {got} of {expected} bytes")
        self.got = got
        self.expected = expected


# --------------------------------------------------------------------------- headers


def _padded(size: int) -> int:
    return (size + BLOCK - 1) // BLOCK * BLOCK


def _pax_record(key: bytes, value: bytes) -> bytes:
    n = len(key) + len(value) + 3  # " " "=" "\n"
    if n <= 97:  # the usual case: the length has two digits
        return b"%d %s=%s\n" % (n + 2, key, value)
    digits = len(str(n))
    while len(str(n + digits)) != digits:
        digits += 1
    return b"%d %s=%s\n" % (n + digits, key, value)


_USTAR_CONSTANT = 8 * 0x20 + sum(b"ustar\x0000") + sum(b"0000000\x000000000\x00")


def _ustar(
    name: bytes,
    mode: int,
    uid: int,
    gid: int,
    size: int,
    mtime: int,
    typeflag: bytes,
    linkname: bytes,
    uname: bytes,
    gname: bytes,
) -> bytes:
    name = name[:100]
    linkname = linkname[:100]
    uname = uname[:32]
    gname = gname[:32]
    numbers = b"%07o\0%07o\0%07o\0%011o\0%011o\0" % (
        mode & 0o7777,
        uid if 0 <= uid < _MAX_OCTAL_7 else 0,
        gid if 0 <= gid < _MAX_OCTAL_7 else 0,
        size if size < _MAX_OCTAL_11 else 0,
        mtime if 0 <= mtime < _MAX_OCTAL_11 else 0,
    )
    checksum = (
        sum(name) + sum(numbers) + typeflag[0] + sum(linkname) + sum(uname) + sum(gname)
    ) + _USTAR_CONSTANT
    return b"%s%s%s%06o\0 %s%s%sustar\x0000%s%s%s0000000\x000000000\x00%s" % (
        name,
        _ZEROS[: 100 - len(name)],
        numbers,
        checksum,
        typeflag,
        linkname,
        _ZEROS[: 100 - len(linkname)],
        uname,
        _ZEROS[: 32 - len(uname)],
        gname + _ZEROS[: 32 - len(gname)],
        _ZEROS[:167],
    )


_ZEROS = bytes(BLOCK)


def _is_utf8(raw: bytes) -> bool:
    if raw.isascii():
        return True
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


_xheaders: dict[int, bytes] = {}


def _xheader(pax_size: int) -> bytes:
    """The ustar header of a pax extended header (it depends only on the records' size)."""
    hdr = _xheaders.get(pax_size)
    if hdr is None:
        hdr = _ustar(_PAX_HEADER_NAME, 0o644, 0, 0, pax_size, 0, XHDTYPE, b"", b"", b"")
        if len(_xheaders) < 4096:
            _xheaders[pax_size] = hdr
    return hdr


def encode_header(
    name: bytes,
    size: int,
    *,
    mode: int,
    uid: int,
    gid: int,
    uname: bytes,
    gname: bytes,
    mtime: str,
    atime: str | None,
    ctime: str | None,
    xattrs: Mapping[str, bytes],
    typeflag: bytes = REGTYPE,
    linkname: bytes = b"",
) -> bytes:
    """The headers of one member from encoded values (see :func:`build_header`); times are
    :func:`~custody.store.sources.ns_text` strings. The fast path for many small files."""
    binary = not name.isascii() and not _is_utf8(name)
    records = [_pax_record(b"path", name)]
    if linkname:
        binary = binary or not _is_utf8(linkname)
        records.append(_pax_record(b"linkpath", linkname))
    if atime is not None and ctime is not None and len(mtime) == len(atime) == len(ctime) == 20:
        # 2001-2286 with nanoseconds: each record is 30 bytes long
        records.append(
            b"30 mtime=%s\n30 atime=%s\n30 ctime=%s\n"
            % (mtime.encode(), atime.encode(), ctime.encode())
        )
    else:
        records.append(_pax_record(b"mtime", mtime.encode()))
        if atime is not None:
            records.append(_pax_record(b"atime", atime.encode()))
        if ctime is not None:
            records.append(_pax_record(b"ctime", ctime.encode()))
    if size >= _MAX_OCTAL_11:
        records.append(_pax_record(b"size", b"%d" % size))
    if not 0 <= uid < _MAX_OCTAL_7:
        records.append(_pax_record(b"uid", b"%d" % uid))
    if not 0 <= gid < _MAX_OCTAL_7:
        records.append(_pax_record(b"gid", b"%d" % gid))
    if len(uname) > 32 or not uname.isascii():
        binary = binary or not _is_utf8(uname)
        records.append(_pax_record(b"uname", uname))
    if len(gname) > 32 or not gname.isascii():
        binary = binary or not _is_utf8(gname)
        records.append(_pax_record(b"gname", gname))
    for key, value in xattrs.items():
        key_b = _encode(key)
        if b"=" in key_b or b"\n" in key_b or b"\0" in key_b:
            raise ValueError(f"extended attribute name cannot be stored in pax: {key!r}")
        records.append(_pax_record(b"SCHILY.xattr." + key_b, bytes(value)))
    if binary:
        records.insert(0, b"21 hdrcharset=BINARY\n")
    pax = b"".join(records)
    return b"%s%s%s%s" % (
        _xheader(len(pax)),
        pax,
        _ZEROS[: (-len(pax)) % BLOCK],
        _ustar(
            name,
            mode,
            uid,
            gid,
            size,
            int(mtime.partition(".")[0]),
            typeflag,
            linkname,
            uname,
            gname,
        ),
    )


def build_header(
    name: str, size: int, meta: MemberMeta, *, typeflag: bytes = REGTYPE, linkname: str = ""
) -> bytes:
    """The pax extended header and the ustar header of one member (a multiple of 512 bytes).

    The pax header always carries ``path`` and the times; ``linkpath``, ``size``, ``uid``,
    ``gid``, ``uname``, ``gname`` when the ustar fields cannot hold them; and
    ``hdrcharset=BINARY`` when a name is not UTF-8, so readers keep its exact bytes.
    Extended attributes whose names contain ``=``, a newline or NUL cannot be written and
    raise :class:`ValueError` (the capture leaves them out and records why).
    """
    return encode_header(
        _encode(name),
        size,
        mode=meta.mode,
        uid=meta.uid,
        gid=meta.gid,
        uname=_encode(meta.uname),
        gname=_encode(meta.gname),
        mtime=ns_text(meta.mtime_ns),
        atime=None if meta.atime_ns is None else ns_text(meta.atime_ns),
        ctime=None if meta.ctime_ns is None else ns_text(meta.ctime_ns),
        xattrs=meta.xattrs,
        typeflag=typeflag,
        linkname=_encode(linkname),
    )


# --------------------------------------------------------------------------- hashing


class _HashWorker(threading.Thread):
    """Applies the hashers it is given to each chunk, in order; reports each chunk done."""

    def __init__(self) -> None:
        super().__init__(name="chainproof-hash", daemon=True)
        self.inbox: queue.SimpleQueue[tuple[tuple[hashlib._Hash, ...], memoryview] | None] = (
            queue.SimpleQueue()
        )
        self.done: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()

    def run(self) -> None:
        while (item := self.inbox.get()) is not None:
            hashers, chunk = item
            try:
                for h in hashers:
                    h.update(chunk)
            except Exception as exc:  # noqa: BLE001 (re-raised by the streaming thread)
                self.done.put(exc)
            else:
                self.done.put(None)


class HashPipeline:
    """Streams a source through reused buffers: each chunk is handed to a sink (the archive
    write) on the calling thread and hashed on worker threads meanwhile.

    MD5, the slowest, has a thread of its own; SHA-256 and SHA-1 one each. Threads start on
    first use and stop with :meth:`close`.
    """

    def __init__(self, *, chunk: int = CHUNK, buffers: int = STREAM_BUFFERS) -> None:
        self._chunk = chunk
        self._count = buffers
        self._buffers: list[memoryview] = []
        self._workers: list[_HashWorker] = []

    def _start(self) -> None:
        if not self._workers:
            self._workers = [_HashWorker() for _ in range(3)]
            for w in self._workers:
                w.start()
        if not self._buffers:
            self._buffers = [memoryview(bytearray(self._chunk)) for _ in range(self._count)]

    def close(self) -> None:
        for w in self._workers:
            w.inbox.put(None)
        for w in self._workers:
            w.join()
        self._workers = []
        self._buffers = []

    def run(
        self,
        readinto: ReadInto,
        size: int,
        sink: Callable[[memoryview], None] | None = None,
        *,
        cancel: threading.Event | None = None,
    ) -> Digests:
        """Read exactly ``size`` bytes from ``readinto``, pass them to ``sink``, hash them.

        Raises :class:`SourceShrank` if the source ends early, :class:`Cancelled` if
        ``cancel`` is set between chunks, and whatever ``readinto`` or ``sink`` raise; in
        every case the workers are idle again when it returns or raises.
        """
        self._start()
        md5, sha256, sha1 = hashlib.md5(), hashlib.sha256(), hashlib.sha1()
        groups = ((md5,), (sha256,), (sha1,))
        workers = self._workers
        buffers = self._buffers
        count = len(buffers)
        outstanding = 0  # chunks given to every worker and not yet reported done
        done = 0
        slot = 0
        failure: BaseException | None = None
        try:
            while done < size:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("capture cancelled")
                if outstanding == count:
                    outstanding -= 1
                    for w in workers:
                        if (exc := w.done.get()) is not None:
                            failure = exc
                    if failure is not None:
                        raise failure
                buf = buffers[slot]
                slot = (slot + 1) % count
                want = min(self._chunk, size - done)
                view = buf[:want]
                got = 0
                while got < want:
                    n = readinto(view[got:])
                    if not n:
                        break
                    got += n
                if got == 0:
                    raise SourceShrank(done, size)
                chunk = view[:got]
                if sink is not None:
                    sink(chunk)
                for w, g in zip(workers, groups, strict=True):
                    w.inbox.put((g, chunk))
                outstanding += 1
                done += got
                if got < want:
                    raise SourceShrank(done, size)
        finally:
            for _ in range(outstanding):
                for w in workers:
                    if (exc := w.done.get()) is not None and failure is None:
                        failure = exc
        if failure is not None:
            raise failure
        return Digests(sha256.hexdigest(), sha1.hexdigest(), md5.hexdigest())


# The helper process of RingHasher: it maps the shared ring and hashes the ranges it is
# sent, in its own interpreter (its own GIL, so it runs on another core). Requests on
# stdin: "<II" (batch number, count), then count * "<QQ" (offset, length); count 0 ends
# it. Replies on stdout: "<I" batch number, then per range the raw SHA-256, SHA-1 and MD5
# digests (68 bytes). The batch number keeps both sides in step.
_HELPER = """
import hashlib, mmap, os, struct, sys
fd, size = int(sys.argv[1]), int(sys.argv[2])
ring = memoryview(mmap.mmap(fd, size))
os.close(fd)
sha256, sha1, md5 = hashlib.sha256, hashlib.sha1, hashlib.md5
def read(n):
    parts = []
    while n:
        b = os.read(0, n)
        if not b:
            sys.exit(0)
        parts.append(b)
        n -= len(b)
    return b"".join(parts)
while True:
    seq, count = struct.unpack("<II", read(8))
    if not count:
        break
    out = [struct.pack("<I", seq)]
    for off, ln in struct.iter_unpack("<QQ", read(16 * count)):
        d = ring[off:off + ln]
        out.append(sha256(d).digest() + sha1(d).digest() + md5(d).digest())
    view = memoryview(b"".join(out))
    while view:
        view = view[os.write(1, view):]
"""
_REPLY = 32 + 20 + 16


class RingHasher:
    """A shared memory ring for small members, and hashing of its ranges off the GIL.

    Small files are read straight into the ring, laid out exactly as their archive members
    (headers, data, padding); the ranges holding data are hashed by a helper process (its
    own interpreter and GIL: the second core) while this process reads the next files,
    and the ring is then written to the archive as it is. With threads, hashing many small
    buffers is slower than doing it serially, because of the GIL hand-offs.

    Where a helper cannot run (no ``memfd_create``: macOS, Windows; a frozen build; the
    helper failed to start or died) the ranges are hashed in the calling thread, from the
    same memory: the results are the same, only slower.
    """

    def __init__(self, size: int, *, helper: bool = True) -> None:
        self.size = size
        self._map: mmap.mmap | bytearray | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._want_helper = helper
        self._fd = -1
        self._outstanding: deque[tuple[list[tuple[int, int]], list[Digests] | None]] = deque()
        self._seq = 0
        self._seqs: deque[int] = deque()  # batch numbers sent to the helper, unanswered
        if helper and hasattr(os, "memfd_create") and not getattr(sys, "frozen", False):
            try:
                self._fd = os.memfd_create("chainproof-ring", os.MFD_CLOEXEC)
                os.ftruncate(self._fd, size)
                self._map = mmap.mmap(self._fd, size)
            except OSError:
                self._close_memfd()
                self._map = None
        if self._map is None:
            self._map = bytearray(size)
        self.view = memoryview(self._map)

    def _close_memfd(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _start(self) -> bool:
        if self._proc is not None:
            return True
        if self._fd < 0 or not sys.executable:
            return False
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _HELPER, str(self._fd), str(self.size)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                pass_fds=(self._fd,),
                close_fds=True,
            )
        except OSError:
            self._close_memfd()
            return False
        self._close_memfd()  # the helper has its own copy; ours is no longer needed
        return True

    @staticmethod
    def _inline(view: memoryview, ranges: list[tuple[int, int]]) -> list[Digests]:
        out = []
        for off, length in ranges:
            d = view[off : off + length]
            out.append(
                Digests(
                    hashlib.sha256(d).hexdigest(),
                    hashlib.sha1(d).hexdigest(),
                    hashlib.md5(d).hexdigest(),
                )
            )
        return out

    def submit(self, ranges: list[tuple[int, int]]) -> None:
        """Start hashing ``ranges`` (ring offset, length); at most two batches outstanding.

        Small batches are hashed at once in this thread: a helper is started only for
        batches worth it.
        """
        if len(ranges) < 16 and self._proc is None:
            self._outstanding.append((ranges, self._inline(self.view, ranges)))
            return
        if self._start() and self._proc is not None and self._proc.stdin is not None:
            self._seq = (self._seq + 1) & 0xFFFFFFFF
            message = struct.pack("<II", self._seq, len(ranges)) + b"".join(
                struct.pack("<QQ", off, length) for off, length in ranges
            )
            try:
                self._proc.stdin.write(message)
                self._proc.stdin.flush()
            except OSError:
                self._helper_died()
            else:
                self._outstanding.append((ranges, None))
                self._seqs.append(self._seq)
                return
        self._outstanding.append((ranges, self._inline(self.view, ranges)))

    def collect(self) -> list[Digests]:
        """The digests of the oldest submitted batch, in its order."""
        ranges, done = self._outstanding.popleft()
        if done is not None:
            return done
        proc = self._proc
        seq = self._seqs.popleft()
        if proc is not None and proc.stdout is not None:
            try:
                raw = proc.stdout.read(4 + _REPLY * len(ranges))
            except OSError:
                raw = b""
            if len(raw) == 4 + _REPLY * len(ranges) and raw[:4] == struct.pack("<I", seq):
                raw = raw[4:]
                return [
                    Digests(
                        raw[i + 0 : i + 32].hex(),
                        raw[i + 32 : i + 52].hex(),
                        raw[i + 52 : i + 68].hex(),
                    )
                    for i in range(0, len(raw), _REPLY)
                ]
        self._helper_died()
        return self._inline(self.view, ranges)

    def _helper_died(self) -> None:
        """Hash what was sent to a failed helper here instead (the ring still holds it)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:  # unflushed bytes to a dead process
                        pass
        self._outstanding = deque(
            (r, d if d is not None else self._inline(self.view, r)) for r, d in self._outstanding
        )
        self._seqs.clear()

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                if proc.stdin is not None:
                    proc.stdin.write(struct.pack("<II", 0, 0))
                    proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        self._outstanding.clear()
        self._seqs.clear()
        self._close_memfd()
        self.view.release()
        if isinstance(self._map, mmap.mmap):
            self._map.close()


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


class RunArchive:
    """The append-only pax tar of one run (see the module docstring).

    ``RunArchive(path)`` creates a new archive and fails with :class:`StoreError` if the file
    exists. ``RunArchive(path, resume_at=n)`` reopens an unfinished archive and cuts it at
    ``n``, the end of the last member the ledger recorded, dropping a torn last member.
    Not thread-safe: one thread adds members.
    """

    def __init__(self, path: Path, *, resume_at: int | None = None) -> None:
        self.path = Path(path)
        self._fd = -1
        self._buf = bytearray()
        self._pipeline: HashPipeline | None = None
        self._ring: RingHasher | None = None
        self._closed = False
        if resume_at is None:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC | _O_BINARY
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
                self._fd = os.open(self.path, os.O_WRONLY | _O_CLOEXEC | _O_BINARY)
                size = os.fstat(self._fd).st_size
                if resume_at > size:
                    raise StoreError(
                        f"cannot resume {self.path} at {resume_at}: the archive has only {size} bytes"
                        " (it was truncated after the run recorded its members)"
                    )
                os.ftruncate(self._fd, resume_at)
                os.lseek(self._fd, resume_at, os.SEEK_SET)
            except StoreError:
                self._close_fd()
                raise
            except OSError as exc:
                self._close_fd()
                raise StoreError(
                    f"cannot resume evidence archive {self.path}: {exc.strerror}"
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
            cut = (
                f"cutting it back to {keep} bytes failed too ({exc2.strerror}); "
                "resuming the run will cut it"
            )
        self._pos = keep
        self._kept = keep
        self._advised = min(self._advised, keep)
        return StoreError(f"{_what(exc)}: {self.path} (wrote {written} bytes; {cut})")

    def _write(self, data: bytes | bytearray | memoryview) -> None:
        """Write ``data`` at the current file position (after the buffer was drained)."""
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

    def _drain(self) -> None:
        if self._buf:
            self._write(self._buf)
            self._buf.clear()
        if self._ends:
            self._kept = self._ends[-1]
            self._ends.clear()

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

    def _append_member(self, header: bytes, data: bytes | bytearray | memoryview, size: int) -> int:
        """Buffer a whole member; returns its data offset."""
        start = self.offset
        pad = (-size) % BLOCK
        if size >= WRITE_BUFFER:
            self._drain()
            self._write(header)
            self._write(data)
            self._write(b"\0" * pad)
            self._kept = self._pos
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
        return Member(name, start, data_offset, size, digests)

    def ring(self) -> RingHasher:
        """The shared ring small members are laid out in (made on first use, two halves of
        :data:`RING_HALF` bytes), with its hasher; see :meth:`append_region`."""
        self._check_open()
        if self._ring is None:
            self._ring = RingHasher(2 * RING_HALF)
        return self._ring

    def append_region(self, data: memoryview, ends: list[int]) -> int:
        """Append complete members laid out back to back in ``data`` (headers, data and
        padding, as :func:`build_header` and :class:`Member` describe them); ``ends`` holds
        the end of each member relative to ``data``. Returns the archive offset of ``data``.
        On a write error the complete members that reached the disk are kept."""
        self._check_open()
        base = self.offset
        if not data:
            return base
        if len(data) % BLOCK or not ends or ends[-1] != len(data):
            raise ValueError("a region must hold whole members")
        self._drain()
        self._ends = [base + e for e in ends]
        self._write(data)
        self._kept = self._pos
        self._ends.clear()
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
            return Member(name, start, data_offset, size, Digests.of(buf))
        self._drain()
        self._write(header)
        try:
            if self._pipeline is None:
                self._pipeline = HashPipeline()
            digests = self._pipeline.run(readinto, size, self._write, cancel=cancel)
            self._write(b"\0" * ((-size) % BLOCK))
        except StoreError:
            raise
        except BaseException:
            self._cut(start)
            raise
        self._kept = self._pos
        return Member(name, start, start + len(header), size, digests)

    def truncate(self, offset: int) -> None:
        """Cut the archive back to ``offset``, the end of a member (drops later members)."""
        self._check_open()
        if offset % BLOCK or offset > self.offset:
            raise ValueError(f"cannot cut the archive at {offset}")
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

    def close(self) -> int:
        """Write the end-of-archive marker, sync, make the file read-only; the final size."""
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
        self._close_fd()
        if not hasattr(os, "fchmod"):
            self.path.chmod(0o444)
        self._closed = True
        return self._pos

    def abandon(self) -> None:
        """Stop without an end marker (after a crash-like failure); complete members stay."""
        if self._closed:
            return
        try:
            self._drain()
        finally:
            self._close_fd()
            self._closed = True

    def _close_fd(self) -> None:
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
            end = info.offset_data + _padded(info.size)
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
