"""A ledger to read more than once without holding it: a list, or a function that reads it
anew (from the database, or from a bundle's ``ledger.jsonl``) each time it is called.

An export writes its bundle in one pass over the ledger (the report's annexes read it
again only to list every entry and artifact), a stream, so its memory does not grow with
the case; a list is the same thing for a small ledger or a test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from custody.record.entry import Entry

#: The entries, or a function that gives them again, in ledger order, each time it is called.
EntrySource = Sequence[Entry] | Callable[[], Iterable[Entry]]


def entry_reader(entries: EntrySource) -> Callable[[], Iterable[Entry]]:
    """A function that gives ``entries`` from the start each time it is called."""
    if callable(entries):
        return entries
    return lambda: entries
