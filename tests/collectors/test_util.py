"""Read-only opening (no atime change, no symlink following), JSON, sizes."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path

import pytest

from collectors._util import parse_size, sha256_file, to_json, to_jsonl
from custody.store.sources import open_source
from tests.collectors.helpers import as_nobody


def test_open_readonly_does_not_follow_symlinks(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"r")
    os.symlink("real", tmp_path / "link")
    with pytest.raises(OSError) as info:
        open_source(str(tmp_path / "link"))
    assert info.value.errno == errno.ELOOP
    fd = open_source(str(tmp_path / "link"), follow=True)
    try:
        assert os.read(fd, 10) == b"r"
        with pytest.raises(OSError):
            os.write(fd, b"no")
    finally:
        os.close(fd)


def test_reading_leaves_atime_unchanged(tmp_path: Path) -> None:
    # relatime updates atime only when it is older than mtime: make it so, or the test proves nothing
    def aged(name: str) -> Path:
        path = tmp_path / name
        path.write_bytes(b"evidence" * 1000)
        st = path.stat()
        os.utime(path, ns=(st.st_mtime_ns - 10**12, st.st_mtime_ns))
        return path

    control = aged("control")
    before = control.stat().st_atime_ns
    control.read_bytes()  # a plain read does update atime here
    if control.stat().st_atime_ns == before:
        pytest.skip("this file system does not update atime at all")
    source = aged("source")
    before = source.stat().st_atime_ns
    assert sha256_file(str(source)) == hashlib.sha256(b"evidence" * 1000).hexdigest()
    assert source.stat().st_atime_ns == before


def test_noatime_falls_back_for_files_we_do_not_own(public_tmp: Path) -> None:
    path = public_tmp / "root-owned"
    path.write_bytes(b"shared")
    path.chmod(0o644)
    digest = as_nobody(sha256_file, str(path))  # O_NOATIME gives EPERM to a non-owner
    assert digest == hashlib.sha256(b"shared").hexdigest()


def test_sha256_refuses_non_regular_files(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        sha256_file(str(tmp_path))


def test_json_lines_sorted_utf8_and_lossless_for_odd_names() -> None:
    name = os.fsdecode(b"/tmp/caf\xe9")
    data = to_jsonl([{"b": 1, "a": name}, {"z": "ü"}])
    lines = data.splitlines()
    assert lines[0].startswith(b'{"a": ')
    data.decode("utf-8")  # valid UTF-8
    assert os.fsencode(json.loads(lines[0])["a"]) == b"/tmp/caf\xe9"
    assert json.loads(lines[1]) == {"z": "ü"}
    assert to_json({"b": 2, "a": 1}).startswith(b'{\n  "a": 1')


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (0, 0),
        (512, 512),
        ("100", 100),
        ("100B", 100),
        ("512K", 512 * 1024),
        ("10MiB", 10 * 1024**2),
        ("10 MiB", 10 * 1024**2),
        ("1GB", 10**9),
        ("1.5GiB", int(1.5 * 1024**3)),
        ("2kb", 2000),
        ("1T", 1024**4),
    ],
)
def test_parse_size(text: object, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["big", "", "10 XB", "-1", -5, True, 1.5, None, "MiB"])
def test_parse_size_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_size(bad)


def _aged_directories(root: Path, names: list[str]) -> list[Path]:
    """Directories whose atime is older than their mtime: relatime updates those on a
    listing, so a listing that leaves them as they were proves it used O_NOATIME."""
    made = []
    for name in names:
        d = root / name
        d.mkdir(parents=True)
        (d / "file").write_bytes(b"x")
        made.append(d)
    for d in reversed(made):  # deepest first: making a child changes its parent's mtime
        st = d.stat()
        os.utime(d, ns=(st.st_mtime_ns - 10**12, st.st_mtime_ns))
    return made


def test_listing_a_directory_leaves_its_atime_unchanged(tmp_path: Path) -> None:
    from collectors._util import list_dir, scan_directory, walk_entries

    control, listed, walked = _aged_directories(tmp_path, ["control", "listed", "walked"])
    before = control.stat().st_atime_ns
    with os.scandir(control) as it:
        list(it)
    if control.stat().st_atime_ns == before:
        pytest.skip("this file system does not update directory atimes")
    before = {d: d.stat().st_atime_ns for d in (listed, walked)}
    names = [e.name for e in scan_directory(os.fsencode(listed))]
    assert names == [b"file"] and [e.name for e in list_dir(os.fsencode(listed), [])] == names
    assert list(walk_entries(os.fsencode(walked), [])) == [os.fsencode(walked / "file")]
    assert {d: d.stat().st_atime_ns for d in (listed, walked)} == before


def test_listing_refuses_what_is_not_a_directory_without_opening_it(tmp_path: Path) -> None:
    from collectors._util import list_dir, scan_directory

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opened for reading without O_NONBLOCK it would block
    with pytest.raises(NotADirectoryError):
        scan_directory(os.fsencode(fifo))
    problems: list = []
    assert list_dir(os.fsencode(fifo), problems) == [] and problems == []
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a").write_bytes(b"a")
    os.symlink("real", tmp_path / "link")  # followed, as os.scandir follows it
    assert [e.name for e in scan_directory(os.fsencode(tmp_path / "link"))] == [b"a"]
