"""Checking a zip's structure before anything is unpacked: every damage a finding.

:func:`scan_zip` reads the end record (and zip64's), every central directory entry and the
local header each one points to, and reports as findings:

- ``zip.truncated``: the file ends before a record or a member's data it announces;
- ``zip.structure``: end record, zip64 records or central directory out of place or
  disagreeing (counts, size, offset, disks), bytes between, before or after the members or
  after the end record (a second end record among them), overlapping or out-of-order members;
- ``zip.header``: a local header (or data descriptor) that disagrees with its central entry
  (named field: version, flags, method, time, date, CRC-32, sizes, name), a missing local
  header, malformed extra fields, an ambiguous name, flags or attributes ``unzip`` would
  treat otherwise;
- ``zip.method`` (not stored or deflate), ``zip.version`` (needs more than 4.5),
  ``zip.size`` (a stored member whose sizes differ);
- ``zip.unsafe``: members that could land outside the destination or are no plain file
  (names, links, devices, encryption, duplicates, file-and-directory, size bombs).

It checks at least what ``unzip`` checks, so a zip that ``unzip`` refuses has a finding.
The members it returns are those that can be unpacked; :mod:`custody.bundle.zipextract`
unpacks them and checks their data.
"""

from __future__ import annotations

import itertools
import stat
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from custody.bundle.safezip import MAX_RATIO, MAX_TOTAL, member_name_problem
from custody.bundle.zipformat import (
    CENTRAL_SIG,
    DESCRIPTOR_SIG,
    EOCD,
    EOCD_SIG,
    LOCAL,
    LOCAL_SIG,
    MAX_COMMENT,
    UNICODE_PATH_EXTRA,
    ZIP64_EXTRA,
    CentralEntry,
    EndRecord,
    Header,
    Problem,
    apply_zip64,
    extras,
    find_end,
    local_lengths,
    local_sizes,
    read_central,
    read_local,
)
from custody.errors import ExportError
from custody.verify.findings import Report

Read = Callable[[int, int], bytes]

STORED, DEFLATED = 0, 8
ENCRYPTED_FLAGS = 0x0001 | 0x0040 | 0x2000
KNOWN_FLAGS = ENCRYPTED_FLAGS | 0x0002 | 0x0004 | 0x0008 | 0x0800
MAX_VERSION = 45  # 4.5: zip64; stored needs 1.0, deflate 2.0
#: Hosts whose upper external attributes ``unzip`` reads as a Unix mode.
UNIX_HOSTS = frozenset({2, 3, 5, 12, 13, 16, 17, 30})
_SEARCH = 1 << 20  # how far into bytes that belong to nothing a second end record is sought


@dataclass
class Member:
    """A central entry and what its local header says: where its data lie, and whether it
    can be unpacked."""

    entry: CentralEntry
    name: str
    start: int  # where its local header is (offsets of a shifted zip corrected)
    data_at: int | None = None  # None: no usable local header
    end: int = 0  # one past its data and data descriptor
    unpack: bool = True


def _add(report: Report, problems: list[Problem]) -> None:
    for p in problems:
        report.add(p.code, p.where, p.message)


def _end_record(read: Read, size: int, report: Report, path: object) -> EndRecord | None:
    tail_at = max(0, size - EOCD.size - MAX_COMMENT)
    end, problems = find_end(read(tail_at, size - tail_at), tail_at, size)
    if end is None:
        if not LOCAL_SIG.startswith(read(0, 2)):  # an empty file is a zip cut short
            raise ExportError(f"{path} is not a zip file (it has no zip signature)")
        report.add(
            "zip.truncated",
            "zip end record",
            "is missing: the zip was cut short, or its end record was damaged; its members "
            "cannot be listed",
        )
        return None
    _add(report, problems)
    _add(report, apply_zip64(end, read))
    if end.disk or end.cd_disk or end.entries_disk != end.entries:
        report.add(
            "zip.structure",
            "zip end record",
            f"describes disk {end.disk} (central directory on disk {end.cd_disk}, "
            f"{end.entries_disk} of {end.entries} entries): not a single-disk zip",
        )
    return end


