"""The per-artifact inventory: ``inventory.csv`` and ``inventory.jsonl``, one row per artifact.

The report itself stays short at any case size; the complete list of what was collected
goes into these two files, written into the bundle, listed in SHA256SUMS and attached to
the signed PDF. Both are a pure function of the ledger: every artifact the fold counts
(its run was started before it), in ledger order, one row each, with the same columns
(:data:`COLUMNS`). So the bundle verifier regenerates them from ``ledger.jsonl``
(:func:`inventory_lines`) and compares every byte.

- ``inventory.jsonl``: each line the RFC 8785 canonical JSON of the row; every value exactly
  as the ledger records it (names that are not UTF-8 as ``\\xNN`` text plus their
  ``*_b64``, ``mode`` as an integer, times as decimal seconds).
- ``inventory.csv``: RFC 4180 (comma, double quotes, CRLF), a header row, the same columns;
  ``mode`` in octal (``0644``). A text cell that a spreadsheet would run as a formula (it
  starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is written with an
  apostrophe before it; ``inventory.jsonl`` has the value as recorded.

The files are written in one pass over the ledger, row by row, and never held in memory.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from custody.errors import ExportError
from custody.record.canonical import canonical_json
from custody.record.entry import Entry
from custody.record.events import ArtifactCollected
from custody.record.flat_json import FlatObject
from custody.record.fold import Folder
from custody.record.times import file_time_shown

INVENTORY_CSV = "inventory.csv"
INVENTORY_JSONL = "inventory.jsonl"
INVENTORY_FILES = (INVENTORY_CSV, INVENTORY_JSONL)

#: The columns of both files, in order.
COLUMNS = (
    "seq",
    "run_id",
    "collector",
    "kind",
    "member",
    "member_b64",
    "path",
    "path_b64",
    "link_target",
    "link_target_b64",
    "size",
    "mtime",
    "mtime_utc",
    "mode",
    "uid",
    "gid",
    "uname",
    "gname",
    "sha256",
    "sha1",
    "md5",
    "changed",
)
#: What each column holds, for the report and VERIFY.md.
COLUMN_NOTES = (
    ("seq", "the ledger entry that recorded the artifact"),
    ("run_id", "the collection run"),
    ("collector, kind", "what collected it, and what it is: file, symlink, volatile, ..."),
    ("member", "its name in the run archive evidence/<run>.tar"),
    ("path", "its path on the examined host (empty for volatile records and command output)"),
    ("link_target", "for a symbolic link, the path it points to (never followed)"),
    ("size", "bytes archived"),
    ("mtime, mtime_utc", "modification time: decimal seconds as recorded, and as UTC text"),
    ("mode, uid, gid, uname, gname", "permissions (octal in the CSV) and owner"),
    ("sha256, sha1, md5", "the hashes recorded when it was read"),
    ("changed", "why it changed while it was read, when it did"),
    ("*_b64", "the exact bytes of a name that is not UTF-8 (base64)"),
)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_START = frozenset(_FORMULA)  # each one character
_MODE = COLUMNS.index("mode")
#: inventory.jsonl's rows: every column, in sorted (canonical) order.
_JSONL = FlatObject(sorted(COLUMNS))
_CHUNK = 1 << 20


def inventory_row(seq: int, a: ArtifactCollected) -> dict[str, Any]:
    """One artifact as a row of the inventory (every column, None where nothing is recorded),
    its keys in sorted order: the order of its canonical JSON (:func:`jsonl_line`)."""
    m, src, d = a.member, a.source, a.digests
    header = src if src is not None else m  # a file's header takes its source's facts
    return {
        "changed": a.changed,
        "collector": a.collector,
        "gid": header.gid,
        "gname": src.gname if src else None,
        "kind": a.kind,
        "link_target": src.symlink_target if src else None,
        "link_target_b64": src.symlink_target_b64 if src else None,
        "md5": d.md5,
        "member": m.name,
        "member_b64": m.name_b64,
        "mode": header.mode,
        "mtime": header.mtime,
        "mtime_utc": file_time_shown(header.mtime),
        "path": src.path if src else None,
        "path_b64": src.path_b64 if src else None,
        "run_id": a.run_id,
        "seq": seq,
        "sha1": d.sha1,
        "sha256": d.sha256,
        "size": m.size,
        "uid": header.uid,
        "uname": src.uname if src else None,
    }


def counted_artifacts(entries: Iterable[Entry]) -> Iterator[tuple[int, ArtifactCollected]]:
    """``(seq, event)`` of every artifact the fold counts (its run was started before it),
    in ledger order: the rule of the fold, the verifier and the bundle's documents."""
    folder = Folder()
    for entry, event in folder.feed(entries):
        if isinstance(event, ArtifactCollected) and event.run_id in folder.state.runs:
            yield entry.seq, event


