"""The headers of a run archive member: encoded from recorded values, parsed back, compared.

Every member is a pax extended header (a ustar block of type ``x``, its records, zero
padding to 512 bytes) followed by the member's ustar header. :func:`encode_header` is a
pure function of the values the record keeps (name bytes, size, mode, owner ids and names,
the three times as exact decimal text, extended attributes, type and link target), so a
verifier can regenerate a header byte for byte. :func:`parse_header` reads our layout back
field by field, with the byte range of every ustar field and pax record and the structural
problems it meets, and :func:`header_differences` names each field in which two headers
differ.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from operator import itemgetter
from typing import NamedTuple

from custody.record.times import ns_text

BLOCK = 512
END_OF_ARCHIVE = b"\0" * (2 * BLOCK)

REGTYPE = b"0"
SYMTYPE = b"2"
XHDTYPE = b"x"
PAX_HEADER_NAME = b"././@PaxHeader"
_MAX_OCTAL_7 = 8**7
_MAX_OCTAL_11 = 8**11
XATTR_PREFIX = b"SCHILY.xattr."


@dataclass(frozen=True)
class MemberMeta:
    """The metadata written in a member's headers.

    Times are nanoseconds since the epoch (``atime``/``ctime`` are left out when None);
    ``mode`` holds the permission bits; ``xattrs`` maps attribute names (surrogate-escaped
    str) to their raw values, written as ``SCHILY.xattr.<name>`` records.
    """

    mtime_ns: int
    mode: int = 0o444
    uid: int = 0
    gid: int = 0
    uname: str = ""
    gname: str = ""
    atime_ns: int | None = None
    ctime_ns: int | None = None
    xattrs: Mapping[str, bytes] = field(default_factory=dict)


# --------------------------------------------------------------------------- encoding


def padded(size: int) -> int:
    """``size`` rounded up to whole 512-byte blocks."""
    return (size + BLOCK - 1) // BLOCK * BLOCK


def pax_storable(name: str) -> bool:
    """Whether an extended attribute name can be written as a pax record key."""
    return "=" not in name and "\n" not in name and "\0" not in name


def _pax_record(key: bytes, value: bytes) -> bytes:
    n = len(key) + len(value) + 3  # " " "=" "\n"
    if n <= 97:  # the usual case: the length has two digits
        return b"%d %s=%s\n" % (n + 2, key, value)
    digits = len(str(n))
    while len(str(n + digits)) != digits:
        digits += 1
    return b"%d %s=%s\n" % (n + digits, key, value)


def _is_utf8(raw: bytes) -> bool:
    if raw.isascii():
        return True
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


# A ustar header block is packed from five parts: name; mode, uid and gid; size and mtime;
# chksum; everything from typeflag to the end (linkname, magic and version, uname, gname,
# devmajor and devminor, then prefix and unused as zeros). The second and fifth parts are
# the same for every member of one owner and mode, so they are cached (:class:`_Fixed`).
_USTAR_LAYOUT = "100s24s24s8s356s"
_TAIL_LAYOUT = struct.Struct("1s100s8s32s32s16s167x")
_MAGIC = b"ustar\x0000"
_DEVICES = b"0000000\x000000000\x00"
_CONSTANT_SUM = 8 * 0x20 + sum(_MAGIC) + sum(_DEVICES)  # chksum itself counts as spaces
_CACHED = 4096  # entries kept by each cache of header parts


def _byte_sum(data: bytes, more: bytes) -> int:
    """The sum of the bytes of ``data`` and ``more``, computed in C: Adler-32's low half is
    1 + that sum modulo 65521, exact for the fields summed here (at most 124 bytes,
    124 * 255 < 65520)."""
    return (zlib.adler32(more, zlib.adler32(data)) & 0xFFFF) - 1


class _Fixed(NamedTuple):
    """The parts of a ustar block that are the same for every member of an owner and mode."""

    ids: bytes  # the mode, uid and gid fields (an id too large is 0: pax carries it)
    tail: bytes  # typeflag to the end of the block, text cut to its field
    checksum: int  # the sum of the bytes of both, and of chksum as eight spaces
    owner_fits: bool  # ids and owner names fit ustar: no pax record for them
    utf8: bool  # the owner names (and link target) are UTF-8 (else hdrcharset=BINARY)


@lru_cache(maxsize=_CACHED)
def _fixed(mode: int, uid: int, gid: int, typeflag: bytes, uname: bytes, gname: bytes) -> _Fixed:
    """The parts of a member's ustar block without a link target."""
    if len(typeflag) != 1:
        raise ValueError(f"a typeflag is one byte, not {typeflag!r}")
    uid_fits = 0 <= uid < _MAX_OCTAL_7
    gid_fits = 0 <= gid < _MAX_OCTAL_7
    ids = b"%07o\0%07o\0%07o\0" % (mode & 0o7777, uid if uid_fits else 0, gid if gid_fits else 0)
    names_fit = len(uname) <= 32 and len(gname) <= 32 and uname.isascii() and gname.isascii()
    utf8 = _is_utf8(uname) and _is_utf8(gname)  # whole: pax holds names too long for ustar
    uname, gname = uname[:32], gname[:32]
    tail = _TAIL_LAYOUT.pack(typeflag, b"", _MAGIC, uname, gname, _DEVICES)
    checksum = sum(ids) + typeflag[0] + _byte_sum(uname, gname) + _CONSTANT_SUM
    return _Fixed(ids, tail, checksum, uid_fits and gid_fits and names_fit, utf8)


