"""``canonical_json`` is RFC 8785: the same bytes as the rfc8785 package, or the same refusal,
whichever of its two paths (the stdlib C encoder for plain values, rfc8785 for the rest) a
value takes."""

from __future__ import annotations

import os
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from custody.record.canonical import _plain, canonical_json

_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=6)
_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=25,
)


@settings(max_examples=500, derandomize=os.environ.get("CI") == "true")
@given(_values)
def test_canonical_json_is_rfc8785(value: Any) -> None:
    try:
        expected = rfc8785.dumps(value)
    except ValueError as exc:  # a lone surrogate, an integer beyond 2^53: refused alike
        with pytest.raises(type(exc)):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


def test_plain_values_take_the_stdlib_path() -> None:
    value = {"b": [1, "x\u00e9\n", None, True], "a": {"z": -(2**53) + 1, "y": "q\u2028"}}
    assert _plain(value)
    assert canonical_json(value) == rfc8785.dumps(value)