def inventory_rows(entries: Iterable[Entry]) -> Iterator[dict[str, Any]]:
    """Every row of the inventory, in ledger order."""
    for seq, a in counted_artifacts(entries):
        yield inventory_row(seq, a)


def jsonl_line(row: dict[str, Any]) -> bytes:
    """A row of ``inventory.jsonl``: canonical JSON and a line feed."""
    line = _JSONL.encode(row)  # a row as inventory_row makes it; else None
    return (canonical_json(row) if line is None else line) + b"\n"


class CsvRows:
    """CSV rows as bytes (UTF-8; names are already text, \\xNN for bytes that are not)."""

    def __init__(self) -> None:
        self._buf = io.StringIO()
        self._writer = csv.writer(self._buf, lineterminator="\r\n")

    def line(self, cells: Iterable[str]) -> bytes:
        self._writer.writerow(cells)
        text = self._buf.getvalue()
        self._buf.seek(0)
        self._buf.truncate()
        return text.encode("utf-8", "surrogateescape")

    def header(self) -> bytes:
        return self.line(COLUMNS)

    def row(self, row: dict[str, Any]) -> bytes:
        # Nothing recorded is an empty cell and a number its decimal text (the csv module's
        # own rules for None and int); mode is octal; formula-like text is defused. A row
        # of text, integers and None that needs no quoting is joined here (the same bytes, in
        # less than half the time); any other goes through the csv module.
        texts = _plain_cells(row)
        if texts is not None and not _quoted("".join(texts)):
            return (",".join(texts) + "\r\n").encode("utf-8", "surrogateescape")
        cells = [
            ("'" + v if v.startswith(_FORMULA) else v) if isinstance(v, str) else v
            for v in map(row.__getitem__, COLUMNS)
        ]
        mode = cells[_MODE]
        if mode is not None:
            cells[_MODE] = f"{mode:04o}"
        return self.line(cells)


def _quoted(text: str) -> bool:
    """True when the csv module would quote a cell holding ``text`` (its minimal quoting,
    with a CRLF line end). (Four substring searches: quicker than one regular expression.)"""
    return "," in text or '"' in text or "\r" in text or "\n" in text


def _plain_cells(row: dict[str, Any]) -> list[str] | None:
    """The cells of a row whose values are all text, integers or None, as the csv module
    writes them before quoting (formula-like text defused, mode in octal); None for a row
    with any other value (the csv module then writes it)."""
    texts: list[str] = []
    for v in map(row.__getitem__, COLUMNS):
        t = type(v)
        if t is str:
            texts.append("'" + v if v[:1] in _FORMULA_START else v)
        elif v is None:
            texts.append("")
        elif t is int:
            texts.append(str(v))
        else:
            return None
    mode = row["mode"]
    if type(mode) is int:
        texts[_MODE] = f"{mode:04o}"
    elif mode is not None:
        return None
    return texts


def csv_header() -> bytes:
    """The first line of ``inventory.csv``: the column names."""
    return CsvRows().header()