def _with_link(fixed: _Fixed, linkname: bytes) -> _Fixed:
    """``fixed`` with a link target (in the linkname field, after typeflag)."""
    link = linkname[:100]
    tail = b"".join((fixed.tail[:1], link, fixed.tail[1 + len(link) :]))
    checksum = fixed.checksum + _byte_sum(link, b"")
    return _Fixed(fixed.ids, tail, checksum, fixed.owner_fits, fixed.utf8 and _is_utf8(linkname))


def _ustar_block(name: bytes, size: int, mtime: int, fixed: _Fixed) -> bytes:
    """A ustar header block (:func:`encode_header` does the same inline)."""
    sizes = b"%011o\0%011o\0" % (
        size if size < _MAX_OCTAL_11 else 0,
        mtime if 0 <= mtime < _MAX_OCTAL_11 else 0,
    )
    checksum = b"%06o\0 " % (_byte_sum(name[:100], sizes) + fixed.checksum)
    return struct.pack(_USTAR_LAYOUT, name, fixed.ids, sizes, checksum, fixed.tail)


@lru_cache(maxsize=_CACHED)
def _pax_frame(pax_size: int) -> tuple[struct.Struct, bytes]:
    """For pax records of ``pax_size`` bytes: the layout of a member's headers (the pax
    header's ustar block, the records padded to whole blocks, the member's ustar block in
    five parts), and the pax header's ustar block."""
    layout = struct.Struct(f"{BLOCK}s{padded(pax_size)}s{_USTAR_LAYOUT}")
    xheader = _ustar_block(PAX_HEADER_NAME, pax_size, 0, _fixed(0o644, 0, 0, XHDTYPE, b"", b""))
    return layout, xheader


# 2001-2286 with nanoseconds: each time record is 30 bytes long
_TIMES = b"30 mtime=%s\n30 atime=%s\n30 ctime=%s\n"
_SHORT_PATH_AND_TIMES = b"%d path=%s\n" + _TIMES  # a path of at most 90 bytes


def _path_and_times(
    name: bytes, linkname: bytes, mtime: str, atime: str | None, ctime: str | None
) -> bytes:
    """The ``path``, ``linkpath`` and time records, whatever their lengths."""
    records = _pax_record(b"path", name)
    if linkname:
        records += _pax_record(b"linkpath", linkname)
    if atime is not None and ctime is not None and len(mtime) == len(atime) == len(ctime) == 20:
        return records + _TIMES % (mtime.encode(), atime.encode(), ctime.encode())
    records += _pax_record(b"mtime", mtime.encode())
    if atime is not None:
        records += _pax_record(b"atime", atime.encode())
    if ctime is not None:
        records += _pax_record(b"ctime", ctime.encode())
    return records


def _xattr_records(xattrs: Mapping[str, bytes], sort: bool) -> list[bytes]:
    items = [(_encode(name), name, value) for name, value in xattrs.items()]
    if sort:
        items.sort(key=itemgetter(0))
    records = []
    for key, name, value in items:
        if not pax_storable(name):  # the same test on the name's bytes (ASCII stays ASCII)
            raise ValueError(
                f"extended attribute name cannot be stored in pax: {key.decode('utf-8', 'surrogateescape')!r}"
            )
        records.append(_pax_record(XATTR_PREFIX + key, bytes(value)))
    return records


