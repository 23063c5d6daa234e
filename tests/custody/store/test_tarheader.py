"""Member headers: encoded from recorded values, parsed back field by field, compared."""

from __future__ import annotations

import io
import tarfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custody.record.times import ns_text
from custody.store.tarheader import (
    BLOCK,
    REGTYPE,
    SYMTYPE,
    header_differences,
    header_span,
    parse_header,
)
from tests.custody.store.tarmember import header

# names: any bytes but NUL (paths, owner names); long ones cross ustar's 100/32-byte fields
names = st.binary(min_size=1, max_size=300).filter(lambda b: b"\0" not in b)
owners = st.binary(max_size=60).filter(lambda b: b"\0" not in b)
times = st.integers(min_value=-(2**70), max_value=2**70).map(ns_text)
xattr_names = st.text(
    alphabet=st.characters(blacklist_characters="=\n\0", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(
    name=names,
    size=st.integers(min_value=0, max_value=2**40),
    mode=st.integers(min_value=0, max_value=0o7777),
    uid=st.integers(min_value=0, max_value=2**40),
    gid=st.integers(min_value=0, max_value=2**40),
    uname=owners,
    gname=owners,
    mtime=times,
    atime=st.none() | times,
    ctime=st.none() | times,
    xattrs=st.dictionaries(xattr_names, st.binary(max_size=50), max_size=4),
    link=st.booleans(),
    linkname=names,
)
def test_parse_gives_back_what_was_encoded(
    name: bytes,
    size: int,
    mode: int,
    uid: int,
    gid: int,
    uname: bytes,
    gname: bytes,
    mtime: str,
    atime: str | None,
    ctime: str | None,
    xattrs: dict[str, bytes],
    link: bool,
    linkname: bytes,
) -> None:
    typeflag = SYMTYPE if link else REGTYPE
    facts: dict[str, object] = {
        "mode": mode,
        "uid": uid,
        "gid": gid,
        "uname": uname,
        "gname": gname,
        "mtime": mtime,
        "atime": atime,
        "ctime": ctime,
        "xattrs": xattrs,
        "typeflag": typeflag,
        "linkname": linkname if link else b"",
    }
    raw = header(name, size, **facts)
    assert len(raw) % BLOCK == 0
    assert header_span(raw[:BLOCK]) == len(raw)
    p = parse_header(raw)
    assert p.problems == ()
    assert p.valid and p.length == len(raw)
    assert (p.name, p.size, p.mode, p.uid, p.gid) == (name, size, mode, uid, gid)
    assert (p.uname, p.gname, p.typeflag) == (uname, gname, typeflag)
    assert (p.time(b"mtime"), p.time(b"atime"), p.time(b"ctime")) == (mtime, atime, ctime)
    assert p.linkname == (linkname if link else b"")
    assert p.xattrs == xattrs
    # xattrs in a fixed order: the header depends on the values only
    reordered = dict(reversed(list(xattrs.items())))
    assert header(name, size, **{**facts, "xattrs": reordered}) == raw


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=3 * BLOCK))
def test_parse_never_raises(raw: bytes) -> None:
    p = parse_header(raw)
    assert isinstance(p.problems, tuple)
    header_differences(header(), raw)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=3 * BLOCK - 1), st.integers(min_value=1, max_value=255))
def test_every_byte_of_a_header_is_bound(at: int, flip: int) -> None:
    raw = header()
    changed = bytearray(raw)
    changed[at] ^= flip
    assert header_differences(raw, bytes(changed))


def test_python_tarfile_reads_the_layout() -> None:
    raw = header(name=b"files/x\xff", xattrs={"user.b": b"2", "user.a": b"1"})
    with tarfile.open(
        fileobj=io.BytesIO(raw + b"abc" + bytes(509) + bytes(1024)),
        encoding="utf-8",
        errors="surrogateescape",
    ) as tf:
        info = tf.next()
        assert info is not None
        assert info.name == "files/x\udcff" and info.size == 3
        assert [k for k in info.pax_headers if k.startswith("SCHILY")] == [
            "SCHILY.xattr.user.a",
            "SCHILY.xattr.user.b",
        ]


