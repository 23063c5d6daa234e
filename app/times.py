"""Times for the CLI and the UI: the record's one formatter (:mod:`custody.record.times`)."""

from __future__ import annotations

from custody.record.times import file_time_shown, parse_utc, shown, utc_text

__all__ = ["file_time_shown", "parse_utc", "shown", "utc_text"]
