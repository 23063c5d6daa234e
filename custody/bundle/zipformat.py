"""Reading the records of a zip file (APPNOTE 6.3), every value kept as written.

Nothing here trusts a length or an offset: each parser takes the bytes it was given and says
what does not fit as a :class:`Problem` instead of raising. :mod:`custody.bundle.zipcheck`
puts the records together and compares them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

LOCAL_SIG = b"PK\x03\x04"
CENTRAL_SIG = b"PK\x01\x02"
EOCD_SIG = b"PK\x05\x06"
ZIP64_EOCD_SIG = b"PK\x06\x06"
ZIP64_LOCATOR_SIG = b"PK\x06\x07"
DESCRIPTOR_SIG = b"PK\x07\x08"

LOCAL = struct.Struct("<4sHHHHHIIIHH")  # 30 bytes
CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")  # 46 bytes
EOCD = struct.Struct("<4sHHHHIIH")  # 22 bytes
ZIP64_LOCATOR = struct.Struct("<4sIQI")  # 20 bytes
ZIP64_EOCD = struct.Struct("<4sQHHIIQQQQ")  # 56 bytes
MAX_COMMENT = 0xFFFF
U16, U32 = 0xFFFF, 0xFFFFFFFF
ZIP64_EXTRA = 0x0001
UNICODE_PATH_EXTRA = 0x7075


@dataclass(frozen=True)
class Problem:
    """Something a record does not fit: a finding code, where, and what."""

    code: str
    where: str
    message: str


@dataclass
class Header:
    """The fields a local header and its central directory entry share."""

    version_needed: int
    flags: int
    method: int
    time: int
    date: int
    crc: int
    csize: int
    usize: int
    name: bytes
    extra: bytes


@dataclass
class CentralEntry(Header):
    """One central directory entry; ``offset``, the sizes and ``disk`` with zip64 applied."""

    index: int = 0
    at: int = 0
    made_by: int = 0
    comment: bytes = b""
    disk: int = 0
    internal_attr: int = 0
    external_attr: int = 0
    offset: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def host(self) -> int:
        return self.made_by >> 8


@dataclass
class EndRecord:
    """The end of central directory record, with its zip64 values where it has them."""

    at: int
    disk: int
    cd_disk: int
    entries_disk: int
    entries: int
    cd_size: int
    cd_offset: int
    comment_len: int
    #: Where the central directory must end: the zip64 end record, else this record.
    cd_end: int = 0


def extras(data: bytes, where: str, problems: list[Problem]) -> dict[int, bytes]:
    """The extra field's blocks by id; a block that does not fit is a problem."""
    blocks: dict[int, bytes] = {}
    i = 0
    while i < len(data):
        if i + 4 > len(data):
            problems.append(
                Problem("zip.header", where, f"extra field has {len(data) - i} stray byte(s)")
            )
            break
        tag, size = struct.unpack_from("<HH", data, i)
        if i + 4 + size > len(data):
            problems.append(
                Problem(
                    "zip.header",
                    where,
                    f"extra field block {tag:#06x} claims {size} bytes; only "
                    f"{len(data) - i - 4} remain",
                )
            )
            break
        if tag in blocks:
            problems.append(Problem("zip.header", where, f"extra field block {tag:#06x} twice"))
        blocks.setdefault(tag, data[i + 4 : i + 4 + size])
        i += 4 + size
    return blocks


def zip64_values(
    block: bytes | None, wanted: list[tuple[str, int, int]], where: str, problems: list[Problem]
) -> dict[str, int]:
    """Replace each ``(name, value, width)`` whose value is all ones by the next value of the
    zip64 extra block, in order; a missing block or value is a problem."""
    out: dict[str, int] = {}
    i = 0
    for name, value, width in wanted:
        if value != (U16 if width == 4 else U32):
            out[name] = value
            continue
        if block is None or i + width > len(block):
            problems.append(
                Problem(
                    "zip.header",
                    where,
                    f"{name} is {value:#x} (see zip64) but the zip64 extra field lacks it",
                )
            )
            out[name] = value
            continue
        out[name] = int.from_bytes(block[i : i + width], "little")
        i += width
    return out


