"""Just enough DER and BER to stream an envelope: headers written with definite lengths,
and read one at a time from a file, so that a multi-GB content never sits in memory.

Only what CMS uses: single-octet tags, definite lengths (short or long form) and, on
reading, BER's indefinite lengths ended by two zero octets, as ``openssl cms -stream``
writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from custody.errors import DamagedEnvelope

SEQUENCE = 0x30
SET = 0x31
INTEGER = 0x02
OCTET_STRING = 0x04
OID = 0x06
CONTEXT_0 = 0xA0  # [0], constructed
CONTEXT_1 = 0xA1  # [1], constructed
CONTEXT_0_PRIMITIVE = 0x80  # [0] IMPLICIT OCTET STRING, primitive
_CONSTRUCTED = 0x20


def header(tag: int, length: int) -> bytes:
    """The identifier and definite length octets of an element of ``length`` content octets."""
    if length < 0x80:
        return bytes((tag, length))
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(body))) + body


def tlv(tag: int, content: bytes) -> bytes:
    """A whole DER element."""
    return header(tag, len(content)) + content


@dataclass(frozen=True)
class Header:
    """One element's header as read: where it starts and how long its content is."""

    tag: int
    length: int | None  # None: indefinite (BER), ended by two zero octets
    offset: int
    size: int  # octets of the header itself

    @property
    def constructed(self) -> bool:
        return bool(self.tag & _CONSTRUCTED)

    @property
    def end(self) -> int | None:
        """The offset just after the element's content, when its length is definite."""
        return None if self.length is None else self.offset + self.size + self.length


class Reader:
    """Reads BER elements from a file one header at a time; every shortfall or misfit is a
    :class:`DamagedEnvelope` naming ``name`` and the offset."""

    def __init__(self, f: BinaryIO, name: str, size: int) -> None:
        self._f = f
        self.name = name
        self.size = size
        self.pos = 0
        self._pending = b""

    def damaged(self, problem: str, at: int | None = None) -> DamagedEnvelope:
        return DamagedEnvelope(
            f"{self.name} is damaged: {problem} (at byte {self.pos if at is None else at})"
        )

    def read(self, n: int, what: str) -> bytes:
        """Exactly ``n`` octets, or :class:`DamagedEnvelope` saying the file is truncated."""
        data = self._pending[:n]
        self._pending = self._pending[n:]
        if len(data) < n:
            data += self._f.read(n - len(data))
        if len(data) < n:
            raise DamagedEnvelope(
                f"{self.name} is truncated: it ends at byte {self.pos + len(data)}, inside {what}"
            )
        self.pos += n
        return data

    def read_some(self, n: int, what: str) -> bytes:
        """Up to ``n`` octets (at least one): for streaming a long content."""
        if self._pending:
            data, self._pending = self._pending[:n], self._pending[n:]
        else:
            data = self._f.read(n)
        if not data:
            raise DamagedEnvelope(
                f"{self.name} is truncated: it ends at byte {self.pos}, inside {what}"
            )
        self.pos += len(data)
        return data

    def at_end(self) -> bool:
        """Whether the file has no octet left."""
        if self._pending:
            return False
        self._pending = self._f.read(1)
        return not self._pending

    def header(self, what: str) -> Header:
        start = self.pos
        tag, first = self.read(2, what)
        if tag & 0x1F == 0x1F:
            raise self.damaged(f"{what} has a tag this format never uses", start)
        if first < 0x80:
            return Header(tag, first, start, 2)
        if first == 0x80:
            if not tag & _CONSTRUCTED:
                raise self.damaged(f"{what} is primitive with an indefinite length", start)
            return Header(tag, None, start, 2)
        count = first & 0x7F
        if count > 8:
            raise self.damaged(f"{what} has a length of {count} octets", start)
        length = int.from_bytes(self.read(count, what), "big")
        return Header(tag, length, start, 2 + count)

    def peek_tag(self, what: str) -> int:
        """The next element's tag, not consumed."""
        tag = self.read(1, what)
        self._pending = tag + self._pending
        self.pos -= 1
        return tag[0]

    def expect(self, tag: int, what: str) -> Header:
        """The next header, which must have ``tag``."""
        h = self.header(what)
        if h.tag != tag:
            raise self.damaged(
                f"expected {what} (tag 0x{tag:02x}), found tag 0x{h.tag:02x}", h.offset
            )
        return h

    def element(self, tag: int, what: str, limit: int) -> bytes:
        """The whole next element (header and content), which must have ``tag``, a definite
        length and at most ``limit`` content octets: for the small parts of an envelope."""
        h = self.expect(tag, what)
        if h.length is None:
            raise self.damaged(f"{what} has an indefinite length", h.offset)
        if h.length > limit:
            raise self.damaged(f"{what} claims {h.length} bytes, more than {limit}", h.offset)
        return header(tag, h.length) + self.read(h.length, what)

    def content(self, h: Header, what: str) -> bytes:
        """The content octets of ``h`` (a definite length), just read as a header."""
        if h.length is None:
            raise self.damaged(f"{what} has an indefinite length", h.offset)
        return self.read(h.length, what)

    def close(self, h: Header, what: str) -> None:
        """The end of the constructed element ``h``: its two zero octets (indefinite), or
        exactly its length consumed (definite)."""
        if h.length is None:
            if self.read(2, f"the end of {what}") != b"\0\0":
                raise self.damaged(f"{what} does not end where it should", self.pos - 2)
            return
        end = h.end
        assert end is not None
        if self.pos != end:
            raise self.damaged(
                f"{what} should end at byte {end}, its parts end at byte {self.pos}", self.pos
            )
