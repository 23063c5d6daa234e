"""Each kind of zip damage is a finding with its own code, naming the member and the field."""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from app.cli import main
from custody.bundle.zipextract import unpack_zip
from custody.errors import ExportError
from custody.verify.findings import Report

TEXT = b"line of text\n" * 200
BLOB = bytes(range(256)) * 8


def make_zip(path: Path) -> Path:
    """Two members as our writer makes them: a deflated text and a stored blob."""
    with zipfile.ZipFile(path, "w") as z:
        info = zipfile.ZipInfo("a.txt", date_time=(2024, 5, 1, 12, 0, 0))
        z.writestr(info, TEXT, compress_type=zipfile.ZIP_DEFLATED)
        info = zipfile.ZipInfo("b/blob.tar", date_time=(2024, 5, 1, 12, 0, 0))
        z.writestr(info, BLOB, compress_type=zipfile.ZIP_STORED)
    return path


def layout(data: bytes) -> tuple[int, list[int], list[int]]:
    """(end record offset, local header offsets, central entry offsets)."""
    eocd = len(data) - 22
    n, _, cd = struct.unpack_from("<HII", data, eocd + 10)
    centrals, at = [], cd
    for _ in range(n):
        centrals.append(at)
        nlen, elen, clen = struct.unpack_from("<HHH", data, at + 28)
        at += 46 + nlen + elen + clen
    locals_ = [struct.unpack_from("<I", data, c + 42)[0] for c in centrals]
    return eocd, locals_, centrals


def check(path: Path, tmp_path: Path) -> tuple[Report, list[str]]:
    report = Report(str(path))
    dest = tmp_path / "out"
    dest.mkdir(parents=True, exist_ok=True)
    names = unpack_zip(path, dest, report)
    return report, names


def findings(report: Report) -> list[tuple[str, str, str]]:
    return [(f.code, f.where, f.message) for f in report.findings]


def patch(path: Path, at: int, fmt: str, value: int) -> None:
    data = bytearray(path.read_bytes())
    struct.pack_into(fmt, data, at, value)
    path.write_bytes(bytes(data))


def test_an_intact_zip_has_no_findings(tmp_path: Path) -> None:
    report, names = check(make_zip(tmp_path / "z.zip"), tmp_path)
    assert report.findings == []
    assert names == ["a.txt", "b/blob.tar"]
    assert (tmp_path / "out" / "a.txt").read_bytes() == TEXT
    assert (tmp_path / "out" / "b" / "blob.tar").read_bytes() == BLOB


@pytest.mark.parametrize(
    ("field", "offset", "fmt", "value", "code", "text"),
    [
        ("method", 8, "<H", 12, "zip.header", "compression method is 12"),
        ("flags", 6, "<H", 0x0001, "zip.header", "field flags is '0x0001'"),
        ("crc", 14, "<I", 0x12345678, "zip.header", "CRC-32 is '0x12345678'"),
        ("csize", 18, "<I", 7, "zip.header", "compressed size is 7"),
        ("usize", 22, "<I", 7, "zip.header", "uncompressed size is 7"),
        ("version", 4, "<H", 63, "zip.header", "version needed is 63"),
        ("time", 10, "<H", 0x1234, "zip.header", "modification time"),
        ("name", 30, "<B", ord("x"), "zip.header", "field name is b'x.txt'"),
        ("signature", 0, "<I", 0x04034B51, "zip.header", "no local header at offset 0"),
    ],
)
def test_local_header_disagreeing_with_the_central_directory(
    tmp_path: Path, field: str, offset: int, fmt: str, value: int, code: str, text: str
) -> None:
    z = make_zip(tmp_path / "z.zip")
    patch(z, offset, fmt, value)
    report, _ = check(z, tmp_path)
    got = findings(report)
    assert any(c == code and w == "a.txt" and text in m for c, w, m in got), got


def test_bad_method_and_version_in_both_headers(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "z.zip")
    _, locs, cens = layout(z.read_bytes())
    patch(z, locs[1] + 8, "<H", 14)
    patch(z, cens[1] + 10, "<H", 14)
    patch(z, locs[0] + 4, "<H", 63)
    patch(z, cens[0] + 6, "<H", 63)
    report, names = check(z, tmp_path)
    codes = {(c, w) for c, w, _ in findings(report)}
    assert ("zip.method", "b/blob.tar") in codes and ("zip.version", "a.txt") in codes
    assert names == ["a.txt"]  # the member with an unknown method is not unpacked


