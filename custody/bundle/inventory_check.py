"""Do inventory.csv and inventory.jsonl say what the bundle's ledger says? Byte for byte.

Both files are a pure function of the ledger (:mod:`custody.report.inventory`), so they are
made again from the bundle's ``ledger.jsonl``, row by row for both as the ledger's artifacts
pass (:class:`InventoryCheck`, fed by the verification's one pass over the ledger), and
compared with the files as they are read: memory stays flat for any number of artifacts. The first
row that differs is named (its row number and ledger entry, the column and both values);
rows added or removed are found too. A bundle whose manifest does not name the files (made
before they existed) is not asked for them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Collection, Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from custody.record.entry import Entry
from custody.record.events import ArtifactCollected
from custody.record.regular import open_regular
from custody.report.inventory import (
    COLUMNS,
    INVENTORY_CSV,
    INVENTORY_FILES,
    INVENTORY_JSONL,
    CsvRows,
    counted_artifacts,
    csv_header,
    inventory_row,
    jsonl_line,
)
from custody.verify.findings import Report

CODE = "bundle.inventory"
#: Characters of a differing value shown in a finding.
SHOWN = 240


@dataclass
class _Compared:
    """One inventory file being compared with the rows the ledger gives."""

    name: str
    file: BinaryIO
    report: Report
    rows: int = 0
    done: bool = False

    def take(self, seq: int | None, expected: bytes) -> None:
        """Compare the next piece of the file (the header when ``seq`` is None)."""
        if self.done:
            return
        try:
            got = self.file.read(len(expected))
        except OSError as exc:
            self._stop(f"cannot be read: {exc.strerror or exc}")
            return
        if got == expected:
            self.rows += seq is not None
            return
        if not got:
            self._stop(
                f"ends after {self.rows:,} rows; the ledger has more artifacts, from entry {seq}",
                seq,
            )
            return
        where = "its header" if seq is None else f"row {self.rows + 1:,} (entry {seq})"
        what = _difference(self.name, got, expected, seq is None)
        self._stop(f"differs from the ledger at {where}: {what}", seq)

    def finish(self) -> None:
        if self.done:
            return
        try:
            more = self.file.read(1)
        except OSError as exc:
            self._stop(f"cannot be read: {exc.strerror or exc}")
            return
        if more:
            self._stop(
                f"has more bytes after its {self.rows:,} rows, one for each artifact of the "
                "ledger: rows were added"
            )

    def _stop(self, message: str, seq: int | None = None) -> None:
        self.report.add(CODE, self.name, message, seq)
        self.done = True


class InventoryCheck:
    """Both inventory files compared with the ledger as one pass over it goes: each row as
    the ledger's artifact passes (:meth:`feed`), then the ends and what is missing
    (:meth:`finish`). Made before the pass: it opens the files. ``present``: the name of
    every file in the bundle. :meth:`close` it when the pass fails."""

    def __init__(self, root: Path, present: Collection[str]) -> None:
        self._held = Report(str(root))  # the findings of the pass, until finish()
        self._stack = ExitStack()
        self._absent: list[str] = []
        #: By file, in :data:`INVENTORY_FILES` order: why it cannot be read, or None.
        self._unreadable: dict[str, str | None] = {}
        self._files: dict[str, _Compared] = {}
        self._rows = CsvRows()
        for name in INVENTORY_FILES:
            if name not in present:
                self._absent.append(name)
                continue
            try:
                opened = self._stack.enter_context(open_regular(root / name))
            except OSError as exc:
                self._unreadable[name] = f"cannot be read: {exc.strerror or exc}"
                continue
            self._unreadable[name] = None
            self._files[name] = _Compared(name, opened, self._held)
        self._csv = self._files.get(INVENTORY_CSV)
        self._jsonl = self._files.get(INVENTORY_JSONL)
        if self._csv is not None:
            self._csv.take(None, csv_header())

    def feed(self, seq: int, a: ArtifactCollected) -> None:
        """The ledger's next artifact (one the fold counts), in ledger order."""
        csv_file, jsonl_file = self._csv, self._jsonl
        want_csv = csv_file is not None and not csv_file.done
        want_jsonl = jsonl_file is not None and not jsonl_file.done
        if not (want_csv or want_jsonl):
            return
        row = inventory_row(seq, a)
        if want_csv:
            assert csv_file is not None
            csv_file.take(seq, self._rows.row(row))
        if want_jsonl:
            assert jsonl_file is not None
            jsonl_file.take(seq, jsonl_line(row))

    def close(self) -> None:
        self._stack.close()

    def finish(self, named: Iterable[str] | None, report: Report) -> None:
        """Add the findings to ``report``; ``named`` are the files the manifest lists
        (None when it cannot be read)."""
        required = set(named or ())
        for name in INVENTORY_FILES:
            if name in self._absent:
                if name in required:
                    report.add(
                        CODE, name, "is missing: the manifest names it as a file of the bundle"
                    )
            elif (why := self._unreadable.get(name)) is not None:
                report.add(CODE, name, why)
        try:
            for compared in self._files.values():
                compared.finish()
        finally:
            self.close()
        report.findings.extend(self._held.findings)
        self._held.findings.clear()


def check_inventory(
    root: Path,
    entries: Iterable[Entry],
    present: Collection[str],
    named: Iterable[str] | None,
    report: Report,
) -> None:
    """Compare each inventory file of the bundle at ``root`` with the ledger; ``named`` are
    the files the manifest lists (None when it cannot be read). ``entries`` is read once.
    (:class:`InventoryCheck` does the same within a pass made for other checks too.)"""
    check = InventoryCheck(root, present)
    try:
        for seq, a in counted_artifacts(entries):
            check.feed(seq, a)
    except BaseException:
        check.close()
        raise
    check.finish(named, report)


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return repr(text if len(text) <= SHOWN else text[:SHOWN] + "...")


def _cells(name: str, data: bytes) -> list[object] | None:
    """The values of one row of ``name`` (None when the bytes are not one row)."""
    try:
        if name == INVENTORY_CSV:
            return list(next(csv.reader(io.StringIO(data.decode("utf-8"), newline=""))))
        row = json.loads(data)
        return [row.get(c) for c in COLUMNS] if isinstance(row, dict) else None
    except (ValueError, StopIteration):
        return None


def _difference(name: str, got: bytes, expected: bytes, header: bool) -> str:
    """Where a row of the file differs from the ledger's: the column and both values."""
    want = _cells(name, expected)
    have = _cells(name, got)
    columns = ("column name",) * len(COLUMNS) if header else COLUMNS
    if want is not None and have is not None:
        for i, column in enumerate(columns):
            w = want[i] if i < len(want) else None
            h = have[i] if i < len(have) else None
            if w != h:
                return f"{column} is {_shown(h)}; the ledger gives {_shown(w)}"
    at = next((i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b), 0)
    return (
        f"the bytes differ from byte {at} of the row: the file has {_shown(got[at : at + 60])}, "
        f"the ledger gives {_shown(expected[at : at + 60])}"
    )
