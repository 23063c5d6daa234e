"""Every byte of a run archive is bound by the record: real archives, tampered for real."""

from __future__ import annotations

import base64
import dataclasses
import io
import os
import random
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from custody.observations import CommandRecord, FileTarget
from custody.record.times import ns_text
from custody.store.archive import Member, RunArchive
from custody.store.capture import (
    SMALL_LIMIT,
    Captured,
    CommandCaptured,
    capture_command,
    capture_files,
)
from custody.store.storage import LocalEvidenceStore
from custody.store.tarheader import BLOCK, REGTYPE, SYMTYPE, padded, parse_header
from custody.verify.archives import ArchiveSeal, HeaderFacts, RecordedMember, check_archive
from custody.verify.findings import Finding, Report

NS = 1_700_000_000_123_456_789
WHERE = "archive evidence/run.tar"


# --------------------------------------------------------------------------- building


def _recorded(seq: int, m: Member, facts: HeaderFacts | None) -> RecordedMember:
    return RecordedMember(
        seq=seq,
        name=m.name.encode("utf-8", "surrogateescape"),
        header_offset=m.header_offset,
        data_offset=m.data_offset,
        size=m.size,
        sha256=m.digests.sha256,
        sha1=m.digests.sha1,
        md5=m.digests.md5,
        header_sha256=m.header_sha256,
        header=facts,
    )


def _file_facts(c: Captured) -> HeaderFacts:
    meta = c.meta
    return HeaderFacts(
        typeflag=SYMTYPE if meta.kind == "symlink" else REGTYPE,
        mode=meta.mode,
        uid=meta.uid,
        gid=meta.gid,
        uname=meta.uname.encode("utf-8", "surrogateescape"),
        gname=meta.gname.encode("utf-8", "surrogateescape"),
        mtime=meta.times["mtime"],
        atime=meta.times["atime"],
        ctime=meta.times["ctime"],
        linkname=meta.symlink_target or b"",
        xattrs={k: base64.b64decode(v) for k, v in meta.xattrs.items()},
    )


@dataclass
class Built:
    path: Path
    members: list[RecordedMember]
    seal: ArchiveSeal

    def member(self, suffix: str) -> RecordedMember:
        [m] = [m for m in self.members if m.name.endswith(suffix.encode())]
        return m

    def raw(self) -> bytes:
        return self.path.read_bytes()

    def write(self, data: bytes) -> None:
        self.path.chmod(0o644)
        self.path.write_bytes(data)

    def patch(self, offset: int, data: bytes) -> None:
        raw = bytearray(self.raw())
        raw[offset : offset + len(data)] = data
        self.write(bytes(raw))


@pytest.fixture
def built(tmp_path: Path) -> Built:
    return build(tmp_path)


