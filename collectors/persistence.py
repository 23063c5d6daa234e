"""The persistence collector: what starts by itself (services, timers, cron, autoruns, modules)."""

# Paths are bytes here, so that non-UTF-8 names survive; pathlib has no bytes paths.
# ruff: noqa: PTH112, PTH113, PTH114, PTH115, PTH118, PTH119, PTH120

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

from collectors._util import (
    error,
    list_dir,
    read_text,
    skipped,
    to_jsonl,
    walk_entries,
    which,
)
from collectors.base import (
    CollectContext,
    Collector,
    CommandRecord,
    FileTarget,
    Observation,
    Problem,
    VolatileRecord,
    Volatility,
    register_collector,
)
from custody.store.accounts import home_directories

# Unit directories whose content is local configuration (collected whole) ...
SYSTEMD_CONFIG_DIRS = (
    "/etc/systemd/system",
    "/etc/systemd/user",
    "/run/systemd/system",
    "/run/systemd/transient",
)
# ... and those shipped by packages (only listed, and enabled units collected).
SYSTEMD_VENDOR_DIRS = (
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/usr/local/lib/systemd/system",
    "/lib/systemd/user",
    "/usr/lib/systemd/user",
)
CRON_FILES = (
    "/etc/crontab",
    "/etc/anacrontab",
    "/etc/cron.allow",
    "/etc/cron.deny",
    "/etc/at.allow",
    "/etc/at.deny",
)
CRON_TREES = ("/var/spool/cron", "/var/spool/anacron", "/var/spool/at")
FLAT_DIRS = {
    "persistence:rc": ("/etc/init.d", "/etc/rc.d", "/etc/rc.d/init.d"),
    "persistence:modules": ("/etc/modules-load.d", "/etc/modprobe.d"),
    "persistence:ld.so": ("/etc/ld.so.conf.d",),
    "persistence:shell": ("/etc/profile.d", "/etc/zsh"),
    "persistence:autostart": ("/etc/xdg/autostart",),
    "persistence:udev": ("/etc/udev/rules.d",),
}
SINGLE_FILES = {
    "persistence:rc": ("/etc/rc.local",),
    "persistence:modules": ("/etc/modules",),
    "persistence:ld.so": ("/etc/ld.so.preload", "/etc/ld.so.conf"),
    "persistence:shell": (
        "/etc/profile",
        "/etc/bash.bashrc",
        "/etc/bashrc",
        "/etc/environment",
        "/etc/zshrc",
        "/etc/zprofile",
        "/etc/zshenv",
    ),
}
USER_SHELL_FILES = (
    ".bashrc",
    ".profile",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".zshrc",
    ".zprofile",
    ".zshenv",
    ".zlogin",
)
RUN_KEYS = (
    r"HKLM\Software\Microsoft\Windows\CurrentVersion\Run",
    r"HKLM\Software\Microsoft\Windows\CurrentVersion\RunOnce",
    r"HKLM\Software\WOW6432Node\Microsoft\Windows\CurrentVersion\Run",
    r"HKLM\Software\WOW6432Node\Microsoft\Windows\CurrentVersion\RunOnce",
    r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run",
    r"HKCU\Software\Microsoft\Windows\CurrentVersion\RunOnce",
    r"HKLM\Software\Microsoft\Windows NT\CurrentVersion\Winlogon",
)


def user_homes() -> list[bytes]:
    """Home directories of every account in the password database and every /home/* entry."""
    homes: list[bytes] = []
    if sys.platform != "win32":
        homes.extend(os.fsencode(home) for home in home_directories())
    for base in (b"/home", b"/Users"):
        for entry in list_dir(base, []):
            if entry.is_dir:
                homes.append(entry.path)
    unique: dict[bytes, None] = {}
    for home in homes:
        if home not in (b"/", b"/nonexistent") and os.path.isdir(home):
            unique.setdefault(os.path.normpath(home), None)
    return list(unique)


def parse_modules(text: str) -> list[dict[str, Any]]:
    """``/proc/modules`` as records (the address reads 0 without privileges)."""
    modules = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 6:
            continue
        modules.append(
            {
                "name": f[0],
                "size": int(f[1]),
                "refcount": int(f[2]) if f[2].isdigit() else f[2],
                "used_by": [m for m in f[3].split(",") if m and m != "-"],
                "state": f[4],
                "address": f[5],
                "taint": f[6].strip("()") if len(f) > 6 else "",
            }
        )
    return modules


def _no_systemd() -> str:
    """Why systemd is not running as init here (sd_booted(3): no /run/systemd/system)."""
    try:
        init = read_text("/proc/1/comm").strip()
    except OSError as exc:
        init = f"unknown ({exc.strerror})"
    if not which("systemctl"):
        return f"systemd (no systemctl; PID 1 is {init})"
    return f"systemd is not the init system (PID 1 is {init}, no /run/systemd/system)"


