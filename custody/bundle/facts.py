"""What a bundle's ledger says, read once: the fold of the case, its signed entries, and the
artifacts as a stream of typed events.

The writer states these facts in manifest.json, case.jsonld and VERIFY.md; the verifier
reads them again from the bundle's ledger.jsonl and compares. Both take them from here, so
the two can never drift apart. Per-artifact facts are never held: :func:`artifacts` replays
the ledger and yields each :class:`ArtifactCollected` as it passes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from custody.bundle.layout import signature_file, signed_body_file
from custody.record.entry import Entry
from custody.record.events import ArtifactCollected, Event, RunStarted
from custody.record.fold import CaseState, Folder
from custody.record.names import from_text

#: Hears each regular member of a started run as the ledger passes:
#: ``(run id, archive, member name bytes, sha256)``.
MemberSink = Callable[[str, str, bytes, str], None]


@dataclass(frozen=True)
class SignedEntry:
    """A ledger entry signed on its own: the bundle keeps its signed bytes and signatures."""

    seq: int
    event: str
    entry_hash: str
    signers: tuple[str, ...]

    @property
    def body(self) -> str:
        return signed_body_file(self.seq)

    def files(self) -> list[tuple[str, str]]:
        """``(signature file, signer fingerprint)`` for each signature, in entry order."""
        return [(signature_file(self.seq, n), by) for n, by in enumerate(self.signers, 1)]


@dataclass(frozen=True)
class LedgerFacts:
    """The fold of a bundle's ledger and the facts about the ledger itself."""

    state: CaseState
    first_seq: int
    signed: tuple[SignedEntry, ...]

    @property
    def last_seq(self) -> int:
        return self.state.head_seq


def read_facts(entries: Iterable[Entry]) -> LedgerFacts:
    """Fold ``entries`` (one pass) and note each signed entry."""
    folder = Folder()
    tap = FactsTap()
    for entry, event in folder.feed(entries):
        tap.feed(entry, event)
    return tap.finish(folder.state)


class FactsTap:
    """The facts of a ledger pass made elsewhere (a
    :class:`~custody.verify.case.LedgerTap`: each entry with its typed event, then the
    fold), so the bundle's checks need not read the ledger again for them.

    Also kept: the SHA-256 of each file ``signatures/`` must hold, and, for ``members``,
    each regular member of a started run as it passes (nothing per artifact is held)."""

    def __init__(self, members: MemberSink | None = None) -> None:
        self._members = members
        self._first: int | None = None
        self._signed: list[SignedEntry] = []
        self._archives: dict[str, str] = {}  # run id -> archive, as the fold keeps them
        #: SHA-256 of each file of ``signatures/`` by name: signed bodies and signatures.
        self.signature_files: dict[str, str] = {}
        self.facts: LedgerFacts | None = None

    def feed(self, entry: Entry, event: Event | None) -> None:
        if self._first is None:
            self._first = entry.seq
        if entry.signatures:
            self._signed_entry(entry)
        if isinstance(event, RunStarted):
            self._archives.setdefault(event.run_id, event.archive)
        elif (
            self._members is not None
            and isinstance(event, ArtifactCollected)
            and event.is_regular
            and event.run_id in self._archives
        ):
            archive = self._archives[event.run_id]
            self._members(event.run_id, archive, member_name_bytes(event), event.digests.sha256)

    def finish(self, state: CaseState) -> LedgerFacts:
        self.facts = LedgerFacts(state, self._first or 0, tuple(self._signed))
        return self.facts

    def _signed_entry(self, e: Entry) -> None:
        self._signed.append(
            SignedEntry(e.seq, e.event, e.entry_hash, tuple(s.by for s in e.signatures))
        )
        files = self.signature_files
        files[signed_body_file(e.seq)] = hashlib.sha256(e.signed_bytes()).hexdigest()
        for n, s in enumerate(e.signatures, 1):
            try:
                der = s.der
            except ValueError:
                der = b""
            files[signature_file(e.seq, n)] = hashlib.sha256(der).hexdigest()


def artifacts(entries: Iterable[Entry]) -> Iterator[tuple[int, ArtifactCollected]]:
    """``(seq, event)`` of every artifact the fold counts (its run was started before it).

    The same rule as :class:`~custody.record.fold.Folder` and the verifier, so the bundle's
    documents list exactly the artifacts its run counts add up to.
    """
    folder = Folder()
    for entry, event in folder.feed(entries):
        if isinstance(event, ArtifactCollected) and event.run_id in folder.state.runs:
            yield entry.seq, event


def member_name_bytes(a: ArtifactCollected) -> bytes:
    """The exact name bytes of the artifact's archive member."""
    try:
        return os.fsencode(from_text(a.member.name, a.member.name_b64))
    except ValueError:  # a malformed name_b64: the verifier reports the member
        pass
    try:
        return os.fsencode(a.member.name)
    except UnicodeEncodeError:  # a lone surrogate: no name we write, so it matches none
        return a.member.name.encode("utf-8", "surrogatepass")
