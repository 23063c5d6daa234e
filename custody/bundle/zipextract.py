"""Unpacking a checked zip: every member's data decompressed, measured and CRC-checked.

:func:`unpack_zip` runs :func:`~custody.bundle.zipcheck.scan_zip`, then writes each member
that can be unpacked, streaming: ``zip.deflate`` when its deflate stream is damaged, cut
short or followed by stray bytes, ``zip.size`` when it gives another size than its headers
say (never more than that size is written), ``zip.crc`` when its CRC-32 differs,
``zip.truncated`` when the file ends inside it. What a damaged member gave is kept, so the
bundle's own checks can still say which file differs; nothing is written outside ``dest``,
no existing path is followed or replaced.
"""

from __future__ import annotations

import errno
import os
import zlib
from pathlib import Path
from typing import BinaryIO

from custody.bundle.zipcheck import DEFLATED, Member, scan_zip
from custody.errors import ExportError
from custody.verify.findings import Report

_CHUNK = 1 << 20
#: Errors that a member's name causes, not the disk: the member is refused, the rest goes on.
_NAME_ERRORS = frozenset(
    {errno.EEXIST, errno.ENAMETOOLONG, errno.EINVAL, errno.EILSEQ, errno.ENOTDIR, errno.EISDIR}
)
_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
)


class _Reader:
    """``read(offset, n)`` over an open file; short at its end, never raising on a bad
    offset (an I/O error is an :class:`ExportError`)."""

    def __init__(self, f: BinaryIO, path: Path) -> None:
        self.f, self.path = f, path

    def __call__(self, offset: int, n: int) -> bytes:
        if offset < 0 or n <= 0:
            return b""
        try:
            self.f.seek(offset)
            return self.f.read(n)
        except OSError as exc:
            raise ExportError(f"cannot read {self.path}: {exc.strerror or exc}") from exc


class _Sink:
    """Where a member's bytes go: at most ``limit`` of them, with their CRC-32 and count."""

    def __init__(self, fd: int, limit: int) -> None:
        self.fd, self.limit = fd, limit
        self.crc = 0
        self.count = 0  # bytes given, also beyond the limit

    def __call__(self, data: bytes) -> bool:
        """Take ``data``; False once more than ``limit`` bytes came."""
        room = self.limit - self.count
        kept = data[: max(room, 0)]
        self.count += len(data)
        if kept:
            self.crc = zlib.crc32(kept, self.crc)
            view = memoryview(kept)
            while view:
                view = view[os.write(self.fd, view) :]
        return self.count <= self.limit


def _data(read: _Reader, m: Member, sink: _Sink, report: Report) -> bool:
    """Stream the member's compressed bytes through ``sink`` (inflating them if deflated).
    False when the data are cut short or their deflate stream is damaged (a finding)."""
    e = m.entry
    assert m.data_at is not None
    inflater = zlib.decompressobj(-15) if e.method == DEFLATED else None
    at, left = m.data_at, e.csize
    while left > 0:
        chunk = read(at, min(_CHUNK, left))
        if not chunk:
            report.add(
                "zip.truncated", m.name, f"the file ends at {at}, {left} byte(s) into its data"
            )
            return False
        at, left = at + len(chunk), left - len(chunk)
        if inflater is None:
            if not sink(chunk):
                return True
            continue
        try:
            while chunk and not inflater.eof:
                if not sink(inflater.decompress(chunk, max(sink.limit + 1 - sink.count, 1))):
                    return True
                chunk = inflater.unconsumed_tail
        except zlib.error as exc:
            report.add(
                "zip.deflate", m.name, f"its deflate data are damaged near offset {at}: {exc}"
            )
            return False
        if inflater.eof:
            stray = len(inflater.unused_data) + len(chunk) + left
            if stray:
                report.add(
                    "zip.deflate",
                    m.name,
                    f"its deflate stream ends {stray} byte(s) before its compressed size",
                )
            return not stray
    if inflater is not None and not inflater.eof:
        report.add(
            "zip.deflate",
            m.name,
            f"its deflate stream does not end within its {e.csize} compressed bytes",
        )
        return False
    return True


def _unpack(read: _Reader, m: Member, dest: Path, report: Report) -> bool:
    """Write the member; False when its name cannot be written here."""
    e = m.entry
    target = dest.joinpath(*m.name.split("/"))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, _FLAGS, 0o644)
    except OSError as exc:
        if exc.errno not in _NAME_ERRORS:
            raise ExportError(f"cannot unpack zip member {m.name!r}: {exc.strerror}") from exc
        report.add(
            "zip.unsafe",
            m.name,
            f"unsafe zip member {m.name!r}: cannot be unpacked under its name here "
            f"({exc.strerror}; a name that differs only in case, or one too long?)",
        )
        return False
    try:
        sink = _Sink(fd, e.usize)
        whole = _data(read, m, sink, report)
    except OSError as exc:
        raise ExportError(f"cannot unpack zip member {m.name!r}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    if not whole:
        return True  # what it gave is kept; its size and CRC-32 say nothing more
    if sink.count > e.usize:
        report.add(
            "zip.size",
            m.name,
            f"holds more than its declared {e.usize} bytes (only those were unpacked)",
        )
    elif sink.count != e.usize:
        report.add("zip.size", m.name, f"gives {sink.count} bytes; its headers say {e.usize}")
    if sink.crc != e.crc:
        report.add(
            "zip.crc",
            m.name,
            f"CRC-32 of its data is {sink.crc:#010x}; the central directory records {e.crc:#010x}",
        )
    return True


def unpack_zip(path: Path, dest: Path, report: Report) -> list[str]:
    """Check the zip at ``path`` and unpack what can be unpacked into the empty directory
    ``dest``; every damage is a finding in ``report``. Returns the names written.

    Raises :class:`ExportError` for a file that cannot be read or is not a zip at all, and
    when ``dest`` cannot be written.
    """
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise ExportError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with f:
        read = _Reader(f, path)
        size = os.fstat(f.fileno()).st_size
        members = scan_zip(read, size, report, path)
        written = []
        for m in members:
            if m.unpack and _unpack(read, m, dest, report):
                written.append(m.name)
        return written
