"""Where a case's evidence lives: its run archives, by name, behind one interface.

Everything that writes or reads a run archive goes through an :class:`EvidenceStore`: the
collection (create, resume after a crash, spool command output), verification and export
(open, size, list), the report and the desktop app's preview (open). The ledger names an
archive ``evidence/<run>.tar``; :func:`archive_name` turns that reference into the store's
name and refuses anything that could reach outside it.

:class:`LocalEvidenceStore` is a directory (``<case>/evidence`` or a bundle's
``evidence``). Another store (object storage with object lock, say) writes through a local
staging directory and publishes a run's archive when it is sealed; it implements the same
methods, so no caller changes.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol

from custody.record.regular import open_regular
from custody.store.archive import RunArchive

#: The folder that holds run archives, as ledger references name it.
EVIDENCE = "evidence"


def archive_name(reference: str) -> str | None:
    """The store's name for a ledger's archive reference (``evidence/<run>.tar``), or None
    when the reference is not one (another folder, ``..``, an absolute or empty name)."""
    parts = PurePosixPath(reference).parts
    if len(parts) != 2 or parts[0] != EVIDENCE or parts[1] in ("", ".", ".."):
        return None
    return parts[1]


class EvidenceStore(Protocol):
    """The run archives of one case (or one bundle)."""

    @property
    def location(self) -> str:
        """Where the store is, for people (a directory or a URL)."""
        ...

    def names(self) -> list[str]:
        """The archive names the store holds, sorted."""
        ...

    def exists(self, name: str) -> bool: ...

    def size(self, name: str) -> int:
        """The archive's size in bytes; :class:`OSError` when it cannot be had."""
        ...

    def open(self, name: str) -> BinaryIO:
        """The archive, opened read-only and seekable; :class:`OSError` when it cannot be."""
        ...

    def create(self, name: str) -> RunArchive:
        """A new archive for a run (:class:`~custody.errors.StoreError` if it exists)."""
        ...

    def resume(self, name: str, at: int) -> RunArchive:
        """An unfinished archive reopened and cut back to ``at`` (a crashed run's recovery)."""
        ...

    def spool(self) -> Path:
        """A local directory on the evidence's own storage for output being captured
        (never the examined system's temporary directory)."""
        ...


class LocalEvidenceStore:
    """Run archives as files in a directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def location(self) -> str:
        return str(self.root)

    def path(self, name: str) -> Path:
        """The file of archive ``name`` (for people and for local-only checks)."""
        if archive_name(f"{EVIDENCE}/{name}") != name:
            raise ValueError(f"not an archive name: {name!r}")
        return self.root / name

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.glob("*.tar"))

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def size(self, name: str) -> int:
        return self.path(name).stat().st_size

    def open(self, name: str) -> BinaryIO:
        return open_regular(self.path(name), buffering=0)  # a FIFO there must not block

    def create(self, name: str) -> RunArchive:
        self.root.mkdir(parents=True, exist_ok=True)
        return RunArchive(self.path(name))

    def resume(self, name: str, at: int) -> RunArchive:
        path = self.path(name)
        if not os.access(path, os.W_OK):
            # Closed (made read-only) by a process that stopped before recording the end.
            with contextlib.suppress(OSError):
                path.chmod(path.stat().st_mode | stat.S_IWUSR)
        return RunArchive(path, resume_at=at)

    def spool(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root
