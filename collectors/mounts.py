"""The mounts collector (Linux): mount tables of every mount namespace, and block devices.

``/proc/PID/mountinfo`` is kept as read beside its parsed view, once per mount namespace
(a container's mounts differ from the host's). Block devices come from ``/sys/class/block``
and, when it is installed, ``lsblk --json`` (its command, exit status and standard error
are recorded by the run); without ``lsblk`` a "not present" skip says so.
"""

# Paths are bytes or /proc strings here; pathlib adds nothing for sysfs attributes.
# ruff: noqa: PTH110, PTH115, PTH118, PTH119, PTH120

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any, ClassVar

from collectors._util import (
    describe_os_error,
    error,
    list_dir,
    read_bytes,
    skipped,
    to_jsonl,
    which,
)
from collectors.base import (
    CollectContext,
    Collector,
    CommandRecord,
    Host,
    NotCompatible,
    Observation,
    Problem,
    VolatileRecord,
    Volatility,
    register_collector,
)

SECTOR = 512  # /sys/class/block/*/size counts 512-byte sectors whatever the device's own
_OCTAL = re.compile(rb"\\([0-7]{3})")
_BLOCK_ATTRS = ("dev", "size", "removable", "ro", "partition", "start", "serial", "wwid")
_DEVICE_ATTRS = ("model", "vendor", "serial", "rev", "wwid")


def unescape(field: bytes) -> str:
    """A mountinfo field with the kernel's octal escapes (``\\040`` space ...) undone."""
    raw = _OCTAL.sub(lambda m: bytes([int(m.group(1), 8)]), field)
    return raw.decode("utf-8", "surrogateescape")


def parse_mountinfo(raw: bytes) -> list[dict[str, Any]]:
    """``/proc/PID/mountinfo`` lines as records (proc(5) field names)."""
    mounts = []
    for line in raw.split(b"\n"):
        fields = line.split(b" ")
        if b"-" not in fields or len(fields) < 10:
            continue
        dash = fields.index(b"-")
        major, _, minor = fields[2].partition(b":")
        mounts.append(
            {
                "mount_id": int(fields[0]),
                "parent_id": int(fields[1]),
                "major": int(major),
                "minor": int(minor),
                "root": unescape(fields[3]),
                "mount_point": unescape(fields[4]),
                "mount_options": fields[5].decode("ascii", "replace").split(","),
                "optional": [f.decode("ascii", "replace") for f in fields[6:dash]],
                "fstype": unescape(fields[dash + 1]),
                "source": unescape(fields[dash + 2]),
                "super_options": unescape(b" ".join(fields[dash + 3 :])).split(","),
            }
        )
    return mounts


def mount_namespaces() -> tuple[dict[str, int], dict[str, list[int]]]:
    """Each mount namespace (``mnt:[inode]``) with the first pid seen in it, ours first; and
    the pids whose namespace could not be read, by reason (a vanished process is not one)."""
    spaces: dict[str, int] = {}
    refused: dict[str, list[int]] = {}
    try:
        spaces[os.readlink("/proc/self/ns/mnt")] = os.getpid()
    except OSError as exc:
        refused.setdefault(describe_os_error(exc), []).append(os.getpid())
    pids = sorted(int(e.name) for e in list_dir(b"/proc", []) if e.name.isdigit())
    for pid in pids:
        try:
            spaces.setdefault(os.readlink(f"/proc/{pid}/ns/mnt"), pid)
        except FileNotFoundError:
            continue  # gone since the listing
        except OSError as exc:
            if os.path.exists(f"/proc/{pid}"):
                refused.setdefault(describe_os_error(exc), []).append(pid)
    return spaces, refused


def _attr(directory: bytes, name: str) -> str | None:
    try:
        raw = read_bytes(os.path.join(directory, os.fsencode(name)), follow=True, limit=4096)
    except OSError:
        return None
    return raw.decode("utf-8", "surrogateescape").strip()


