"""The three digests every artifact carries: a value that prints as ``sha256:<hex>``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Digests:
    """SHA-256 (primary), SHA-1 and MD5 of one byte stream, lower-case hex."""

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
