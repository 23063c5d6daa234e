"""Field-by-field differences and pairing two streams by key."""

from __future__ import annotations

import copy
import os
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from custody.bundle.compare import Difference, differences, identical, pair_up, same


def test_differences_name_the_path_and_both_values() -> None:
    expected = {
        "a": 1,
        "runs": [{"host": "x", "n": None}],
        "facets": [{"@id": "1", "v": 1}, {"@id": "2", "v": 2}],
        "argv": ["a", "b"],
    }
    got = {
        "a": True,  # JSON true is not 1
        "runs": [{"host": "y", "extra": 3}],
        "facets": [{"@id": "2", "v": 2}, {"@id": "3"}],
        "argv": ["a"],
        "more": [],  # empty says nothing
    }
    assert list(differences(expected, got)) == [
        Difference("a", 1, True),
        Difference("runs[0].host", "x", "y"),
        Difference("runs[0].extra", None, 3),
        Difference("facets[1]", {"@id": "1", "v": 1}, None, missing=True),
        Difference("facets[3]", None, {"@id": "3"}),
        Difference("argv", ["a", "b"], ["a"]),
    ]
    assert list(differences({"x": [1, 2]}, {"x": [2, 1, 3]}, links={"x"})) == []
    assert list(differences({"x": [1, 4]}, {"x": [2, 1, 3]}, links={"x"})) != []


def test_pair_up_matches_every_key_once_in_any_order() -> None:
    rng = random.Random(7)
    for _ in range(300):
        keys = list(range(rng.randint(0, 40)))
        got = [k for k in keys if rng.random() > 0.1] + [rng.randint(0, 60) for _ in range(3)]
        if rng.random() < 0.5:
            rng.shuffle(got)
        pairs = list(
            pair_up(((k, k) for k in keys), ((k, k) for k in got), window=rng.choice([1, 3, 99]))
        )
        assert sorted(k for k, e, _g in pairs if e is not None) == keys
        assert sorted(k for k, _e, g in pairs if g is not None) == sorted(got)
        matched = sorted(k for k, e, g in pairs if e is not None and g is not None)
        assert matched == sorted(set(keys) & set(got))


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=300, derandomize=os.environ.get("CI") == "true")
@given(_json, _json)
def test_identical_is_equality_types_and_all(a: Any, b: Any) -> None:
    """The encoder's quick check says what the field-by-field comparison says."""
    assert identical(a, a) and identical(a, copy.deepcopy(a))
    assert identical(a, b) == same(a, b)


def test_identical_tells_types_apart() -> None:
    assert not identical(1, 1.0) and not identical(True, 1) and not identical("1", 1)
    assert not identical({"a": [1]}, {"a": [1, None]})