def _other_records(
    size: int,
    uid: int,
    gid: int,
    uname: bytes,
    gname: bytes,
    xattrs: Mapping[str, bytes],
    sort_xattrs: bool,
) -> bytes:
    """The records after the times: values the ustar fields cannot hold, then extended
    attributes."""
    records = []
    if size >= _MAX_OCTAL_11:
        records.append(_pax_record(b"size", b"%d" % size))
    if not 0 <= uid < _MAX_OCTAL_7:
        records.append(_pax_record(b"uid", b"%d" % uid))
    if not 0 <= gid < _MAX_OCTAL_7:
        records.append(_pax_record(b"gid", b"%d" % gid))
    if len(uname) > 32 or not uname.isascii():
        records.append(_pax_record(b"uname", uname))
    if len(gname) > 32 or not gname.isascii():
        records.append(_pax_record(b"gname", gname))
    if xattrs:
        records.extend(_xattr_records(xattrs, sort_xattrs))
    return b"".join(records)


def encode_header(
    name: bytes,
    size: int,
    *,
    mode: int,
    uid: int,
    gid: int,
    uname: bytes,
    gname: bytes,
    mtime: str,
    atime: str | None,
    ctime: str | None,
    xattrs: Mapping[str, bytes],
    typeflag: bytes = REGTYPE,
    linkname: bytes = b"",
    sort_xattrs: bool = True,
) -> bytes:
    """The headers of one member from encoded values (see :func:`build_header`); times are
    :func:`~custody.store.sources.ns_text` strings, ``typeflag`` is one byte. The fast path
    for many small files.

    A pure function of its arguments: extended attributes are written in the order of their
    encoded names (``sort_xattrs=False`` keeps the mapping's order, to regenerate headers
    written before that rule).
    """
    fixed = _fixed(mode, uid, gid, typeflag, uname, gname)
    if linkname:
        fixed = _with_link(fixed, linkname)
    if (
        len(name) <= 90
        and not linkname
        and atime is not None
        and ctime is not None
        and len(mtime) == len(atime) == len(ctime) == 20
    ):
        times = (mtime.encode(), atime.encode(), ctime.encode())
        pax = _SHORT_PATH_AND_TIMES % (len(name) + 9, name, *times)
    else:
        pax = _path_and_times(name, linkname, mtime, atime, ctime)
    if xattrs or size >= _MAX_OCTAL_11 or not fixed.owner_fits:
        pax += _other_records(size, uid, gid, uname, gname, xattrs, sort_xattrs)
    if not fixed.utf8 or not _is_utf8(name):
        pax = b"21 hdrcharset=BINARY\n" + pax
    layout, xheader = _pax_frame(len(pax))
    # the member's ustar block, as _ustar_block makes it
    seconds = int(mtime.partition(".")[0])
    sizes = b"%011o\0%011o\0" % (
        size if size < _MAX_OCTAL_11 else 0,
        seconds if 0 <= seconds < _MAX_OCTAL_11 else 0,
    )
    checksum = b"%06o\0 " % (_byte_sum(name[:100], sizes) + fixed.checksum)
    return layout.pack(xheader, pax, name, fixed.ids, sizes, checksum, fixed.tail)


def build_header(
    name: str, size: int, meta: MemberMeta, *, typeflag: bytes = REGTYPE, linkname: str = ""
) -> bytes:
    """The pax extended header and the ustar header of one member (a multiple of 512 bytes).

    The pax header always carries ``path`` and the times; ``linkpath``, ``size``, ``uid``,
    ``gid``, ``uname``, ``gname`` when the ustar fields cannot hold them; and
    ``hdrcharset=BINARY`` when a name is not UTF-8, so readers keep its exact bytes.
    Extended attributes whose names contain ``=``, a newline or NUL cannot be written and
    raise :class:`ValueError` (the capture leaves them out and records why).
    """
    return encode_header(
        _encode(name),
        size,
        mode=meta.mode,
        uid=meta.uid,
        gid=meta.gid,
        uname=_encode(meta.uname),
        gname=_encode(meta.gname),
        mtime=ns_text(meta.mtime_ns),
        atime=None if meta.atime_ns is None else ns_text(meta.atime_ns),
        ctime=None if meta.ctime_ns is None else ns_text(meta.ctime_ns),
        xattrs=meta.xattrs,
        typeflag=typeflag,
        linkname=_encode(linkname),
    )


# --------------------------------------------------------------------------- parsing

