"""Opening source files without changing them, and their times as text.

Reading evidence must not alter it: :func:`open_source` asks the kernel not to update
the access time (``O_NOATIME``) and never follows a symlink in the last component
(``O_NOFOLLOW``). Nanosecond times travel as decimal strings (:func:`ns_text`) because
they exceed the integer range of canonical JSON.
"""

from __future__ import annotations

import errno
import os

from custody.record.times import ns_text

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BASE_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOCTTY", 0)
    # A FIFO or device swapped in between lstat and open must not block the open.
    # O_NONBLOCK has no effect on reads of regular files.
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_BINARY", 0)  # Windows: no newline translation
)
_NOATIME = getattr(os, "O_NOATIME", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


def open_source(path: bytes | str, *, follow: bool = False, directory: bool = False) -> int:
    """Open ``path`` read-only, as every source is opened, and return the descriptor.

    Flags: ``O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOATIME``
    (those the OS has; ``O_BINARY`` on Windows). ``O_NOATIME`` is refused with ``EPERM``
    for files the process does not own unless it is privileged; the open is then retried
    without it. A symlink as the last component fails with ``ELOOP`` (Linux) or
    ``EMLINK``/``EFTYPE`` (BSD, macOS). ``follow=True`` drops ``O_NOFOLLOW``, for magic
    links such as ``/proc/PID/exe`` that name the file a process really runs.
    ``directory=True`` adds ``O_DIRECTORY``: anything else (a device, a FIFO) fails with
    ``ENOTDIR`` before it is opened.
    """
    flags = _BASE_FLAGS | (0 if follow else _NOFOLLOW) | (_DIRECTORY if directory else 0)
    if _NOATIME:
        try:
            return os.open(path, flags | _NOATIME)
        except PermissionError as exc:
            if exc.errno != errno.EPERM:
                raise
    return os.open(path, flags)


def _birthtime_ns(st: os.stat_result) -> int | None:
    ns = getattr(st, "st_birthtime_ns", None)  # Python 3.12+ on BSD, macOS, Windows
    if isinstance(ns, int):
        return ns
    sec = getattr(st, "st_birthtime", None)  # BSD, macOS (float seconds)
    if isinstance(sec, float | int):
        return round(sec * 1_000_000_000)
    return None


_HAS_BIRTHTIME = hasattr(os.stat_result, "st_birthtime") or hasattr(
    os.stat_result, "st_birthtime_ns"
)


def stat_times(st: os.stat_result) -> dict[str, str | None]:
    """``mtime``, ``atime``, ``ctime`` and ``birthtime`` of ``st`` as :func:`ns_text` strings.

    ``birthtime`` is ``None`` where the OS does not report it through ``os.stat`` (Linux:
    Python 3.11 has no ``statx``). On Windows ``st_ctime`` is the creation time.
    """
    birth = _birthtime_ns(st) if _HAS_BIRTHTIME else None
    return {
        "mtime": ns_text(st.st_mtime_ns),
        "atime": ns_text(st.st_atime_ns),
        "ctime": ns_text(st.st_ctime_ns),
        "birthtime": None if birth is None else ns_text(birth),
    }
