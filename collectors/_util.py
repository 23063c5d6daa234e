"""Helpers shared by the collectors: read-only opening, hashing, JSON, times, sizes, option types."""

# Paths are bytes here, so that non-UTF-8 names survive; pathlib has no bytes paths.
# ruff: noqa: PTH116

from __future__ import annotations

import enum
import errno
import hashlib
import json
import os
import re
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from collectors.base import Problem
from custody.record.times import utc_text
from custody.store.sources import open_source

_CHUNK = 1 << 20


class Opt(enum.Enum):
    """Option types beyond plain Python types, for ``Collector.options_schema``."""

    SIZE = "a size like 10MiB"
    STR_LIST = "a list of strings"
    TARGETS = "a list of paths or {path: GLOB, max_size, min_size, max_age_days, os}"


def sha256_file(path: bytes | str, *, follow: bool = False) -> str:
    """SHA-256 (hex) of a file's content, read through :func:`custody.store.sources.open_source`."""
    fd = open_source(path, follow=follow)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", os.fsdecode(path))
        digest = hashlib.sha256()
        while chunk := os.read(fd, _CHUNK):
            digest.update(chunk)
        return digest.hexdigest()
    finally:
        os.close(fd)


def read_bytes(path: bytes | str, *, follow: bool = False, limit: int | None = None) -> bytes:
    """A file's content (up to ``limit`` bytes), read through :func:`custody.store.sources.open_source`."""
    fd = open_source(path, follow=follow)
    try:
        parts: list[bytes] = []
        size = 0
        while limit is None or size < limit:
            want = _CHUNK if limit is None else min(_CHUNK, limit - size)
            chunk = os.read(fd, want)
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


def read_text(path: bytes | str, *, follow: bool = True, limit: int = 16 << 20) -> str:
    """A small text file's content (UTF-8, undecodable bytes kept as surrogates)."""
    return read_bytes(path, follow=follow, limit=limit).decode("utf-8", "surrogateescape")


def iso_utc(timestamp: float) -> str:
    """A POSIX timestamp (psutil's float seconds) as the ledger writes times (:func:`utc_text`)."""
    return utc_text(datetime.fromtimestamp(timestamp, UTC))


def _encode(obj: Any, *, indent: int | None) -> bytes:
    # Lone surrogates (undecodable bytes of file names) become \udcXX escapes: valid JSON,
    # valid UTF-8, and json.loads + os.fsencode gives back the original bytes.
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, indent=indent, default=str)
    return text.encode("utf-8", "backslashreplace")


def to_json(obj: Any) -> bytes:
    """One JSON document: UTF-8, sorted keys, indented, newline at the end."""
    return _encode(obj, indent=2) + b"\n"


def to_jsonl(records: Iterable[Mapping[str, Any]]) -> bytes:
    """JSON Lines: one compact JSON object per line, UTF-8, sorted keys."""
    return b"".join(_encode(dict(r), indent=None) + b"\n" for r in records)


def text_path(path: bytes | str) -> str:
    """A path for JSON: str, with undecodable bytes as surrogates (round-trips via os.fsencode)."""
    return os.fsdecode(path)


def error(reason: str, path: bytes | str | None = None) -> Problem:
    """A ``Problem(kind="error")`` with the path as bytes."""
    return Problem(kind="error", reason=reason, path=None if path is None else os.fsencode(path))


def skipped(reason: str, path: bytes | str | None = None) -> Problem:
    """A ``Problem(kind="skipped")`` with the path as bytes."""
    return Problem(kind="skipped", reason=reason, path=None if path is None else os.fsencode(path))


def describe_os_error(exc: OSError) -> str:
    """``strerror`` (or the exception text) of an OSError, for a Problem's reason."""
    return exc.strerror or str(exc)


def which(program: str) -> str | None:
    """The full path of ``program`` on PATH, or None."""
    return shutil.which(program)


def existing(paths: Iterable[bytes | str]) -> Iterator[bytes]:
    """Those of ``paths`` that exist (as entries: a dangling symlink exists), as bytes."""
    for path in paths:
        raw = os.fsencode(path)
        if os.path.lexists(raw):
            yield raw


@dataclass(frozen=True, slots=True)
class Listed:
    """One entry of a directory listing, its kind read while the directory was open
    (symlinks not followed)."""

    name: bytes
    path: bytes
    is_dir: bool
    is_symlink: bool
    inode: int

    def lstat(self) -> os.stat_result:
        return os.lstat(self.path)


_SCAN_FD = os.scandir in os.supports_fd


