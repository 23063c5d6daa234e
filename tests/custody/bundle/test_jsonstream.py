"""Reading a large JSON object piece by piece: the same values as json.loads, or an error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from custody.bundle import jsonstream
from custody.bundle.jsonstream import ARRAY, scan

DOC: dict[str, Any] = {
    "artifacts": [{"seq": i, "name": "é" * i, "n": 12345678901} for i in range(40)],
    "big": 1234567,
    "list": [1, 2, {"k": "v"}],
    "z": True,
}


def _read(path: Path, stream: str) -> tuple[dict[str, Any], list[Any]]:
    members: dict[str, Any] = {}
    items: list[Any] = []
    for key, value, is_item in scan(path, stream):
        if is_item:
            items.append(value)
        else:
            members[key] = value
    return members, items


@pytest.mark.parametrize(
    "text",
    [json.dumps(DOC), json.dumps(DOC, indent=3), '{"artifacts": []}', "{}", '{"artifacts": 5}'],
    ids=["compact", "indented", "empty-list", "empty", "not-a-list"],
)
def test_same_values_as_json_loads_across_chunk_edges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setattr(jsonstream, "_CHUNK", 7)  # every value straddles reads
    path = tmp_path / "doc.json"
    path.write_text(text, encoding="utf-8")
    members, items = _read(path, "artifacts")
    expected = json.loads(text)
    if isinstance(expected.get("artifacts"), list):
        assert members.pop("artifacts") is ARRAY
        assert items == expected.pop("artifacts")
    assert members == expected


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"a": 1, "a": 2}', "'a' appears twice"),
        (b'{"a": {"b": 1, "b": 2}}', "key 'b' twice"),
        (b'{"artifacts": [{"x": 1, "x": 1}]}', "key 'x' twice"),
        (b'{"a": 1', "expected one of"),
        (b'{"a": 1} x', "text after the end"),
        (b"[1]", "expected one of '{'"),
        (b'{"artifacts": [1, 2', "at character"),
        (b'{"a": "\xff"}', "not UTF-8"),
    ],
)
def test_malformed_documents_are_refused(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "doc.json"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=message):
        _read(path, "artifacts")
