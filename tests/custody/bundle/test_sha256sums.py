"""GNU checksum files: our writer and parser against the real sha256sum."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custody.bundle.sha256sums import format_line, format_sums, parse_sums, unescape_name

ODD_NAMES = [
    b"plain.txt",
    b"sp ace",
    b"back\\slash",
    b"new\nline",
    b"cr\rname",
    b"star*",
    b"\xff\xfebin",
]


def test_format_line_escapes_like_coreutils() -> None:
    h = "a" * 64
    assert format_line(h, "x y") == b"a" * 64 + b"  x y\n"
    assert format_line(h, b"a\\b") == b"\\" + b"a" * 64 + b"  a\\\\b\n"
    assert format_line(h, b"a\nb\rc") == b"\\" + b"a" * 64 + b"  a\\nb\\rc\n"
    with pytest.raises(ValueError, match="not a SHA-256"):
        format_line("xyz", "a")


def test_round_trip_and_sorting() -> None:
    items = [(n, hashlib.sha256(n).hexdigest()) for n in ODD_NAMES]
    data = format_sums(items)
    parsed = parse_sums(data)
    assert parsed == sorted(items)


def test_parse_rejects_malformed_lines() -> None:
    with pytest.raises(ValueError, match="line 2"):
        parse_sums(b"a" * 64 + b"  ok\nnot a line\n")
    with pytest.raises(ValueError, match="invalid escape"):
        unescape_name(b"a\\x")
    assert parse_sums(b"A" * 64 + b" *bin\n") == [(b"bin", "a" * 64)]


def test_real_sha256sum_agrees(tmp_path: Path) -> None:
    """Files with odd names: our file passes `sha256sum -c`, and we parse sha256sum's output."""
    for i, name in enumerate(ODD_NAMES):
        (tmp_path / os.fsdecode(name)).write_bytes(b"content %d" % i)
    ours = format_sums(
        (n, hashlib.sha256((tmp_path / os.fsdecode(n)).read_bytes()).hexdigest()) for n in ODD_NAMES
    )
    (tmp_path.parent / "ours.sha256").write_bytes(ours)
    check = subprocess.run(
        ["sha256sum", "-c", str(tmp_path.parent / "ours.sha256")], cwd=tmp_path, capture_output=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(b": OK") == len(ODD_NAMES)
    theirs = subprocess.run(
        ["sha256sum", *[os.fsdecode(n) for n in sorted(ODD_NAMES)]],
        cwd=tmp_path,
        capture_output=True,
        check=True,
    ).stdout
    assert theirs == ours
    assert {n for n, _ in parse_sums(theirs)} == set(ODD_NAMES)


def reference_line(hexdigest: str, name: str | bytes) -> bytes:
    """format_line as it was: every step on bytes."""
    raw = name if isinstance(name, bytes) else os.fsencode(name)
    if not re.fullmatch(rb"[0-9a-fA-F]{64}", hexdigest.encode("ascii")):
        raise ValueError(f"not a SHA-256 hex digest: {hexdigest!r}")
    prefix = b""
    if any(c in raw for c in (b"\\", b"\n", b"\r")):
        prefix = b"\\"
        escapes = {b"\\": b"\\\\", b"\n": b"\\n", b"\r": b"\\r"}
        raw = re.sub(rb"[\\\n\r]", lambda m: escapes[m.group(0)], raw)
    return prefix + hexdigest.lower().encode("ascii") + b"  " + raw + b"\n"


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(["ab" * 32, "AB" * 32, "0" * 63, "g" * 64, "é" * 64, "ab" * 32 + "\n"]),
    st.binary(max_size=12)
    | st.lists(st.sampled_from([b"\\", b"\n", b"\r", b"a", b" "])).map(b"".join)
    | st.text(max_size=8).filter(lambda t: "\x00" not in t),
)
def test_format_line_is_as_it_was(hexdigest: str, name: str | bytes) -> None:
    try:
        want: bytes | type[ValueError] = reference_line(hexdigest, name)
    except ValueError:
        want = ValueError
    try:
        got: bytes | type[ValueError] = format_line(hexdigest, name)
    except ValueError:
        got = ValueError
    assert got == want