def build(tmp_path: Path) -> Built:
    """An archive made by the store: a volatile record, small files (one with an extended
    attribute), a streamed large file, a symlink and a command's output."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"alpha\n" * 10)
    (src / "b.txt").write_bytes(os.urandom(3000))
    (src / "x.bin").write_bytes(b"extended")
    try:
        os.setxattr(src / "x.bin", "user.origin", b"camera-7")
    except OSError as exc:
        pytest.skip(f"no user extended attributes here: {exc}")
    (src / "big.bin").write_bytes(os.urandom(SMALL_LIMIT + 1000))
    (src / "link").symlink_to("a.txt")
    (tmp_path / "evidence").mkdir()
    archive = RunArchive(tmp_path / "evidence" / "run.tar")
    volatile = archive.add_bytes("volatile/system.json", b'{"host": "h"}\n', mtime_ns=NS)
    members = [
        _recorded(
            1,
            volatile,
            HeaderFacts(REGTYPE, 0o444, 0, 0, b"", b"", ns_text(NS), xattrs={}),
        )
    ]
    targets = [
        FileTarget(os.fsencode(src / n), "t")
        for n in ("a.txt", "b.txt", "x.bin", "big.bin", "link")
    ]
    for c in capture_files(archive, targets, cancel=threading.Event()):
        assert isinstance(c, Captured), c
        members.append(_recorded(len(members) + 1, c.member, _file_facts(c)))
    cmd = capture_command(
        archive,
        CommandRecord(
            member="volatile/uname.out", argv=("echo", "hi"), description="t", timeout_s=30
        ),
        tmp_path / "spool",
        threading.Event(),
    )
    assert isinstance(cmd, CommandCaptured) and cmd.meta is not None
    meta = cmd.meta
    facts = HeaderFacts(
        REGTYPE, meta.mode, meta.uid, meta.gid, b"", b"", ns_text(meta.mtime_ns), xattrs={}
    )
    members.append(_recorded(len(members) + 1, cmd.member, facts))
    archive.close()
    assert archive.sealed is not None
    seal = ArchiveSeal(archive.sealed.size, archive.sealed.sha256)
    return Built(archive.path, sorted(members, key=lambda m: m.header_offset), seal)


def check(
    b: Built, members: list[RecordedMember] | None = None, seal: ArchiveSeal | None = None
) -> Report:
    report = Report("test")
    check_archive(
        LocalEvidenceStore(b.path.parent),
        b.path.name,
        iter(b.members if members is None else members),
        report,
        where=WHERE,
        run_id="run-1",
        seal=b.seal if seal is None else seal,
    )
    return report


def codes(report: Report) -> set[str]:
    return {f.code for f in report.findings}


def found(
    report: Report, code: str, member: RecordedMember | None = None, text: str = ""
) -> Finding:
    """The finding with ``code`` about ``member`` (or the archive) whose message has ``text``."""
    for f in report.findings:
        if f.code != code or text not in f.message:
            continue
        if member is None and f.where == WHERE and f.run_id == "run-1":
            return f
        if member is not None and f.seq == member.seq and member.label in f.where:
            return f
    raise AssertionError(f"no {code} {text!r} for {member}: {[str(x) for x in report.findings]}")


def ustar_of(m: RecordedMember) -> int:
    return m.data_offset - BLOCK


def set_ustar(b: Built, m: RecordedMember, at: int, value: bytes, *, checksum: bool = True) -> None:
    """Overwrite a field of ``m``'s ustar header; recompute the checksum as an adversary would."""
    raw = bytearray(b.raw())
    base = ustar_of(m)
    raw[base + at : base + at + len(value)] = value
    if checksum:
        block = raw[base : base + BLOCK]
        block[148:156] = b" " * 8
        raw[base + 148 : base + 156] = b"%06o\0 " % sum(block)
    b.write(bytes(raw))


def header_tampered(report: Report, m: RecordedMember, *fields: str) -> None:
    for field in fields:
        found(report, "archive.header", m, f"header field {field} ")
    found(report, "archive.header_digest", m)
    # named at its place: the whole archive's digest is not repeated for the run
    assert "archive.sha256" not in codes(report)


# --------------------------------------------------------------------------- clean


def test_clean_archive_has_no_finding(built: Built) -> None:
    report = check(built)
    assert report.findings == []
    assert report.artifacts == len(built.members) == 7
    assert report.bytes_hashed == sum(m.size for m in built.members)


def test_whole_archive_digest_is_checked(built: Built) -> None:
    """Every byte is bound member by member; the whole-archive SHA-256 the run recorded is
    checked as well, and reported for the run when nothing else explains a difference."""
    report = check(built, seal=ArchiveSeal(built.seal.size, "0" * 64))
    (finding,) = report.findings
    assert finding.code == "archive.sha256" and finding.run_id == "run-1"
    assert built.seal.sha256 is not None and built.seal.sha256 in finding.message


def test_format_1_record_clean(built: Built) -> None:
    assert (
        check(built, [_format1(m) for m in built.members], ArchiveSeal(built.seal.size)).findings
        == []
    )


# --------------------------------------------------------------------------- ustar fields

USTAR_EDITS = [
    ("mode", 100, b"0004755\0", "a.txt"),
    ("uid", 108, b"0001750\0", "a.txt"),
    ("gid", 116, b"0001750\0", "a.txt"),
    ("uname", 265, b"mallory".ljust(32, b"\0"), "a.txt"),
    ("gname", 297, b"wheel".ljust(32, b"\0"), "b.txt"),
    ("mtime", 136, b"%011o\0" % 12345, "b.txt"),
    ("size", 124, b"%011o\0" % 61, "a.txt"),
    ("typeflag", 156, b"5", "a.txt"),
    ("linkname", 157, b"/etc/shadow", "link"),
    ("magic", 257, b"ustar ", "x.bin"),
    ("version", 263, b" \0", "x.bin"),
    ("devmajor", 329, b"0000010\0", "big.bin"),
    ("devminor", 337, b"0000003\0", "uname.out"),
]


