"""The system collector: clocks, host identity, the tool's own identity and process."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable

from collectors import REGISTRY
from collectors.base import CollectContext
from tests.collectors.helpers import member

#: What a runner states about itself (app/tool.py's tool_facts() in a real run).
TOOL = {"name": "chainproof", "version": "9.8.7", "frozen": False, "sha256": "ab" * 32}


def test_system_record_has_clocks_host_and_tool(make_ctx: Callable[..., CollectContext]) -> None:
    ctx = make_ctx(command_line=["chainproof", "collect", "X"])
    ctx.tool = TOOL
    before = time.time_ns()
    obs = list(REGISTRY["system"]().collect(ctx))
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
    assert {k: tool[k] for k in TOOL} == TOOL  # recorded as the runner states it
    assert tool["pid"] == os.getpid() and tool["ppid"] == os.getppid()
    assert tool["command_line"] == ["chainproof", "collect", "X"]
    assert "unavoidable change" in tool["note"]


def test_system_record_without_tool_facts_keeps_the_process(run) -> None:
    tool = json.loads(member(run("system"), "volatile/system.json"))["tool"]
    assert "version" not in tool and "sha256" not in tool
    assert tool["pid"] == os.getpid()
