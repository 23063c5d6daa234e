"""A small pcapng writer (draft-ietf-opsawg-pcapng): what a capture needs, nothing more.

One section: a Section Header Block naming the program, one Interface Description Block
per interface (link type, snap length, name, the filter, microsecond timestamps), an
Enhanced Packet Block per packet, and at the end an Interface Statistics Block per
interface with the capture's start and end and the kernel's received and dropped counts.
Little-endian; every block and option padded to 32 bits. ``tcpdump -r``, ``tshark`` and
Python pcapng readers open it.

The writer gathers blocks in memory and hands them to ``sink`` (a hashed spool) when
:meth:`PcapngWriter.flush` is called or the buffer passes :data:`FLUSH_AT` bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

__all__ = [
    "FLUSH_AT",
    "LINKTYPE_ETHERNET",
    "LINKTYPE_RAW",
    "PcapngWriter",
]

LINKTYPE_ETHERNET = 1
LINKTYPE_NULL = 0  # BSD loopback (macOS lo0)
LINKTYPE_RAW = 101  # raw IPv4/IPv6, no link header (tun devices)
LINKTYPE_LINUX_SLL = 113

SHB = 0x0A0D0D0A
IDB = 0x00000001
ISB = 0x00000005
EPB = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D

OPT_END = 0
OPT_COMMENT = 1
SHB_HARDWARE, SHB_OS, SHB_USERAPPL = 2, 3, 4
IF_NAME, IF_DESCRIPTION, IF_TSRESOL, IF_FILTER, IF_OS = 2, 3, 9, 11, 12
ISB_STARTTIME, ISB_ENDTIME, ISB_IFRECV, ISB_IFDROP, ISB_USRDELIV = 2, 3, 4, 5, 8

FLUSH_AT = 256 << 10


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _options(items: list[tuple[int, bytes]]) -> bytes:
    if not items:
        return b""
    return b"".join(_option(c, v) for c, v in items) + struct.pack("<HH", OPT_END, 0)


def _block(kind: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    total = len(body) + 12
    return struct.pack("<II", kind, total) + body + struct.pack("<I", total)


def _ts(us: int) -> tuple[int, int]:
    return (us >> 32) & 0xFFFFFFFF, us & 0xFFFFFFFF


class PcapngWriter:
    """Writes one pcapng section into ``sink``; :meth:`interface` before its packets."""

    def __init__(
        self,
        sink: Callable[[bytes], None],
        *,
        application: str,
        os_name: str = "",
        hardware: str = "",
        comment: str = "",
    ) -> None:
        self._sink = sink
        self._buf = bytearray()
        self._interfaces = 0
        opts = [(SHB_USERAPPL, application.encode())]
        if os_name:
            opts.append((SHB_OS, os_name.encode()))
        if hardware:
            opts.append((SHB_HARDWARE, hardware.encode()))
        if comment:
            opts.append((OPT_COMMENT, comment.encode()))
        body = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + _options(opts)
        self._buf += _block(SHB, body)

    @property
    def interfaces(self) -> int:
        return self._interfaces

    def interface(
        self, name: str, linktype: int, snaplen: int, *, filter_text: str | None = None
    ) -> int:
        """Describe an interface; its id (0, 1, ...) for :meth:`packet`. Timestamps are µs."""
        opts = [(IF_NAME, name.encode()), (IF_TSRESOL, b"\x06")]
        if filter_text:
            opts.append((IF_FILTER, b"\0" + filter_text.encode()))
        body = struct.pack("<HHI", linktype, 0, snaplen) + _options(opts)
        self._buf += _block(IDB, body)
        self._interfaces += 1
        return self._interfaces - 1

    def packet(self, interface: int, time_ns: int, data: bytes | memoryview, length: int) -> None:
        """One packet seen at ``time_ns`` (UTC, ns), ``data`` its first bytes of ``length``."""
        high, low = _ts(time_ns // 1000)
        head = struct.pack("<IIIII", interface, high, low, len(data), length)
        body = head + bytes(data)
        self._buf += _block(EPB, body)
        if len(self._buf) >= FLUSH_AT:
            self.flush()

    def statistics(
        self,
        interface: int,
        *,
        start_ns: int,
        end_ns: int,
        received: int | None,
        dropped: int | None,
        delivered: int,
        comment: str = "",
    ) -> None:
        """The interface's counts over the capture (kernel received and dropped, if known)."""
        s_high, s_low = _ts(start_ns // 1000)
        e_high, e_low = _ts(end_ns // 1000)
        opts = [
            (ISB_STARTTIME, struct.pack("<II", s_high, s_low)),
            (ISB_ENDTIME, struct.pack("<II", e_high, e_low)),
        ]
        if received is not None:
            opts.append((ISB_IFRECV, struct.pack("<Q", received)))
        if dropped is not None:
            opts.append((ISB_IFDROP, struct.pack("<Q", dropped)))
        opts.append((ISB_USRDELIV, struct.pack("<Q", delivered)))
        if comment:
            opts.append((OPT_COMMENT, comment.encode()))
        body = struct.pack("<III", interface, e_high, e_low) + _options(opts)
        self._buf += _block(ISB, body)

    def flush(self) -> None:
        """Hand what is buffered to the sink."""
        if self._buf:
            data, self._buf = bytes(self._buf), bytearray()
            self._sink(data)
