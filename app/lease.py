"""Run leases: a running collection holds one, and only a run whose lease is free is recovered.

A lease is released by the operating system or the database when its process dies, however it
dies (SIGKILL, power cut of a client, lost connection), and never by a guess about host names
or process ids. Two kinds, chosen by where the case lives:

- **PostgreSQL** (team mode): a session-level advisory lock per run, held on a connection of
  its own for the run's life (:mod:`custody.db.lease`).
- **A local case directory** (SQLite): an exclusive OS lock (``flock`` on POSIX,
  ``msvcrt.locking``, i.e. ``LockFileEx``, on Windows) on ``<case>/leases/<run>.lock``.
  File locks are only as good as the file system: on network shares (NFS, SMB/CIFS, sshfs,
  ...) a lock may not be seen by another machine, or may be only local. A case directory on
  such a file system is refused (:class:`~custody.errors.UnreliableLocks`); use a local disk,
  or PostgreSQL for a team.

Taking a lease never waits: a held lease means the run is alive, whatever its host or PID.
A lease file is removed by its holder when the run has ended, while still locked, and a
taker checks that the file it locked is still the one at its path, so two processes never
hold the lease of one run at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from custody.db.lease import AdvisoryLease
from custody.errors import CaseError, UnreliableLocks

#: The case folder of the lease files of a local case directory.
LEASES = "leases"

#: File system types (Linux names, as /proc/self/mountinfo gives them) whose locks another
#: machine may not see, or that keep them only locally: network shares and the like.
UNRELIABLE_LOCKS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "ncpfs",
        "afs",
        "coda",
        "9p",
        "lustre",
        "vboxsf",
        "vmhgfs",
        "davfs",
        "fuse.sshfs",
        "fuse.rclone",
        "fuse.s3fs",
        "fuse.gcsfuse",
        "fuse.goofys",
        "fuse.davfs2",
        "fuse.smbnetfs",
        "fuse.curlftpfs",
        "fuse.vmhgfs-fuse",
    }
)

_SAFE_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,127}")


class Case(Protocol):
    """What leases need of an open case (:class:`app.cases.CaseHandle`)."""

    root: Path
    case_id: str
    sessions: sessionmaker[Session]


class Lease(Protocol):
    """A held lease of one run."""

    @property
    def found(self) -> bool:
        """True when the lease shows that the run's own process held it (a lease file that
        was there); False when nothing tells (a run of an older version, or PostgreSQL, where
        a free lock leaves no trace)."""
        ...

    def keep(self) -> bool:
        """Make sure the lease still holds; True when it had to be taken again (the caller
        then checks that no one ended the run meanwhile). Raises
        :class:`~custody.errors.LeaseLost` when it cannot be kept."""
        ...

    def release(self) -> None: ...


class FileLease:
    """An exclusive OS lock on a run's lease file (see the module docstring)."""

    def __init__(self, path: Path, fd: int, found: bool) -> None:
        self.path = path
        self.found = found
        self._fd: int | None = fd

    @classmethod
    def try_take(cls, path: Path) -> FileLease | None:
        """The lease at ``path``, created if missing; None when another process holds it."""
        try:
            path.parent.mkdir(exist_ok=True)
            for _ in range(100):
                found = True
                try:
                    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, 0o644)
                    found = False
                except FileExistsError:
                    try:
                        fd = os.open(path, os.O_RDWR | _O_CLOEXEC)
                    except FileNotFoundError:
                        continue  # its holder removed it meanwhile
                if not _lock(fd):
                    os.close(fd)
                    return None
                if _same_file(fd, path):
                    return cls(path, fd, found)
                os.close(fd)  # removed by its holder while we locked it: take the new one
        except OSError as exc:
            raise CaseError(f"cannot take the run lease {path}: {exc.strerror or exc}") from exc
        raise CaseError(f"cannot take the run lease {path}: it keeps being replaced")

    def keep(self) -> bool:
        return False  # an OS lock is only lost with its process

    def release(self, *, remove: bool = True) -> None:
        """Let go; with ``remove`` (the run has ended) the lease file is removed first, while
        still held. A lease file left behind is harmless: the next collection removes it."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if remove and sys.platform != "win32" and _same_file(fd, self.path):
                with contextlib.suppress(OSError):
                    self.path.unlink()
        finally:
            os.close(fd)
        if remove and sys.platform == "win32":  # Windows cannot remove a file that is open
            with contextlib.suppress(OSError):
                self.path.unlink()


class RunLeases:
    """The leases of one case's runs: advisory locks in PostgreSQL, lock files otherwise.

    Opening it for a local case directory refuses a file system whose locks cannot be
    trusted (:func:`require_reliable_locks`).
    """

    def __init__(self, case: Case) -> None:
        self.case = case
        engine = case.sessions.kw["bind"]
        self._postgres = engine.dialect.name == "postgresql"
        if not self._postgres:
            require_reliable_locks(case.root)
        self.folder = case.root / LEASES

    def try_take(self, run_id: str) -> Lease | None:
        """The run's lease, or None when another process holds it (the run is alive)."""
        if self._postgres:
            return AdvisoryLease.try_take(self.case.sessions.kw["bind"], self.case.case_id, run_id)
        return FileLease.try_take(self.folder / lease_name(run_id))

    def take(self, run_id: str) -> Lease:
        """The lease of a new run, which no one else can hold."""
        lease = self.try_take(run_id)
        if lease is None:
            raise CaseError(f"the lease of the new run {run_id} is held by another process")
        return lease

    def sweep(self, unfinished: Callable[[], set[str]]) -> int:
        """Remove lease files left by processes that died before their run started or after
        it ended; ``unfinished`` gives the run ids without an end, read after each lock is
        taken. Returns how many were removed."""
        if self._postgres or not self.folder.is_dir():
            return 0
        removed, pending = 0, {lease_name(r) for r in unfinished()}
        for path in sorted(self.folder.glob("*.lock")):
            if path.name in pending:
                continue  # recovery's business
            lease = FileLease.try_take(path)
            if lease is None:
                continue  # held: a live run (or one starting)
            keep = path.name in {lease_name(r) for r in unfinished()}
            lease.release(remove=not keep)  # a kept file's run still needs its recovery
            removed += not keep
        return removed