def scan_directory(path: bytes) -> list[Listed]:
    """The entries of the directory ``path``, sorted by name.

    The directory is opened as every source is (``O_NOATIME``:
    :func:`~custody.store.sources.open_source`), so listing it leaves its access time as it
    was; ``os.scandir(path)`` would update it. A symlink to a directory is followed, as
    ``os.scandir`` follows it; anything but a directory raises ``NotADirectoryError``
    without being opened.
    """
    if not _SCAN_FD:  # Windows: listing a directory does not update its access time there
        with os.scandir(path) as it:
            return sorted((_listed(e.name, e.path, e) for e in it), key=lambda entry: entry.name)
    fd = open_source(path, follow=True, directory=True)
    try:
        with os.scandir(fd) as it:  # names come back as str from a descriptor
            found = [(os.fsencode(e.name), e) for e in it]
            listed = [_listed(name, os.path.join(path, name), e) for name, e in found]  # noqa: PTH118
    finally:
        os.close(fd)
    return sorted(listed, key=lambda entry: entry.name)


def _listed(name: bytes, path: bytes, entry: os.DirEntry[Any]) -> Listed:
    try:
        is_dir = entry.is_dir(follow_symlinks=False)  # d_type; a stat while the fd is open
    except OSError:
        is_dir = False
    return Listed(name, path, is_dir, entry.is_symlink(), entry.inode())


def list_dir(path: bytes, problems: list[Problem]) -> list[Listed]:
    """A directory's entries sorted by name (:func:`scan_directory`); a listing error
    becomes a Problem (none if absent)."""
    try:
        return scan_directory(path)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        problems.append(error(f"cannot list directory: {describe_os_error(exc)}", path))
        return []


def walk_entries(
    root: bytes,
    problems: list[Problem],
    recursive: bool = True,
    prune: Callable[[Listed], bool] | None = None,
) -> Iterator[bytes]:
    """Every non-directory entry under ``root`` (symlinks not followed), sorted, depth first.

    ``prune(entry)`` returning True keeps a subdirectory out of the walk.
    """
    stack = [root]
    while stack:
        directory = stack.pop()
        subdirs: list[bytes] = []
        for entry in list_dir(directory, problems):
            if entry.is_dir:
                if recursive and not (prune and prune(entry)):
                    subdirs.append(entry.path)
            else:
                yield entry.path
        stack.extend(reversed(subdirs))


def is_within(path: bytes, root: bytes) -> bool:
    """True if ``path`` is ``root`` or below it (both already resolved)."""
    sep = os.sep.encode()
    base = root if root.endswith(sep) else root + sep
    return path == root or path.startswith(base)


class OwnOutput:
    """Recognises the case's own output directory (by device and inode, and by path)."""

    REASON = "the case's own output directory"

    def __init__(self, output_dir: os.PathLike[str] | str) -> None:
        self.path = os.path.realpath(os.fsencode(output_dir))
        try:
            st = os.stat(self.path)
            self.ident: tuple[int, int] | None = (st.st_dev, st.st_ino)
        except OSError:
            self.ident = None
        self.reported = False

    def is_it(self, st: os.stat_result) -> bool:
        """True if ``st`` (of a directory) is the output directory."""
        return self.ident is not None and (st.st_dev, st.st_ino) == self.ident

    def contains(self, path: bytes) -> bool:
        """True if ``path`` (resolved) lies in the output directory."""
        return is_within(os.path.realpath(path), self.path)

    def problem_once(self, path: bytes) -> Iterator[Problem]:
        """One Problem for the first time the output directory is met, then none."""
        if not self.reported:
            self.reported = True
            yield skipped(self.REASON, path)


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([kmgtp])(i?)b?|b)?\s*$", re.IGNORECASE)
_POWERS = {"k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


def parse_size(value: object) -> int:
    """Bytes from an int or a size string.

    ``"10MiB"``, ``"512KiB"``: binary (1024). ``"1GB"``, ``"10MB"``: decimal (1000).
    ``"512K"``, ``"10M"`` (no B): binary, as ``du`` and ``find -size`` read them.
    ``"100"`` or ``"100B"``: bytes. Raises ValueError otherwise.
    """
    if isinstance(value, bool):
        raise ValueError(f"a size must be a number of bytes or like 10MiB, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a size cannot be negative, got {value}")
        return value
    if isinstance(value, str) and (match := _SIZE_RE.match(value)):
        number, unit, binary = match.group(1), match.group(2), match.group(3)
        if not unit:
            factor = 1
        else:
            decimal = not binary and value.strip().lower().endswith("b")
            factor = (1000 if decimal else 1024) ** _POWERS[unit.lower()]
        return int(float(number) * factor)
    raise ValueError(f"a size must be a number of bytes or like 10MiB, got {value!r}")
