"""Hashing evidence bytes off the critical path.

* :class:`HashPipeline` streams a large source through reused buffers, hashing each chunk
  with SHA-256, SHA-1 and MD5 on worker threads (hashlib releases the GIL on large
  buffers) while the calling thread writes it.
* :class:`RingHasher` hashes the ranges of a shared memory ring of small members in a
  helper process (:mod:`custody.store.ring_helper`: its own interpreter, so its own core).
* :class:`ArchiveDigest` keeps the SHA-256 of a whole archive as it is written, on a
  worker thread, and can rewind it when the archive is cut back.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import queue
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

from custody.errors import Cancelled
from custody.record.digests import Digests

CHUNK = 1 << 20  # bytes per read when streaming a large source
STREAM_BUFFERS = 8  # chunks in flight between the reader, the writer and the hashers

ReadInto = Callable[[memoryview], int]
"""A source: fills the start of the buffer, returns the number of bytes (0 at end)."""


class SourceShrank(Exception):
    """The source ended before the size given in the header; the member was cut off."""

    def __init__(self, got: int, expected: int) -> None:
        super().__init__(f"source ended after {got} of {expected} bytes")
        self.got = got
        self.expected = expected


# --------------------------------------------------------------------------- pipeline


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

    MD5, the slowest, has a thread of its own; SHA-256 and SHA-1 one each (the SHA-1
    thread also feeds the archive's own digest, see :meth:`run`). Threads start on first
    use and stop with :meth:`close`.
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
        also: hashlib._Hash | None = None,
    ) -> Digests:
        """Read exactly ``size`` bytes from ``readinto``, pass them to ``sink``, hash them.

        ``also`` is one more hasher fed every chunk in order (the archive's digest), on the
        SHA-1 thread. Raises :class:`SourceShrank` if the source ends early,
        :class:`Cancelled` if ``cancel`` is set between chunks, and whatever ``readinto``
        or ``sink`` raise; in every case the workers are idle again when it returns or
        raises.
        """
        self._start()
        md5, sha256, sha1 = hashlib.md5(), hashlib.sha256(), hashlib.sha1()
        groups = ((md5,), (sha256,), (sha1,) if also is None else (sha1, also))
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


# --------------------------------------------------------------------------- ring

_REPLY = 32 + 20 + 16
HELPER = Path(__file__).with_name("ring_helper.py")


class RingHasher:
    """A shared memory ring for small members, and hashing of its ranges off the GIL.

    Small files are read straight into the ring, laid out exactly as their archive members
    (headers, data, padding); the ranges holding data (three digests) and headers (SHA-256)
    are hashed by a helper process (:mod:`custody.store.ring_helper`, its own interpreter
    and GIL: the second core) while this process reads the next files, and the ring is
    then written to the archive as it is. With threads, hashing many small buffers is
    slower than doing it serially, because of the GIL hand-offs.

    Where a helper cannot run (no ``memfd_create``: macOS, Windows; a frozen build; the
    helper failed to start or died) the ranges are hashed in the calling thread, from the
    same memory: the results are the same, only slower.
    """

    def __init__(self, size: int, *, helper: bool = True) -> None:
        self.size = size
        self._map: mmap.mmap | bytearray | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._fd = -1
        Batch = tuple[list[tuple[int, int]], list[tuple[int, int]]]
        self._outstanding: deque[tuple[Batch, tuple[list[Digests], list[str]] | None]] = deque()
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
        if self._fd < 0 or not sys.executable or not HELPER.is_file():
            return False
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(HELPER), str(self._fd), str(self.size)],
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
    def _inline(
        view: memoryview, ranges: list[tuple[int, int]], headers: list[tuple[int, int]]
    ) -> tuple[list[Digests], list[str]]:
        out = [Digests.of(view[off : off + length]) for off, length in ranges]
        return out, [hashlib.sha256(view[off : off + ln]).hexdigest() for off, ln in headers]

    def submit(
        self, ranges: list[tuple[int, int]], headers: list[tuple[int, int]] | None = None
    ) -> None:
        """Start hashing ``ranges`` (ring offset, length: three digests) and ``headers``
        (SHA-256 only); at most two batches outstanding.

        Small batches are hashed at once in this thread: a helper is started only for
        batches worth it.
        """
        headers = headers or []
        batch = (ranges, headers)
        if (len(ranges) < 16 and self._proc is None) or not (ranges or headers):
            self._outstanding.append((batch, self._inline(self.view, ranges, headers)))
            return
        if self._start() and self._proc is not None and self._proc.stdin is not None:
            self._seq = (self._seq + 1) & 0xFFFFFFFF
            message = struct.pack("<III", self._seq, len(ranges), len(headers)) + b"".join(
                struct.pack("<QQ", off, length) for off, length in (*ranges, *headers)
            )
            try:
                self._proc.stdin.write(message)
                self._proc.stdin.flush()
            except OSError:
                self._helper_died()
            else:
                self._outstanding.append((batch, None))
                self._seqs.append(self._seq)
                return
        self._outstanding.append((batch, self._inline(self.view, ranges, headers)))

    def collect(self) -> list[Digests]:
        """The digests of the data ranges of the oldest submitted batch, in its order."""
        return self.collect_all()[0]

    def collect_all(self) -> tuple[list[Digests], list[str]]:
        """The oldest submitted batch: digests of its data ranges, SHA-256 (hex) of its
        header ranges."""
        (ranges, headers), done = self._outstanding.popleft()
        if done is not None:
            return done
        proc = self._proc
        seq = self._seqs.popleft()
        if proc is not None and proc.stdout is not None:
            want = 4 + _REPLY * len(ranges) + 32 * len(headers)
            try:
                raw = proc.stdout.read(want)
            except OSError:
                raw = b""
            if len(raw) == want and raw[:4] == struct.pack("<I", seq):
                split = 4 + _REPLY * len(ranges)
                digests = [
                    Digests(
                        raw[i + 0 : i + 32].hex(),
                        raw[i + 32 : i + 52].hex(),
                        raw[i + 52 : i + 68].hex(),
                    )
                    for i in range(4, split, _REPLY)
                ]
                return digests, [raw[i : i + 32].hex() for i in range(split, want, 32)]
        self._helper_died()
        return self._inline(self.view, ranges, headers)

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
            (b, d if d is not None else self._inline(self.view, *b)) for b, d in self._outstanding
        )
        self._seqs.clear()

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                if proc.stdin is not None:
                    proc.stdin.write(struct.pack("<III", 0, 0, 0))
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
            try:
                self._map.close()
            except BufferError:  # a slice is still referenced: unmapped when it goes
                pass


# --------------------------------------------------------------------------- archive digest

Buffer = bytes | bytearray | memoryview
ReadAt = Callable[[int, int], bytes]
"""Reads ``n`` bytes at an offset of the archive file (for rewinding the digest)."""

INLINE_HASH = 64 << 10  # pieces up to this size are hashed on the calling thread when idle


class DigestPiece:
    """A piece of the archive queued for hashing; ``state`` is the digest before it."""

    __slots__ = ("data", "done", "start", "state")

    def __init__(self, data: Buffer | None, start: int) -> None:
        self.data = data
        self.start = start
        self.state: hashlib._Hash | None = None
        self.done = threading.Event()


class ArchiveDigest:
    """The SHA-256 of an archive's bytes, fed in file order and hashed on a worker thread.

    :meth:`feed` queues a piece: it must stay unchanged until it is hashed (:meth:`wait`),
    so only immutable ``bytes``, or buffers the caller keeps for that long, are queued;
    small pieces are hashed at once when nothing is queued. Before each piece the state
    is kept, so :meth:`rewind` can go back to any position at or after the oldest kept
    piece (the bytes between are read back from the file). :meth:`borrow` hands the hasher
    itself to a :class:`HashPipeline`, which feeds it on its own thread.
    """

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self.pos = 0  # bytes fed
        self._pieces: deque[DigestPiece] = deque()  # kept states, oldest first
        self._queue: queue.SimpleQueue[DigestPiece | None] | None = None
        self._thread: threading.Thread | None = None
        self._last: DigestPiece | None = None  # the last piece queued
        self._failed: BaseException | None = None
        self._borrowed = False  # a pipeline fed the hasher beyond ``pos``

    # ---- feeding

    def _worker(self) -> None:
        assert self._queue is not None
        while (piece := self._queue.get()) is not None:
            try:
                piece.state = self._h.copy()
                if piece.data is not None:
                    self._h.update(piece.data)
            except Exception as exc:  # noqa: BLE001 (reported by wait())
                self._failed = exc
            finally:
                piece.data = None
                piece.done.set()

    def _idle(self) -> bool:
        return self._last is None or self._last.done.is_set()

    def feed(self, data: Buffer, *, stable: bool = True) -> DigestPiece:
        """Hash ``data`` next. ``stable``: ``data`` stays unchanged until the returned
        piece is done, so it may be hashed later on the worker; otherwise it is hashed now."""
        piece = DigestPiece(data, self.pos)
        self.pos += len(data)
        self._pieces.append(piece)
        if not stable or (len(data) <= INLINE_HASH and self._idle()):
            self.wait()
            piece.state = self._h.copy()
            self._h.update(data)
            piece.data = None
            piece.done.set()
            return piece
        if self._queue is None:
            self._queue = queue.SimpleQueue()
            self._thread = threading.Thread(
                target=self._worker, name="chainproof-archive-hash", daemon=True
            )
            self._thread.start()
        self._last = piece
        self._queue.put(piece)
        return piece

    def wait(self, piece: DigestPiece | None = None) -> None:
        """Wait until ``piece`` (default: everything fed) has been hashed."""
        target = piece if piece is not None else self._last
        if target is not None:
            target.done.wait()
        if self._failed is not None:
            raise self._failed

    def borrow(self) -> hashlib._Hash:
        """The hasher itself, idle, for a pipeline to feed; call :meth:`advance` after."""
        self.wait()
        self._keep_state()
        self._borrowed = True
        return self._h

    def advance(self, n: int) -> None:
        """``n`` bytes were fed to the borrowed hasher."""
        self.pos += n
        self._borrowed = False

    # ---- positions

    def forget_before(self, pos: int) -> None:
        """States before the last one at or before ``pos`` are no longer needed."""
        pieces = self._pieces
        while len(pieces) > 1 and pieces[1].start <= pos and pieces[1].done.is_set():
            pieces.popleft()

    def rewind(self, pos: int, read_at: ReadAt) -> None:
        """Make the digest cover exactly the first ``pos`` bytes: back to a kept state at or
        before ``pos`` (or on from the current one), then bytes read back with ``read_at``."""
        self.wait()
        if pos < self.pos or self._borrowed:
            while self._pieces and self._pieces[-1].start > pos:
                self._pieces.pop()
            base = self._pieces[-1] if self._pieces else None
            if base is None or base.state is None:
                self._h, start = hashlib.sha256(), 0
            else:
                self._h, start = base.state.copy(), base.start
        else:
            start = self.pos
        self._borrowed = False
        self._last = None
        self._pieces.clear()
        while start < pos:
            n = min(CHUNK, pos - start)
            data = read_at(start, n)
            if len(data) != n:
                raise OSError(f"read back {len(data)} of {n} bytes at offset {start}")
            self._h.update(data)
            start += n
        self.pos = pos
        self._keep_state()

    def _keep_state(self) -> None:
        piece = DigestPiece(None, self.pos)
        piece.state = self._h.copy()
        piece.done.set()
        self._pieces.append(piece)

    def hexdigest(self) -> str:
        self.wait()
        return self._h.hexdigest()

    def close(self) -> None:
        """Stop the worker (after the queued pieces are hashed)."""
        if self._queue is not None and self._thread is not None:
            self._queue.put(None)
            self._thread.join()
        self._queue = None
        self._thread = None
        self._last = None
        self._pieces.clear()