def test_crc_and_size_are_checked_against_the_data(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "z.zip")
    _, locs, _ = layout(z.read_bytes())
    data = bytearray(z.read_bytes())
    data[locs[1] + 30 + len("b/blob.tar") + 5] ^= 0x01  # one byte of the stored blob
    z.write_bytes(bytes(data))
    report, _ = check(z, tmp_path)
    assert [c for c, w, _ in findings(report) if w == "b/blob.tar"] == ["zip.crc"]
    # the damaged copy is kept, so the bundle's checks can name the file that differs
    assert (tmp_path / "out" / "b" / "blob.tar").read_bytes() != BLOB


def test_damaged_deflate_stream(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "z.zip")
    data = bytearray(z.read_bytes())
    data[30 + len("a.txt")] ^= 0x06  # the first block's type: reserved (3)
    z.write_bytes(bytes(data))
    report, _ = check(z, tmp_path)
    assert ("zip.deflate", "a.txt") in {(c, w) for c, w, _ in findings(report)}


def test_deflate_stream_cut_short_and_stray_bytes(tmp_path: Path) -> None:
    packed = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = packed.compress(TEXT) + packed.flush()
    for label, body, csize in (
        ("short", stream[:-4], len(stream) - 4),
        ("stray", stream + b"\0\0", len(stream) + 2),
    ):
        z = tmp_path / f"{label}.zip"
        name = b"a.txt"
        crc = zlib.crc32(TEXT)
        local = struct.pack(
            "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0x5821, crc, csize, len(TEXT), len(name), 0
        )
        central = struct.pack(
            "<4sHHHHHHIIIHHHHHII",
            b"PK\x01\x02",
            0x0314,
            20,
            0,
            8,
            0,
            0x5821,
            crc,
            csize,
            len(TEXT),
            len(name),
            0,
            0,
            0,
            0,
            0o100644 << 16,
            0,
        )
        cd_at = len(local) + len(name) + len(body)
        end = struct.pack(
            "<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central) + len(name), cd_at, 0
        )
        z.write_bytes(local + name + body + central + name + end)
        report, _ = check(z, tmp_path / label)
        got = [(c, m) for c, w, m in findings(report) if w == "a.txt"]
        assert got and got[0][0] == "zip.deflate", got
        assert ("does not end" if label == "short" else "ends 2 byte(s) before") in got[0][1]


@pytest.mark.parametrize("keep", [0.2, 0.5, 0.95, 0.999])
def test_truncation_is_a_finding(tmp_path: Path, keep: float) -> None:
    z = make_zip(tmp_path / "z.zip")
    data = z.read_bytes()
    z.write_bytes(data[: int(len(data) * keep)])
    report, _ = check(z, tmp_path)
    assert report.findings and report.findings[0].code == "zip.truncated", findings(report)


def test_not_a_zip_at_all_is_an_error_not_a_finding(tmp_path: Path) -> None:
    z = tmp_path / "notes.zip"
    z.write_text("not a zip\n")
    with pytest.raises(ExportError, match="not a zip file"):
        check(z, tmp_path)


def test_bytes_between_members_appended_or_prepended(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "z.zip")
    data = z.read_bytes()
    eocd, locs, cens = layout(data)
    # a second end record appended after the real one
    (tmp_path / "tail.zip").write_bytes(data + data[eocd:])
    report, _ = check(tmp_path / "tail.zip", tmp_path / "1")
    assert any(c == "zip.structure" and "second end record" in m for c, _, m in findings(report))
    # bytes before the first member (a self-extractor's stub), offsets left as they were
    (tmp_path / "stub.zip").write_bytes(b"#!/bin/sh\nexit 0\n" + data)
    report, names = check(tmp_path / "stub.zip", tmp_path / "2")
    assert {c for c, _, _ in findings(report)} == {"zip.structure"}
    assert names == ["a.txt", "b/blob.tar"]  # still unpacked, like unzip does
    # bytes between the members, with the offsets that follow moved along
    gap = b"\0" * 7
    moved = bytearray(data[: locs[1]] + gap + data[locs[1] :])
    struct.pack_into("<I", moved, cens[1] + 7 + 42, locs[1] + 7)
    struct.pack_into("<I", moved, eocd + 7 + 16, cens[0] + 7)
    (tmp_path / "gap.zip").write_bytes(bytes(moved))
    report, _ = check(tmp_path / "gap.zip", tmp_path / "3")
    assert [(c, m) for c, _, m in findings(report)] == [
        ("zip.structure", "7 byte(s) before member 'b/blob.tar' belong to no member")
    ]


