"""Linux ``/proc/PID`` details for the processes collector: environment, maps, descriptors.

Every reader takes a pid and returns a JSON-ready record with the raw source kept beside
its parsed view; a read the kernel refuses raises ``OSError`` for the caller to record.
Sockets are named by joining a descriptor's inode with ``/proc/PID/net/*`` tables, read
once per network namespace (:class:`SocketTables`).
"""

# Paths are bytes or /proc strings here; pathlib adds nothing for magic links.
# ruff: noqa: PTH115, PTH116, PTH208

from __future__ import annotations

import base64
import os
import socket
import stat
import struct
from typing import Any

from collectors._util import describe_os_error
from custody.store.sources import open_source

DELETED = " (deleted)"
MEMFD = "/memfd:"
ENVIRON_LIMIT = 16 << 20  # an environment is at most a few MiB (ARG_MAX)
_PSEUDO_CHUNK = 64 << 10

_TCP_STATES = {
    "01": "ESTABLISHED",
    "02": "SYN_SENT",
    "03": "SYN_RECV",
    "04": "FIN_WAIT1",
    "05": "FIN_WAIT2",
    "06": "TIME_WAIT",
    "07": "CLOSE",
    "08": "CLOSE_WAIT",
    "09": "LAST_ACK",
    "0A": "LISTEN",
    "0B": "CLOSING",
    "0C": "NEW_SYN_RECV",
}
_UNIX_TYPES = {"0001": "STREAM", "0002": "DGRAM", "0005": "SEQPACKET"}
_INET_TABLES = ("tcp", "tcp6", "udp", "udp6", "udplite", "udplite6", "raw", "raw6")
_ACCESS = {os.O_RDONLY: "r", os.O_WRONLY: "w", os.O_RDWR: "rw"}


def read_pseudo(path: bytes | str, *, limit: int = 16 << 20) -> bytes:
    """A procfs or sysfs file read to its end (at most ``limit`` bytes), 64 KiB at a time.

    Not ``_util.read_bytes``, whose 1 MiB read buffer costs more than a small pseudo-file
    (0.8 s instead of 0.06 s for the 1,300 values of /proc/sys here).
    """
    fd = open_source(path)
    try:
        parts: list[bytes] = []
        size = 0
        while size < limit and (chunk := os.read(fd, min(_PSEUDO_CHUNK, limit - size))):
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


def environ(pid: int) -> dict[str, Any]:
    """``/proc/PID/environ``: the exact bytes (base64) and the NUL-split variables."""
    raw = read_pseudo(f"/proc/{pid}/environ", limit=ENVIRON_LIMIT)
    parts = raw.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return {
        "pid": pid,
        "size": len(raw),
        "raw_b64": base64.b64encode(raw).decode("ascii"),
        "variables": [p.decode("utf-8", "surrogateescape") for p in parts],
    }


def read_maps(pid: int) -> str:
    """``/proc/PID/maps`` as text (the kernel escapes a newline in a path as ``\\012``)."""
    return read_pseudo(f"/proc/{pid}/maps").decode("utf-8", "surrogateescape")


def parse_maps(text: str) -> list[dict[str, Any]]:
    """Each mapping: start, end (hex), perms, offset, dev, inode, path, deleted."""
    mappings = []
    for line in text.splitlines():
        fields = line.split(None, 5)
        if len(fields) < 5 or "-" not in fields[0]:
            continue
        start, end = fields[0].split("-", 1)
        path = fields[5] if len(fields) == 6 else ""
        deleted = path.endswith(DELETED)
        mappings.append(
            {
                "start": start,
                "end": end,
                "perms": fields[1],
                "offset": fields[2],
                "dev": fields[3],
                "inode": int(fields[4]),
                "path": path[: -len(DELETED)] if deleted else path,
                "deleted": deleted,
            }
        )
    return mappings


