"""Per-process Linux details for the processes collector, read from ``/proc/PID``.

The environment (exact bytes and NUL-split), the memory maps (as read, and parsed) with the
libraries they load, every open descriptor (lsof-like), and a copy of an executable that is
no longer the file its path names (deleted, moved, replaced, or a memfd), taken through
``/proc/PID/exe`` and archived as a volatile member with its digests.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from typing import Any

import psutil

from collectors import _procfs
from collectors._util import describe_os_error, error, parse_size, to_jsonl
from collectors.base import Observation, Problem, VolatileRecord
from collectors.exclusions import EXCLUDED
from custody.store.sources import open_source

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
DEFAULT_EXE_MAX = 64 << 20  # a copied executable is held in memory until archived
# Variables through which the examiner hands Chainproof a key passphrase (app/cli.py).
_PASSPHRASE_VARIABLES = (
    "CHAINPROOF_PASSPHRASE",
    "CHAINPROOF_TO_PASSPHRASE",
    "CHAINPROOF_IMPORT_PASSPHRASE",
)


def _safe_name(text: str) -> str:
    name = "".join(c if c in _SAFE else "_" for c in text)[:64]
    return name or "exe"


class LinuxDetails:
    """Per-process state from ``/proc/PID``: environment, maps, descriptors, unlinked executables.

    A read the kernel refuses is noted in the process's row and counted; each kind of
    detail with refusals becomes one ``error`` Problem naming the pids, so no gap is silent.
    Environments are evidence, taken as they are, except the tool's own and one holding an
    examiner's passphrase variable: those are ``excluded`` (recorded as skips, with why).
    """

    def __init__(self, options: dict[str, Any]) -> None:
        self.want_env = bool(options.get("environment", True))
        self.want_maps = bool(options.get("memory_maps", True))
        self.want_fds = bool(options.get("descriptors", True))
        self.copy_exes = bool(options.get("copy_unlinked_executables", True))
        self.exe_max = parse_size(options.get("executable_max_size", DEFAULT_EXE_MAX))
        self.environ: list[dict[str, Any]] = []
        self.maps_raw: list[str] = []
        self.maps: list[dict[str, Any]] = []
        self.libraries: list[dict[str, Any]] = []
        self.fds: list[dict[str, Any]] = []
        self.exes: list[dict[str, Any]] = []
        self.exe_data: list[VolatileRecord] = []
        self.problems: list[Problem] = []
        self.refused: dict[str, dict[str, list[int]]] = {}
        self.sockets = _procfs.SocketTables()
        self._copied: dict[tuple[int, int], str] = {}

    def _refuse(self, what: str, pid: int, exc: OSError) -> str | None:
        """Note a refused read; None if the process is gone (not a gap: it no longer exists)."""
        if isinstance(exc, ProcessLookupError) or not psutil.pid_exists(pid):
            return None
        reason = describe_os_error(exc)
        self.refused.setdefault(what, {}).setdefault(reason, []).append(pid)
        return reason

    def add(self, pid: int, record: dict[str, Any]) -> None:
        """Read what the options ask for about ``pid``; ``record`` is its processes.jsonl row."""
        head = {"pid": pid, "name": record.get("name")}
        if self.want_env:
            self._environ(pid, head)
        if self.want_maps:
            self._maps(pid, head)
        if self.want_fds:
            try:
                rows = _procfs.descriptors(pid, self.sockets)
            except OSError as exc:
                if reason := self._refuse("descriptors", pid, exc):
                    self.fds.append({**head, "error": reason})
            else:
                self.fds.extend({**head, "user": record.get("username"), **r} for r in rows)
                unread = [r for r in rows if "error" in r]
                if unread:
                    self.refused.setdefault("descriptors", {}).setdefault(
                        f"{len(unread)} of {len(rows)} not resolved: {unread[0]['error']}", []
                    ).append(pid)
        if self.copy_exes:
            self._exe(pid, head, record)

    def _environ(self, pid: int, head: dict[str, Any]) -> None:
        try:
            env = _procfs.environ(pid)
        except OSError as exc:
            if reason := self._refuse("environment", pid, exc):
                self.environ.append({**head, "error": reason})
            return
        # The tool never collects itself: its own environment, and one that carries the
        # examiner's key passphrase (the shell that launched it), are excluded, whole.
        if pid == os.getpid():
            why = "the running program's own environment"
        elif held := [
            v for v in _PASSPHRASE_VARIABLES if any(x.startswith(f"{v}=") for x in env["variables"])
        ]:
            why = f"the examiner's launch environment: it holds {', '.join(held)}"
        else:
            self.environ.append({**head, **env})
            return
        self.environ.append({**head, "excluded": why})
        self.problems.append(Problem(EXCLUDED, why, f"/proc/{pid}/environ".encode()))

    def _maps(self, pid: int, head: dict[str, Any]) -> None:
        try:
            text = _procfs.read_maps(pid)
        except OSError as exc:
            if reason := self._refuse("memory maps", pid, exc):
                self.maps.append({**head, "error": reason})
            return
        self.maps_raw.append(f"==> /proc/{pid}/maps <==\n{text}")
        mappings = _procfs.parse_maps(text)
        self.maps.append({**head, "mappings": mappings})
        self.libraries.extend({**head, **lib} for lib in _procfs.libraries(mappings))

    def _exe(self, pid: int, head: dict[str, Any], record: dict[str, Any]) -> None:
        try:
            link = _procfs.exe_link(pid)
        except OSError:
            return  # kernel thread, gone, or refused (already in the record's "denied")
        why = _procfs.exe_not_on_disk(pid, link)
        if why is None:
            return
        record["exe_not_on_disk"] = why
        original = link[: -len(_procfs.DELETED)] if link.endswith(_procfs.DELETED) else link
        row: dict[str, Any] = {**head, "link": link, "original_path": original, "reason": why}
        self.exes.append(row)
        try:
            fd = open_source(f"/proc/{pid}/exe", follow=True)
        except OSError as exc:
            row["error"] = describe_os_error(exc)
            self.problems.append(
                error(
                    f"processes: cannot copy the {why} executable of pid {pid}: {row['error']}",
                    f"/proc/{pid}/exe",
                )
            )
            return
        try:
            self._copy(pid, fd, row, why)
        finally:
            os.close(fd)

    def _copy(self, pid: int, fd: int, row: dict[str, Any], why: str) -> None:
        source = f"/proc/{pid}/exe"
        st = os.fstat(fd)
        row.update(
            size=st.st_size,
            mode=f"{stat.S_IMODE(st.st_mode):04o}",
            uid=st.st_uid,
            gid=st.st_gid,
            dev=f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}",
            inode=st.st_ino,
            mtime_ns=str(st.st_mtime_ns),
            ctime_ns=str(st.st_ctime_ns),
        )
        key = (st.st_dev, st.st_ino)
        if key in self._copied:
            row["member"] = self._copied[key]
            row["same_as_earlier_copy"] = True
            return
        if not stat.S_ISREG(st.st_mode):
            row["error"] = "not a regular file"
        elif st.st_size > self.exe_max:
            row["error"] = f"{st.st_size} bytes, over executable_max_size ({self.exe_max})"
        if "error" in row:
            self.problems.append(
                error(
                    f"processes: {why} executable of pid {pid} not copied: {row['error']}", source
                )
            )
            return
        try:
            data = _read_exactly(fd, st.st_size)
            after = os.fstat(fd)
        except OSError as exc:
            row["error"] = describe_os_error(exc)
            self.problems.append(
                error(
                    f"processes: cannot read the {why} executable of pid {pid}: {row['error']}",
                    source,
                )
            )
            return
        if (after.st_size, after.st_mtime_ns, after.st_ctime_ns) != (
            st.st_size,
            st.st_mtime_ns,
            st.st_ctime_ns,
        ):
            row["changed"] = "size, mtime or ctime changed while it was read"
            self.problems.append(
                error(f"processes: {why} executable of pid {pid} {row['changed']}", source)
            )
        base = row["original_path"].rsplit("/", 1)[-1]
        member = f"volatile/executables/{pid}-{_safe_name(base)}"
        row["member"] = member
        row["sha256"] = hashlib.sha256(data).hexdigest()
        self._copied[key] = member
        self.exe_data.append(
            VolatileRecord(
                member,
                data,
                f"executable of pid {pid} ({row['name']}), {why}: copied from {source}, "
                f"which named {row['link']}",
            )
        )

    def observations(self) -> Iterator[Observation]:
        if self.want_env:
            yield VolatileRecord(
                "volatile/process_environ.jsonl",
                to_jsonl(self.environ),
                f"environment of {len(self.environ)} processes (/proc/PID/environ: exact bytes "
                "base64 in raw_b64, NUL-split in variables)",
            )
        if self.want_maps:
            raw = "".join(self.maps_raw).encode("utf-8", "surrogateescape")
            yield VolatileRecord(
                "volatile/process_maps.txt",
                raw,
                f"/proc/PID/maps of {len(self.maps_raw)} processes, as read",
            )
            yield VolatileRecord(
                "volatile/process_maps.jsonl",
                to_jsonl(self.maps),
                "memory maps parsed from volatile/process_maps.txt, one process per line",
            )
            yield VolatileRecord(
                "volatile/process_libraries.jsonl",
                to_jsonl(self.libraries),
                f"{len(self.libraries)} file-backed mappings (libraries, executables), "
                "unique per process, with deleted and memfd flags",
            )
        if self.want_fds:
            yield VolatileRecord(
                "volatile/process_fds.jsonl",
                to_jsonl(self.fds),
                f"{len(self.fds)} open descriptors (lsof-like: /proc/PID/fd, fdinfo, sockets "
                "joined with /proc/PID/net/*)",
            )
        if self.copy_exes:
            yield VolatileRecord(
                "volatile/executables.jsonl",
                to_jsonl(self.exes),
                f"{len(self.exes)} processes running a deleted, moved, replaced or memfd "
                "executable; copies under volatile/executables/",
            )
            yield from self.exe_data
        for what, reasons in self.refused.items():
            for reason, pids in reasons.items():
                shown = ", ".join(map(str, pids[:20])) + (" ..." if len(pids) > 20 else "")
                self.problems.append(
                    error(
                        f"processes: {what} of {len(pids)} processes not read: {reason} "
                        f"(pids {shown})"
                    )
                )
        for name, reason in sorted(self.sockets.errors.items()):
            self.problems.append(error(f"processes: socket table {name} not read: {reason}"))
        yield from self.problems


def _read_exactly(fd: int, size: int) -> bytes:
    parts: list[bytes] = []
    got = 0
    while got < size:
        chunk = os.read(fd, min(1 << 20, size - got))
        if not chunk:
            raise OSError(f"file ended at {got} of {size} bytes")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)
