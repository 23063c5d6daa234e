"""What a collection never collects, applied during the walk.

The run says what to keep out as plain data, :class:`NeverCollect` (``app/self_exclusion.py``
computes it once a run): roots, each a directory or file with the reason (the running
program, the case being written, the examiner's configuration and identity), and markers,
the names that make a directory a Chainproof case or bundle (and a ``.zip`` a zipped
bundle). :class:`Exclusions` applies it: a directory is recognised by its device and inode,
so another path to it (a bind mount, a symlink followed) is caught too, or by the marker
names it holds; it is pruned, never walked. Each excluded path is reported once, as a
:class:`Problem` of kind ``excluded`` with the reason and a count of what lies below it
(one pass over names, each directory opened with ``O_NOATIME``, no file opened), which the
run records in the ledger as a skip.
"""

# Paths are bytes here, so that non-UTF-8 names survive; pathlib has no bytes paths.
# ruff: noqa: PTH116, PTH118, PTH120

from __future__ import annotations

import os
import stat
import struct
import zipfile
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from custody.observations import Problem
from custody.store.sources import open_source

#: A count of the entries below an excluded directory stops here (it says "more than").
COUNT_LIMIT = 1_000_000
EXCLUDED = "excluded"


@dataclass(frozen=True)
class ExcludedRoot:
    """A directory or file never collected: ``path`` (absolute) and why, for a person."""

    path: str
    reason: str


@dataclass(frozen=True)
class Marker:
    """A directory holding every one of ``names`` is never walked (``reason`` says what it is).

    With ``zip``, a ``.zip`` file whose top level holds every one of them is never collected.
    """

    names: tuple[str, ...]
    reason: str
    zip: bool = False


@dataclass(frozen=True)
class NeverCollect:
    """What a run never collects, as plain data for the collectors."""

    roots: tuple[ExcludedRoot, ...] = ()
    markers: tuple[Marker, ...] = ()


@dataclass(frozen=True)
class _Root:
    path: bytes  # as given
    real: bytes  # resolved
    reason: str
    ident: tuple[int, int]
    is_dir: bool


class Exclusions:
    """Applies a :class:`NeverCollect` to the paths a walk meets; reports each path once."""

    def __init__(self, never: NeverCollect) -> None:
        self.markers = never.markers
        self._marker_names = [(tuple(os.fsencode(n) for n in m.names), m) for m in self.markers]
        self._dirs: dict[tuple[int, int], _Root] = {}
        self._files: dict[tuple[int, int], _Root] = {}
        self._file_inodes: set[int] = set()
        roots: list[_Root] = []
        for given in never.roots:
            raw = os.fsencode(given.path)
            try:
                st = os.stat(raw)
            except OSError:
                continue  # nothing there: nothing to keep out
            is_dir = stat.S_ISDIR(st.st_mode)
            root = _Root(raw, os.path.realpath(raw), given.reason, (st.st_dev, st.st_ino), is_dir)
            if is_dir:
                self._dirs.setdefault(root.ident, root)
            else:
                self._files.setdefault(root.ident, root)
                self._file_inodes.add(st.st_ino)
            roots.append(root)
        # Innermost first: a path inside two roots is reported with the closer one.
        self._roots = sorted(roots, key=lambda r: len(r.real), reverse=True)
        self._zip_markers = tuple(m for m in self.markers if m.zip)
        self._reported: set[bytes] = set()

    def __bool__(self) -> bool:
        return bool(self._roots or self.markers)

    # --- what is excluded --------------------------------------------------------------

    def directory(self, path: bytes, st: os.stat_result) -> str | None:
        """Why the directory ``path`` (its ``st``) is excluded as a root, or None."""
        root = self._dirs.get((st.st_dev, st.st_ino))
        return None if root is None else _as_met(root, path)

    def file(self, path: bytes, inode: int) -> str | None:
        """Why the file ``path`` (inode ``inode``) is excluded as a root, or None."""
        if inode not in self._file_inodes:
            return None
        try:
            st = os.lstat(path)
        except OSError:
            return None
        root = self._files.get((st.st_dev, st.st_ino))
        return None if root is None else _as_met(root, path)

    def containing(self, path: bytes, *, follow: bool = True) -> str | None:
        """Why ``path`` is excluded when it is a root or lies inside one, or None. It is
        resolved, its last component only with ``follow`` (a symlink is collected as such)."""
        if not self._roots:
            return None
        real = _resolved(path, follow)
        for root in self._roots:
            if real == root.real:
                return _as_met(root, path)
            if root.is_dir and real.startswith(root.real.rstrip(b"/") + b"/"):
                return f"inside {root.reason} {os.fsdecode(root.path)}"
        return None

    def marked(self, names: Collection[bytes]) -> Marker | None:
        """The marker that the listed ``names`` of a directory hold, or None."""
        for encoded, marker in self._marker_names:
            if all(n in names for n in encoded):
                return marker
        return None

    def marker_at(self, directory: bytes) -> Marker | None:
        """The marker that ``directory`` holds, looked up name by name (no listing)."""
        for encoded, marker in self._marker_names:
            if all(os.path.lexists(os.path.join(directory, n)) for n in encoded):
                return marker
        return None

    def above(self, path: bytes, *, follow: bool = True) -> str | None:
        """Why ``path`` is excluded when it, or a directory above it, is excluded: a root, or
        a case or bundle by its markers. For where a walk starts, or a literal file
        (``follow=False``: its last component is not resolved)."""
        why = self.containing(path, follow=follow)
        if why is not None or not self.markers:
            return why
        start = current = _resolved(path, follow)
        while True:
            marker = self.marker_at(current)
            if marker is not None:
                if current == start:
                    return marker.reason
                return f"inside {marker.reason} {os.fsdecode(current)}"
            parent = os.path.dirname(current)
            if parent == current:
                return None
            current = parent

    def zip_bundle(self, path: bytes) -> Marker | None:
        """The marker a ``.zip`` file's top level holds (its central directory is read)."""
        if not self._zip_markers or not path.lower().endswith(b".zip"):
            return None
        names = _zip_top_names(path)
        if names is None:
            return None
        for marker in self._zip_markers:
            if all(n in names for n in marker.names):
                return marker
        return None

    # --- reporting ---------------------------------------------------------------------

    def problem(self, path: bytes, reason: str) -> Iterator[Problem]:
        """The exclusion of ``path`` for the ledger (once per path), with what it holds."""
        if path in self._reported:
            return
        self._reported.add(path)
        yield Problem(EXCLUDED, f"{reason} ({_count_text(path)})", path)