class _Targets:
    """Yields each path once, as a FileTarget with its rule, only if it exists."""

    def __init__(self) -> None:
        self.seen: set[bytes] = set()

    def __call__(self, paths: Iterable[bytes | str], rule: str) -> Iterator[FileTarget]:
        for path in paths:
            raw = os.fsencode(path)
            if raw not in self.seen and os.path.lexists(raw):
                self.seen.add(raw)
                yield FileTarget(raw, rule)


def _unit_record(path: bytes, directory: str) -> dict[str, Any]:
    st = os.lstat(path)
    record: dict[str, Any] = {
        "path": os.fsdecode(path),
        "directory": directory,
        "name": os.fsdecode(os.path.basename(path)),
        "is_link": os.path.islink(path),
        "size": st.st_size,
        "mtime_ns": str(st.st_mtime_ns),
    }
    if record["is_link"]:
        record["link_target"] = os.fsdecode(os.readlink(path))
    return record


@register_collector
class Persistence(Collector):
    """Services, timers, scheduled tasks, cron, autoruns, kernel modules, shell profiles, keys."""

    name = "persistence"
    volatility = Volatility.PERSISTENCE
    description = "Services, timers, cron/scheduled tasks, autoruns, kernel modules, shell profiles"
    options_schema: ClassVar[dict[str, Any]] = {}

    def collect(self, ctx: CollectContext) -> Iterator[Observation]:
        problems: list[Problem] = []
        if ctx.host.system == "Linux":
            yield from self._linux(problems)
        elif ctx.host.system == "Windows":
            yield from self._windows(problems)
        elif ctx.host.system == "Darwin":
            yield from self._darwin(problems)
        yield from problems

    # --- Linux ---------------------------------------------------------------------------

    def _linux(self, problems: list[Problem]) -> Iterator[Observation]:
        targets = _Targets()
        yield from self._systemd(targets, problems)
        if which("systemctl") and os.path.isdir("/run/systemd/system"):  # PID 1 is systemd
            for what in ("timers", "units", "unit-files"):
                yield CommandRecord(
                    f"volatile/persistence_systemctl_{what.replace('-', '_')}.txt",
                    ("systemctl", f"list-{what}", "--all", "--no-pager", "--no-legend")
                    if what != "unit-files"
                    else ("systemctl", "list-unit-files", "--no-pager", "--no-legend"),
                    f"systemctl list-{what}",
                )
        else:
            problems.append(skipped(f"not present: {_no_systemd()}; systemctl listings not taken"))
        yield from targets(CRON_FILES, "persistence:cron")
        for entry in list_dir(b"/etc", problems):
            if entry.name.startswith(b"cron.") and entry.is_dir:
                yield from targets(walk_entries(entry.path, problems, False), "persistence:cron")
        for tree in CRON_TREES:
            yield from targets(walk_entries(os.fsencode(tree), problems), "persistence:cron")
        for rule, paths in SINGLE_FILES.items():
            yield from targets(paths, rule)
        for rule, dirs in FLAT_DIRS.items():
            for directory in dirs:
                yield from targets(walk_entries(os.fsencode(directory), problems, False), rule)
        for entry in list_dir(b"/etc", problems):  # SysV runlevel links: /etc/rc0.d ... rcS.d
            if entry.name.startswith(b"rc") and entry.name.endswith(b".d"):
                yield from targets(walk_entries(entry.path, problems, False), "persistence:rc")
        for home in user_homes():
            yield from targets(
                (os.path.join(home, os.fsencode(n)) for n in USER_SHELL_FILES), "persistence:shell"
            )
            ssh = os.path.join(home, b".ssh")
            keys = (os.path.join(ssh, b"authorized_keys"), os.path.join(ssh, b"authorized_keys2"))
            yield from targets(keys, "persistence:authorized_keys")
            autostart = os.path.join(home, b".config", b"autostart")
            yield from targets(walk_entries(autostart, problems, False), "persistence:autostart")
        try:
            modules = parse_modules(read_text("/proc/modules"))
            yield VolatileRecord(
                "volatile/persistence_kernel_modules.jsonl",
                to_jsonl(modules),
                f"{len(modules)} loaded kernel modules (/proc/modules)",
            )
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            problems.append(
                error(f"persistence: cannot read /proc/modules: {exc}", "/proc/modules")
            )

    def _systemd(self, targets: _Targets, problems: list[Problem]) -> Iterator[Observation]:
        config_dirs = [os.fsencode(d) for d in SYSTEMD_CONFIG_DIRS]
        config_dirs += [os.path.join(h, b".config/systemd/user") for h in user_homes()]
        vendor_dirs = [os.fsencode(d) for d in SYSTEMD_VENDOR_DIRS]
        units: list[dict[str, Any]] = []
        enabled: set[bytes] = set()
        seen_dirs: set[bytes] = set()
        for directory in config_dirs + vendor_dirs:
            real = os.path.realpath(directory)
            if real in seen_dirs or not os.path.isdir(directory):
                continue
            seen_dirs.add(real)
            is_config = directory in config_dirs
            for path in walk_entries(directory, problems):
                try:
                    record = _unit_record(path, os.fsdecode(directory))
                except OSError as exc:
                    problems.append(error(f"persistence: {exc.strerror}", path))
                    continue
                record["local_config"] = is_config
                units.append(record)
                if is_config and record["is_link"]:
                    target = os.path.normpath(
                        os.path.join(os.path.dirname(path), os.readlink(path))
                    )
                    enabled.add(target)
            if is_config:
                yield from targets(walk_entries(directory, []), "persistence:systemd")
        for record in units:
            record["enabled_target"] = os.fsencode(record["path"]) in enabled
        yield from targets(sorted(p for p in enabled if os.path.isfile(p)), "persistence:systemd")
        yield VolatileRecord(
            "volatile/persistence_systemd_units.jsonl",
            to_jsonl(units),
            f"{len(units)} systemd unit files and links (enabled_target: linked from config)",
        )

    # --- Windows (tested on Windows only) --------------------------------------------------

    def _windows(self, problems: list[Problem]) -> Iterator[Observation]:
        import psutil

        services: list[dict[str, Any]] = []
        try:
            for service in psutil.win_service_iter():
                try:
                    services.append(service.as_dict())
                except (psutil.AccessDenied, psutil.NoSuchProcess, OSError) as exc:
                    services.append({"name": service.name(), "error": str(exc)})
        except OSError as exc:
            problems.append(error(f"persistence: cannot list services: {exc}"))
        yield VolatileRecord(
            "volatile/persistence_services.jsonl", to_jsonl(services), "Windows services"
        )
        yield CommandRecord(
            "volatile/persistence_scheduled_tasks.csv",
            ("schtasks", "/query", "/fo", "CSV", "/v"),
            "scheduled tasks (schtasks /query /fo CSV /v)",
        )
        for key in RUN_KEYS:
            slug = key.replace("\\", "_").replace(" ", "")
            yield CommandRecord(
                f"volatile/persistence_reg_{slug}.txt",
                ("reg", "query", key, "/s"),
                f"reg query {key}",
            )
        yield CommandRecord(
            "volatile/persistence_drivers.csv",
            ("driverquery", "/v", "/fo", "csv"),
            "loaded drivers (driverquery /v)",
        )
        targets = _Targets()
        program_data = os.environ.get("PROGRAMDATA", r"C:\ProgramData")
        startup = os.path.join(program_data, r"Microsoft\Windows\Start Menu\Programs\StartUp")
        yield from targets(
            walk_entries(os.fsencode(startup), problems, False), "persistence:startup"
        )
        users = os.path.join(os.environ.get("SYSTEMDRIVE", "C:") + os.sep, "Users")
        for entry in list_dir(os.fsencode(users), problems):
            user_startup = os.path.join(
                entry.path, rb"AppData\Roaming\Microsoft\Windows\Start Menu\Programs\Startup"
            )
            yield from targets(walk_entries(user_startup, [], False), "persistence:startup")

    # --- macOS (tested on macOS only) ------------------------------------------------------

    def _darwin(self, problems: list[Problem]) -> Iterator[Observation]:
        targets = _Targets()
        dirs = [
            b"/Library/LaunchAgents",
            b"/Library/LaunchDaemons",
            b"/System/Library/LaunchAgents",
            b"/System/Library/LaunchDaemons",
            b"/Library/StartupItems",
        ]
        homes = user_homes()
        dirs += [os.path.join(h, b"Library/LaunchAgents") for h in homes]
        for directory in dirs:
            yield from targets(walk_entries(directory, problems), "persistence:launchd")
        yield CommandRecord(
            "volatile/persistence_launchctl.txt", ("launchctl", "list"), "launchctl list"
        )
        kext = ("kmutil", "showloaded") if which("kmutil") else ("kextstat",)
        yield CommandRecord("volatile/persistence_kexts.txt", kext, "loaded kernel extensions")
        for tree in (b"/usr/lib/cron/tabs", b"/var/at/tabs", b"/etc/periodic"):
            yield from targets(walk_entries(tree, problems), "persistence:cron")
        yield from targets(CRON_FILES, "persistence:cron")
        for rule, paths in SINGLE_FILES.items():
            if rule == "persistence:shell":
                yield from targets(paths, rule)
        for home in homes:
            yield from targets(
                (os.path.join(home, os.fsencode(n)) for n in USER_SHELL_FILES), "persistence:shell"
            )
            ssh = os.path.join(home, b".ssh")
            keys = (os.path.join(ssh, b"authorized_keys"), os.path.join(ssh, b"authorized_keys2"))
            yield from targets(keys, "persistence:authorized_keys")
