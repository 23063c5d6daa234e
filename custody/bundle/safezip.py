"""Writing deterministic zips and extracting untrusted ones safely.

:func:`write_zip` makes the same bytes from the same files: entries sorted by name, one fixed
timestamp, fixed permissions (0644), no extra fields, ``ZIP_STORED`` for already-dense files
(``.tar``, ``.pdf``, signatures) and ``ZIP_DEFLATED`` for text.

:func:`safe_extract` refuses, before writing anything, every member that could land outside
the destination or be something other than a plain file: absolute names, ``..``, ``.`` and
empty components, backslashes, drive letters and colons, control characters, symbolic links
and other special entries, encrypted members, exact duplicates, a name that is both a file
and a directory, and size bombs (over :data:`MAX_TOTAL` bytes in all, or a deflated member
expanding more than :data:`MAX_RATIO` times). Each refusal is an
:class:`~custody.errors.ExportError` naming the member.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
import zipfile
from collections.abc import Iterable
from pathlib import Path

from custody.errors import ExportError

MAX_TOTAL = 1 << 40  # 1 TiB
MAX_RATIO = 1000
_CHUNK = 4 << 20
STORED_SUFFIXES = frozenset({".tar", ".pdf", ".sig", ".zip", ".gz", ".der"})
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\:]")


def _zip_time(at: dt.datetime) -> tuple[int, int, int, int, int, int]:
    t = at.astimezone(dt.UTC)
    if t.year < 1980:
        t = dt.datetime(1980, 1, 1, tzinfo=dt.UTC)
    return (t.year, t.month, t.day, t.hour, t.minute, t.second - t.second % 2)


def write_zip(zip_path: Path, root: Path, names: Iterable[str], *, timestamp: dt.datetime) -> None:
    """Write the files ``root/<name>`` into a new zip at ``zip_path``, deterministically.

    ``names`` are POSIX relative paths; they are sorted. Data are streamed, never read whole.
    """
    date_time = _zip_time(timestamp)
    try:
        with zipfile.ZipFile(zip_path, "x", allowZip64=True) as zf:
            for name in sorted(names):
                check_member_name(name)
                src = root / name
                size = src.stat().st_size
                info = zipfile.ZipInfo(name, date_time=date_time)
                info.create_system = 3  # Unix, so the permission bits below are honoured
                info.external_attr = (stat.S_IFREG | 0o644) << 16
                stored = Path(name).suffix.lower() in STORED_SUFFIXES
                info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
                info.file_size = size
                with (
                    src.open("rb") as fin,
                    zf.open(info, "w", force_zip64=size >= zipfile.ZIP64_LIMIT) as fout,
                ):
                    while chunk := fin.read(_CHUNK):
                        fout.write(chunk)
    except FileExistsError:
        raise ExportError(f"{zip_path} already exists: choose a new bundle name") from None
    except OSError as exc:
        raise ExportError(f"cannot write {zip_path}: {exc.strerror or exc}") from exc


def check_member_name(name: str) -> None:
    """Raise :class:`ExportError` unless ``name`` is a plain relative POSIX path."""
    if not name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise ExportError(f"unsafe zip member {name!r}: absolute path")
    bad = _BAD_CHARS.search(name)
    if bad:
        what = {"\\": "a backslash", ":": "a colon (drive letter or stream)"}.get(
            bad.group(0), f"control character {bad.group(0)!r}"
        )
        raise ExportError(f"unsafe zip member {name!r}: name contains {what}")
    parts = name.rstrip("/").split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise ExportError(
                f"unsafe zip member {name!r}: empty, '.' or '..' path component "
                "(it could write outside the destination)"
            )


def _kind(info: zipfile.ZipInfo) -> str:
    mode = info.external_attr >> 16
    if info.is_dir():
        return "dir"
    if info.create_system == 3 and mode:
        fmt = stat.S_IFMT(mode)
        if fmt == stat.S_IFLNK:
            return "symlink"
        if fmt not in (0, stat.S_IFREG):
            return "special"
    return "file"


def check_zip(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """Check every member of an open zip; return the file members. Raises :class:`ExportError`."""
    seen: set[str] = set()
    dirs: set[str] = set()
    files: list[zipfile.ZipInfo] = []
    total = 0
    for info in zf.infolist():
        name = info.filename
        check_member_name(name)
        kind = _kind(info)
        if kind == "symlink":
            raise ExportError(f"unsafe zip member {name!r}: symbolic link entry")
        if kind == "special":
            raise ExportError(f"unsafe zip member {name!r}: not a regular file or directory")
        if info.flag_bits & 0x1:
            raise ExportError(f"unsafe zip member {name!r}: encrypted")
        key = name.rstrip("/")
        if key in seen:
            raise ExportError(f"unsafe zip member {name!r}: duplicate name")
        seen.add(key)
        parents = key.split("/")[:-1]
        dirs.update("/".join(parents[: i + 1]) for i in range(len(parents)))
        if kind == "dir":
            dirs.add(key)
            continue
        total += info.file_size
        if total > MAX_TOTAL:
            raise ExportError(
                f"unsafe zip member {name!r}: the members would expand beyond "
                f"{MAX_TOTAL} bytes (zip bomb?)"
            )
        if (
            info.compress_type != zipfile.ZIP_STORED
            and info.file_size > MAX_RATIO * max(info.compress_size, 1)
            and info.file_size > 1 << 20
        ):
            raise ExportError(
                f"unsafe zip member {name!r}: expands {info.file_size} bytes from "
                f"{info.compress_size} (more than {MAX_RATIO}x: zip bomb?)"
            )
        files.append(info)
    for info in files:
        if info.filename in dirs:
            raise ExportError(
                f"unsafe zip member {info.filename!r}: is both a file and a directory"
            )
    return files


def safe_extract(zip_path: Path, dest: Path) -> list[str]:
    """Extract ``zip_path`` into the existing empty directory ``dest``; return the file names.

    Every member is checked before anything is written; while writing, no member may exceed
    its declared size and no existing path is followed or overwritten.
    """
    try:
        zf = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ExportError(f"{zip_path} is not a readable zip file: {exc}") from exc
    with zf:
        files = check_zip(zf)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        flags |= getattr(os, "O_BINARY", 0)
        for info in files:
            target = dest.joinpath(*info.filename.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            try:
                fd = os.open(target, flags, 0o644)
                with zf.open(info) as fin, os.fdopen(fd, "wb") as fout:
                    while chunk := fin.read(_CHUNK):
                        written += len(chunk)
                        if written > info.file_size:
                            raise ExportError(
                                f"zip member {info.filename!r} holds more than its declared "
                                f"{info.file_size} bytes"
                            )
                        fout.write(chunk)
            except (zipfile.BadZipFile, EOFError) as exc:
                raise ExportError(f"zip member {info.filename!r} is damaged: {exc}") from exc
            except OSError as exc:
                raise ExportError(
                    f"cannot extract zip member {info.filename!r}: {exc.strerror or exc}"
                ) from exc
        return [info.filename for info in files]
