from __future__ import annotations

import base64
import os

import pytest

from custody.record.names import from_text, member_for_path, to_text


def test_utf8_name_is_its_own_text() -> None:
    assert to_text("files/été/a b.txt") == ("files/été/a b.txt", None)
    assert from_text("files/été/a b.txt", None) == "files/été/a b.txt"


def test_non_utf8_name_is_printable_and_exact() -> None:
    name = os.fsdecode(b"files/caf\xe9\n\\x.log")
    text, b64 = to_text(name)
    assert text == "files/caf\\xe9\n\\x.log"
    assert b64 is not None
    assert base64.b64decode(b64) == b"files/caf\xe9\n\\x.log"
    assert from_text(text, b64) == name
    assert os.fsencode(from_text(text, b64)) == b"files/caf\xe9\n\\x.log"


def test_same_text_different_bytes_are_told_apart() -> None:
    literal = to_text("a\\xff")  # a valid UTF-8 name that happens to contain a backslash
    raw = to_text(os.fsdecode(b"a\xff"))
    assert literal[0] == raw[0]
    assert literal[1] is None and raw[1] is not None


def test_from_text_rejects_bad_base64() -> None:
    with pytest.raises(ValueError, match="not base64"):
        from_text("x", "not base64!")


@pytest.mark.parametrize(
    ("path", "member"),
    [
        (b"/var/log/syslog", "files/var/log/syslog"),
        (b"//var/./log//syslog", "files/var/log/syslog"),
        (b"/a b/c\\d", "files/a b/c\\d"),  # a backslash is part of a POSIX name
        (b"/x/line\nbreak", "files/x/line\nbreak"),
        (b"relative/p", "files/relative/p"),
        (b"/dir/", "files/dir"),
    ],
)
def test_member_for_posix_path(path: bytes, member: str) -> None:
    assert member_for_path(path, windows=False) == member


def test_member_for_non_utf8_path_keeps_bytes() -> None:
    member = member_for_path(b"/tmp/caf\xe9", windows=False)
    assert os.fsencode(member) == b"files/tmp/caf\xe9"


@pytest.mark.parametrize(
    ("path", "member"),
    [
        (b"C:\\x\\y", "files/C/x/y"),
        (b"c:\\Windows\\System32\\config\\SAM", "files/C/Windows/System32/config/SAM"),
        (b"\\\\server\\share\\f.txt", "files/UNC/server/share/f.txt"),
        (b"\\\\?\\C:\\long\\path", "files/C/long/path"),
        (b"\\\\?\\UNC\\srv\\s\\f", "files/UNC/srv/s/f"),
    ],
)
def test_member_for_windows_path(path: bytes, member: str) -> None:
    assert member_for_path(path, windows=True) == member


def test_member_for_root_is_refused() -> None:
    with pytest.raises(ValueError, match="no member name"):
        member_for_path(b"/", windows=False)
