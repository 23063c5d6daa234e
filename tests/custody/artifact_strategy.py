"""Hypothesis strategies for the per-artifact documents' fast paths: artifact events whose
values reach every branch (text a CSV must quote or defuse, JSON escapes, lone surrogates,
integers beyond the canonical range, values of the wrong type, hashes that are not hex,
each kind), and flat rows of such values."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from custody.record.digests import Digests
from custody.record.events import ArtifactCollected, MemberRef, SourceFacts

#: Characters with a meaning somewhere: CSV quoting and formulas, JSON escapes, path
#: separators, bytes kept as surrogates, a lone surrogate no UTF-8 text holds, non-ASCII.
SPECIAL = (",", '"', "\r", "\n", "=", "+", "-", "@", "\t", "\\", "/", "\x00", "\x1f", "\x7f")
SPECIAL += ("\udcff", "\ud800", "é", "\u2028", "\U0001f468", "{", "}", "'", " ")
texts = st.text(
    st.sampled_from(SPECIAL) | st.characters(exclude_categories=()) | st.characters(),
    max_size=12,
)
#: Integers around the canonical range (2**53 - 1), and values of other types.
numbers = (
    st.integers(0, 2**40)
    | st.integers(-(2**60), 2**60)
    | st.sampled_from([2**53 - 1, 2**53, -(2**53) + 1, -(2**53)])
)
odd = st.booleans() | st.floats(allow_nan=False, allow_infinity=False)
values = st.none() | texts | numbers | odd
times = st.none() | texts | st.integers(-(10**14), 10**14).map(lambda n: f"{n}.{n % 10**9:09d}")
hashes = st.sampled_from(["ab" * 32, "AB" * 32, "ab" * 31 + "xy", "", "abc", "0" * 64])


def _maybe_odd(strategy: Any, odd_values: bool) -> Any:
    """``strategy``, or, when ``odd_values``, it or a value of another type."""
    return strategy | odd if odd_values else strategy


@st.composite
def artifact_events(draw: Any, *, odd_values: bool = False) -> ArtifactCollected:
    """An artifact event; ``odd_values``: some fields hold values of a type their event
    does not declare (a test's or a bug's), which the slow paths must still write."""
    source = None
    if draw(st.booleans()):
        source = SourceFacts(
            path=draw(texts),
            path_b64=draw(st.none() | texts),
            mode=draw(st.none() | _maybe_odd(numbers, odd_values)),
            uid=draw(st.none() | numbers),
            gid=draw(st.none() | numbers),
            uname=draw(st.none() | texts),
            gname=draw(st.none() | texts),
            mtime=draw(times),
            symlink_target=draw(st.none() | texts),
            symlink_target_b64=draw(st.none() | texts),
        )
    offset = draw(numbers)
    return ArtifactCollected(
        run_id=draw(texts),
        collector=draw(texts),
        kind=draw(st.sampled_from(["file", "symlink", "directory", "volatile", "command"])),
        member=MemberRef(
            name=draw(texts),
            name_b64=draw(st.none() | texts),
            header_offset=offset,
            data_offset=draw(numbers),
            size=draw(_maybe_odd(numbers, odd_values)),
            header_sha256=draw(st.none() | hashes),
            mtime=draw(times),
            mode=draw(st.none() | numbers),
            uid=draw(st.none() | numbers),
            gid=draw(st.none() | numbers),
        ),
        digests=Digests(draw(hashes), draw(hashes), draw(hashes)),
        source=source,
        changed=draw(st.none() | texts),
    )
