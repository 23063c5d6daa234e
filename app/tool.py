"""The tool's own identity: version, the SHA-256 of what runs, and what a one-file binary unpacked.

The run records these facts in its first ledger entry and hands them to the system collector
(``CollectContext.tool``), which writes them into ``volatile/system.json``; collectors never
import ``app``.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import re
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.version import __version__
from custody.record.events import ToolFootprint
from custody.store.sources import open_source

#: The packages whose ``.py`` files make up the tool when it runs from source.
SOURCE_PACKAGES = ("app", "collectors", "custody")
#: File systems that live in memory: unpacking there leaves nothing on a disk.
MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})
_CHUNK = 1 << 20


def _source_root() -> Path:
    return Path(__file__).resolve().parent.parent


def _chunks(path: str, *, follow: bool) -> Iterator[bytes]:
    """A regular file's content, opened as sources are (no change to its access time)."""
    fd = open_source(path, follow=follow)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        while chunk := os.read(fd, _CHUNK):
            yield chunk
    finally:
        os.close(fd)


@functools.cache
def tool_sha256() -> tuple[str, str]:
    """``(path, sha256 hex)`` identifying the running tool; computed once a process.

    Frozen (PyInstaller): the SHA-256 of ``sys.executable``, the one-file binary.
    From source: the path of the source root and a SHA-256 over every ``.py`` file of
    ``app/``, ``collectors/`` and ``custody/`` (recursively, ``__pycache__`` excluded),
    taken in order of their relative POSIX paths; each file contributes
    ``relpath (UTF-8) + b"\\0" + decimal length + b"\\0" + content``, so no two
    different trees give the same byte stream.
    """
    digest = hashlib.sha256()
    if getattr(sys, "frozen", False):
        for chunk in _chunks(sys.executable, follow=True):
            digest.update(chunk)
        return sys.executable, digest.hexdigest()
    root = _source_root()
    files: list[tuple[str, Path]] = []
    for package in SOURCE_PACKAGES:
        for path in (root / package).rglob("*.py"):
            if "__pycache__" not in path.parts:
                files.append((path.relative_to(root).as_posix(), path))
    for rel, path in sorted(files):
        content = b"".join(_chunks(str(path), follow=False))
        digest.update(rel.encode() + b"\0" + str(len(content)).encode() + b"\0" + content)
    return str(root), digest.hexdigest()


def filesystem_of(path: str) -> str | None:
    """The type of the file system holding ``path`` (Linux: /proc/self/mountinfo), or None."""
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    real = os.path.realpath(path)
    best, fstype = "", None
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        try:
            dash = fields.index("-")
        except ValueError:
            continue
        # Mount points escape space, tab, newline and backslash as octal (\040 ...).
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4])
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, fstype = point, fields[dash + 1]
    return fstype


@functools.cache
def tool_footprint() -> ToolFootprint | None:
    """Where this one-file binary unpacked itself on this system, and how much it wrote there.

    A PyInstaller one-file binary writes its libraries into ``$TMPDIR`` (default /tmp) at
    every start: a change to the system examined unless that is in memory (tmpfs) or on the
    examiner's drive. ``None`` when not running from such a binary. Measured once a process:
    the CLI's note, the system record and the run's first ledger entry all report it.
    """
    meipass = getattr(sys, "_MEIPASS", None) if getattr(sys, "frozen", False) else None
    # One-file builds unpack into a fresh _MEIxxxxxx directory; one-folder builds do not.
    if meipass is None or not Path(meipass).name.startswith("_MEI"):
        return None
    return footprint_of(meipass)


def footprint_of(unpack_dir: str) -> ToolFootprint | None:
    """Bytes, files and file system of the directory ``unpack_dir``; None if it is not one."""
    if not Path(unpack_dir).is_dir():
        return None
    files = size = 0
    for top, _dirs, names in os.walk(unpack_dir):
        for name in names:
            try:
                size += (Path(top) / name).lstat().st_size
            except OSError:
                continue
            files += 1
    fstype = filesystem_of(unpack_dir)
    return ToolFootprint(
        unpacked_to=unpack_dir,
        bytes=size,
        files=files,
        filesystem=fstype,
        in_memory=fstype in MEMORY_FILESYSTEMS if fstype is not None else None,
    )


def tool_facts() -> dict[str, Any]:
    """The tool's identity as the system collector records it (``CollectContext.tool``):
    name, version, frozen or not, what was unpacked, and the SHA-256 of what runs (or why
    it could not be taken)."""
    frozen = bool(getattr(sys, "frozen", False))
    facts: dict[str, Any] = {"name": "chainproof", "version": __version__, "frozen": frozen}
    if frozen:
        footprint = tool_footprint()
        facts["unpacked"] = footprint.to_json() if footprint else None
    try:
        facts["hashed_path"], facts["sha256"] = tool_sha256()
        facts["sha256_of"] = "executable" if frozen else "source files (.py)"
    except OSError as exc:
        facts["sha256"] = None
        facts["sha256_error"] = str(exc)
    return facts
