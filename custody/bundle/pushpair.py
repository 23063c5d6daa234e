""":func:`~custody.bundle.compare.pair_up` turned inside out: the expected items are pushed
as a pass over the ledger hands them over, and the document's items are pulled as needed.

The bundle's checks compare a document (manifest.json, a CASE/UCO file) with what the
ledger gives while the case verification's one pass goes through the ledger, so the ledger
is not read again for them. :class:`PushPairs` matches exactly as ``pair_up`` does (same
pairs, same order, same bounded window): it is the same loop, written as a generator that
receives each expected item where ``pair_up`` would ask its stream for the next one.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Hashable, Iterable, Iterator
from typing import Generic, TypeVar

from custody.bundle.compare import WINDOW

K = TypeVar("K", bound=Hashable)
E = TypeVar("E")
G = TypeVar("G")

#: What :meth:`PushPairs.finish` sends: the expected stream has ended.
_END = None


class PushPairs(Generic[K, E, G]):
    """Matches the pushed ``(key, expected)`` items with ``got``'s ``(key, item)`` by key,
    calling ``emit(key, expected, got)`` for each pair as ``pair_up`` yields it.

    ``got`` is read as far as the pushed items need; reading it may raise (a malformed or
    unreadable document): :meth:`push` and :meth:`finish` let that through, and the pairs
    then stop. Call :meth:`finish` after the last push, or :meth:`close` to give up."""

    def __init__(
        self,
        got: Iterable[tuple[K, G]],
        emit: Callable[[K, E | None, G | None], None],
        *,
        window: int = WINDOW,
    ) -> None:
        self._loop = _pairs(iter(got), emit, window)
        self._done = False
        self._step(None, first=True)

    def push(self, key: K, expected: E) -> None:
        """The next expected item, in the expected stream's order."""
        if not self._done:
            self._step((key, expected))

    def finish(self) -> None:
        """The expected stream ended: read the rest of ``got`` and emit what is left."""
        if not self._done:
            self._step(_END)

    def close(self) -> None:
        self._done = True
        self._loop.close()

    def _step(self, item: tuple[K, E] | None, *, first: bool = False) -> None:
        try:
            if first:
                next(self._loop)
            else:
                self._loop.send(item)
        except StopIteration:
            self._done = True
        except BaseException:
            self._done = True
            raise


def _pairs(
    got: Iterator[tuple[K, G]],
    emit: Callable[[K, E | None, G | None], None],
    window: int,
) -> Generator[None, tuple[K, E] | None, None]:
    """``pair_up``'s loop; each ``yield`` receives the next expected item (None: the end)."""
    exp_wait: dict[K, E] = {}
    got_wait: dict[K, G] = {}
    ended = False
    for k, g in got:
        if k in exp_wait:
            emit(k, exp_wait.pop(k), g)
            continue
        found = False
        while not ended and len(exp_wait) < window:
            item = yield
            if item is None:
                ended = True
                break
            ek, e = item
            if ek == k:
                emit(k, e, g)
                found = True
                break
            if ek in got_wait:
                emit(ek, e, got_wait.pop(ek))
            else:
                exp_wait[ek] = e
        if not found:
            if k in got_wait:
                emit(k, None, g)  # listed twice
            else:
                got_wait[k] = g
    while not ended:
        item = yield
        if item is None:
            break
        ek, e = item
        emit(ek, e, got_wait.pop(ek, None))
    for ek, e in exp_wait.items():
        emit(ek, e, got_wait.pop(ek, None))
    for k, g in got_wait.items():
        emit(k, None, g)


class DocumentPairs(Generic[K, E, G]):
    """:class:`PushPairs` over a document's items that may fail to read: the first
    ``ValueError`` (malformed) or ``OSError`` (unreadable) goes to ``failed``, and the pairs
    stop there. The checks of a bundle's documents use this; their findings say why."""

    def __init__(
        self,
        got: Iterable[tuple[K, G]],
        emit: Callable[[K, E | None, G | None], None],
        failed: Callable[[ValueError | OSError], None],
    ) -> None:
        self._failed = failed
        self._pairs: PushPairs[K, E, G] | None = None
        try:
            self._pairs = PushPairs(got, emit)
        except (ValueError, OSError) as exc:
            failed(exc)

    def push(self, key: K, expected: E) -> None:
        """The next expected item; nothing once the document failed."""
        if self._pairs is None:
            return
        try:
            self._pairs.push(key, expected)
        except (ValueError, OSError) as exc:
            self._fail(exc)

    def finish(self) -> bool:
        """The expected stream ended; True when the document was read to its end."""
        pairs, self._pairs = self._pairs, None
        if pairs is None:
            return False
        try:
            pairs.finish()
        except (ValueError, OSError) as exc:
            self._failed(exc)
            return False
        return True

    def close(self) -> None:
        """Give up (the pass failed): nothing more is read or reported."""
        if self._pairs is not None:
            self._pairs.close()
            self._pairs = None

    def _fail(self, exc: ValueError | OSError) -> None:
        self.close()
        self._failed(exc)