@pytest.mark.parametrize(
    ("field", "at", "value", "suffix"), USTAR_EDITS, ids=[e[0] for e in USTAR_EDITS]
)
def test_ustar_field_edited(built: Built, field: str, at: int, value: bytes, suffix: str) -> None:
    m = built.member(suffix)
    set_ustar(built, m, at, value)
    report = check(built)
    header_tampered(report, m, f"ustar {field}", "ustar chksum")
    assert codes(report) == {"archive.header", "archive.header_digest"}
    assert {f.seq for f in report.findings if f.seq is not None} == {m.seq}
    # the same edit against a format 1 record (no header digest, no owner names)
    report = check(built, [_format1(x) for x in built.members], ArchiveSeal(built.seal.size))
    if field in ("uname", "gname"):
        assert report.findings == []  # not recorded in format 1: the one field left unbound
    else:
        found(report, "archive.header", m, f"header field ustar {field} ")


def test_mode_0644_to_setuid_names_both_values(built: Built) -> None:
    m = built.member("a.txt")
    set_ustar(built, m, 100, b"0004755\0")
    message = found(check(built), "archive.header", m, "ustar mode").message
    assert "found 0004755, expected 0000644" in message


def test_checksum_only(built: Built) -> None:
    m = built.member("b.txt")
    set_ustar(built, m, 148, b"000001\0 ", checksum=False)
    report = check(built)
    header_tampered(report, m, "ustar chksum")
    assert not [
        f for f in report.findings if f.code == "archive.header" and "chksum" not in f.message
    ]


# --------------------------------------------------------------------------- pax records


def _pax_record(b: Built, m: RecordedMember, key: bytes) -> tuple[int, int]:
    """File range of the value of ``m``'s pax record ``key``."""
    raw = b.raw()
    header = parse_header(raw[m.header_offset : m.data_offset])
    [rec] = [r for r in header.records if r.key == key]
    end = m.header_offset + rec.end - 1
    return end - len(rec.value), end


@pytest.mark.parametrize("key", ["path", "mtime", "atime", "ctime", "SCHILY.xattr.user.origin"])
def test_pax_record_edited(built: Built, key: str) -> None:
    m = built.member("x.bin")
    start, end = _pax_record(built, m, key.encode())
    value = bytearray(built.raw()[start:end])
    value[-1] = ord("7") if value[-1] != ord("7") else ord("8")
    built.patch(start, bytes(value))
    report = check(built)
    header_tampered(report, m, f"pax {key}")
    assert not codes(report) & {"artifact.sha256", "archive.missing_member"}


def test_pax_record_added(built: Built) -> None:
    m = built.member("a.txt")
    raw = bytearray(built.raw())
    header = parse_header(bytes(raw[m.header_offset : m.data_offset]))
    at = m.header_offset + header.records[-1].end
    record = b"14 comment=hi\n"
    raw[at : at + len(record)] = record
    xsize = header.records[-1].end - BLOCK + len(record)
    block = raw[m.header_offset : m.header_offset + BLOCK]
    block[124:136] = b"%011o\0" % xsize
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    raw[m.header_offset : m.header_offset + BLOCK] = block
    built.write(bytes(raw))
    report = check(built)
    header_tampered(report, m, "pax comment", "pax header size")


def test_text_in_pax_padding(built: Built) -> None:
    m = built.member("b.txt")
    header = parse_header(built.raw()[m.header_offset : m.data_offset])
    built.patch(m.header_offset + header.records[-1].end + 7, b"hidden note")
    report = check(built)
    header_tampered(report, m, "pax padding")
    found(check(built, [_format1(x) for x in built.members]), "archive.header", m, "pax padding")


# --------------------------------------------------------------------------- data, padding


def test_text_in_data_padding(built: Built) -> None:
    m = built.member("a.txt")
    built.patch(m.data_offset + m.size + 3, b"secret")
    report = check(built)
    assert (
        "'secret'"
        in found(report, "archive.padding", m, f"offset {m.data_offset + m.size + 3}").message
    )
    assert codes(report) == {"archive.padding"}


def test_flipped_data_byte(built: Built) -> None:
    m = built.member("big.bin")
    raw = bytearray(built.raw())
    raw[m.data_offset + 200_000] ^= 1
    built.write(bytes(raw))
    report = check(built)
    found(report, "artifact.sha256", m, "altered")
    assert codes(report) == {"artifact.sha256"}


# --------------------------------------------------------------------------- structure


def test_bytes_inserted_between_members(built: Built) -> None:
    a, b = built.member("a.txt"), built.member("b.txt")
    raw = built.raw()
    built.write(raw[: b.header_offset] + b"INSERTED!" * 50 + raw[b.header_offset :])
    report = check(built)
    gap = found(report, "archive.gap", None, f"450 bytes at offset {b.header_offset}")
    assert a.label in gap.message and b.label in gap.message
    found(report, "archive.size")
    # the members after it are found where they now are: their evidence is intact
    assert codes(report) == {"archive.gap", "archive.size"}


