"""The paths a run has taken, in bounded memory: about 16 bytes a path, whatever its length."""

from __future__ import annotations

import hashlib
import os

_DIGEST = 16  # bytes of BLAKE2b kept per path
_BUCKET_BITS = 13  # buckets chosen by the digest's first 13 bits


class SeenPaths:
    """A set of paths kept as keyed 128-bit BLAKE2b digests, never the paths themselves.

    A million paths take about 21 MB (16 of them digests), where a ``set`` of them took about
    150 MB. The digests sit in 8,192 byte strings chosen by their first bits; a lookup is one
    ``find`` in one of them (about 2 KB at a million paths). Two different paths share a digest with probability about n² / 2¹²⁹ (10⁻²⁷ at a
    million paths); the key is drawn for each set, so no one can craft paths that collide.
    """

    __slots__ = ("_buckets", "_count", "_keyed")

    def __init__(self) -> None:
        self._keyed = hashlib.blake2b(digest_size=_DIGEST, key=os.urandom(16))
        self._buckets: list[bytearray | None] = [None] * (1 << _BUCKET_BITS)
        self._count = 0

    def add(self, path: bytes) -> bool:
        """Add ``path``; whether it was new (False: it was in the set already)."""
        digest = self._digest(path)
        index = int.from_bytes(digest[:2]) >> (16 - _BUCKET_BITS)
        bucket = self._buckets[index]
        if bucket is None:
            self._buckets[index] = bytearray(digest)
        elif _holds(bucket, digest):
            return False
        else:
            bucket += digest
        self._count += 1
        return True

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, bytes):
            return False
        digest = self._digest(path)
        bucket = self._buckets[int.from_bytes(digest[:2]) >> (16 - _BUCKET_BITS)]
        return bucket is not None and _holds(bucket, digest)

    def __len__(self) -> int:
        return self._count

    def _digest(self, path: bytes) -> bytes:
        keyed = self._keyed.copy()  # a copy of the keyed state: cheaper than keying again
        keyed.update(path)
        return keyed.digest()


def _holds(bucket: bytearray, digest: bytes) -> bool:
    """Whether ``bucket`` holds ``digest`` as one of its entries (not straddling two)."""
    at = bucket.find(digest)
    while at >= 0 and at % _DIGEST:
        at = bucket.find(digest, at + 1)
    return at >= 0
