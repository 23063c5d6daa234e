"""The member the header tests start from: its facts, as :func:`encode_header` takes them."""

from __future__ import annotations

from custody.store.tarheader import REGTYPE, encode_header

#: A recent time as collected (``ns_text``: 20 characters, nanoseconds).
NS = "1700000000.123456789"


def member(**kw: object) -> dict[str, object]:
    """The keyword facts of a usual member (a regular file of alice's, collected with
    nanosecond times and one extended attribute), ``kw`` replacing any of them."""
    facts: dict[str, object] = {
        "mode": 0o644,
        "uid": 1000,
        "gid": 1000,
        "uname": b"alice",
        "gname": b"staff",
        "mtime": NS,
        "atime": NS,
        "ctime": NS,
        "xattrs": {"user.a": b"1"},
        "typeflag": REGTYPE,
        "linkname": b"",
        "sort_xattrs": True,
    }
    facts.update(kw)
    return facts


def header(name: bytes = b"files/a.txt", size: int = 3, **kw: object) -> bytes:
    """The encoded headers of :func:`member` named ``name``, of ``size`` bytes."""
    return encode_header(name, size, **member(**kw))  # type: ignore[arg-type]
