"""File times shown to people: file_time_shown, which writes the date of each day once and
the time of day by arithmetic, gives the text datetime.strftime gives, at any time, out of
range and malformed included."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from custody.record.times import file_time_shown, ns_text, text_ns

FIRST = int(dt.datetime(1, 1, 1, tzinfo=dt.UTC).timestamp())  # the datetime range, in seconds
LAST = int(dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC).timestamp())


def reference(text: str | None) -> str | None:
    """file_time_shown as it was: a datetime for every time."""
    if not text:
        return None
    try:
        ns = text_ns(text)
    except ValueError:
        return text
    sec, frac = divmod(ns, 1_000_000_000)
    try:
        t = dt.datetime.fromtimestamp(sec, dt.UTC)
    except (ValueError, OverflowError, OSError):
        return text
    return f"{t:%Y-%m-%d %H:%M:%S}.{frac:09d} UTC"


seconds = (
    st.integers(FIRST - 86_400 * 3, LAST + 86_400 * 3)
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([0, -1, FIRST, FIRST - 1, LAST, LAST + 1, 951_782_400, 2**63, -(2**63)])
)
recorded = (
    st.builds(lambda s, f: ns_text(s * 1_000_000_000 + f), seconds, st.integers(0, 10**9 - 1))
    | st.builds(lambda s, f: f"{s}.{f}", seconds, st.integers(0, 999))
    | st.builds(str, seconds)
    | st.text(st.sampled_from("0123456789.-+e \u0663\u00b2x"), max_size=14)
    | st.none()
)


@settings(max_examples=1000, deadline=None)
@given(recorded)
def test_file_time_shown_is_strftime_s_text(text: str | None) -> None:
    assert file_time_shown(text) == reference(text)


def test_file_time_shown_examples() -> None:
    assert file_time_shown("1700000000.123456789") == "2023-11-14 22:13:20.123456789 UTC"
    assert file_time_shown("-1.500000000") == "1969-12-31 23:59:58.500000000 UTC"
    assert file_time_shown(f"{FIRST}") == "1-01-01 00:00:00.000000000 UTC"  # as strftime has it
    assert file_time_shown(f"{LAST + 1}") == f"{LAST + 1}"  # beyond year 9999: as recorded
    assert file_time_shown("not a time") == "not a time"
    assert file_time_shown("") is None and file_time_shown(None) is None
