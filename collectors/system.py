"""The system collector: host identity, clocks, users, and the tool's own identity and process.

The tool's identity (version, SHA-256, unpack footprint) is stated by the program that runs
the collectors, in ``CollectContext.tool``; this collector adds what its process shows.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import psutil

from collectors._util import error, iso_utc, read_text, to_json
from collectors.base import (
    CollectContext,
    Collector,
    Observation,
    Problem,
    VolatileRecord,
    Volatility,
    register_collector,
)
from custody.record.times import ns_text


def _timezone() -> dict[str, Any]:
    local = time.localtime()
    info: dict[str, Any] = {
        "name": local.tm_zone,
        "utc_offset_seconds": local.tm_gmtoff,
        "tzname": list(time.tzname),
        "dst": bool(local.tm_isdst > 0),
        "TZ": os.environ.get("TZ"),
    }
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        info["localtime_link"] = str(localtime.readlink())
    if Path("/etc/timezone").is_file():
        try:
            info["etc_timezone"] = read_text("/etc/timezone").strip()
        except OSError:
            pass
    return info


def _fqdn(hostname: str, hosts: str = "/etc/hosts") -> str:
    """The host's fully qualified name as /etc/hosts gives it (``socket.getfqdn``'s rule: the
    first of the names on the host's line that holds a dot), else ``hostname``.

    No resolver query: ``getfqdn`` reads /etc/hosts, /etc/resolv.conf and /etc/nsswitch.conf
    through the C library, which moves their access times, and may send a DNS query from
    the host examined.
    """
    try:
        text = read_text(hosts)
    except OSError:
        return hostname
    for line in text.splitlines():
        names = line.partition("#")[0].split()[1:]
        if hostname in names:
            return next((n for n in names if "." in n), hostname)
    return hostname


_OS_RELEASE_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def _os_release(
    paths: tuple[str, ...] = ("/etc/os-release", "/usr/lib/os-release"),
) -> dict[str, str] | None:
    """/etc/os-release (else /usr/lib/os-release) as ``platform.freedesktop_os_release``
    parses it, read with ``O_NOATIME`` (``platform`` would move its access time)."""
    for path in paths:
        try:
            text = read_text(path)
        except OSError:
            continue
        info = {"NAME": "Linux", "ID": "linux", "PRETTY_NAME": "Linux"}
        for line in text.splitlines():
            if m := _OS_RELEASE_LINE.match(line.strip()):
                try:
                    words = shlex.split(m.group(2))
                except ValueError:
                    words = [m.group(2)]
                info[m.group(1)] = words[0] if words else ""
        return info
    return None


def _users() -> list[dict[str, Any]]:
    return [
        {
            "name": u.name,
            "terminal": u.terminal,
            "host": u.host,
            "started": iso_utc(u.started),
            "pid": getattr(u, "pid", None),
        }
        for u in psutil.users()
    ]


@register_collector
class System(Collector):
    """Host identity, clocks, users logged on, and the tool's own identity and process."""

    name = "system"
    volatility = Volatility.SYSTEM
    description = "Host identity, clocks, time zone, users logged on, tool version and hash"
    options_schema: ClassVar[dict[str, Any]] = {}

    def collect(self, ctx: CollectContext) -> Iterator[Observation]:
        record: dict[str, Any] = {}
        problems: list[Problem] = []
        wall_ns = time.time_ns()
        record["clock"] = {
            "utc_ns": ns_text(wall_ns),
            "utc": iso_utc(wall_ns / 1e9),
            "monotonic_ns": ns_text(time.monotonic_ns()),
        }
        uname = platform.uname()
        hostname = socket.gethostname()
        record["host"] = {
            "hostname": hostname,
            "fqdn": _fqdn(hostname),
            "os": uname.system,
            "platform": platform.platform(),
            "release": uname.release,
            "version": uname.version,
            "kernel": f"{uname.system} {uname.release} {uname.version}",
            "machine": uname.machine,
            "cpu_count": os.cpu_count(),
        }
        if (os_release := _os_release()) is not None:
            record["host"]["os_release"] = os_release
        record["time_zone"] = _timezone()
        for key, getter in (
            ("boot", self._boot),
            ("users", _users),
            ("memory_total_bytes", lambda: psutil.virtual_memory().total),
        ):
            try:
                record[key] = getter()
            except Exception as exc:  # noqa: BLE001 - one failing part must not stop the rest
                problems.append(error(f"system: cannot read {key}: {exc}"))
                record[key] = None
        record["tool"] = self._tool(ctx)
        yield VolatileRecord(
            member="volatile/system.json",
            data=to_json(record),
            description="host identity, clocks, time zone, users, tool identity",
        )
        yield from problems

    @staticmethod
    def _boot() -> dict[str, Any]:
        boot = psutil.boot_time()
        return {"boot_time": iso_utc(boot), "uptime_seconds": round(time.time() - boot, 3)}

    @staticmethod
    def _tool(ctx: CollectContext) -> dict[str, Any]:
        tool: dict[str, Any] = {
            "python": sys.version,
            "command_line": list(ctx.options.get("command_line") or sys.argv),
            "pid": os.getpid(),
            "ppid": os.getppid(),
            "note": (
                "the tool's own process (pid above) and its reads are an unavoidable change "
                "to the system examined"
            ),
        }
        # name, version, frozen, sha256 ...: as the program running the collectors states them
        tool.update(ctx.tool)
        return tool
