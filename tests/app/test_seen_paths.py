"""SeenPaths answers as a set of the paths would, in bounded memory."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from app.seen_paths import SeenPaths, _holds

paths = st.binary(min_size=0, max_size=40)


@given(st.lists(paths, max_size=300))
@settings(max_examples=200, deadline=None)
def test_answers_as_a_set_of_the_paths(sequence: list[bytes]) -> None:
    seen, expected = SeenPaths(), set[bytes]()
    for path in sequence:
        assert seen.add(path) == (path not in expected)
        expected.add(path)
        assert path in seen
    assert len(seen) == len(expected)
    assert all(p in seen for p in expected)


def test_many_paths_share_buckets_and_each_is_told_apart() -> None:
    seen = SeenPaths()
    many = [b"/srv/data/d%03d/file-%06d" % (i // 1000, i) for i in range(100_000)]
    assert all(seen.add(p) for p in many)  # 6 a bucket on average: lookups meet others
    assert not any(seen.add(p) for p in many[::7])
    assert len(seen) == len(many)
    assert b"/srv/data/d000/file-100000" not in seen and "a str" not in seen


def test_a_digest_straddling_two_entries_is_not_one() -> None:
    first, second = os.urandom(16), os.urandom(16)
    bucket = bytearray(first + second)
    assert _holds(bucket, first) and _holds(bucket, second)
    assert not _holds(bucket, first[8:] + second[:8])  # found at offset 8: not an entry
    assert _holds(bucket + first[8:] + second[:8], first[8:] + second[:8])  # found again at 32


def test_each_set_draws_its_own_key() -> None:
    a, b = SeenPaths(), SeenPaths()
    a.add(b"/etc/passwd")
    assert b"/etc/passwd" not in b
    assert a._digest(b"/etc/passwd") != b._digest(b"/etc/passwd")
