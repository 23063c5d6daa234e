"""The system collector: host identity, clocks, users, and the tool's own identity."""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import re
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import psutil

from app.version import __version__
from collectors._util import error, iso_utc, ns_string, read_bytes, read_text, sha256_file, to_json
from collectors.base import (
    CollectContext,
    Collector,
    Observation,
    Problem,
    VolatileRecord,
    Volatility,
    register_collector,
)

#: The packages whose ``.py`` files make up the tool when it runs from source.
SOURCE_PACKAGES = ("app", "collectors", "custody")


def _source_root() -> Path:
    return Path(__file__).resolve().parent.parent


def tool_sha256() -> tuple[str, str]:
    """``(path, sha256 hex)`` identifying the running tool.

    Frozen (PyInstaller): the SHA-256 of ``sys.executable``, the one-file binary.
    From source: the path of the source root and a SHA-256 over every ``.py`` file of
    ``app/``, ``collectors/`` and ``custody/`` (recursively, ``__pycache__`` excluded),
    taken in order of their relative POSIX paths; each file contributes
    ``relpath (UTF-8) + b"\\0" + decimal length + b"\\0" + content``, so no two
    different trees give the same byte stream.
    """
    if getattr(sys, "frozen", False):
        return sys.executable, sha256_file(sys.executable, follow=True)
    root = _source_root()
    files: list[tuple[str, Path]] = []
    for package in SOURCE_PACKAGES:
        for path in (root / package).rglob("*.py"):
            if "__pycache__" not in path.parts:
                files.append((path.relative_to(root).as_posix(), path))
    digest = hashlib.sha256()
    for rel, path in sorted(files):
        content = read_bytes(os.fsencode(path))
        digest.update(rel.encode() + b"\0" + str(len(content)).encode() + b"\0" + content)
    return str(root), digest.hexdigest()


#: File systems that live in memory: unpacking there leaves nothing on a disk.
MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})


def filesystem_of(path: str) -> str | None:
    """The type of the file system holding ``path`` (Linux: /proc/self/mountinfo), or None."""
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    real = os.path.realpath(path)
    best, fstype = "", None
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        try:
            dash = fields.index("-")
        except ValueError:
            continue
        # Mount points escape space, tab, newline and backslash as octal (\040 ...).
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4])
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, fstype = point, fields[dash + 1]
    return fstype


@functools.cache
def tool_footprint() -> dict[str, Any] | None:
    """Where this one-file binary unpacked itself on this system, and how much it wrote there.

    A PyInstaller one-file binary writes its libraries into ``$TMPDIR`` (default /tmp) at
    every start: a change to the system examined unless that is in memory (tmpfs) or on the
    examiner's drive. ``None`` when not running from such a binary. Measured once a process:
    the CLI's note, the system record and the run's first ledger entry all report it.
    """
    meipass = getattr(sys, "_MEIPASS", None) if getattr(sys, "frozen", False) else None
    # One-file builds unpack into a fresh _MEIxxxxxx directory; one-folder builds do not.
    if meipass is None or not Path(meipass).name.startswith("_MEI"):
        return None
    return footprint_of(meipass)


def footprint_of(unpack_dir: str) -> dict[str, Any] | None:
    """Bytes, files and file system of the directory ``unpack_dir``; None if it is not one."""
    if not Path(unpack_dir).is_dir():
        return None
    files = size = 0
    for top, _dirs, names in os.walk(unpack_dir):
        for name in names:
            try:
                size += (Path(top) / name).lstat().st_size
            except OSError:
                continue
            files += 1
    fstype = filesystem_of(unpack_dir)
    return {
        "unpacked_to": unpack_dir,
        "bytes": size,
        "files": files,
        "filesystem": fstype,
        "in_memory": fstype in MEMORY_FILESYSTEMS if fstype is not None else None,
    }


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
            "utc_ns": ns_string(wall_ns),
            "utc": iso_utc(wall_ns / 1e9),
            "monotonic_ns": ns_string(time.monotonic_ns()),
        }
        uname = platform.uname()
        record["host"] = {
            "hostname": socket.gethostname(),
            "fqdn": socket.getfqdn(),
            "os": uname.system,
            "platform": platform.platform(),
            "release": uname.release,
            "version": uname.version,
            "kernel": f"{uname.system} {uname.release} {uname.version}",
            "machine": uname.machine,
            "cpu_count": os.cpu_count(),
        }
        if hasattr(platform, "freedesktop_os_release"):
            try:
                record["host"]["os_release"] = platform.freedesktop_os_release()
            except OSError:
                pass
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
            "name": "chainproof",
            "version": __version__,
            "python": sys.version,
            "frozen": bool(getattr(sys, "frozen", False)),
            "command_line": list(ctx.options.get("command_line") or sys.argv),
            "pid": os.getpid(),
            "ppid": os.getppid(),
            "note": (
                "the tool's own process (pid above) and its reads are an unavoidable change "
                "to the system examined"
            ),
        }
        if tool["frozen"]:
            tool["unpacked"] = tool_footprint()
        try:
            tool["hashed_path"], tool["sha256"] = tool_sha256()
            tool["sha256_of"] = "executable" if tool["frozen"] else "source files (.py)"
        except OSError as exc:
            tool["sha256"] = None
            tool["sha256_error"] = str(exc)
        return tool
