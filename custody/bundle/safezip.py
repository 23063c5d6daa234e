"""Writing deterministic zips, and the rules for the names and sizes of their members.

:func:`write_zip` makes the same bytes from the same files: entries sorted by name, one fixed
timestamp, fixed permissions (0644), no extra fields, ``ZIP_STORED`` for already-dense files
(``.tar``, ``.pdf``, signatures) and ``ZIP_DEFLATED`` for text.

:func:`member_name_problem` says why a name could land outside the destination (absolute
names, ``..``, ``.`` and empty components, backslashes, drive letters and colons, control
characters); :data:`MAX_TOTAL` and :data:`MAX_RATIO` bound what a zip may expand to. Reading
an untrusted zip is :mod:`custody.bundle.zipcheck`'s business.
"""

from __future__ import annotations

import datetime as dt
import re
import stat
import zipfile
from collections.abc import Callable, Iterable
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


def write_zip(
    zip_path: Path,
    root: Path,
    names: Iterable[str],
    *,
    timestamp: dt.datetime,
    on_chunk: Callable[[int], None] | None = None,
) -> None:
    """Write the files ``root/<name>`` into a new zip at ``zip_path``, deterministically.

    ``names`` are POSIX relative paths; they are sorted. Data are streamed, never read whole;
    ``on_chunk(n)`` hears each block of ``n`` bytes written (it may raise to stop).
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
                        if on_chunk is not None:
                            on_chunk(len(chunk))
    except FileExistsError:
        raise ExportError(f"{zip_path} already exists: choose a new bundle name") from None
    except OSError as exc:
        raise ExportError(f"cannot write {zip_path}: {exc.strerror or exc}") from exc


def member_name_problem(name: str) -> str | None:
    """Why ``name`` is not a plain relative POSIX path, or None when it is one."""
    if not name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return f"unsafe zip member {name!r}: absolute path"
    bad = _BAD_CHARS.search(name)
    if bad:
        what = {"\\": "a backslash", ":": "a colon (drive letter or stream)"}.get(
            bad.group(0), f"control character {bad.group(0)!r}"
        )
        return f"unsafe zip member {name!r}: name contains {what}"
    for part in name.rstrip("/").split("/"):
        if part in ("", ".", ".."):
            return (
                f"unsafe zip member {name!r}: empty, '.' or '..' path component "
                "(it could write outside the destination)"
            )
    return None


def check_member_name(name: str) -> None:
    """Raise :class:`ExportError` unless ``name`` is a plain relative POSIX path."""
    problem = member_name_problem(name)
    if problem:
        raise ExportError(problem)