# (name, offset, length, kind): kind is "text" (NUL-terminated), "octal" or "raw"
USTAR_FIELDS: tuple[tuple[str, int, int, str], ...] = (
    ("name", 0, 100, "text"),
    ("mode", 100, 8, "octal"),
    ("uid", 108, 8, "octal"),
    ("gid", 116, 8, "octal"),
    ("size", 124, 12, "octal"),
    ("mtime", 136, 12, "octal"),
    ("chksum", 148, 8, "octal"),
    ("typeflag", 156, 1, "raw"),
    ("linkname", 157, 100, "text"),
    ("magic", 257, 6, "raw"),
    ("version", 263, 2, "raw"),
    ("uname", 265, 32, "text"),
    ("gname", 297, 32, "text"),
    ("devmajor", 329, 8, "octal"),
    ("devminor", 337, 8, "octal"),
    ("prefix", 345, 155, "text"),
    ("unused", 500, 12, "raw"),
)
_KNOWN_TYPES = frozenset(b"01234567xg\0")
_OCTAL_DIGITS = frozenset(b"01234567")


@dataclass(frozen=True)
class Field:
    """One ustar field: its byte range in the parsed bytes, raw bytes and value (an int for
    numbers, None when malformed; the bytes before the first NUL for text; raw otherwise)."""

    name: str
    start: int
    end: int
    raw: bytes
    value: int | bytes | None