def lease_name(run_id: str) -> str:
    """The lease file's name for a run (the run id when it is a plain name, else its hash)."""
    if _SAFE_NAME.fullmatch(run_id):
        return f"{run_id}.lock"
    return f"{hashlib.sha256(run_id.encode()).hexdigest()[:40]}.lock"


# ---- file systems


def require_reliable_locks(path: Path) -> None:
    """Refuse a case directory on a file system whose locks cannot be trusted."""
    fstype = lock_unsafe_file_system(path)
    if fstype is not None:
        raise UnreliableLocks(
            f"the case directory {path} is on a {fstype} file system, where file locks cannot "
            "be trusted: a running collection could not be told from a crashed one, and one "
            "could cut the other's evidence. Keep the case on a local disk (copy it there), "
            "or use a PostgreSQL case for a team (chainproof case new DIR --db URL)"
        )


def lock_unsafe_file_system(path: Path, mountinfo: str | None = None) -> str | None:
    """The type of ``path``'s file system when its locks cannot be trusted, else None.

    Linux reads ``/proc/self/mountinfo`` (or ``mountinfo`` when given); Windows asks whether
    the drive is remote. Elsewhere nothing is detected (documented in docs/DESIGN.md).
    """
    if sys.platform == "win32":
        return _windows_remote(path)
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    fstype = file_system_type(path, mountinfo)
    if fstype is None:
        return None
    return fstype if fstype in UNRELIABLE_LOCKS else None


def file_system_type(path: Path, mountinfo: str) -> str | None:
    """The type of the file system that holds ``path``, from mountinfo's text."""
    target = os.path.realpath(path)  # symbolic links lead to the real file system
    best: tuple[int, str] | None = None
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields, after = left.split(), right.split()
        if not sep or len(fields) < 5 or not after:
            continue
        point = _unescape(fields[4])
        inside = point == "/" or target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= best[0]):
            best = (len(point), after[0])  # a later mount on the same point hides the earlier
    return best[1] if best else None


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _windows_remote(path: Path) -> str | None:
    """Windows: "network share" when ``path`` is a UNC path or on a remote drive."""
    full = str(path.absolute())
    if full.startswith("\\\\"):
        return "network share"
    import ctypes

    drive_remote = 4  # DRIVE_REMOTE
    root = os.path.splitdrive(full)[0] + "\\"
    kernel32 = ctypes.WinDLL("kernel32")  # type: ignore[attr-defined,unused-ignore]
    if kernel32.GetDriveTypeW(root) == drive_remote:
        return "network share"
    return None


# ---- OS locks

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _lock(fd: int) -> bool:
    """Take an exclusive lock on ``fd`` without waiting; False when another holds it."""
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _same_file(fd: int, path: Path) -> bool:
    """Whether the open ``fd`` is still the file at ``path`` (not removed or replaced)."""
    try:
        a, b = os.fstat(fd), path.stat()
    except FileNotFoundError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
