"""Canonical JSON (RFC 8785) of flat objects of known keys, fast: for what is written once
per artifact (the inventory's JSON lines, the manifest's artifacts).

:func:`~custody.record.canonical.canonical_json` checks a whole tree of values, then has
the stdlib encoder sort every object's keys. A :class:`FlatObject` knows its keys (ASCII,
held in sorted order, so RFC 8785's order) and takes an object whose keys come in that
order: it writes each value as it checks it. Text is escaped by the stdlib's own escaper
(the one ``canonical_json`` uses), integers in the safe range are their decimal text, and
None is ``null`` or, with ``omit_none``, left out. Any other value, another order of keys,
or text that is not UTF-8 (a lone surrogate) gives None: the caller then takes
``canonical_json``, whose bytes these are (tests/custody/record/test_flat_json.py holds
both to the same bytes). (A loop in Python, measured: quicker than the stdlib encoder
after the checks ``canonical_json`` makes, and than a ``str.format`` template.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from json.encoder import encode_basestring  # the C escaper, as json.dumps(ensure_ascii=False)
from typing import Any

_MAX_SAFE = 2**53 - 1
_KEY = re.compile(r"[A-Za-z0-9_@$.:-]+")  # written as they are: nothing to escape


class FlatObject:
    """The canonical JSON of objects with these keys (without their None values when
    ``omit_none``), each value text, an integer or None."""

    def __init__(self, keys: Iterable[str], *, omit_none: bool = False) -> None:
        self.keys = tuple(keys)
        self.omit_none = omit_none
        if list(self.keys) != sorted(set(self.keys)):
            raise ValueError(f"keys not in sorted order or repeated: {self.keys}")
        if not all(_KEY.fullmatch(k) for k in self.keys):
            raise ValueError(f"keys that would need escaping: {self.keys}")
        self._heads = tuple(f'"{k}":' for k in self.keys)

    def encode(self, obj: Mapping[str, Any]) -> bytes | None:
        """``canonical_json(obj)`` (without its None values when :attr:`omit_none`) when
        ``obj`` has exactly :attr:`keys` in that order and only plain values; else None."""
        if tuple(obj) != self.keys:
            return None
        keep_none = not self.omit_none
        parts: list[str] = []
        for head, v in zip(self._heads, obj.values(), strict=True):
            t = type(v)
            if t is str:
                parts.append(head + encode_basestring(v))
            elif v is None:
                if keep_none:
                    parts.append(head + "null")
            elif t is int and -_MAX_SAFE <= v <= _MAX_SAFE:
                parts.append(head + str(v))
            else:
                return None
        try:
            return ("{" + ",".join(parts) + "}").encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: canonical_json refuses it
            return None
