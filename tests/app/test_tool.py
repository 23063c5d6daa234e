"""The tool's own identity: the SHA-256 of what runs, what a one-file binary unpacked."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.tool import (
    MEMORY_FILESYSTEMS,
    SOURCE_PACKAGES,
    filesystem_of,
    footprint_of,
    tool_facts,
    tool_footprint,
    tool_sha256,
)
from app.version import __version__


def test_tool_sha256_follows_the_documented_recipe() -> None:
    tool_sha256.cache_clear()  # taken once a process: take it now, over the files read below
    path, digest = tool_sha256()
    root = Path(path)
    expected = hashlib.sha256()
    files = sorted(
        (p.relative_to(root).as_posix(), p)
        for package in SOURCE_PACKAGES
        for p in (root / package).rglob("*.py")
        if "__pycache__" not in p.parts
    )
    assert any(rel == "app/tool.py" for rel, _ in files)
    for rel, p in files:
        content = p.read_bytes()
        expected.update(rel.encode() + b"\0" + str(len(content)).encode() + b"\0" + content)
    assert digest == expected.hexdigest()
    assert tool_sha256() == (path, digest)  # stable


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/mountinfo")
def test_filesystem_of_reads_mountinfo(tmp_path: Path) -> None:
    assert filesystem_of("/proc/self/status") == "proc"
    odd = tmp_path / "mount point with spaces\tand a tab"
    odd.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(odd)], check=True)
    try:
        (odd / "sub").mkdir()
        assert filesystem_of(str(odd / "sub")) == "tmpfs"  # escaped \\040 and \\011 decoded
        assert filesystem_of(str(tmp_path)) != "tmpfs" or filesystem_of("/") == "tmpfs"
    finally:
        subprocess.run(["umount", str(odd)], check=True)


def test_tool_footprint_counts_what_was_unpacked(tmp_path: Path) -> None:
    assert tool_footprint() is None  # from source: nothing unpacked
    unpack = tmp_path / "_MEI12345"
    (unpack / "lib").mkdir(parents=True)
    (unpack / "lib" / "a.so").write_bytes(b"x" * 1000)
    (unpack / "base_library.zip").write_bytes(b"y" * 234)
    footprint = footprint_of(str(unpack))
    assert footprint is not None
    assert footprint.unpacked_to == str(unpack)
    assert (footprint.bytes, footprint.files) == (1234, 2)
    assert footprint.filesystem == filesystem_of(str(tmp_path))
    assert footprint.in_memory is (footprint.filesystem in MEMORY_FILESYSTEMS)
    assert footprint_of(str(tmp_path / "gone")) is None


def test_tool_facts_name_the_version_and_the_hash() -> None:
    facts = tool_facts()
    assert facts["name"] == "chainproof" and facts["version"] == __version__
    assert facts["frozen"] is False and "unpacked" not in facts
    assert (facts["hashed_path"], facts["sha256"]) == tool_sha256()
    assert facts["sha256_of"] == "source files (.py)"