def _directory(read: Read, end: EndRecord, report: Report) -> tuple[list[CentralEntry], int]:
    """The central entries and where the directory begins."""
    where = "zip central directory"
    computed = end.cd_end - end.cd_size
    start = end.cd_offset
    if computed != end.cd_offset:
        report.add(
            "zip.structure",
            where,
            f"the end record places it at offset {end.cd_offset} with {end.cd_size} bytes, "
            f"but it must end at {end.cd_end}, so it would begin at {computed}",
        )
        if computed >= 0 and (end.entries == 0 or read(computed, 4) == CENTRAL_SIG):
            start = computed
    if not 0 <= start <= end.cd_end:
        report.add("zip.structure", where, f"offset {start} lies outside the file")
        return [], end.cd_end
    data = read(start, end.cd_end - start)
    entries: list[CentralEntry] = []
    pos = 0
    while pos < len(data):
        entry, nxt = read_central(data, pos, len(entries))
        if entry is None:
            what = "no entry starts" if data[pos : pos + 4] != CENTRAL_SIG else "an entry is cut"
            report.add(
                "zip.structure",
                where,
                f"entry {len(entries) + 1} at offset {start + pos}: {what} there; "
                f"{len(data) - pos} byte(s) up to the end record are unaccounted for"
                + _second_end(data[pos:], start + pos),
            )
            break
        entry.at = start + pos
        entries.append(entry)
        pos = nxt
    if len(entries) != end.entries:
        report.add(
            "zip.structure",
            where,
            f"holds {len(entries)} readable entries; the end record says {end.entries}",
        )
    return entries, start


def _decode(e: CentralEntry, report: Report) -> tuple[str, bool]:
    """The member's name, and whether it is unambiguous."""
    where = f"zip central directory entry {e.index + 1}"
    shown = e.name.decode("utf-8", "backslashreplace")
    if e.flags & 0x0800:
        try:
            return e.name.decode("utf-8"), True
        except UnicodeDecodeError:
            report.add("zip.header", where, f"name {e.name!r} is not UTF-8, as its flags say")
            return shown, False
    if not e.name.isascii():
        report.add(
            "zip.header",
            where,
            f"name {e.name!r} is not ASCII and not marked UTF-8: tools unpack it differently",
        )
        return shown, False
    return shown, True


def _unicode_path(h: Header, name: str, where: str, label: str, report: Report) -> None:
    """An Info-ZIP Unicode path field that ``unzip`` would use instead of the name."""
    block = extras(h.extra, where, []).get(UNICODE_PATH_EXTRA)
    if block is None or len(block) < 5:
        return
    if int.from_bytes(block[1:5], "little") == zlib.crc32(h.name):
        alt = block[5:].decode("utf-8", "replace")
        if alt != name:
            report.add(
                "zip.header",
                where,
                f"{label} carries a Unicode path field naming it {alt!r}, which unzip "
                "would use instead",
            )


def _check_entry(e: CentralEntry, name: str, report: Report) -> bool:
    """The central entry's own fields; False when the member cannot be unpacked."""
    _add(report, [Problem(p.code, name, p.message) for p in e.problems])
    ok = True
    low, high = e.version_needed & 0xFF, e.version_needed >> 8
    if low > MAX_VERSION or high:
        report.add(
            "zip.version",
            name,
            f"needs version {low // 10}.{low % 10} (host byte {high}) to be unpacked; stored "
            "and deflated members need at most 4.5 on host 0",
        )
    if e.method not in (STORED, DEFLATED):
        report.add(
            "zip.method", name, f"compression method {e.method} is neither stored nor deflate"
        )
        ok = False
    if e.flags & ENCRYPTED_FLAGS:
        report.add("zip.unsafe", name, f"unsafe zip member {name!r}: encrypted")
        ok = False
    if e.flags & ~KNOWN_FLAGS:
        report.add("zip.header", name, f"flags {e.flags:#06x} hold bits that mean nothing here")
    if e.method == STORED and e.csize != e.usize:
        report.add(
            "zip.size", name, f"is stored but its sizes differ: {e.csize} and {e.usize} bytes"
        )
    if e.disk:
        report.add("zip.structure", name, f"begins on disk {e.disk}: not a single-disk zip")
    _unicode_path(e, name, name, "its central entry", report)
    mode = e.external_attr >> 16
    if e.host in UNIX_HOSTS and mode:
        fmt = stat.S_IFMT(mode)
        is_dir = name.endswith("/")
        if fmt == stat.S_IFLNK:
            report.add("zip.unsafe", name, f"unsafe zip member {name!r}: symbolic link entry")
            ok = False
        elif fmt not in (0, stat.S_IFDIR if is_dir else stat.S_IFREG):
            report.add(
                "zip.unsafe", name, f"unsafe zip member {name!r}: not a regular file or directory"
            )
            ok = False
        elif not mode & stat.S_IRUSR or mode & 0o7000:
            report.add(
                "zip.header",
                name,
                f"external attributes give mode {stat.S_IMODE(mode):#o}: unreadable, or "
                "set-user-ID, set-group-ID or sticky, which no bundle file is",
            )
    return ok