def _number(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


def block_devices(problems: list[Problem]) -> list[dict[str, Any]]:
    """Every entry of /sys/class/block: disks and partitions with size, model, flags."""
    disks = {e.name for e in list_dir(b"/sys/block", problems)}
    devices = []
    for entry in list_dir(b"/sys/class/block", problems):
        path = entry.path
        attrs = {a: _attr(path, a) for a in _BLOCK_ATTRS}
        flags = {a: None if attrs[a] is None else attrs[a] == "1" for a in ("removable", "ro")}
        size = _number(attrs["size"])
        record: dict[str, Any] = {
            "name": os.fsdecode(entry.name),
            "sysfs": os.fsdecode(os.path.realpath(path)),
            "dev": attrs["dev"],
            "whole_disk": entry.name in disks,
            "size_bytes": None if size is None else size * SECTOR,
            "removable": flags["removable"],
            "read_only": flags["ro"],
            "partition": _number(attrs["partition"]),
            "start_sector": _number(attrs["start"]),
            "serial": attrs["serial"],
            "wwid": attrs["wwid"],
        }
        if record["partition"] is not None:
            record["parent"] = os.path.basename(os.path.dirname(os.path.realpath(path))).decode()
        device = os.path.join(path, b"device")
        for name in _DEVICE_ATTRS:
            value = _attr(device, name)
            if value is not None:
                record[f"device_{name}"] = value
        for rel in ("holders", "slaves"):
            record[rel] = [
                os.fsdecode(e.name) for e in list_dir(os.path.join(path, rel.encode()), [])
            ]
        devices.append(record)
    return devices


@register_collector
class Mounts(Collector):
    """Mount tables of every mount namespace and the block devices under them."""

    name = "mounts"
    volatility = Volatility.MOUNTS
    description = (
        "Mounts: mountinfo of every mount namespace (raw and parsed), block devices "
        "(/sys/class/block, lsblk --json) (measured here: 0.05 s with lsblk, 0.02 MB)"
    )
    options_schema: ClassVar[dict[str, Any]] = {"namespaces": bool, "lsblk": bool}

    def check_compatible(self, host: Host) -> None:
        if host.system != "Linux":
            raise NotCompatible(f"reads Linux /proc and /sys; this host runs {host.system}")

    def collect(self, ctx: CollectContext) -> Iterator[Observation]:
        problems: list[Problem] = []
        spaces, refused = mount_namespaces()
        if not ctx.options.get("namespaces", True):
            spaces, refused = dict(list(spaces.items())[:1]), {}
        for reason, pids in refused.items():
            shown = ", ".join(map(str, pids[:20])) + (" ..." if len(pids) > 20 else "")
            problems.append(
                error(
                    f"mounts: mount namespace of {len(pids)} processes not known: {reason} "
                    f"(pids {shown}); their mounts may be missing"
                )
            )
        raw_parts: list[bytes] = []
        mounts: list[dict[str, Any]] = []
        for namespace, pid in spaces.items() or [("", os.getpid())]:
            path = f"/proc/{pid}/mountinfo"
            try:
                raw = read_bytes(path)
            except OSError as exc:
                problems.append(error(f"mounts: cannot read: {describe_os_error(exc)}", path))
                continue
            raw_parts.append(f"==> {path} ({namespace}) <==\n".encode() + raw)
            mounts.extend({"namespace": namespace, "pid": pid, **m} for m in parse_mountinfo(raw))
        yield VolatileRecord(
            "volatile/mountinfo.txt",
            b"".join(raw_parts),
            f"/proc/PID/mountinfo of {len(raw_parts)} mount namespaces, as read",
        )
        yield VolatileRecord(
            "volatile/mounts.jsonl",
            to_jsonl(mounts),
            f"{len(mounts)} mounts parsed from volatile/mountinfo.txt, with their namespace",
        )
        try:
            partitions = read_bytes("/proc/partitions")
            yield VolatileRecord("volatile/partitions.txt", partitions, "/proc/partitions")
        except OSError as exc:
            problems.append(
                error(f"mounts: cannot read: {describe_os_error(exc)}", "/proc/partitions")
            )
        devices = block_devices(problems)
        yield VolatileRecord(
            "volatile/block_devices.jsonl",
            to_jsonl(devices),
            f"{len(devices)} block devices and partitions (/sys/class/block)",
        )
        if ctx.options.get("lsblk", True):
            if which("lsblk"):
                yield CommandRecord(
                    "volatile/lsblk.json",
                    ("lsblk", "--json", "--bytes", "--output-all"),
                    "block devices (lsblk --json --bytes --output-all)",
                    timeout_s=60.0,
                )
            else:
                problems.append(skipped("not present: lsblk is not installed"))
        yield from problems