def _resolved(path: bytes, follow: bool) -> bytes:
    if follow:
        return os.path.realpath(path)
    head, tail = os.path.split(path)
    return os.path.join(os.path.realpath(head), tail) if tail else os.path.realpath(path)


def _as_met(root: _Root, path: bytes) -> str:
    if path == root.path or os.path.realpath(path) == root.real:
        return root.reason
    return f"{root.reason} {os.fsdecode(root.path)}"  # the same directory by another path


def _names(directory: bytes) -> Iterator[tuple[bytes, bool]]:
    """The entries of ``directory``: name and whether it is a directory (symlinks not
    followed). Opened as a source (``O_NOATIME``): ``os.scandir(path)`` would update the
    directory's access time."""
    fd = open_source(directory, directory=True)
    try:
        with os.scandir(fd) as it:
            for entry in it:
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    is_dir = False
                yield os.fsencode(entry.name), is_dir
    finally:
        os.close(fd)


def _count_text(path: bytes) -> str:
    """What lies at ``path``, counted by name only (no file opened, symlinks not followed)."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            return "1 file, not collected"
    except OSError:
        return "not collected"
    files = dirs = 0
    unreadable = False
    stack = [path]
    while stack:
        directory = stack.pop()
        try:
            for name, is_dir in _names(directory):
                if is_dir:
                    dirs += 1
                    stack.append(os.path.join(directory, name))
                else:
                    files += 1
                if files + dirs >= COUNT_LIMIT:
                    return (
                        f"more than {_many(files, 'file')} in {_many(dirs, 'directory')} "
                        "below it, not walked; counting stopped"
                    )
        except OSError:
            unreadable = True
    least = "at least " if unreadable else ""
    where = f" in {_many(dirs, 'directory')}" if dirs else ""
    return f"{least}{_many(files, 'file')}{where} below it, not walked"


def _many(n: int, what: str) -> str:
    if n == 1:
        return f"1 {what}"
    return f"{n:,} {what[:-1] + 'ies' if what.endswith('y') else what + 's'}"


_ZIP_ERRORS = (
    OSError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    ValueError,
    EOFError,
    RuntimeError,
    NotImplementedError,
    struct.error,
)


def _zip_top_names(path: bytes) -> set[str] | None:
    """The names at the top level of the zip at ``path`` (read-only, as sources are
    opened), or None when it is not a readable zip."""
    try:
        fd = open_source(path)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(os.dup(fd), "rb") as f, zipfile.ZipFile(f) as zf:
            return {n for n in zf.namelist() if "/" not in n}
    except _ZIP_ERRORS:
        return None
    finally:
        os.close(fd)
