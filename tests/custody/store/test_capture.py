from __future__ import annotations

import base64
import errno
import hashlib
import multiprocessing
import os
import pwd
import shutil
import socket
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from collectors.base import CommandRecord, FileTarget
from custody.record.times import ns_text, text_ns
from custody.store import capture
from custody.store.archive import CHUNK, RunArchive, read_members
from custody.store.capture import (
    SMALL_LIMIT,
    Captured,
    CommandCaptured,
    CommandNotCaptured,
    NotCaptured,
    capture_command,
    capture_files,
)
from custody.store.sources import open_source, stat_times
from tests.custody.conftest import gnu_tar, open_tar, sha256sum

DAY = 86_400 * 10**9


def run(
    archive: RunArchive, paths: Iterable[bytes], cancel: threading.Event | None = None
) -> list[Captured | NotCaptured]:
    targets = [FileTarget(p, "test") for p in paths]
    return list(capture_files(archive, targets, cancel=cancel or threading.Event()))


def only(results: list[Captured | NotCaptured]) -> Captured:
    assert len(results) == 1
    result = results[0]
    assert isinstance(result, Captured), result
    return result


def not_captured(results: list[Captured | NotCaptured]) -> NotCaptured:
    assert len(results) == 1
    result = results[0]
    assert isinstance(result, NotCaptured), result
    return result


def member_bytes(archive: RunArchive, result: Captured) -> bytes:
    archive.flush(sync=False)
    with archive.path.open("rb") as f:
        f.seek(result.member.data_offset)
        return f.read(result.member.size)


