"""Comparing what a document says with what the ledger says: field by field, item by item.

:func:`differences` walks two JSON values and names each place they differ by its path
(``runs[0].host``). :func:`pair_up` matches the items of two streams by key (an artifact's
``seq``, a node's ``@id``) without holding either: streams in the same order pass in
constant memory, items out of order wait in a bounded window.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from custody.record.canonical import sorted_json

K = TypeVar("K", bound=Hashable)
E = TypeVar("E")
G = TypeVar("G")

WINDOW = 100_000
_SHOWN = 200


@dataclass(frozen=True)
class Difference:
    """At ``path`` the document says ``got`` where ``expected`` was due; ``missing`` when the
    document lacks a value that the ledger has."""

    path: str
    expected: Any
    got: Any
    missing: bool = False


def absent(value: Any) -> bool:
    """None, empty text, an empty list or object: all say "nothing"."""
    return value is None or (type(value) in (str, list, dict) and not value)


def same(a: Any, b: Any) -> bool:
    """Equal as JSON values: types count (``1``, ``1.0`` and ``true`` differ)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def identical(a: Any, b: Any) -> bool:
    """True when two JSON values are the same, types and all (the C encoder's quick check;
    :func:`differences` tells where they are not)."""
    try:
        return sorted_json(a) == sorted_json(b)
    except (TypeError, ValueError):
        return False


def shown(value: Any) -> str:
    """A value as a message shows it: text quoted, "nothing" for None, long values cut."""
    if value is None:
        return "nothing"
    text = repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _node_ids(values: list[Any]) -> list[Any] | None:
    ids = [v.get("@id") if isinstance(v, Mapping) else None for v in values]
    return ids if ids and all(isinstance(i, str) for i in ids) else None


def differences(
    expected: Any, got: Any, path: str = "", *, links: Collection[str] = ()
) -> Iterator[Difference]:
    """Every place where ``got`` differs from ``expected``, by path.

    Absent and empty values are equal. Objects are compared key by key; lists of objects
    item by item (by ``@id`` when every item has one), other lists as a whole. For a key in
    ``links`` the document's list must include the expected items (it may hold more).
    """
    if isinstance(expected, Mapping) and isinstance(got, Mapping):
        keys = list(expected) + [k for k in got if k not in expected]
        for k in keys:
            p, e, g = _join(path, str(k)), expected.get(k), got.get(k)
            if absent(g):
                if not absent(e):
                    yield Difference(p, e, None, missing=True)
            elif k in links and isinstance(e, list) and isinstance(g, list):
                if any(not any(same(x, y) for y in g) for x in e):
                    yield Difference(p, e, g)
            else:
                yield from differences(e, g, p, links=links)
        return
    if (
        isinstance(expected, list)
        and isinstance(got, list)
        and any(isinstance(v, Mapping | list) for v in [*expected, *got])
    ):
        e_ids, g_ids = _node_ids(expected), _node_ids(got)
        if e_ids is not None and g_ids is not None:
            by_id = dict(zip(g_ids, got, strict=True))
            for i, e in zip(e_ids, expected, strict=True):
                yield from differences(e, by_id.pop(i, None), f"{path}[{i}]", links=links)
            for i, g in by_id.items():
                yield Difference(f"{path}[{i}]", None, g)
            return
        for n in range(max(len(expected), len(got))):
            e = expected[n] if n < len(expected) else None
            g = got[n] if n < len(got) else None
            yield from differences(e, g, f"{path}[{n}]", links=links)
        return
    if absent(expected) and absent(got):
        return
    if absent(got):
        yield Difference(path, expected, None, missing=True)
    elif not same(expected, got):
        yield Difference(path, expected, got)


def pair_up(
    expected: Iterable[tuple[K, E]],
    got: Iterable[tuple[K, G]],
    *,
    window: int = WINDOW,
) -> Iterator[tuple[K, E | None, G | None]]:
    """Match two streams of ``(key, item)`` by key: ``(key, e, g)``, with None on the side
    that lacks the key (a missing or an extra item, or a key listed twice).

    Items of ``got`` come in their order, then the expected items nobody matched. When both
    streams have the same order, memory is constant; otherwise at most ``window`` expected
    items wait to be matched (beyond it, unmatched items of ``got`` wait instead).
    """
    exp = iter(expected)
    exp_wait: dict[K, E] = {}
    got_wait: dict[K, G] = {}
    for k, g in got:
        if k in exp_wait:
            yield k, exp_wait.pop(k), g
            continue
        found = False
        while len(exp_wait) < window:
            try:
                ek, e = next(exp)
            except StopIteration:
                break
            if ek == k:
                yield k, e, g
                found = True
                break
            if ek in got_wait:
                yield ek, e, got_wait.pop(ek)
            else:
                exp_wait[ek] = e
        if not found:
            if k in got_wait:
                yield k, None, g  # listed twice
            else:
                got_wait[k] = g
    for ek, e in exp:
        yield ek, e, got_wait.pop(ek, None)
    for ek, e in exp_wait.items():
        yield ek, e, got_wait.pop(ek, None)
    for k, g in got_wait.items():
        yield k, None, g


def keyed(items: Iterable[G], key: Callable[[G], K]) -> Iterator[tuple[K, G]]:
    """``(key(item), item)`` for each item."""
    return ((key(item), item) for item in items)
