"""Reading a large JSON document one piece at a time.

:func:`scan` walks a file holding one JSON object and yields its members in order; the
members of one named array (the manifest's ``artifacts``, case.jsonld's ``@graph``) come one
by one instead of as a whole, so memory stays flat however long that array is. Each piece
is parsed by the standard library's C decoder. Duplicate keys, in any object, are an error:
two readers could otherwise see two different documents behind one signature.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from custody.record.regular import open_regular

_CHUNK = 1 << 20
#: A single value (other than the streamed array) larger than this is refused.
MAX_VALUE = 256 << 20
_WS = re.compile(r"[ \t\n\r]*")


class ArrayStart:
    """Stands for the streamed array in :func:`scan`'s output, before its items."""

    def __repr__(self) -> str:
        return "<array>"


ARRAY = ArrayStart()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for k, _v in pairs:
            if k in seen:
                raise ValueError(f"an object has the key {k!r} twice")
            seen.add(k)
    return obj


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates)


class _Reader:
    """UTF-8 text from a binary file, read on demand into a buffer that drops what was used."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.offset = 0  # characters dropped from the buffer's front

    def where(self) -> str:
        return f"character {self.offset + self.pos}"

    def more(self) -> bool:
        """Read more text (at least as much as is buffered); False at the end of the file."""
        if self.eof:
            return False
        if self.pos:
            self.offset += self.pos
            self.buf, self.pos = self.buf[self.pos :], 0
        data = self.f.read(max(_CHUNK, len(self.buf)))
        try:
            text = self.decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise ValueError(f"not UTF-8 near {self.where()}: {exc.reason}") from exc
        self.eof = not data
        self.buf += text
        return True

    def peek(self) -> str:
        """The next character after white space, '' at the end."""
        while True:
            blank = _WS.match(self.buf, self.pos)
            assert blank is not None  # the pattern matches the empty string
            self.pos = blank.end()
            if self.pos < len(self.buf) or not self.more():
                return self.buf[self.pos : self.pos + 1]

    def take(self, expected: str) -> str:
        c = self.peek()
        if not c or c not in expected:
            shown = repr(c) if c else "the end of the file"
            raise ValueError(f"expected one of {expected!r} at {self.where()}, found {shown}")
        self.pos += 1
        return c

    def value(self) -> Any:
        """The next JSON value."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self.eof:
                    raise ValueError(f"{exc.msg} at {self.where()}") from exc
                if len(self.buf) - self.pos > MAX_VALUE:
                    raise ValueError(
                        f"a value larger than {MAX_VALUE} bytes at {self.where()}"
                    ) from exc
                self.more()
                continue
            if end == len(self.buf) and self.more():
                continue  # a number may go on in the next chunk
            self.pos = end
            return value


def scan(path: Path, stream: str) -> Iterator[tuple[str, Any, bool]]:
    """``(key, value, False)`` for each member of the top-level object, in file order; for the
    member ``stream`` when it is an array: ``(stream, ARRAY, False)``, then
    ``(stream, item, True)`` for each of its items. Raises ``ValueError`` when the file is not
    one JSON object, has a duplicate key, or ends early."""
    with open_regular(path) as f:
        r = _Reader(f)
        r.take("{")
        keys: set[str] = set()
        if r.peek() == "}":
            r.pos += 1
        else:
            while True:
                key = r.value()
                if not isinstance(key, str):
                    raise ValueError(f"expected a key at {r.where()}")
                if key in keys:
                    raise ValueError(f"the key {key!r} appears twice")
                keys.add(key)
                r.take(":")
                if key == stream and r.peek() == "[":
                    r.pos += 1
                    yield key, ARRAY, False
                    if r.peek() == "]":
                        r.pos += 1
                    else:
                        while True:
                            yield key, r.value(), True
                            if r.take(",]") == "]":
                                break
                else:
                    yield key, r.value(), False
                if r.take(",}") == "}":
                    break
        if r.peek():
            raise ValueError(f"text after the end of the object at {r.where()}")