def _compare(e: CentralEntry, h: Header, sizes: tuple[int, int], name: str, report: Report) -> None:
    """Every field the local header repeats must say what the central entry says."""
    streamed = bool(h.flags & 0x0008)
    pairs: list[tuple[str, object, object]] = [
        ("flags", f"{e.flags:#06x}", f"{h.flags:#06x}"),
        ("compression method", e.method, h.method),
        ("modification time", e.time, h.time),
        ("modification date", e.date, h.date),
        ("name", e.name, h.name),
    ]
    if not (e.name.endswith(b"/") and e.usize == 0):  # Info-ZIP's zip -fz: 4.5 here, 1.0 there
        pairs.append(("version needed", e.version_needed, h.version_needed))
    usize, csize = sizes
    for label, c, lo in (
        ("CRC-32", e.crc, h.crc),
        ("compressed size", e.csize, csize),
        ("uncompressed size", e.usize, usize),
    ):
        if not (streamed and lo == 0):
            hexed = label == "CRC-32"
            pairs.append((label, f"{c:#010x}" if hexed else c, f"{lo:#010x}" if hexed else lo))
    for label, central, local in pairs:
        if central != local:
            report.add(
                "zip.header",
                name,
                f"local header field {label} is {local!r}; the central directory says {central!r}",
            )


def _descriptor(read: Read, m: Member, zip64: bool, report: Report) -> int:
    """Check the data descriptor after the data; return its length."""
    e = m.entry
    width = 8 if zip64 else 4
    raw = read(m.end, 4 + 4 + 2 * width)
    skip = 4 if raw[:4] == DESCRIPTOR_SIG else 0
    body = raw[skip : skip + 4 + 2 * width]
    if len(body) < 4 + 2 * width:
        report.add("zip.truncated", m.name, "the file ends inside its data descriptor")
        return len(raw)
    crc = int.from_bytes(body[:4], "little")
    csize = int.from_bytes(body[4 : 4 + width], "little")
    usize = int.from_bytes(body[4 + width :], "little")
    for label, central, got in (
        ("CRC-32", e.crc, crc),
        ("compressed size", e.csize, csize),
        ("uncompressed size", e.usize, usize),
    ):
        if central != got:
            report.add(
                "zip.header",
                m.name,
                f"data descriptor field {label} is {got}; the central directory says {central}",
            )
    return skip + 4 + 2 * width


def _local(read: Read, size: int, m: Member, report: Report) -> None:
    """Read the member's local header, compare it, and place its data."""
    e = m.entry
    head = read(m.start, LOCAL.size)
    m.end = m.start + LOCAL.size + len(e.name) + len(e.extra) + e.csize  # if unreadable
    if len(head) < LOCAL.size:
        report.add("zip.truncated", m.name, f"the file ends inside its local header at {m.start}")
        return
    if head[:4] != LOCAL_SIG:
        report.add("zip.header", m.name, f"no local header at offset {m.start}: {head[:4]!r}")
        return
    nlen, elen = local_lengths(head)
    h = read_local(read(m.start, LOCAL.size + nlen + elen))
    if h is None:
        report.add("zip.truncated", m.name, "the file ends inside its local header")
        return
    problems: list[Problem] = []
    sizes = local_sizes(h, m.name, problems)
    _add(report, [Problem(p.code, m.name, f"local header: {p.message}") for p in problems])
    _compare(e, h, sizes, m.name, report)
    _unicode_path(h, m.name, m.name, "its local header", report)
    m.data_at = m.start + LOCAL.size + nlen + elen
    m.end = m.data_at + e.csize
    if m.end > size:
        report.add(
            "zip.truncated",
            m.name,
            f"its {e.csize} bytes of data would end at {m.end}, beyond the file's {size} bytes",
        )
    elif h.flags & 0x0008:
        zip64 = ZIP64_EXTRA in extras(h.extra, m.name, [])
        m.end += _descriptor(read, m, zip64, report)


