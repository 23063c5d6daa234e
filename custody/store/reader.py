"""Reading run archives: once, front to back, for verification; one member, for extraction.

:class:`ArchiveReader` reads the file in 1 MiB blocks and hands out views of them (telling
``on_read`` after each: how far verification is, and where it may be cancelled), so a
verifier walks headers, data and padding in one sequential pass with flat memory; every
byte read passes, in order, through the SHA-256 of the whole file on a thread.
:func:`member_chunks` streams one member's data from where the ledger says it lies.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable, Iterator
from typing import BinaryIO

READ_BLOCK = 1 << 20  # bytes per read of the archive
_QUEUED = 16  # blocks waiting for the whole-file digest thread (bounds memory)


class ArchiveReader:
    """Reads the archive once, front to back, in 1 MiB blocks, feeding every byte in order
    to the whole-archive SHA-256 on a thread. Blocks before :meth:`release` are dropped;
    reading them again goes back to the file (only after tampering)."""

    def __init__(
        self,
        f: BinaryIO,
        size: int,
        whole: bool,
        *,
        on_read: Callable[[int], None] | None = None,
    ) -> None:
        self.f = f
        self.on_read = on_read  # told the bytes read so far after each block; may raise
        self.size = size
        self.blocks: dict[int, bytes] = {}
        self.loaded = 0
        self._first = 0  # no block before this one is held
        self._view_index = -1  # the block of the last view, and a view of all of it
        self._view = memoryview(b"")
        self._digest = hashlib.sha256() if whole else None
        self._queue: queue.Queue[bytes | None] = queue.Queue(_QUEUED)
        self._thread: threading.Thread | None = None
        if whole:
            self._thread = threading.Thread(
                target=self._hash, name="chainproof-verify-archive", daemon=True
            )
            self._thread.start()

    def _hash(self) -> None:
        assert self._digest is not None
        while (block := self._queue.get()) is not None:
            self._digest.update(block)

    def _load_to(self, end: int) -> None:
        end = min(end, self.size)
        while self.loaded < end:
            want = min(READ_BLOCK, self.size - self.loaded)
            parts = []
            got = 0
            while got < want and (part := self.f.read(want - got)):
                parts.append(part)
                got += len(part)
            block = b"".join(parts)
            if got < want:  # the file shrank while read
                self.size = self.loaded + got
            if not block:
                break
            self.blocks[self.loaded // READ_BLOCK] = block
            if self._thread is not None:
                self._queue.put(block)
            self.loaded += len(block)
            if self.on_read is not None:
                self.on_read(self.loaded)

    def view(self, offset: int, n: int) -> bytes | memoryview:
        """Up to ``n`` bytes at ``offset`` (fewer at the end of the file)."""
        end = offset + n
        if end > self.loaded:
            end = min(end, self.size)
            if end > offset:
                self._load_to(end)
                end = min(end, self.size)  # the file may have shrunk
        if end <= offset:
            return b""
        index, start = divmod(offset, READ_BLOCK)
        if index != self._view_index:  # a view of each block is made once
            block = self.blocks.get(index)
            if block is None:  # released
                return self._joined(offset, end)
            self._view_index, self._view = index, memoryview(block)
        if start + end - offset > len(self._view):  # across blocks
            return self._joined(offset, end)
        return self._view[start : start + end - offset]

    def _joined(self, offset: int, end: int) -> bytes:
        """The bytes from ``offset`` to ``end`` from several blocks, or released ones."""
        first, last = offset // READ_BLOCK, (end - 1) // READ_BLOCK
        parts = []
        for i in range(first, last + 1):
            block = self.blocks.get(i)
            if block is None:  # released: read it again
                here = self.f.tell()
                self.f.seek(i * READ_BLOCK)
                block = self.f.read(READ_BLOCK)
                self.f.seek(here)
            parts.append(block)
        start = offset - first * READ_BLOCK
        return b"".join(parts)[start : start + end - offset]

    def readinto(self, offset: int, buf: memoryview) -> int:
        """Copy the bytes at ``offset`` into ``buf`` block by block; how many (0 at the end)."""
        n = max(0, min(len(buf), self.size - offset))
        self._load_to(offset + n)
        done = 0
        while done < n:
            index, start = divmod(offset + done, READ_BLOCK)
            block = self.blocks.get(index)
            if block is None:  # released: the general path
                chunk = self.view(offset + done, n - done)
                buf[done : done + len(chunk)] = chunk
                return done + len(chunk)
            take = min(n - done, len(block) - start)
            buf[done : done + take] = memoryview(block)[start : start + take]
            done += take
        return n

    def release(self, before: int) -> None:
        """Blocks wholly before ``before`` are not needed any more."""
        if before < (self._first + 1) * READ_BLOCK:  # none is (the usual case)
            return
        for i in [i for i in self.blocks if (i + 1) * READ_BLOCK <= before]:
            del self.blocks[i]
        # blocks are loaded in order: none will come before the first held, or the next
        self._first = min(self.blocks, default=self.loaded // READ_BLOCK)
        if self._view_index not in self.blocks:
            self._view_index, self._view = -1, memoryview(b"")

    def finish(self) -> str | None:
        """Read to the end; the SHA-256 of the whole file (None if not asked for)."""
        self._load_to(self.size)
        self.blocks.clear()
        self._view_index, self._view = -1, memoryview(b"")
        return self.close()

    def close(self) -> str | None:
        if self._thread is None or self._digest is None:
            return None
        self._queue.put(None)
        self._thread.join()
        self._thread = None
        return self._digest.hexdigest()


def member_chunks(f: BinaryIO, offset: int, size: int) -> Iterator[bytes]:
    """The ``size`` bytes at ``offset`` of the open archive ``f``, in blocks of at most
    :data:`READ_BLOCK`; fewer when the file ends first (a cut archive: the caller compares
    the count with the record)."""
    f.seek(offset)
    left = size
    while left > 0:
        block = f.read(min(READ_BLOCK, left))
        if not block:
            return
        left -= len(block)
        yield block