def _ustar_patch(raw: bytes, start: int, value: bytes, *, checksum: bool) -> bytes:
    """Overwrite a field of the member's ustar block; recompute its checksum if asked."""
    out = bytearray(raw)
    base = len(raw) - BLOCK
    out[base + start : base + start + len(value)] = value
    if checksum:
        block = out[base:]
        block[148:156] = b" " * 8
        out[base + 148 : base + 156] = b"%06o\0 " % sum(block)
    return bytes(out)


@pytest.mark.parametrize(
    ("start", "value", "field"),
    [
        (100, b"0004755\0", "ustar mode"),
        (108, b"0000000\0", "ustar uid"),
        (116, b"0000000\0", "ustar gid"),
        (124, b"00000000004\0", "ustar size"),
        (136, b"00000000000\0", "ustar mtime"),
        (156, b"1", "ustar typeflag"),
        (157, b"/etc/shadow", "ustar linkname"),
        (257, b"ustaX\0", "ustar magic"),
        (263, b"01", "ustar version"),
        (265, b"mallory", "ustar uname"),
        (297, b"wheel", "ustar gname"),
        (329, b"0000001\0", "ustar devmajor"),
        (337, b"0000001\0", "ustar devminor"),
        (345, b"prefix", "ustar prefix"),
        (500, b"x", "ustar unused"),
    ],
)
def test_differences_name_the_field_edited(start: int, value: bytes, field: str) -> None:
    raw = header()
    edited = _ustar_patch(raw, start, value, checksum=True)
    assert sorted(header_differences(raw, edited)) == sorted([field, "ustar chksum"])
    unsummed = _ustar_patch(raw, start, value, checksum=False)
    assert header_differences(raw, unsummed) == [field]
    assert any(p.startswith("ustar chksum") for p in parse_header(unsummed).problems)


def test_checksum_only() -> None:
    raw = header()
    edited = _ustar_patch(raw, 148, b"000001\0 ", checksum=False)
    assert header_differences(raw, edited) == ["ustar chksum"]


def test_pax_differences() -> None:
    raw = header()
    assert header_differences(raw, header(mtime="1700000001.123456789")) == [
        "pax mtime",
        "ustar mtime",
        "ustar chksum",
    ]
    assert header_differences(raw, header(xattrs={"user.a": b"2"})) == ["pax SCHILY.xattr.user.a"]
    assert header_differences(raw, header(xattrs={"user.a": b"1", "user.b": b"2"}))[0] == (
        "pax header size"
    )
    assert "pax SCHILY.xattr.user.b" in header_differences(
        raw, header(xattrs={"user.a": b"1", "user.b": b"2"})
    )
    # the same records in another order
    sorted_raw = header(xattrs={"user.a": b"1", "user.b": b"2"})
    swapped = header(xattrs={"user.b": b"2", "user.a": b"1"}, sort_xattrs=False)
    assert header_differences(sorted_raw, swapped) == ["pax record order"]


def test_text_in_pax_padding() -> None:
    raw = header()
    p = parse_header(raw)
    edited = bytearray(raw)
    edited[p.records[-1].end + 10 : p.records[-1].end + 15] = b"hello"
    assert header_differences(raw, bytes(edited)) == ["pax padding"]
    assert "pax padding: non-zero bytes after the records" in parse_header(bytes(edited)).problems


def test_structural_problems_are_named() -> None:
    raw = header()
    p = parse_header(raw)
    bad_record = bytearray(raw)
    bad_record[p.records[0].start : p.records[0].start + 2] = b"x9"
    assert any(
        m.startswith("pax records: malformed") for m in parse_header(bytes(bad_record)).problems
    )
    after_nul = _ustar_patch(
        raw, 40, b"hidden", checksum=True
    )  # inside the name field, after its NUL
    assert (
        "ustar name: non-zero bytes after its terminating NUL" in parse_header(after_nul).problems
    )
    unknown = _ustar_patch(raw, 156, b"Z", checksum=True)
    assert "ustar typeflag: unknown type b'Z'" in parse_header(unknown).problems
    assert parse_header(raw[:700]).problems[-1] == "pax records: truncated (188 of 512 bytes)"
    assert parse_header(raw[:1100]).problems[-1] == "header: truncated (76 of 512 ustar bytes)"
    assert parse_header(bytes(1024)).problems == (
        "header: an all-zero block (an end-of-archive marker)",
        "ustar chksum: stored b'\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00', the block sums to 400",
        "ustar magic: b'\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00' is not ustar\\0 version 00",
    )
