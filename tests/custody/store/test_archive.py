from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from custody.errors import ArchiveDamaged, Cancelled, StoreError
from custody.store.archive import (
    BLOCK,
    CHUNK,
    EMPTY_DIGESTS,
    Digests,
    HashPipeline,
    Member,
    MemberMeta,
    RingHasher,
    RunArchive,
    SourceShrank,
    build_header,
    read_members,
)
from tests.custody.conftest import gnu_tar, open_tar, sha256sum

NS = 1_700_000_000_123_456_789
META = MemberMeta(
    mtime_ns=NS,
    atime_ns=NS - 86_400_000_000_000,
    ctime_ns=NS + 1,
    mode=0o640,
    uid=1234,
    gid=5678,
    uname="alice",
    gname="staff",
)


def reader(data: bytes) -> Callable[[memoryview], int]:
    return io.BytesIO(data).readinto


def pattern(size: int) -> bytes:
    block = hashlib.sha256(str(size).encode()).digest() * 2048
    return (block * (size // len(block) + 1))[:size]


# --------------------------------------------------------------------------- digests

SIZES = [0, 1, 511, 512, 513, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17]


@pytest.mark.parametrize("size", SIZES)
def test_stream_digests_match_hashlib_and_sha256sum(
    size: int, new_archive: Callable[..., RunArchive], make_file: Callable[..., bytes]
) -> None:
    data = pattern(size)
    src = make_file(f"f{size}", data)
    archive = new_archive()
    with open(src, "rb", buffering=0) as f:
        member = archive.add_stream("files/f", size, f.readinto, META)
    assert member.digests == Digests(
        hashlib.sha256(data).hexdigest(),
        hashlib.sha1(data).hexdigest(),
        hashlib.md5(data).hexdigest(),
    )
    assert member.digests.sha256 == sha256sum(src)
    assert str(member.digests) == f"sha256:{hashlib.sha256(data).hexdigest()}"
    assert member.size == size
    assert member.end == member.data_offset + -(-size // BLOCK) * BLOCK
    archive.close()
    with archive.path.open("rb") as f:
        f.seek(member.data_offset)
        assert f.read(size) == data


def test_add_bytes_digests_and_offsets(new_archive: Callable[..., RunArchive]) -> None:
    archive = new_archive()
    a = archive.add_bytes("volatile/a.jsonl", b"{}\n", mtime_ns=NS)
    b = archive.add_bytes("volatile/b.jsonl", b"", mtime_ns=NS)
    assert a.header_offset == 0
    assert b.header_offset == a.end
    assert b.digests == EMPTY_DIGESTS
    assert a.digests.sha256 == hashlib.sha256(b"{}\n").hexdigest()
    assert archive.offset == b.end
    size = archive.close()
    assert size == b.end + 2 * BLOCK
    assert archive.path.stat().st_size == size
    assert archive.path.stat().st_mode & 0o777 == 0o444
    found = [(info.name, h, d) for info, h, d in read_members(archive.path)]
    assert found == [
        ("volatile/a.jsonl", 0, a.data_offset),
        ("volatile/b.jsonl", b.header_offset, b.data_offset),
    ]


def test_pipeline_survives_a_failing_sink_and_runs_again() -> None:
    pipeline = HashPipeline(chunk=4096, buffers=3)
    data = pattern(100_000)

    def bad_sink(_chunk: memoryview) -> None:
        raise OSError(5, "boom")

    with pytest.raises(OSError, match="boom"):
        pipeline.run(reader(data), len(data), bad_sink)
    assert pipeline.run(reader(data), len(data)).sha256 == hashlib.sha256(data).hexdigest()
    pipeline.close()


@pytest.mark.parametrize("helper", [True, False])
def test_ring_hasher_matches_hashlib(helper: bool) -> None:
    ring = RingHasher(1 << 20, helper=helper)
    try:
        blobs = [pattern(n) for n in range(0, 40_000, 1_000)]
        ranges = []
        pos = 0
        for blob in blobs:
            ring.view[pos : pos + len(blob)] = blob
            ranges.append((pos, len(blob)))
            pos += len(blob)
        ring.submit(ranges)
        ring.submit(ranges[:3])
        first, second = ring.collect(), ring.collect()
        assert [d.md5 for d in first] == [hashlib.md5(b).hexdigest() for b in blobs]
        assert [d.sha1 for d in second] == [hashlib.sha1(b).hexdigest() for b in blobs[:3]]
    finally:
        ring.close()


def test_ring_hasher_falls_back_when_its_helper_dies() -> None:
    ring = RingHasher(1 << 20)
    try:
        blobs = [pattern(n) for n in range(1000, 33_000, 1000)]
        ranges = []
        pos = 0
        for blob in blobs:
            ring.view[pos : pos + len(blob)] = blob
            ranges.append((pos, len(blob)))
            pos += len(blob)
        ring.submit(ranges)
        assert ring._proc is not None, "a helper process should hash a batch this large"
        ring.collect()
        ring._proc.kill()
        ring._proc.wait()
        ring.submit(ranges)
        assert [d.sha256 for d in ring.collect()] == [hashlib.sha256(b).hexdigest() for b in blobs]
    finally:
        ring.close()


# --------------------------------------------------------------------------- tar format


def test_headers_read_by_python_tarfile() -> None:
    header = build_header("files/x", 3, META)
    assert len(header) % BLOCK == 0
    blob = header + b"abc" + b"\0" * 509 + b"\0" * 1024
    with tarfile.open(fileobj=io.BytesIO(blob)) as tf:
        info = tf.next()
        assert info is not None
        assert (info.name, info.size, info.mode, info.uid, info.gid) == (
            "files/x",
            3,
            0o640,
            1234,
            5678,
        )
        assert (info.uname, info.gname) == ("alice", "staff")
        assert info.pax_headers["mtime"] == "1700000000.123456789"
        assert info.pax_headers["atime"] == "1699913600.123456789"
        assert info.pax_headers["ctime"] == "1700000000.123456790"


NAMES = [
    os.fsdecode(b"files/non-utf8-\xff\xfe.bin"),
    "files/with\nnewline",
    "files/back\\slash",
    "files/with spaces and \u00e9t\u00e9",
    "files/" + "/".join(["d" * 49] * 4),  # 200+ bytes: longer than ustar's 100-byte name
]


def test_exact_names_times_and_owners_survive_gnu_tar(
    new_archive: Callable[..., RunArchive], tmp_path: Path
) -> None:
    archive = new_archive()
    members = [
        archive.add_member(name, name.encode("utf-8", "surrogateescape"), META) for name in NAMES
    ]
    archive.close()

    listing = gnu_tar("--full-time", "-tvf", archive.path).stdout
    assert b"alice/staff" in listing
    assert b"2023-11-14 22:13:20.123456789" in listing

    out = tmp_path / "out"
    out.mkdir()
    gnu_tar("--numeric-owner", "-xf", archive.path, cwd=out)
    for name, member in zip(NAMES, members, strict=True):
        path = os.path.join(os.fsencode(out), os.fsencode(name))
        with open(path, "rb") as f:
            assert f.read() == os.fsencode(name)
        st = os.stat(path)
        assert st.st_mtime_ns == NS
        assert st.st_mode & 0o7777 == 0o640
        if os.geteuid() == 0:
            assert (st.st_uid, st.st_gid) == (1234, 5678)
        assert sha256sum(path) == member.digests.sha256

    with open_tar(archive.path) as tf:
        assert tf.getnames() == NAMES
        info = tf.getmember(NAMES[0])
        assert info.pax_headers["mtime"] == "1700000000.123456789"
        assert os.fsencode(info.name) == b"files/non-utf8-\xff\xfe.bin"


def test_symlink_member(new_archive: Callable[..., RunArchive], tmp_path: Path) -> None:
    archive = new_archive()
    member = archive.add_symlink("files/link", "../some/target", META)
    assert member.size == 0
    assert member.digests == EMPTY_DIGESTS
    archive.close()
    with open_tar(archive.path) as tf:
        info = tf.getmember("files/link")
        assert info.issym() and info.linkname == "../some/target"
    out = tmp_path / "out"
    out.mkdir()
    gnu_tar("-xf", archive.path, cwd=out)
    assert os.readlink(out / "files/link") == "../some/target"


def test_xattrs_written_as_schily_records(
    new_archive: Callable[..., RunArchive], tmp_path: Path
) -> None:
    archive = new_archive()
    meta = MemberMeta(
        mtime_ns=NS, mode=0o644, xattrs={"user.origin": b"\x00bin\xffary", "user.note": b"hi"}
    )
    archive.add_member("files/x", b"data", meta)
    archive.close()
    with open_tar(archive.path) as tf:
        info = tf.getmember("files/x")
        assert info.pax_headers["SCHILY.xattr.user.note"] == "hi"
        assert os.fsencode(info.pax_headers["SCHILY.xattr.user.origin"]) == b"\x00bin\xffary"
    out = tmp_path / "out"
    out.mkdir()
    gnu_tar("--xattrs", "--xattrs-include=user.*", "-xf", archive.path, cwd=out)
    try:
        assert os.getxattr(out / "files/x", "user.note") == b"hi"
        assert os.getxattr(out / "files/x", "user.origin") == b"\x00bin\xffary"
    except OSError as exc:  # the file system of the test directory has no user xattrs
        pytest.skip(f"cannot read back xattrs here: {exc}")


def test_unstorable_xattr_name_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be stored"):
        build_header("files/x", 0, MemberMeta(mtime_ns=0, xattrs={"user.a=b": b""}))


def test_large_numbers_go_to_pax() -> None:
    meta = MemberMeta(mtime_ns=-1_500_000_000, uid=2**31, gid=2**32 - 2, uname="u" * 40)
    blob = build_header("files/x", 0, meta)
    with tarfile.open(fileobj=io.BytesIO(blob + b"\0" * 1024)) as tf:
        info = tf.next()
        assert info is not None
        assert (info.uid, info.gid, info.uname) == (2**31, 2**32 - 2, "u" * 40)
        assert info.pax_headers["mtime"] == "-1.500000000"


# --------------------------------------------------------------------------- lifecycle


def test_new_archive_refuses_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "run.tar"
    path.write_bytes(b"")
    with pytest.raises(StoreError, match="already exists"):
        RunArchive(path)


def test_archive_never_closed_is_readable(
    new_archive: Callable[..., RunArchive], tmp_path: Path
) -> None:
    archive = new_archive()
    a = archive.add_bytes("volatile/a", b"a" * 700, mtime_ns=NS)
    archive.add_bytes("volatile/b", b"b", mtime_ns=NS)
    archive.flush()  # a crash now: no end-of-archive marker
    assert archive.path.stat().st_size == archive.offset
    assert gnu_tar("-tf", archive.path).stdout.split() == [b"volatile/a", b"volatile/b"]
    out = tmp_path / "out"
    out.mkdir()
    gnu_tar("-xf", archive.path, cwd=out)
    assert (out / "volatile/a").read_bytes() == b"a" * 700
    assert [i.name for i, _, _ in read_members(archive.path)] == ["volatile/a", "volatile/b"]
    assert a.data_offset == next(iter(read_members(archive.path)))[2]


def test_resume_cuts_a_torn_member(new_archive: Callable[..., RunArchive], tmp_path: Path) -> None:
    archive = new_archive()
    kept = archive.add_bytes("volatile/kept", b"k" * 1000, mtime_ns=NS)
    archive.add_bytes("volatile/torn", b"t" * 5000, mtime_ns=NS)
    archive.flush()
    archive.abandon()
    path = archive.path
    with path.open("r+b") as f:  # the crash tore the last member
        f.truncate(kept.end + 2500)
    with pytest.raises(ArchiveDamaged, match=r"volatile/torn.* torn"):
        list(read_members(path))

    resumed = RunArchive(path, resume_at=kept.end)
    assert resumed.offset == kept.end
    assert path.stat().st_size == kept.end
    again = resumed.add_bytes("volatile/after", b"a", mtime_ns=NS)
    assert again.header_offset == kept.end
    resumed.close()
    assert gnu_tar("-tf", path).stdout.split() == [b"volatile/kept", b"volatile/after"]
    assert [i.name for i, _, _ in read_members(path)] == ["volatile/kept", "volatile/after"]


def test_resume_refuses_bad_offsets(new_archive: Callable[..., RunArchive]) -> None:
    archive = new_archive()
    archive.add_bytes("volatile/a", b"a", mtime_ns=NS)
    archive.flush()
    archive.abandon()
    with pytest.raises(StoreError, match="not a member boundary"):
        RunArchive(archive.path, resume_at=100)
    with pytest.raises(StoreError, match="only"):
        RunArchive(archive.path, resume_at=1 << 20)
    with pytest.raises(StoreError, match="cannot resume"):
        RunArchive(archive.path.with_name("missing.tar"), resume_at=0)


def test_read_members_reports_garbage_after_members(new_archive: Callable[..., RunArchive]) -> None:
    archive = new_archive()
    archive.add_bytes("volatile/a", b"a", mtime_ns=NS)
    archive.flush()
    archive.abandon()
    with archive.path.open("ab") as f:
        f.write(b"garbage" * 10)
    with pytest.raises(ArchiveDamaged, match="torn member at offset"):
        list(read_members(archive.path))


def test_shrinking_source_is_cut_off(new_archive: Callable[..., RunArchive]) -> None:
    archive = new_archive()
    first = archive.add_bytes("volatile/first", b"1", mtime_ns=NS)
    for size in (1000, 3 * CHUNK):
        with pytest.raises(SourceShrank) as info:
            archive.add_stream("files/short", size, reader(pattern(size - 10)), META)
        assert info.value.got == size - 10
        assert archive.offset == first.end
    archive.close()
    assert [i.name for i, _, _ in read_members(archive.path)] == ["volatile/first"]


def test_cancel_between_chunks_cuts_the_member(new_archive: Callable[..., RunArchive]) -> None:
    archive = new_archive()
    first = archive.add_bytes("volatile/first", b"1", mtime_ns=NS)
    cancel = threading.Event()
    source = io.BytesIO(pattern(8 * CHUNK))
    calls = 0

    def readinto(buf: memoryview) -> int:
        nonlocal calls
        calls += 1
        if calls == 3:
            cancel.set()
        return source.readinto(buf)

    with pytest.raises(Cancelled):
        archive.add_stream("files/big", 8 * CHUNK, readinto, META, cancel=cancel)
    assert archive.offset == first.end
    assert archive.path.stat().st_size <= first.end
    second = archive.add_bytes("volatile/second", b"2", mtime_ns=NS)
    archive.close()
    assert [(i.name, h) for i, h, _ in read_members(archive.path)] == [
        ("volatile/first", 0),
        ("volatile/second", second.header_offset),
    ]


def test_source_read_error_cuts_the_member(new_archive: Callable[..., RunArchive]) -> None:
    archive = new_archive()
    source = io.BytesIO(pattern(4 * CHUNK))

    def readinto(buf: memoryview) -> int:
        if source.tell() >= 2 * CHUNK:
            raise OSError(5, "Input/output error")
        return source.readinto(buf)

    with pytest.raises(OSError, match="Input/output"):
        archive.add_stream("files/bad", 4 * CHUNK, readinto, META)
    assert archive.offset == 0
    assert archive.path.stat().st_size == 0


def test_append_region_needs_whole_members(new_archive: Callable[..., RunArchive]) -> None:
    archive = new_archive()
    with pytest.raises(ValueError, match="whole members"):
        archive.append_region(memoryview(bytes(1000)), [1000])


# --------------------------------------------------------------------------- full disk


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 20 MiB tmpfs: the evidence disk that fills up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mount)], capture_output=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _check_intact(path: Path, members: list[Member]) -> None:
    assert path.stat().st_size == members[-1].end
    listing = gnu_tar("-tf", path).stdout.decode().split()
    assert listing == [m.name for m in members]
    with path.open("rb") as f:
        for m in members:
            f.seek(m.data_offset)
            assert hashlib.sha256(f.read(m.size)).hexdigest() == m.digests.sha256


def test_disk_full_while_streaming_keeps_complete_members(
    small_disk: Path, make_file: Callable[..., bytes]
) -> None:
    archive = RunArchive(small_disk / "run.tar")
    kept = [archive.add_bytes(f"volatile/{i}", pattern(3000 + i), mtime_ns=NS) for i in range(5)]
    src = make_file("big", pattern(30 << 20))
    with open(src, "rb", buffering=0) as f, pytest.raises(StoreError) as info:
        archive.add_stream("files/big", 30 << 20, f.readinto, META)
    message = str(info.value)
    assert message.startswith(f"evidence disk full: {small_disk / 'run.tar'} (wrote ")
    assert "cut back" in message
    assert archive.offset == kept[-1].end
    _check_intact(archive.path, kept)
    # The run can still end cleanly: the end-of-archive marker fits again.
    archive.add_bytes("volatile/after", b"x", mtime_ns=NS)
    archive.close()
    assert gnu_tar("-tf", archive.path).stdout.decode().split()[-1] == "volatile/after"


def test_disk_full_with_buffered_members_keeps_the_complete_ones(small_disk: Path) -> None:
    archive = RunArchive(small_disk / "run.tar")
    members: list[Member] = []
    with pytest.raises(StoreError, match="evidence disk full"):
        for i in range(100_000):
            members.append(archive.add_bytes(f"volatile/{i}", pattern(50_000), mtime_ns=NS))
    complete = [m for m in members if m.end <= archive.offset]
    assert len(complete) > 100
    assert complete[-1].end == archive.offset
    _check_intact(archive.path, complete)
    archive.abandon()


def test_drop_leaves_the_file_as_another_process_left_it(tmp_path: Path) -> None:
    """A run that lost its lease stops at once: nothing buffered reaches the archive."""
    path = tmp_path / "run.tar"
    archive = RunArchive(path)
    archive.add_bytes("volatile/a.json", b"{}", mtime_ns=NS)
    archive.flush()
    on_disk = path.read_bytes()
    archive.add_bytes("volatile/b.json", b"[]", mtime_ns=NS)  # still in the buffer
    archive.drop()
    assert archive.closed and path.read_bytes() == on_disk
    archive.drop()  # again: nothing
    with pytest.raises(StoreError, match="already closed"):
        archive.add_bytes("volatile/c.json", b"", mtime_ns=NS)


def test_sync_in_background_writes_the_members_before_it_returns(
    new_archive: Callable[..., RunArchive],
) -> None:
    """The buffered members are in the file when the sync starts (only the wait for the
    disk runs on the thread); after the wait the archive goes on and closes as usual."""
    archive = new_archive()
    archive.add_bytes("volatile/a", b"a" * 700, mtime_ns=NS)
    wait = archive.sync_in_background()
    assert archive.path.stat().st_size == archive.offset
    assert gnu_tar("-tf", archive.path).stdout.split() == [b"volatile/a"]
    wait()
    wait()  # waiting again is harmless
    archive.add_bytes("volatile/b", b"b", mtime_ns=NS)
    archive.close()
    assert sha256sum(archive.path) == archive.sha256
    assert [i.name for i, _, _ in read_members(archive.path)] == ["volatile/a", "volatile/b"]
