"""The flat-object fast path of canonical JSON gives canonical_json's bytes, or None and
leaves the object to canonical_json: any key order, values and keys it does not take."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custody.record.canonical import canonical_json
from custody.record.flat_json import FlatObject
from tests.custody.artifact_strategy import texts, values

KEYS = ("a", "b_64", "mtime", "run_id", "seq", "size", "z")
FLAT = FlatObject(KEYS)
COMPACT = FlatObject(KEYS, omit_none=True)
MAX = 2**53 - 1
plain_values = (
    st.none()
    | st.integers(-MAX, MAX)
    | texts.filter(lambda t: t.encode("utf-8", "ignore").decode() == t)
)


def rows_of(strategy: Any) -> Any:
    """Rows with :data:`KEYS` in order, each value from ``strategy``."""
    return st.fixed_dictionaries(dict.fromkeys(KEYS, strategy)).map(
        lambda d: {k: d[k] for k in KEYS}
    )


rows = rows_of(values) | rows_of(plain_values)


def is_plain(v: Any) -> bool:
    """A value the fast path writes: None, text that UTF-8 holds, a safe-range integer."""
    if type(v) is str:
        return not any(0xD800 <= ord(c) <= 0xDFFF for c in v)
    return v is None or (type(v) is int and abs(v) <= MAX)


@settings(max_examples=500, deadline=None)
@given(rows)
def test_flat_rows_are_canonical_json_or_left_to_it(row: dict[str, Any]) -> None:
    compact = {k: v for k, v in row.items() if v is not None}
    for flat, doc in ((FLAT, row), (COMPACT, compact)):
        fast = flat.encode(row)
        if all(map(is_plain, row.values())):
            assert fast is not None
            assert fast == canonical_json(doc)
        else:
            assert fast is None  # canonical_json writes it, or refuses it


@settings(max_examples=200, deadline=None)
@given(rows, st.permutations(KEYS))
def test_another_key_order_is_left_to_canonical_json(row: dict[str, Any], order: list[str]) -> None:
    shuffled = {k: row[k] for k in order}
    if tuple(order) != KEYS:
        assert FLAT.encode(shuffled) is None
    assert FLAT.encode({**row, "extra": 1}) is None
    assert FLAT.encode({k: row[k] for k in KEYS[1:]}) is None


def test_plain_values_take_the_fast_path() -> None:
    row = {"a": 'q"\\\n\x01é', "b_64": None, "mtime": "1.5", "run_id": "r", "seq": 2**53 - 1}
    row |= {"size": -(2**53) + 1, "z": ""}
    assert FLAT.encode(row) == canonical_json(row)
    assert COMPACT.encode(row) == canonical_json({k: v for k, v in row.items() if v is not None})
    for odd in (True, 1.0, 2**53, -(2**53), "\ud800", [], {}):
        assert FLAT.encode({**row, "z": odd}) is None, odd


def test_keys_must_be_sorted_plain_and_unique() -> None:
    for keys in (("b", "a"), ("a", "a"), ("a", 'b"'), ("a", "é")):
        with pytest.raises(ValueError, match="keys"):
            FlatObject(keys)