def read_local(data: bytes) -> Header | None:
    """The local header at the start of ``data`` (30 bytes and more), or None without one."""
    if len(data) < LOCAL.size or data[:4] != LOCAL_SIG:
        return None
    _, ver, flags, method, time, date, crc, csize, usize, nlen, elen = LOCAL.unpack_from(data)
    if len(data) < LOCAL.size + nlen + elen:
        return None
    name = data[LOCAL.size : LOCAL.size + nlen]
    extra = data[LOCAL.size + nlen : LOCAL.size + nlen + elen]
    return Header(ver, flags, method, time, date, crc, csize, usize, name, extra)


def local_lengths(data: bytes) -> tuple[int, int]:
    """The name and extra lengths of a local header (``data`` has at least 30 bytes)."""
    fields = LOCAL.unpack_from(data)
    return fields[9], fields[10]


def local_sizes(h: Header, where: str, problems: list[Problem]) -> tuple[int, int]:
    """A local header's uncompressed and compressed sizes with zip64 applied (both travel in
    the zip64 block when either is all ones)."""
    blocks = extras(h.extra, where, problems)
    z64 = blocks.get(ZIP64_EXTRA)
    if (h.usize == U32) != (h.csize == U32):
        problems.append(
            Problem(
                "zip.header",
                where,
                f"sizes are {h.usize:#x} and {h.csize:#x}: in a local header either both or "
                "neither are the zip64 placeholder",
            )
        )
    if (h.usize == U32 or h.csize == U32) and z64 is not None and len(z64) >= 16:
        usize, csize = struct.unpack_from("<QQ", z64)
        return usize, csize
    v = zip64_values(z64, [("usize", h.usize, 8), ("csize", h.csize, 8)], where, problems)
    return v["usize"], v["csize"]


def read_central(data: bytes, at: int, index: int) -> tuple[CentralEntry | None, int]:
    """The central entry at ``data[at:]`` and where the next begins; (None, at) if there is
    not a whole entry there."""
    if at + CENTRAL.size > len(data) or data[at : at + 4] != CENTRAL_SIG:
        return None, at
    (
        _,
        made_by,
        ver,
        flags,
        method,
        time,
        date,
        crc,
        csize,
        usize,
        nlen,
        elen,
        clen,
        disk,
        iattr,
        eattr,
        offset,
    ) = CENTRAL.unpack_from(data, at)
    end = at + CENTRAL.size + nlen + elen + clen
    if end > len(data):
        return None, at
    p = at + CENTRAL.size
    e = CentralEntry(
        ver,
        flags,
        method,
        time,
        date,
        crc,
        csize,
        usize,
        data[p : p + nlen],
        data[p + nlen : p + nlen + elen],
        index=index,
        made_by=made_by,
        comment=data[p + nlen + elen : end],
        disk=disk,
        internal_attr=iattr,
        external_attr=eattr,
    )
    where = f"zip central directory entry {index + 1}"
    blocks = extras(e.extra, where, e.problems)
    v = zip64_values(
        blocks.get(ZIP64_EXTRA),
        [("usize", usize, 8), ("csize", csize, 8), ("offset", offset, 8), ("disk", disk, 4)],
        where,
        e.problems,
    )
    e.usize, e.csize, e.offset, e.disk = v["usize"], v["csize"], v["offset"], v["disk"]
    return e, end


