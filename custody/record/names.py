"""File names as evidence: exact bytes, printable text, and archive member names.

A name is carried as a Python ``str`` in which bytes that are not UTF-8 are
surrogate-escaped (what :func:`os.fsdecode` gives on POSIX). Such a ``str`` cannot be
put in JSON or a PDF as it is, so :func:`to_text` splits it into printable text and,
only when needed, the base64 of the exact bytes; :func:`from_text` puts it back.
"""

from __future__ import annotations

import base64
import binascii
import os


def _raw(name: str) -> bytes:
    return os.fsencode(name)


def to_text(name: str) -> tuple[str, str | None]:
    """``(printable text, base64 of the exact bytes or None)`` for a surrogate-escaped name.

    Valid UTF-8 names come back unchanged with ``None``. Otherwise the text shows each byte
    that is not UTF-8 as ``\\xNN`` (``backslashreplace``) and the base64 keeps the bytes.
    """
    raw = _raw(name)
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return raw.decode("utf-8", "backslashreplace"), base64.b64encode(raw).decode("ascii")


def from_text(text: str, b64: str | None) -> str:
    """Invert :func:`to_text`: the surrogate-escaped name from its text and base64."""
    if b64 is None:
        return text
    try:
        raw = base64.b64decode(b64.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"not base64 of a name: {b64!r}") from exc
    return os.fsdecode(raw)


def _is_windows_path(path: bytes) -> bool:
    return len(path) >= 2 and path[1:2] == b":" and path[:1].isalpha()


_WINDOWS = os.name == "nt"


def member_for_path(path: bytes, *, windows: bool | None = None) -> str:
    """The archive member name for a source file: ``files/`` + the path without its root.

    ``/var/log/syslog`` -> ``files/var/log/syslog``; on Windows ``C:\\x\\y`` ->
    ``files/C/x/y`` and ``\\\\server\\share\\f`` -> ``files/UNC/server/share/f``. Empty and
    ``.`` components are dropped (``//a/./b`` -> ``files/a/b``); every other byte is kept
    as it is, including backslashes on POSIX, newlines and bytes that are not UTF-8. The
    result is surrogate-escaped like :func:`os.fsdecode`. ``windows`` defaults to the
    running OS.
    """
    if windows is None:
        windows = _WINDOWS
    if (
        not windows
        and path[:1] == b"/"
        and path[1:2] != b"/"
        and b"//" not in path
        and b"/./" not in path
        and path[-1:] != b"/"
        and path[-2:] != b"/."
    ):  # the common case: already normal
        return "files" + os.fsdecode(path)
    if windows:
        p = path.replace(b"\\", b"/")
        if p.startswith(b"//?/UNC/"):
            p = b"UNC/" + p[8:]
        elif p.startswith((b"//?/", b"//./")):
            p = p[4:]
        elif p.startswith(b"//"):
            p = b"UNC/" + p[2:]
        if _is_windows_path(p):
            p = p[:1].upper() + p[2:]
        sep = b"/"
    else:
        p = path
        sep = b"/"
    parts = [c for c in p.split(sep) if c not in (b"", b".")]
    if not parts:
        raise ValueError(f"no member name for path {path!r}")
    return "files/" + os.fsdecode(b"/".join(parts))