def libraries(mappings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Unique file-backed mappings (shared objects, the executable, mapped files), in order."""
    found: dict[tuple[str, str, int], dict[str, Any]] = {}
    for m in mappings:
        if m["inode"] == 0 or not m["path"].startswith("/"):
            continue
        key = (m["path"], m["dev"], m["inode"])
        lib = found.setdefault(
            key,
            {
                "path": m["path"],
                "dev": m["dev"],
                "inode": m["inode"],
                "deleted": m["deleted"],
                "memfd": m["path"].startswith(MEMFD),
                "executable": False,
            },
        )
        lib["executable"] = lib["executable"] or "x" in m["perms"]
    return list(found.values())


def _ipv4(hex_addr: str) -> str:
    return socket.inet_ntop(socket.AF_INET, struct.pack("=I", int(hex_addr, 16)))


def _ipv6(hex_addr: str) -> str:
    words = [int(hex_addr[i : i + 8], 16) for i in range(0, 32, 8)]
    return socket.inet_ntop(socket.AF_INET6, struct.pack("=4I", *words))


def _endpoint(text: str) -> dict[str, Any]:
    addr, port = text.rsplit(":", 1)
    ip = _ipv4(addr) if len(addr) == 8 else _ipv6(addr)
    return {"ip": ip, "port": int(port, 16)}


def parse_inet_table(proto: str, text: str) -> dict[int, dict[str, Any]]:
    """``/proc/net/{tcp,udp,raw}[6]`` by socket inode."""
    sockets: dict[int, dict[str, Any]] = {}
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 10 or not f[9].isdigit():
            continue
        state = f[3].upper()
        sockets[int(f[9])] = {
            "proto": proto,
            "local": _endpoint(f[1]),
            "remote": _endpoint(f[2]),
            "state": _TCP_STATES.get(state, state) if proto.startswith("tcp") else state,
            "uid": int(f[7]),
        }
    return sockets


def parse_unix_table(text: str) -> dict[int, dict[str, Any]]:
    """``/proc/net/unix`` by socket inode (a path starting ``@`` is abstract)."""
    sockets: dict[int, dict[str, Any]] = {}
    for line in text.splitlines()[1:]:
        f = line.split(None, 7)
        if len(f) < 7 or not f[6].isdigit():
            continue
        sockets[int(f[6])] = {
            "proto": "unix",
            "type": _UNIX_TYPES.get(f[4], f[4]),
            "state": f[5],
            "path": f[7] if len(f) == 8 else None,
        }
    return sockets


def parse_inode_last_table(proto: str, text: str) -> dict[int, dict[str, Any]]:
    """``/proc/net/{packet,netlink}``: columns by header name, inode last."""
    lines = text.splitlines()
    if not lines:
        return {}
    header = lines[0].split()
    sockets: dict[int, dict[str, Any]] = {}
    for line in lines[1:]:
        f = line.split()
        if len(f) != len(header) or not f[-1].isdigit():
            continue
        row = dict(zip(header, f, strict=True))
        row.pop("sk", None)
        row.pop("Inode", None)
        sockets[int(f[-1])] = {"proto": proto, **row}
    return sockets


class SocketTables:
    """Socket inode -> what ``/proc/PID/net/*`` says of it, read once per network namespace."""

    def __init__(self) -> None:
        self._by_ns: dict[str, dict[int, dict[str, Any]]] = {}
        self.errors: dict[str, str] = {}

    def lookup(self, pid: int, inode: int) -> dict[str, Any] | None:
        try:
            ns = os.readlink(f"/proc/{pid}/ns/net")
        except OSError:
            ns = f"pid {pid}"
        table = self._by_ns.get(ns)
        if table is None:
            table = self._by_ns[ns] = self._read(pid, ns)
        return table.get(inode)

    def _read(self, pid: int, ns: str) -> dict[int, dict[str, Any]]:
        table: dict[int, dict[str, Any]] = {}
        readers: list[tuple[str, Any]] = [
            *((name, lambda t, n=name: parse_inet_table(n, t)) for name in _INET_TABLES),
            ("unix", parse_unix_table),
            ("packet", lambda t: parse_inode_last_table("packet", t)),
            ("netlink", lambda t: parse_inode_last_table("netlink", t)),
        ]
        for name, parse in readers:
            path = f"/proc/{pid}/net/{name}"
            try:
                text = read_pseudo(path).decode("utf-8", "surrogateescape")
            except FileNotFoundError:
                continue  # protocol not built into this kernel
            except OSError as exc:
                self.errors[f"{ns} {name}"] = describe_os_error(exc)
                continue
            table.update(parse(text))
        return table


def _fd_type(target: str, st: os.stat_result | None) -> str:
    if target.startswith("socket:["):
        return "socket"
    if target.startswith("pipe:["):
        return "pipe"
    if target.startswith("anon_inode:"):
        return "anon_inode"
    if target.startswith(MEMFD):
        return "memfd"
    if st is None:
        return "unknown"
    for test, name in (
        (stat.S_ISREG, "file"),
        (stat.S_ISDIR, "directory"),
        (stat.S_ISCHR, "char-device"),
        (stat.S_ISBLK, "block-device"),
        (stat.S_ISFIFO, "fifo"),
        (stat.S_ISSOCK, "socket"),
    ):
        if test(st.st_mode):
            return name
    return "other"


def _fdinfo(pid: int, fd: str) -> tuple[str | None, dict[str, Any]]:
    try:
        raw = read_pseudo(f"/proc/{pid}/fdinfo/{fd}").decode("utf-8", "surrogateescape")
    except OSError:
        return None, {}
    parsed: dict[str, Any] = {}
    for line in raw.splitlines():
        key, _, value = line.partition(":")
        if key in ("pos", "mnt_id", "ino") and value.strip().isdigit():
            parsed[key] = int(value)
        elif key == "flags":
            flags = int(value.strip(), 8)
            parsed["flags"] = value.strip()
            parsed["access"] = _ACCESS.get(flags & os.O_ACCMODE, "?")
    return raw, parsed


def descriptors(pid: int, sockets: SocketTables) -> list[dict[str, Any]]:
    """Every open descriptor of ``pid``, lsof-like; raises OSError if the fd list is refused."""
    rows: list[dict[str, Any]] = []
    base = f"/proc/{pid}/fd"
    for fd in sorted(os.listdir(base), key=lambda n: int(n) if n.isdigit() else -1):
        path = f"{base}/{fd}"
        try:
            target = os.readlink(path)
        except FileNotFoundError:
            continue  # closed since the listing (the listing's own descriptor among them)
        except OSError as exc:
            rows.append({"fd": int(fd), "error": describe_os_error(exc)})
            continue
        try:
            st: os.stat_result | None = os.stat(path)
        except OSError:
            st = None
        deleted = target.endswith(DELETED)
        row: dict[str, Any] = {
            "fd": int(fd),
            "target": target,
            "type": _fd_type(target, st),
            "deleted": deleted,
        }
        if st is not None:
            row.update(
                dev=f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}",
                inode=st.st_ino,
                size=st.st_size if stat.S_ISREG(st.st_mode) else None,
                links=st.st_nlink,
            )
        raw, parsed = _fdinfo(pid, fd)
        row.update(parsed)
        row["fdinfo_raw"] = raw
        if row["type"] == "socket":
            inode = int(target[8:-1]) if target.startswith("socket:[") else row.get("inode")
            row["socket"] = sockets.lookup(pid, inode) if isinstance(inode, int) else None
        rows.append(row)
    return rows


def exe_link(pid: int) -> str:
    """The raw target of ``/proc/PID/exe`` (with any `` (deleted)`` suffix)."""
    return os.readlink(f"/proc/{pid}/exe")


def exe_not_on_disk(pid: int, link: str) -> str | None:
    """Why what ``pid`` runs is not the file its path names, or None when it is.

    ``memfd`` (an anonymous memory file), ``deleted`` (no link left to it), ``moved`` (its
    path is gone, the file lives on under another name) or ``replaced`` (the path now names
    another file).
    """
    if link.startswith(MEMFD):
        return "memfd"
    try:
        running = os.stat(f"/proc/{pid}/exe")
    except OSError:
        return None
    if running.st_nlink == 0:
        return "deleted"
    original = link[: -len(DELETED)] if link.endswith(DELETED) else link
    try:
        on_disk = os.stat(original)
    except OSError:
        return "moved"
    if (on_disk.st_dev, on_disk.st_ino) != (running.st_dev, running.st_ino):
        return "replaced"
    return None