def pattern(size: int, seed: int = 0) -> bytes:
    block = hashlib.sha256(b"%d-%d" % (size, seed)).digest() * 128
    return (block * (size // len(block) + 1))[:size]


# --------------------------------------------------------------------------- sources


def test_ns_text_round_trip() -> None:
    assert ns_text(1_700_000_000_123_456_789) == "1700000000.123456789"
    assert ns_text(5) == "0.000000005"
    assert ns_text(-1_500_000_000) == "-1.500000000"
    for ns in (0, 1, 1_700_000_000_123_456_789, -1_500_000_000):
        assert text_ns(ns_text(ns)) == ns
    assert text_ns("12.5") == 12_500_000_000
    with pytest.raises(ValueError):
        text_ns("1e9")


def test_stat_times(make_file: Callable[..., bytes]) -> None:
    path = make_file(
        "t", b"x", mtime_ns=1_600_000_000_000_000_001, atime_ns=1_500_000_000_000_000_002
    )
    times = stat_times(os.lstat(path))
    assert times["mtime"] == "1600000000.000000001"
    assert times["atime"] == "1500000000.000000002"
    assert times["ctime"] is not None
    assert set(times) == {"mtime", "atime", "ctime", "birthtime"}
    if sys.platform == "linux":
        assert times["birthtime"] is None


def test_open_source_refuses_symlinks(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"x")
    (tmp_path / "link").symlink_to("real")
    fd = open_source(os.fsencode(tmp_path / "real"))
    os.close(fd)
    with pytest.raises(OSError) as info:
        open_source(os.fsencode(tmp_path / "link"))
    assert info.value.errno in (errno.ELOOP, errno.EMLINK)


# --------------------------------------------------------------------------- regular files


@pytest.mark.parametrize("size", [0, 1, 511, 512, 513, SMALL_LIMIT, SMALL_LIMIT + 1, 3 * CHUNK + 5])
def test_file_copied_with_its_digests(
    size: int, make_file: Callable[..., bytes], new_archive: Callable[..., RunArchive]
) -> None:
    data = pattern(size)
    path = make_file(f"dir/f{size}", data)
    archive = new_archive()
    result = only(run(archive, [path]))
    st = os.lstat(path)  # before sha256sum reads it (and may update its atime)
    assert result.changed is None and result.note is None
    assert result.member.name == "files" + os.fsdecode(path)
    assert result.member.size == size
    assert result.member.digests.sha256 == sha256sum(path) == hashlib.sha256(data).hexdigest()
    assert result.member.digests.sha1 == hashlib.sha1(data).hexdigest()
    assert result.member.digests.md5 == hashlib.md5(data).hexdigest()
    assert member_bytes(archive, result) == data
    meta = result.meta
    assert (meta.kind, meta.size, meta.inode, meta.device) == ("file", size, st.st_ino, st.st_dev)
    assert (meta.mode, meta.uid, meta.gid) == (st.st_mode & 0o7777, st.st_uid, st.st_gid)
    assert meta.times == stat_times(st)


def test_many_files_in_order_readable_by_tar(
    make_file: Callable[..., bytes], new_archive: Callable[..., RunArchive], tmp_path: Path
) -> None:
    """Enough small files to go through the ring's helper process, with large ones between."""
    paths = []
    for i in range(700):
        size = SMALL_LIMIT + 10 if i % 250 == 7 else (i * 37) % 9000
        paths.append(make_file(f"many/{i:04d}", pattern(size, i)))
    archive = new_archive()
    results = run(archive, paths)
    assert [r.target.path for r in results] == paths
    assert all(isinstance(r, Captured) and r.changed is None for r in results)
    archive.close()
    captured = [r for r in results if isinstance(r, Captured)]
    on_disk = [(info.name, h, d) for info, h, d in read_members(archive.path)]
    assert on_disk == [
        (r.member.name, r.member.header_offset, r.member.data_offset) for r in captured
    ]
    out = tmp_path / "out"
    out.mkdir()
    gnu_tar("-xf", archive.path, cwd=out)
    for r in captured:
        data = (out / r.member.name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == r.member.digests.sha256
        assert hashlib.md5(data).hexdigest() == r.member.digests.md5
        assert data == Path(os.fsdecode(r.target.path)).read_bytes()


NAMES = [
    b"odd/non-utf8-\xff\xfe",
    b"odd/new\nline",
    b"odd/back\\slash",
    b"odd/with spaces",
    b"odd/" + b"/".join([b"x" * 60] * 3),
]


def test_exact_names_and_metadata_survive_tar(
    make_file: Callable[..., bytes], new_archive: Callable[..., RunArchive], tmp_path: Path
) -> None:
    mtime = 1_600_000_000_987_654_321
    paths = [make_file(name, name, mtime_ns=mtime) for name in NAMES]
    for p in paths:
        os.chmod(p, 0o751)
        os.chown(p, 4321, 8765)
    archive = new_archive()
    results = run(archive, paths)
    archive.close()
    listing = gnu_tar("--full-time", "-tvf", archive.path).stdout
    assert listing.count(b"2020-09-13 12:26:40.987654321") == len(NAMES)
    out = tmp_path / "out"
    out.mkdir()
    gnu_tar("--numeric-owner", "-xf", archive.path, cwd=out)
    for p, r in zip(paths, results, strict=True):
        assert isinstance(r, Captured)
        extracted = os.path.join(os.fsencode(out), b"files" + p)
        with open(extracted, "rb") as f, open(p, "rb") as g:
            assert f.read() == g.read()
        st = os.stat(extracted)
        assert st.st_mtime_ns == mtime
        assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o751, 4321, 8765)
    with open_tar(archive.path) as tf:
        infos = tf.getmembers()
    assert [os.fsencode(i.name) for i in infos] == [b"files" + p for p in paths]
    assert {i.pax_headers["mtime"] for i in infos} == {"1600000000.987654321"}


@pytest.mark.parametrize("size", [100, SMALL_LIMIT + 100])
def test_source_atime_and_mtime_unchanged(
    size: int, make_file: Callable[..., bytes], new_archive: Callable[..., RunArchive]
) -> None:
    # relatime would skip the update anyway unless atime is older than mtime: make it so.
    mtime = 1_700_000_000_000_000_000
    atime = mtime - 30 * DAY
    path = make_file("quiet", pattern(size), mtime_ns=mtime, atime_ns=atime)
    result = only(run(new_archive(), [path]))
    st = os.stat(path)
    assert (st.st_atime_ns, st.st_mtime_ns) == (atime, mtime)
    assert result.meta.times["atime"] == ns_text(atime)


def test_xattrs_recorded_and_archived(
    make_file: Callable[..., bytes], new_archive: Callable[..., RunArchive], tmp_path: Path
) -> None:
    path = make_file("attrs", b"data")
    try:
        os.setxattr(path, "user.origin", b"\x00raw\xff")
    except OSError as exc:
        pytest.skip(f"the file system refuses user xattrs: {exc}")
    archive = new_archive()
    result = only(run(archive, [path]))
    assert result.meta.xattrs["user.origin"] == base64.b64encode(b"\x00raw\xff").decode()
    archive.close()
    with open_tar(archive.path) as tf:
        (info,) = tf.getmembers()
        assert os.fsencode(info.pax_headers["SCHILY.xattr.user.origin"]) == b"\x00raw\xff"
    out = tmp_path / "out"
    out.mkdir()
    gnu_tar("--xattrs", "--xattrs-include=user.*", "-xf", archive.path, cwd=out)
    assert (
        os.getxattr(os.path.join(os.fsencode(out), b"files" + path), "user.origin")
        == b"\x00raw\xff"
    )


def test_pseudo_file_read_to_its_end(new_archive: Callable[..., RunArchive]) -> None:
    if not os.path.exists("/proc/version") or os.stat("/proc/version").st_size != 0:
        pytest.skip("needs procfs")
    archive = new_archive()
    result = only(run(archive, [b"/proc/version"]))
    with open("/proc/version", "rb") as f:
        expected = f.read()
    assert member_bytes(archive, result) == expected
    assert result.member.size == len(expected) > 0
    assert result.note is not None and "pseudo-file" in result.note


@pytest.mark.slow
def test_sparse_2gib_file(
    make_file: Callable[..., bytes], new_archive: Callable[..., RunArchive]
) -> None:
    size = 2 << 30
    path = make_file("sparse")
    os.truncate(path, size)
    archive = new_archive()
    result = only(run(archive, [path]))
    hashes = [hashlib.sha256(), hashlib.sha1(), hashlib.md5()]
    zeros = bytes(8 << 20)
    for _ in range(size // len(zeros)):
        for h in hashes:
            h.update(zeros)
    assert result.member.size == size
    assert [
        result.member.digests.sha256,
        result.member.digests.sha1,
        result.member.digests.md5,
    ] == [h.hexdigest() for h in hashes]
    archive.close()
    assert archive.path.stat().st_size == result.member.end + 1024


# --------------------------------------------------------------------------- other entries


def test_symlink_recorded_not_followed(
    tmp_path: Path, make_file: Callable[..., bytes], new_archive: Callable[..., RunArchive]
) -> None:
    target = make_file("secret-target", b"not to be copied")
    link = os.fsencode(tmp_path / "src" / "link")
    os.symlink(target, link)
    archive = new_archive()
    result = only(run(archive, [link]))
    assert result.meta.kind == "symlink"
    assert result.meta.symlink_target == target
    assert result.member.size == 0
    assert result.note is None
    archive.close()
    with open_tar(archive.path) as tf:
        (info,) = tf.getmembers()
    assert info.issym() and os.fsencode(info.linkname) == target
    out = tmp_path / "out"
    out.mkdir()
    gnu_tar("-xf", archive.path, cwd=out)
    assert os.readlink(os.path.join(os.fsencode(out), b"files" + link)) == target


def test_symlink_loop_and_dangling_noted(
    tmp_path: Path, new_archive: Callable[..., RunArchive]
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").symlink_to("b")
    (src / "b").symlink_to("a")
    (src / "dangling").symlink_to("nowhere")
    results = run(new_archive(), [os.fsencode(src / n) for n in ("a", "dangling")])
    loop, dangling = results
    assert isinstance(loop, Captured) and isinstance(dangling, Captured)
    assert loop.note is not None and "symlink loop" in loop.note
    assert dangling.note is not None and "dangling" in dangling.note


def test_fifo_skipped_without_blocking(
    tmp_path: Path, new_archive: Callable[..., RunArchive]
) -> None:
    fifo = os.fsencode(tmp_path / "fifo")
    os.mkfifo(fifo)
    archive = new_archive()
    box: list[list[Captured | NotCaptured]] = []
    worker = threading.Thread(target=lambda: box.append(run(archive, [fifo])), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "capturing a FIFO blocked"
    result = not_captured(box[0])
    assert result.kind == "skipped"
    assert result.reason == "FIFO not read: reading could block or consume data"
    assert result.meta is not None and result.meta.kind == "fifo"
    assert archive.offset == 0


def test_devices_sockets_and_directories_skipped(
    tmp_path: Path, new_archive: Callable[..., RunArchive]
) -> None:
    paths = [b"/dev/null"]
    if os.geteuid() == 0:
        node = os.fsencode(tmp_path / "mem-like")
        os.mknod(node, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        paths.append(node)
    sock_path = os.fsencode(tmp_path / "sock")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(sock_path)
    paths += [sock_path, os.fsencode(tmp_path)]
    try:
        results = run(new_archive(), paths)
    finally:
        sock.close()
    kinds = [(r.kind, r.reason.split(":")[0]) for r in results if isinstance(r, NotCaptured)]
    assert len(kinds) == len(paths)
    assert kinds[0] == ("skipped", "character device not read")
    assert kinds[-2:] == [("skipped", "socket not read"), ("skipped", "directory")]


def test_vanished_file_is_an_error(tmp_path: Path, new_archive: Callable[..., RunArchive]) -> None:
    result = not_captured(run(new_archive(), [os.fsencode(tmp_path / "gone")]))
    assert (result.kind, result.reason) == ("error", "vanished before it could be read")


def _capture_as_nobody(archive_dir: str, paths: list[bytes], queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    nobody = pwd.getpwnam("nobody")
    os.setgroups([])
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)
    archive = RunArchive(Path(archive_dir) / "run.tar")
    results = run(archive, paths)
    archive.close()
    queue.put(
        [(type(r).__name__, getattr(r, "kind", None), getattr(r, "reason", None)) for r in results]
    )


@pytest.mark.skipif(not hasattr(os, "setuid"), reason="POSIX only")
def test_permission_denied_is_an_error() -> None:
    """As root every file is readable, so the capture runs in a child that became nobody."""
    if os.geteuid() != 0:
        pytest.skip("needs root to drop privileges (an unprivileged run is already 'nobody')")
    work = Path(tempfile.mkdtemp(prefix="chainproof-perm-"))  # /tmp: traversable by nobody
    try:
        work.chmod(0o755)
        secret = work / "secret"
        secret.write_bytes(b"root only")
        secret.chmod(0o600)
        public = work / "public"
        public.write_bytes(b"anyone")
        public.chmod(0o644)
        out = work / "evidence"
        out.mkdir()
        out.chmod(0o777)
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        child = ctx.Process(
            target=_capture_as_nobody,
            args=(str(out), [os.fsencode(secret), os.fsencode(public)], queue),
        )
        child.start()
        results = queue.get(timeout=60)
        child.join(timeout=60)
        assert child.exitcode == 0
    finally:
        shutil.rmtree(work)
    (kind0, err, reason), (kind1, _, _) = results
    assert (kind0, err) == ("NotCaptured", "error")
    assert reason.startswith("permission denied: cannot open the file")
    assert kind1 == "Captured"


# --------------------------------------------------------------------------- races


@pytest.fixture
def after_open(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[bytes, int], None]], None]:
    def install(hook: Callable[[bytes, int], None]) -> None:
        monkeypatch.setattr(capture, "_after_open", hook)

    return install


@pytest.mark.parametrize("size", [1000, SMALL_LIMIT * 2, 3 * CHUNK])
def test_growing_file_archived_at_its_size_at_open_and_flagged(
    size: int,
    make_file: Callable[..., bytes],
    new_archive: Callable[..., RunArchive],
    after_open: Callable[[Callable[[bytes, int], None]], None],
) -> None:
    data = pattern(size)
    path = make_file("growing.log", data)

    def grow(p: bytes, fd: int) -> None:
        with open(p, "ab") as f:
            f.write(b"more lines\n")

    after_open(grow)
    archive = new_archive()
    result = only(run(archive, [path]))
    assert result.member.size == size
    assert result.member.digests.sha256 == hashlib.sha256(data).hexdigest()
    assert member_bytes(archive, result) == data
    assert result.changed is not None
    assert f"grew from {size} to {size + 11} bytes while read" in result.changed
    assert "mtime changed" in result.changed


@pytest.mark.parametrize("size", [5000, SMALL_LIMIT * 2, 3 * CHUNK])
def test_shrinking_file_read_again(
    size: int,
    make_file: Callable[..., bytes],
    new_archive: Callable[..., RunArchive],
    after_open: Callable[[Callable[[bytes, int], None]], None],
) -> None:
    data = pattern(size)
    path = make_file("rotating.log", data)
    opens = 0

    def shrink_once(p: bytes, fd: int) -> None:
        nonlocal opens
        opens += 1
        if opens == 1:
            os.truncate(p, size // 2)

    after_open(shrink_once)
    archive = new_archive()
    before = archive.add_bytes("volatile/first", b"1", mtime_ns=0)
    result = only(run(archive, [path]))
    assert opens == 2
    assert result.member.size == size // 2
    assert result.member.header_offset == before.end
    assert member_bytes(archive, result) == data[: size // 2]
    assert result.changed is None


@pytest.mark.parametrize("size", [5000, 3 * CHUNK])
def test_file_that_keeps_shrinking_is_given_up(
    size: int,
    make_file: Callable[..., bytes],
    new_archive: Callable[..., RunArchive],
    after_open: Callable[[Callable[[bytes, int], None]], None],
) -> None:
    path = make_file("shrinking", pattern(size))
    after_open(lambda p, fd: os.truncate(p, os.fstat(fd).st_size - 1000))
    archive = new_archive()
    result = not_captured(run(archive, [path]))
    assert result.kind == "error"
    assert result.reason.startswith("file shrank while read (from ")
    assert result.reason.endswith("gave up after 3 attempts")
    assert archive.offset == 0


def test_modified_in_place_is_flagged(
    make_file: Callable[..., bytes],
    new_archive: Callable[..., RunArchive],
    after_open: Callable[[Callable[[bytes, int], None]], None],
) -> None:
    path = make_file("edited", b"abc", mtime_ns=1_000_000_000_000_000_000)
    after_open(lambda p, fd: os.utime(p, ns=(0, 1_100_000_000_000_000_000)))
    result = only(run(new_archive(), [path]))
    assert result.changed is not None and "mtime changed" in result.changed


def test_replaced_between_lstat_and_open(
    tmp_path: Path,
    make_file: Callable[..., bytes],
    new_archive: Callable[..., RunArchive],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    victim = make_file("victim", b"original")
    other = make_file("other", b"impostor")
    linked = make_file("linked", b"x")
    real_open = open_source

    def racing_open(path: bytes) -> int:
        if path == victim:
            os.replace(other, victim)
        elif path == linked:
            os.unlink(linked)
            os.symlink(victim, linked)
        return real_open(path)

    monkeypatch.setattr(capture, "open_source", racing_open)
    archive = new_archive()
    a, b = run(archive, [victim, linked])
    assert isinstance(a, NotCaptured) and isinstance(b, NotCaptured)
    assert (a.kind, a.reason) == (
        "error",
        "replaced by another file between lstat and open (inode differs)",
    )
    assert (b.kind, b.reason) == (
        "error",
        "replaced by a symlink between lstat and open; not followed",
    )
    assert archive.offset == 0


# --------------------------------------------------------------------------- cancel


def test_cancel_between_files_keeps_completed_members(
    make_file: Callable[..., bytes], new_archive: Callable[..., RunArchive]
) -> None:
    paths = [make_file(f"c/{i}", pattern(2000, i)) for i in range(50)]
    cancel = threading.Event()

    def targets() -> Iterator[FileTarget]:
        for i, p in enumerate(paths):
            if i == 10:
                cancel.set()
            yield FileTarget(p, "test")

    archive = new_archive()
    results = list(capture_files(archive, targets(), cancel=cancel))
    assert len(results) == 10
    archive.close()
    assert [os.fsencode(i.name) for i, _, _ in read_members(archive.path)] == [
        b"files" + p for p in paths[:10]
    ]


def test_cancel_inside_a_large_file_cuts_it(
    make_file: Callable[..., bytes],
    new_archive: Callable[..., RunArchive],
    after_open: Callable[[Callable[[bytes, int], None]], None],
) -> None:
    small = make_file("first", b"small")
    large = make_file("large", pattern(8 * CHUNK))
    last = make_file("last", b"never")
    cancel = threading.Event()
    after_open(lambda p, fd: cancel.set() if p == large else None)
    archive = new_archive()
    results = run(archive, [small, large, last], cancel)
    assert [r.target.path for r in results] == [small]
    first = results[0]
    assert isinstance(first, Captured)
    assert archive.offset == first.member.end
    archive.close()
    assert [os.fsencode(i.name) for i, _, _ in read_members(archive.path)] == [b"files" + small]


# --------------------------------------------------------------------------- commands


def record(argv: list[str], timeout: float = 60.0) -> CommandRecord:
    return CommandRecord(
        member="volatile/cmd.out", argv=tuple(argv), description="test", timeout_s=timeout
    )


def test_command_output_archived(tmp_path: Path, new_archive: Callable[..., RunArchive]) -> None:
    archive = new_archive()
    result = capture_command(
        archive, record(["printf", "hello\\n"]), tmp_path / "spool", threading.Event()
    )
    assert isinstance(result, CommandCaptured)
    assert (result.exit_code, result.note) == (0, None)
    assert result.member.digests.sha256 == hashlib.sha256(b"hello\n").hexdigest()
    assert result.stderr_member is None  # nothing written there: no member
    assert result.finished_ns >= result.started_ns
    assert list((tmp_path / "spool").iterdir()) == []
    archive.close()
    with open_tar(archive.path) as tf:
        f = tf.extractfile("volatile/cmd.out")
        assert f is not None and f.read() == b"hello\n"


def test_standard_error_is_archived_beside_the_output_whatever_the_exit_status(
    tmp_path: Path, new_archive: Callable[..., RunArchive]
) -> None:
    """dpkg -V writes what it could not check to standard error and exits 0."""
    archive = new_archive()
    argv = ["sh", "-c", "echo '??5?????? c /etc/x'; echo 'missing /etc/y (Permission denied)' >&2"]
    result = capture_command(archive, record(argv), tmp_path / "spool", threading.Event())
    assert isinstance(result, CommandCaptured)
    assert (result.exit_code, result.note) == (0, None)
    err = b"missing /etc/y (Permission denied)\n"
    assert result.stderr_member is not None
    assert result.stderr_member.digests.sha256 == hashlib.sha256(err).hexdigest()
    assert list((tmp_path / "spool").iterdir()) == []
    archive.close()
    with open_tar(archive.path) as tf:
        assert tf.getnames() == ["volatile/cmd.out", "volatile/cmd.out.stderr"]
        f = tf.extractfile("volatile/cmd.out.stderr")
        assert f is not None and f.read() == err


def test_large_command_output_streamed(
    tmp_path: Path, new_archive: Callable[..., RunArchive]
) -> None:
    archive = new_archive()
    result = capture_command(
        archive,
        record(["head", "-c", str(3 * CHUNK + 7), "/dev/zero"]),
        tmp_path / "spool",
        threading.Event(),
    )
    assert isinstance(result, CommandCaptured)
    assert result.member.size == 3 * CHUNK + 7
    assert result.member.digests.sha256 == hashlib.sha256(bytes(3 * CHUNK + 7)).hexdigest()


def test_failing_command_with_output_still_archived(
    tmp_path: Path, new_archive: Callable[..., RunArchive]
) -> None:
    argv = ["sh", "-c", "echo partial; echo 'No journal files were found.' >&2; exit 3"]
    result = capture_command(new_archive(), record(argv), tmp_path, threading.Event())
    assert isinstance(result, CommandCaptured)
    assert result.exit_code == 3
    assert result.note == "exit status 3; standard error ends: No journal files were found."
    assert result.member.size == len(b"partial\n")


def test_failing_command_without_output_is_an_error(
    tmp_path: Path, new_archive: Callable[..., RunArchive]
) -> None:
    result = capture_command(
        new_archive(), record(["sh", "-c", "echo bad >&2; exit 2"]), tmp_path, threading.Event()
    )
    assert isinstance(result, CommandNotCaptured)
    assert (result.kind, result.exit_code) == ("error", 2)
    assert result.reason == "exit status 2; standard error ends: bad; no output"


def test_missing_command_is_skipped(tmp_path: Path, new_archive: Callable[..., RunArchive]) -> None:
    result = capture_command(
        new_archive(),
        record(["journalctl-does-not-exist", "-o", "export"]),
        tmp_path,
        threading.Event(),
    )
    assert isinstance(result, CommandNotCaptured)
    assert (result.kind, result.reason) == ("skipped", "journalctl-does-not-exist not found")


def test_command_timeout_keeps_partial_output(
    tmp_path: Path, new_archive: Callable[..., RunArchive]
) -> None:
    result = capture_command(
        new_archive(),
        record(["sh", "-c", "echo started; exec sleep 30"], timeout=0.5),
        tmp_path,
        threading.Event(),
    )
    assert isinstance(result, CommandCaptured)
    assert result.exit_code is None
    assert result.note is not None and "timeout" in result.note
    assert result.member.size == len(b"started\n")


def test_command_cancelled(tmp_path: Path, new_archive: Callable[..., RunArchive]) -> None:
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    archive = new_archive()
    result = capture_command(archive, record(["sleep", "30"]), tmp_path / "spool", cancel)
    assert isinstance(result, CommandNotCaptured)
    assert result.reason.startswith("cancelled")
    assert archive.offset == 0
    assert list((tmp_path / "spool").iterdir()) == []