def test_member_added_before_the_end(built: Built) -> None:
    raw = built.raw()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("files/planted/evidence.txt")
        info.size = 8
        tf.addfile(info, io.BytesIO(b"planted\n"))
    planted = buf.getvalue().rstrip(b"\0")
    planted += b"\0" * (-len(planted) % BLOCK)
    built.write(raw[:-1024] + planted + raw[-1024:])
    report = check(built)
    found(report, "archive.added_member", None, "files/planted/evidence.txt")
    found(report, "archive.gap", None, "after the last member")
    assert codes(report) == {
        "archive.added_member",
        "archive.gap",
        "archive.size",
    }


def test_end_of_archive_block_damaged(built: Built) -> None:
    size = built.seal.size
    built.patch(size - 700, b"x")
    report = check(built)
    found(report, "archive.end", None, f"offset {size - 700}")
    assert codes(report) == {"archive.end"}


def test_bytes_after_the_end(built: Built) -> None:
    built.write(built.raw() + b"trailing bytes")
    report = check(built)
    found(report, "archive.end", None, "14 bytes follow the end-of-archive marker")
    assert codes(report) == {"archive.end", "archive.size"}


def test_truncated_archive(built: Built) -> None:
    m = built.member("big.bin")
    built.write(built.raw()[: m.data_offset + 100])
    report = check(built)
    found(report, "artifact.truncated", m)
    for later in built.members[built.members.index(m) + 1 :]:
        found(report, "artifact.truncated", later, "the archive was cut")
    found(report, "archive.end", None, "no end-of-archive marker")
    found(report, "archive.size")


def test_members_swapped(built: Built) -> None:
    a, b = built.member("a.txt"), built.member("b.txt")
    raw = built.raw()
    a_end = a.data_offset + padded(a.size)
    b_end = b.data_offset + padded(b.size)
    assert a_end == b.header_offset
    built.write(
        raw[: a.header_offset]
        + raw[b.header_offset : b_end]
        + raw[a.header_offset : a_end]
        + raw[b_end:]
    )
    report = check(built)
    found(report, "archive.missing_member", a)
    moved = found(report, "archive.added_member", None, a.label)
    assert f"the ledger records it at offset {a.header_offset}" in moved.message
    assert not codes(report) & {"artifact.sha256", "artifact.truncated", "archive.sha256"}


def test_member_removed(built: Built) -> None:
    m = built.member("b.txt")
    raw = built.raw()
    built.write(raw[: m.header_offset] + raw[m.data_offset + padded(m.size) :])
    report = check(built)
    found(report, "archive.missing_member", m, "removed")
    assert codes(report) == {"archive.missing_member", "archive.size"}


def test_missing_archive(built: Built) -> None:
    built.path.chmod(0o644)
    built.path.unlink()
    report = check(built)
    assert codes(report) == {"archive.missing"}


@pytest.mark.parametrize("fmt", [2, 1])
def test_every_single_byte_flip_is_named(built: Built, fmt: int) -> None:
    """300 random single-byte flips: each is reported at its place (a member and field,
    padding, a gap or the end marker), not only by the whole archive's digest."""
    rng = random.Random(300 + fmt)
    raw = built.raw()
    members = built.members if fmt == 2 else [_format1(m) for m in built.members]
    seal = built.seal if fmt == 2 else ArchiveSeal(built.seal.size)
    for _ in range(300):
        at = rng.randrange(len(raw))
        data = bytearray(raw)
        data[at] ^= 1 << rng.randrange(8)
        built.write(bytes(data))
        report = check(built, members, seal)
        local = codes(report) - {"archive.sha256", "archive.size"}
        assert local, f"flip at {at} only caught globally: {codes(report)}"


def test_garbage_headers_do_not_raise(built: Built) -> None:
    rng = random.Random(7)
    raw = built.raw()
    for _ in range(150):
        data = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        built.write(bytes(data))
        report = check(built)
        assert report.findings or bytes(data) == raw


# --------------------------------------------------------------------------- streaming


def test_members_are_streamed(built: Built) -> None:
    """The members are read as the pass goes (a generator; never all at once)."""
    consumed: list[int] = []

    def members() -> Iterator[RecordedMember]:
        for m in built.members:
            consumed.append(m.seq)
            yield m

    report = Report("t")
    check_archive(
        LocalEvidenceStore(built.path.parent),
        built.path.name,
        members(),
        report,
        where=WHERE,
        seal=built.seal,
    )
    assert report.findings == [] and len(consumed) == len(built.members)