def find_end(tail: bytes, tail_at: int, size: int) -> tuple[EndRecord | None, list[Problem]]:
    """The end of central directory record in the file's last bytes ``tail`` (which start at
    ``tail_at``): the last one whose comment reaches exactly to the end, else the last one."""
    problems: list[Problem] = []
    found: list[int] = []
    i = tail.rfind(EOCD_SIG)
    while i >= 0:
        if i + EOCD.size <= len(tail):
            found.append(i)
        i = tail.rfind(EOCD_SIG, 0, i)
    if not found:
        return None, problems
    exact = [i for i in found if i + EOCD.size + EOCD.unpack_from(tail, i)[7] == len(tail)]
    i = exact[0] if exact else found[0]
    _, disk, cd_disk, n_disk, n, cd_size, cd_offset, clen = EOCD.unpack_from(tail, i)
    end = EndRecord(tail_at + i, disk, cd_disk, n_disk, n, cd_size, cd_offset, clen)
    end.cd_end = end.at
    after = len(tail) - i - EOCD.size
    if not exact and clen > after:
        problems.append(
            Problem(
                "zip.truncated",
                "zip end record",
                f"announces a {clen}-byte comment but the file ends {after} byte(s) after it: "
                "the zip was cut short",
            )
        )
    elif not exact:
        problems.append(
            Problem(
                "zip.structure",
                "zip end record",
                f"is followed by {after - clen} byte(s) that belong to nothing (its comment "
                f"is {clen} bytes): bytes were appended",
            )
        )
    return end, problems


def apply_zip64(end: EndRecord, read: Callable[[int, int], bytes]) -> list[Problem]:
    """Read the zip64 locator and end record before ``end`` (``read(offset, n)`` gives the
    file's bytes) and take their values."""
    problems: list[Problem] = []
    loc_at = end.at - ZIP64_LOCATOR.size
    needs = U16 in (end.entries, end.entries_disk) or U32 in (end.cd_size, end.cd_offset)
    loc = read(loc_at, ZIP64_LOCATOR.size) if loc_at >= 0 else b""
    if len(loc) < ZIP64_LOCATOR.size or loc[:4] != ZIP64_LOCATOR_SIG:
        if needs:
            problems.append(
                Problem(
                    "zip.structure",
                    "zip end record",
                    "holds zip64 placeholders (all ones) but no zip64 end record locator "
                    "precedes it",
                )
            )
        return problems
    _, z_disk, z_at, disks = ZIP64_LOCATOR.unpack(loc)
    where = "zip64 end record locator"
    if z_disk != 0 or disks != 1:
        problems.append(
            Problem("zip.structure", where, f"names disk {z_disk} of {disks}: not a single disk")
        )
    rec = read(z_at, ZIP64_EOCD.size) if z_at + ZIP64_EOCD.size <= loc_at else b""
    if len(rec) < ZIP64_EOCD.size or rec[:4] != ZIP64_EOCD_SIG:
        problems.append(
            Problem("zip.structure", where, f"points to {z_at}, where no zip64 end record is")
        )
        return problems
    _, rsize, _made, _need, disk, cd_disk, n_disk, n, cd_size, cd_offset = ZIP64_EOCD.unpack(rec)
    if z_at + 12 + rsize != loc_at:
        problems.append(
            Problem(
                "zip.structure",
                "zip64 end record",
                f"says it is {rsize + 12} bytes long, but the locator follows "
                f"{loc_at - z_at} bytes after it",
            )
        )
    for label, small, big, cap in (
        ("number of this disk", end.disk, disk, U16),
        ("disk of the central directory", end.cd_disk, cd_disk, U16),
        ("entries on this disk", end.entries_disk, n_disk, U16),
        ("entries", end.entries, n, U16),
        ("central directory size", end.cd_size, cd_size, U32),
        ("central directory offset", end.cd_offset, cd_offset, U32),
    ):
        if small not in (big, cap):
            problems.append(
                Problem(
                    "zip.structure",
                    "zip end record",
                    f"{label} is {small}; the zip64 end record says {big}",
                )
            )
    end.disk, end.cd_disk, end.entries_disk, end.entries = disk, cd_disk, n_disk, n
    end.cd_size, end.cd_offset, end.cd_end = cd_size, cd_offset, z_at
    return problems
