"""Reading a bundle zip where it lies, without unpacking it: its ledger and its run archives.

:class:`ZipBundle` checks the zip's structure first (:func:`~custody.bundle.zipcheck.scan_zip`,
every damage a finding) and then reads only members that can be unpacked:

- ``ledger.jsonl`` is streamed and inflated line by line; its size and CRC-32 are checked
  when it has been read to its end (a difference is a finding, as when it is unpacked);
- a run archive is read in place: an export stores ``.tar`` members uncompressed, so a
  member's bytes are a window of the zip file, and one artifact is read without reading
  the archive before it. A compressed archive (a zip made by another tool) is refused with
  a message saying to unzip the bundle first.
"""

from __future__ import annotations

import errno
import io
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from custody.bundle.layout import LEDGER
from custody.bundle.ledgerfile import ledger_lines
from custody.bundle.zipcheck import DEFLATED, STORED, Member, scan_zip
from custody.errors import ExportError
from custody.record.entry import Entry
from custody.verify.findings import Report

_CHUNK = 1 << 20


class ZipBundle:
    """A bundle zip opened for reading; its structure's findings are in ``report``."""

    def __init__(self, path: Path, report: Report) -> None:
        self.path = path
        try:
            self._f = open(path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise ExportError(f"cannot read {path}: {exc.strerror or exc}") from exc
        try:
            size = os.fstat(self._f.fileno()).st_size
            members = scan_zip(self._read, size, report, path)
        except BaseException:
            self._f.close()
            raise
        self.members: dict[str, Member] = {m.name: m for m in members if m.unpack}

    def _read(self, offset: int, n: int) -> bytes:
        if offset < 0 or n <= 0:
            return b""
        try:
            self._f.seek(offset)
            return self._f.read(n)
        except OSError as exc:
            raise ExportError(f"cannot read {self.path}: {exc.strerror or exc}") from exc

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> ZipBundle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def has(self, name: str) -> bool:
        """True when the zip holds member ``name`` and it can be read."""
        return name in self.members

    def ledger(self, report: Report) -> Iterator[Entry]:
        """The entries of the zip's ``ledger.jsonl``, streamed; a malformed line, and data
        whose size or CRC-32 differs from the zip's record, are findings in ``report``."""
        m = self.members.get(LEDGER)
        if m is None:
            raise ExportError(
                f"{self.path} holds no readable {LEDGER}: it is not a Chainproof bundle, or "
                f"its ledger is damaged (chainproof verify {self.path} says how)"
            )
        yield from ledger_lines(self._lines(m, report), LEDGER, report)

    def _lines(self, m: Member, report: Report) -> Iterator[bytes]:
        rest = b""
        crc = count = 0
        for data in self._inflated(m, report):
            crc = zlib.crc32(data, crc)
            count += len(data)
            lines = (rest + data).split(b"\n")
            rest = lines.pop()
            yield from lines
        if rest:
            yield rest
        e = m.entry
        if count != e.usize:
            report.add("zip.size", m.name, f"gives {count} bytes; its headers say {e.usize}")
        elif crc != e.crc:
            report.add(
                "zip.crc",
                m.name,
                f"CRC-32 of its data is {crc:#010x}; the central directory records {e.crc:#010x}",
            )

    def _inflated(self, m: Member, report: Report) -> Iterator[bytes]:
        """The member's data, at most its declared size (and one byte more, to tell)."""
        e = m.entry
        assert m.data_at is not None
        inflater = zlib.decompressobj(-15) if e.method == DEFLATED else None
        at, left, given = m.data_at, e.csize, 0
        while left > 0 and given <= e.usize:
            chunk = self._read(at, min(_CHUNK, left))
            if not chunk:
                report.add("zip.truncated", m.name, f"the file ends at {at}, inside its data")
                return
            at, left = at + len(chunk), left - len(chunk)
            if inflater is None:
                given += len(chunk)
                yield chunk
                continue
            try:
                while chunk and not inflater.eof and given <= e.usize:
                    out = inflater.decompress(chunk, _CHUNK)
                    given += len(out)
                    yield out
                    chunk = inflater.unconsumed_tail
            except zlib.error as exc:
                report.add("zip.deflate", m.name, f"its deflate data are damaged: {exc}")
                return

    def open(self, name: str) -> BinaryIO:
        """Member ``name`` (a run archive), read where it lies in the zip: seekable, read-only.
        :class:`OSError` when the zip holds no such member or holds it compressed."""
        m = self.members.get(name)
        if m is None or m.data_at is None:
            raise FileNotFoundError(errno.ENOENT, f"no member {name} in the zip", str(self.path))
        if m.entry.method != STORED or m.entry.csize != m.entry.usize:
            raise OSError(
                errno.ENOTSUP,
                f"{name} is compressed in the zip; unzip the bundle and read the directory",
            )
        return io.BufferedReader(_Window(self.path, m.data_at, m.entry.usize), _CHUNK)


class _Window(io.RawIOBase):
    """``size`` bytes of a file from ``start``, as a read-only, seekable file of their own."""

    def __init__(self, path: Path, start: int, size: int) -> None:
        super().__init__()
        self._f = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by close()
        self._start, self._size, self._pos = start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self._size - self._pos)
        if n <= 0:
            return 0
        self._f.seek(self._start + self._pos)
        got = self._f.readinto(memoryview(buffer)[:n]) or 0
        self._pos += got
        return got

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError(errno.EINVAL, "negative seek position")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if not self.closed:
            self._f.close()
        super().close()