@dataclass(frozen=True)
class UstarBlock:
    """A parsed 512-byte ustar header block."""

    offset: int
    fields: tuple[Field, ...]
    checksum: int  # computed over the block with the chksum field as spaces

    def __getitem__(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def number(self, name: str) -> int | None:
        value = self[name].value
        return value if isinstance(value, int) else None

    def text(self, name: str) -> bytes:
        value = self[name].value
        return value if isinstance(value, bytes) else b""

    @property
    def typeflag(self) -> bytes:
        return self["typeflag"].raw

    @property
    def checksum_ok(self) -> bool:
        return self.number("chksum") == self.checksum


@dataclass(frozen=True)
class PaxRecord:
    """One pax record and its byte range ``[start, end)`` in the parsed bytes."""

    key: bytes
    value: bytes
    start: int
    end: int


@dataclass(frozen=True)
class ParsedHeader:
    """A member's headers as found: the pax extended header block (None if absent), its
    records, the ustar header (None if the bytes end first), where the data starts
    (``length``) and each structural problem, named like :func:`header_differences`."""

    pax: UstarBlock | None
    records: tuple[PaxRecord, ...]
    pax_end: int  # end of the pax records area (records + padding)
    ustar: UstarBlock | None
    length: int
    problems: tuple[str, ...]

    def record(self, key: bytes) -> bytes | None:
        """The value of the last pax record with ``key``, or None."""
        found = None
        for r in self.records:
            if r.key == key:
                found = r.value
        return found

    @property
    def valid(self) -> bool:
        """A ustar header with a good checksum and magic was found (it is a tar header)."""
        u = self.ustar
        return u is not None and u.checksum_ok and u["magic"].raw == b"ustar\0"

    def _effective_text(self, key: bytes, ustar_field: str) -> bytes:
        value = self.record(key)
        if value is not None:
            return value
        if self.ustar is None:
            return b""
        if ustar_field == "name" and self.ustar.text("prefix"):
            return self.ustar.text("prefix") + b"/" + self.ustar.text("name")
        return self.ustar.text(ustar_field)

    def _effective_number(self, key: bytes, ustar_field: str) -> int | None:
        value = self.record(key)
        if value is not None:
            return int(value) if value.isdigit() else None
        return None if self.ustar is None else self.ustar.number(ustar_field)

    @property
    def name(self) -> bytes:
        return self._effective_text(b"path", "name")

    @property
    def linkname(self) -> bytes:
        return self._effective_text(b"linkpath", "linkname")

    @property
    def uname(self) -> bytes:
        return self._effective_text(b"uname", "uname")

    @property
    def gname(self) -> bytes:
        return self._effective_text(b"gname", "gname")

    @property
    def size(self) -> int | None:
        return self._effective_number(b"size", "size")

    @property
    def uid(self) -> int | None:
        return self._effective_number(b"uid", "uid")

    @property
    def gid(self) -> int | None:
        return self._effective_number(b"gid", "gid")

    @property
    def mode(self) -> int | None:
        return None if self.ustar is None else self.ustar.number("mode")

    @property
    def typeflag(self) -> bytes:
        return b"" if self.ustar is None else self.ustar.typeflag

    def time(self, key: bytes) -> str | None:
        """A pax time record (``mtime``, ``atime``, ``ctime``) as text, or None."""
        value = self.record(key)
        return None if value is None else value.decode("ascii", "backslashreplace")

    @property
    def xattrs(self) -> dict[str, bytes]:
        """``SCHILY.xattr.*`` records in header order, names surrogate-escaped."""
        n = len(XATTR_PREFIX)
        return {
            r.key[n:].decode("utf-8", "surrogateescape"): r.value
            for r in self.records
            if r.key.startswith(XATTR_PREFIX)
        }


def _octal(raw: bytes) -> int | None:
    """A ustar number: octal digits ended by NUL or space, then only NULs and spaces."""
    if raw and raw[0] & 0x80:  # GNU base-256
        value = int.from_bytes(raw[1:], "big") | ((raw[0] & 0x3F) << (8 * (len(raw) - 1)))
        return -((1 << (8 * len(raw) - 2)) - value) if raw[0] & 0x40 else value
    body = raw.strip(b" \0")
    if not body:
        return 0
    if not set(body) <= _OCTAL_DIGITS or raw.lstrip(b" ").find(body) != 0:
        return None
    return int(body, 8)


def _parse_ustar(raw: bytes, offset: int, label: str, problems: list[str]) -> UstarBlock:
    block = raw[offset : offset + BLOCK]
    fields: list[Field] = []
    for name, start, length, kind in USTAR_FIELDS:
        chunk = block[start : start + length]
        value: int | bytes | None
        if kind == "octal":
            value = _octal(chunk)
            if value is None:
                problems.append(f"{label} {name}: not an octal number ({chunk!r})")
        elif kind == "text":
            value, nul, rest = chunk.partition(b"\0")
            if nul and rest.strip(b"\0"):
                problems.append(f"{label} {name}: non-zero bytes after its terminating NUL")
        else:
            value = chunk
        fields.append(Field(name, offset + start, offset + start + length, chunk, value))
    checksum = sum(block[:148]) + 8 * 0x20 + sum(block[156:])
    parsed = UstarBlock(offset, tuple(fields), checksum)
    if not parsed.checksum_ok:
        problems.append(
            f"{label} chksum: stored {parsed['chksum'].raw!r}, the block sums to {checksum:o}"
        )
    if block[257:265] != b"ustar\x0000":
        problems.append(f"{label} magic: {block[257:265]!r} is not ustar\\0 version 00")
    if block[500:].strip(b"\0"):
        problems.append(f"{label} unused: non-zero bytes in the unused tail")
    if parsed.typeflag[0] not in _KNOWN_TYPES:
        problems.append(f"{label} typeflag: unknown type {parsed.typeflag!r}")
    return parsed


def _parse_records(raw: bytes, start: int, end: int, problems: list[str]) -> list[PaxRecord]:
    records: list[PaxRecord] = []
    pos = start
    while pos < end:
        space = raw.find(b" ", pos, min(end, pos + 21))
        digits = raw[pos:space] if space > 0 else b""
        if not digits.isdigit() or int(digits) <= len(digits) + 1:
            problems.append(f"pax records: malformed record length at byte {pos}")
            break
        stop = pos + int(digits)
        if stop > end:
            problems.append(f"pax records: the record at byte {pos} runs past the records")
            break
        key, eq, value = raw[space + 1 : stop - 1].partition(b"=")
        if not eq or raw[stop - 1 : stop] != b"\n" or not key:
            problems.append(f"pax records: malformed record at byte {pos}")
            break
        records.append(PaxRecord(key, value, pos, stop))
        pos = stop
    return records


def header_span(first_block: bytes) -> int:
    """How many bytes a member's headers take, from their first block (512 if that block
    is not a pax extended header or its size cannot be read)."""
    if len(first_block) < BLOCK or first_block[156:157] != XHDTYPE:
        return BLOCK
    size = _octal(first_block[124:136])
    return BLOCK if size is None or size < 0 else 2 * BLOCK + padded(size)


def parse_header(raw: bytes) -> ParsedHeader:
    """Parse a member's headers at the start of ``raw`` (our layout: an optional pax
    extended header, its records and padding, then the ustar header). Never raises:
    what is wrong is listed in ``problems``; ``raw`` may extend beyond the headers."""
    problems: list[str] = []
    pax: UstarBlock | None = None
    records: list[PaxRecord] = []
    pos = 0
    if len(raw) < BLOCK:
        problems.append(f"header: truncated ({len(raw)} of {BLOCK} bytes)")
        return ParsedHeader(None, (), 0, None, len(raw), tuple(problems))
    if raw[156:157] == XHDTYPE:
        pax = _parse_ustar(raw, 0, "pax header", problems)
        size = pax.number("size") or 0
        end = BLOCK + max(size, 0)
        pos = BLOCK + padded(max(size, 0))
        if pos > len(raw):
            problems.append(f"pax records: truncated ({len(raw) - BLOCK} of {pos - BLOCK} bytes)")
            records = _parse_records(raw, BLOCK, min(end, len(raw)), problems)
            return ParsedHeader(pax, tuple(records), pos, None, len(raw), tuple(problems))
        records = _parse_records(raw, BLOCK, end, problems)
        if raw[end:pos].strip(b"\0"):
            problems.append("pax padding: non-zero bytes after the records")
    if len(raw) < pos + BLOCK:
        problems.append(f"header: truncated ({len(raw) - pos} of {BLOCK} ustar bytes)")
        return ParsedHeader(pax, tuple(records), pos, None, len(raw), tuple(problems))
    if not raw[pos : pos + BLOCK].strip(b"\0"):
        problems.append("header: an all-zero block (an end-of-archive marker)")
    ustar = _parse_ustar(raw, pos, "ustar", problems)
    if ustar.typeflag in (XHDTYPE, b"g"):
        problems.append(f"ustar typeflag: {ustar.typeflag!r} where a member header belongs")
    return ParsedHeader(pax, tuple(records), pos, ustar, pos + BLOCK, tuple(problems))


# --------------------------------------------------------------------------- comparing


def _pax_label(key: bytes) -> str:
    return "pax " + key.decode("utf-8", "backslashreplace")


def _block_differences(label: str, a: UstarBlock | None, b: UstarBlock | None) -> list[str]:
    if a is None or b is None:
        return [] if a is b else [label]
    return [
        f"{label} {fa.name}" for fa, fb in zip(a.fields, b.fields, strict=True) if fa.raw != fb.raw
    ]


def _record_differences(a: ParsedHeader, b: ParsedHeader, a_raw: bytes, b_raw: bytes) -> list[str]:
    out: list[str] = []
    ra = [(r.key, a_raw[r.start : r.end]) for r in a.records]
    rb = [(r.key, b_raw[r.start : r.end]) for r in b.records]
    by_key_a: dict[bytes, list[bytes]] = {}
    by_key_b: dict[bytes, list[bytes]] = {}
    for key, rec in ra:
        by_key_a.setdefault(key, []).append(rec)
    for key, rec in rb:
        by_key_b.setdefault(key, []).append(rec)
    for key in [*by_key_a, *(k for k in by_key_b if k not in by_key_a)]:
        if by_key_a.get(key) != by_key_b.get(key):
            out.append(_pax_label(key))
    if not out and ra != rb:
        out.append("pax record order")
    tail_a = a_raw[a.records[-1].end if a.records else BLOCK : a.pax_end]
    tail_b = b_raw[b.records[-1].end if b.records else BLOCK : b.pax_end]
    if tail_a != tail_b and (tail_a.strip(b"\0") or tail_b.strip(b"\0")):
        clean_a = a.pax is None or not any(p.startswith("pax records") for p in a.problems)
        clean_b = b.pax is None or not any(p.startswith("pax records") for p in b.problems)
        out.append("pax padding" if clean_a and clean_b else "pax records")
    return out


def header_differences(expected: bytes, actual: bytes) -> list[str]:
    """The fields in which two members' headers differ, in header order: ``pax header
    <field>`` (the extended header's own ustar block), ``pax <key>`` (a record changed,
    added or removed), ``pax record order``, ``pax padding``, ``pax records`` (unparsable
    records), ``ustar <field>`` (e.g. ``ustar mode``, ``ustar chksum``, ``ustar unused``),
    ``header length``. Empty when the bytes are equal."""
    if expected == actual:
        return []
    a, b = parse_header(expected), parse_header(actual)
    out = _block_differences("pax header", a.pax, b.pax)
    if a.pax is not None and b.pax is not None:
        out += _record_differences(a, b, expected, actual)
    elif a.records or b.records:
        out.append("pax records")
    out += _block_differences("ustar", a.ustar, b.ustar)
    if a.length != b.length or len(expected) != len(actual):
        out.append("header length")
    return out or ["header bytes"]