def test_overlapping_and_out_of_order_members(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "z.zip")
    _, locs, cens = layout(z.read_bytes())
    patch(z, cens[1] + 42, "<I", locs[0])  # the second entry points at the first member
    report, _ = check(z, tmp_path)
    got = findings(report)
    assert any(c == "zip.structure" and "overlaps" in m for c, _, m in got), got
    z = make_zip(tmp_path / "y.zip")
    data = z.read_bytes()
    eocd, locs, cens = layout(data)
    swapped = data[: cens[0]] + data[cens[1] : eocd] + data[cens[0] : cens[1]] + data[eocd:]
    (tmp_path / "y.zip").write_bytes(swapped)
    report, names = check(tmp_path / "y.zip", tmp_path / "y")
    got = findings(report)
    assert [c for c, _, _ in got] == ["zip.structure"] and "lies before it" in got[0][2], got
    assert sorted(names) == ["a.txt", "b/blob.tar"]


def test_end_record_counts_and_offsets(tmp_path: Path) -> None:
    for offset, value, text in (
        (10, 3, "the end record says 3"),
        (16, 5, "the end record places it at offset 5"),
        (4, 1, "not a single-disk zip"),
        (20, 9, "announces a 9-byte comment"),
    ):
        z = make_zip(tmp_path / "z.zip")
        eocd, _, _ = layout(z.read_bytes())
        patch(z, eocd + offset, "<I" if offset == 16 else "<H", value)
        report, _ = check(z, tmp_path / str(offset))
        assert any(text in m for _, _, m in findings(report)), findings(report)


def test_data_descriptor_and_zip64_are_read(tmp_path: Path) -> None:
    class Stream:  # a file that cannot seek: zipfile writes data descriptors
        def __init__(self, f: object) -> None:
            self.f = f

        def write(self, b: bytes) -> int:
            return self.f.write(b)  # type: ignore[attr-defined,no-any-return]

        def flush(self) -> None:
            pass

    z = tmp_path / "s.zip"
    with open(z, "wb") as raw, zipfile.ZipFile(Stream(raw), "w") as zf:  # type: ignore[arg-type]
        for name, data in (("a.txt", TEXT), ("b.bin", BLOB)):
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as f:
                f.write(data)
    report, names = check(z, tmp_path)
    assert report.findings == [] and names == ["a.txt", "b.bin"]
    data = z.read_bytes()
    at = data.index(b"PK\x07\x08")  # a.txt's descriptor: signature, CRC-32, two 8-byte sizes
    patch(z, at + 8, "<Q", 3)
    report, _ = check(z, tmp_path / "d")
    assert ("zip.header", "a.txt") in {(c, w) for c, w, _ in findings(report)}
    assert "data descriptor field compressed size is 3" in report.findings[0].message


def test_unsafe_attributes(tmp_path: Path) -> None:
    z = tmp_path / "z.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for name, mode in (("ok", 0o100644), ("secret", 0o100044), ("suid", 0o104755)):
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = mode << 16
            zf.writestr(info, b"x")
    report, names = check(z, tmp_path)
    assert {w for c, w, _ in findings(report) if c == "zip.header"} == {"secret", "suid"}
    assert names == ["ok", "secret", "suid"]


def test_cli_reports_damage_as_json_with_exit_6(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    z = make_zip(tmp_path / "z.zip")
    patch(z, 8, "<H", 99)
    assert main(["verify", str(z), "--json"]) == 6
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False
    assert {"zip.header", "bundle.deleted"} <= {f["code"] for f in doc["findings"]}
    (tmp_path / "text.zip").write_text("hello")
    assert main(["verify", str(tmp_path / "text.zip"), "--json"]) == 7
    assert "not a zip file" in capsys.readouterr().err


def test_an_empty_file_is_a_zip_cut_short(tmp_path: Path) -> None:
    z = tmp_path / "empty.zip"
    z.write_bytes(b"")
    report, names = check(z, tmp_path)
    assert [f.code for f in report.findings] == ["zip.truncated"] and names == []


def test_a_name_the_file_system_refuses_is_a_finding(tmp_path: Path) -> None:
    z = tmp_path / "long.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("x" * 300, b"too long a name")
        zf.writestr("ok", b"fine")
    report, names = check(z, tmp_path)
    assert [(f.code, f.where) for f in report.findings] == [("zip.unsafe", "x" * 300)]
    assert names == ["ok"] and (tmp_path / "out" / "ok").read_bytes() == b"fine"