def inventory_lines(entries: Iterable[Entry]) -> Iterator[tuple[int, bytes, bytes]]:
    """``(seq, CSV line, JSONL line)`` of every artifact, in ledger order: the two files'
    rows, made in one pass over ``entries``."""
    rows = CsvRows()
    for row in inventory_rows(entries):
        yield row["seq"], rows.row(row), jsonl_line(row)


@dataclass(frozen=True)
class AnnexFile:
    """A file the report refers to by hash and carries as an attachment."""

    name: str
    path: Path
    size: int
    sha256: str
    rows: int
    mime: str
    description: str


class _Out:
    """A new file written piece by piece, hashed and counted as it goes (a chunk at a time:
    :attr:`size` and :attr:`hash` are whole once it is closed)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = open(path, "xb")  # noqa: SIM115 (closed by close())
        self.hash = hashlib.sha256()
        self.size = 0
        self._pending: list[bytes] = []
        self._pending_size = 0

    def write(self, data: bytes) -> None:
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= _CHUNK:
            self.flush()

    def flush(self) -> None:
        data = b"".join(self._pending)
        self.hash.update(data)
        self.size += len(data)
        self.file.write(data)
        self._pending.clear()
        self._pending_size = 0

    def close(self) -> None:
        self.flush()
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()


class InventoryWriter:
    """Writes ``inventory.csv`` and ``inventory.jsonl`` into a directory (new files, never
    overwritten) one artifact at a time (:meth:`add`), so a pass over the ledger that does
    other work too can feed it; :meth:`close` gives what was written."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._outs: list[_Out] = []
        self._rows = CsvRows()
        self.count = 0
        try:
            for name in INVENTORY_FILES:
                self._outs.append(_Out(directory / name))
            self._outs[0].write(self._rows.header())
        except OSError as exc:
            self.abandon()
            raise self._failed(exc) from exc

    def _failed(self, exc: OSError) -> ExportError:
        where = exc.filename or self.directory
        return ExportError(f"cannot write the inventory in {where}: {exc.strerror or exc}")

    def add(self, seq: int, a: ArtifactCollected) -> None:
        """One artifact's row in both files."""
        row = inventory_row(seq, a)
        try:
            self._outs[0].write(self._rows.row(row))
            self._outs[1].write(jsonl_line(row))
        except OSError as exc:
            self.abandon()
            raise self._failed(exc) from exc
        self.count += 1

    def abandon(self) -> None:
        """Close the files without finishing them (the caller removes them)."""
        for out in self._outs:
            out.file.close()

    def close(self) -> tuple[AnnexFile, AnnexFile]:
        try:
            for out in self._outs:
                out.close()
        except OSError as exc:
            self.abandon()
            raise self._failed(exc) from exc
        csv_out, jsonl_out = self._outs
        n = self.count
        return (
            AnnexFile(
                INVENTORY_CSV,
                csv_out.path,
                csv_out.size,
                csv_out.hash.hexdigest(),
                n,
                "text/csv",
                "Every artifact, one row each (CSV, RFC 4180)",
            ),
            AnnexFile(
                INVENTORY_JSONL,
                jsonl_out.path,
                jsonl_out.size,
                jsonl_out.hash.hexdigest(),
                n,
                "application/x-ndjson",
                "Every artifact, one JSON object a line, values exactly as recorded",
            ),
        )


def write_inventory(directory: Path, entries: Iterable[Entry]) -> tuple[AnnexFile, AnnexFile]:
    """Write ``inventory.csv`` and ``inventory.jsonl`` into ``directory`` (new files, never
    overwritten), in one pass over ``entries``; what was written."""
    inventory = InventoryWriter(directory)
    try:
        for seq, a in counted_artifacts(entries):
            inventory.add(seq, a)
    except BaseException:
        inventory.abandon()
        raise
    return inventory.close()
