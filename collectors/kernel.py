"""The kernel collector (Linux): modules, sysctl, ring buffer, taint, command line, BPF, init.

What the host lacks (no ``/proc/modules`` on a kernel without module support, no
``bpftool``, no readable ring buffer) is a ``skipped`` Problem whose reason starts with
"not present", never a silent gap. Parsed views keep their raw source beside them.
"""

# Paths are bytes here, so that non-UTF-8 names survive; pathlib has no bytes paths.
# ruff: noqa: PTH110, PTH112, PTH115, PTH118

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from typing import Any, ClassVar

from collectors._procfs import read_pseudo
from collectors._util import (
    describe_os_error,
    error,
    list_dir,
    read_bytes,
    skipped,
    to_json,
    to_jsonl,
    walk_entries,
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
from collectors.persistence import parse_modules
from custody.store.sources import open_source

MODULES = "/proc/modules"
SYSCTL_ROOT = b"/proc/sys"
SYSCTL_VALUE_LIMIT = 1 << 20
KMSG = "/dev/kmsg"
KMSG_RECORD_MAX = 16384  # a read smaller than one record fails with EINVAL

# Documentation/admin-guide/tainted-kernels.rst: bit -> (letter, meaning)
TAINT_FLAGS: dict[int, tuple[str, str]] = {
    0: ("P", "proprietary module was loaded"),
    1: ("F", "module was force loaded"),
    2: ("S", "kernel running on an out of specification system"),
    3: ("R", "module was force unloaded"),
    4: ("M", "processor reported a Machine Check Exception"),
    5: ("B", "bad page referenced or some unexpected page flags"),
    6: ("U", "taint requested by userspace application"),
    7: ("D", "kernel died recently, i.e. there was an OOPS or BUG"),
    8: ("A", "an ACPI table was overridden by user"),
    9: ("W", "kernel issued warning"),
    10: ("C", "staging driver was loaded"),
    11: ("I", "workaround for bug in platform firmware applied"),
    12: ("O", "externally-built (out-of-tree) module was loaded"),
    13: ("E", "unsigned module was loaded"),
    14: ("L", "soft lockup occurred"),
    15: ("K", "kernel has been live patched"),
    16: ("X", "auxiliary taint, defined for and used by distros"),
    17: ("T", "kernel was built with the struct randomization plugin"),
    18: ("N", "an in-kernel test has been run"),
    19: ("J", "userspace used a mutating debug operation in fwctl"),
}
_SYSLOG_LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")


def decode_taint(value: int) -> list[dict[str, Any]]:
    """The set bits of ``/proc/sys/kernel/tainted`` as named flags (unknown bits kept)."""
    flags = []
    for bit in range(value.bit_length()):
        if value >> bit & 1:
            letter, meaning = TAINT_FLAGS.get(bit, ("?", "unknown taint bit"))
            flags.append({"bit": bit, "letter": letter, "meaning": meaning})
    return flags


def sysctl_name(relative: bytes) -> str:
    """A /proc/sys path as sysctl(8) names it: ``/`` between levels becomes ``.``, and a ``.``
    inside a level (``eth0.100``) becomes ``/``."""
    parts = os.fsdecode(relative).split("/")
    return ".".join(p.replace(".", "/") for p in parts)


def read_sysctl(root: bytes = SYSCTL_ROOT) -> tuple[dict[str, Any], list[Problem]]:
    """Every readable value under ``root``, exact; write-only keys listed, errors per key."""
    problems: list[Problem] = []
    values: dict[str, str] = {}
    write_only: list[str] = []
    errors: dict[str, str] = {}
    for path in walk_entries(root, problems):
        name = sysctl_name(path[len(root) + 1 :])
        try:
            mode = os.lstat(path).st_mode
        except OSError as exc:
            errors[name] = describe_os_error(exc)
            continue
        if not mode & 0o444:
            write_only.append(name)
            continue
        try:
            raw = read_pseudo(path, limit=SYSCTL_VALUE_LIMIT)
        except OSError as exc:
            errors[name] = describe_os_error(exc)
            continue
        values[name] = raw.decode("utf-8", "surrogateescape")
    counts: dict[str, int] = {}
    for reason in errors.values():
        counts[reason] = counts.get(reason, 0) + 1
    record = {
        "root": os.fsdecode(root),
        "values": values,
        "write_only": write_only,
        "errors": errors,
        "error_counts": counts,
    }
    return record, problems


def read_kmsg(path: str = KMSG) -> tuple[bytes, int]:
    """Every record now in the kernel ring buffer, read without consuming it; and how many
    records were overwritten while reading (``EPIPE``)."""
    fd = open_source(path, follow=True)
    records: list[bytes] = []
    lost = 0
    try:
        while True:
            try:
                chunk = os.read(fd, KMSG_RECORD_MAX)
            except BlockingIOError:
                break
            except BrokenPipeError:
                lost += 1
                continue
            if not chunk:
                break
            records.append(chunk)
    finally:
        os.close(fd)
    return b"".join(records), lost


def parse_kmsg(raw: bytes) -> list[dict[str, Any]]:
    """/dev/kmsg records: ``prio,seq,usec,flags;message`` and `` KEY=value`` lines."""
    records: list[dict[str, Any]] = []
    for line in raw.decode("utf-8", "surrogateescape").split("\n"):
        if line.startswith(" ") and records:
            key, _, value = line[1:].partition("=")
            records[-1]["fields"][key] = value
            continue
        head, sep, message = line.partition(";")
        fields = head.split(",")
        if not sep or len(fields) < 4 or not fields[0].isdigit():
            continue
        prio = int(fields[0])
        records.append(
            {
                "seq": int(fields[1]),
                "usec": int(fields[2]),
                "level": _SYSLOG_LEVELS[prio & 7],
                "facility": prio >> 3,
                "flags": fields[3],
                "message": message,
                "fields": {},
            }
        )
    return records


def init_process() -> dict[str, Any]:
    """What PID 1 is (comm, exe, cmdline) and whether it is systemd."""
    info: dict[str, Any] = {"pid": 1}
    for key, path in (("comm", "/proc/1/comm"), ("cmdline", "/proc/1/cmdline")):
        try:
            raw = read_bytes(path)
        except OSError as exc:
            info[key] = None
            info[f"{key}_error"] = describe_os_error(exc)
            continue
        text = raw.decode("utf-8", "surrogateescape")
        info[key] = text.rstrip("\n") if key == "comm" else [a for a in text.split("\0") if a]
    try:
        info["exe"] = os.readlink("/proc/1/exe")
    except OSError as exc:
        info["exe"] = None
        info["exe_error"] = describe_os_error(exc)
    exe_name = (info["exe"] or "").rsplit("/", 1)[-1]
    # sd_booted(3): systemd runs as init exactly when /run/systemd/system/ exists.
    info["run_systemd_system"] = os.path.isdir("/run/systemd/system")
    info["systemd"] = info["run_systemd_system"] or "systemd" in (info.get("comm"), exe_name)
    return info


def sysfs_modules() -> list[str]:
    """Loadable modules as /sys/module shows them (those with an ``initstate``)."""
    return sorted(
        os.fsdecode(e.name)
        for e in list_dir(b"/sys/module", [])
        if os.path.exists(os.path.join(e.path, b"initstate"))
    )


def module_observations(
    summary: dict[str, Any], problems: list[Problem], path: str = MODULES
) -> Iterator[Observation]:
    """Loaded modules from ``path`` (raw and parsed), checked against /sys/module; a kernel
    without ``path`` is a "not present" skip."""
    in_sysfs = sysfs_modules()
    try:
        raw = read_bytes(path)
    except FileNotFoundError:
        summary["modules"] = {"present": False, "sysfs_loadable": in_sysfs}
        problems.append(
            skipped(
                f"not present: {path} does not exist (kernel built without "
                f"loadable module support); /sys/module lists {len(in_sysfs)} loadable",
                path,
            )
        )
        return
    except OSError as exc:
        problems.append(error(f"kernel: cannot read: {describe_os_error(exc)}", path))
        return
    modules = parse_modules(raw.decode("utf-8", "surrogateescape"))
    listed = {m["name"] for m in modules}
    summary["modules"] = {
        "present": True,
        "count": len(modules),
        # A module /sys/module knows but /proc/modules hides is a rootkit's mark.
        "in_sysfs_not_in_proc": [n for n in in_sysfs if n not in listed],
    }
    yield VolatileRecord("volatile/kernel_modules.txt", raw, f"{path}, as read")
    yield VolatileRecord(
        "volatile/kernel_modules.jsonl",
        to_jsonl(modules),
        f"{len(modules)} loaded modules parsed from volatile/kernel_modules.txt",
    )


@register_collector
class Kernel(Collector):
    """Kernel state: modules, sysctl values, ring buffer, taint flags, command line, BPF, init."""

    name = "kernel"
    volatility = Volatility.KERNEL
    description = (
        "Kernel: loaded modules, sysctl values, ring buffer (dmesg), taint flags, command "
        "line, BPF programs (bpftool), init system (measured here: 0.15 s, 0.15 MB)"
    )
    options_schema: ClassVar[dict[str, Any]] = {
        "modules": bool,
        "sysctl": bool,
        "dmesg": bool,
        "bpf": bool,
    }

    def check_compatible(self, host: Host) -> None:
        if host.system != "Linux":
            raise NotCompatible(f"reads Linux /proc and /sys; this host runs {host.system}")

    def collect(self, ctx: CollectContext) -> Iterator[Observation]:
        opt = {k: bool(ctx.options.get(k, True)) for k in self.options_schema}
        problems: list[Problem] = []
        summary: dict[str, Any] = {}
        for key, path in (("version", "/proc/version"), ("cmdline", "/proc/cmdline")):
            summary[key] = self._text(path, problems)
        tainted = self._text("/proc/sys/kernel/tainted", problems)
        if tainted is not None and tainted.strip().isdigit():
            summary["taint"] = {"value": int(tainted), "flags": decode_taint(int(tainted))}
        summary["init"] = init_process()
        if opt["modules"]:
            yield from module_observations(summary, problems)
        if opt["sysctl"]:
            ctx.status("kernel: sysctl")
            record, walk_problems = read_sysctl()
            problems.extend(walk_problems)
            summary["sysctl"] = {
                "values": len(record["values"]),
                "write_only": len(record["write_only"]),
                "errors": record["error_counts"],
            }
            yield VolatileRecord(
                "volatile/sysctl.json",
                to_json(record),
                f"{len(record['values'])} sysctl values under /proc/sys, exact text "
                f"({len(record['write_only'])} write-only keys listed, "
                f"{len(record['errors'])} unreadable with their reasons)",
            )
        if opt["dmesg"]:
            yield from self._dmesg(summary, problems)
        if opt["bpf"]:
            if which("bpftool"):
                summary["bpf"] = "bpftool prog show --json"
                yield CommandRecord(
                    "volatile/bpf_programs.json",
                    ("bpftool", "prog", "show", "--json"),
                    "loaded BPF programs (bpftool prog show --json)",
                    timeout_s=60.0,
                )
            else:
                summary["bpf"] = "not present: bpftool"
                problems.append(
                    skipped("not present: bpftool is not installed; BPF programs not listed")
                )
        yield VolatileRecord(
            "volatile/kernel.json",
            to_json(summary),
            "kernel version, command line, taint flags decoded, init process, and what "
            "the other kernel members hold",
        )
        yield from problems

    @staticmethod
    def _text(path: str, problems: list[Problem]) -> str | None:
        try:
            return read_bytes(path).decode("utf-8", "surrogateescape")
        except OSError as exc:
            problems.append(error(f"kernel: cannot read: {describe_os_error(exc)}", path))
            return None

    def _dmesg(self, summary: dict[str, Any], problems: list[Problem]) -> Iterator[Observation]:
        try:
            raw, lost = read_kmsg()
        except OSError as exc:
            reason = describe_os_error(exc)
            if which("dmesg"):
                summary["dmesg"] = {"source": "dmesg --raw", "kmsg_error": reason}
                yield CommandRecord(
                    "volatile/dmesg.txt",
                    ("dmesg", "--raw"),
                    f"kernel ring buffer (dmesg --raw; {KMSG} not readable: {reason})",
                    timeout_s=60.0,
                )
                return
            kind = skipped if exc.errno == errno.ENOENT else error
            problems.append(
                kind(f"not present: no readable {KMSG} ({reason}) and no dmesg command", KMSG)
            )
            return
        records = parse_kmsg(raw)
        summary["dmesg"] = {"source": KMSG, "records": len(records), "overwritten": lost}
        yield VolatileRecord(
            "volatile/kmsg.txt", raw, f"kernel ring buffer as read from {KMSG} (not consumed)"
        )
        yield VolatileRecord(
            "volatile/kmsg.jsonl",
            to_jsonl(records),
            f"{len(records)} ring buffer records parsed from volatile/kmsg.txt"
            + (f"; {lost} overwritten while read" if lost else ""),
        )
