"""GNU coreutils checksum files (``sha256sum`` format), written and read as bytes.

A line is ``HEX␠␠NAME``. Only a backslash, LF or CR in the name makes ``sha256sum`` escape:
the line then starts with ``\\`` and those characters become ``\\\\``, ``\\n`` and ``\\r``.
Spaces, ``*`` and bytes that are not UTF-8 are written raw, so names are handled as bytes
(a ``str`` name is converted with :func:`os.fsencode`, which keeps surrogate-escaped bytes).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

_HEX64 = re.compile(rb"[0-9a-fA-F]{64}")
_HEX64_TEXT = re.compile(r"[0-9a-fA-F]{64}")
_ESCAPED = re.compile(rb"[\\\n\r]")
_ESCAPES = {b"\\": b"\\\\", b"\n": b"\\n", b"\r": b"\\r"}


def _raw(name: str | bytes) -> bytes:
    return name if isinstance(name, bytes) else os.fsencode(name)


def format_line(hexdigest: str, name: str | bytes) -> bytes:
    """One checksum line, with ``sha256sum``'s escaping, ending in LF."""
    raw = _raw(name)
    if not _HEX64_TEXT.fullmatch(hexdigest):
        raise ValueError(f"not a SHA-256 hex digest: {hexdigest!r}")
    digest = hexdigest.lower().encode("ascii")
    if b"\\" in raw or b"\n" in raw or b"\r" in raw:
        return b"\\" + digest + b"  " + _ESCAPED.sub(_escape, raw) + b"\n"
    return digest + b"  " + raw + b"\n"


def _escape(m: re.Match[bytes]) -> bytes:
    return _ESCAPES[m.group(0)]


def format_sums(items: Iterable[tuple[str | bytes, str]], *, sort: bool = True) -> bytes:
    """A whole checksum file from ``(name, hexdigest)`` pairs, sorted by name bytes by default."""
    pairs = [(_raw(name), digest) for name, digest in items]
    if sort:
        pairs.sort(key=lambda p: p[0])
    return b"".join(format_line(digest, name) for name, digest in pairs)


def unescape_name(escaped: bytes) -> bytes:
    """Undo ``sha256sum``'s escaping of a name; raises ``ValueError`` on a bad escape."""
    out = bytearray()
    i = 0
    while i < len(escaped):
        c = escaped[i : i + 1]
        if c != b"\\":
            out += c
            i += 1
            continue
        nxt = escaped[i + 1 : i + 2]
        if nxt == b"\\":
            out += b"\\"
        elif nxt == b"n":
            out += b"\n"
        elif nxt == b"r":
            out += b"\r"
        else:
            raise ValueError(f"invalid escape \\{nxt.decode('latin-1')} in name {escaped!r}")
        i += 2
    return bytes(out)


def parse_sums(data: bytes) -> list[tuple[bytes, str]]:
    """``(name bytes, lower-case hex)`` for each line of a checksum file, in file order.

    Accepts text (``HEX␠␠NAME``) and binary (``HEX␠*NAME``) mode lines. Raises ``ValueError``
    naming the line number when a line is malformed.
    """
    result: list[tuple[bytes, str]] = []
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for lineno, line in enumerate(lines, 1):
        escaped = line.startswith(b"\\")
        body = line[1:] if escaped else line
        digest, sep, rest = body[:64], body[64:66], body[66:]
        if not _HEX64.fullmatch(digest) or sep not in (b"  ", b" *") or not rest:
            raise ValueError(f"line {lineno} is not a SHA-256 checksum line: {line[:120]!r}")
        if escaped:
            try:
                name = unescape_name(rest)
            except ValueError as exc:
                raise ValueError(f"line {lineno}: {exc}") from exc
        else:
            name = rest
        result.append((name, digest.decode("ascii").lower()))
    return result
