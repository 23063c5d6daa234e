"""An independent pcapng reader for the tests (written from the specification, not from
collectors/pcapng.py): sections, interfaces, enhanced packets and interface statistics."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field


@dataclass
class Interface:
    linktype: int
    snaplen: int
    options: dict[int, list[bytes]]

    @property
    def name(self) -> str:
        return self.options[2][0].decode()


@dataclass
class Packet:
    interface: int
    time_us: int
    data: bytes
    length: int


@dataclass
class Capture:
    options: dict[int, list[bytes]] = field(default_factory=dict)
    interfaces: list[Interface] = field(default_factory=list)
    packets: list[Packet] = field(default_factory=list)
    statistics: dict[int, dict[int, list[bytes]]] = field(default_factory=dict)

    def counter(self, interface: int, code: int) -> int:
        return int(struct.unpack("<Q", self.statistics[interface][code][0])[0])


def _options(raw: bytes) -> dict[int, list[bytes]]:
    out: dict[int, list[bytes]] = {}
    pos = 0
    while pos + 4 <= len(raw):
        code, length = struct.unpack_from("<HH", raw, pos)
        if code == 0:
            break
        out.setdefault(code, []).append(raw[pos + 4 : pos + 4 + length])
        pos += 4 + length + (-length % 4)
    return out


def read_pcapng(data: bytes) -> Capture:
    """Parse a little-endian pcapng file; AssertionError on anything malformed."""
    cap = Capture()
    pos = 0
    while pos < len(data):
        kind, total = struct.unpack_from("<II", data, pos)
        assert total % 4 == 0 and total >= 12, f"bad block length {total} at {pos}"
        assert struct.unpack_from("<I", data, pos + total - 4)[0] == total, "trailing length"
        body = data[pos + 8 : pos + total - 4]
        if kind == 0x0A0D0D0A:
            magic, major, minor, _length = struct.unpack_from("<IHHq", body)
            assert magic == 0x1A2B3C4D and (major, minor) == (1, 0)
            cap.options = _options(body[16:])
        elif kind == 1:
            linktype, _res, snaplen = struct.unpack_from("<HHI", body)
            cap.interfaces.append(Interface(linktype, snaplen, _options(body[8:])))
        elif kind == 6:
            iface, high, low, caplen, origlen = struct.unpack_from("<IIIII", body)
            assert iface < len(cap.interfaces)
            assert caplen <= origlen and caplen <= cap.interfaces[iface].snaplen
            cap.packets.append(Packet(iface, (high << 32) | low, body[20 : 20 + caplen], origlen))
        elif kind == 5:
            iface = struct.unpack_from("<I", body)[0]
            cap.statistics[iface] = _options(body[12:])
        pos += total
    assert pos == len(data), "bytes after the last block"
    return cap
