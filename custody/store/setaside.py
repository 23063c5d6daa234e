"""Archives set aside: files found in the evidence folder that no run of the ledger owns,
moved out of it into ``<case>/set-aside/`` once their ``archive_set_aside`` entry records
their size and SHA-256.

Such a file was left by an older version, which created a run's archive before its
``run_started`` entry and could be killed in between, or was put there by someone. In the
evidence folder it would be an ``archive.orphan`` finding for ever; set aside, it is kept,
bound by its entry, and checked where it now is. The ledger names it ``set-aside/<name>``;
:func:`set_aside_name` turns that into a name in the folder and refuses anything that
reaches outside. A file is never overwritten: a taken name gets a suffix
(:meth:`SetAsideFolder.free_name`), and the move refuses a name that exists.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from custody.durable import sync_directory
from custody.record.regular import kind_of

#: The case folder that holds archives set aside, as ledger references name it.
SET_ASIDE = "set-aside"
#: Why an archive is set aside, as its entry records it.
NO_RUN_OWNS_IT = (
    "no run in the ledger owns this archive (left by a process killed before its run_started "
    "entry, or added)"
)
_CHUNK = 1 << 20


def set_aside_name(reference: str) -> str | None:
    """The folder's name for a ledger reference (``set-aside/<name>``), or None when the
    reference is not one (another folder, ``..``, an absolute or empty name)."""
    parts = PurePosixPath(reference).parts
    if len(parts) != 2 or parts[0] != SET_ASIDE or parts[1] in ("", ".", ".."):
        return None
    return parts[1]


def set_aside_reference(name: str) -> str:
    """The ledger's reference for ``name`` in the folder: ``set-aside/<name>``."""
    return f"{SET_ASIDE}/{name}"


@dataclass(frozen=True)
class FileDigest:
    """A file's size in bytes and SHA-256 (hex)."""

    size: int
    sha256: str


def file_digest(path: Path) -> FileDigest:
    """The size and SHA-256 of the regular file ``path``, read once. A symbolic link is not
    followed, and anything but a regular file is refused, with an :class:`OSError` whose
    ``strerror`` says what it is; a missing file raises :class:`FileNotFoundError`."""
    flags = (
        os.O_RDONLY
        | getattr(os, "O_NOFOLLOW", 0)
        | getattr(os, "O_NONBLOCK", 0)
        | getattr(os, "O_BINARY", 0)
    )
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(exc.errno, "is a symbolic link, not a regular file", str(path)) from exc
        raise
    with os.fdopen(fd, "rb", buffering=0) as f:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"is {kind_of(mode)}, not a regular file", str(path))
        h, size = hashlib.sha256(), 0
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return FileDigest(size, h.hexdigest())


class SetAsideFolder:
    """The folder of a case's archives set aside (``<case>/set-aside``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def location(self) -> str:
        return str(self.root)

    def path(self, name: str) -> Path:
        """The file of ``name`` in the folder (``ValueError`` for a name that reaches out)."""
        if set_aside_name(set_aside_reference(name)) != name:
            raise ValueError(f"not a name in {SET_ASIDE}/: {name!r}")
        return self.root / name

    def digest(self, name: str) -> FileDigest:
        """Size and SHA-256 of ``name`` (see :func:`file_digest`)."""
        return file_digest(self.path(name))

    def prepare(self) -> None:
        """Create the folder if needed; :class:`OSError` when it cannot hold files (a file
        in its place, no permission)."""
        self.root.mkdir(exist_ok=True)
        if not self.root.is_dir() or self.root.is_symlink():
            raise OSError(errno.ENOTDIR, "is not a folder", str(self.root))

    def free_name(self, name: str, claimed: Collection[str] = ()) -> str:
        """``name``, or ``<stem>-2<suffix>``, ``-3``, ... : the first that nothing in the
        folder has (a file, a folder, a link) and no entry in ``claimed`` names."""
        stem, dot, suffix = name.rpartition(".")
        if not stem:
            stem, dot, suffix = name, "", ""
        n = 1
        while True:
            candidate = name if n == 1 else f"{stem}-{n}{dot}{suffix}"
            if candidate not in claimed and not os.path.lexists(self.root / candidate):
                return candidate
            n += 1

    def awaits(self, name: str, source: Path) -> bool:
        """Whether ``name`` can still receive ``source``: nothing is there, or ``source``
        itself is (a move cut short after its link was made)."""
        dest = self.path(name)
        return not os.path.lexists(dest) or _same_file(source, dest)

    def move_in(self, source: Path, name: str) -> None:
        """Move the file ``source`` to ``name`` in the folder and make it read-only. Never
        overwrites: :class:`FileExistsError` when ``name`` is taken by another file. A move
        cut short after its link was made (both names one file) is finished."""
        dest = self.path(name)
        if os.path.lexists(dest):
            if not _same_file(source, dest):
                raise FileExistsError(errno.EEXIST, "is taken by another file", str(dest))
        else:
            try:
                os.link(source, dest)  # refuses an existing name
            except FileExistsError:
                raise
            except OSError:
                # No hard links on this file system: rename, having checked the name is free.
                source.rename(dest)
                _read_only(dest)
                return
        _read_only(dest)
        source.unlink()

    def sync(self) -> None:
        """Flush the folder's entries (the move) to disk where the system allows it."""
        with contextlib.suppress(OSError):  # the move itself is done; only its flush failed
            sync_directory(self.root)


def _same_file(a: Path, b: Path) -> bool:
    try:
        sa, sb = os.lstat(a), os.lstat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _read_only(path: Path) -> None:
    mode = os.lstat(path).st_mode
    path.chmod(stat.S_IMODE(mode) & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
