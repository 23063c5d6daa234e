"""The parts of the report and inventory that the export's one pass gathers or writes row by
row: a CSV row is exactly what the csv module writes for the documented cell rules, and
Annex B's signed entries kept as the ledger passes are the first and last halves of them."""

from __future__ import annotations

import csv
import io
from typing import Any

from custody.record.entry import make_entry
from custody.report.inventory import COLUMNS, CsvRows
from custody.report.model import LEDGER_ROWS, SignedEntries

FORMULA = ("=", "+", "-", "@", "\t", "\r")


def reference_line(row: dict[str, Any]) -> bytes:
    """The documented rules, cell by cell: nothing recorded is empty, mode is octal, text a
    spreadsheet would run as a formula gets an apostrophe, anything else its text."""

    def cell(name: str, value: Any) -> str:
        if value is None:
            return ""
        if name == "mode":
            return f"{value:04o}"
        if isinstance(value, str):
            return "'" + value if value.startswith(FORMULA) else value
        return str(value)

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow([cell(c, row[c]) for c in COLUMNS])
    return buf.getvalue().encode("utf-8", "surrogateescape")


def test_csv_rows_follow_the_cell_rules() -> None:
    texts = [
        None,
        "",
        "plain",
        'a "quoted", comma\nand line',
        "\x00\x07\x1b[31m \u202e \U0001f468\u200d\U0001f469 \udcff",
        *(p + "SUM(A1)" for p in FORMULA),
        " =not a formula",
    ]
    numbers = [None, 0, 7, 0o100644, 2**53 - 1, -5]
    rows = CsvRows()
    for i in range(len(texts) * len(numbers)):
        text, number = texts[i % len(texts)], numbers[i % len(numbers)]
        row: dict[str, Any] = dict.fromkeys(COLUMNS, text)
        for c in ("seq", "size", "mode", "uid", "gid"):
            row[c] = number
        assert rows.row(row) == reference_line(row), row


def _entry(seq: int) -> Any:
    return make_entry("case", seq, "2026-12-01T00:00:00Z", "fp", "note_added", {}, "0" * 64)


def test_signed_entries_keep_the_first_and_last_halves() -> None:
    half = LEDGER_ROWS // 2
    for count in (0, 1, half, half + 1, LEDGER_ROWS - 1, LEDGER_ROWS, LEDGER_ROWS + 1, 1000):
        kept = SignedEntries()
        entries = [_entry(n) for n in range(1, count + 1)]
        for e in entries:
            kept.add(e)
        assert kept.count == count
        expected = entries if count <= LEDGER_ROWS else entries[:half] + entries[-half:]
        assert kept.listed() == expected, count
        assert len(kept.first) + len(kept.last) <= LEDGER_ROWS
