"""The helper process of :class:`~custody.store.hashing.RingHasher` (standard library only).

Run as ``python -I -S ring_helper.py FD SIZE``: it maps the shared ring (memfd ``FD`` of
``SIZE`` bytes) and hashes the ranges it is sent, in its own interpreter, so on its own
core. Requests on stdin: ``<III`` (batch number, data ranges, header ranges), then that
many ``<QQ`` (offset, length) data ranges and then header ranges; ``0, 0, 0`` ends it.
Replies on stdout: ``<I`` batch number, per data range the raw SHA-256, SHA-1 and MD5
digests (68 bytes), per header range its raw SHA-256 (32 bytes). The batch number keeps
both sides in step.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import struct
import sys


def _read(n: int) -> bytes:
    parts = []
    while n:
        b = os.read(0, n)
        if not b:
            sys.exit(0)
        parts.append(b)
        n -= len(b)
    return b"".join(parts)


def _write(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


def main(argv: list[str]) -> None:
    fd, size = int(argv[1]), int(argv[2])
    ring = memoryview(mmap.mmap(fd, size))
    os.close(fd)
    sha256, sha1, md5 = hashlib.sha256, hashlib.sha1, hashlib.md5
    while True:
        seq, count, headers = struct.unpack("<III", _read(12))
        if not count and not headers:
            break
        out = [struct.pack("<I", seq)]
        for off, ln in struct.iter_unpack("<QQ", _read(16 * (count + headers))):
            d = ring[off : off + ln]
            if count:
                out.append(sha256(d).digest() + sha1(d).digest() + md5(d).digest())
                count -= 1
            else:
                out.append(sha256(d).digest())
        _write(b"".join(out))


if __name__ == "__main__":
    main(sys.argv)
