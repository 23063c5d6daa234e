"""Times as the record writes and shows them: one formatter for the whole program.

- Ledger times are ISO 8601 UTC with microseconds and ``Z``: ``2026-12-01T04:07:15.981116Z``.
- File times travel as exact decimal seconds (``1700000000.123456789``): nanoseconds exceed
  the integer range of canonical JSON. This is also the pax format for ``mtime``.
- People see ``2026-12-01 04:07:15 UTC`` (:func:`shown`) or, for file times, nanoseconds.
"""

from __future__ import annotations

import datetime as dt
import functools

_LEDGER_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc_text(t: dt.datetime) -> str:
    """An aware datetime as the ledger writes times; raises ValueError for a naive one."""
    if t.tzinfo is None:
        raise ValueError("naive datetime: the record keeps UTC times only")
    return t.astimezone(dt.UTC).strftime(_LEDGER_FORMAT)


def utc_now_text() -> str:
    """Now, as the ledger writes times."""
    return dt.datetime.now(dt.UTC).strftime(_LEDGER_FORMAT)


def parse_utc(text: str) -> dt.datetime:
    """A ledger time back as an aware UTC datetime; also accepts other ISO 8601 UTC forms."""
    try:
        return dt.datetime.strptime(text, _LEDGER_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"time without a zone: {text!r}")
    return parsed.astimezone(dt.UTC)


def shown(value: dt.datetime | str | None, *, micro: bool = False) -> str:
    """A time for people: ``2026-12-01 04:07:15 UTC`` (``micro`` keeps microseconds).

    Accepts a datetime or a ledger time; gives ``""`` for None and the text itself when it
    cannot be read as a time.
    """
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            t = parse_utc(value)
        except ValueError:
            return value
    else:
        t = value
    fmt = "%Y-%m-%d %H:%M:%S.%f UTC" if micro else "%Y-%m-%d %H:%M:%S UTC"
    return t.astimezone(dt.UTC).strftime(fmt)


def ns_text(ns: int) -> str:
    """Nanoseconds since the epoch as exact decimal seconds: ``1700000000.123456789``.

    Negative times (before 1970) keep their sign on the whole value: ``-1.500000000``.
    """
    sign = "-" if ns < 0 else ""
    sec, frac = divmod(abs(ns), 1_000_000_000)
    return f"{sign}{sec}.{frac:09d}"


def text_ns(text: str) -> int:
    """Invert :func:`ns_text` (also accepts fewer than nine decimals and no decimals)."""
    neg = text.startswith("-")
    whole, _, frac = text.lstrip("-").partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()) or len(frac) > 9:
        raise ValueError(f"not a decimal time: {text!r}")
    ns = int(whole) * 1_000_000_000 + int(frac.ljust(9, "0") or 0)
    return -ns if neg else ns


def file_time_shown(text: str | None) -> str | None:
    """A recorded file time (decimal seconds) as UTC text with its nanoseconds, for people."""
    if not text:
        return None
    try:
        ns = text_ns(text)
    except ValueError:
        return text
    sec, frac = divmod(ns, 1_000_000_000)
    day, second = divmod(sec, _DAY)  # POSIX time: every day has 86,400 seconds
    date = _date_text(day)
    if date is None:
        return text
    hour, second = divmod(second, 3600)
    minute, second = divmod(second, 60)
    return f"{date} {hour:02d}:{minute:02d}:{second:02d}.{frac:09d} UTC"


_DAY = 86_400


@functools.lru_cache(maxsize=1024)
def _date_text(day: int) -> str | None:
    """The UTC date of the ``day``-th day since the epoch (``2026-12-01``), as
    :meth:`~datetime.datetime.strftime` writes it; None out of the datetime range (whole
    years, so whole days). Remembered: a case's file times fall on few days."""
    try:
        t = dt.datetime.fromtimestamp(day * _DAY, dt.UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return f"{t:%Y-%m-%d}"


def shown_stacked(value: dt.datetime | str | None) -> str:
    """A time for a narrow table cell: the date over the time to the second.

    ``2026-12-01\\n04:07:15Z``; ``""`` for None, the text itself when it is not a time.
    """
    t = _as_utc(value)
    if t is None:
        return "" if value is None else str(value)
    return f"{t:%Y-%m-%d}\n{t:%H:%M:%S}Z"


def shown_date(value: dt.datetime | str | None) -> str:
    """The UTC date of a time, for people: ``2026-12-01`` (``""`` for None)."""
    t = _as_utc(value)
    if t is None:
        return "" if value is None else str(value)
    return f"{t:%Y-%m-%d}"


def _as_utc(value: dt.datetime | str | None) -> dt.datetime | None:
    """``value`` as an aware UTC datetime; None when it is None, empty or not a time."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    try:
        return parse_utc(value)
    except ValueError:
        return None
