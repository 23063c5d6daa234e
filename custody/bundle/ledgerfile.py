"""A bundle's ``ledger.jsonl``: one entry a line, read as a stream.

A malformed line is a finding (``ledger.malformed``), and so is a ledger that is missing
(``bundle.deleted``) or cannot be read (``bundle.unreadable``); the entries that can be read
are still given, so the checks say what follows from them. Kept apart from the bundle's
verification so that a command that only reads a bundle does not load the report code.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from custody.record.entry import Entry
from custody.record.regular import open_regular
from custody.verify.findings import Report

_NO_LEDGER = "is missing: the bundle's record cannot be checked"


def read_ledger_jsonl(path: Path, report: Report) -> Iterator[Entry]:
    """Entries of a ``ledger.jsonl``; a malformed line becomes a finding, and so does a
    file that cannot be read."""
    try:
        f = open_regular(path)
    except FileNotFoundError:
        report.add("bundle.deleted", path.name, _NO_LEDGER)
        return
    except OSError as exc:
        report.add("bundle.unreadable", path.name, f"cannot be read: {exc.strerror}")
        return
    with f:
        yield from ledger_lines(f, path.name, report)


def ledger_lines(lines: Iterable[bytes], name: str, report: Report) -> Iterator[Entry]:
    """Entries of the lines of a ``ledger.jsonl`` (``name``, for findings); a malformed
    line becomes a finding."""
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield Entry.from_json(json.loads(line), line)
        except (ValueError, KeyError, TypeError) as exc:
            report.add("ledger.malformed", f"{name} line {lineno}", f"not a ledger entry: {exc}")