def test_many_members_one_pass(tmp_path: Path) -> None:
    archive = RunArchive(tmp_path / "many.tar")
    made = [archive.add_bytes(f"volatile/{i}", b"%d\n" % i, mtime_ns=NS) for i in range(3000)]
    archive.close()
    assert archive.sealed is not None
    facts = HeaderFacts(REGTYPE, 0o444, 0, 0, b"", b"", ns_text(NS), xattrs={})
    report = Report("t")
    check_archive(
        LocalEvidenceStore(archive.path.parent),
        archive.path.name,
        (_recorded(i + 1, m, facts) for i, m in enumerate(made)),
        report,
        where=WHERE,
        seal=ArchiveSeal(archive.sealed.size, archive.sealed.sha256),
    )
    assert report.findings == [] and report.artifacts == 3000


# --------------------------------------------------------------------------- helpers


def _format1(m: RecordedMember) -> RecordedMember:
    """What a format 1 ledger records: no header digest, no owner names."""
    facts = m.header
    if facts is not None:
        facts = dataclasses.replace(facts, uname=None, gname=None)
    return dataclasses.replace(m, header_sha256=None, header=facts)


def test_archive_that_could_not_be_closed(tmp_path: Path) -> None:
    """A run that ended on a full disk has no end-of-archive marker; its seal says so."""
    archive = RunArchive(tmp_path / "run.tar")
    made = [archive.add_bytes(f"volatile/{i}", b"x" * i, mtime_ns=NS) for i in range(5)]
    archive.abandon()
    assert archive.sha256 is not None
    facts = HeaderFacts(REGTYPE, 0o444, 0, 0, b"", b"", ns_text(NS), xattrs={})
    members = [_recorded(i + 1, m, facts) for i, m in enumerate(made)]
    size = archive.path.stat().st_size
    report = Report("t")
    seal = ArchiveSeal(size, archive.sha256, end_marker=False)
    check_archive(
        LocalEvidenceStore(archive.path.parent),
        archive.path.name,
        members,
        report,
        where=WHERE,
        run_id="run-1",
        seal=seal,
    )
    assert report.findings == []
    report = Report("t")
    seal = ArchiveSeal(size, archive.sha256)
    check_archive(
        LocalEvidenceStore(archive.path.parent),
        archive.path.name,
        members,
        report,
        where=WHERE,
        run_id="run-1",
        seal=seal,
    )
    assert codes(report) == {"archive.end"}


def test_a_run_that_has_not_ended_is_not_called_tampered(built: Built) -> None:
    """A crashed or live run: members written but not yet recorded are its unrecorded tail,
    said in those words (recovery cuts them off), not 'added' members."""
    report = Report("test")
    recorded, unrecorded = built.members[:-2], built.members[-2]
    check_archive(
        LocalEvidenceStore(built.path.parent),
        built.path.name,
        iter(recorded),
        report,
        where=WHERE,
        run_id="run-1",
        seal=None,
    )
    (finding,) = report.findings
    assert finding.code == "archive.unended_tail" and finding.run_id == "run-1"
    assert f"from offset {unrecorded.header_offset}" in finding.message
    assert unrecorded.label in finding.message and "recovering it cuts them off" in finding.message


def test_small_member_data_and_each_digest(built: Built) -> None:
    """A small member's data and padding are read in one view: each digest is still named."""
    m = built.member("b.txt")
    built.patch(m.data_offset + 7, bytes([built.raw()[m.data_offset + 7] ^ 1]))
    found(check(built), "artifact.sha256", m, "the evidence bytes were altered")
    built.patch(m.data_offset + 7, bytes([built.raw()[m.data_offset + 7] ^ 1]))
    assert codes(check(built)) == set()
    md5_only = dataclasses.replace(m, md5="0" * 32)
    members = [md5_only if x is m else x for x in built.members]
    report = check(built, members)
    assert f"the ledger recorded {'0' * 32}" in found(report, "artifact.md5", md5_only).message
    assert codes(report) == {"artifact.md5"}


def test_archive_cut_in_a_small_members_padding(built: Built) -> None:
    """Cut after a small member's data, inside its padding: its data is whole, what follows
    is missing."""
    m = built.member("a.txt")
    built.write(built.raw()[: m.data_offset + m.size + 5])
    report = check(built)
    assert not [f for f in report.findings if f.seq == m.seq]
    for later in built.members[built.members.index(m) + 1 :]:
        found(report, "artifact.truncated", later)


def test_a_negative_recorded_size_is_a_truncated_member(built: Built) -> None:
    m = built.member("a.txt")
    bad = dataclasses.replace(m, size=-1)
    report = check(built, [bad if x is m else x for x in built.members])
    found(report, "artifact.truncated", bad, "recorded -1 bytes")
