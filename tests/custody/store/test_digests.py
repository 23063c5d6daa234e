"""The archive's own SHA-256 and each member's header SHA-256, on every writing path, and
after every way an archive is cut back or resumed."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import pwd
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from custody.errors import Cancelled, StoreError
from custody.observations import CommandRecord, FileTarget
from custody.store import archive as archive_module
from custody.store.archive import CHUNK, Member, MemberMeta, RunArchive, SourceShrank
from custody.store.capture import (
    SMALL_LIMIT,
    Captured,
    CommandCaptured,
    capture_command,
    capture_files,
)
from custody.store.hashing import HELPER, RingHasher
from custody.store.tarheader import parse_header

NS = 1_700_000_000_123_456_789
META = MemberMeta(mtime_ns=NS, atime_ns=NS, ctime_ns=NS, mode=0o640, uid=1, gid=2, uname="u")


def pattern(size: int, seed: int = 0) -> bytes:
    block = hashlib.sha256(b"%d-%d" % (size, seed)).digest() * 128
    return (block * (size // len(block) + 1))[:size]


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_headers(path: Path, members: list[Member]) -> None:
    raw = path.read_bytes()
    for m in members:
        header = raw[m.header_offset : m.data_offset]
        assert hashlib.sha256(header).hexdigest() == m.header_sha256, m.name
        assert parse_header(header).problems == ()


def tree(root: Path, count: int) -> list[FileTarget]:
    """``count`` small files, a larger one, a symlink and a pseudo-file, in order."""
    root.mkdir(parents=True, exist_ok=True)
    targets = []
    for i in range(count):
        p = root / f"f{i:04d}"
        p.write_bytes(pattern(100 + 37 * i, i))
        targets.append(FileTarget(os.fsencode(p), "t"))
    big = root / "big"
    big.write_bytes(pattern(SMALL_LIMIT + 5000))
    (root / "link").symlink_to("f0000")
    targets += [
        FileTarget(os.fsencode(big), "t"),
        FileTarget(os.fsencode(root / "link"), "t"),
        FileTarget(b"/proc/self/stat", "t"),
    ]
    return targets


def capture(archive: RunArchive, targets: list[FileTarget]) -> list[Captured]:
    out = []
    for r in capture_files(archive, targets, cancel=threading.Event()):
        assert isinstance(r, Captured), r
        out.append(r)
    return out


# --------------------------------------------------------------------------- every path


def test_every_writing_path_sets_both_digests(tmp_path: Path) -> None:
    archive = RunArchive(tmp_path / "run.tar")
    members = [
        archive.add_bytes("volatile/a.json", b"{}", mtime_ns=NS),
        archive.add_member("volatile/big", pattern(3 << 20), META),  # written unbuffered
        archive.add_symlink("files/link", "target", META),
        archive.add_stream("files/small", 5000, io.BytesIO(pattern(5000)).readinto, META),
        archive.add_stream(
            "files/large", 3 * CHUNK + 1, io.BytesIO(pattern(3 * CHUNK + 1)).readinto, META
        ),
    ]
    results = capture(archive, tree(tmp_path / "src", 40))
    members += [r.member for r in results]
    assert [r.meta.kind for r in results][-3:] == ["file", "symlink", "file"]
    cmd = capture_command(
        archive,
        CommandRecord(member="volatile/cmd", argv=("echo", "hi"), description="t", timeout_s=30),
        tmp_path / "spool",
        threading.Event(),
    )
    assert isinstance(cmd, CommandCaptured)
    assert cmd.meta is not None and cmd.meta.mtime_ns == cmd.finished_ns
    members.append(cmd.member)
    assert archive.sha256 is None  # only once closed
    size = archive.close()
    path = archive.path
    assert archive.sealed is not None
    assert (archive.sealed.size, archive.sealed.sha256) == (size, file_sha256(path))
    assert archive.sha256 == file_sha256(path)
    assert_headers(path, members)


def test_owner_names_are_those_in_the_header(tmp_path: Path) -> None:
    archive = RunArchive(tmp_path / "run.tar")
    results = capture(archive, tree(tmp_path / "src", 3))
    archive.close()
    raw = archive.path.read_bytes()
    for r in results:
        header = parse_header(raw[r.member.header_offset : r.member.data_offset])
        assert header.uname == r.meta.uname.encode("utf-8", "surrogateescape")
        assert header.gname == r.meta.gname.encode("utf-8", "surrogateescape")
    assert results[0].meta.uname == pwd.getpwuid(os.getuid()).pw_name


def test_many_small_files_through_the_ring(tmp_path: Path) -> None:
    archive = RunArchive(tmp_path / "run.tar")
    results = capture(archive, tree(tmp_path / "src", 700))  # several ring batches
    archive.close()
    assert archive.sha256 == file_sha256(archive.path)
    assert_headers(archive.path, [r.member for r in results])


def test_a_capture_abandoned_midway_keeps_the_digest_exact(tmp_path: Path) -> None:
    archive = RunArchive(tmp_path / "run.tar")
    gen = capture_files(archive, tree(tmp_path / "src", 700), cancel=threading.Event())
    for _ in range(300):  # regions were staged ahead of their write
        next(gen)
    gen.close()
    archive.add_bytes("volatile/after", b"x", mtime_ns=NS)
    archive.close()
    assert archive.sha256 == file_sha256(archive.path)


# --------------------------------------------------------------------------- cut back, resumed


def test_cut_members_leave_the_digest_exact(tmp_path: Path) -> None:
    archive = RunArchive(tmp_path / "run.tar")
    archive.add_bytes("volatile/first", b"1", mtime_ns=NS)
    for size in (1000, 3 * CHUNK):  # inline and streamed
        with pytest.raises(SourceShrank):
            archive.add_stream("files/short", size, io.BytesIO(pattern(size - 10)).readinto, META)
    cancel = threading.Event()
    source = io.BytesIO(pattern(8 * CHUNK))

    def cancelling(buf: memoryview) -> int:
        if source.tell() >= 3 * CHUNK:
            cancel.set()
        return source.readinto(buf)

    with pytest.raises(Cancelled):
        archive.add_stream("files/big", 8 * CHUNK, cancelling, META, cancel=cancel)
    failing = io.BytesIO(pattern(4 * CHUNK))

    def broken(buf: memoryview) -> int:
        if failing.tell() >= 2 * CHUNK:
            raise OSError(errno.EIO, "Input/output error")
        return failing.readinto(buf)

    with pytest.raises(OSError, match="Input/output"):
        archive.add_stream("files/bad", 4 * CHUNK, broken, META)
    keep = archive.add_bytes("volatile/kept", pattern(3000), mtime_ns=NS)
    archive.add_bytes("volatile/dropped", pattern(5000), mtime_ns=NS)
    archive.flush()
    archive.truncate(keep.end)
    archive.close()
    assert archive.sha256 == file_sha256(archive.path)


def test_resumed_archive_digest_covers_what_was_kept(tmp_path: Path) -> None:
    archive = RunArchive(tmp_path / "run.tar")
    kept = archive.add_bytes("volatile/kept", pattern(100_000), mtime_ns=NS)
    archive.add_bytes("volatile/torn", pattern(5000), mtime_ns=NS)
    archive.flush()
    archive.abandon()
    assert archive.sha256 == file_sha256(archive.path)  # what an abandoned file holds
    with archive.path.open("r+b") as f:
        f.truncate(kept.end + 2500)
    resumed = RunArchive(archive.path, resume_at=kept.end)
    resumed.add_stream("files/after", 2 * CHUNK, io.BytesIO(pattern(2 * CHUNK)).readinto, META)
    resumed.close()
    assert resumed.sha256 == file_sha256(archive.path)
    again = RunArchive(archive.path.with_name("empty.tar"))
    again.abandon()
    assert RunArchive(again.path, resume_at=0).close() == 1024


# --------------------------------------------------------------------------- failing disk


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs: the evidence disk that fills up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_while_streaming(tiny_disk: Path) -> None:
    archive = RunArchive(tiny_disk / "run.tar")
    archive.add_bytes("volatile/a", pattern(3000), mtime_ns=NS)
    with pytest.raises(StoreError, match="evidence disk full"):
        archive.add_stream("files/big", 2 * CHUNK, io.BytesIO(pattern(2 * CHUNK)).readinto, META)
    archive.add_bytes("volatile/b", b"b", mtime_ns=NS)
    archive.close()
    assert archive.sha256 == file_sha256(archive.path)


def test_disk_full_with_buffered_members(tiny_disk: Path) -> None:
    archive = RunArchive(tiny_disk / "run.tar")
    with pytest.raises(StoreError, match="evidence disk full"):
        for i in range(1000):
            archive.add_bytes(f"volatile/{i}", pattern(50_000, i), mtime_ns=NS)
    archive.abandon()  # no room left for the end marker: as after a crash
    assert archive.path.stat().st_size == archive.offset
    assert archive.sha256 == file_sha256(archive.path)


def test_disk_full_in_the_ring(tiny_disk: Path, tmp_path: Path) -> None:
    archive = RunArchive(tiny_disk / "run.tar")
    gen = capture_files(archive, tree(tmp_path / "src", 700)[:700], cancel=threading.Event())
    with pytest.raises(StoreError, match="evidence disk full"):
        for _ in gen:
            pass
    archive.abandon()
    assert archive.sha256 == file_sha256(archive.path)


def _write_errors_after(
    monkeypatch: pytest.MonkeyPatch, archive: RunArchive, budget: int
) -> Callable[[], None]:
    """Make writes to ``archive`` fail with EIO after ``budget`` more bytes; the undo."""
    real_write = os.write
    left = [budget]

    def write(fd: int, data: bytes | memoryview) -> int:
        if fd != archive._fd:
            return real_write(fd, data)
        if left[0] <= 0:
            raise OSError(errno.EIO, "Input/output error")
        n = real_write(fd, memoryview(data)[: left[0]])
        left[0] -= n
        return n

    monkeypatch.setattr(archive_module.os, "write", write)
    return lambda: monkeypatch.setattr(archive_module.os, "write", real_write)


@pytest.mark.parametrize("budget", [0, 700, 5000, 1 << 20, (1 << 20) + 3000, 3 << 20])
@pytest.mark.parametrize("path", ["buffered", "stream", "ring"])
def test_write_error_injected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str, budget: int
) -> None:
    archive = RunArchive(tmp_path / "run.tar")
    for i in range(30):
        archive.add_bytes(f"volatile/{i}", pattern(20_000 + i, i), mtime_ns=NS)
    archive.flush()
    targets = tree(tmp_path / "src", 600)
    undo = _write_errors_after(monkeypatch, archive, budget)
    with pytest.raises(StoreError, match="I/O error"):
        if path == "buffered":
            for i in range(200):
                archive.add_bytes(f"volatile/more{i}", pattern(30_000, i), mtime_ns=NS)
        elif path == "stream":
            size = 5 * CHUNK
            archive.add_stream("files/s", size, io.BytesIO(pattern(size)).readinto, META)
        else:
            capture(archive, targets)
    undo()
    assert archive.path.stat().st_size == archive.offset
    archive.add_bytes("volatile/after", b"x", mtime_ns=NS)
    archive.close()
    assert archive.sha256 == file_sha256(archive.path)


# --------------------------------------------------------------------------- the ring helper


def test_ring_helper_is_a_plain_script() -> None:
    proc = subprocess.run(
        [sys.executable, "-I", "-S", str(HELPER)], capture_output=True, text=True, check=False
    )
    assert proc.returncode != 0 and "IndexError" in proc.stderr  # ran, asked for its arguments


@pytest.mark.parametrize("helper", [True, False])
def test_ring_hashes_header_ranges(helper: bool) -> None:
    ring = RingHasher(1 << 20, helper=helper)
    try:
        blobs = [pattern(n, n) for n in range(1000, 40_000, 1000)]
        ranges, pos = [], 0
        for blob in blobs:
            ring.view[pos : pos + len(blob)] = blob
            ranges.append((pos, len(blob)))
            pos += len(blob)
        ring.submit(ranges, ranges[:5])
        ring.submit([], ranges[:2])  # headers only (symlinks): the helper stays
        data, headers = ring.collect_all()
        assert [d.md5 for d in data] == [hashlib.md5(b).hexdigest() for b in blobs]
        assert headers == [hashlib.sha256(b).hexdigest() for b in blobs[:5]]
        assert ring.collect_all() == ([], [hashlib.sha256(b).hexdigest() for b in blobs[:2]])
        if helper:
            assert ring._proc is not None and ring._proc.poll() is None
    finally:
        ring.close()


def test_frozen_builds_hash_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    ring = RingHasher(1 << 16)
    try:
        ring.view[:5] = b"hello"
        ring.submit([(0, 5)] * 20, [(0, 5)])
        assert ring._proc is None
        data, headers = ring.collect_all()
        assert data[0].sha256 == hashlib.sha256(b"hello").hexdigest()
        assert headers == [hashlib.sha256(b"hello").hexdigest()]
    finally:
        ring.close()


def test_thread_hand_off_keeps_order() -> None:
    """Pieces hashed on the digest thread and inline come out in file order."""
    from custody.store.hashing import ArchiveDigest

    d = ArchiveDigest()
    pieces = [pattern(n, n) for n in (10, 200_000, 7, 1 << 20, 3, 70_000)]
    for p in pieces:
        d.feed(p)
    assert d.hexdigest() == hashlib.sha256(b"".join(pieces)).hexdigest()
    whole = b"".join(pieces)
    d.rewind(100_005, lambda off, n: whole[off : off + n])
    assert d.hexdigest() == hashlib.sha256(whole[:100_005]).hexdigest()
    d.close()
