"""The inventory's rows as the export writes them, one per artifact: the fast paths give
the bytes of the csv module and of canonical_json for every value an artifact can hold
(and leave them the values they do not take), so inventory.csv and inventory.jsonl are
byte for byte what they were."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from custody.record.canonical import canonical_json
from custody.record.events import ArtifactCollected
from custody.report.inventory import (
    _JSONL,
    COLUMNS,
    CsvRows,
    _plain_cells,
    inventory_row,
    jsonl_line,
)
from tests.custody.artifact_strategy import artifact_events, texts, values

FORMULA = ("=", "+", "-", "@", "\t", "\r")


def outcome(make: Callable[[], bytes]) -> bytes | type[BaseException]:
    """What ``make()`` gives: its bytes, or the type of what it raised."""
    try:
        return make()
    except Exception as exc:
        return type(exc)


def reference_csv(row: dict[str, Any]) -> bytes:
    """A CSV row as the csv module writes it, by the documented cell rules (the writer's
    code before its fast path)."""
    buf = io.StringIO()
    cells = [
        ("'" + v if v.startswith(FORMULA) else v) if isinstance(v, str) else v
        for v in map(row.__getitem__, COLUMNS)
    ]
    mode = cells[COLUMNS.index("mode")]
    if mode is not None:
        cells[COLUMNS.index("mode")] = f"{mode:04o}"
    csv.writer(buf, lineterminator="\r\n").writerow(cells)
    return buf.getvalue().encode("utf-8", "surrogateescape")


def test_rows_have_every_column_in_canonical_order() -> None:
    assert _JSONL.keys == tuple(sorted(COLUMNS))


@settings(max_examples=400, deadline=None)
@given(artifact_events(odd_values=True), st.integers(1, 2**40))
def test_an_artifact_s_lines_are_the_csv_module_s_and_canonical_json(
    a: ArtifactCollected, seq: int
) -> None:
    row = inventory_row(seq, a)
    assert tuple(row) == _JSONL.keys
    assert outcome(lambda: jsonl_line(row)) == outcome(lambda: canonical_json(row) + b"\n")
    assert outcome(lambda: CsvRows().row(row)) == outcome(lambda: reference_csv(row))


cells = st.fixed_dictionaries(dict.fromkeys(COLUMNS, values)) | st.fixed_dictionaries(
    dict.fromkeys(COLUMNS, st.none() | texts | st.integers())
)


@settings(max_examples=400, deadline=None)
@given(cells)
def test_any_row_is_the_csv_module_s(row: dict[str, Any]) -> None:
    rows = CsvRows()
    assert outcome(lambda: rows.row(row)) == outcome(lambda: reference_csv(row))
    assert outcome(lambda: jsonl_line(row)) == outcome(lambda: canonical_json(row) + b"\n")


def test_plain_artifacts_take_the_fast_paths() -> None:
    a = ArtifactCollected.from_payload(
        {
            "v": 2,
            "run_id": "r1",
            "collector": "files",
            "kind": "file",
            "member": {"name": "files/a,b", "header_offset": 0, "data_offset": 512, "size": 3},
            "digests": {"sha256": "ab" * 32, "sha1": "cd" * 20, "md5": "ef" * 16},
            "source": {"path": '/etc/"q"\n=x', "mode": 0o644, "uid": 0, "mtime": "1.5"},
        }
    )
    row = inventory_row(7, a)
    assert _JSONL.encode(row) is not None and _plain_cells(row) is not None
    assert jsonl_line(row) == canonical_json(row) + b"\n"
    assert CsvRows().row(row) == reference_csv(row)
    assert row["mtime_utc"] == "1970-01-01 00:00:01.500000000 UTC"
