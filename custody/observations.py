"""What a collector observes and the evidence store takes: the types both sides share.

Collectors (``collectors/``) yield these values; the run hands each to the store
(``custody/store``), which copies and hashes what they name. They live here, at the bottom
of ``custody``, so that neither side imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VolatileRecord:
    """A record set captured in memory, archived as one member (e.g. ``volatile/processes.jsonl``)."""

    member: str
    data: bytes
    description: str


@dataclass(frozen=True)
class CommandRecord:
    """The standard output of a command, streamed into one member (e.g. ``journalctl -o export``).

    The store runs ``argv`` with no shell, spools its output inside the case directory,
    archives it with its hashes and records the exit status.
    """

    member: str
    argv: tuple[str, ...]
    description: str
    timeout_s: float = 600.0


@dataclass(frozen=True)
class SpooledRecord:
    """Output a collector wrote beside the run (a packet capture) into a spool file on the
    evidence's storage, hashed as it was written (``custody/store/spool.py``).

    The run archives ``path`` as ``member`` and refuses it unless its bytes hash to the
    digests given here. ``facts`` is the typed record of how it was produced, for the
    ledger (a ``custody.record.events.CaptureFacts`` for ``kind`` ``capture``).
    """

    member: str
    path: str
    size: int
    sha256: str
    sha1: str
    md5: str
    description: str
    kind: str = "capture"
    facts: object = None
    note: str | None = None


@dataclass(frozen=True, slots=True)  # a collection holds one per file found
class FileTarget:
    """A file-system entry to capture: a file is copied, a symlink recorded, anything else skipped.

    ``path`` holds the exact bytes of the name (``os.fsencode``), so non-UTF-8 names survive.
    ``rule`` says which profile rule selected it.
    """

    path: bytes
    rule: str


@dataclass(frozen=True, slots=True)
class Problem:
    """Something that could not be observed, and why. ``kind`` is ``skipped`` or ``error``, or
    ``excluded``: never collected by design (``collectors/exclusions.py``), recorded as a skip."""

    kind: str
    reason: str
    path: bytes | None = None


Observation = VolatileRecord | CommandRecord | SpooledRecord | FileTarget | Problem
