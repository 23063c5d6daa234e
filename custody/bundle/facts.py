"""What a bundle's ledger says, read once: the fold of the case, its signed entries, and the
artifacts as a stream of typed events.

The writer states these facts in manifest.json, case.jsonld and VERIFY.md; the verifier
reads them again from the bundle's ledger.jsonl and compares. Both take them from here, so
the two can never drift apart. Per-artifact facts are never held: :func:`artifacts` replays
the ledger and yields each :class:`ArtifactCollected` as it passes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from custody.bundle.layout import signature_file, signed_body_file
from custody.record.entry import Entry
from custody.record.events import ArtifactCollected
from custody.record.fold import CaseState, Folder
from custody.record.names import from_text

#: Per run id, ``(member name bytes, sha256)`` of its regular members.
MemberSums = dict[str, list[tuple[bytes, str]]]


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


def read_facts(entries: Iterable[Entry], sums: MemberSums | None = None) -> LedgerFacts:
    """Fold ``entries`` (one pass) and note each signed entry; when ``sums`` is given, also
    collect into it, per run, ``(member name bytes, sha256)`` of each regular member: what
    ``evidence/<run>.sha256`` lists."""
    folder = Folder()
    first: int | None = None
    signed: list[SignedEntry] = []
    for entry, event in folder.feed(entries):
        if first is None:
            first = entry.seq
        if entry.signatures:
            signed.append(
                SignedEntry(
                    entry.seq, entry.event, entry.entry_hash, tuple(s.by for s in entry.signatures)
                )
            )
        if sums is not None and isinstance(event, ArtifactCollected):
            _add_member(sums, folder.state, event)
    return LedgerFacts(folder.state, first or 0, tuple(signed))


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
        return os.fsencode(a.member.name)


def _add_member(sums: MemberSums, state: CaseState, a: ArtifactCollected) -> None:
    if a.is_regular and a.run_id in state.runs:
        sums.setdefault(a.run_id, []).append((member_name_bytes(a), a.digests.sha256))