def _second_end(data: bytes, at: int) -> str:
    """Words naming an end record found in bytes that belong to nothing."""
    found = data[:_SEARCH].find(EOCD_SIG)
    return f" (among them a second end record at offset {at + found})" if found >= 0 else ""


def _gap(read: Read, at: int, n: int, what: str, report: Report) -> None:
    second = _second_end(read(at, min(n, _SEARCH)), at)
    report.add(
        "zip.structure", f"zip offset {at}", f"{n} byte(s) {what} belong to no member{second}"
    )


def _layout(read: Read, members: list[Member], cd_start: int, report: Report) -> None:
    """Members lie one after the other from offset 0, in central directory order, up to the
    central directory: no gap, no overlap."""
    placed = sorted(members, key=lambda m: (m.start, m.entry.index))
    for a, b in itertools.pairwise(placed):
        if a.entry.index > b.entry.index:
            report.add(
                "zip.structure",
                a.name,
                f"is listed after {b.name!r} in the central directory but lies before it",
            )
            break
    at = 0
    previous: Member | None = None
    for m in placed:
        if m.start > at:
            _gap(read, at, m.start - at, f"before member {m.name!r}", report)
        elif m.start < at and previous is not None:
            report.add(
                "zip.structure",
                m.name,
                f"overlaps member {previous.name!r}: it begins at {m.start}, inside that "
                f"member (which ends at {at})",
            )
        if m.end >= at:
            at, previous = m.end, m
    if cd_start > at:
        _gap(read, at, cd_start - at, "before the central directory", report)
    elif cd_start < at and previous is not None:
        report.add(
            "zip.structure",
            previous.name,
            f"runs into the central directory: it ends at {at}, the directory begins at {cd_start}",
        )


def _plan(members: list[Member], report: Report) -> None:
    """Mark what must not be unpacked: unsafe names, duplicates, file and directory at
    once, size bombs."""
    seen: set[str] = set()
    dirs: set[str] = set()
    total = 0
    for m in members:
        e = m.entry
        key = m.name.rstrip("/")
        if key in seen:
            report.add("zip.unsafe", m.name, f"unsafe zip member {m.name!r}: duplicate name")
            m.unpack = False
        seen.add(key)
        parents = key.split("/")[:-1]
        dirs.update("/".join(parents[: i + 1]) for i in range(len(parents)))
        if m.name.endswith("/"):
            dirs.add(key)
            m.unpack = False
            continue
        total += e.usize
        if total > MAX_TOTAL:
            report.add(
                "zip.unsafe",
                m.name,
                f"unsafe zip member {m.name!r}: the members would expand beyond {MAX_TOTAL} "
                "bytes (zip bomb?)",
            )
            m.unpack = False
        elif e.method != STORED and e.usize > MAX_RATIO * max(e.csize, 1) and e.usize > 1 << 20:
            report.add(
                "zip.unsafe",
                m.name,
                f"unsafe zip member {m.name!r}: expands {e.usize} bytes from {e.csize} (more "
                f"than {MAX_RATIO}x: zip bomb?)",
            )
            m.unpack = False
    for m in members:
        if not m.name.endswith("/") and m.name in dirs:
            report.add(
                "zip.unsafe",
                m.name,
                f"unsafe zip member {m.name!r}: is both a file and a directory",
            )
            m.unpack = False


def scan_zip(read: Read, size: int, report: Report, path: object) -> list[Member]:
    """Check the zip whose bytes ``read(offset, n)`` gives; return its members, each marked
    whether it can be unpacked. Raises :class:`ExportError` only for a file that is not a
    zip at all (no zip signature at its start and no end record)."""
    end = _end_record(read, size, report, path)
    if end is None:
        return []
    entries, cd_start = _directory(read, end, report)
    # Bytes before the zip shift every offset (a self-extractor's stub); a changed offset in
    # the end record does not. Take the reading under which the first member is found.
    shift = cd_start - end.cd_offset
    if shift and entries and read(entries[0].offset + shift, 4) != LOCAL_SIG:
        shift = 0
    members: list[Member] = []
    for e in entries:
        name, plain = _decode(e, report)
        m = Member(e, name, e.offset + shift, unpack=plain)
        problem = member_name_problem(name)
        if problem:
            report.add("zip.unsafe", name, problem)
            m.unpack = False
        if not _check_entry(e, name, report):
            m.unpack = False
        _local(read, size, m, report)
        if m.data_at is None:
            m.unpack = False
        members.append(m)
    _layout(read, members, cd_start, report)
    _plan(members, report)
    return members
