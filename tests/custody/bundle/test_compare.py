"""Field-by-field differences and pairing two streams by key."""

from __future__ import annotations

import random

from custody.bundle.compare import Difference, differences, pair_up


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
