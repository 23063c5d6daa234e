"""The system collector: clocks, host identity, the tool's own identity."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from pathlib import Path

from app.version import __version__
from collectors.system import SOURCE_PACKAGES, tool_sha256
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
