"""The system collector: clocks, host identity, the tool's own identity."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.version import __version__
from collectors.system import (
    MEMORY_FILESYSTEMS,
    SOURCE_PACKAGES,
    filesystem_of,
    footprint_of,
    tool_footprint,
    tool_sha256,
)
from tests.collectors.helpers import member


def test_system_record_has_clocks_host_and_tool(run) -> None:
    before = time.time_ns()
    obs = run("system", command_line=["chainproof", "collect", "X"])
    after = time.time_ns()
    record = json.loads(member(obs, "volatile/system.json"))
    clock = record["clock"]
    seconds, nanos = clock["utc_ns"].split(".")
    assert len(nanos) == 9
    assert before <= int(seconds + nanos) <= after
    assert clock["utc"].endswith("Z") and clock["utc"].startswith(
        time.strftime("%Y-", time.gmtime())
    )
    assert float(clock["monotonic_ns"]) > 0
    assert record["host"]["hostname"] == socket.gethostname()
    assert record["host"]["cpu_count"] == os.cpu_count()
    assert record["boot"]["boot_time"].endswith("Z") and record["boot"]["uptime_seconds"] > 0
    assert isinstance(record["users"], list)
    assert record["time_zone"]["utc_offset_seconds"] == time.localtime().tm_gmtoff
    tool = record["tool"]
    assert tool["version"] == __version__
    assert tool["pid"] == os.getpid() and tool["ppid"] == os.getppid()
    assert tool["command_line"] == ["chainproof", "collect", "X"]
    assert tool["sha256"] == tool_sha256()[1]
    assert "unavoidable change" in tool["note"]


def test_tool_sha256_follows_the_documented_recipe() -> None:
    path, digest = tool_sha256()
    root = Path(path)
    expected = hashlib.sha256()
    files = sorted(
        (p.relative_to(root).as_posix(), p)
        for package in SOURCE_PACKAGES
        for p in (root / package).rglob("*.py")
        if "__pycache__" not in p.parts
    )
    assert any(rel == "collectors/system.py" for rel, _ in files)
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
    assert footprint["unpacked_to"] == str(unpack)
    assert (footprint["bytes"], footprint["files"]) == (1234, 2)
    assert footprint["filesystem"] == filesystem_of(str(tmp_path))
    assert footprint["in_memory"] is (footprint["filesystem"] in MEMORY_FILESYSTEMS)
    assert footprint_of(str(tmp_path / "gone")) is None
